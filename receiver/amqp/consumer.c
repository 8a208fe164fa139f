/*
 * consumer.c - receiver links (consumers): hub/ConsumerGroups/<cg>/Partitions/N read back from the
 * partition's log (receiver/log/log.h), from the position of the selector filter (none: the
 * start), each event one pre-settled message within the link's credit, with its body (a data
 * section), its properties (application-properties) and the annotations x-opt-sequence-number,
 * x-opt-offset (a string), x-opt-enqueued-time (a timestamp) and x-opt-partition-key.
 *
 * A reader at the end is woken by the partition's writer thread (rx_log_reader_notify), which
 * only writes the loop's eventfd; the loop then pumps every consumer link (rx_amqp__consumers).
 * Epochs (com.microsoft:epoch): a higher one detaches the lower readers with amqp:link:stolen; at
 * most five readers without one per partition and consumer group (amqp:resource-limit-exceeded).
 * Consumer groups: $Default and those the hub's consumer_groups declares (receiver/conf.h);
 * another is amqp:not-found. Epochs and the limit count per partition and group.
 *
 * /metrics, per hub, partition and group: hubcap_receiver_consumer_readers (open links),
 * hubcap_receiver_consumer_events_total and _bytes_total (events sent, their body bytes) and
 * hubcap_receiver_consumer_lag (events the partition holds past its slowest reader's position;
 * only where a reader is open).
 *
 * Runtime metrics: a link whose desired capabilities hold
 * com.microsoft:enable-receiver-runtime-metric gets, on every message, the
 * delivery annotations last_enqueued_sequence_number (long), last_enqueued_offset (string),
 * last_enqueued_time_utc and runtime_info_retrieval_time_utc (timestamps): the partition's
 * newest durable event when the batch was read, as Event Hubs sends them. Proton 0.37 keeps no
 * link capabilities: the attach is read before it (wire.h on_attach, on plain and TLS
 * connections alike: the TLS is the receiver's own, below wire.c), and the capability is not
 * offered back (Azure's clients do not look).
 */
#include <errno.h>
#include <proton/delivery.h>
#include <proton/link.h>
#include <proton/message.h>
#include <proton/session.h>
#include <proton/terminus.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"
#include "common/log.h"
#include "receiver/amqp/address.h"
#include "receiver/amqp/amqp_int.h"
#include "receiver/capture/avro_enc.h"
#include "receiver/log/log.h"

#define SELECTOR     "apache.org:selector-filter:string"
#define RUNTIME_CAP  "com.microsoft:enable-receiver-runtime-metric"
#define BATCH_EVENTS 300
#define OUT_MAX      (4u << 20) /* bytes a link may have buffered in proton before we wait */

/* The selector filter's string in the source's filter map, or NULL. */
static const char *selector(pn_link_t *l, size_t *len)
{
    pn_data_t *f = pn_terminus_filter(pn_link_remote_source(l));
    pn_data_rewind(f);
    if (!pn_data_next(f) || pn_data_type(f) != PN_MAP)
        return NULL;
    pn_data_enter(f);
    while (pn_data_next(f)) {
        pn_bytes_t k = {0, NULL};
        int is_sel;
        if (pn_data_type(f) == PN_SYMBOL || pn_data_type(f) == PN_STRING)
            k = pn_data_type(f) == PN_SYMBOL ? pn_data_get_symbol(f) : pn_data_get_string(f);
        is_sel = k.size == strlen(SELECTOR) && !memcmp(k.start, SELECTOR, k.size);
        if (!pn_data_next(f))
            break;
        if (!is_sel)
            continue;
        if (pn_data_type(f) == PN_DESCRIBED) {
            pn_data_enter(f);
            pn_data_next(f); /* the descriptor, whatever the client made it */
            pn_data_next(f);
        }
        if (pn_data_type(f) == PN_STRING) {
            pn_bytes_t v = pn_data_get_string(f);
            *len = v.size;
            return v.start;
        }
        return NULL;
    }
    return NULL;
}

/* The link's com.microsoft:epoch property, -1 when none. */
static int64_t link_epoch(pn_link_t *l)
{
    pn_data_t *d = pn_link_remote_properties(l);
    if (!d) /* an attach without properties (proton gives none) */
        return -1;
    pn_data_rewind(d);
    if (!pn_data_next(d) || pn_data_type(d) != PN_MAP)
        return -1;
    pn_data_enter(d);
    while (pn_data_next(d)) {
        pn_bytes_t k = {0, NULL};
        if (pn_data_type(d) == PN_SYMBOL)
            k = pn_data_get_symbol(d);
        if (!pn_data_next(d))
            break;
        if (k.size == strlen("com.microsoft:epoch") &&
            !memcmp(k.start, "com.microsoft:epoch", k.size)) {
            if (pn_data_type(d) == PN_LONG)
                return pn_data_get_long(d);
            if (pn_data_type(d) == PN_INT)
                return pn_data_get_int(d);
            if (pn_data_type(d) == PN_ULONG)
                return (int64_t)pn_data_get_ulong(d);
        }
    }
    return -1;
}

/* 1 when p[0..n) holds s[0..sn) */
static int has_bytes(const uint8_t *p, size_t n, const char *s, size_t sn)
{
    for (size_t i = 0; i + sn <= n; i++)
        if (p[i] == (uint8_t)s[0] && !memcmp(p + i, s, sn))
            return 1;
    return 0;
}

void rx_amqp__consumer_attach_seen(void *ctx, const uint8_t *p, size_t n)
{
    struct rx_amqp_conn *c = ctx;
    size_t at, len;
    /* the capability's symbol anywhere in the attach: only desired-capabilities carry it */
    if (!has_bytes(p, n, RUNTIME_CAP, strlen(RUNTIME_CAP)))
        return;
    /* the list's header, then its first field: the link's name (a string) */
    if (n >= 3 && p[0] == 0xc0)
        at = 3;
    else if (n >= 9 && p[0] == 0xd0)
        at = 9;
    else
        return;
    if (at + 2 <= n && p[at] == 0xa1) {
        len = p[at + 1];
        at += 2;
    } else if (at + 5 <= n && p[at] == 0xb1) {
        len =
            (size_t)p[at + 1] << 24 | (size_t)p[at + 2] << 16 | (size_t)p[at + 3] << 8 | p[at + 4];
        at += 5;
    } else {
        return;
    }
    if (len > n - at || memchr(p + at, 0, len))
        return;
    if (c->rt_links.len > 65536) /* attaches never handled: forget them */
        hc_buf_reset(&c->rt_links);
    if (hc_buf_add(&c->rt_links, p + at, len) || hc_buf_add(&c->rt_links, "", 1))
        hc_buf_reset(&c->rt_links); /* out of memory: no runtime metrics for it */
}

/* 1 when the link named name asked for runtime metrics (and forget it). */
static int take_rt_link(struct rx_amqp_conn *c, const char *name)
{
    char *p = (char *)c->rt_links.p, *end = p + c->rt_links.len;
    size_t n = strlen(name);
    while (p && p < end) {
        size_t l = strlen(p);
        if (l == n && !memcmp(p, name, n)) {
            memmove(p, p + l + 1, (size_t)(end - p - (ptrdiff_t)l - 1));
            c->rt_links.len -= l + 1;
            return 1;
        }
        p += l + 1;
    }
    return 0;
}

static pn_bytes_t sym(const char *s);

static void loop_poke(struct rx_amqp_loop *l)
{
    uint64_t one = 1;
    ssize_t rc = write(l->efd, &one, sizeof one);
    (void)rc;
}

/*
 * Register lk for its partition and group (Event Hubs' rules): a higher epoch takes the
 * partition from every reader of a lower one or of none (they are detached with amqp:link:stolen
 * by their own loops); a lower epoch than the one reading, or none while one reads, is refused;
 * at most five readers without an epoch. Returns NULL, or the refusal (condition in *cond).
 */
static const char *consumer_register(struct rx_amqp *a, struct rx_amqp_link *lk, const char **cond)
{
    int n = 0;
    int64_t top = -1;
    const char *why = NULL;
    pthread_mutex_lock(&a->cmu);
    for (struct rx_amqp_link *o = a->consumers; o; o = o->cnext) {
        if (o->hub != lk->hub || o->partition != lk->partition || o->group != lk->group ||
            atomic_load(&o->stolen))
            continue;
        if (o->epoch < 0)
            n++;
        else if (o->epoch > top)
            top = o->epoch;
    }
    if (lk->epoch >= 0 && top > lk->epoch) {
        *cond = "amqp:link:stolen";
        why = "a reader with a higher epoch reads this partition";
    } else if (lk->epoch < 0 && top >= 0) {
        *cond = "amqp:link:stolen";
        why = "a reader with an epoch reads this partition";
    } else if (lk->epoch < 0 && n >= 5) {
        *cond = "amqp:resource-limit-exceeded";
        why = "at most 5 readers without an epoch per partition and consumer group";
    }
    if (!why) {
        if (lk->epoch >= 0)
            for (struct rx_amqp_link *o = a->consumers; o; o = o->cnext)
                if (o->hub == lk->hub && o->partition == lk->partition && o->group == lk->group &&
                    !atomic_load(&o->stolen) && o->epoch < lk->epoch) {
                    atomic_store(&o->stolen, 1);
                    loop_poke(o->cloop);
                }
        lk->cnext = a->consumers;
        lk->cprev = NULL;
        if (a->consumers)
            a->consumers->cprev = lk;
        a->consumers = lk;
        lk->registered = 1;
    }
    pthread_mutex_unlock(&a->cmu);
    return why;
}

static void consumer_unregister(struct rx_amqp *a, struct rx_amqp_link *lk)
{
    pthread_mutex_lock(&a->cmu);
    if (lk->registered) {
        if (lk->cprev)
            lk->cprev->cnext = lk->cnext;
        else
            a->consumers = lk->cnext;
        if (lk->cnext)
            lk->cnext->cprev = lk->cprev;
        lk->registered = 0;
    }
    pthread_mutex_unlock(&a->cmu);
}

/* The writer thread saw a new event for an armed reader: wake the loop (nothing else here). */
static void consumer_notify(void *ctx)
{
    struct rx_amqp_loop *l = ctx;
    uint64_t one = 1;
    ssize_t rc = write(l->efd, &one, sizeof one);
    (void)rc;
}

void rx_amqp__consumer_open(struct rx_amqp_conn *c, struct rx_amqp_link *lk,
                            const struct rx_amqp_addr *ad)
{
    struct rx_amqp *a = c->l->a;
    struct rx_log_pos pos = {RX_LOG_START, 0, 1};
    struct rx_log *log;
    char desc[1024]; /* two hub names of up to 256 bytes and two group names */
    const char *sel;
    size_t sel_len = 0;
    int hub = rx_core_hub(a->core, ad->hub, ad->hub_len), group, rc;
    if (hub < 0 || ad->partition < 0 || ad->partition >= rx_core_partitions(a->core, hub)) {
        snprintf(desc, sizeof desc, "no event hub partition %.*s/Partitions/%d in namespace %s",
                 (int)ad->hub_len, ad->hub, ad->partition, a->c->ns);
        rx_amqp__link_refuse(c, lk, "amqp:not-found", desc, RX_AC_LINK_NOTFOUND);
        return;
    }
    if ((group = rx_conf_group_index(&a->c->hubs[hub], ad->cg, ad->cg_len)) < 0) {
        /* Event Hubs' words: the client then gives up (MessagingEntityNotFoundError) */
        snprintf(desc, sizeof desc,
                 "The messaging entity '%s/consumergroups/%.*s' could not be found: no consumer "
                 "group %.*s in event hub %s (declare it in the hub's consumer_groups)",
                 a->c->hubs[hub].name, (int)(ad->cg_len > 60 ? 60 : ad->cg_len), ad->cg,
                 (int)(ad->cg_len > 60 ? 60 : ad->cg_len), ad->cg, a->c->hubs[hub].name);
        rx_amqp__link_refuse(c, lk, "amqp:not-found", desc, RX_AC_LINK_NOTFOUND);
        return;
    }
    if (!rx_amqp__conn_authorized(c, hub, ad->partition, RX_RIGHT_LISTEN)) {
        snprintf(desc, sizeof desc,
                 "no valid CBS token with Listen for %s: put-token on $cbs before attaching",
                 a->c->hubs[hub].name);
        rx_amqp__link_refuse(c, lk, "amqp:unauthorized-access", desc, RX_AC_LINK_UNAUTH);
        return;
    }
    if ((sel = selector(lk->l, &sel_len)) && rx_log_pos_parse(sel, sel_len, &pos)) {
        snprintf(desc, sizeof desc, "the selector filter '%.*s' is not a position",
                 (int)(sel_len > 200 ? 200 : sel_len), sel);
        rx_amqp__link_refuse(c, lk, "amqp:invalid-field", desc, RX_AC_LINK_OTHER);
        return;
    }
    lk->hub = hub;
    lk->partition = ad->partition;
    lk->group = group;
    lk->epoch = link_epoch(lk->l);
    lk->cloop = c->l;
    lk->a = a;
    {
        const char *cond = NULL, *why = consumer_register(a, lk, &cond);
        if (why) {
            rx_amqp__link_refuse(c, lk, cond, why, RX_AC_LINK_OTHER);
            return;
        }
    }
    log = rx_core_log(a->core, hub, ad->partition);
    if ((rc = rx_log_reader_open(log, &pos, &lk->reader))) {
        consumer_unregister(a, lk);
        snprintf(desc, sizeof desc, "cannot read partition %d: %s", ad->partition, hc_strerror(rc));
        rx_amqp__link_refuse(c, lk, "amqp:internal-error", desc, RX_AC_LINK_OTHER);
        return;
    }
    rx_log_reader_notify(lk->reader, consumer_notify, c->l);
    if (!(lk->msg = pn_message())) {
        consumer_unregister(a, lk);
        rx_log_reader_close(lk->reader);
        lk->reader = NULL;
        rx_amqp__link_refuse(c, lk, "amqp:resource-limit-exceeded", "out of memory",
                             RX_AC_LINK_OTHER);
        return;
    }
    lk->hub = hub;
    lk->partition = ad->partition;
    lk->kind = RX_LK_CONSUMER;
    lk->runtime_metric = take_rt_link(c, pn_link_name(lk->l));
    pn_link_set_snd_settle_mode(lk->l, PN_SND_SETTLED);
    pn_terminus_copy(pn_link_source(lk->l), pn_link_remote_source(lk->l));
    pn_terminus_copy(pn_link_target(lk->l), pn_link_remote_target(lk->l));
    pn_link_open(lk->l);
}

void rx_amqp__consumer_close(struct rx_amqp_link *lk)
{
    if (lk->a)
        consumer_unregister(lk->a, lk);
    rx_log_reader_close(lk->reader);
    lk->reader = NULL;
    if (lk->msg)
        pn_message_free(lk->msg);
    lk->msg = NULL;
}

int rx_amqp__consumer_init(struct rx_amqp *a)
{
    size_t n = 0;
    if (!(a->cstat_at = calloc((size_t)a->c->nhubs + 1, sizeof *a->cstat_at)))
        return -ENOMEM;
    for (int h = 0; h < a->c->nhubs; h++) {
        a->cstat_at[h] = n;
        n += (size_t)a->c->hubs[h].partitions * (size_t)(1 + a->c->hubs[h].ngroups);
    }
    a->cstat_at[a->c->nhubs] = n;
    if (!(a->cstat = calloc(n ? n : 1, sizeof *a->cstat)))
        return -ENOMEM;
    return 0;
}

void rx_amqp__consumer_fini(struct rx_amqp *a)
{
    free(a->cstat);
    free(a->cstat_at);
    a->cstat = NULL;
    a->cstat_at = NULL;
}

static struct rx_amqp_cstat *cstat(struct rx_amqp *a, int hub, int partition, int group)
{
    return &a->cstat[a->cstat_at[hub] + (size_t)partition * (size_t)(1 + a->c->hubs[hub].ngroups) +
                     (size_t)group];
}

int rx_amqp__consumer_render(void *ctx, struct hc_buf *o)
{
    static const char *const help[4][2] = {
        {"readers", "gauge Consumer links open, per partition and consumer group."},
        {"events_total", "counter Events sent to consumers."},
        {"bytes_total", "counter Body bytes of the events sent to consumers."},
        {"lag", "gauge Events past the slowest open reader's position (the partition's end "
                "minus it)."},
    };
    struct rx_amqp *a = ctx;
    int rc = 0;
    for (int k = 0; k < 4 && !rc; k++) {
        const char *sp = strchr(help[k][1], ' ');
        rc = hc_buf_addf(
            o, "# HELP hubcap_receiver_consumer_%s %s\n# TYPE hubcap_receiver_consumer_%s %.*s\n",
            help[k][0], sp + 1, help[k][0], (int)(sp - help[k][1]), help[k][1]);
        for (int h = 0; h < a->c->nhubs && !rc; h++) {
            const struct rx_hub_conf *hc = &a->c->hubs[h];
            for (int p = 0; p < hc->partitions && !rc; p++) {
                int64_t end = -1;
                for (int g = 0; g <= hc->ngroups && !rc; g++) {
                    struct rx_amqp_cstat *st = cstat(a, h, p, g);
                    int64_t readers = 0, lag = 0, v;
                    if (k == 0 || k == 3) {
                        pthread_mutex_lock(&a->cmu);
                        for (struct rx_amqp_link *lk = a->consumers; lk; lk = lk->cnext) {
                            if (lk->hub != h || lk->partition != p || lk->group != g ||
                                atomic_load(&lk->stolen))
                                continue;
                            readers++;
                            if (k == 3 && lk->reader) {
                                if (end < 0) {
                                    struct rx_log_info li;
                                    rx_log_info(rx_core_log(a->core, h, p), &li);
                                    end = li.end_seq;
                                }
                                if (end - rx_log_reader_next(lk->reader) > lag)
                                    lag = end - rx_log_reader_next(lk->reader);
                            }
                        }
                        pthread_mutex_unlock(&a->cmu);
                        if (k == 3 && !readers)
                            continue;
                    }
                    v = k == 0   ? readers
                        : k == 1 ? (int64_t)atomic_load(&st->events)
                        : k == 2 ? (int64_t)atomic_load(&st->bytes)
                                 : lag;
                    rc = hc_buf_addf(o,
                                     "hubcap_receiver_consumer_%s{hub=\"%s\",partition=\"%d\","
                                     "group=\"%s\"} %lld\n",
                                     help[k][0], hc->name, p, rx_conf_group_name(hc, g),
                                     (long long)v);
                }
            }
        }
    }
    return rc ? -ENOMEM : 0;
}

/* The Avro properties map into application-properties. */
static void put_props(pn_data_t *d, const uint8_t *p, size_t n)
{
    const uint8_t *q = p, *end = p + n, *k, *s;
    size_t kl, sl;
    int64_t left = 0, br, v;
    double dv;
    pn_data_put_map(d);
    pn_data_enter(d);
    while (rx_avro_map_next(&q, end, &left) == 1) {
        if (rx_avro_get_bytes(&q, end, &k, &kl) || rx_avro_get_long(&q, end, &br))
            break;
        pn_data_put_string(d, pn_bytes(kl, (const char *)k));
        if (br == RX_AVRO_LONG && !rx_avro_get_long(&q, end, &v)) {
            pn_data_put_long(d, v);
        } else if (br == RX_AVRO_DOUBLE && !rx_avro_get_double(&q, end, &dv)) {
            pn_data_put_double(d, dv);
        } else if ((br == RX_AVRO_STRING || br == RX_AVRO_BYTES) &&
                   !rx_avro_get_bytes(&q, end, &s, &sl)) {
            if (br == RX_AVRO_STRING)
                pn_data_put_string(d, pn_bytes(sl, (const char *)s));
            else
                pn_data_put_binary(d, pn_bytes(sl, (const char *)s));
        } else {
            pn_data_put_null(d);
            break;
        }
    }
    pn_data_exit(d);
}

static pn_bytes_t sym(const char *s)
{
    return pn_bytes(strlen(s), s);
}

/* The runtime metric of a batch: the partition's newest event when it was read. */
struct runtime {
    int64_t last_seq, last_offset, last_enq_ms, now_ms;
};

/* One event as a message, encoded into lk->buf (rt: its delivery annotations, or NULL). */
static int encode(struct rx_amqp_link *lk, const struct rx_log_event *e, const struct runtime *rt)
{
    pn_message_t *m = lk->msg;
    pn_data_t *ann, *body;
    char off[24];
    size_t size;
    int n = snprintf(off, sizeof off, "%lld", (long long)e->offset), rc;
    pn_message_clear(m);
    if (rt) {
        pn_data_t *da = pn_message_instructions(m); /* proton's name: delivery annotations */
        char loff[24];
        int ln = snprintf(loff, sizeof loff, "%lld", (long long)rt->last_offset);
        pn_data_put_map(da);
        pn_data_enter(da);
        pn_data_put_symbol(da, sym("last_enqueued_sequence_number"));
        pn_data_put_long(da, rt->last_seq);
        pn_data_put_symbol(da, sym("last_enqueued_offset"));
        pn_data_put_string(da, pn_bytes((size_t)ln, loff));
        pn_data_put_symbol(da, sym("last_enqueued_time_utc"));
        pn_data_put_timestamp(da, rt->last_enq_ms);
        pn_data_put_symbol(da, sym("runtime_info_retrieval_time_utc"));
        pn_data_put_timestamp(da, rt->now_ms);
        pn_data_exit(da);
    }
    ann = pn_message_annotations(m);
    pn_data_put_map(ann);
    pn_data_enter(ann);
    pn_data_put_symbol(ann, sym("x-opt-sequence-number"));
    pn_data_put_long(ann, e->seq);
    pn_data_put_symbol(ann, sym("x-opt-offset"));
    pn_data_put_string(ann, pn_bytes((size_t)n, off));
    pn_data_put_symbol(ann, sym("x-opt-enqueued-time"));
    pn_data_put_timestamp(ann, e->enq_ms);
    if (e->pkey) {
        pn_data_put_symbol(ann, sym("x-opt-partition-key"));
        pn_data_put_string(ann, pn_bytes(e->pkey_len, e->pkey));
    }
    pn_data_exit(ann);
    put_props(pn_message_properties(m), e->props, e->props_len);
    body = pn_message_body(m);
    if (e->body) {
        pn_data_put_binary(body, pn_bytes(e->body_len, (const char *)e->body));
        pn_message_set_inferred(m, true);
    } else {
        pn_data_put_null(body);
    }
    for (size_t cap = e->body_len + e->props_len + 512;; cap *= 2) {
        hc_buf_reset(&lk->buf);
        if (hc_buf_reserve(&lk->buf, cap))
            return -ENOMEM;
        size = cap;
        rc = pn_message_encode(m, lk->buf.p, &size);
        if (rc == 0) {
            lk->buf.len = size;
            return 0;
        }
        if (rc != PN_OVERFLOW)
            return -EINVAL;
    }
}

/* Send what the credit allows. Returns 1 when something was sent. */
static int consumer_pump(struct rx_amqp_conn *c, struct rx_amqp_link *lk)
{
    int sent = 0;
    struct rx_amqp_cstat *st;
    if (lk->kind != RX_LK_CONSUMER)
        return 0;
    st = cstat(c->l->a, lk->hub, lk->partition, lk->group);
    if (atomic_load(&lk->stolen)) {
        rx_amqp__link_refuse(c, lk, "amqp:link:stolen",
                             "a reader with a higher epoch took this partition", RX_AC_LINK_OTHER);
        rx_amqp__consumer_close(lk);
        return 1;
    }
    while (lk->kind == RX_LK_CONSUMER && pn_link_credit(lk->l) > 0 &&
           pn_session_outgoing_bytes(pn_link_session(lk->l)) < OUT_MAX &&
           !rx_amqp__conn_backed_up(c)) {
        const struct rx_log_event *ev;
        struct runtime rt;
        size_t k, want = (size_t)pn_link_credit(lk->l);
        int rc =
            rx_log_read(lk->reader, want < BATCH_EVENTS ? want : BATCH_EVENTS, 1u << 20, &ev, &k);
        if (rc == HC_E_RETRY)
            break; /* the index is being rebuilt: the next tick asks again */
        if (rc) {
            char desc[256];
            snprintf(desc, sizeof desc, "cannot read the partition: %s", hc_strerror(rc));
            rx_amqp__link_refuse(c, lk, "amqp:internal-error", desc, RX_AC_LINK_OTHER);
            rx_amqp__consumer_close(lk);
            break;
        }
        if (!k)
            break;
        if (lk->runtime_metric) {
            struct rx_log_info li;
            rx_log_info(rx_core_log(c->l->a->core, lk->hub, lk->partition), &li);
            rt.last_seq = li.last_seq;
            rt.last_offset = li.last_offset;
            rt.last_enq_ms = li.last_enq_ms;
            rt.now_ms = hc_now_ms();
            if (rt.last_seq < ev[k - 1].seq) { /* read past what info saw: never behind */
                rt.last_seq = ev[k - 1].seq;
                rt.last_offset = ev[k - 1].offset;
                rt.last_enq_ms = ev[k - 1].enq_ms;
            }
        }
        for (size_t i = 0; i < k; i++) {
            uint64_t tag = ++c->tag;
            pn_delivery_t *d;
            if (encode(lk, &ev[i], lk->runtime_metric ? &rt : NULL))
                break;
            d = pn_delivery(lk->l, pn_dtag((const char *)&tag, sizeof tag));
            pn_link_send(lk->l, lk->buf.p, lk->buf.len);
            pn_link_advance(lk->l);
            pn_delivery_settle(d);
            atomic_fetch_add(&c->l->a->ctr[RX_AC_EVENTS_OUT], 1);
            atomic_fetch_add(&c->l->a->ctr[RX_AC_BYTES_OUT], ev[i].body_len);
            atomic_fetch_add(&st->events, 1);
            atomic_fetch_add(&st->bytes, ev[i].body_len);
        }
        sent = 1;
    }
    return sent;
}

void rx_amqp__consumer_flow(struct rx_amqp_conn *c, pn_link_t *l)
{
    struct rx_amqp_link *lk = pn_link_get_context(l);
    if (lk && lk->kind == RX_LK_CONSUMER)
        consumer_pump(c, lk);
}

int rx_amqp__consumers(struct rx_amqp_conn *c)
{
    int sent = 0;
    if (c->gone)
        return 0;
    for (struct rx_amqp_link *lk = c->links; lk; lk = lk->next)
        if (lk->kind == RX_LK_CONSUMER)
            sent |= consumer_pump(c, lk);
    return sent;
}
