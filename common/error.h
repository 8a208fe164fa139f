/*
 * error.h - one error space for all of hubcap.
 *
 * Every call returns 0 on success or a negative code: a negative errno
 * (-ENOENT, -ENOSPC, ...) or a project code below HC_E_BASE. hc_strerror()
 * names both kinds.
 */
#ifndef HC_ERROR_H
#define HC_ERROR_H

#define HC_E_BASE (-30000)

enum hc_err {
    HC_E_FULL = HC_E_BASE - 1,     /* buffer at its capacity cap (policy block) */
    HC_E_CORRUPT = HC_E_BASE - 2,  /* a stored record failed its checksum */
    HC_E_PARSE = HC_E_BASE - 3,    /* input is not what the format says */
    HC_E_TOOBIG = HC_E_BASE - 4,   /* over a size limit (event, batch, field) */
    HC_E_INVAL = HC_E_BASE - 5,    /* a value is out of range or of the wrong type */
    HC_E_UTF8 = HC_E_BASE - 6,     /* text is not valid UTF-8 */
    HC_E_NOTFOUND = HC_E_BASE - 7, /* no such record, key or section */
    HC_E_MAPFULL = HC_E_BASE - 8,  /* LMDB map is full (raise max size) */
    HC_E_DISKFULL = HC_E_BASE - 9, /* the file system is full */
    HC_E_VERSION = HC_E_BASE - 10, /* on-disk format from another version */
    HC_E_LOCKED = HC_E_BASE - 11,  /* another process holds the resource */
    HC_E_AUTH = HC_E_BASE - 12,    /* authentication refused */
    HC_E_RETRY = HC_E_BASE - 13,   /* transient: try again later */
    HC_E_REJECT = HC_E_BASE - 14,  /* permanent refusal of this input */
    HC_E_STOPPED = HC_E_BASE - 15, /* interrupted by a stop request */
    HC_E_DONE = HC_E_BASE - 16,    /* nothing left to do (already done) */
    HC_E_LAST = HC_E_BASE - 17
};

/* Name of an error code. Never NULL; the string is static. */
const char *hc_strerror(int err);

#endif
