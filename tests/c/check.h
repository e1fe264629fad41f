/* check.h — the C tests' few assertions. A failed check prints where and why and marks the
 * test failed; the test binary exits non-zero if any check failed. */
#ifndef LOCUS_CHECK_H
#define LOCUS_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "locus.h"

static int check_failures = 0;

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "%s:%d: CHECK(%s) failed (last error: %s)\n", __FILE__, __LINE__,     \
                    #cond, locus_last_error());                                                    \
            check_failures++;                                                                     \
        }                                                                                         \
    } while (0)

/* The call failed and its message contains `needle`. */
#define CHECK_ERROR(call, needle)                                                                 \
    do {                                                                                          \
        locus_clear_error();                                                                       \
        int failed_ = (call) != 0;                                                                \
        if (!failed_ || !strstr(locus_last_error(), needle)) {                                     \
            fprintf(stderr, "%s:%d: expected %s to fail with \"%s\", got %s \"%s\"\n", __FILE__,  \
                    __LINE__, #call, needle, failed_ ? "failure" : "success", locus_last_error()); \
            check_failures++;                                                                     \
        }                                                                                         \
    } while (0)

/* Elementwise |a - b| <= atol + rtol |b| over n floats. */
static inline int close_enough(const float *a, const float *b, long n, double rtol, double atol, const char *what) {
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= atol + rtol * fabs(b[i]))) {
            fprintf(stderr, "  %s: element %ld is %.9g, expected %.9g\n", what, i, a[i], b[i]);
            return 0;
        }
    }
    return 1;
}

/* The error model for two f32 computations of one function that add in other orders (another
 * kernel path, thread count or algorithm): a dot product of k terms is off by about u*sqrt(k) of
 * its terms' scale (u = 2^-24, rounding errors adding like a random walk), each of `layers`
 * stacked stages adds its own, and 64 covers what normalizations and softmax amplify; the scale is
 * the tensor's max |b|, since an element near zero is as uncertain as a large one. The Lua specs
 * use the same model (tests/lua/helper.lua, doc/testing.md). */
static inline int f32_close(const float *a, const float *b, long n, double k, double layers, const char *what) {
    double scale = 0;
    for (long i = 0; i < n; i++)
        if (fabs(b[i]) > scale) scale = fabs(b[i]);
    double atol = 64.0 * ldexp(1.0, -24) * sqrt(k) * layers * (scale > 0 ? scale : 1e-30);
    return close_enough(a, b, n, 0, atol, what);
}

#define RUN(test)                                                                                 \
    do {                                                                                          \
        int before_ = check_failures;                                                             \
        test();                                                                                   \
        printf("%s %s\n", check_failures == before_ ? "ok    " : "FAILED", #test);                \
    } while (0)

#endif
