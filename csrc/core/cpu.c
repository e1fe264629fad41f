/* cpu.c — threads and the run-time choice of kernels from the CPU's features.
 * One build runs on any x86-64: optimized kernels are compiled with per-function target
 * attributes and chosen here; LOCUS_KERNEL=ref|avx2|avx512 (or locus_set_kernel_path) forces a
 * path, which tests use to compare every optimized path against the plain C one. */
#include "internal.h"

#include <cpuid.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

void openblas_set_num_threads(int n); /* from OpenBLAS; declared here to avoid its cblas.h */

static int detected = -1; /* best path this CPU supports */
static int forced = -1;   /* path requested by the user, or -1 */

/* F16C from CPUID leaf 1 (ECX bit 29): clang's __builtin_cpu_supports does not know the name. */
static int has_f16c(void) {
    unsigned a, b, c, d;
    return __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 29));
}

static int detect(void) {
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vl"))
        return LOCUS_PATH_AVX512;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && has_f16c()) return LOCUS_PATH_AVX2;
    return LOCUS_PATH_REF;
}

static const char *path_names[] = {"ref", "avx2", "avx512"};

static int path_from_name(const char *name) {
    for (int i = 0; i < 3; i++)
        if (strcmp(name, path_names[i]) == 0) return i;
    return -1;
}

static void init_once(void) {
    if (detected >= 0) return;
    detected = detect();
    const char *env = getenv("LOCUS_KERNEL");
    if (env && *env && strcmp(env, "auto") != 0) {
        int p = path_from_name(env);
        if (p >= 0 && p <= detected) forced = p;
    }
}

int locus_active_path(void) {
    init_once();
    return forced >= 0 ? forced : detected;
}

const char *locus_kernel_path(void) { return path_names[locus_active_path()]; }

int locus_set_kernel_path(const char *name) {
    init_once();
    if (!name) return locus_fail("locus_set_kernel_path: name is NULL");
    if (strcmp(name, "auto") == 0) {
        forced = -1;
        return 0;
    }
    int p = path_from_name(name);
    if (p < 0) return locus_fail("locus_set_kernel_path: unknown path '%s' (auto, avx512, avx2, ref)", name);
    if (p > detected)
        return locus_fail("locus_set_kernel_path: this CPU does not support '%s' (best: %s)", name,
                         path_names[detected]);
    forced = p;
    return 0;
}

const char *locus_cpu_features(void) {
    static char buf[128];
    if (buf[0]) return buf;
    __builtin_cpu_init();
    /* __builtin_cpu_supports takes only string literals, hence the spelled-out table */
    const struct { const char *name; int has; } features[] = {
        {"avx512f", __builtin_cpu_supports("avx512f")},
        {"avx512bw", __builtin_cpu_supports("avx512bw")},
        {"avx512vl", __builtin_cpu_supports("avx512vl")},
        {"avx512bf16", __builtin_cpu_supports("avx512bf16")},
        {"avx512vnni", __builtin_cpu_supports("avx512vnni")},
        {"avx2", __builtin_cpu_supports("avx2")},
        {"fma", __builtin_cpu_supports("fma")},
        {"f16c", has_f16c()},
    };
    size_t used = 0;
    for (size_t i = 0; i < sizeof features / sizeof *features; i++)
        if (features[i].has)
            used += (size_t)snprintf(buf + used, sizeof buf - used, "%s%s", used ? " " : "",
                                     features[i].name);
    return buf;
}

bool locus_cpu_has_vnni(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512vnni");
}

bool locus_cpu_has_bf16(void) {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512bf16");
}

/* ---- precision ----------------------------------------------------------------------------- */
static int precision = -1;

int locus_precision(void) {
    if (precision < 0) {
        const char *env = getenv("LOCUS_PRECISION");
        precision = !env ? LOCUS_FAST : strcmp(env, "exact") == 0 ? LOCUS_EXACT : strcmp(env, "bf16") == 0 ? LOCUS_FAST_BF16 : LOCUS_FAST;
    }
    return precision;
}

int locus_set_precision(int p) {
    if (p != LOCUS_EXACT && p != LOCUS_FAST && p != LOCUS_FAST_BF16)
        return locus_fail("locus_set_precision: %d is none of LOCUS_EXACT, LOCUS_FAST, LOCUS_FAST_BF16", p);
    precision = p;
    return 0;
}

static int threads = 0;

int locus_num_threads(void) {
    if (threads == 0) {
        const char *env = getenv("LOCUS_NUM_THREADS");
        int n = env ? atoi(env) : 0;
        locus_set_num_threads(n > 0 ? n : omp_get_num_procs());
    }
    return threads;
}

int locus_set_num_threads(int n) {
    if (n < 1 || n > 4096) return locus_fail("locus_set_num_threads: %d is not in 1..4096", n);
    threads = n;
    omp_set_num_threads(n); /* oneDNN (OpenMP build) follows this too */
    openblas_set_num_threads(n);
    return 0;
}

/* Applies LOCUS_NUM_THREADS when the library is loaded, before any op runs. */
__attribute__((constructor)) static void init_threads(void) { (void)locus_num_threads(); }
