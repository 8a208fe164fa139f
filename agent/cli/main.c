#include <stdio.h>
int main(void)
{
    puts("hubcap-agent: under construction");
    return 0;
}
