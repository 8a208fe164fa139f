/*
 * web.h - the dashboard's files (the files in receiver/web/static), compiled into the receiver by
 * receiver/web/embed.cmake, and served at / (index.html) and /static/{name}.
 */
#ifndef RX_WEB_H
#define RX_WEB_H

#include <stddef.h>

struct rx_web_file {
    const char *name; /* "index.html", "app.js" ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

/* The compiled-in files, ended by a {NULL} entry. Static. */
extern const struct rx_web_file rx_web_files[];

/*
 * The file for a request path: "/" is index.html, "/static/NAME" is NAME. NULL when there is
 * no such file.
 */
const struct rx_web_file *rx_web_find(const char *path);

#endif
