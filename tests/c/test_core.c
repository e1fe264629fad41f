/* Tensor core: dtypes, storages, views, copies and errors. */
#include "check.h"

#include "core/internal.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

static void test_half_and_bfloat(void) {
    CHECK(locus_f32_to_f16(1.0f) == 0x3c00);
    CHECK(locus_f32_to_f16(-2.0f) == 0xc000);
    CHECK(locus_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(locus_f32_to_f16(65520.0f) == 0x7c00);       /* rounds to infinity */
    CHECK(locus_f32_to_f16(5.960464477539063e-08f) == 0x0001); /* smallest subnormal */
    CHECK(locus_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);     /* tie rounds to even */
    CHECK(locus_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);
    CHECK((locus_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (locus_f32_to_f16(NAN) & 0x3ff));
    CHECK(locus_f16_to_f32(0x0001) == 5.960464477539063e-08f);
    CHECK(locus_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(locus_f16_to_f32(0xfc00)) && locus_f16_to_f32(0xfc00) < 0);
    /* every finite half survives a round trip */
    for (unsigned h = 0; h < 0x10000; h++)
        if ((h & 0x7c00) != 0x7c00 && locus_f32_to_f16(locus_f16_to_f32((uint16_t)h)) != h) {
            CHECK(!"f16 round trip");
            break;
        }
    CHECK(locus_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(locus_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80); /* tie to even */
    CHECK(locus_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
    CHECK(locus_bf16_to_f32(0x4049) == 3.140625f);
    CHECK(isnan(locus_bf16_to_f32(locus_f32_to_bf16(NAN))));
}

static void test_storage_lifetime(void) {
    int64_t before = locus_live_storages();
    int64_t shape[2] = {4, 5};
    locus_tensor *t = locus_tensor_new(LOCUS_F32, 2, shape);
    locus_tensor *v = locus_view_narrow(t, 1, 1, 3);
    CHECK(locus_storage_refcount(t->storage) == 2);
    locus_tensor_free(t); /* the view keeps the storage alive */
    CHECK(locus_live_storages() == before + 1);
    float *p = locus_tensor_data(v);
    p[0] = 1.5f;
    CHECK(locus_storage_refcount(v->storage) == 1);
    locus_tensor_free(v);
    CHECK(locus_live_storages() == before);
}

static int released = 0;
static void on_release(void *ctx) { released += *(int *)ctx; }

static void test_borrowed_and_windows(void) {
    float data[12];
    for (int i = 0; i < 12; i++) data[i] = (float)i;
    int one = 1;
    locus_storage *s = locus_storage_borrow(data, sizeof data, on_release, &one);
    locus_storage *w = locus_storage_window(s, 4 * sizeof(float), 8 * sizeof(float));
    locus_storage_release(s); /* the window holds its parent */
    CHECK(released == 0);
    int64_t shape[2] = {2, 4};
    locus_tensor *t = locus_tensor_from_storage(w, LOCUS_F32, 0, 2, shape, NULL);
    locus_storage_release(w);
    int64_t idx[2] = {1, 3};
    CHECK(locus_get(t, idx) == 11.0);
    CHECK(locus_storage_window(t->storage, 4, 100) == NULL);
    CHECK(strstr(locus_last_error(), "outside a storage of 32 bytes") != NULL);
    locus_tensor_free(t);
    CHECK(released == 1);
}

static void test_mapped_file(void) {
    char path[] = "/tmp/locus_map_XXXXXX";
    int fd = mkstemp(path);
    float vals[6] = {1, 2, 3, 4, 5, 6};
    CHECK(write(fd, vals, sizeof vals) == sizeof vals);
    close(fd);
    locus_storage *s = locus_storage_map_file(path);
    CHECK(s && locus_storage_kind_of(s) == LOCUS_STORAGE_MAPPED && locus_storage_nbytes(s) == sizeof vals);
    int64_t shape[2] = {3, 2};
    locus_tensor *t = locus_tensor_from_storage(s, LOCUS_F32, 0, 2, shape, NULL);
    locus_storage_release(s);
    ((float *)locus_tensor_data(t))[0] = 99; /* private: the file keeps its bytes */
    locus_tensor_free(t);
    FILE *f = fopen(path, "rb");
    float first = 0;
    CHECK(fread(&first, 4, 1, f) == 1 && first == 1.0f);
    fclose(f);
    unlink(path);
    CHECK(locus_storage_map_file("/nonexistent/file") == NULL);
    CHECK(strstr(locus_last_error(), "/nonexistent/file: cannot open") != NULL);
}

/* whether the page holding p is in this process's memory (pagemap's bit 63) */
static int resident(const void *p) {
    uint64_t e = 0;
    int fd = open("/proc/self/pagemap", O_RDONLY);
    long page = sysconf(_SC_PAGESIZE);
    if (fd < 0 || pread(fd, &e, 8, (off_t)((uintptr_t)p / (uintptr_t)page * 8)) != 8) e = 0;
    if (fd >= 0) close(fd);
    return (int)(e >> 63);
}

/* Clean pages of a mapped file go back to the page cache (and read the same again); a page written
 * in place stays, with what was written. */
static void test_dropped_pages(void) {
    char path[] = "/tmp/locus_drop_XXXXXX";
    int fd = mkstemp(path);
    long page = sysconf(_SC_PAGESIZE), words = page / 4 * 16;
    uint32_t *vals = malloc((size_t)words * 4);
    for (long i = 0; i < words; i++) vals[i] = (uint32_t)i * 2654435761u;
    CHECK(write(fd, vals, (size_t)words * 4) == words * 4);
    close(fd);
    locus_storage *s = locus_storage_map_file(path), *w = locus_storage_window(s, 100, (size_t)words * 4 - 100);
    volatile uint32_t *m = locus_storage_data(s);
    uint32_t sum = 0;
    for (long i = 0; i < words; i++) sum += m[i]; /* every page read in */
    m[5 * page / 4] = 7;                          /* page 5 written: a private copy */
    CHECK(sum != 1 && resident((const void *)&m[3 * page / 4]) && resident((const void *)&m[5 * page / 4]));
    locus_storage_drop_clean_pages(w, locus_storage_data(w), locus_storage_nbytes(w));
    CHECK(resident((const void *)&m[0])); /* partly outside the range: kept */
    CHECK(!resident((const void *)&m[3 * page / 4]) && resident((const void *)&m[5 * page / 4]));
    CHECK(m[5 * page / 4] == 7 && m[3 * page / 4] == vals[3 * page / 4] && m[5 * page / 4 + 1] == vals[5 * page / 4 + 1]);
    locus_storage_release(w);
    locus_storage_release(s);
    free(vals);
    unlink(path);
}

static void test_views(void) {
    int64_t shape[3] = {2, 3, 4};
    locus_tensor *t = locus_tensor_empty(LOCUS_F32, 3, shape);
    float *p = locus_tensor_data(t);
    for (int i = 0; i < 24; i++) p[i] = (float)i;
    /* permute (2, 0, 1): element [k, i, j] = t[i, j, k] */
    int perm[3] = {2, 0, 1};
    locus_tensor *pt = locus_view_permute(t, perm);
    int64_t idx[3] = {3, 1, 2};
    CHECK(locus_get(pt, idx) == 1 * 12 + 2 * 4 + 3);
    CHECK(!locus_tensor_is_contiguous(pt));
    /* a copy of the permuted view is contiguous with the same values */
    locus_tensor *c = locus_contiguous(pt);
    CHECK(locus_tensor_is_contiguous(c) && locus_get(c, idx) == locus_get(pt, idx));
    /* reshape of a contiguous tensor with -1 */
    int64_t flat[2] = {-1, 6};
    locus_tensor *r = locus_view_reshape(t, 2, flat);
    CHECK(r && r->sizes[0] == 4 && r->storage == t->storage);
    locus_tensor *merged = locus_view_reshape(pt, 2, (int64_t[]){4, 6}); /* dims 1, 2 still merge */
    CHECK(merged && merged->strides[0] == 1 && merged->strides[1] == 4);
    locus_tensor_free(merged);
    CHECK(locus_view_reshape(pt, 1, (int64_t[]){-1}) == NULL);
    CHECK(strstr(locus_last_error(), "not contiguous enough") != NULL);
    /* select then expand */
    locus_tensor *row = locus_view_select(t, 0, -1);
    CHECK(row && row->ndim == 2 && ((float *)locus_tensor_data(row))[0] == 12.0f);
    int64_t big[3] = {5, 3, 4};
    locus_tensor *e = locus_view_expand(row, 3, big);
    int64_t eidx[3] = {4, 2, 3};
    CHECK(e && e->strides[0] == 0 && locus_get(e, eidx) == 23.0);
    int64_t bad[2] = {3, 5};
    CHECK(locus_view_expand(row, 2, bad) == NULL);
    CHECK(strstr(locus_last_error(), "expand: dim 1 has size 4, which cannot become 5") != NULL);
    locus_tensor *tt[] = {pt, c, r, row, e, t};
    for (size_t i = 0; i < sizeof tt / sizeof *tt; i++) locus_tensor_free(tt[i]);
}

static void test_copy_and_cast(void) {
    int64_t shape[2] = {3, 5};
    locus_tensor *t = locus_tensor_empty(LOCUS_F32, 2, shape);
    locus_fill_randn(t, 1, 0, 10);
    locus_tensor *tr = locus_view_transpose(t, 0, 1);
    static const int dts[] = {LOCUS_F16, LOCUS_BF16, LOCUS_I32, LOCUS_I64, LOCUS_I8, LOCUS_U8, LOCUS_BOOL};
    for (size_t k = 0; k < sizeof dts / sizeof *dts; k++) {
        locus_tensor *c = locus_cast(tr, dts[k]);
        locus_tensor *back = locus_cast(c, LOCUS_F32);
        for (int64_t i = 0; i < 5; i++)
            for (int64_t j = 0; j < 3; j++) {
                int64_t ij[2] = {i, j};
                double v = locus_get(tr, ij), got = locus_get(back, ij);
                double want = dts[k] == LOCUS_F16 ? locus_f16_to_f32(locus_f32_to_f16((float)v))
                            : dts[k] == LOCUS_BF16 ? locus_bf16_to_f32(locus_f32_to_bf16((float)v))
                            : dts[k] == LOCUS_BOOL ? (v != 0)
                            : dts[k] == LOCUS_U8 ? (v < 0 ? 0 : (double)(int64_t)v)
                            : dts[k] == LOCUS_I8 ? (v < -128 ? -128 : v > 127 ? 127 : (double)(int64_t)v)
                                                : (double)(int64_t)v;
                if (got != want) {
                    fprintf(stderr, "  cast to %s: [%lld,%lld] %g -> %g, want %g\n", locus_dtype_name(dts[k]),
                            (long long)i, (long long)j, v, got, want);
                    check_failures++;
                }
            }
        locus_tensor_free(c);
        locus_tensor_free(back);
    }
    int64_t other[2] = {5, 4};
    locus_tensor *wrong = locus_tensor_new(LOCUS_F32, 2, other);
    CHECK_ERROR(locus_copy(wrong, tr), "differ in shape");
    locus_tensor_free(wrong);
    locus_tensor_free(tr);
    locus_tensor_free(t);
}

static void test_bad_arguments(void) {
    int64_t neg[1] = {-3}, huge[2] = {INT64_MAX / 2, 4};
    CHECK(locus_tensor_new(LOCUS_F32, 1, neg) == NULL && strstr(locus_last_error(), "negative size"));
    CHECK(locus_tensor_new(LOCUS_F32, 2, huge) == NULL && strstr(locus_last_error(), "overflow"));
    CHECK(locus_tensor_new(99, 1, neg) == NULL && strstr(locus_last_error(), "unknown dtype 99"));
    CHECK(locus_tensor_new(LOCUS_F32, 9, neg) == NULL && strstr(locus_last_error(), "at most 8"));
    locus_storage *s = locus_storage_new(16);
    int64_t shape[1] = {5};
    CHECK(locus_tensor_from_storage(s, LOCUS_F32, 0, 1, shape, NULL) == NULL &&
          strstr(locus_last_error(), "exceeds a storage of 4 elements"));
    int64_t stride[1] = {INT64_MAX / 2};
    int64_t two[1] = {3};
    CHECK(locus_tensor_from_storage(s, LOCUS_F32, 0, 1, two, stride) == NULL);
    locus_storage_release(s);
    CHECK(locus_set_num_threads(0) != 0);
    CHECK(locus_set_kernel_path("sse9") != 0 && strstr(locus_last_error(), "unknown path 'sse9'"));
}

int main(void) {
    RUN(test_half_and_bfloat);
    RUN(test_storage_lifetime);
    RUN(test_borrowed_and_windows);
    RUN(test_mapped_file);
    RUN(test_dropped_pages);
    RUN(test_views);
    RUN(test_copy_and_cast);
    RUN(test_bad_arguments);
    return check_failures != 0;
}
