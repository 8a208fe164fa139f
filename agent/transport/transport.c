/* transport.c - the small helpers of the transport interface (transport.h). */
#include "agent/transport/transport.h"

#include <stdio.h>
#include <string.h>

void ag_send_status_reset(struct ag_send_status *st)
{
    st->result = AG_SEND_RETRY;
    st->why = AG_WHY_INTERNAL;
    st->acked = 0;
    st->one = 0;
    st->acked_after = 0;
    st->retry_after_ms = -1;
    st->code[0] = '\0';
    st->error[0] = '\0';
}

const char *ag_send_status_text(const struct ag_send_status *st, char *out, size_t cap)
{
    if (st->code[0])
        snprintf(out, cap, "%s: %s", st->code, st->error);
    else
        snprintf(out, cap, "%s", st->error);
    return out;
}

const char *ag_send_result_name(enum ag_send_result r)
{
    return r == AG_SEND_OK ? "ok" : r == AG_SEND_RETRY ? "retry" : "reject";
}

const char *ag_tp_counter_name(enum ag_tp_counter c)
{
    static const char *const names[AG_TPC_COUNT] = {
        [AG_TPC_CONNECTS] = "connects",
        [AG_TPC_DISCONNECTS] = "disconnects",
        [AG_TPC_REQUESTS] = "requests",
        [AG_TPC_ACCEPTED] = "accepted",
        [AG_TPC_RETRIED] = "retried",
        [AG_TPC_REJECTED] = "rejected",
        [AG_TPC_BYTES] = "bytes",
        [AG_TPC_TOKENS] = "tokens",
        [AG_TPC_AUTH_REFUSED] = "auth_refused",
    };
    return (unsigned)c < AG_TPC_COUNT ? names[c] : "?";
}
