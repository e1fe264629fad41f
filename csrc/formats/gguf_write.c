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

static int check_inputs(int64_t n, const char *const *names, const locus_tensor *const *tensors) {
    for (int64_t i = 0; i < n; i++) {
        if (!names[i] || !tensors[i]) return locus_fail("gguf: tensor %lld has no name or no data", (long long)i);
        if (strlen(names[i]) >= GGML_MAX_NAME)
            return locus_fail("gguf: tensor name '%s' is longer than llama.cpp's %d-byte limit", names[i], GGML_MAX_NAME - 1);
        if (!ggml_type_for(tensors[i]->type))
            return locus_fail("gguf: tensor '%s' is %s, which GGUF cannot hold", names[i], locus_dtype_name(tensors[i]->type));
        if (tensors[i]->ndim > 4)
            return locus_fail("gguf: tensor '%s' has %d dims (ggml handles at most 4)", names[i], tensors[i]->ndim);
        for (int64_t j = 0; j < i; j++)
            if (strcmp(names[i], names[j]) == 0) return locus_fail("gguf: duplicate tensor name '%s'", names[i]);
    }
    return 0;
}

int locus_gguf_save(const char *path, const char *metadata_json, const char *types_json, int64_t n,
                   const char *const *names, const locus_tensor *const *tensors) {
    if (!path || n < 0 || (n > 0 && (!names || !tensors))) return locus_fail("gguf: bad arguments");
    if (check_inputs(n, names, tensors)) return -1;
    cJSON *meta = cJSON_Parse(metadata_json ? metadata_json : "{}"), *types = types_json ? cJSON_Parse(types_json) : NULL;
    if (!cJSON_IsObject(meta) || (types_json && !cJSON_IsObject(types))) {
        cJSON_Delete(meta);
        cJSON_Delete(types);
        return locus_fail("%s: metadata and types must be JSON objects", path);
    }
    const cJSON *al = cJSON_GetObjectItemCaseSensitive(meta, "general.alignment");
    uint64_t alignment = cJSON_IsNumber(al) ? (uint64_t)al->valuedouble : 32;
    if (alignment == 0 || alignment > 65536 || (alignment & (alignment - 1))) {
        cJSON_Delete(meta);
        cJSON_Delete(types);
        return locus_fail("%s: general.alignment must be a power of two up to 65536", path);
    }
    if (cJSON_IsNumber(al) && !(types && cJSON_GetObjectItemCaseSensitive(types, "general.alignment"))) {
        if (!types) types = cJSON_CreateObject();
        cJSON_AddStringToObject(types, "general.alignment", "u32"); /* llama.cpp wants it as u32 */
    }
    char *tmp = locus_temp_path(path);
    if (!tmp) {
        cJSON_Delete(meta);
        cJSON_Delete(types);
        return -1;
    }
    sink s = {fopen(tmp, "wb"), true};
    int rc = 0;
    if (!s.f) {
        rc = locus_fail("%s: cannot write: %s", path, strerror(errno));
        free(tmp);
        goto done;
    }
    put(&s, "GGUF", 4);
    put_le(&s, 3, 4);
    put_le(&s, (uint64_t)n, 8);
    put_le(&s, (uint64_t)cJSON_GetArraySize(meta), 8);
    if ((rc = put_metadata(&s, meta, types)) != 0) goto close;
    uint64_t offset = 0;
    for (int64_t i = 0; i < n; i++) {
        const locus_tensor *t = tensors[i];
        put_string(&s, names[i]);
        put_le(&s, (uint64_t)t->ndim, 4);
        for (int d = t->ndim - 1; d >= 0; d--) put_le(&s, (uint64_t)t->sizes[d], 8); /* innermost first */
        put_le(&s, (uint64_t)ggml_type_for(t->type)->ggml, 4);
        put_le(&s, offset, 8);
        offset += ((uint64_t)locus_bytes_for(t->type, locus_tensor_numel(t)) + alignment - 1) / alignment * alignment;
    }
    static const unsigned char zeros[64] = {0};
    long pos = ftell(s.f);
    for (uint64_t pad = (alignment - (uint64_t)pos % alignment) % alignment; pad > 0;) {
        size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        put(&s, zeros, k);
        pad -= k;
    }
    for (int64_t i = 0; i < n && rc == 0; i++) {
        locus_tensor *c = locus_contiguous(tensors[i]);
        if (!c) {
            rc = -1;
            break;
        }
        uint64_t bytes = (uint64_t)locus_bytes_for(c->type, locus_tensor_numel(c));
        put(&s, locus_tensor_data(c), (size_t)bytes);
        for (uint64_t pad = (alignment - bytes % alignment) % alignment; pad > 0;) {
            size_t k = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
            put(&s, zeros, k);
            pad -= k;
        }
        locus_tensor_free(c);
    }
close:
    if (fclose(s.f) != 0) s.ok = false;
    rc = locus_finish_temp(tmp, path, rc != 0 ? WRITE_REPORTED : s.ok ? WRITE_OK : WRITE_FAILED);
done:
    cJSON_Delete(meta);
    cJSON_Delete(types);
    return rc;
}
