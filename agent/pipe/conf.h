/*
 * conf.h - the agent's INI configuration (agent/hubcap-agent.conf is the documented example).
 *
 *   [agent]            device_id, log_level
 *   [buffer]           path, max_bytes, full_policy, sync, retention, retention_bytes, batch
 *   [hub]              where to ship: transport (https | amqp; default: the connection string
 *                      decides, agent/transport/transport.h), max_batch_events, linger,
 *                      catch_up_rate, and the transport's own settings (connection_string,
 *                      hub, ca_file, timeout, max_batch_bytes, tier, proxy, … see hubconf.h,
 *                      https_conf.h, amqp_conf.h)
 *   [source.NAME]      type = generator | watch | file, and per type:
 *                        generator: rate, count, seed, mix, late, late_by, out_of_order,
 *                                   duplicate, malformed
 *                        watch:     dir, format, kind, map
 *                        file:      path, format, kind, map
 * Parsing is kept apart from I/O: ag_conf_load fills a struct and does nothing else.
 */
#ifndef AG_CONF_H
#define AG_CONF_H

#include <limits.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/source/generator.h"
#include "agent/source/reader.h"

#define AG_CONF_MAX_SOURCES  16
#define AG_CONF_MAX_HUB_KEYS 16

enum ag_source_type { AG_SRC_NONE = 0, AG_SRC_GENERATOR, AG_SRC_WATCH, AG_SRC_FILE };

struct ag_source_conf {
    char name[64];
    enum ag_source_type type;
    struct ag_gen_opts gen;       /* generator; gen.device_id points at ag_conf.device_id */
    double rate;                  /* generator: events/s, 0 = unthrottled */
    uint64_t count;               /* generator: stop after, 0 = never */
    char path[PATH_MAX];          /* watch: dir; file: path */
    struct ag_reader_opts reader; /* watch/file; reader.map points at map */
    char map[512];
};

struct ag_conf_kv {
    char key[32];
    char value[1024];
};

struct ag_conf {
    char device_id[HC_DEVICE_ID_MAX + 1];
    char log_level[16];
    char buffer_path[PATH_MAX];
    struct ag_queue_opts queue;
    uint64_t batch;
    struct ag_source_conf src[AG_CONF_MAX_SOURCES];
    int nsrc;
    int has_hub;                                 /* a [hub] section: run ships */
    char transport[16];                          /* "https", "amqp"; "" = the default */
    uint64_t max_batch_events;                   /* 0 = the shipper's default */
    int64_t linger_ms;                           /* 0 = the shipper's default */
    double catch_up_rate;                        /* 0 = unlimited */
    struct ag_conf_kv hub[AG_CONF_MAX_HUB_KEYS]; /* the transport's settings, as written */
    int nhub;
    char err[512]; /* after a failed load: "FILE:LINE: what is wrong and what to write" */
};

/*
 * Load path into c (defaults first, then the file). Returns 0, -errno when the file cannot be
 * read, or HC_E_PARSE with c->err set for an unknown section/key, a bad value or a missing one.
 */
int ag_conf_load(const char *path, struct ag_conf *c);

#endif
