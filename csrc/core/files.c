/* files.c — output files that come into being whole or not at all. The data goes to an unnamed file
 * in the destination's directory (O_TMPFILE), linked under its name when the writing went well, so
 * a writer killed half-way leaves nothing behind; where the file system has no unnamed files, to a
 * temporary beside the destination, renamed over it when done. */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char *beside(const char *path) { /* path.tmpPID */
    size_t n = strlen(path) + 24;
    char *tmp = malloc(n);
    if (tmp) snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    return tmp;
}

static char *directory_of(const char *path) {
    const char *slash = strrchr(path, '/');
    if (!slash) return strdup(".");
    if (slash == path) return strdup("/");
    return strndup(path, (size_t)(slash - path));
}

int locus_out_open(locus_out *o, const char *path) {
    *o = (locus_out){NULL, NULL, NULL, false};
    char *dir = directory_of(path);
    o->path = strdup(path);
    o->tmp = beside(path);
    if (!dir || !o->path || !o->tmp) {
        free(dir);
        free(o->path);
        free(o->tmp);
        return locus_fail("%s: out of memory", path);
    }
    int fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0666);
    free(dir);
    if (fd >= 0) {
        o->f = fdopen(fd, "wb");
        if (!o->f) close(fd);
        o->unnamed = true;
    } else if (errno == EOPNOTSUPP || errno == EISDIR || errno == EINVAL) { /* no O_TMPFILE here */
        o->f = fopen(o->tmp, "wb");
    }
    if (!o->f) {
        int err = errno;
        free(o->path);
        free(o->tmp);
        return locus_fail("%s: cannot write: %s", path, strerror(err));
    }
    return 0;
}

/* links the unnamed file under tmp (through /proc, or AT_EMPTY_PATH where /proc is absent) */
static int link_unnamed(FILE *f, const char *tmp) {
    char proc[64];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fileno(f));
    unlink(tmp); /* a stale one of an earlier process with this pid */
    if (linkat(AT_FDCWD, proc, AT_FDCWD, tmp, AT_SYMLINK_FOLLOW) == 0) return 0;
    return linkat(fileno(f), "", AT_FDCWD, tmp, AT_EMPTY_PATH);
}

int locus_out_finish(locus_out *o, int outcome) {
    int rc = 0;
    if (outcome == WRITE_OK && (fflush(o->f) != 0 || ferror(o->f))) outcome = WRITE_FAILED;
    if (outcome == WRITE_REPORTED) {
        rc = -1;
    } else if (outcome == WRITE_FAILED) {
        rc = locus_fail("%s: writing failed: %s", o->path, strerror(errno));
    } else if (o->unnamed && link_unnamed(o->f, o->tmp) != 0) {
        rc = locus_fail("%s: cannot give the finished file its name: %s", o->path, strerror(errno));
    } else if (rename(o->tmp, o->path) != 0) {
        rc = locus_fail("%s: cannot put the finished file in place: %s", o->path, strerror(errno));
    }
    if (fclose(o->f) != 0 && rc == 0 && !o->unnamed) rc = locus_fail("%s: writing failed: %s", o->path, strerror(errno));
    if (rc != 0 && (!o->unnamed || outcome == WRITE_OK)) unlink(o->tmp);
    free(o->path);
    free(o->tmp);
    o->f = NULL;
    return rc;
}

int locus_write_file(const char *path, const void *data, size_t n) {
    locus_out out;
    if (!path) return locus_fail("write_file: path is NULL");
    if (locus_out_open(&out, path)) return -1;
    return locus_out_finish(&out, fwrite(data, 1, n, out.f) == n ? WRITE_OK : WRITE_FAILED);
}

int locus_file_stamp(const char *path, char *buf, size_t cap) {
    struct stat st;
    if (!path || stat(path, &st) != 0) return locus_fail("%s: %s", path ? path : "(null)", strerror(errno));
    snprintf(buf, cap, "%llu:%llu:%lld:%lld.%09ld", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino,
             (long long)st.st_size, (long long)st.st_mtim.tv_sec, (long)st.st_mtim.tv_nsec);
    return 0;
}
