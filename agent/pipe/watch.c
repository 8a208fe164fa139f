#include "agent/pipe/watch.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/error.h"
#include "common/hctime.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

static int ignored(const char *name)
{
    return name[0] == '.' || ends_with(name, ".rejects") || ends_with(name, ".tmp") ||
           ends_with(name, ".part");
}

/* Move src to folder/name, adding ".1", ".2", … when the name is taken there. */
static int move_into(const char *src, const char *folder, const char *name)
{
    char dst[PATH_MAX];
    for (int i = 0; i < 1000; i++) {
        int n = i ? snprintf(dst, sizeof dst, "%s/%s.%d", folder, name, i)
                  : snprintf(dst, sizeof dst, "%s/%s", folder, name);
        if ((size_t)n >= sizeof dst)
            return -ENAMETOOLONG;
        if (renameat2(AT_FDCWD, src, AT_FDCWD, dst, RENAME_NOREPLACE) == 0)
            return 0;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

/* Move a file and its .rejects into folder. Returns the move of the file itself: 0 or -errno. */
static int move_with_rejects(const char *path, const char *folder, const char *name)
{
    char rej[PATH_MAX + 16], rname[NAME_MAX + 16];
    if ((size_t)snprintf(rej, sizeof rej, "%s.rejects", path) < sizeof rej &&
        (size_t)snprintf(rname, sizeof rname, "%s.rejects", name) < sizeof rname &&
        access(rej, F_OK) == 0)
        move_into(rej, folder, rname);
    return move_into(path, folder, name);
}

static void write_why(const char *path, const char *why)
{
    char rej[PATH_MAX + 16];
    FILE *f;
    if ((size_t)snprintf(rej, sizeof rej, "%s.rejects", path) >= sizeof rej)
        return;
    f = fopen(rej, "w");
    if (!f)
        return;
    fprintf(f, "0\t%s\n", why);
    fclose(f);
}

struct watch {
    struct ag_queue *q;
    const struct ag_watch_opts *o;
    char dir[PATH_MAX];
    char archive[PATH_MAX + 16];
    char failed[PATH_MAX + 16];
};

static int stopped(const struct watch *w)
{
    return w->o->load.stop && *w->o->load.stop;
}

static void take_file(struct watch *w, const char *name)
{
    char path[PATH_MAX + NAME_MAX + 2];
    struct ag_load_result res;
    struct stat st;
    int rc;

    if (ignored(name) || (size_t)snprintf(path, sizeof path, "%s/%s", w->dir, name) >= sizeof path)
        return;
    if (stat(path, &st) || !S_ISREG(st.st_mode))
        return;
    rc = ag_load_file(w->q, path, &w->o->load, &res);
    if (rc == 0 || rc == HC_E_DONE) {
        /* Archive first, then forget: a crash between the two leaves a checkpoint for a path
         * that no longer exists, never a file read twice. A file that cannot be moved keeps
         * its checkpoint (done), so later scans skip its rows and only try the move again. */
        int mv = move_with_rejects(path, w->archive, name);
        if (mv == 0)
            ag_load_forget(w->q, path);
        else
            rc = mv;
    } else if (rc == HC_E_PARSE) {
        mkdir(w->failed, 0755);
        write_why(path, res.why ? res.why : "unusable header");
        move_with_rejects(path, w->failed, name);
        ag_load_forget(w->q, path);
    }
    if (w->o->on_file)
        w->o->on_file(path, rc, &res, w->o->arg);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int scan(struct watch *w)
{
    struct dirent **list;
    int n = scandir(w->dir, &list, NULL, by_name);
    if (n < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        if (!stopped(w))
            take_file(w, list[i]->d_name);
        free(list[i]);
    }
    free(list);
    return 0;
}

/* Read pending inotify events and take the files they name. 1 when the queue overflowed. */
static int drain_events(struct watch *w, int fd)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    int overflow = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n <= 0)
            return overflow;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            if (ev->mask & IN_Q_OVERFLOW)
                overflow = 1;
            else if (ev->len && !(ev->mask & IN_ISDIR) && !stopped(w))
                take_file(w, ev->name);
            p += sizeof *ev + ev->len;
        }
    }
}

int ag_watch_run(struct ag_queue *q, const char *dir, const struct ag_watch_opts *opts)
{
    struct watch w = {.q = q, .o = opts};
    int64_t rescan = opts->rescan_ms > 0 ? opts->rescan_ms : 30000, last;
    int fd, rc;

    if (!realpath(dir, w.dir))
        return -errno;
    if ((size_t)snprintf(w.archive, sizeof w.archive, "%s/archive", w.dir) >= sizeof w.archive ||
        (size_t)snprintf(w.failed, sizeof w.failed, "%s/failed", w.dir) >= sizeof w.failed)
        return -ENAMETOOLONG;
    if (mkdir(w.archive, 0755) && errno != EEXIST)
        return -errno;
    fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd < 0)
        return -errno;
    /* Watch before the first scan, so nothing that arrives in between is missed. */
    if (inotify_add_watch(fd, w.dir, IN_CLOSE_WRITE | IN_MOVED_TO) < 0) {
        rc = -errno;
        goto out_close_fd;
    }
    rc = scan(&w);
    last = hc_mono_ns() / 1000000;
    while (!rc && !opts->once && !stopped(&w)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int n = poll(&p, 1, 250);
        if (n < 0 && errno != EINTR) {
            rc = -errno;
            break;
        }
        if (n > 0 && drain_events(&w, fd))
            last = 0; /* events were lost: look at the whole folder now */
        if (hc_mono_ns() / 1000000 - last >= rescan) {
            rc = scan(&w);
            last = hc_mono_ns() / 1000000;
        }
    }
out_close_fd:
    close(fd);
    return rc;
}
