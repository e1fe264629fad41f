/* weights.c — locus_weights: named tensors from checkpoint files and HF model directories. The
 * format readers (safetensors.c, pytorch.c, gguf.c) fill it; this file owns the bookkeeping,
 * the directory and shard-index logic, and lookups. */
#define _GNU_SOURCE /* qsort_r */
#include "weights.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

int locus_weights_add_file(locus_weights *w, const char *path) {
    weight_file *grown = realloc(w->files, (size_t)(w->nfiles + 1) * sizeof *grown);
    if (!grown) return locus_fail("%s: out of memory", path);
    w->files = grown;
    locus_storage *map = locus_storage_map_file(path);
    if (!map) return -1;
    char *copy = dup_str(path);
    if (!copy) {
        locus_storage_release(map);
        return locus_fail("%s: out of memory", path);
    }
    w->files[w->nfiles] = (weight_file){copy, map};
    return w->nfiles++;
}

int locus_weights_add(locus_weights *w, int file, const char *name, const char *stored_type, int type, int ndim,
                     const int64_t *sizes, const int64_t *strides, uint64_t offset, uint64_t nbytes) {
    const char *path = w->files[file].path;
    if (ndim < 0 || ndim > LOCUS_MAX_DIMS)
        return locus_fail("%s: tensor '%s' has %d dims (locus handles at most %d)", path, name, ndim, LOCUS_MAX_DIMS);
    weight_entry e = {0};
    e.file = file;
    e.info.type = type;
    e.info.ndim = ndim;
    e.info.offset = offset;
    int64_t run = 1;
    for (int i = ndim - 1; i >= 0; i--) {
        if (sizes[i] < 0) return locus_fail("%s: tensor '%s' has a negative size in dim %d", path, name, i);
        e.info.sizes[i] = sizes[i];
        e.info.strides[i] = strides ? strides[i] : run;
        if (__builtin_mul_overflow(run, sizes[i] ? sizes[i] : 1, &run))
            return locus_fail("%s: tensor '%s' has a shape whose size overflows", path, name);
    }
    uint64_t fsize = locus_storage_nbytes(w->files[file].map);
    if (offset > fsize || nbytes > fsize - offset)
        return locus_fail("%s: tensor '%s' needs bytes [%llu, %llu), beyond the end of the file (%llu bytes)", path, name,
                         (unsigned long long)offset, (unsigned long long)(offset + nbytes), (unsigned long long)fsize);
    e.info.nbytes = nbytes;
    e.info.file = path;
    e.info.name = dup_str(name);
    e.info.stored_type = dup_str(stored_type);
    if (!e.info.name || !e.info.stored_type) goto oom;
    if (w->n == w->cap) {
        int64_t cap = w->cap ? 2 * w->cap : 64;
        weight_entry *grown = realloc(w->entries, (size_t)cap * sizeof *grown);
        if (!grown) goto oom;
        w->entries = grown;
        w->cap = cap;
    }
    w->entries[w->n++] = e;
    return 0;
oom:
    free((char *)e.info.name);
    free((char *)e.info.stored_type);
    return locus_fail("%s: out of memory", path);
}

static int by_name_cmp(const void *a, const void *b, void *ctx) {
    const weight_entry *e = ctx;
    return strcmp(e[*(const int64_t *)a].info.name, e[*(const int64_t *)b].info.name);
}

/* Builds the name index; two tensors of one name are an error naming both files. */
static int index_names(locus_weights *w) {
    w->by_name = malloc((size_t)(w->n ? w->n : 1) * sizeof *w->by_name);
    if (!w->by_name) return locus_fail("out of memory");
    for (int64_t i = 0; i < w->n; i++) w->by_name[i] = i;
    qsort_r(w->by_name, (size_t)w->n, sizeof *w->by_name, by_name_cmp, w->entries);
    for (int64_t i = 1; i < w->n; i++) {
        const locus_weight_info *a = &w->entries[w->by_name[i - 1]].info, *b = &w->entries[w->by_name[i]].info;
        if (strcmp(a->name, b->name) == 0)
            return locus_fail("%s: duplicate tensor name '%s' (also in %s)", b->file, b->name, a->file);
    }
    return 0;
}

void locus_weights_close(locus_weights *w) {
    if (!w) return;
    for (int64_t i = 0; i < w->n; i++) {
        free((char *)w->entries[i].info.name);
        free((char *)w->entries[i].info.stored_type);
    }
    for (int i = 0; i < w->nfiles; i++) {
        locus_storage_release(w->files[i].map);
        free(w->files[i].path);
    }
    free(w->files);
    free(w->entries);
    free(w->by_name);
    cJSON_Delete(w->metadata);
    cJSON_Delete(w->types);
    free(w->metadata_text);
    free(w->types_text);
    free(w);
}

/* ---- opening files and directories --------------------------------------------------------- */

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Is name (an index's file name, no '/') the last component of path? */
static bool named(const char *path, const char *name) {
    const char *slash = strrchr(path, '/');
    return strcmp(slash ? slash + 1 : path, name) == 0;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Picks the reader by the file's first bytes (extensions lie; magic numbers rarely do). */
static int read_any(locus_weights *w, const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return locus_fail("%s: cannot open: %s", path, strerror(errno));
    unsigned char head[9] = {0};
    size_t got = fread(head, 1, sizeof head, f);
    struct stat st;
    uint64_t size = fstat(fileno(f), &st) == 0 ? (uint64_t)st.st_size : 0;
    fclose(f);
    /* safetensors has no magic: a little-endian u64 header length that fits the file, then '{'.
     * Checked before the pickle guess, since a 384-byte header starts 0x80 0x01 like a pickle. */
    uint64_t header = locus_read_le(head, 8);
    bool safetensors_shape = got == 9 && header >= 2 && header <= size - 8 && head[8] == '{';
    const char *format;
    int rc;
    if (got >= 4 && memcmp(head, "GGUF", 4) == 0) {
        format = "gguf";
        rc = locus_read_gguf(w, path);
    } else if (got >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) {
        format = "pytorch";
        rc = locus_read_pytorch(w, path);
    } else if (safetensors_shape) {
        format = "safetensors";
        rc = locus_read_safetensors(w, path);
    } else if (got >= 2 && head[0] == 0x80 && head[1] <= 5) {
        return locus_fail("%s: a legacy (pre-zip) PyTorch checkpoint; re-save it with torch >= 1.6 "
                         "(torch.save(torch.load(f), f2)) to load it", path);
    } else if (got >= 8 && ends_with(path, ".safetensors")) { /* let its reader say what is wrong */
        format = "safetensors";
        rc = locus_read_safetensors(w, path);
    } else {
        return locus_fail("%s: not a checkpoint locus reads (safetensors, PyTorch zip, GGUF)", path);
    }
    if (rc == 0 && w->format && strcmp(w->format, format) != 0)
        return locus_fail("%s: a %s file among %s files", path, format, w->format);
    w->format = format;
    return rc;
}

static char *join(const char *dir, const char *name) {
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    if (p) snprintf(p, n, "%s/%s", dir, name);
    return p;
}

static char *slurp(const char *path, size_t limit) {
    FILE *f = fopen(path, "rb");
    if (!f) return locus_fail_null("%s: cannot open: %s", path, strerror(errno));
    char *buf = malloc(limit + 1);
    size_t n = buf ? fread(buf, 1, limit + 1, f) : 0;
    fclose(f);
    if (!buf) return locus_fail_null("%s: out of memory", path);
    if (n > limit) {
        free(buf);
        return locus_fail_null("%s: larger than %zu bytes", path, limit);
    }
    buf[n] = '\0';
    return buf;
}

/* model.safetensors.index.json / pytorch_model.bin.index.json: read every shard its weight_map
 * names, then check each listed tensor is where the index says. Where two files hold a tensor,
 * the one the index names is taken. */
static int read_index(locus_weights *w, const char *dir, const char *index_path) {
    char *text = slurp(index_path, 64u << 20);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    cJSON *map = root ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return locus_fail("%s: not a shard index (no \"weight_map\" object)", index_path);
    }
    if (!map->child) {
        cJSON_Delete(root);
        return locus_fail("%s: the weight_map lists no tensors", index_path);
    }
    int rc = 0;
    for (cJSON *it = map->child; rc == 0 && it; it = it->next) {
        if (!cJSON_IsString(it) || strchr(it->valuestring, '/') || strcmp(it->valuestring, "..") == 0) {
            rc = locus_fail("%s: weight_map entry '%s' is not a file name", index_path, it->string);
            break;
        }
        bool seen = false;
        for (cJSON *p = map->child; p != it && !seen; p = p->next)
            seen = cJSON_IsString(p) && strcmp(p->valuestring, it->valuestring) == 0;
        if (seen) continue;
        char *shard = join(dir, it->valuestring);
        if (!shard) rc = locus_fail("out of memory");
        else if (!is_file(shard)) rc = locus_fail("%s: names shard '%s', which is missing", index_path, it->valuestring);
        else rc = read_any(w, shard);
        free(shard);
    }
    /* the index decides: a tensor a shard holds but the weight_map assigns to another file is not
     * taken from that shard (a fine-tuned file overriding some tensors of the original shards) */
    int64_t kept = 0;
    for (int64_t i = 0; rc == 0 && i < w->n; i++) {
        weight_entry *e = &w->entries[i];
        cJSON *where = cJSON_GetObjectItemCaseSensitive(map, e->info.name);
        if (cJSON_IsString(where) && !named(e->info.file, where->valuestring)) {
            free((char *)e->info.name);
            free((char *)e->info.stored_type);
        } else {
            w->entries[kept++] = *e;
        }
    }
    if (rc == 0) w->n = kept;
    if (rc == 0) rc = index_names(w);
    for (cJSON *it = map->child; rc == 0 && it; it = it->next) {
        const locus_weight_info *info = locus_weights_find(w, it->string);
        if (!info) rc = locus_fail("%s: tensor '%s' is not in its shard '%s'", index_path, it->string, it->valuestring);
        else if (!named(info->file, it->valuestring))
            rc = locus_fail("%s: tensor '%s' is in %s, not in '%s'", index_path, it->string, info->file, it->valuestring);
    }
    cJSON_Delete(root);
    return rc;
}

static int read_directory(locus_weights *w, const char *dir) {
    static const char *indexes[] = {"model.safetensors.index.json", "pytorch_model.bin.index.json"};
    static const char *singles[] = {"model.safetensors", "pytorch_model.bin", "model.pth", "model.gguf"};
    for (size_t i = 0; i < sizeof indexes / sizeof *indexes; i++) {
        char *p = join(dir, indexes[i]);
        int found = p && is_file(p), rc = found ? read_index(w, dir, p) : 0;
        free(p);
        if (found) return rc;
    }
    for (size_t i = 0; i < sizeof singles / sizeof *singles; i++) {
        char *p = join(dir, singles[i]);
        int found = p && is_file(p), rc = found ? read_any(w, p) : 0;
        free(p);
        if (found) return rc ? rc : index_names(w);
    }
    return locus_fail("%s: no weights found (looked for %s, %s, %s, %s, %s, %s)", dir, indexes[0], indexes[1], singles[0],
                     singles[1], singles[2], singles[3]);
}

locus_weights *locus_weights_open(const char *path) {
    if (!path) return locus_fail_null("locus_weights_open: path is NULL");
    struct stat st;
    if (stat(path, &st) != 0) return locus_fail_null("%s: cannot open: %s", path, strerror(errno));
    locus_weights *w = calloc(1, sizeof *w);
    if (!w || !(w->metadata = cJSON_CreateObject()) || !(w->types = cJSON_CreateObject())) {
        if (w) cJSON_Delete(w->metadata);
        free(w);
        return locus_fail_null("%s: out of memory", path);
    }
    int rc;
    if (S_ISDIR(st.st_mode)) {
        rc = read_directory(w, path);
    } else if (ends_with(path, ".index.json")) { /* a shard index names its shards beside it */
        const char *slash = strrchr(path, '/');
        char *dir = slash ? strndup(path, (size_t)(slash - path)) : strdup(".");
        rc = dir ? read_index(w, slash == path ? "/" : dir, path) : locus_fail("%s: out of memory", path);
        free(dir);
    } else {
        rc = read_any(w, path);
        if (rc == 0) rc = index_names(w);
    }
    if (rc != 0) {
        locus_weights_close(w);
        return NULL;
    }
    return w;
}

/* ---- lookups -------------------------------------------------------------------------------- */

const char *locus_weights_format(const locus_weights *w) { return w->format ? w->format : "none"; }
int64_t locus_weights_count(const locus_weights *w) { return w->n; }

const locus_weight_info *locus_weights_info_at(const locus_weights *w, int64_t i) {
    if (i < 0 || i >= w->n) return locus_fail_null("weights: index %lld out of range (%lld tensors)", (long long)i, (long long)w->n);
    return &w->entries[i].info;
}

const locus_weight_info *locus_weights_find(const locus_weights *w, const char *name) {
    int64_t lo = 0, hi = w->n - 1;
    while (lo <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(w->entries[w->by_name[mid]].info.name, name);
        if (c == 0) return &w->entries[w->by_name[mid]].info;
        if (c < 0) lo = mid + 1; else hi = mid - 1;
    }
    return locus_fail_null("no tensor named '%s' in %s", name, w->nfiles ? w->files[0].path : "(empty)");
}

locus_tensor *locus_weights_get(const locus_weights *w, const char *name) {
    const locus_weight_info *info = locus_weights_find(w, name);
    if (!info) return NULL;
    if (info->type < 0)
        return locus_fail_null("%s: tensor '%s' is stored as %s, which locus cannot represent", info->file, name,
                              info->stored_type);
    const weight_entry *e = (const weight_entry *)info;
    locus_storage *map = w->files[e->file].map, *win;
    size_t align = is_block_dtype(info->type) ? 2 : locus_dtype_size(info->type); /* blocks hold f16s at even offsets */
    if (info->offset % align == 0) {
        win = locus_storage_window(map, info->offset, info->nbytes);
    } else { /* formats need not align tensors (safetensors after a 3-byte bool): copy those few */
        win = locus_storage_uninit(info->nbytes);
        if (win) memcpy(locus_storage_data(win), (const char *)locus_storage_data(map) + info->offset, info->nbytes);
    }
    if (!win) return NULL;
    locus_tensor *t = locus_tensor_from_storage(win, info->type, 0, info->ndim, info->sizes, info->strides);
    locus_storage_release(win);
    return t;
}

const cJSON *locus_weights_metadata(const locus_weights *w) { return w->metadata; }
const char *locus_weights_source(const locus_weights *w) { return w->nfiles ? w->files[0].path : "weights"; }

const char *locus_weights_metadata_json(const locus_weights *w) {
    locus_weights *mw = (locus_weights *)w; /* the text is a cache */
    if (!mw->metadata_text) mw->metadata_text = cJSON_PrintUnformatted(w->metadata);
    return mw->metadata_text ? mw->metadata_text : "{}";
}

const char *locus_weights_metadata_types_json(const locus_weights *w) {
    locus_weights *mw = (locus_weights *)w;
    if (!mw->types_text) mw->types_text = cJSON_PrintUnformatted(w->types);
    return mw->types_text ? mw->types_text : "{}";
}
