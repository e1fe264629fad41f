/* storage.c — reference-counted byte buffers: owned, borrowed, file mappings and windows. */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct locus_storage {
    atomic_int refcount;
    int kind;
    void *data;
    size_t nbytes;
    bool anonymous;             /* owned and mapped from the kernel (locus_storage_new's large ones) */
    void (*release)(void *ctx); /* borrowed */
    void *ctx;
    locus_storage *parent;       /* window */
};

static atomic_llong live_storages, live_bytes;

int64_t locus_live_storages(void) { return atomic_load(&live_storages); }
int64_t locus_live_bytes(void) { return atomic_load(&live_bytes); }

static locus_storage *storage_alloc(int kind, void *data, size_t nbytes) {
    locus_storage *s = calloc(1, sizeof *s);
    if (!s) return locus_fail_null("out of memory allocating a storage header");
    atomic_init(&s->refcount, 1);
    s->kind = kind;
    s->data = data;
    s->nbytes = nbytes;
    atomic_fetch_add(&live_storages, 1);
    return s;
}

locus_storage *locus_storage_uninit(size_t nbytes) {
    void *data = locus_aligned_alloc(nbytes);
    if (!data) return locus_fail_null("out of memory allocating %zu bytes", nbytes);
    locus_storage *s = storage_alloc(LOCUS_STORAGE_OWNED, data, nbytes);
    if (s)
        atomic_fetch_add(&live_bytes, (long long)nbytes);
    else
        locus_aligned_free(data);
    return s;
}

/* Large zeroed buffers (64 MB and up) come straight from the kernel: its pages are zero and resident only
 * when touched, so a KV cache costs nothing at load and only what a conversation fills. */
enum { ANONYMOUS_MAP_BYTES = 64 << 20 };

locus_storage *locus_storage_new(size_t nbytes) {
    if (nbytes < ANONYMOUS_MAP_BYTES) {
        locus_storage *s = locus_storage_uninit(nbytes);
        if (s) memset(s->data, 0, nbytes);
        return s;
    }
    void *data = mmap(NULL, nbytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (data == MAP_FAILED) return locus_fail_null("out of memory allocating %zu bytes", nbytes);
    locus_storage *s = storage_alloc(LOCUS_STORAGE_OWNED, data, nbytes);
    if (!s) {
        munmap(data, nbytes);
        return NULL;
    }
    s->anonymous = true;
    atomic_fetch_add(&live_bytes, (long long)nbytes);
    return s;
}

locus_storage *locus_storage_borrow(void *data, size_t nbytes, void (*release)(void *), void *ctx) {
    if (!data && nbytes) return locus_fail_null("locus_storage_borrow: NULL data for %zu bytes", nbytes);
    locus_storage *s = storage_alloc(LOCUS_STORAGE_BORROWED, data, nbytes);
    if (s) {
        s->release = release;
        s->ctx = ctx;
    }
    return s;
}

locus_storage *locus_storage_map_file(const char *path) {
    if (!path) return locus_fail_null("locus_storage_map_file: path is NULL");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return locus_fail_null("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return locus_fail_null("%s: not a regular file", path);
    }
    size_t n = (size_t)st.st_size;
    void *data = NULL;
    if (n > 0) {
        /* Private and writable: pages are shared with the page cache until written, and a write
         * (an in-place op on a mapped tensor) lands in a private copy, never in the file. */
        data = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
        if (data == MAP_FAILED) {
            int e = errno;
            close(fd);
            return locus_fail_null("%s: mmap of %zu bytes failed: %s", path, n, strerror(e));
        }
    }
    close(fd);
    locus_storage *s = storage_alloc(LOCUS_STORAGE_MAPPED, data, n);
    if (!s && data) munmap(data, n);
    return s;
}

locus_storage *locus_storage_window(locus_storage *parent, size_t off, size_t nbytes) {
    if (!parent) return locus_fail_null("locus_storage_window: parent is NULL");
    if (off > parent->nbytes || nbytes > parent->nbytes - off)
        return locus_fail_null("locus_storage_window: bytes [%zu, %zu) lie outside a storage of %zu bytes",
                              off, off + nbytes, parent->nbytes);
    locus_storage *s = storage_alloc(LOCUS_STORAGE_WINDOW, (char *)parent->data + off, nbytes);
    if (s) {
        s->parent = parent;
        locus_storage_retain(parent);
    }
    return s;
}

void locus_storage_retain(locus_storage *s) {
    if (s) atomic_fetch_add(&s->refcount, 1);
}

void locus_storage_release(locus_storage *s) {
    if (!s || atomic_fetch_sub(&s->refcount, 1) != 1) return;
    switch (s->kind) {
    case LOCUS_STORAGE_OWNED:
        if (s->anonymous)
            munmap(s->data, s->nbytes);
        else
            locus_aligned_free(s->data);
        atomic_fetch_sub(&live_bytes, (long long)s->nbytes);
        break;
    case LOCUS_STORAGE_BORROWED:
        if (s->release) s->release(s->ctx);
        break;
    case LOCUS_STORAGE_MAPPED:
        if (s->data) munmap(s->data, s->nbytes);
        break;
    case LOCUS_STORAGE_WINDOW: locus_storage_release(s->parent); break;
    }
    atomic_fetch_sub(&live_storages, 1);
    free(s);
}

void *locus_storage_data(const locus_storage *s) { return s ? s->data : NULL; }
size_t locus_storage_nbytes(const locus_storage *s) { return s ? s->nbytes : 0; }
int locus_storage_kind_of(const locus_storage *s) { return s ? s->kind : -1; }
int locus_storage_refcount(const locus_storage *s) { return s ? atomic_load(&s->refcount) : 0; }

/* /proc/self/pagemap has one 64-bit entry per page: bit 63 present, bit 61 a file page (or shared
 * anonymous). A private mapping's page that was written is present but anonymous: its contents
 * exist nowhere else, so it is kept. */
void locus_storage_drop_clean_pages(const locus_storage *s, const void *p, size_t n) {
    while (s && s->kind == LOCUS_STORAGE_WINDOW) s = s->parent;
    if (!s || s->kind != LOCUS_STORAGE_MAPPED || n == 0) return;
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t first = ((uintptr_t)p + page - 1) / page, end = ((uintptr_t)p + n) / page; /* whole pages only */
    int fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || first >= end) {
        if (fd >= 0) close(fd);
        return;
    }
    uint64_t entries[512];
    uintptr_t run = first; /* start of the clean pages not yet dropped */
    for (uintptr_t pg = first; pg < end; pg += 512) {
        size_t count = end - pg < 512 ? end - pg : 512;
        ssize_t got = pread(fd, entries, count * 8, (off_t)(pg * 8));
        if (got != (ssize_t)(count * 8)) { /* cannot tell which pages were written: keep the rest */
            end = pg;
            break;
        }
        for (size_t i = 0; i < count; i++) {
            bool written = (entries[i] >> 63 & 1) && !(entries[i] >> 61 & 1);
            if (!written) continue;
            if (run < pg + i) madvise((void *)(run * page), (pg + i - run) * page, MADV_DONTNEED);
            run = pg + i + 1;
        }
    }
    if (run < end) madvise((void *)(run * page), (end - run) * page, MADV_DONTNEED);
    close(fd);
}
