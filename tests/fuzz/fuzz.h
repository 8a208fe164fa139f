/*
 * fuzz.h - what the fuzz targets share (header-only): a NUL-terminated copy of the input for the
 * parsers that take C strings, and a check that aborts (libFuzzer then keeps the input as a
 * crash) when a property the parser promises does not hold.
 */
#ifndef HC_FUZZ_H
#define HC_FUZZ_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* data[0..size) as a C string (malloc'd; NULL when out of memory). Bytes after a NUL are kept
 * but a C-string parser sees only what precedes it. */
static inline char *fz_cstr(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (s) {
        memcpy(s, data, size);
        s[size] = '\0';
    }
    return s;
}

/* Abort with the condition's text when cond is false. */
#define FZ_CHECK(cond)                                                                             \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#endif
