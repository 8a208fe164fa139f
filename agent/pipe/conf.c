#include "agent/pipe/conf.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/ini.h"

struct load {
    struct ag_conf *c;
    const char *path;
    int line;
};

/* The error "PATH:LINE: " and the printf-like rest into l->c->err; 0 (inih: stop there). */
__attribute__((format(printf, 2, 3))) static int fail(struct load *l, const char *fmt, ...)
{
    va_list ap;
    int n = snprintf(l->c->err, sizeof l->c->err, "%s:%d: ", l->path, l->line);

    va_start(ap, fmt);
    vsnprintf(l->c->err + n, sizeof l->c->err - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

static int copy(char *dst, size_t cap, const char *v)
{
    if (strlen(v) >= cap)
        return -1;
    strcpy(dst, v);
    return 0;
}

static int boolean(const char *v, int *out)
{
    if (!strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on") || !strcmp(v, "1"))
        *out = 1;
    else if (!strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off") || !strcmp(v, "0"))
        *out = 0;
    else
        return -1;
    return 0;
}

static int fraction(const char *v, double *out)
{
    char *e;
    double d = strtod(v, &e);
    if (*e || e == v || !(d >= 0 && d <= 1))
        return -1;
    *out = d;
    return 0;
}

static int number(const char *v, double *out)
{
    char *e;
    double d = strtod(v, &e);
    if (*e || e == v || !(d >= 0))
        return -1;
    *out = d;
    return 0;
}

static int u64(const char *v, uint64_t *out)
{
    char *e;
    if (!*v || *v == '-')
        return -1;
    errno = 0;
    *out = strtoull(v, &e, 10);
    return errno || *e ? -1 : 0;
}

static int agent_key(struct load *l, const char *k, const char *v)
{
    struct ag_conf *c = l->c;
    if (!strcmp(k, "device_id")) {
        if (!*v || copy(c->device_id, sizeof c->device_id, v))
            return fail(l, "device_id: give 1 to 128 bytes");
    } else if (!strcmp(k, "log_level")) {
        if (strcmp(v, "debug") && strcmp(v, "info") && strcmp(v, "warn") && strcmp(v, "error"))
            return fail(l, "log_level '%s': use debug, info, warn or error", v);
        copy(c->log_level, sizeof c->log_level, v);
    } else {
        return fail(l, "unknown key '%s' in [agent]", k);
    }
    return 1;
}

static int buffer_key(struct load *l, const char *k, const char *v)
{
    struct ag_queue_opts *q = &l->c->queue;
    int b;
    if (!strcmp(k, "path")) {
        if (!*v || copy(l->c->buffer_path, sizeof l->c->buffer_path, v))
            return fail(l, "path: give the buffer folder");
    } else if (!strcmp(k, "max_bytes")) {
        if (hc_size_parse(v, &q->max_bytes) || q->max_bytes < (1u << 20))
            return fail(l, "max_bytes '%s': a size of at least 1M, e.g. 512M or 2G", v);
        if (q->max_bytes > ag_queue_max_bytes_limit())
            return fail(l,
                        "max_bytes '%s': this 32-bit system cannot map a buffer that big; the "
                        "maximum is %" PRIu64 "M (the map is 2 x max_bytes + 64 MiB)",
                        v, ag_queue_max_bytes_limit() >> 20);
    } else if (!strcmp(k, "full_policy")) {
        if (!strcmp(v, "block"))
            q->policy = AG_FULL_BLOCK;
        else if (!strcmp(v, "drop-oldest") || !strcmp(v, "drop_oldest"))
            q->policy = AG_FULL_DROP_OLDEST;
        else
            return fail(l, "full_policy '%s': use block or drop-oldest", v);
    } else if (!strcmp(k, "sync")) {
        if (boolean(v, &b))
            return fail(l, "sync '%s': use true or false", v);
        q->nosync = !b;
    } else if (!strcmp(k, "retention")) {
        if (hc_duration_parse(v, &q->retention_ms))
            return fail(l, "retention '%s': a duration such as 24h or 7d", v);
    } else if (!strcmp(k, "retention_bytes")) {
        if (hc_size_parse(v, &q->retention_bytes))
            return fail(l, "retention_bytes '%s': a size such as 256M", v);
    } else if (!strcmp(k, "batch")) {
        if (u64(v, &l->c->batch) || !l->c->batch)
            return fail(l, "batch '%s': events per commit, a whole number > 0", v);
    } else {
        return fail(l, "unknown key '%s' in [buffer]", k);
    }
    return 1;
}

static int hub_key(struct load *l, const char *k, const char *v)
{
    struct ag_conf *c = l->c;
    c->has_hub = 1;
    if (!strcmp(k, "transport")) {
        if (strcmp(v, "https") && strcmp(v, "amqp") && strcmp(v, "mqtt"))
            return fail(l,
                        "transport '%s': use https or amqp (or leave it out: the connection "
                        "string decides)",
                        v);
        copy(c->transport, sizeof c->transport, v);
    } else if (!strcmp(k, "max_batch_events")) {
        if (u64(v, &c->max_batch_events) || !c->max_batch_events || c->max_batch_events > 100000)
            return fail(l, "max_batch_events '%s': a whole number from 1 to 100000", v);
    } else if (!strcmp(k, "linger")) {
        if (hc_duration_parse(v, &c->linger_ms))
            return fail(l, "linger '%s': a duration such as 100ms", v);
    } else if (!strcmp(k, "catch_up_rate")) {
        if (number(v, &c->catch_up_rate))
            return fail(l, "catch_up_rate '%s': events per second, 0 for no limit", v);
    } else {
        /* The transport's own settings: it checks them when the shipper starts. */
        if (c->nhub == AG_CONF_MAX_HUB_KEYS)
            return fail(l, "too many keys in [hub]");
        if (copy(c->hub[c->nhub].key, sizeof c->hub[0].key, k) ||
            copy(c->hub[c->nhub].value, sizeof c->hub[0].value, v))
            return fail(l, "%s: value too long", k);
        c->nhub++;
    }
    return 1;
}

static struct ag_source_conf *source_for(struct load *l, const char *name)
{
    struct ag_conf *c = l->c;
    for (int i = 0; i < c->nsrc; i++)
        if (!strcmp(c->src[i].name, name))
            return &c->src[i];
    if (c->nsrc == AG_CONF_MAX_SOURCES || strlen(name) >= sizeof c->src[0].name)
        return NULL;
    struct ag_source_conf *s = &c->src[c->nsrc++];
    memset(s, 0, sizeof *s);
    strcpy(s->name, name);
    s->gen.device_id = c->device_id;
    s->reader.device_id = c->device_id;
    return s;
}

static int reader_key(struct load *l, struct ag_source_conf *s, const char *k, const char *v)
{
    if (!strcmp(k, "format")) {
        if (!strcmp(v, "csv"))
            s->reader.format = AG_FMT_CSV;
        else if (!strcmp(v, "jsonl") || !strcmp(v, "ndjson"))
            s->reader.format = AG_FMT_JSONL;
        else if (!strcmp(v, "auto"))
            s->reader.format = AG_FMT_AUTO;
        else
            return fail(l, "format '%s': use auto, csv or jsonl", v);
    } else if (!strcmp(k, "kind")) {
        s->reader.kind = hc_kind_parse(v, (size_t)-1);
        if (s->reader.kind == HC_KIND_UNKNOWN)
            return fail(l, "kind '%s': use order_line, order_status or car_listing", v);
    } else if (!strcmp(k, "map")) {
        if (copy(s->map, sizeof s->map, v))
            return fail(l, "map: too long");
        s->reader.map = *v ? s->map : NULL;
    } else if (!strcmp(k, "dir") || !strcmp(k, "path")) {
        if (!*v || copy(s->path, sizeof s->path, v))
            return fail(l, "%s: give a path", k);
    } else {
        return -1;
    }
    return 1;
}

static int gen_key(struct load *l, struct ag_source_conf *s, const char *k, const char *v)
{
    struct ag_gen_opts *g = &s->gen;
    int bad = 0;
    if (!strcmp(k, "rate"))
        bad = number(v, &s->rate);
    else if (!strcmp(k, "count"))
        bad = u64(v, &s->count);
    else if (!strcmp(k, "seed"))
        bad = u64(v, &g->seed);
    else if (!strcmp(k, "mix"))
        bad = ag_gen_parse_mix(v, g->mix) ? -1 : 0;
    else if (!strcmp(k, "late"))
        bad = fraction(v, &g->late);
    else if (!strcmp(k, "late_by"))
        bad = hc_duration_parse(v, &g->late_ms) ? -1 : 0;
    else if (!strcmp(k, "out_of_order"))
        bad = fraction(v, &g->out_of_order);
    else if (!strcmp(k, "duplicate"))
        bad = fraction(v, &g->duplicate);
    else if (!strcmp(k, "malformed"))
        bad = fraction(v, &g->malformed);
    else
        return -1;
    if (bad)
        return fail(l, "%s '%s': not a valid value (fractions are 0..1, durations like 2h)", k, v);
    return 1;
}

static int source_key(struct load *l, const char *name, const char *k, const char *v)
{
    struct ag_source_conf *s = source_for(l, name);
    int r;
    if (!s)
        return fail(l, "[source.%s]: too many sources or name too long (at most 16, 63 bytes)",
                    name);
    if (!strcmp(k, "type")) {
        if (!strcmp(v, "generator"))
            s->type = AG_SRC_GENERATOR;
        else if (!strcmp(v, "watch"))
            s->type = AG_SRC_WATCH;
        else if (!strcmp(v, "file"))
            s->type = AG_SRC_FILE;
        else
            return fail(l, "type '%s': use generator, watch or file", v);
        return 1;
    }
    if ((r = reader_key(l, s, k, v)) >= 0)
        return r;
    if ((r = gen_key(l, s, k, v)) >= 0)
        return r;
    return fail(l, "unknown key '%s' in [source.%s]", k, name);
}

static int on_key(void *arg, const char *section, const char *k, const char *v)
{
    struct load *l = arg;
    if (l->c->err[0])
        return 0;
    if (!strcmp(section, "agent"))
        return agent_key(l, k, v);
    if (!strcmp(section, "buffer"))
        return buffer_key(l, k, v);
    if (!strcmp(section, "hub"))
        return hub_key(l, k, v);
    if (!strncmp(section, "source.", 7) && section[7])
        return source_key(l, section + 7, k, v);
    return fail(l, "unknown section [%s]: use [agent], [buffer], [hub] or [source.NAME]", section);
}

static int check(struct ag_conf *c, const char *path)
{
    if (!c->buffer_path[0]) {
        snprintf(c->err, sizeof c->err, "%s: [buffer] path is missing: the folder of the buffer",
                 path);
        return HC_E_PARSE;
    }
    for (int i = 0; i < c->nsrc; i++) {
        struct ag_source_conf *s = &c->src[i];
        if (s->type == AG_SRC_NONE) {
            snprintf(c->err, sizeof c->err,
                     "%s: [source.%s] has no type (generator, watch or "
                     "file)",
                     path, s->name);
            return HC_E_PARSE;
        }
        if (s->type != AG_SRC_GENERATOR && !s->path[0]) {
            snprintf(c->err, sizeof c->err, "%s: [source.%s] needs %s", path, s->name,
                     s->type == AG_SRC_WATCH ? "dir = FOLDER" : "path = FILE");
            return HC_E_PARSE;
        }
    }
    return 0;
}

int ag_conf_load(const char *path, struct ag_conf *c)
{
    struct load l = {c, path, 0};
    int rc;

    memset(c, 0, sizeof *c);
    ag_queue_opts_default(&c->queue);
    c->batch = 1000;
    strcpy(c->log_level, "info");
    if (gethostname(c->device_id, sizeof c->device_id - 1) || !c->device_id[0])
        strcpy(c->device_id, "device");
    rc = hc_ini_load(path, on_key, &l, &l.line);
    if (rc < 0)
        return rc;
    if (rc > 0) {
        if (!c->err[0])
            snprintf(c->err, sizeof c->err, "%s:%d: not INI syntax ([section] or key = value)",
                     path, rc);
        return HC_E_PARSE;
    }
    return check(c, path);
}
