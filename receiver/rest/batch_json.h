/*
 * batch_json.h - internal to receiver/rest: the strict JSON reader the batch parser (batch.c) is
 * built on. One cursor, struct rx_jp, over the bytes [p, end); every function reads at j->p and
 * moves it past what it read.
 *
 * Errors: a function that fails returns -1 and records the first failure in the cursor (rc: a
 * project code, HC_E_PARSE, HC_E_UTF8 or -ENOMEM; why: a static sentence for the client); later
 * failures keep the first. Nothing here allocates except into the hc_buf a caller passes.
 */
#ifndef RX_REST_BATCH_JSON_H
#define RX_REST_BATCH_JSON_H

#include <stddef.h>

#include "common/buf.h"

struct rx_jp {
    const char *p, *end;
    const char *why; /* static: the first failure's sentence */
    int rc;          /* the first failure's code, 0 while none */
};

/* Record the failure (rc, why) unless one is recorded; returns -1 so callers can `return` it. */
int rx_jp__bad(struct rx_jp *j, int rc, const char *why);

/* Skip JSON white space. */
void rx_jp__ws(struct rx_jp *j);

/* Expect the byte c after white space; why is the failure's sentence. */
int rx_jp__expect(struct rx_jp *j, char c, const char *why);

/*
 * A JSON string at j->p (the opening quote), UTF-8 checked and unescaped into out (NUL-terminated;
 * out->len is the string's length) or only checked (out NULL).
 */
int rx_jp__string(struct rx_jp *j, struct hc_buf *out);

/* A JSON number; *integer is set when it has no fraction and no exponent. */
int rx_jp__number(struct rx_jp *j, int *integer);

/* The literal word (true, false, null) at j->p. */
int rx_jp__literal(struct rx_jp *j, const char *word);

/* Check any JSON value (after white space), nested at most RX_JSON_DEPTH - depth deeper. */
int rx_jp__value(struct rx_jp *j, int depth);

/* A member name unescaped into key (cap bytes, NUL-terminated; longer names come back ""), and
 * the ':' after it. tmp is scratch. */
int rx_jp__member_name(struct rx_jp *j, char *key, size_t cap, struct hc_buf *tmp);

/* Called for each member of an object, j->p at its value, which it must consume. */
typedef int (*rx_jp_member_fn)(struct rx_jp *j, const char *key, void *ctx);

/* Walk the members of the object at j->p (what: the sentence when it is not one), calling fn for
 * each. tmp is scratch for the names. */
int rx_jp__members(struct rx_jp *j, struct hc_buf *tmp, rx_jp_member_fn fn, void *ctx,
                   const char *what);

#endif
