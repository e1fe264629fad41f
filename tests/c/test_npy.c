/* .npy reading and writing in C: round trips, hostile headers and corrupted bytes. */
#include "check.h"

#include <stdlib.h>
#include <unistd.h>

static char dir[] = "/tmp/locus_npy_XXXXXX";

static void write_file(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    CHECK(f && fwrite(data, 1, n, f) == n);
    if (f) fclose(f);
}

/* A v1.0 file with the given header text (padded as numpy pads it) and data bytes. */
static size_t make_npy(unsigned char *buf, const char *header, const void *data, size_t n) {
    size_t hl = strlen(header);
    size_t total = 10 + hl + 1, pad = (64 - total % 64) % 64;
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)((hl + pad + 1) & 0xff);
    buf[9] = (unsigned char)((hl + pad + 1) >> 8);
    memcpy(buf + 10, header, hl);
    memset(buf + 10 + hl, ' ', pad);
    buf[10 + hl + pad] = '\n';
    memcpy(buf + 11 + hl + pad, data, n);
    return 11 + hl + pad + n;
}

static void test_round_trip(void) {
    char path[64];
    snprintf(path, sizeof path, "%s/rt.npy", dir);
    int64_t shape[3] = {2, 3, 5};
    locus_tensor *t = locus_tensor_empty(LOCUS_I64, 3, shape);
    locus_fill_randn(t, 3, 0, 1000);
    CHECK(locus_npy_save(path, t) == 0);
    for (int use_mmap = 0; use_mmap < 2; use_mmap++) {
        locus_tensor *back = locus_npy_load(path, use_mmap);
        CHECK(back && back->type == LOCUS_I64 && back->ndim == 3 && back->sizes[2] == 5);
        CHECK(back && memcmp(locus_tensor_data(back), locus_tensor_data(t), 30 * 8) == 0);
        locus_tensor_free(back);
    }
    locus_tensor_free(t);
}

static void test_hostile_headers(void) {
    static const struct {
        const char *header;
        const char *error;
    } cases[] = {
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775807, 9223372036854775807), }", "truncated"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8, 9), }", "more than 8 dims"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (-2, 3), }", "malformed shape"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (2, x), }", "malformed shape"},
        {"{'descr': '<c8', 'fortran_order': False, 'shape': (2,), }", "unsupported .npy dtype '<c8'"},
        {"{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,), }", "unsupported .npy dtype"},
        {"{'fortran_order': False, 'shape': (2,), }", "lacks descr"},
        {"{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", "Fortran-order"},
        {"{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "truncated .npy file"},
    };
    unsigned char buf[1024];
    float data[2] = {1, 2};
    char path[64];
    snprintf(path, sizeof path, "%s/bad.npy", dir);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        write_file(path, buf, make_npy(buf, cases[i].header, data, sizeof data));
        locus_clear_error();
        locus_tensor *t = locus_npy_load(path, 0);
        if (t || !strstr(locus_last_error(), cases[i].error) || !strstr(locus_last_error(), path)) {
            fprintf(stderr, "  header %zu: expected an error with \"%s\", got \"%s\"\n", i, cases[i].error,
                    locus_last_error());
            check_failures++;
        }
        locus_tensor_free(t);
    }
    /* found by fuzzing: an empty array whose other dims multiply past int64 is still just empty */
    write_file(path, buf, make_npy(buf, "{'descr': '|i1', 'fortran_order': False, 'shape': (2, 0, 9223372036854775807, 9223372036854775807), }", data, 0));
    locus_tensor *empty = locus_npy_load(path, 1);
    CHECK(empty && locus_tensor_numel(empty) == 0 && empty->ndim == 4);
    locus_tensor_free(empty);
    /* a header length that points past the end of the file */
    unsigned char shortfile[12] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, 0xff, 0xff, '{', '}'};
    write_file(path, shortfile, sizeof shortfile);
    CHECK(locus_npy_load(path, 0) == NULL && strstr(locus_last_error(), "runs past the end"));
    write_file(path, "", 0);
    CHECK(locus_npy_load(path, 1) == NULL && strstr(locus_last_error(), "not a .npy file"));
}

/* Flips every byte of a valid file's header to several values: loading must fail cleanly or
 * succeed, never crash (AddressSanitizer builds watch the reads). */
static void test_corrupted_bytes(void) {
    unsigned char good[256], bad[256];
    float data[6] = {1, 2, 3, 4, 5, 6};
    size_t n = make_npy(good, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", data, sizeof data);
    char path[64];
    snprintf(path, sizeof path, "%s/flip.npy", dir);
    static const unsigned char values[] = {0x00, 0xff, '(', ')', '\'', '9', ',', ' '};
    int loaded = 0, refused = 0;
    for (size_t pos = 0; pos < n - sizeof data; pos++)
        for (size_t v = 0; v < sizeof values; v++) {
            memcpy(bad, good, n);
            bad[pos] = values[v];
            write_file(path, bad, n);
            for (int use_mmap = 0; use_mmap < 2; use_mmap++) {
                locus_tensor *t = locus_npy_load(path, use_mmap);
                if (t) {
                    loaded++;
                    CHECK((size_t)locus_tensor_numel(t) * locus_dtype_size(t->type) <= sizeof data);
                } else {
                    refused++;
                }
                locus_tensor_free(t);
            }
        }
    CHECK(loaded > 0 && refused > 0);
    /* every truncation of the file */
    for (size_t len = 0; len < n; len++) {
        write_file(path, good, len);
        locus_tensor *t = locus_npy_load(path, 0);
        CHECK(t == NULL);
        locus_tensor_free(t);
    }
}

int main(void) {
    if (!mkdtemp(dir)) return 1;
    RUN(test_round_trip);
    RUN(test_hostile_headers);
    RUN(test_corrupted_bytes);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0) return 1;
    return check_failures != 0;
}
