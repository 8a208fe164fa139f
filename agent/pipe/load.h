/*
 * load.h - files into the buffer, exactly once, resumable after any crash. (Loading: in this
 * project "ingest" is the receiver's word, wire to partition.)
 *
 * ag_load_file() reads one CSV or JSON Lines file with ag_reader and puts its events into the
 * buffer in group-committed batches. Each batch's transaction also stores the file's checkpoint
 * (byte offset, line, counts, size of its rejects file) under meta key "src:<absolute path>", so
 * after a kill -9 the next call resumes just past the last committed row: no row is lost and
 * none is stored twice. Bad rows are appended to the rejects file (default "<path>.rejects",
 * one line each: "<line>\t<reason>") before the batch commits; on resume the
 * rejects file is cut back to the size the checkpoint recorded.
 *
 * A file whose checkpoint says it is done (same device, inode, size and mtime) is not read
 * again: HC_E_DONE, unless opts.force. A pipe (not a regular file) is read once, without a
 * checkpoint: what an interrupted run had not committed is gone with the pipe. A done file that has
 * grown since is read on from where it ended; one rewritten in place (same size or smaller, new
 * mtime) is read again whole.
 */
#ifndef AG_LOAD_H
#define AG_LOAD_H

#include <stdint.h>

#include "agent/buffer/queue.h"
#include "agent/source/reader.h"

struct ag_load_progress {
    const char *path;
    uint64_t line;     /* next line to read */
    uint64_t events;   /* events of this file committed so far (all runs) */
    uint64_t rejected; /* rows of this file rejected so far (all runs) */
    int done;          /* 1 in the last report of a file */
};

struct ag_load_opts {
    struct ag_reader_opts reader;
    size_t batch;         /* rows per commit; 0 = 1000 */
    int force;            /* read again a file already done */
    int64_t full_wait_ms; /* buffer full (policy block): wait this long for room, -1 = forever */
    const char *rejects_path; /* NULL = "<path>.rejects" */
    volatile int *stop;       /* set non-zero (e.g. from a signal) to stop after the batch */
    /* Called after every commit, from the calling thread. May be NULL. */
    void (*on_commit)(const struct ag_load_progress *p, void *arg);
    void *arg;
};

struct ag_load_result {
    uint64_t events;                       /* committed by this call */
    uint64_t rejected;                     /* rejected by this call */
    uint64_t total_events, total_rejected; /* for the whole file, across resumed runs */
    uint64_t next_line;
    int resumed;     /* 1 when this call continued an earlier partial run */
    const char *why; /* on HC_E_PARSE from the reader: why (static or NULL) */
};

void ag_load_opts_default(struct ag_load_opts *o);

/*
 * Ingest path into q. Returns 0 when the file is done, HC_E_DONE if it was already done,
 * HC_E_STOPPED when *opts->stop was set (what is committed stays, the next call resumes),
 * HC_E_FULL when the buffer stayed full longer than full_wait_ms, or the error of the reader
 * (open: -errno, HC_E_PARSE for the header) or of the buffer. res may be NULL. A batch whose
 * commit fails for a full disk (the queue then keeps to a cap for the disk, queue.h) is read
 * again from the checkpoint and retried; HC_E_DISKFULL only after AG_QUEUE_DISKFULL_TRIES failures
 * in a row, or at once for a pipe (it cannot be read again).
 */
int ag_load_file(struct ag_queue *q, const char *path, const struct ag_load_opts *opts,
                 struct ag_load_result *res);

/* Forget the checkpoint of path, e.g. after the file was archived (then pass the absolute path
 * it had: it no longer resolves). HC_E_NOTFOUND is not an error. */
int ag_load_forget(struct ag_queue *q, const char *path);

#endif
