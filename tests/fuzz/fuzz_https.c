/*
 * fuzz_https.c - what the agent's REST transport reads from a server (agent/transport/https):
 * the input is the answer's header lines, as curl hands them over one at a time (each up to and
 * including its LF, not NUL-terminated). The kept values stay within their fields, a retry wish
 * is -1 or a delay >= 0, and Retry-After alone (ag_https_retry_after_ms) is checked on the last
 * line as a C string too; the status of the first line maps to a result.
 */
#include "agent/transport/https/https_conf.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ag_https_wish w;
    const char *p = (const char *)data, *end = p + size;
    memset(&w, 0, sizeof w);
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        char *line = malloc(len ? len : 1); /* its own allocation: ASan sees an overread */
        FZ_CHECK(line);
        memcpy(line, p, len);
        ag_https_header_line(&w, line, len);
        free(line);
        FZ_CHECK(memchr(w.retry_after, '\0', sizeof w.retry_after));
        FZ_CHECK(memchr(w.retry_after_ms, '\0', sizeof w.retry_after_ms));
        p += len;
    }
    int64_t ms = ag_https_wish_ms(&w, 1767225600000LL);
    FZ_CHECK(ms >= -1);
    char *s = fz_cstr(data, size);
    if (s) {
        FZ_CHECK(ag_https_retry_after_ms(s, 1767225600000LL) >= -1);
        FZ_CHECK(ag_https_retry_after_ms(s, 0) >= -1);
        free(s);
    }
    enum ag_send_why why;
    if (size >= 12 && memcmp(data, "HTTP/1.1 ", 9) == 0) {
        int status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
        ag_https_status_result(status, &why);
    }
    return 0;
}
