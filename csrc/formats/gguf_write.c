/* gguf_write.c — writes GGUF v3 files that llama.cpp loads: typed metadata, tensor infos with
 * ggml's innermost-first dims, and tensor data at aligned offsets. */
#include "gguf.h"
#include "weights.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum { GGML_MAX_NAME = 64 }; /* llama.cpp's limit on tensor names, NUL included */

typedef struct {
    FILE *f;
    bool ok;
} sink;

static void put(sink *s, const void *p, size_t n) {
    if (s->ok && n && fwrite(p, 1, n, s->f) != n) s->ok = false;
}

static void put_le(sink *s, uint64_t v, int n) {
    unsigned char b[8];
    for (int i = 0; i < n; i++) b[i] = (unsigned char)(v >> (8 * i));
    put(s, b, (size_t)n);
}

static void put_string(sink *s, const char *str) {
    size_t n = strlen(str);
    put_le(s, n, 8);
    put(s, str, n);
}

static int type_code(const char *name) {
    for (int i = 0; i < 13; i++)
        if (strcmp(name, locus_gguf_value_types[i]) == 0) return i;
    return -1;
}

/* The type a value gets when types_json names none. */
static int inferred_type(const cJSON *v) {
    if (cJSON_IsString(v)) return 8;
    if (cJSON_IsBool(v)) return 7;
    if (cJSON_IsNumber(v)) return v->valuedouble == floor(v->valuedouble) && fabs(v->valuedouble) < 2147483648.0 ? 5 : 6;
    return cJSON_IsArray(v) ? 9 : -1;
}

static int put_value(sink *s, const cJSON *v, int type, int elem, const char *key) {
    switch (type) {
    case 7:
        if (!cJSON_IsBool(v)) return locus_fail("gguf: metadata '%s' must be a boolean", key);
        put_le(s, cJSON_IsTrue(v), 1);
        return 0;
    case 8:
        if (!cJSON_IsString(v)) return locus_fail("gguf: metadata '%s' must be a string", key);
        put_string(s, v->valuestring);
        return 0;
    case 9: {
        if (!cJSON_IsArray(v)) return locus_fail("gguf: metadata '%s' must be an array", key);
        if (elem < 0) elem = v->child ? inferred_type(v->child) : 5;
        if (elem < 0 || elem == 9) return locus_fail("gguf: metadata '%s' has elements locus cannot type", key);
        put_le(s, (uint64_t)elem, 4);
        put_le(s, (uint64_t)cJSON_GetArraySize(v), 8);
        for (const cJSON *it = v->child; it; it = it->next)
            if (put_value(s, it, elem, -1, key)) return -1;
        return 0;
    }
    default: {
        if (!cJSON_IsNumber(v)) return locus_fail("gguf: metadata '%s' must be a number", key);
        double d = v->valuedouble;
        static const int bytes[] = {1, 1, 2, 2, 4, 4, 4, 0, 0, 0, 8, 8, 8};
        if (type == 6) {
            float f = (float)d;
            uint32_t u;
            memcpy(&u, &f, 4);
            put_le(s, u, 4);
        } else if (type == 12) {
            uint64_t u;
            memcpy(&u, &d, 8);
            put_le(s, u, 8);
        } else {
            /* integers: two's complement of the value, cut to the width */
            uint64_t u = d < 0 ? (uint64_t)(int64_t)d : (uint64_t)d;
            put_le(s, u, bytes[type]);
        }
        return 0;
    }
    }
}

static int put_metadata(sink *s, const cJSON *meta, const cJSON *types) {
    for (const cJSON *kv = meta->child; kv; kv = kv->next) {
        const cJSON *t = types ? cJSON_GetObjectItemCaseSensitive(types, kv->string) : NULL;
        int type = -1, elem = -1;
        if (cJSON_IsString(t)) {
            if (strncmp(t->valuestring, "array:", 6) == 0) {
                type = 9;
                elem = type_code(t->valuestring + 6);
                if (elem < 0) return locus_fail("gguf: unknown element type '%s' for '%s'", t->valuestring, kv->string);
            } else {
                type = type_code(t->valuestring);
                if (type < 0 || type == 9) return locus_fail("gguf: unknown type '%s' for '%s'", t->valuestring, kv->string);
            }
        } else {
            type = inferred_type(kv);
            if (type < 0) return locus_fail("gguf: metadata '%s' is neither a number, string, bool nor array", kv->string);
        }
        put_string(s, kv->string);
        put_le(s, (uint64_t)type, 4);
        if (put_value(s, kv, type, elem, kv->string)) return -1;
    }
    return 0;
}

static const locus_gguf_type *ggml_type_for(int locus_type) {
    for (const locus_gguf_type *t = locus_gguf_types; t->name; t++)
        if (t->locus == locus_type) return t;
    return NULL;
}

/* A tensor the file will hold, as declared before its data comes. */
typedef struct {
    char *name;
    int type, ndim;
    int64_t sizes[4];
} planned_tensor;

struct locus_gguf_writer {
    char *path;
    locus_out out;
    sink s;
    planned_tensor *plan;
    int64_t n, next;
    uint64_t alignment;
    int failed; /* an error was reported: every later call fails, finish removes the file */
};

static int check_plan(int64_t n, const char *const *names, const int32_t *dtypes, const int32_t *ndims, const int64_t *shapes) {
    for (int64_t i = 0; i < n; i++) {
        if (!names[i]) return locus_fail("gguf: tensor %lld has no name", (long long)i);
        if (strlen(names[i]) >= GGML_MAX_NAME)
            return locus_fail("gguf: tensor name '%s' is longer than llama.cpp's %d-byte limit", names[i], GGML_MAX_NAME - 1);
        if (!ggml_type_for(dtypes[i]))
            return locus_fail("gguf: tensor '%s' is %s, which GGUF cannot hold", names[i], locus_dtype_name(dtypes[i]) ? locus_dtype_name(dtypes[i]) : "an unknown dtype");
        if (ndims[i] < 0 || ndims[i] > 4) return locus_fail("gguf: tensor '%s' has %d dims (ggml handles 0 to 4)", names[i], ndims[i]);
        for (int d = 0; d < ndims[i]; d++)
            if (shapes[i * 4 + d] < 0) return locus_fail("gguf: tensor '%s' has a negative size", names[i]);
        if (is_block_dtype(dtypes[i]) && (ndims[i] < 1 || shapes[i * 4 + ndims[i] - 1] % locus_dtype_block(dtypes[i])))
            return locus_fail("gguf: tensor '%s': a %s row must be a multiple of %d", names[i], locus_dtype_name(dtypes[i]),
                              locus_dtype_block(dtypes[i]));
        for (int64_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) return locus_fail("gguf: duplicate tensor name '%s'", names[i]);
    }
    return 0;
}

static int64_t planned_numel(const planned_tensor *p) {
    int64_t n = 1;
    for (int d = 0; d < p->ndim; d++) n *= p->sizes[d];
    return n;
}

static void put_padding(sink *s, uint64_t bytes, uint64_t alignment) {
    static const unsigned char zeros[64] = {0};
    for (uint64_t pad = (alignment - bytes % alignment) % alignment; pad > 0;) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        put(s, zeros, k);
        pad -= k;
    }
}

static void free_writer(locus_gguf_writer *w) {
    for (int64_t i = 0; w->plan && i < w->n; i++) free(w->plan[i].name);
    free(w->plan);
    free(w->path);
    free(w);
}

locus_gguf_writer *locus_gguf_writer_begin(const char *path, const char *metadata_json, const char *types_json, int64_t n,
                                           const char *const *names, const int32_t *dtypes, const int32_t *ndims,
                                           const int64_t *shapes) {
    if (!path || n < 0 || (n > 0 && (!names || !dtypes || !ndims || !shapes))) return locus_fail_null("gguf: bad arguments");
    if (check_plan(n, names, dtypes, ndims, shapes)) return NULL;
    cJSON *meta = cJSON_Parse(metadata_json ? metadata_json : "{}"), *types = types_json ? cJSON_Parse(types_json) : NULL;
    if (!cJSON_IsObject(meta) || (types_json && !cJSON_IsObject(types))) {
        cJSON_Delete(meta);
        cJSON_Delete(types);
        return locus_fail_null("%s: metadata and types must be JSON objects", path);
    }
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(meta, "general.alignment");
    uint64_t alignment = cJSON_IsNumber(al) ? (uint64_t)al->valuedouble : 32;
    if (alignment == 0 || alignment > 65536 || (alignment & (alignment - 1))) {
        cJSON_Delete(meta);
        cJSON_Delete(types);
        return locus_fail_null("%s: general.alignment must be a power of two up to 65536", path);
    }
    if (cJSON_IsNumber(al) && !(types && cJSON_GetObjectItemCaseSensitive(types, "general.alignment"))) {
        if (!types) types = cJSON_CreateObject();
        cJSON_AddStringToObject(types, "general.alignment", "u32"); /* llama.cpp wants it as u32 */
    }
    locus_gguf_writer *w = calloc(1, sizeof *w);
    if (w) {
        w->n = n;
        w->alignment = alignment;
        w->path = strdup(path);
        w->plan = calloc((size_t)(n > 0 ? n : 1), sizeof *w->plan);
    }
    for (int64_t i = 0; w && w->plan && i < n; i++) {
        planned_tensor *p = &w->plan[i];
        p->name = strdup(names[i]);
        p->type = dtypes[i];
        p->ndim = ndims[i];
        for (int d = 0; d < p->ndim; d++) p->sizes[d] = shapes[i * 4 + d];
        if (!p->name) w->failed = 1;
    }
    if (!w || !w->plan || !w->path || w->failed) {
        if (w) free_writer(w);
        cJSON_Delete(meta);
        cJSON_Delete(types);
        return locus_fail_null("%s: out of memory", path);
    }
    if (locus_out_open(&w->out, path)) {
        free_writer(w);
        cJSON_Delete(meta);
        cJSON_Delete(types);
        return NULL;
    }
    w->s = (sink){w->out.f, true};
    sink *s = &w->s;
    put(s, "GGUF", 4);
    put_le(s, 3, 4);
    put_le(s, (uint64_t)n, 8);
    put_le(s, (uint64_t)cJSON_GetArraySize(meta), 8);
    int rc = put_metadata(s, meta, types);
    cJSON_Delete(meta);
    cJSON_Delete(types);
    uint64_t offset = 0;
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        const planned_tensor *p = &w->plan[i];
        put_string(s, p->name);
        put_le(s, (uint64_t)p->ndim, 4);
        for (int d = p->ndim - 1; d >= 0; d--) put_le(s, (uint64_t)p->sizes[d], 8); /* innermost first */
        put_le(s, (uint64_t)ggml_type_for(p->type)->ggml, 4);
        put_le(s, offset, 8);
        offset += ((uint64_t)locus_bytes_for(p->type, planned_numel(p)) + alignment - 1) / alignment * alignment;
    }
    long pos = ftell(s->f);
    if (rc == 0) put_padding(s, (uint64_t)pos, alignment);
    if (rc != 0) {
        locus_gguf_writer_abort(w);
        return NULL;
    }
    return w;
}

int locus_gguf_writer_add(locus_gguf_writer *w, const locus_tensor *t) {
    if (!w || !t) return locus_fail("gguf writer: NULL argument");
    if (w->failed) return locus_fail("%s: an earlier write failed", w->path);
    if (w->next >= w->n) return locus_fail("%s: all %lld planned tensors are written", w->path, (long long)w->n);
    const planned_tensor *p = &w->plan[w->next];
    bool same = t->type == p->type && t->ndim == p->ndim;
    for (int d = 0; same && d < p->ndim; d++) same = t->sizes[d] == p->sizes[d];
    if (!same) {
        w->failed = 1;
        return locus_fail("%s: tensor '%s' was planned as %s with %d dims, and came as %s", w->path, p->name,
                          locus_dtype_name(p->type), p->ndim, locus_tensor_describe(t));
    }
    locus_tensor *c = locus_contiguous(t);
    if (!c) {
        w->failed = 1;
        return -1;
    }
    uint64_t bytes = (uint64_t)locus_bytes_for(c->type, locus_tensor_numel(c));
    put(&w->s, locus_tensor_data(c), (size_t)bytes);
    put_padding(&w->s, bytes, w->alignment);
    locus_tensor_free(c);
    w->next++;
    if (!w->s.ok) {
        w->failed = 1;
        return locus_fail("%s: writing failed: %s", w->path, strerror(errno));
    }
    return 0;
}

int locus_gguf_writer_finish(locus_gguf_writer *w) {
    if (!w) return locus_fail("gguf writer: NULL");
    if (!w->failed && w->next < w->n) {
        locus_fail("%s: %lld of %lld planned tensors were written", w->path, (long long)w->next, (long long)w->n);
        w->failed = 1;
    }
    int rc = locus_out_finish(&w->out, w->failed ? WRITE_REPORTED : w->s.ok ? WRITE_OK : WRITE_FAILED);
    free_writer(w);
    return rc;
}

void locus_gguf_writer_abort(locus_gguf_writer *w) {
    if (!w) return;
    locus_out_finish(&w->out, WRITE_REPORTED);
    free_writer(w);
}

int locus_gguf_save(const char *path, const char *metadata_json, const char *types_json, int64_t n,
                   const char *const *names, const locus_tensor *const *tensors) {
    if (!path || n < 0 || (n > 0 && (!names || !tensors))) return locus_fail("gguf: bad arguments");
    int32_t *dtypes = calloc((size_t)(n > 0 ? n : 1), sizeof *dtypes), *ndims = calloc((size_t)(n > 0 ? n : 1), sizeof *ndims);
    int64_t *shapes = calloc((size_t)(n > 0 ? n : 1) * 4, sizeof *shapes);
    int rc = dtypes && ndims && shapes ? 0 : locus_fail("%s: out of memory", path);
    for (int64_t i = 0; rc == 0 && i < n; i++) {
        if (!tensors[i]) {
            rc = locus_fail("gguf: tensor %lld has no name or no data", (long long)i);
            break;
        }
        dtypes[i] = tensors[i]->type;
        ndims[i] = tensors[i]->ndim;
        if (ndims[i] > 4) {
            rc = locus_fail("gguf: tensor '%s' has %d dims (ggml handles at most 4)", names[i] ? names[i] : "?", ndims[i]);
            break;
        }
        for (int d = 0; d < ndims[i]; d++) shapes[i * 4 + d] = tensors[i]->sizes[d];
    }
    locus_gguf_writer *w = rc == 0 ? locus_gguf_writer_begin(path, metadata_json, types_json, n, names, dtypes, ndims, shapes) : NULL;
    free(dtypes);
    free(ndims);
    free(shapes);
    if (!w) return -1;
    for (int64_t i = 0; i < n; i++)
        if (locus_gguf_writer_add(w, tensors[i])) break;
    return locus_gguf_writer_finish(w);
}
