/*
 * cli.h - what the hubcap-agent subcommands share: option help, opening the buffer with a
 * message a user can act on, stop signals, number formatting.
 */
#ifndef AG_CLI_H
#define AG_CLI_H

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>

#include "agent/buffer/queue.h"

/* Exit codes: 0 ok, 1 failed, 2 usage error, 3 partial (some rows rejected / left), 4 buffer full.
 */
enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2, CLI_PARTIAL = 3, CLI_FULL = 4 };

extern volatile int cli_stop; /* set by SIGINT/SIGTERM once cli_on_signals() ran */
void cli_on_signals(void);

/* Options every buffer-writing command takes (long options; see CLI_BUFFER_HELP). */
#define CLI_BUFFER_OPTS                                                                            \
    {"buffer", required_argument, NULL, 'b'}, {"max-bytes", required_argument, NULL, 1001},        \
        {"full-policy", required_argument, NULL, 1002}, {"no-sync", no_argument, NULL, 1003},      \
        {"retention", required_argument, NULL, 1004},                                              \
    {                                                                                              \
        "retention-bytes", required_argument, NULL, 1005                                           \
    }

#define CLI_BUFFER_HELP                                                                            \
    "  -b, --buffer DIR          the buffer folder (created when missing)\n"                       \
    "      --max-bytes SIZE      capacity cap, e.g. 512M, 2G (default: the buffer's own, 1G for\n" \
    "                            a new one; a full disk lowers it, see 'status')\n"                \
    "      --full-policy P       block (wait for room) or drop-oldest (default block)\n"           \
    "      --no-sync             do not fsync commits (faster; a power cut loses the tail)\n"      \
    "      --retention AGE       keep shipped events this long for replay (default 24h)\n"         \
    "      --retention-bytes SIZE  and at most this much (default max-bytes/4)\n"

struct cli_buffer {
    const char *dir;
    struct ag_queue_opts opts;
};

void cli_buffer_init(struct cli_buffer *b);
/* Handle a CLI_BUFFER_OPTS option; 1 if it was one, 0 if not, -1 on a bad value (printed). */
int cli_buffer_option(struct cli_buffer *b, int opt, const char *arg);
/* Open b->dir, printing what to do on failure (missing -b, not writable, not a buffer, …). */
int cli_buffer_open(const struct cli_buffer *b, int readonly, struct ag_queue **q);

/* Print "unknown option" style usage errors the same way everywhere; returns CLI_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Human sizes ("3.4 MiB") and counts into a caller buffer; returns buf. */
const char *cli_bytes(uint64_t n, char *buf, size_t cap);

/* The default device id: $HUBCAP_DEVICE_ID, else the host name. Static storage. */
const char *cli_default_device_id(void);

/* Parse a fraction in [0,1] / a positive integer; print an error naming opt when bad. */
int cli_fraction(const char *opt, const char *arg, double *out);
int cli_u64(const char *opt, const char *arg, uint64_t *out);

int cmd_generate(int argc, char **argv);
int cmd_enqueue(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_status(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_ship(int argc, char **argv);

struct ag_kv;
struct ag_shipper;
struct ag_shipper_opts;
/* When kv[0..n) has no connection_string and $HUBCAP_CONNECTION_STRING is set, fill *extra with
 * it and return 1; else 0. */
int cli_ship_env(const struct ag_kv *kv, size_t n, struct ag_kv *extra);
/* Start a shipper for q in dir over the transport named (NULL or "": the default for the
 * connection string among so->conf, transport.h); prints why on failure. */
int cli_ship_start(struct ag_queue *q, const char *dir, const char *transport,
                   struct ag_shipper_opts *so, struct ag_shipper **out);

#endif
