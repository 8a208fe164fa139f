#include "receiver/capture/layout.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/error.h"

static int fit(int n, char *out, size_t cap)
{
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return HC_E_TOOBIG;
    }
    return n;
}

int rx_layout_partition_dir(char *out, size_t cap, const char *dir, const char *ns, const char *hub,
                            int pid)
{
    return fit(snprintf(out, cap, "%s/%s/%s/%d", dir, ns, hub, pid), out, cap);
}

int rx_layout_file(char *out, size_t cap, const char *pdir, int64_t t_s, int tmp)
{
    struct tm tm;
    time_t t = (time_t)t_s;
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 1 || tm.tm_year + 1900 > 9999) {
        if (cap)
            out[0] = '\0';
        return HC_E_INVAL;
    }
    return fit(snprintf(out, cap, "%s/%04d/%02d/%02d/%02d/%02d/%02d%s", pdir, tm.tm_year + 1900,
                        tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                        tmp ? RX_CAPTURE_TMP_EXT : RX_CAPTURE_EXT),
               out, cap);
}

/* n decimal digits at p, or -1. */
static int num(const char *p, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    return v;
}

int64_t rx_layout_time(const char *path, int tmp)
{
    /* "YYYY/MM/DD/hh/mm/ss" is 19 bytes, then the extension */
    const char *ext = tmp ? RX_CAPTURE_TMP_EXT : RX_CAPTURE_EXT;
    size_t len = strlen(path), elen = strlen(ext);
    const char *p;
    struct tm tm;
    int y, mo, d, h, mi, s;
    if (len < 19 + elen || strcmp(path + len - elen, ext))
        return -1;
    p = path + len - elen - 19;
    if ((p > path && p[-1] != '/') || p[4] != '/' || p[7] != '/' || p[10] != '/' || p[13] != '/' ||
        p[16] != '/')
        return -1;
    y = num(p, 4), mo = num(p + 5, 2), d = num(p + 8, 2);
    h = num(p + 11, 2), mi = num(p + 14, 2), s = num(p + 17, 2);
    if (y < 1 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 || mi > 59 ||
        s < 0 || s > 59)
        return -1;
    memset(&tm, 0, sizeof tm);
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return (int64_t)timegm(&tm);
}
