/* safetensors.c — the safetensors format: an 8-byte little-endian header length, a JSON header
 * {name: {"dtype", "shape", "data_offsets": [begin, end]}, "__metadata__": {str: str}}, then the
 * data. Everything in the header is checked before any tensor is handed out: known dtypes,
 * non-negative shapes, offsets inside the data, sizes matching the shapes, no overlaps. */
#include "weights.h"

#include <stdio.h>
#include <stdlib.h>

static const struct {
    const char *name;
    int type; /* -1: listed but not representable in locus */
    size_t size;
} dtypes[] = {
    {"F32", LOCUS_F32, 4}, {"F16", LOCUS_F16, 2}, {"BF16", LOCUS_BF16, 2}, {"I64", LOCUS_I64, 8},
    {"I32", LOCUS_I32, 4}, {"I8", LOCUS_I8, 1},   {"U8", LOCUS_U8, 1},     {"BOOL", LOCUS_BOOL, 1},
    {"F64", -1, 8},       {"I16", -1, 2},       {"U16", -1, 2},         {"U32", -1, 4},
    {"U64", -1, 8},       {"F8_E4M3", -1, 1},   {"F8_E5M2", -1, 1},
};

typedef struct {
    uint64_t begin, end;
    const char *name;
} span;

static int by_begin(const void *a, const void *b) {
    const span *x = a, *y = b;
    return (x->begin > y->begin) - (x->begin < y->begin);
}

static int read_entry(locus_weights *w, int file, const cJSON *e, uint64_t data_start, uint64_t data_size, span *sp) {
    const char *path = w->files[file].path, *name = e->string;
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype"), *shape = cJSON_GetObjectItemCaseSensitive(e, "shape"),
                *offs = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsObject(e) || !cJSON_IsString(dt) || !cJSON_IsArray(shape) || !cJSON_IsArray(offs) ||
        cJSON_GetArraySize(offs) != 2)
        return locus_fail("%s: header entry '%s' needs \"dtype\", \"shape\" and two \"data_offsets\"", path, name);
    int k = -1;
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (strcmp(dt->valuestring, dtypes[i].name) == 0) k = (int)i;
    if (k < 0) return locus_fail("%s: tensor '%s' has unknown dtype '%.32s'", path, name, dt->valuestring);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > LOCUS_MAX_DIMS) return locus_fail("%s: tensor '%s' has %d dims (at most %d)", path, name, ndim, LOCUS_MAX_DIMS);
    int64_t sizes[LOCUS_MAX_DIMS];
    uint64_t bytes = dtypes[k].size;
    int i = 0;
    for (const cJSON *d = shape->child; d; d = d->next, i++) {
        /* JSON numbers arrive as doubles: integers up to 2^53 are exact, and no tensor is larger */
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9007199254740992.0 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return locus_fail("%s: tensor '%s' has a bad size in dim %d of its shape", path, name, i);
        sizes[i] = (int64_t)d->valuedouble;
        if (__builtin_mul_overflow(bytes, (uint64_t)sizes[i], &bytes))
            return locus_fail("%s: tensor '%s' has a shape whose size overflows", path, name);
    }
    double b = cJSON_GetArrayItem(offs, 0)->valuedouble, en = cJSON_GetArrayItem(offs, 1)->valuedouble;
    if (!cJSON_IsNumber(cJSON_GetArrayItem(offs, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(offs, 1)) || b < 0 ||
        en < b || en > (double)data_size || b != (double)(uint64_t)b || en != (double)(uint64_t)en)
        return locus_fail("%s: tensor '%s' has data_offsets [%.0f, %.0f] outside the %llu data bytes", path, name, b, en,
                         (unsigned long long)data_size);
    sp->begin = (uint64_t)b;
    sp->end = (uint64_t)en;
    sp->name = name;
    if (sp->end - sp->begin != bytes)
        return locus_fail("%s: tensor '%s' spans %llu bytes but its shape and dtype need %llu", path, name,
                         (unsigned long long)(sp->end - sp->begin), (unsigned long long)bytes);
    return locus_weights_add(w, file, name, dtypes[k].name, dtypes[k].type, ndim, sizes, NULL, data_start + sp->begin, bytes);
}

int locus_read_safetensors(locus_weights *w, const char *path) {
    int file = locus_weights_add_file(w, path);
    if (file < 0) return -1;
    const unsigned char *buf = locus_storage_data(w->files[file].map);
    uint64_t size = locus_storage_nbytes(w->files[file].map);
    if (size < 8) return locus_fail("%s: truncated safetensors file (%llu bytes)", path, (unsigned long long)size);
    uint64_t hlen = locus_read_le(buf, 8);
    if (hlen > size - 8) return locus_fail("%s: header length %llu runs past the end of the file (%llu bytes)", path,
                                          (unsigned long long)hlen, (unsigned long long)size);
    if (hlen > (100u << 20)) return locus_fail("%s: header of %llu bytes is implausibly large", path, (unsigned long long)hlen);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts((const char *)buf + 8, (size_t)hlen, &end, false);
    if (!cJSON_IsObject(root)) {
        long at = end ? (long)(end - (const char *)buf) : -1;
        cJSON_Delete(root);
        return locus_fail("%s: the header is not a JSON object (error near byte %ld)", path, at);
    }
    uint64_t data_start = 8 + hlen, data_size = size - data_start;
    int n = cJSON_GetArraySize(root), count = 0, rc = 0;
    span *spans = calloc((size_t)(n ? n : 1), sizeof *spans);
    if (!spans) rc = locus_fail("%s: out of memory", path);
    for (cJSON *e = root->child; rc == 0 && e; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            for (cJSON *m = cJSON_IsObject(e) ? e->child : NULL; m && rc == 0; m = m->next)
                if (!cJSON_IsString(m)) rc = locus_fail("%s: __metadata__ value '%s' is not a string", path, m->string);
            if (rc == 0 && !cJSON_IsObject(e)) rc = locus_fail("%s: __metadata__ is not an object", path);
            if (rc == 0)
                for (cJSON *m = e->child; m; m = m->next)
                    if (!cJSON_GetObjectItemCaseSensitive(w->metadata, m->string))
                        cJSON_AddStringToObject(w->metadata, m->string, m->valuestring);
            continue;
        }
        rc = read_entry(w, file, e, data_start, data_size, &spans[count]);
        count++;
    }
    if (rc == 0) { /* no two tensors may share bytes (empty ones take none) */
        qsort(spans, (size_t)count, sizeof *spans, by_begin);
        const span *reach = NULL; /* the non-empty span reaching furthest so far */
        for (int i = 0; i < count && rc == 0; i++) {
            if (spans[i].end == spans[i].begin) continue;
            if (reach && spans[i].begin < reach->end)
                rc = strcmp(reach->name, spans[i].name) == 0
                         ? locus_fail("%s: duplicate tensor name '%s'", path, spans[i].name)
                         : locus_fail("%s: tensors '%s' and '%s' overlap", path, reach->name, spans[i].name);
            if (!reach || spans[i].end > reach->end) reach = &spans[i];
        }
    }
    free(spans);
    cJSON_Delete(root);
    return rc;
}

/* ---- writing ---------------------------------------------------------------------------------- */

static const char *dtype_tag(int type) {
    for (size_t i = 0; i < sizeof dtypes / sizeof *dtypes; i++)
        if (dtypes[i].type == type) return dtypes[i].name;
    return NULL;
}

int locus_safetensors_save(const char *path, int64_t n, const char *const *names, const locus_tensor *const *tensors,
                           const char *metadata_json) {
    if (!path) return locus_fail("safetensors save: path is NULL");
    cJSON *header = cJSON_CreateObject(), *meta = NULL;
    if (!header) return locus_fail("%s: out of memory", path);
    if (metadata_json && *metadata_json) {
        meta = cJSON_Parse(metadata_json);
        bool strings = meta && cJSON_IsObject(meta);
        for (cJSON *e = meta ? meta->child : NULL; strings && e; e = e->next) strings = cJSON_IsString(e);
        if (!strings) {
            cJSON_Delete(meta);
            cJSON_Delete(header);
            return locus_fail("%s: the metadata must be a JSON object of strings", path);
        }
        cJSON_AddItemToObject(header, "__metadata__", meta);
    }
    uint64_t offset = 0;
    for (int64_t i = 0; i < n; i++) {
        const locus_tensor *t = tensors[i];
        const char *tag = t ? dtype_tag(t->type) : NULL;
        if (!names[i] || !*names[i] || strcmp(names[i], "__metadata__") == 0 || cJSON_GetObjectItemCaseSensitive(header, names[i])) {
            cJSON_Delete(header);
            return locus_fail("%s: tensor name '%s' is empty, reserved or repeated", path, names[i] ? names[i] : "(null)");
        }
        if (!tag) {
            cJSON_Delete(header);
            return locus_fail("%s: safetensors cannot hold %s (tensor %s)", path, t ? locus_dtype_name(t->type) : "NULL", names[i]);
        }
        uint64_t bytes = (uint64_t)locus_tensor_numel(t) * locus_dtype_size(t->type);
        cJSON *entry = cJSON_CreateObject(), *shape = cJSON_CreateArray(), *offsets = cJSON_CreateArray();
        cJSON_AddStringToObject(entry, "dtype", tag);
        for (int d = 0; d < t->ndim; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->sizes[d]));
        cJSON_AddItemToObject(entry, "shape", shape);
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + bytes)));
        cJSON_AddItemToObject(entry, "data_offsets", offsets);
        cJSON_AddItemToObject(header, names[i], entry);
        offset += bytes;
    }
    char *text = cJSON_PrintUnformatted(header);
    cJSON_Delete(header);
    if (!text) return locus_fail("%s: out of memory", path);
    size_t len = strlen(text), padded = (len + 7) / 8 * 8; /* the data starts 8-byte aligned */
    locus_out out;
    int rc = locus_out_open(&out, path);
    if (rc == 0) {
        unsigned char size[8];
        for (int b = 0; b < 8; b++) size[b] = (unsigned char)((uint64_t)padded >> (8 * b));
        bool ok = fwrite(size, 1, 8, out.f) == 8 && fwrite(text, 1, len, out.f) == len;
        for (size_t p = len; ok && p < padded; p++) ok = fputc(' ', out.f) != EOF;
        for (int64_t i = 0; ok && i < n; i++) {
            locus_tensor *c = locus_contiguous(tensors[i]);
            size_t bytes = (size_t)locus_tensor_numel(tensors[i]) * locus_dtype_size(tensors[i]->type);
            ok = c && (bytes == 0 || fwrite(locus_tensor_data(c), 1, bytes, out.f) == bytes);
            locus_tensor_free(c);
        }
        rc = locus_out_finish(&out, ok ? WRITE_OK : WRITE_FAILED);
    }
    free(text);
    return rc;
}
