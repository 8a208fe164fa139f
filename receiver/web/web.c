#include "receiver/web/web.h"

#include <string.h>

const struct rx_web_file *rx_web_find(const char *path)
{
    const char *name;
    if (!strcmp(path, "/") || !strcmp(path, "/index.html"))
        name = "index.html";
    else if (!strncmp(path, "/static/", 8))
        name = path + 8;
    else
        return NULL;
    if (!*name || strchr(name, '/'))
        return NULL;
    for (const struct rx_web_file *f = rx_web_files; f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}
