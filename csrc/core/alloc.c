/* alloc.c — aligned memory for tensors and scratch, with large freed blocks kept for reuse.
 *
 * A forward pass frees and allocates the same activation sizes layer after layer. Memory fresh from
 * the kernel (glibc maps every block past its mmap threshold, and unmaps it on free) costs a page
 * fault and a zeroed page per 4 KB every time: on a 2-vCPU VM, EVA ViT-g over 8 frames spent a fifth
 * of its time in the kernel and ran 2.2x faster once its blocks were reused. So a freed block of
 * 1 MB or more is kept, up to LOCUS_ALLOC_CACHE_MB (default 1024) in all, and given to the next
 * request of between half its size and its size. Under AddressSanitizer nothing is kept, so a use
 * after free is still caught. */
#include "internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

enum { HEADER = LOCUS_ALIGN, LARGE = 1 << 20, KEPT_BLOCKS = 64 };

#if defined(__SANITIZE_ADDRESS__)
#define KEEP_BLOCKS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KEEP_BLOCKS 0
#endif
#endif
#ifndef KEEP_BLOCKS
#define KEEP_BLOCKS 1
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static void *kept[KEPT_BLOCKS]; /* block starts (the header holds the capacity) */
static size_t kept_bytes, kept_limit = SIZE_MAX;

static size_t capacity_of(void *block) { return *(size_t *)block; }

static size_t limit(void) {
    if (kept_limit == SIZE_MAX) {
        const char *env = getenv("LOCUS_ALLOC_CACHE_MB");
        kept_limit = (size_t)(env ? atoll(env) : 1024) << 20;
    }
    return kept_limit;
}

/* the smallest kept block that holds n bytes and is at most twice that, taken out of the cache */
static void *take_kept(size_t n) {
    int best = -1;
    for (int i = 0; i < KEPT_BLOCKS; i++)
        if (kept[i] && capacity_of(kept[i]) >= n && capacity_of(kept[i]) / 2 <= n &&
            (best < 0 || capacity_of(kept[i]) < capacity_of(kept[best])))
            best = i;
    if (best < 0) return NULL;
    void *block = kept[best];
    kept[best] = NULL;
    kept_bytes -= capacity_of(block);
    return block;
}

void *locus_aligned_alloc(size_t nbytes) {
    size_t rounded = (nbytes + LOCUS_ALIGN - 1) / LOCUS_ALIGN * LOCUS_ALIGN;
    if (rounded < nbytes || rounded > SIZE_MAX - HEADER) return NULL; /* overflow */
    if (rounded == 0) rounded = LOCUS_ALIGN;
    void *block = NULL;
    if (KEEP_BLOCKS && rounded >= LARGE) {
        pthread_mutex_lock(&lock);
        block = take_kept(rounded);
        pthread_mutex_unlock(&lock);
    }
    if (!block) {
        block = aligned_alloc(LOCUS_ALIGN, rounded + HEADER);
        if (!block) return NULL;
        *(size_t *)block = rounded;
    }
    return (char *)block + HEADER;
}

void locus_aligned_free(void *p) {
    if (!p) return;
    void *block = (char *)p - HEADER;
    size_t cap = capacity_of(block);
    if (KEEP_BLOCKS && cap >= LARGE) {
        pthread_mutex_lock(&lock);
        bool stored = false;
        if (kept_bytes + cap <= limit())
            for (int i = 0; i < KEPT_BLOCKS && !stored; i++)
                if (!kept[i]) kept[i] = block, kept_bytes += cap, stored = true;
        pthread_mutex_unlock(&lock);
        if (stored) return;
    }
    free(block);
}

int64_t locus_alloc_kept_bytes(void) {
    pthread_mutex_lock(&lock);
    int64_t n = (int64_t)kept_bytes;
    pthread_mutex_unlock(&lock);
    return n;
}

void locus_alloc_release(void) {
    pthread_mutex_lock(&lock);
    for (int i = 0; i < KEPT_BLOCKS; i++)
        if (kept[i]) free(kept[i]), kept[i] = NULL;
    kept_bytes = 0;
    pthread_mutex_unlock(&lock);
}
