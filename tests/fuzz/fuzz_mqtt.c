/*
 * fuzz_mqtt.c - the receiver's MQTT packet parser and IoT Hub topic decoding
 * (receiver/mqtt/codec.h) on any bytes, as a broker's stream: the first byte chooses the
 * protocol version (bit 0: 5, else 3.1.1) and a packet size limit (bits 1-3); the rest is parsed
 * packet after packet as the subscriber does (a too-large PUBLISH skipped by its length). Every
 * parsed packet stays inside the input; a PUBLISH's topic, properties and payload lie within it;
 * its topic goes through the filter match, the events form, the device id unescape and the
 * property bag decoder (into rx_props), its MQTT 5 properties through the user property walk.
 */
#include "common/error.h"
#include "receiver/mqtt/codec.h"
#include "tests/fuzz/fuzz.h"

static void user(void *ctx, const uint8_t *k, size_t kl, const uint8_t *v, size_t vl)
{
    const uint8_t *end = ctx;
    FZ_CHECK(k + kl <= end && v + vl <= end);
}

static void publish(const struct rx_mq_packet *p, const uint8_t *end, struct rx_props *props)
{
    static char scratch[2 * 65536 + 16];
    const uint8_t *dev, *bag;
    size_t dl, bl, n;
    const char *why = NULL;
    FZ_CHECK(p->topic + p->topic_len <= end && p->payload + p->payload_len <= end);
    FZ_CHECK(!p->props_len || p->props + p->props_len <= end);
    if (p->props_len)
        (void)rx_mq_user_props(p->props, p->props_len, user, (void *)end);
    (void)rx_mq_topic_match("devices/+/messages/events/#", 27, p->topic, p->topic_len);
    if (rx_mq_topic_events(p->topic, p->topic_len, &dev, &dl, &bag, &bl))
        return;
    FZ_CHECK(dev + dl <= p->topic + p->topic_len && bag + bl <= p->topic + p->topic_len);
    if (!rx_mq_unescape(dev, dl, scratch, &n))
        FZ_CHECK(n <= dl);
    rx_props_reset(props);
    int rc = rx_mq_bag_decode(bag, bl, props, scratch, &why);
    FZ_CHECK(!rc || why);
    FZ_CHECK(props->count <= RX_PROPS_MAX);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rx_props props;
    int version;
    size_t max, off = 1;
    if (!size)
        return 0;
    version = data[0] & 1 ? RX_MQ_V5 : RX_MQ_V311;
    max = (size_t)16 << ((data[0] >> 1) & 7);
    rx_props_init(&props);
    while (off < size) {
        struct rx_mq_packet p;
        size_t need = 0;
        int r = rx_mq_parse(data + off, size - off, version, max, &p, &need);
        if (r == HC_E_TOOBIG) {
            FZ_CHECK(p.len > max);
            if (p.len > size - off)
                break;
            off += p.len;
            continue;
        }
        if (r <= 0) {
            FZ_CHECK(r == 0 || r == HC_E_PARSE);
            FZ_CHECK(r != 0 || !need || need > size - off);
            break;
        }
        FZ_CHECK((size_t)r == p.len && p.len <= size - off && p.len >= 2);
        if (p.type == RX_MQ_PUBLISH)
            publish(&p, data + size, &props);
        off += (size_t)r;
    }
    rx_props_free(&props);
    return 0;
}
