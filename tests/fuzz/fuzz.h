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
#include <sys/mman.h>
#include <unistd.h>

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

/*
 * data[0..size) as an in-memory file (memfd): returns its descriptor, positioned at 0, and writes
 * a path that opens it ("/proc/self/fd/N") to path (cap bytes); -1 on failure. For the parsers
 * that read a file by name. The caller closes it.
 */
static inline int fz_memfile(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    lseek(fd, 0, SEEK_SET);
    if (path)
        snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
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
