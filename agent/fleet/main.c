/* hubcap-fleet: simulated devices shipping to a receiver, then a reconciliation (fleet.h). */
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/fleet/fleet.h"
#include "common/error.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void print_rules(FILE *f, const struct fl_rule_count *l, int n, uint64_t extra_too_late)
{
    fputc('{', f);
    for (int i = 0; i < n; i++)
        fprintf(f, "%s\"%s\":%" PRIu64, i ? "," : "", l[i].rule, l[i].n);
    if (extra_too_late)
        fprintf(f, "%s\"too_late\":%" PRIu64, n ? "," : "", extra_too_late);
    fputc('}', f);
}

/* s as a JSON string (paths: quotes, backslashes and control characters escaped). */
static void print_str(const char *s)
{
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            printf("\\%c", *s);
        else if ((unsigned char)*s < 0x20)
            printf("\\u%04x", (unsigned char)*s);
        else
            putchar(*s);
    }
    putchar('"');
}

static void print_json(const struct fl_opts *o, unsigned devices, const char *dir,
                       const struct fl_totals *t, const struct fl_recon *r, int reconciled)
{
    printf("{\"devices\":%u,\"dir\":", devices);
    print_str(o->keep || o->dir ? dir : "");
    printf(",\"seconds\":%.1f,\"generated_this_run\":%" PRIu64 ",\"shipped\":%" PRIu64
           ",\"dead_lettered\":%" PRIu64 ",\"queued\":%" PRIu64 ",\"full\":%" PRIu64
           ",\"eps\":%.1f",
           t->seconds, t->generated, t->shipped, t->dead, t->queued, t->full,
           t->seconds > 0 ? (double)t->shipped / t->seconds : 0.0);
    if (reconciled) {
        printf(",\"generated\":%" PRIu64 ",\"distinct\":%" PRIu64 ",\"valid\":%" PRIu64
               ",\"malformed\":%" PRIu64 ",\"dead\":%" PRIu64 ",\"in_silver\":%" PRIu64
               ",\"missing\":%" PRIu64 ",\"not_landed\":%" PRIu64 ",\"duplicated\":%" PRIu64
               ",\"unaccounted_malformed\":%" PRIu64 ",\"malformed_in_silver\":%" PRIu64
               ",\"quarantined\":",
               r->records, r->distinct, r->valid, r->malformed, r->dead, r->in_silver, r->missing,
               r->not_landed, r->duplicated, r->unaccounted_malformed, r->malformed_in_silver);
        print_rules(stdout, r->quarantined, r->nrules, 0);
        fputs(",\"expected_quarantine\":", stdout);
        print_rules(stdout, r->expected, r->nexpected, r->expected_too_late);
    } else {
        printf(",\"generated\":%" PRIu64, t->generated);
    }
    fputs("}\n", stdout);
}

/* A window as the receiver's --window takes it: "5m", "90s", "2h". Not reentrant. */
static const char *window_text(int64_t ms)
{
    static char t[32];
    int64_t s = ms / 1000;

    if (s >= 3600 && s % 3600 == 0)
        snprintf(t, sizeof t, "%" PRId64 "h", s / 3600);
    else if (s >= 60 && s % 60 == 0)
        snprintf(t, sizeof t, "%" PRId64 "m", s / 60);
    else
        snprintf(t, sizeof t, "%" PRId64 "s", s);
    return t;
}

static void print_summary(const struct fl_recon *r)
{
    fprintf(stderr,
            "reconciled %" PRIu64 " events (%" PRIu64 " distinct: %" PRIu64 " valid, %" PRIu64
            " malformed, %" PRIu64 " dead-lettered): %" PRIu64 " in silver, %" PRIu64
            " missing, %" PRIu64 " duplicated; quarantined ",
            r->records, r->distinct, r->valid, r->malformed, r->dead, r->in_silver, r->missing,
            r->duplicated);
    print_rules(stderr, r->quarantined, r->nrules, 0);
    fputs(", expected ", stderr);
    print_rules(stderr, r->expected, r->nexpected, r->expected_too_late);
    fputc('\n', stderr);
    if (r->not_landed)
        fprintf(stderr,
                "  %" PRIu64 " events in capture files not yet closed: window %s (not missing: a "
                "file lands in bronze when it closes; serve --window shortens it)\n",
                r->not_landed, window_text(r->window_ms));
    if (r->unaccounted_malformed || r->malformed_in_silver)
        fprintf(stderr,
                "  %" PRIu64 " malformed events are neither in silver nor in quarantine, %" PRIu64
                " were promoted to silver\n",
                r->unaccounted_malformed, r->malformed_in_silver);
}

int main(int argc, char **argv)
{
    static char err[1024];
    char dir[PATH_MAX];
    struct fl_opts o;
    struct fl_totals t;
    struct fl_recon r;
    unsigned devices = 0;
    int rc, reconciled = 0, failed = 0;

    rc = fl_opts_parse(argc, argv, &o, err, sizeof err);
    if (rc == FL_HELP)
        return 0;
    if (rc) {
        fprintf(stderr, "hubcap-fleet: %s\n", err);
        return 2;
    }
    on_signals();
    memset(&t, 0, sizeof t);
    if (o.reconcile_only) {
        snprintf(dir, sizeof dir, "%s", o.dir);
        if (fl_state_devices(dir, &devices)) {
            fprintf(stderr, "hubcap-fleet: %s holds no fleet (no fleet.state): check --dir\n", dir);
            return 1;
        }
    } else {
        rc = fl_run(&o, &stop_flag, &t, dir, sizeof dir, err, sizeof err);
        fl_state_devices(dir, &devices);
        if (rc) {
            fprintf(stderr, "hubcap-fleet: %s\n", err);
            failed = 1;
        } else if (t.queued) {
            fprintf(stderr,
                    "hubcap-fleet: %" PRIu64 " events still queued after --settle %.0fs: is "
                    "the receiver up? (they stay in %s)\n",
                    t.queued, o.settle_s, dir);
        }
    }
    if (o.reconcile && !failed && !stop_flag) {
        o.settle_s -= t.seconds > o.duration_s ? t.seconds - o.duration_s : 0;
        if (o.settle_s < 1)
            o.settle_s = 1;
        rc = fl_reconcile(&o, dir, &r, err, sizeof err);
        if (rc) {
            fprintf(stderr, "hubcap-fleet: cannot reconcile: %s\n", err);
            failed = 1;
        } else {
            reconciled = 1;
            print_summary(&r);
            failed = r.missing || r.duplicated;
        }
    }
    if (o.json)
        print_json(&o, devices, dir, &t, &r, reconciled);
    if (!o.dir && !o.keep && dir[0])
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    else if (!o.dir)
        fprintf(stderr, "hubcap-fleet: the buffers stay in %s\n", dir);
    return failed || stop_flag ? 1 : 0;
}
