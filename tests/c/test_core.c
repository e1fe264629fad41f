/* Tensor core: dtypes, storages, views, copies and errors. */
#include "check.h"

#include <stdlib.h>
#include <unistd.h>

static void test_half_and_bfloat(void) {
    CHECK(lego_f32_to_f16(1.0f) == 0x3c00);
    CHECK(lego_f32_to_f16(-2.0f) == 0xc000);
    CHECK(lego_f32_to_f16(65504.0f) == 0x7bff);
    CHECK(lego_f32_to_f16(65520.0f) == 0x7c00);       /* rounds to infinity */
    CHECK(lego_f32_to_f16(5.960464477539063e-08f) == 0x0001); /* smallest subnormal */
    CHECK(lego_f32_to_f16(1.0f + 1.0f / 2048) == 0x3c00);     /* tie rounds to even */
    CHECK(lego_f32_to_f16(1.0f + 3.0f / 2048) == 0x3c02);
    CHECK((lego_f32_to_f16(NAN) & 0x7c00) == 0x7c00 && (lego_f32_to_f16(NAN) & 0x3ff));
    CHECK(lego_f16_to_f32(0x0001) == 5.960464477539063e-08f);
    CHECK(lego_f16_to_f32(0x7bff) == 65504.0f);
    CHECK(isinf(lego_f16_to_f32(0xfc00)) && lego_f16_to_f32(0xfc00) < 0);
    /* every finite half survives a round trip */
    for (unsigned h = 0; h < 0x10000; h++)
        if ((h & 0x7c00) != 0x7c00 && lego_f32_to_f16(lego_f16_to_f32((uint16_t)h)) != h) {
            CHECK(!"f16 round trip");
            break;
        }
    CHECK(lego_f32_to_bf16(1.0f) == 0x3f80);
    CHECK(lego_f32_to_bf16(1.0f + 1.0f / 256) == 0x3f80); /* tie to even */
    CHECK(lego_f32_to_bf16(1.0f + 3.0f / 256) == 0x3f82);
    CHECK(lego_bf16_to_f32(0x4049) == 3.140625f);
    CHECK(isnan(lego_bf16_to_f32(lego_f32_to_bf16(NAN))));
}

static void test_storage_lifetime(void) {
    int64_t before = lego_live_storages();
    int64_t shape[2] = {4, 5};
    lego_tensor *t = lego_tensor_new(LEGO_F32, 2, shape);
    lego_tensor *v = lego_view_narrow(t, 1, 1, 3);
    CHECK(lego_storage_refcount(t->storage) == 2);
    lego_tensor_free(t); /* the view keeps the storage alive */
    CHECK(lego_live_storages() == before + 1);
    float *p = lego_tensor_data(v);
    p[0] = 1.5f;
    CHECK(lego_storage_refcount(v->storage) == 1);
    lego_tensor_free(v);
    CHECK(lego_live_storages() == before);
}

static int released = 0;
static void on_release(void *ctx) { released += *(int *)ctx; }

static void test_borrowed_and_windows(void) {
    float data[12];
    for (int i = 0; i < 12; i++) data[i] = (float)i;
    int one = 1;
    lego_storage *s = lego_storage_borrow(data, sizeof data, on_release, &one);
    lego_storage *w = lego_storage_window(s, 4 * sizeof(float), 8 * sizeof(float));
    lego_storage_release(s); /* the window holds its parent */
    CHECK(released == 0);
    int64_t shape[2] = {2, 4};
    lego_tensor *t = lego_tensor_from_storage(w, LEGO_F32, 0, 2, shape, NULL);
    lego_storage_release(w);
    int64_t idx[2] = {1, 3};
    CHECK(lego_get(t, idx) == 11.0);
    CHECK(lego_storage_window(t->storage, 4, 100) == NULL);
    CHECK(strstr(lego_last_error(), "outside a storage of 32 bytes") != NULL);
    lego_tensor_free(t);
    CHECK(released == 1);
}

static void test_mapped_file(void) {
    char path[] = "/tmp/lego_map_XXXXXX";
    int fd = mkstemp(path);
    float vals[6] = {1, 2, 3, 4, 5, 6};
    CHECK(write(fd, vals, sizeof vals) == sizeof vals);
    close(fd);
    lego_storage *s = lego_storage_map_file(path);
    CHECK(s && lego_storage_kind_of(s) == LEGO_STORAGE_MAPPED && lego_storage_nbytes(s) == sizeof vals);
    int64_t shape[2] = {3, 2};
    lego_tensor *t = lego_tensor_from_storage(s, LEGO_F32, 0, 2, shape, NULL);
    lego_storage_release(s);
    ((float *)lego_tensor_data(t))[0] = 99; /* private: the file keeps its bytes */
    lego_tensor_free(t);
    FILE *f = fopen(path, "rb");
    float first = 0;
    CHECK(fread(&first, 4, 1, f) == 1 && first == 1.0f);
    fclose(f);
    unlink(path);
    CHECK(lego_storage_map_file("/nonexistent/file") == NULL);
    CHECK(strstr(lego_last_error(), "/nonexistent/file: cannot open") != NULL);
}

static void test_views(void) {
    int64_t shape[3] = {2, 3, 4};
    lego_tensor *t = lego_tensor_empty(LEGO_F32, 3, shape);
    float *p = lego_tensor_data(t);
    for (int i = 0; i < 24; i++) p[i] = (float)i;
    /* permute (2, 0, 1): element [k, i, j] = t[i, j, k] */
    int perm[3] = {2, 0, 1};
    lego_tensor *pt = lego_view_permute(t, perm);
    int64_t idx[3] = {3, 1, 2};
    CHECK(lego_get(pt, idx) == 1 * 12 + 2 * 4 + 3);
    CHECK(!lego_tensor_is_contiguous(pt));
    /* a copy of the permuted view is contiguous with the same values */
    lego_tensor *c = lego_contiguous(pt);
    CHECK(lego_tensor_is_contiguous(c) && lego_get(c, idx) == lego_get(pt, idx));
    /* reshape of a contiguous tensor with -1 */
    int64_t flat[2] = {-1, 6};
    lego_tensor *r = lego_view_reshape(t, 2, flat);
    CHECK(r && r->sizes[0] == 4 && r->storage == t->storage);
    lego_tensor *merged = lego_view_reshape(pt, 2, (int64_t[]){4, 6}); /* dims 1, 2 still merge */
    CHECK(merged && merged->strides[0] == 1 && merged->strides[1] == 4);
    lego_tensor_free(merged);
    CHECK(lego_view_reshape(pt, 1, (int64_t[]){-1}) == NULL);
    CHECK(strstr(lego_last_error(), "not contiguous enough") != NULL);
    /* select then expand */
    lego_tensor *row = lego_view_select(t, 0, -1);
    CHECK(row && row->ndim == 2 && ((float *)lego_tensor_data(row))[0] == 12.0f);
    int64_t big[3] = {5, 3, 4};
    lego_tensor *e = lego_view_expand(row, 3, big);
    int64_t eidx[3] = {4, 2, 3};
    CHECK(e && e->strides[0] == 0 && lego_get(e, eidx) == 23.0);
    int64_t bad[2] = {3, 5};
    CHECK(lego_view_expand(row, 2, bad) == NULL);
    CHECK(strstr(lego_last_error(), "expand: dim 1 has size 4, which cannot become 5") != NULL);
    lego_tensor *tt[] = {pt, c, r, row, e, t};
    for (size_t i = 0; i < sizeof tt / sizeof *tt; i++) lego_tensor_free(tt[i]);
}

static void test_copy_and_cast(void) {
    int64_t shape[2] = {3, 5};
    lego_tensor *t = lego_tensor_empty(LEGO_F32, 2, shape);
    lego_fill_randn(t, 1, 0, 10);
    lego_tensor *tr = lego_view_transpose(t, 0, 1);
    static const int dts[] = {LEGO_F16, LEGO_BF16, LEGO_I32, LEGO_I64, LEGO_I8, LEGO_U8, LEGO_BOOL};
    for (size_t k = 0; k < sizeof dts / sizeof *dts; k++) {
        lego_tensor *c = lego_cast(tr, dts[k]);
        lego_tensor *back = lego_cast(c, LEGO_F32);
        for (int64_t i = 0; i < 5; i++)
            for (int64_t j = 0; j < 3; j++) {
                int64_t ij[2] = {i, j};
                double v = lego_get(tr, ij), got = lego_get(back, ij);
                double want = dts[k] == LEGO_F16 ? lego_f16_to_f32(lego_f32_to_f16((float)v))
                            : dts[k] == LEGO_BF16 ? lego_bf16_to_f32(lego_f32_to_bf16((float)v))
                            : dts[k] == LEGO_BOOL ? (v != 0)
                            : dts[k] == LEGO_U8 ? (v < 0 ? 0 : (double)(int64_t)v)
                            : dts[k] == LEGO_I8 ? (v < -128 ? -128 : v > 127 ? 127 : (double)(int64_t)v)
                                                : (double)(int64_t)v;
                if (got != want) {
                    fprintf(stderr, "  cast to %s: [%lld,%lld] %g -> %g, want %g\n", lego_dtype_name(dts[k]),
                            (long long)i, (long long)j, v, got, want);
                    check_failures++;
                }
            }
        lego_tensor_free(c);
        lego_tensor_free(back);
    }
    int64_t other[2] = {5, 4};
    lego_tensor *wrong = lego_tensor_new(LEGO_F32, 2, other);
    CHECK_ERROR(lego_copy(wrong, tr), "differ in shape");
    lego_tensor_free(wrong);
    lego_tensor_free(tr);
    lego_tensor_free(t);
}

static void test_bad_arguments(void) {
    int64_t neg[1] = {-3}, huge[2] = {INT64_MAX / 2, 4};
    CHECK(lego_tensor_new(LEGO_F32, 1, neg) == NULL && strstr(lego_last_error(), "negative size"));
    CHECK(lego_tensor_new(LEGO_F32, 2, huge) == NULL && strstr(lego_last_error(), "overflow"));
    CHECK(lego_tensor_new(99, 1, neg) == NULL && strstr(lego_last_error(), "unknown dtype 99"));
    CHECK(lego_tensor_new(LEGO_F32, 9, neg) == NULL && strstr(lego_last_error(), "at most 8"));
    lego_storage *s = lego_storage_new(16);
    int64_t shape[1] = {5};
    CHECK(lego_tensor_from_storage(s, LEGO_F32, 0, 1, shape, NULL) == NULL &&
          strstr(lego_last_error(), "exceeds a storage of 4 elements"));
    int64_t stride[1] = {INT64_MAX / 2};
    int64_t two[1] = {3};
    CHECK(lego_tensor_from_storage(s, LEGO_F32, 0, 1, two, stride) == NULL);
    lego_storage_release(s);
    CHECK(lego_set_num_threads(0) != 0);
    CHECK(lego_set_kernel_path("sse9") != 0 && strstr(lego_last_error(), "unknown path 'sse9'"));
}

int main(void) {
    RUN(test_half_and_bfloat);
    RUN(test_storage_lifetime);
    RUN(test_borrowed_and_windows);
    RUN(test_mapped_file);
    RUN(test_views);
    RUN(test_copy_and_cast);
    RUN(test_bad_arguments);
    return check_failures != 0;
}
