/*
 * sas_rules.h - who may send: a request's SAS token against the configured policies (pure).
 *
 * The token is checked by hc_sas_verify (common/sas.h: form, key, signature in constant time,
 * expiry, audience prefix); this module supplies the keys and adds what the policy says: the
 * policy must exist for the hub (a namespace-wide policy, or one of that hub) and carry the Send
 * right (Manage includes it), as Event Hubs requires for a send.
 */
#ifndef RX_SAS_RULES_H
#define RX_SAS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "receiver/conf.h"

/*
 * Check auth (the Authorization header, NULL when absent) for a send to hub c->hubs[hub] at
 * resource (from rx_sas_resource) at time now_s. Returns 0, or HC_E_AUTH with *why a static
 * sentence for the 401 answer (no token, not a SAS token, the reasons of hc_sas_verify, "the
 * policy has no Send right").
 */
int rx_sas_check_send(const struct rx_conf *c, int hub, const char *auth, const char *resource,
                      int64_t now_s, const char **why);

/*
 * The resource a request addresses, for the audience check: "http://{host}{path}", where host
 * is c->host_name when set, else the Host header (host_header; its port is ignored by the check),
 * else c->listen_addr. A Host header with bytes other than letters, digits, '.', '-', ':', '[',
 * ']' is not used. Returns the length, or HC_E_TOOBIG when out (cap bytes) is too small.
 */
int rx_sas_resource(const struct rx_conf *c, const char *host_header, const char *path, char *out,
                    size_t cap);

#endif
