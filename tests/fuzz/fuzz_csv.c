/*
 * fuzz_csv.c - the agent's streaming CSV reader (agent/source/csv.h) on any file. The first byte
 * chooses lines mode (bit 0) and the longest row (16 to 528 bytes, so long rows are cut); the
 * rest is the file. Every row lies within the file, in order, its fields NUL-terminated at their
 * lengths; and seeking back to a row's offset reads that row again (the checkpoint promise).
 */
#include "agent/source/csv.h"
#include "common/error.h"
#include "tests/fuzz/fuzz.h"

#define KEEP 4

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned flags = data[0] & 1 ? AG_CSV_LINES : 0;
    size_t max_row = 16 + (size_t)(data[0] >> 1) * 4;
    size_t len = size - 1;
    int err = 0;
    int fd = fz_memfile(data + 1, len, NULL, 0);
    if (fd < 0)
        return 0;
    struct ag_csv *c = ag_csv_new(fd, flags, max_row, &err);
    if (!c)
        return 0;
    struct ag_csv_row row;
    uint64_t at = 0, line = 1, off[KEEP], ln[KEEP];
    size_t nf[KEEP], nkept = 0;
    int rc;
    while ((rc = ag_csv_next(c, &row)) == 0) {
        FZ_CHECK(row.offset >= at && row.next_offset > row.offset && row.next_offset <= len);
        FZ_CHECK(row.line >= line && row.next_line >= row.line);
        FZ_CHECK(row.nfields >= 1 || row.error);
        if (!row.error) {
            for (size_t i = 0; i < row.nfields; i++) {
                FZ_CHECK(row.field[i][row.len[i]] == '\0');
                FZ_CHECK(row.len[i] <= max_row);
            }
        }
        if (nkept < KEEP && !row.error) {
            off[nkept] = row.offset;
            ln[nkept] = row.line;
            nf[nkept++] = row.nfields;
        }
        at = row.next_offset;
        line = row.next_line;
        FZ_CHECK(ag_csv_offset(c) == at && ag_csv_line(c) == line);
    }
    FZ_CHECK(rc == HC_E_DONE);
    for (size_t k = 0; k < nkept; k++) {
        FZ_CHECK(ag_csv_seek(c, off[k], ln[k]) == 0);
        FZ_CHECK(ag_csv_next(c, &row) == 0);
        FZ_CHECK(row.offset == off[k] && row.line == ln[k] && row.nfields == nf[k] && !row.error);
    }
    ag_csv_close(c);
    return 0;
}
