#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static enum hc_log_level hc_level = HC_LOG_INFO;
static int hc_level_init;
static const char *hc_prog = "hubcap";

void hc_log_set_level(enum hc_log_level level)
{
    hc_level = level;
    hc_level_init = 1;
}

enum hc_log_level hc_log_get_level(void)
{
    if (!hc_level_init) {
        const char *e = getenv("HUBCAP_LOG");
        hc_level_init = 1;
        if (e && !strcmp(e, "debug"))
            hc_level = HC_LOG_DEBUG;
        else if (e && !strcmp(e, "warn"))
            hc_level = HC_LOG_WARN;
        else if (e && !strcmp(e, "error"))
            hc_level = HC_LOG_ERROR;
    }
    return hc_level;
}

void hc_log_set_prog(const char *prog)
{
    hc_prog = prog;
}

void hc_log(enum hc_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"debug", "info", "warning", "error"};
    char line[2048];
    va_list ap;
    int n;

    if (level < hc_log_get_level())
        return;
    n = snprintf(line, sizeof line, "%s: %s: ", hc_prog, names[level]);
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    /* One fputs per line so lines from threads do not interleave. */
    strcat(line, "\n");
    fputs(line, stderr);
}
