/*
 * fuzz_envelope.c - hc_event_decode (common/envelope.h), the reader of the agent's stored event
 * records, on any bytes. A decoded event re-encodes, and that text decodes to the same event.
 */
#include "common/envelope.h"
#include "common/error.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct hc_event_doc doc, again;
    const char *why = NULL;
    int rc = hc_event_decode((const char *)data, size, &doc, &why);
    if (rc) {
        FZ_CHECK(rc == HC_E_PARSE || rc == HC_E_INVAL || rc == HC_E_UTF8 || rc == HC_E_TOOBIG);
        FZ_CHECK(why && *why);
        return 0;
    }
    struct hc_buf out = HC_BUF_INIT;
    size_t len = 0;
    rc = hc_event_encoded_len(&doc.ev, &len);
    if (rc == 0) {
        FZ_CHECK(hc_event_encode(&doc.ev, &out) == 0 && out.len == len);
        FZ_CHECK(hc_event_decode(out.p, out.len, &again, &why) == 0);
        FZ_CHECK(memcmp(again.ev.id, doc.ev.id, 16) == 0 && again.ev.kind == doc.ev.kind);
        FZ_CHECK(again.ev.schema == doc.ev.schema);
        FZ_CHECK(again.ev.event_time_ms == doc.ev.event_time_ms);
        FZ_CHECK(again.ev.device_id_len == doc.ev.device_id_len &&
                 memcmp(again.ev.device_id, doc.ev.device_id, doc.ev.device_id_len) == 0);
        FZ_CHECK(again.ev.data_len == doc.ev.data_len &&
                 memcmp(again.ev.data, doc.ev.data, doc.ev.data_len) == 0);
        hc_event_doc_free(&again);
    }
    hc_buf_free(&out);
    hc_event_doc_free(&doc);
    return 0;
}
