/*
 * fuzz_reader.c - the agent's file reader (agent/source/reader.h: CSV and JSON Lines into
 * events) on any file. The first byte chooses the format (auto, CSV, JSON Lines), the kind of
 * bare rows and a short row limit; the rest is the file. Every event it gives fits in an
 * envelope, and that envelope decodes back to the same event; every rejection says why.
 */
#include "agent/source/reader.h"
#include "common/error.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    char path[64];
    int fd = fz_memfile(data + 1, size - 1, path, sizeof path);
    if (fd < 0)
        return 0;
    struct ag_reader_opts o = {0};
    o.format = (enum ag_format)(data[0] % 3);
    o.kind = (enum hc_kind)((data[0] >> 2) % HC_KIND_COUNT);
    o.device_id = "pi-fuzz";
    o.max_row = data[0] & 0x80 ? 200 : 0;
    int err = 0;
    const char *why = NULL;
    struct ag_reader *r = ag_reader_open(path, &o, 0, 1, &err, &why);
    close(fd);
    if (!r) {
        FZ_CHECK(err != 0);
        return 0;
    }
    struct ag_reader_item it;
    struct hc_buf out = HC_BUF_INIT;
    uint64_t line = 0;
    int rc;
    while ((rc = ag_reader_next(r, &it)) == 0) {
        FZ_CHECK(it.line > line && it.next_line >= it.line);
        line = it.line;
        if (it.rejected) {
            FZ_CHECK(it.reason && *it.reason);
            continue;
        }
        size_t len = 0;
        hc_buf_reset(&out);
        FZ_CHECK(hc_event_encoded_len(&it.ev, &len) == 0);
        FZ_CHECK(hc_event_encode(&it.ev, &out) == 0 && out.len == len);
        struct hc_event_doc doc;
        const char *w = NULL;
        FZ_CHECK(hc_event_decode(out.p, out.len, &doc, &w) == 0);
        FZ_CHECK(doc.ev.kind == it.ev.kind && doc.ev.data_len == it.ev.data_len &&
                 memcmp(doc.ev.data, it.ev.data, it.ev.data_len) == 0);
        hc_event_doc_free(&doc);
    }
    FZ_CHECK(rc == HC_E_DONE);
    hc_buf_free(&out);
    ag_reader_close(r);
    return 0;
}
