/*
 * watch.h - a watched arrival folder.
 *
 * Files that appear in the folder (closed after writing, or moved in) are loaded with
 * ag_load_file(); once every row of a file is committed (or rejected into its .rejects file)
 * the file and its rejects move to "<dir>/archive/". A file whose header cannot be used moves to
 * "<dir>/failed/" with a .rejects file that says why. Names starting with '.', and names ending
 * in .rejects, .tmp or .part are ignored, so writers can write to such a name and rename.
 * Files already there at start are taken first, in name order; a crash mid-file resumes it.
 */
#ifndef AG_WATCH_H
#define AG_WATCH_H

#include "agent/pipe/load.h"

struct ag_watch_opts {
    struct ag_load_opts load; /* its stop flag also stops the watch */
    int64_t rescan_ms;        /* look at the folder again this often anyway; 0 = 30 s */
    int once;                 /* 1: take the files there now, then return */
    /* Called after each file, rc as ag_load_file returned it (0 or HC_E_DONE: archived). */
    void (*on_file)(const char *path, int rc, const struct ag_load_result *res, void *arg);
    void *arg;
};

/*
 * Watch dir until *opts->load.stop is set (or, with once, until the files present are done).
 * Returns 0 when stopped, or -errno when the folder cannot be watched (missing, unreadable,
 * archive/ not creatable); per-file errors go to on_file and the file stays for a later try.
 */
int ag_watch_run(struct ag_queue *q, const char *dir, const struct ag_watch_opts *opts);

#endif
