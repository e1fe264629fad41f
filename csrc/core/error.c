/* error.c — per-thread error messages and aligned allocation. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

const char *locus_last_error(void) { return last_error; }

void locus_clear_error(void) { last_error[0] = '\0'; }

const char *locus_version(void) { return "0.1.0"; }

static void set_error(const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
}

int locus_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    return -1;
}

void *locus_fail_null(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    return NULL;
}

uint8_t *locus_thread_buffer(int which, size_t bytes) {
    static _Thread_local uint8_t *buf[LOCUS_BUFFERS];
    static _Thread_local size_t cap[LOCUS_BUFFERS];
    if (bytes > cap[which]) {
        uint8_t *grown = realloc(buf[which], bytes);
        if (!grown) return NULL;
        buf[which] = grown;
        cap[which] = bytes;
    }
    return buf[which];
}
