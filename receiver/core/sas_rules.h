/*
 * sas_rules.h - who may send or listen: a SAS token against the configured policies (pure), for
 * every front end (REST Authorization headers, AMQP CBS put-token, MQTT passwords).
 *
 * The token is checked by hc_sas_verify (common/sas.h: form, key, signature in constant time,
 * expiry, audience prefix; the audience's scheme and port are ignored, so a token for
 * sb://host/hub covers http://host/hub/messages and amqps://host/hub/Partitions/0 alike); this
 * module supplies the keys and adds what the policy says: the policy must exist for the hub (a
 * namespace-wide policy, or one of that hub) and carry the right asked for (Manage includes Send
 * and Listen), as Event Hubs requires.
 */
#ifndef RX_SAS_RULES_H
#define RX_SAS_RULES_H

#include <stddef.h>
#include <stdint.h>

#include "common/sas.h"
#include "receiver/conf.h"

/*
 * Check token (a "SharedAccessSignature ..." text: an Authorization header, a CBS put-token body;
 * NULL when absent) for access with right (RX_RIGHT_SEND or RX_RIGHT_LISTEN) to hub c->hubs[hub]
 * at resource (from rx_sas_resource) at time now_s. *claims (when not NULL) gets what the token
 * says (its expiry, for a front end that must end access then). Returns 0, or HC_E_AUTH with
 * *why a static sentence for the refusal (no token, not a SAS token, the reasons of
 * hc_sas_verify, "the token's policy has no Send right").
 */
int rx_sas_check(const struct rx_conf *c, int hub, const char *token, const char *resource,
                 unsigned right, int64_t now_s, struct hc_sas_claims *claims, const char **why);

/*
 * The resource a request addresses, for the audience check: "{scheme}://{host}{path}", where host
 * is c->host_name when set, else host (the request's Host header or AMQP open hostname; its port
 * is ignored by the check), else c->listen_addr. A host with bytes other than letters, digits,
 * '.', '-', ':', '[', ']' is not used. path starts with '/'. Returns the length, or HC_E_TOOBIG
 * when out (cap bytes) is too small.
 */
int rx_sas_resource(const struct rx_conf *c, const char *scheme, const char *host, const char *path,
                    char *out, size_t cap);

#endif
