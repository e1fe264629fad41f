/* npy.c — NumPy's .npy format (versions 1.0, 2.0 and 3.0), the exchange format of `locus dump`
 * and of the test fixtures. The header is a Python dict literal; we parse exactly the three keys
 * numpy writes ('descr', 'fortran_order', 'shape') and refuse anything else. */
#include "../core/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static const struct {
    const char *descr;
    int dtype;
} descrs[] = {
    {"<f4", LOCUS_F32}, {"<f2", LOCUS_F16}, {"<i4", LOCUS_I32}, {"<i8", LOCUS_I64}, {"|i1", LOCUS_I8},
    {"|u1", LOCUS_U8},  {"|b1", LOCUS_BOOL}, {"<f8", -2}, /* read as f32 */
};

/* Finds 'key': in the header and returns a pointer just past the colon and spaces. */
static const char *find_key(const char *hdr, const char *key) {
    char pat[32];
    snprintf(pat, sizeof pat, "'%s':", key);
    const char *p = strstr(hdr, pat);
    if (!p) return NULL;
    p += strlen(pat);
    while (*p == ' ') p++;
    return p;
}

typedef struct {
    int dtype; /* -2: f64 on disk */
    int ndim;
    int64_t shape[LOCUS_MAX_DIMS];
    size_t data_offset;
} npy_header;

static int parse_header(const char *path, const unsigned char *buf, size_t filesize, npy_header *h) {
    if (filesize < 10 || memcmp(buf, "\x93NUMPY", 6) != 0) return locus_fail("%s: not a .npy file (bad magic)", path);
    int major = buf[6];
    size_t hlen, start;
    if (major == 1) {
        hlen = (size_t)locus_read_le(buf + 8, 2);
        start = 10;
    } else if (major == 2 || major == 3) {
        if (filesize < 12) return locus_fail("%s: truncated .npy header", path);
        hlen = (size_t)locus_read_le(buf + 8, 4);
        start = 12;
    } else {
        return locus_fail("%s: unsupported .npy format version %d.%d", path, major, buf[7]);
    }
    if (hlen > filesize - start || hlen > (1u << 20))
        return locus_fail("%s: .npy header of %zu bytes runs past the end of the file (%zu bytes)", path, hlen, filesize);
    char *hdr = malloc(hlen + 1);
    if (!hdr) return locus_fail("%s: out of memory", path);
    memcpy(hdr, buf + start, hlen);
    hdr[hlen] = '\0';
    int rc = 0;
    const char *d = find_key(hdr, "descr"), *f = find_key(hdr, "fortran_order"), *s = find_key(hdr, "shape");
    if (!d || !f || !s) {
        rc = locus_fail("%s: .npy header lacks descr, fortran_order or shape: %.200s", path, hdr);
        goto out;
    }
    /* the descr string, normalized: native '=' is little-endian here, and one-byte types may be
     * written with '<' or '|' */
    char ds[16] = "";
    const char *end = *d == '\'' ? strchr(d + 1, '\'') : NULL;
    if (end && end - d - 1 < (long)sizeof ds) memcpy(ds, d + 1, (size_t)(end - d - 1));
    if (ds[0] == '=') ds[0] = '<';
    if (ds[0] == '<' && strlen(ds) == 3 && ds[2] == '1') ds[0] = '|';
    h->dtype = -1;
    for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++)
        if (strcmp(ds, descrs[i].descr) == 0) h->dtype = descrs[i].dtype;
    if (h->dtype == -1) {
        rc = locus_fail("%s: unsupported .npy dtype '%s' (locus reads f32, f16, f64, i8, u8, i32, i64, bool; "
                       "object arrays and big-endian data are refused)", path, ds);
        goto out;
    }
    if (strncmp(f, "False", 5) != 0) {
        rc = locus_fail("%s: Fortran-order .npy arrays are not supported; save with np.ascontiguousarray", path);
        goto out;
    }
    if (*s != '(') {
        rc = locus_fail("%s: malformed shape in .npy header", path);
        goto out;
    }
    s++;
    h->ndim = 0;
    for (;;) {
        while (*s == ' ' || *s == ',') s++;
        if (*s == ')') break;
        char *end;
        errno = 0;
        long long v = strtoll(s, &end, 10);
        if (end == s || errno || v < 0) {
            rc = locus_fail("%s: malformed shape in .npy header", path);
            goto out;
        }
        if (h->ndim == LOCUS_MAX_DIMS) {
            rc = locus_fail("%s: .npy array has more than %d dims", path, LOCUS_MAX_DIMS);
            goto out;
        }
        h->shape[h->ndim++] = v;
        s = end;
    }
    h->data_offset = start + hlen;
out:
    free(hdr);
    return rc;
}

static int64_t data_bytes(const npy_header *h, int *overflow) {
    int64_t n = h->dtype == -2 ? 8 : (int64_t)locus_dtype_size(h->dtype);
    *overflow = 0;
    for (int i = 0; i < h->ndim; i++)
        if (__builtin_mul_overflow(n, h->shape[i], &n)) *overflow = 1;
    return n;
}

locus_tensor *locus_npy_load(const char *path, int use_mmap) {
    if (!path) return locus_fail_null("npy load: path is NULL");
    locus_storage *file = locus_storage_map_file(path);
    if (!file) return NULL;
    size_t size = locus_storage_nbytes(file);
    const unsigned char *buf = locus_storage_data(file);
    npy_header h;
    locus_tensor *t = NULL;
    if (parse_header(path, buf, size, &h) == 0) {
        int overflow;
        int64_t need = data_bytes(&h, &overflow);
        if (overflow || (uint64_t)need > size - h.data_offset) {
            locus_fail("%s: truncated .npy file: the header promises %lld data bytes, the file holds %zu", path,
                      overflow ? -1LL : (long long)need, size - h.data_offset);
        } else if (h.dtype == -2) { /* f64: converted element by element */
            t = locus_tensor_empty(LOCUS_F32, h.ndim, h.shape);
            if (t) {
                float *dst = locus_tensor_data(t);
                for (int64_t i = 0; i < locus_tensor_numel(t); i++) {
                    double v;
                    memcpy(&v, buf + h.data_offset + (size_t)i * 8, 8);
                    dst[i] = (float)v;
                }
            }
        } else if (use_mmap && h.data_offset % locus_dtype_size(h.dtype) == 0) {
            locus_storage *win = locus_storage_window(file, h.data_offset, (size_t)need);
            if (win) {
                t = locus_tensor_from_storage(win, h.dtype, 0, h.ndim, h.shape, NULL);
                locus_storage_release(win);
            }
        } else {
            t = locus_tensor_empty(h.dtype, h.ndim, h.shape);
            if (t && need) memcpy(locus_tensor_data(t), buf + h.data_offset, (size_t)need);
        }
    }
    locus_storage_release(file);
    return t;
}

static const char *descr_of(int dtype) {
    for (size_t i = 0; i < sizeof descrs / sizeof *descrs; i++)
        if (descrs[i].dtype == dtype) return descrs[i].descr;
    return NULL;
}

int locus_npy_save(const char *path, const locus_tensor *t) {
    if (!path) return locus_fail("npy save: path is NULL");
    if (locus_check_tensor(t, "npy save", "tensor")) return -1;
    const char *descr = descr_of(t->type);
    if (!descr) return locus_fail("%s: .npy has no type for %s (cast to f32 first)", path, locus_dtype_name(t->type));
    char hdr[512];
    int n = snprintf(hdr, sizeof hdr, "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
    for (int i = 0; i < t->ndim; i++) n += snprintf(hdr + n, sizeof hdr - (size_t)n, "%lld,%s", (long long)t->sizes[i], i + 1 < t->ndim ? " " : "");
    if (t->ndim > 1) n--; /* numpy writes (3,) for one dim and (2, 3) for more */
    n += snprintf(hdr + n, sizeof hdr - (size_t)n, "), }");
    int total = 10 + n + 1, pad = (64 - total % 64) % 64; /* data aligned to 64 bytes */
    locus_tensor *c = locus_contiguous(t);
    if (!c) return -1;
    locus_out out;
    int rc = locus_out_open(&out, path);
    if (rc == 0) {
        FILE *f = out.f;
        unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)((n + pad + 1) & 0xff),
                                 (unsigned char)((n + pad + 1) >> 8)};
        size_t bytes = (size_t)locus_tensor_numel(c) * locus_dtype_size(c->type);
        bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(hdr, 1, (size_t)n, f) == (size_t)n;
        for (int i = 0; ok && i < pad; i++) ok = fputc(' ', f) != EOF;
        ok = ok && fputc('\n', f) != EOF && (bytes == 0 || fwrite(locus_tensor_data(c), 1, bytes, f) == bytes);
        rc = locus_out_finish(&out, ok ? WRITE_OK : WRITE_FAILED);
    }
    locus_tensor_free(c);
    return rc;
}
