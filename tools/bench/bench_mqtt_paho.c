/*
 * bench_mqtt_paho.c - the other design of the receiver's MQTT front end, measured by
 * tools/bench/mqtt.sh: paho.mqtt.c (MQTTAsync) subscribers that may acknowledge a QoS 1 message
 * only after it is on disk. paho sends the PUBACK when messageArrived returns, so the callback
 * appends the payload to a file and fdatasyncs it before returning: one fsync per message.
 * With CONNS > 1 the clients share an MQTT 5 subscription ($share/paho/TOPIC); MQTTAsync runs
 * every client's callbacks on its one receive thread, so they still take turns.
 *
 *   bench-mqtt-paho URI TOPIC FILE COUNT CONNS
 *
 * Waits for COUNT messages (at most 120 s after the first) and prints one JSON line:
 * {"received": N, "seconds": S, "eps": E, "fsyncs": N, "conns": C}.
 */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/hctime.h"

#ifdef HUBCAP_WITH_MQTT
#include <MQTTAsync.h>

static int fd = -1;
static atomic_long received, fsyncs, failed;
static atomic_llong first_ns;

static int arrived(void *ctx, char *topic, int tlen, MQTTAsync_message *m)
{
    long long zero = 0;
    (void)ctx;
    (void)tlen;
    atomic_compare_exchange_strong(&first_ns, &zero, hc_mono_ns());
    if (write(fd, m->payload, (size_t)m->payloadlen) != m->payloadlen || fdatasync(fd))
        atomic_fetch_add(&failed, 1);
    atomic_fetch_add(&fsyncs, 1);
    atomic_fetch_add(&received, 1);
    MQTTAsync_freeMessage(&m);
    MQTTAsync_free(topic);
    return 1; /* paho sends the PUBACK now */
}

static void lost(void *ctx, char *cause)
{
    (void)ctx;
    (void)cause;
}

int main(int argc, char **argv)
{
    MQTTAsync h[16];
    char topic[512], id[64];
    long count, conns;
    if (argc != 6 || (count = atol(argv[4])) < 1 || (conns = atol(argv[5])) < 1 || conns > 16) {
        fprintf(stderr, "usage: bench-mqtt-paho URI TOPIC FILE COUNT CONNS(1-16)\n");
        return 2;
    }
    if ((fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644)) < 0) {
        perror(argv[3]);
        return 1;
    }
    snprintf(topic, sizeof topic, conns > 1 ? "$share/paho/%s" : "%s", argv[2]);
    for (long i = 0; i < conns; i++) {
        MQTTAsync_createOptions co = MQTTAsync_createOptions_initializer5;
        MQTTAsync_connectOptions o = MQTTAsync_connectOptions_initializer5;
        MQTTAsync_responseOptions ro = MQTTAsync_responseOptions_initializer;
        snprintf(id, sizeof id, "bench-paho-%ld", i);
        if (MQTTAsync_createWithOptions(&h[i], argv[1], id, MQTTCLIENT_PERSISTENCE_NONE, NULL,
                                        &co) ||
            MQTTAsync_setCallbacks(h[i], NULL, lost, arrived, NULL))
            return 1;
        o.cleanstart = 1;
        if (MQTTAsync_connect(h[i], &o))
            return 1;
        for (int t = 0; t < 100 && !MQTTAsync_isConnected(h[i]); t++)
            usleep(20000);
        if (MQTTAsync_subscribe(h[i], topic, 1, &ro)) {
            fprintf(stderr, "bench-mqtt-paho: cannot subscribe\n");
            return 1;
        }
    }
    printf("ready\n");
    fflush(stdout);
    for (;;) {
        long long f = atomic_load(&first_ns);
        if (atomic_load(&received) >= count || (f && hc_mono_ns() - f > 120000000000LL))
            break;
        usleep(10000);
    }
    double s = (double)(hc_mono_ns() - atomic_load(&first_ns)) / 1e9;
    printf("{\"received\":%ld,\"seconds\":%.2f,\"eps\":%.0f,\"fsyncs\":%ld,\"failed\":%ld,"
           "\"conns\":%ld}\n",
           atomic_load(&received), s, atomic_load(&received) / (s > 0 ? s : 1),
           atomic_load(&fsyncs), atomic_load(&failed), conns);
    for (long i = 0; i < conns; i++)
        MQTTAsync_destroy(&h[i]);
    close(fd);
    return 0;
}
#else
int main(void)
{
    fprintf(stderr, "bench-mqtt-paho: this build has no paho (HUBCAP_WITH_MQTT=OFF)\n");
    return 2;
}
#endif
