/*
 * fuzz_rules.c - silver's validation rules (common/rules.h) on any body: hc_body_check names a
 * rule, and a body that passes yields its COPY row; plus the rule's timestamp parser, whose
 * accepted times format.
 */
#include "common/rules.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hc_body e;
    const char *body = (const char *)data;
    enum hc_rule r = hc_body_check(&e, body, size);
    FZ_CHECK(r >= HC_RULE_NONE && r < HC_RULE_COUNT && r == e.rule);
    FZ_CHECK(r == HC_RULE_NONE || hc_rule_name(r) != NULL);
    if (r == HC_RULE_NONE) {
        struct hc_buf out = HC_BUF_INIT;
        FZ_CHECK(e.kind != HC_KIND_UNKNOWN);
        FZ_CHECK(hc_body_copy_binary(&e, 42, &out) == 0 && out.len > 0);
        hc_buf_reset(&out);
        FZ_CHECK(hc_copy_text(&out, &e.device_id) == 0);
        for (int i = 0; i < HC_BODY_FIELDS; i++)
            FZ_CHECK(hc_copy_text(&out, &e.f[i]) == 0);
        hc_buf_free(&out);
    }
    int64_t us;
    if (hc_ts_parse(body, size, &us) == 0) {
        char txt[HC_TS_STRLEN];
        int n = hc_ts_format(us, txt);
        FZ_CHECK(n > 0 && n < HC_TS_STRLEN && (size_t)n == strlen(txt));
    }
    return 0;
}
