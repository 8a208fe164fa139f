/*
 * mqtt_conf.h - settings of the MQTT transport, and its pure parts (what goes on the wire for an
 * event, the IoT Hub credentials). mqtt_conf.c turns settings into a struct ag_mqtt_conf without
 * I/O; mqtt_format.c holds the formatting; mqtt.c does the I/O on paho.mqtt.c (MQTTAsync) and
 * fills ag_transport_mqtt (agent/transport/transport.h).
 *
 * Two targets, told apart by connection_string:
 *   Azure IoT Hub   HostName=HUB.azure-devices.net;DeviceId=DEV;SharedAccessKey=KEY
 *                   (or SharedAccessSignature=SharedAccessSignature sr=…, a prebuilt token that
 *                   is never renewed). TLS on 8883 (HostName may carry a :port), MQTT 3.1.1,
 *                   client id DEV, username "{host}/{DEV}/?api-version=2021-04-12", password a
 *                   device SAS token for sr={host}/devices/{DEV} (the key base64-decoded, no
 *                   skn), renewed before it expires by reconnecting.
 *   A broker        mqtt://[user[:password]@]host[:port] (plain, 1883) or mqtts://… (TLS, 8883);
 *                   username/password settings, or cert_file/key_file for a client certificate.
 * Either way every event is one PUBLISH at QoS 1 (IoT Hub's form) to
 *   devices/{device}/messages/events/{properties}
 * where device is DEV (IoT Hub), the device_id setting, or else the event's own device id, and
 * properties the IoT Hub property bag: $.ct=application%2Fjson&$.ce=utf-8&event_id=…&device_id=…
 * &kind=…&schema=… (names and values percent-encoded, RFC 3986 unreserved characters kept). On
 * an MQTT 5 connection the same four go as user properties too, and the content type. The
 * payload is the envelope JSON exactly as buffered.
 *
 * The packed form (events_per_message N > 1, a broker only: hubcap-receiver's MQTT front end
 * reads it, IoT Hub's consumers would see one message): up to N consecutive events of the same
 * topic device, within AG_MQTT_MAX_MESSAGE, in one PUBLISH to
 *   devices/{device}/messages/events/$.ct=application%2Fvnd.microsoft.servicebus.json&$.ce=utf-8
 * whose payload is an Event Hubs REST batch (the content type says so):
 *   [{"Body":"<envelope JSON>","UserProperties":{"event_id":"…","device_id":"…","kind":"…",
 *     "schema":"1"}},…]
 * (the same four properties as the bag's, as strings). One PUBACK stores them all; a run of one
 * event goes in the one-event form. It costs paho, the broker and the receiver one message per
 * N events instead of one per event (tools/bench/mqtt.sh).
 *
 * Settings (ag_mqtt_conf_set, keys case-insensitive):
 *   connection_string  as above; required
 *   username, password a broker's credentials (override the URL's)
 *   client_id          default DEV (IoT Hub), else device_id, else "hubcap-" and a random UUID
 *   device_id          the topic's device for a broker (default: each event's device id)
 *   ca_file            PEM CA bundle for TLS (default: the system's)
 *   cert_file, key_file  a client certificate (PEM) and its key
 *   mqtt_version       3.1.1 or 5; default 3.1.1 for IoT Hub (which has no 5), 5 for a broker
 *   max_inflight       PUBLISHes awaiting their PUBACK at most, 1 to 65535, default 250;
 *                      also the events of one batch at most (paho scans its queues per message)
 *   keepalive          the MQTT keep-alive, default 60s
 *   connect_timeout, timeout, token_ttl, token_renew   as hubconf.h
 *   max_batch_bytes    the messages of one send together, default 1M
 *   events_per_message 1 (default: IoT Hub's form) to 1000: the packed form above (not for
 *                      IoT Hub)
 *   hub, tier          accepted and ignored (the [hub] section's keys of the other transports)
 * Errors: HC_E_NOTFOUND for an unknown key, HC_E_INVAL / HC_E_PARSE for a bad value, with *why
 * a static sentence.
 */
#ifndef AG_MQTT_CONF_H
#define AG_MQTT_CONF_H

#include <stddef.h>
#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/transport/transport.h"
#include "common/buf.h"

#define AG_MQTT_PORT_TLS     8883
#define AG_MQTT_PORT_PLAIN   1883
#define AG_MQTT_MAX_MESSAGE  (256u * 1024) /* IoT Hub's device-to-cloud limit, and ours */
#define AG_MQTT_API_VERSION  "2021-04-12"
#define AG_MQTT_HOST_MAX     256
#define AG_MQTT_NAME_MAX     257
#define AG_MQTT_VERSION_311  4 /* the protocol level byte of CONNECT */
#define AG_MQTT_VERSION_5    5
#define AG_MQTT_TOPIC_PREFIX "devices/"
#define AG_MQTT_TOPIC_EVENTS "/messages/events/"
#define AG_MQTT_PACKED_TYPE  "application/vnd.microsoft.servicebus.json"
#define AG_MQTT_PACKED_BAG   "$.ct=application%2Fvnd.microsoft.servicebus.json&$.ce=utf-8"
#define AG_MQTT_PACK_MAX     1000

struct ag_mqtt_conf {
    char *connection_string;
    char *username, *password, *client_id, *device_id;
    char *ca_file, *cert_file, *key_file;
    int version; /* 0 until finish unless set */
    unsigned max_inflight;
    unsigned events_per_message; /* 1: one event per PUBLISH */
    int64_t keepalive_ms, connect_timeout_ms, timeout_ms, token_ttl_ms, token_renew_ms;
    uint64_t max_batch_bytes;

    /* derived by ag_mqtt_conf_finish */
    int iothub;                  /* the IoT Hub form */
    int tls;                     /* mqtts:// or IoT Hub */
    char host[AG_MQTT_HOST_MAX]; /* lower-cased, IPv6 without brackets */
    int port;
    char uri[AG_MQTT_HOST_MAX + 32]; /* for paho: "ssl://host:port" or "tcp://host:port" */
    char hub_host[AG_MQTT_HOST_MAX]; /* IoT Hub: the HostName (no port), for the username */
    char key[AG_MQTT_NAME_MAX];      /* IoT Hub: SharedAccessKey (base64 text) */
    char *token;                     /* IoT Hub: a prebuilt SharedAccessSignature, else NULL */
};

/* Defaults, no strings. Free with ag_mqtt_conf_free. */
void ag_mqtt_conf_default(struct ag_mqtt_conf *c);

/* Apply one setting (the keys above). */
int ag_mqtt_conf_set(struct ag_mqtt_conf *c, const char *key, const char *value, const char **why);

/*
 * Check the settings together and derive the target: parse the connection string, fill host,
 * port, uri, tls, iothub, the IoT Hub username's parts, and the defaults of version, client_id
 * and device_id. Returns 0, or a code with *why ("an IoT Hub connection string needs DeviceId",
 * "mqtt_version 5: IoT Hub speaks MQTT 3.1.1 only", ...).
 */
int ag_mqtt_conf_finish(struct ag_mqtt_conf *c, const char **why);

/* Release the strings and wipe the secrets; accepts NULL. */
void ag_mqtt_conf_free(struct ag_mqtt_conf *c);

/* ---- what goes on the wire (mqtt_format.c, pure) ------------------------------------------- */

/* Append percent-encoding of s[0..len) (RFC 3986 unreserved kept, %XX upper case). 0/-ENOMEM. */
int ag_mqtt_encode(struct hc_buf *out, const char *s, size_t len);

/* The IoT Hub username "{host}/{device}/?api-version=2021-04-12" appended. 0 or -ENOMEM. */
int ag_mqtt_iothub_username(const char *host, const char *device, struct hc_buf *out);

/*
 * The IoT Hub device SAS token appended:
 *   SharedAccessSignature sr={enc(host/devices/device)}&sig={enc(b64(HMAC-SHA256(b64dec(key),
 *   enc(host/devices/device) "\n" expiry)))}&se={expiry}
 * (the resource lower-cased as IoT Hub's SDKs do). Returns 0, HC_E_INVAL (the key is not
 * base64, or empty), -ENOMEM; out as it was on failure.
 */
int ag_mqtt_iothub_sas(const char *host, const char *device, const char *key, int64_t expiry_s,
                       struct hc_buf *out);

/*
 * The topic of rec appended: devices/{enc(device)}/messages/events/{property bag} (the top of
 * this file); device NULL: the event's own device id. 0 or -ENOMEM.
 */
int ag_mqtt_topic(const struct ag_record *rec, const char *device, struct hc_buf *out);

/* The packed form's topic (device[0..device_len) percent-encoded) appended. 0 or -ENOMEM. */
int ag_mqtt_packed_topic(const char *device, size_t device_len, struct hc_buf *out);
/* One event of the packed form's JSON array appended, after sep ('[' or ','). 0 or -ENOMEM. */
int ag_mqtt_packed_item(const struct ag_record *rec, char sep, struct hc_buf *out);

/*
 * The MQTT 3.1.1 PUBLISH packet of rec at QoS 1 with packet id 0 (what format appends), and
 * its exact length: fixed header, remaining length, topic, packet id, payload.
 */
int ag_mqtt_publish_packet(const struct ag_record *rec, const char *device, struct hc_buf *out);
size_t ag_mqtt_publish_size(const struct ag_record *rec, const char *device);

/*
 * What became of one PUBLISH (an MQTT 5 PUBACK reason code, or a CONNACK return code) as a
 * result: 0x00..0x7f OK; 0x95 packet too large, 0x99 payload format invalid, 0x90 topic name
 * invalid: REJECT/SIZE (the event itself); 0x87 not authorized (a topic the ACL refuses) and
 * 0x86 bad username or password: RETRY/AUTH; 0x97 quota exceeded: RETRY/THROTTLED; anything
 * else RETRY/SERVER.
 */
enum ag_send_result ag_mqtt_reason_result(int code, enum ag_send_why *why);

/* CONNACK return codes of MQTT 3.1.1 (1..5) and 5's reason codes, as a short phrase. Static. */
const char *ag_mqtt_connack_text(int code);

#endif
