/*
 * fleet.h - hubcap-fleet: N simulated edge devices in one process, each a real agent (its own
 * LMDB buffer in DIR/dev-NNNNN, the real generator, the real shipper over the chosen transport),
 * shipping to one receiver; then a reconciliation of what the devices buffered against silver.
 * It lives beside the agent it runs (agent/fleet/, part of ag_core so the agent's unit tests
 * reach it), not in tools/: only its executable is a tool, and moving the code would put the
 * agent's own modules on both sides of the tree.
 *
 * Simulation (fl_plan_device, pure and deterministic for a seed):
 *  - rate: --rate events/s across the fleet is the daily mean; the rate at an instant is
 *    rate * fl_curve(simulated hour) (quiet nights, a morning ramp, peaks at noon and in the
 *    evening; mean 1 over a day). The simulated clock starts at --start-hour (default: the UTC
 *    hour now) and runs 86400 / --day-length times faster than the wall clock (default 1: real
 *    time). With a faster day, event times are simulated as fast (the generator's clock,
 *    starting duration x speed-up before the run, so a run ends near now): a one-minute run with
 *    --day-length 60 fills a whole day of sales, parcel journeys and car sales. Devices differ
 *    in weight (a few busy ones, many quiet ones; weights sum to 1).
 *  - kinds: shops (order_line, some order_status), depots (order_status) and car dealers
 *    (car_listing, some order_line), about 6:3:1 across the fleet.
 *  - clock skew: each device's event_time is off by a fixed offset within +-clock_skew (most
 *    small, a few near the maximum). Only the envelope's event_time moves; the data's own time
 *    fields keep the generator's clock (as when a gateway stamps events with its own clock).
 *  - offline: a share of the devices loses its link for one window (10-40 % of the run) and
 *    keeps generating into its buffer meanwhile; the backlog drains when the link returns.
 *  - flap (--flap): a third of the devices have a flapping link: down for whole seconds now
 *    and then (the connection is dropped, as a real link does), and 2 % of their sends lose the
 *    hub's answer although the hub stored the batch, so the shipper sends it again: the hub
 *    gets real duplicates, which silver must drop.
 *  - history: each device starts with parcels and car listings opened over the previous days
 *    (generator.h: history), as many as let each get about 10 (listings: 6) events of its kind
 *    in the run, so a run shows whole lifecycles (shipped, delivered, returned; sold) and not
 *    only new parcels and listings.
 *  - the generator's knobs (--late, --duplicate, --malformed, --out-of-order) as generator.h
 *    documents them.
 *
 * Durability: the buffers are the ground truth. Shipped events are retained (retention longer
 * than any run, retention bytes = the cap) so that every committed event - queued, shipped or
 * dead-lettered - is still in its buffer at the end, and a fleet killed with kill -9 continues
 * from where it was with the same --dir (DIR/fleet.state records the device count and how many
 * runs used the folder, so that a resumed run draws new event ids).
 *
 * Reconciliation (reconcile.c), by event_id against silver, from the buffers: every record
 * (duplicates share an event_id and count once) is COPYed into a temp table with the rule its
 * envelope breaks, by the receiver's own rules (common/rules.h), and its expected fate follows:
 *  - valid: expected in silver.order_line/order_status/car_listing exactly once. The late knob
 *    pushes one late event in ten back by days: silver quarantines those as too_late (event_time
 *    before watermark - late_horizon), so a valid event quarantined as too_late is accounted
 *    for, not missing. expected_too_late estimates them from lake.config.
 *  - malformed (a rule names it): expected in silver.quarantine under that rule.
 *  - dead-lettered by the shipper (the hub refused it): expected nowhere.
 * missing = valid, not dead-lettered, in neither silver nor quarantine, less not_landed:
 * those of them not in bronze at all while the receiver's capture files may still hold them
 * open (a file lands when it closes, at most the capture window after it opened: lake.config
 * capture_window_ms, which serve --pg records), i.e. when this run shipped them and the
 * reconciliation took less than the window; --reconcile-only counts them missing. duplicated = an
 * event_id of the fleet found more than once across the three silver tables; quarantined = the
 * fleet's event_ids in silver.quarantine by rule. Also unaccounted_malformed (malformed, in
 * neither) and malformed_in_silver (malformed, but promoted). All functions return 0 or a negative
 * code (common/error.h) unless said otherwise.
 */
#ifndef FL_FLEET_H
#define FL_FLEET_H

#include <stddef.h>
#include <stdint.h>

#include "common/envelope.h"

#define FL_DEVICES_MAX 10000
#define FL_HELP        1 /* fl_opts_parse: --help was given */

struct fl_opts {
    unsigned devices;      /* 1..FL_DEVICES_MAX; 0 = 50, or what DIR/fleet.state says */
    double duration_s;     /* generating for this long; default 60 */
    double rate;           /* events/s across the fleet (daily mean); 0 = 2 per device */
    int flat;              /* --flat: no daily curve */
    double day_s;          /* real seconds per simulated day; default 86400 */
    double start_hour;     /* simulated hour at the start; < 0 = the UTC hour now */
    const char *connstr;   /* --connection-string, else $HUBCAP_CONNECTION_STRING */
    const char *transport; /* --transport; NULL: the default for connstr (transport.h) */
    const char *pg;        /* libpq conninfo; NULL = libpq's PG* environment */
    const char *dir;       /* where the buffers live; NULL = a temp folder */
    int keep;              /* keep the temp folder */
    uint64_t seed;         /* 0 = random */
    double late, duplicate, malformed, out_of_order; /* the generator's knobs */
    double offline;                                  /* share of devices with an offline window */
    int flap;                                        /* flapping links on a third of the devices */
    int64_t clock_skew_ms;                           /* max |skew| of a device's clock */
    double settle_s;       /* after the run: wait this long at most for shipping and silver */
    int reconcile;         /* reconcile at the end (default 1) */
    int reconcile_only;    /* only reconcile the fleet in dir (no generating, no shipping) */
    int json;              /* print the reconciliation as one JSON object on stdout */
    unsigned threads;      /* worker threads; 0 = automatic */
    uint64_t buffer_bytes; /* cap of each device's buffer; default 64 MiB */
    int sync;              /* fsync every commit (default: not: survives kill -9, not power loss) */
    int verbose;           /* the agents' warnings (one per device and change) on stderr */
};

/* The defaults above into *o. */
void fl_opts_default(struct fl_opts *o);

/*
 * Parse the command line (argv[0] is the program) into *o (fl_opts_default first). Returns 0,
 * FL_HELP (help text printed on stdout), or HC_E_INVAL with a sentence naming the option in err
 * (errlen bytes). *o points into argv and the environment: keep them alive.
 */
int fl_opts_parse(int argc, char **argv, struct fl_opts *o, char *err, size_t errlen);

/* The shape of a day: a multiplier >= 0.1 of the mean rate at hour h (any real h, taken modulo
 * 24). Its mean over a day is 1. */
double fl_curve(double hour);

/* The simulated hour, in [0, 24), elapsed_s seconds into the run. */
double fl_sim_hour(const struct fl_opts *o, double elapsed_s);

/* What one device does; fl_plan_device fills it from the options, the seed and the index. */
struct fl_plan {
    char device_id[24];              /* "fleet-00042" */
    double mix[HC_KIND_COUNT];       /* generator weights by kind */
    double weight;                   /* its share of the fleet's rate (the shares sum to ~1) */
    int64_t skew_ms;                 /* added to every event_time */
    double offline_from, offline_to; /* seconds into the run; equal when never offline */
    int flaps;                       /* a flapping link */
    uint64_t seed;                   /* the generator's seed for this device and run */
};

/* Deterministic in (o->seed, o->devices, i, run) and the knobs; i < o->devices. */
void fl_plan_device(const struct fl_opts *o, unsigned i, unsigned run, struct fl_plan *p);

/* A device's clock offset in [-max_ms, max_ms], deterministic in (seed, i). */
int64_t fl_skew(uint64_t seed, unsigned i, int64_t max_ms);

/* Is p's link up t seconds into the run of duration_s? Always up once t >= duration_s. */
int fl_link_up(const struct fl_plan *p, uint64_t seed, double t, double duration_s);

/* What a run did (this run only) and what the buffers hold (all runs in the folder). */
struct fl_totals {
    uint64_t generated, shipped, dead, queued; /* records */
    uint64_t full;                             /* puts refused: a device buffer was full */
    double seconds;                            /* generating + settling */
};

/*
 * Run the fleet: prepare the folder (o->dir or a temp one; its path into dir_out, cap bytes),
 * generate for o->duration_s, then ship until everything is shipped or o->settle_s passed.
 * Progress goes to stderr. *stop (may be NULL) set non-zero ends the run early (the buffers stay
 * consistent). Returns 0, HC_E_INVAL (a folder of another fleet size: err says what to do) or
 * the first error that stopped a device (err tells which).
 */
int fl_run(const struct fl_opts *o, volatile int *stop, struct fl_totals *tot, char *dir_out,
           size_t cap, char *err, size_t errlen);

/* How many devices the fleet in dir has (from DIR/fleet.state); HC_E_NOTFOUND when none. */
int fl_state_devices(const char *dir, unsigned *devices);

/* ---- reconciliation (reconcile.c, libpq) -------------------------------------------------- */

#define FL_RULES_MAX 16

/* A quarantine rule and a count of event ids. */
struct fl_rule_count {
    char rule[32];
    uint64_t n;
};

struct fl_recon {
    uint64_t records;  /* records in the buffers (duplicates included) */
    uint64_t distinct; /* distinct event ids */
    uint64_t valid, malformed, dead;
    uint64_t in_silver, missing, duplicated;
    uint64_t unaccounted_malformed, malformed_in_silver;
    uint64_t expected_too_late;
    uint64_t not_landed; /* valid, shipped, not in bronze yet: in capture files not closed */
    int64_t window_ms;   /* the receiver's capture window (lake.config); 0: not known */
    int nrules;          /* the fleet's event ids in silver.quarantine, by rule */
    struct fl_rule_count quarantined[FL_RULES_MAX];
    int nexpected; /* malformed event ids by the rule they break */
    struct fl_rule_count expected[FL_RULES_MAX];
};

/*
 * Reconcile the fleet in dir (o->devices devices) against silver in the database of o->pg,
 * polling every second until nothing is missing or o->settle_s passed. Returns 0 (the verdict
 * is in *r), or an error with a sentence in err: -ECONNREFUSED (cannot connect), HC_E_NOTFOUND
 * (no silver schema there), or a buffer error.
 */
int fl_reconcile(const struct fl_opts *o, const char *dir, struct fl_recon *r, char *err,
                 size_t errlen);

#endif
