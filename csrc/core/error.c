/* error.c — per-thread error messages and aligned allocation. */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

static _Thread_local char last_error[1024];

const char *lego_last_error(void) { return last_error; }

void lego_clear_error(void) { last_error[0] = '\0'; }

const char *lego_version(void) { return "0.1.0"; }

static void set_error(const char *fmt, va_list ap) {
    vsnprintf(last_error, sizeof last_error, fmt, ap);
}

int lego_fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    return -1;
}

void *lego_fail_null(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    set_error(fmt, ap);
    va_end(ap);
    return NULL;
}

void *lego_aligned_alloc(size_t nbytes) {
    size_t rounded = (nbytes + LEGO_ALIGN - 1) / LEGO_ALIGN * LEGO_ALIGN;
    if (rounded < nbytes) return NULL; /* overflow */
    return aligned_alloc(LEGO_ALIGN, rounded ? rounded : LEGO_ALIGN);
}

void lego_aligned_free(void *p) { free(p); }
