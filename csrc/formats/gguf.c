/* gguf.c — reads GGUF v2/v3 (llama.cpp's format): key/value metadata of every type (arrays
 * included), tensor infos, alignment, and tensor data. GGUF lists dims innermost first (ggml's
 * ne[0]); locus's shapes are outermost first, so they are reversed here. Every count, length and
 * offset is checked against the file before it is used. */
#include "weights.h"
#include "gguf.h"

#include <stdio.h>
#include <stdlib.h>

const locus_gguf_type locus_gguf_types[] = {
    {0, "F32", 1, 4, LOCUS_F32},      {1, "F16", 1, 2, LOCUS_F16},      {2, "Q4_0", 32, 18, LOCUS_Q4_0},
    {3, "Q4_1", 32, 20, -1},         {6, "Q5_0", 32, 22, -1},         {7, "Q5_1", 32, 24, -1},
    {8, "Q8_0", 32, 34, LOCUS_Q8_0},         {9, "Q8_1", 32, 36, -1},         {10, "Q2_K", 256, 84, -1},
    {11, "Q3_K", 256, 110, -1},      {12, "Q4_K", 256, 144, LOCUS_Q4_K}, {13, "Q5_K", 256, 176, LOCUS_Q5_K},
    {14, "Q6_K", 256, 210, LOCUS_Q6_K},      {15, "Q8_K", 256, 292, -1},      {24, "I8", 1, 1, LOCUS_I8},
    {25, "I16", 1, 2, -1},           {26, "I32", 1, 4, LOCUS_I32},     {27, "I64", 1, 8, LOCUS_I64},
    {28, "F64", 1, 8, -1},           {30, "BF16", 1, 2, LOCUS_BF16},
    {-1, NULL, 0, 0, 0},
};

const locus_gguf_type *locus_gguf_type_of(int ggml_type) {
    for (const locus_gguf_type *t = locus_gguf_types; t->name; t++)
        if (t->ggml == ggml_type) return t;
    return NULL;
}

typedef struct {
    const unsigned char *buf;
    uint64_t size, pos;
    const char *path;
} cursor;

static int need(cursor *c, uint64_t n, const char *what) {
    if (n > c->size - c->pos)
        return locus_fail("%s: truncated GGUF file: %s at byte %llu runs past the end (%llu bytes)", c->path, what,
                         (unsigned long long)c->pos, (unsigned long long)c->size);
    return 0;
}

static uint64_t u64le(cursor *c, int n) {
    uint64_t v = locus_read_le(c->buf + c->pos, n);
    c->pos += n;
    return v;
}

/* A GGUF string (u64 length + bytes) as a pointer into the file. */
static int read_string(cursor *c, const char **s, uint64_t *len, const char *what) {
    if (need(c, 8, what)) return -1;
    *len = u64le(c, 8);
    if (need(c, *len, what)) return -1;
    *s = (const char *)c->buf + c->pos;
    c->pos += *len;
    return 0;
}

enum { T_U8, T_I8, T_U16, T_I16, T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY, T_U64, T_I64, T_F64 };
const char *const locus_gguf_value_types[13] = {"u8",  "i8",     "u16",   "i16", "u32", "i32", "f32",
                                               "bool", "string", "array", "u64", "i64", "f64"};
static const int scalar_bytes[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};

static cJSON *read_value(cursor *c, uint32_t type, int depth);

static cJSON *read_scalar(cursor *c, uint32_t type) {
    if (need(c, (uint64_t)scalar_bytes[type], "a metadata value")) return NULL;
    uint64_t raw = u64le(c, scalar_bytes[type]);
    double v;
    switch (type) {
    case T_I8: v = (int8_t)raw; break;
    case T_I16: v = (int16_t)raw; break;
    case T_I32: v = (int32_t)raw; break;
    case T_I64: v = (double)(int64_t)raw; break;
    case T_F32: {
        uint32_t bits = (uint32_t)raw;
        float f;
        memcpy(&f, &bits, 4);
        v = f;
        break;
    }
    case T_F64: memcpy(&v, &raw, 8); break;
    case T_BOOL: return cJSON_CreateBool(raw != 0);
    default: v = (double)raw; break; /* unsigned */
    }
    return cJSON_CreateNumber(v);
}

static cJSON *read_value(cursor *c, uint32_t type, int depth) {
    if (type < T_STRING || (type > T_ARRAY && type <= T_F64)) return read_scalar(c, type);
    if (type == T_STRING) {
        const char *s;
        uint64_t len;
        if (read_string(c, &s, &len, "a metadata string")) return NULL;
        char *z = malloc(len + 1);
        if (!z) return locus_fail_null("%s: out of memory", c->path);
        memcpy(z, s, len);
        z[len] = '\0';
        cJSON *j = cJSON_CreateString(z);
        free(z);
        return j;
    }
    if (type != T_ARRAY) return locus_fail_null("%s: unknown metadata value type %u at byte %llu", c->path, type,
                                               (unsigned long long)c->pos);
    if (depth > 8) return locus_fail_null("%s: metadata arrays nested too deep", c->path);
    if (need(c, 12, "an array header")) return NULL;
    uint32_t elem = (uint32_t)u64le(c, 4);
    uint64_t n = u64le(c, 8);
    /* every element takes at least one byte (strings eight): a count beyond that is a lie */
    if (n > c->size - c->pos) return locus_fail_null("%s: metadata array of %llu elements is longer than the file",
                                                    c->path, (unsigned long long)n);
    cJSON *arr = cJSON_CreateArray();
    for (uint64_t i = 0; arr && i < n; i++) {
        cJSON *item = read_value(c, elem, depth + 1);
        if (!item) {
            cJSON_Delete(arr);
            return NULL;
        }
        cJSON_AddItemToArray(arr, item);
    }
    return arr;
}

int locus_read_gguf(locus_weights *w, const char *path) {
    int file = locus_weights_add_file(w, path);
    if (file < 0) return -1;
    cursor c = {locus_storage_data(w->files[file].map), locus_storage_nbytes(w->files[file].map), 0, path};
    if (need(&c, 24, "the header")) return -1;
    c.pos = 4;
    uint32_t version = (uint32_t)u64le(&c, 4);
    if (version < 2 || version > 3)
        return locus_fail("%s: GGUF version %u (locus reads versions 2 and 3)", path, version);
    uint64_t n_tensors = u64le(&c, 8), n_kv = u64le(&c, 8);
    if (n_tensors > c.size / 24 || n_kv > c.size / 12)
        return locus_fail("%s: header claims %llu tensors and %llu metadata keys, more than the file can hold", path,
                         (unsigned long long)n_tensors, (unsigned long long)n_kv);
    uint64_t alignment = 32;
    for (uint64_t i = 0; i < n_kv; i++) {
        const char *key;
        uint64_t klen;
        if (read_string(&c, &key, &klen, "a metadata key") || need(&c, 4, "a metadata type")) return -1;
        uint32_t type = (uint32_t)u64le(&c, 4);
        uint64_t value_start = c.pos;
        cJSON *value = read_value(&c, type, 0);
        if (!value) return -1;
        char *k = malloc(klen + 1);
        if (!k) {
            cJSON_Delete(value);
            return locus_fail("%s: out of memory", path);
        }
        memcpy(k, key, klen);
        k[klen] = '\0';
        if (strcmp(k, "general.alignment") == 0) {
            double a = cJSON_IsNumber(value) ? value->valuedouble : 0;
            if (!(a >= 1 && a <= 65536) || a != (double)(uint64_t)a || ((uint64_t)a & ((uint64_t)a - 1))) {
                free(k);
                cJSON_Delete(value);
                return locus_fail("%s: general.alignment must be a power of two up to 65536", path);
            }
            alignment = (uint64_t)value->valuedouble;
        }
        char tname[32] = "array:";
        uint32_t elem_type = 0;
        if (type == T_ARRAY) { /* the element type sits just after the array's start */
            memcpy(&elem_type, c.buf + value_start, 4);
            snprintf(tname + 6, sizeof tname - 6, "%s", elem_type < 13 ? locus_gguf_value_types[elem_type] : "?");
        } else {
            snprintf(tname, sizeof tname, "%s", locus_gguf_value_types[type]);
        }
        cJSON_DeleteItemFromObjectCaseSensitive(w->metadata, k); /* the last one wins */
        cJSON_AddItemToObject(w->metadata, k, value);
        cJSON_DeleteItemFromObjectCaseSensitive(w->types, k);
        cJSON_AddStringToObject(w->types, k, tname);
        free(k);
    }
    typedef struct {
        const char *name;
        uint64_t name_len, offset, nbytes;
        int ndim;
        int64_t sizes[LOCUS_MAX_DIMS];
        const locus_gguf_type *type;
    } info;
    info *infos = calloc(n_tensors ? n_tensors : 1, sizeof *infos);
    if (!infos) return locus_fail("%s: out of memory", path);
    int rc = 0;
    for (uint64_t i = 0; i < n_tensors && rc == 0; i++) {
        info *t = &infos[i];
        if (read_string(&c, &t->name, &t->name_len, "a tensor name") || need(&c, 4, "a tensor's dims")) {
            rc = -1;
            break;
        }
        uint32_t ndim = (uint32_t)u64le(&c, 4);
        if (ndim > LOCUS_MAX_DIMS || need(&c, 8ull * ndim + 12, "a tensor info")) {
            rc = ndim > LOCUS_MAX_DIMS ? locus_fail("%s: tensor %.*s has %u dims", path, (int)t->name_len, t->name, ndim) : -1;
            break;
        }
        t->ndim = (int)ndim;
        uint64_t numel = 1;
        for (uint32_t d = 0; d < ndim; d++) {
            uint64_t ne = u64le(&c, 8);
            if (ne > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, ne, &numel)) {
                rc = locus_fail("%s: tensor %.*s has a shape whose size overflows", path, (int)t->name_len, t->name);
                break;
            }
            t->sizes[ndim - 1 - d] = (int64_t)ne; /* reversed: GGUF lists the innermost dim first */
        }
        if (rc) break;
        uint32_t ggml = (uint32_t)u64le(&c, 4);
        t->offset = u64le(&c, 8);
        t->type = locus_gguf_type_of((int)ggml);
        if (!t->type) {
            rc = locus_fail("%s: tensor %.*s has unknown ggml type %u", path, (int)t->name_len, t->name, ggml);
            break;
        }
        uint64_t inner = ndim ? (uint64_t)t->sizes[ndim - 1] : 1;
        if (inner % (uint64_t)t->type->block) {
            rc = locus_fail("%s: tensor %.*s of type %s has rows of %llu elements, not a multiple of %d", path,
                           (int)t->name_len, t->name, t->type->name, (unsigned long long)inner, t->type->block);
            break;
        }
        if (t->offset % alignment || __builtin_mul_overflow(numel / (uint64_t)t->type->block, (uint64_t)t->type->bytes, &t->nbytes)) {
            rc = locus_fail("%s: tensor %.*s has a misaligned offset or an overflowing size", path, (int)t->name_len, t->name);
            break;
        }
    }
    uint64_t data = (c.pos + alignment - 1) / alignment * alignment;
    for (uint64_t i = 0; i < n_tensors && rc == 0; i++) {
        info *t = &infos[i];
        char name[512];
        if (t->name_len >= sizeof name) {
            rc = locus_fail("%s: a tensor name of %llu bytes", path, (unsigned long long)t->name_len);
            break;
        }
        memcpy(name, t->name, t->name_len);
        name[t->name_len] = '\0';
        if (data > c.size || t->offset > c.size - data) {
            rc = locus_fail("%s: tensor '%s' starts at %llu, past the end of the file (truncated?)", path, name,
                           (unsigned long long)(data + t->offset));
            break;
        }
        rc = locus_weights_add(w, file, name, t->type->name, t->type->locus, t->ndim, t->sizes, NULL, data + t->offset,
                              t->nbytes);
    }
    free(infos);
    return rc;
}
