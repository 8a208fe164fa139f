/*
 * fuzz_json.c - common/json.h on any bytes: hc_json_ok decides, and a text it accepts must read
 * back: hc_json_parse agrees, every member of every object is reached with spans inside the text,
 * and every string unescapes within its own length.
 */
#include "common/json.h"
#include "tests/fuzz/fuzz.h"

static const char *base;
static size_t base_len;

static void inside(const struct hc_json_val *v)
{
    FZ_CHECK(v->p >= base && v->p + v->len <= base + base_len && v->len > 0);
}

static void walk(const struct hc_json_val *v, int depth)
{
    inside(v);
    FZ_CHECK(depth <= HC_JSON_DEPTH_MAX);
    if (v->type == HC_JSON_STRING) {
        char *out = malloc(v->len);
        FZ_CHECK(out);
        size_t n = hc_json_unescape(v, out);
        FZ_CHECK(n <= v->len);
        FZ_CHECK(memchr(out, '\0', n) == NULL); /* \u0000 is refused by the check */
        free(out);
    } else if (v->type == HC_JSON_OBJECT) {
        struct hc_json_obj it;
        struct hc_json_val k, val;
        hc_json_obj_begin(&it, v);
        while (hc_json_obj_next(&it, &k, &val)) {
            FZ_CHECK(k.type == HC_JSON_STRING);
            FZ_CHECK(k.p > v->p && val.p + val.len < v->p + v->len);
            walk(&k, depth + 1);
            walk(&val, depth + 1);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    struct hc_json_val v;
    int ok = hc_json_ok(s, size);
    int parsed = hc_json_parse(s, size, &v);
    FZ_CHECK(ok == parsed);
    if (!parsed) {
        FZ_CHECK(v.type == HC_JSON_ABSENT);
        return 0;
    }
    base = s;
    base_len = size;
    walk(&v, 0);
    return 0;
}
