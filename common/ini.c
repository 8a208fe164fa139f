#include "common/ini.h"

#include <errno.h>
#include <stdio.h>

/* Reads lines for inih and counts them. */
struct line_reader {
    FILE *f;
    int *line;
};

static char *read_line(char *str, int num, void *stream)
{
    struct line_reader *r = stream;
    char *p = fgets(str, num, r->f);
    if (p)
        (*r->line)++;
    return p;
}

int hc_ini_load(const char *path, ini_handler handler, void *user, int *line)
{
    struct line_reader r = {NULL, line};
    int rc;

    *line = 0;
    r.f = fopen(path, "r");
    if (!r.f)
        return -errno;
    rc = ini_parse_stream(read_line, &r, handler, user);
    fclose(r.f);
    if (rc == -2) /* inih could not allocate its line buffer */
        return -ENOMEM;
    return rc;
}
