/*
 * registry.c - the transports of this build, found by name (transport.h). Each is behind its
 * CMake option, so a build without one still links.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "agent/transport/transport.h"
#include "common/connstr.h"
#include "common/error.h"

static const struct ag_transport *const registry[] = {
#ifdef HUBCAP_WITH_HTTPS
    &ag_transport_https,
#endif
#ifdef HUBCAP_WITH_AMQP
    &ag_transport_amqp,
#endif
#ifdef HUBCAP_WITH_MQTT
    &ag_transport_mqtt,
#endif
    NULL,
};

#define AMQP_PORT 5672 /* AMQP's own port (plain): Azure's emulator, hubcap-receiver's AMQP */

/* Every name a build of hubcap may have, to tell "not built" from "unknown". */
static const char *const known[] = {"https", "amqp", "mqtt"};

const struct ag_transport *ag_transport_find(const char *name)
{
    if (!name)
        return NULL;
    for (size_t i = 0; registry[i]; i++)
        if (strcasecmp(registry[i]->name, name) == 0)
            return registry[i];
    return NULL;
}

const char *ag_transport_names(void)
{
    static char names[64];
    size_t n = 0;
    if (names[0])
        return names;
    for (size_t i = 0; registry[i]; i++)
        n +=
            (size_t)snprintf(names + n, sizeof names - n, "%s%s", i ? ", " : "", registry[i]->name);
    if (!n)
        snprintf(names, sizeof names, "(none)");
    return names;
}

static const char *kv_get(const struct ag_kv *conf, size_t n, const char *key)
{
    const char *v = NULL;
    for (size_t i = 0; i < n; i++)
        if (conf[i].key && strcasecmp(conf[i].key, key) == 0)
            v = conf[i].value;
    return v;
}

/* The name the connection string among conf asks for (transport.h). */
static const char *default_name(const struct ag_kv *conf, size_t n)
{
    const char *s = kv_get(conf, n, "connection_string");
    struct hc_connstr cs;
    const char *name = "https";
    if (!s || hc_connstr_parse(s, kv_get(conf, n, "hub"), &cs, NULL))
        return name; /* the transport's init says what is wrong with it */
    if (cs.sb && (!cs.emulator || !cs.port || cs.port == AMQP_PORT))
        name = "amqp";
    hc_connstr_wipe(&cs);
    return name;
}

int ag_transport_choose(const char *name, const struct ag_kv *conf, size_t n,
                        const struct ag_transport **out, char *err, size_t errlen)
{
    const struct ag_transport *t;
    int given = name && *name;
    *out = NULL;
    if (!given)
        name = default_name(conf, n);
    t = ag_transport_find(name);
    if (!t && !given)
        t = registry[0]; /* the default is not built: the other one */
    if (t) {
        *out = t;
        return 0;
    }
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (strcasecmp(known[i], name) == 0) {
            snprintf(err, errlen,
                     "transport %s is not in this build (HUBCAP_WITH_%s=OFF); it has: %s", name,
                     !strcasecmp(name, "https")  ? "HTTPS"
                     : !strcasecmp(name, "amqp") ? "AMQP"
                                                 : "MQTT",
                     ag_transport_names());
            return HC_E_NOTFOUND;
        }
    snprintf(err, errlen, "unknown transport '%s': use %s", name, ag_transport_names());
    return HC_E_NOTFOUND;
}
