/*
 * mqtt.h - the MQTT front end: the receiver subscribes to a broker (Mosquitto, or any MQTT
 * 3.1.1/5 broker) and captures what devices publish there, as IoT Hub's built-in endpoint does.
 *
 * Its own subscriber (codec.h), not paho: paho sends a QoS 1 PUBACK as soon as messageArrived
 * returns (MQTTProtocol_handlePublishes), on one receive thread shared by every client of the
 * process, so "acknowledged after the fsync" would mean one message per fsync. Here each
 * connection reads as many PUBLISHes as the broker sends (MQTT 5 Receive Maximum, 65535),
 * hands each read's worth to the core as one send, keeps reading, and sends each PUBACK once its
 * send's capture fsync is done: many messages per group commit. PUBACKs go in the order the
 * PUBLISHes came (MQTT-4.6.0-2); a PUBLISH whose send failed to write is never acknowledged,
 * the connection is dropped instead, so the broker sends it again.
 *
 * The session is persistent (clean session off; MQTT 5: Session Expiry never): while the
 * receiver is down or reconnecting, the broker keeps its QoS 1 messages (Mosquitto:
 * max_queued_messages 0, or enough, or it drops the excess). Broker down or restarted: reconnect
 * with back-off (100 ms doubling to 5 s), resume the session, subscribe again.
 *
 * An event: body = the payload; partition key = the device id of the topic
 * (devices/{id}/messages/events/{bag}); properties = the bag's (strings, system "$." names
 * dropped), "iothub-connection-device-id" = the device id, and an MQTT 5 PUBLISH's User
 * Properties whose names the bag does not have. The packed form (the agent's events_per_message):
 * a bag with $.ct=application%2Fvnd.microsoft.servicebus.json says the payload is an Event Hubs
 * REST batch (rest/batch.h): each of its events, with its UserProperties, the device id as key
 * and iothub-connection-device-id, all in the PUBLISH's send, acknowledged by its one PUBACK
 * (messages_total{outcome="acknowledged"} counts PUBLISHes, "captured" events). Refused, counted in
 * /metrics (hubcap_receiver_mqtt_rejected_total{reason}), acknowledged so the broker does not send
 * it again, and kept out of capture: a payload over max_publication ("too_large"), a topic outside
 * the filter or not of that form ("topic"), a bag that does not decode ("properties"), a packed
 * payload that is not a batch or whose events' properties do not take the device's ("batch":
 * none of its events is kept).
 *
 * TLS (mqtts://, OpenSSL): TLS 1.2 or later, the broker's certificate checked against ca_file
 * (default: the system's CAs) and the URL's host (a DNS name, or an IP address in its
 * subjectAltName); a client certificate (cert_file + key_file) when the broker asks for one.
 * The files are read at start (a bad one stops serve with the file's name and OpenSSL's
 * reason). A failed handshake, or the broker's alert just after it (TLS 1.3 reports a refused
 * client certificate then), is logged with OpenSSL's reason and the certificate check's and
 * counted (hubcap_receiver_mqtt_connect_errors_total{reason="tls"}); the connection backs off
 * and tries again, as after any connect error ("network": TCP; "refused": CONNACK or SUBACK).
 *
 * Settings ([mqtt] in the config file, or `serve --mqtt URL`):
 *   url            mqtt://host[:port] (1883) or mqtts://host[:port] (8883); required: without
 *                  it the front end is off
 *   ca_file        PEM CA bundle that signed the broker's certificate (mqtts; default the
 *                  system's)
 *   cert_file, key_file  PEM client certificate (with its chain) and its key (mqtts; together)
 *   username, password (or password_env = NAME of an environment variable)
 *   client_id      default "hubcap-receiver-{namespace}" (connection i > 0: "…-{i}")
 *   topic          the filter, default devices/+/messages/events/#
 *   hub            the event hub fed, default the first
 *   connections    subscriber connections, 1 to 16, default 1; more than one subscribes to
 *                  $share/hubcap/{topic} (MQTT 5 shared subscription)
 *   version        5 (default) or 3.1.1
 *   keepalive      default 30s
 */
#ifndef RX_MQTT_H
#define RX_MQTT_H

#include <stddef.h>
#include <stdint.h>

#include "receiver/conf.h"
#include "receiver/core/frontend.h"

#define RX_MQTT_MAX_CONNS 16

struct rx_mqtt_conf {
    char host[256];
    int port;
    int tls; /* mqtts:// */
    char ca_file[RX_PATH_MAX], cert_file[RX_PATH_MAX], key_file[RX_PATH_MAX];
    char username[256], password[512], client_id[256];
    char topic[512];
    int hub; /* index */
    int connections;
    int version;
    int64_t keepalive_ms;
};

/*
 * The [mqtt] settings of c into *m. Returns 1 when there is no url (the front end is off), 0,
 * or HC_E_INVAL / HC_E_PARSE with why (cap bytes) naming the key and the problem.
 */
int rx_mqtt_conf(const struct rx_conf *c, struct rx_mqtt_conf *m, char *why, size_t cap);

extern const struct rx_frontend rx_frontend_mqtt;

#endif
