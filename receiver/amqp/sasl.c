#include "receiver/amqp/sasl.h"

#include <proton/sasl.h>
#include <proton/sasl_plugin.h>
#include <string.h>

int rx_amqp_sasl_accepts(const char *mechanism)
{
    static const char *const ok[] = {"MSSBCBS", "ANONYMOUS", "PLAIN"};
    for (size_t i = 0; mechanism && i < sizeof ok / sizeof ok[0]; i++)
        if (!strcmp(mechanism, ok[i]))
            return 1;
    return 0;
}

static void sasl_free(pn_transport_t *t)
{
    (void)t;
}

static const char *sasl_list(pn_transport_t *t)
{
    (void)t;
    return RX_AMQP_SASL_MECHS;
}

static bool sasl_init_server(pn_transport_t *t)
{
    pnx_sasl_set_desired_state(t, SASL_POSTED_MECHANISMS);
    return true;
}

static bool sasl_init_client(pn_transport_t *t)
{
    (void)t;
    return false;
}

static void sasl_prepare(pn_transport_t *t)
{
    (void)t;
}

static void sasl_process_init(pn_transport_t *t, const char *mechanism, const pn_bytes_t *recv)
{
    (void)recv;
    if (rx_amqp_sasl_accepts(mechanism))
        pnx_sasl_set_succeeded(t, "anonymous", NULL);
    else
        pnx_sasl_set_failed(t);
    pnx_sasl_set_desired_state(t, SASL_POSTED_OUTCOME);
}

static void sasl_process_response(pn_transport_t *t, const pn_bytes_t *recv)
{
    (void)t;
    (void)recv;
}

static bool sasl_process_mechanisms(pn_transport_t *t, const char *mechs)
{
    (void)t;
    (void)mechs;
    return false;
}

static void sasl_process_challenge(pn_transport_t *t, const pn_bytes_t *recv)
{
    (void)t;
    (void)recv;
}

static void sasl_process_outcome(pn_transport_t *t, const pn_bytes_t *recv)
{
    (void)t;
    (void)recv;
}

static bool sasl_can_encrypt(pn_transport_t *t)
{
    (void)t;
    return false;
}

static ssize_t sasl_max_encrypt(pn_transport_t *t)
{
    (void)t;
    return 0;
}

static ssize_t sasl_code(pn_transport_t *t, pn_bytes_t in, pn_bytes_t *out)
{
    (void)t;
    (void)in;
    (void)out;
    return 0;
}

static const pnx_sasl_implementation rx_sasl = {
    .free = sasl_free,
    .list_mechanisms = sasl_list,
    .init_server = sasl_init_server,
    .init_client = sasl_init_client,
    .prepare_write = sasl_prepare,
    .process_init = sasl_process_init,
    .process_response = sasl_process_response,
    .process_mechanisms = sasl_process_mechanisms,
    .process_challenge = sasl_process_challenge,
    .process_outcome = sasl_process_outcome,
    .can_encrypt = sasl_can_encrypt,
    .max_encrypt_size = sasl_max_encrypt,
    .encode = sasl_code,
    .decode = sasl_code,
};

int rx_amqp_sasl_setup(pn_transport_t *t)
{
    pn_sasl_t *s = pn_sasl(t);
    pnx_sasl_set_implementation(t, &rx_sasl, NULL);
    pn_sasl_set_allow_insecure_mechs(s, true);
    pn_transport_require_auth(t, false);
    return 0;
}
