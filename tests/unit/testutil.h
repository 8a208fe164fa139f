/*
 * testutil.h - scratch folders and files the unit tests share, under $HC_TEST_TMP (ctest sets it
 * to the build tree's tmp/) or /tmp.
 *
 * Header-only, everything static inline: each test file is its own executable, so this needs no
 * library, and a test that uses none of it pays nothing. Include it after <cmocka.h>: the file
 * helpers assert.
 */
#ifndef HC_TESTUTIL_H
#define HC_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The folder for scratch files: $HC_TEST_TMP (created if missing), or /tmp when unset or empty. */
static inline const char *tu_tmp_base(void)
{
    const char *base = getenv("HC_TEST_TMP");
    if (!base || !*base)
        return "/tmp";
    mkdir(base, 0755);
    return base;
}

/*
 * Make a new, empty folder under tu_tmp_base(): tmpl is its name ending in XXXXXX
 * ("rx_capture_XXXXXX"). The path is written to out (cap bytes). Returns out, or NULL.
 */
static inline char *tu_mkdtemp(char *out, size_t cap, const char *tmpl)
{
    int n = snprintf(out, cap, "%s/%s", tu_tmp_base(), tmpl);
    if (n < 0 || (size_t)n >= cap)
        return NULL;
    return mkdtemp(out);
}

static inline int tu__rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(p);
}

/* Remove path and all below it (links are removed, not followed). 0, or -1 with errno set. */
static inline int tu_rm_tree(const char *path)
{
    return nftw(path, tu__rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* The scratch files written by tu_write_tmp, until tu_remove_tmp_files. */
struct tu__tmp_files {
    char path[512];
    char *files[64];
    size_t count;
};

static inline struct tu__tmp_files *tu__tmp_files(void)
{
    static struct tu__tmp_files t;
    return &t;
}

/*
 * Write len bytes of content to the file <base>/<prefix>_<pid>_<name>, replacing it. Returns its
 * path: static, overwritten by the next call. The file is kept until tu_remove_tmp_files.
 */
static inline const char *tu_write_tmp(const char *prefix, const char *name, const void *content,
                                       size_t len)
{
    struct tu__tmp_files *t = tu__tmp_files();
    FILE *f;
    size_t i;

    snprintf(t->path, sizeof t->path, "%s/%s_%d_%s", tu_tmp_base(), prefix, (int)getpid(), name);
    f = fopen(t->path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(content, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    for (i = 0; i < t->count; i++)
        if (!strcmp(t->files[i], t->path))
            return t->path;
    assert_true(t->count < sizeof t->files / sizeof t->files[0]);
    t->files[t->count] = strdup(t->path);
    assert_non_null(t->files[t->count]);
    t->count++;
    return t->path;
}

/* Remove the files tu_write_tmp wrote; a cmocka group teardown. Returns 0. */
static inline int tu_remove_tmp_files(void **state)
{
    struct tu__tmp_files *t = tu__tmp_files();
    (void)state;
    for (size_t i = 0; i < t->count; i++) {
        unlink(t->files[i]);
        free(t->files[i]);
    }
    t->count = 0;
    return 0;
}

#endif
