/* files.c — writing files whole: a temporary beside the destination, renamed over it when done. */
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

char *locus_temp_path(const char *path) {
    size_t n = strlen(path) + 24;
    char *tmp = malloc(n);
    if (!tmp) return locus_fail_null("%s: out of memory", path);
    snprintf(tmp, n, "%s.tmp%ld", path, (long)getpid());
    return tmp;
}

int locus_finish_temp(char *tmp, const char *path, int outcome) {
    int rc = 0;
    if (outcome == WRITE_REPORTED) {
        rc = -1;
    } else if (outcome == WRITE_FAILED) {
        rc = locus_fail("%s: writing failed: %s", path, strerror(errno));
    } else if (rename(tmp, path) != 0) {
        rc = locus_fail("%s: cannot put the finished file in place: %s", path, strerror(errno));
    }
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
}
