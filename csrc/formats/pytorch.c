/* pytorch.c — checkpoints written by torch.save (torch >= 1.6): a zip archive (stored, not
 * compressed) holding <prefix>/data.pkl, the pickled state dict, and <prefix>/data/<key>, the raw
 * bytes of each storage. Tensors are mapped straight out of the data entries; tensors that share
 * a storage share memory. Nested containers ({"model": state_dict}, lists) become dotted names. */
#include "weights.h"
#include "pickle.h"
#include "zip.h"

#include <stdio.h>
#include <stdlib.h>

static const struct {
    const char *cls;
    int type;
    size_t size;
} storages[] = {
    {"torch.FloatStorage", LOCUS_F32, 4}, {"torch.HalfStorage", LOCUS_F16, 2}, {"torch.BFloat16Storage", LOCUS_BF16, 2},
    {"torch.LongStorage", LOCUS_I64, 8},  {"torch.IntStorage", LOCUS_I32, 4},  {"torch.CharStorage", LOCUS_I8, 1},
    {"torch.ByteStorage", LOCUS_U8, 1},   {"torch.BoolStorage", LOCUS_BOOL, 1}, {"torch.DoubleStorage", -1, 8},
    {"torch.ShortStorage", -1, 2},
};

typedef struct {
    locus_weights *w;
    int file;
    const zip_entry *entries;
    int64_t count;
    const char *prefix; /* "archive/" */
    size_t prefix_len;
    const char *path;
} reader;

static const zip_entry *find_entry(const reader *r, const char *key) {
    size_t klen = strlen(key);
    for (int64_t i = 0; i < r->count; i++) {
        const zip_entry *e = &r->entries[i];
        if (e->name_len == r->prefix_len + 5 + klen && memcmp(e->name, r->prefix, r->prefix_len) == 0 &&
            memcmp(e->name + r->prefix_len, "data/", 5) == 0 && memcmp(e->name + r->prefix_len + 5, key, klen) == 0)
            return e;
    }
    return NULL;
}

static int add_tensor(reader *r, const char *name, const pk_value *t) {
    const pk_value *s = t->storage;
    int k = -1;
    for (size_t i = 0; i < sizeof storages / sizeof *storages; i++)
        if (strcmp(s->s, storages[i].cls) == 0) k = (int)i;
    if (k < 0) return locus_fail("%s: tensor '%s' has storage class %s", r->path, name, s->s);
    const zip_entry *e = find_entry(r, s->key);
    if (!e) return locus_fail("%s: tensor '%s' needs the archive entry %.*sdata/%s, which is missing", r->path, name,
                             (int)r->prefix_len, r->prefix, s->key);
    if (e->method != 0)
        return locus_fail("%s: archive entry for tensor '%s' is compressed; locus maps tensors in place and needs stored "
                         "entries (torch.save writes them so)", r->path, name);
    uint64_t need;
    if (__builtin_mul_overflow((uint64_t)s->numel, (uint64_t)storages[k].size, &need) || need > e->size)
        return locus_fail("%s: storage %s of tensor '%s' holds %llu bytes, fewer than its %lld elements need", r->path,
                         s->key, name, (unsigned long long)e->size, (long long)s->numel);
    /* bytes from the first element to the last (rebuild_tensor checked they lie in the storage) */
    uint64_t span = 0, numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        numel *= (uint64_t)t->sizes[i];
        if (t->sizes[i] > 0) span += (uint64_t)(t->sizes[i] - 1) * (uint64_t)t->strides[i];
    }
    return locus_weights_add(r->w, r->file, name, s->s, storages[k].type, t->ndim, t->sizes, t->strides,
                            e->offset + (uint64_t)t->offset * storages[k].size, numel ? (span + 1) * storages[k].size : 0);
}

/* Walks containers depth-first, naming tensors by their dotted path. */
static int walk(reader *r, const pk_value *v, char *name, size_t len, size_t cap, int depth) {
    if (depth > 64) return locus_fail("%s: containers nested more than 64 deep", r->path);
    if (v->kind == PK_TENSOR) return add_tensor(r, name, v);
    bool dict = v->kind == PK_DICT;
    if (!dict && v->kind != PK_LIST && v->kind != PK_TUPLE) return 0; /* numbers, strings, None: not weights */
    for (int64_t i = 0; i < v->n; i += dict ? 2 : 1) {
        const pk_value *key = dict ? v->items[i] : NULL, *item = dict ? v->items[i + 1] : v->items[i];
        int wrote;
        const char *dot = len ? "." : "";
        if (!dict || key->kind == PK_INT)
            wrote = snprintf(name + len, cap - len, "%s%lld", dot, (long long)(dict ? key->i : i));
        else if (key->kind == PK_STR)
            wrote = snprintf(name + len, cap - len, "%s%s", dot, key->s);
        else
            continue; /* keys of other kinds do not name weights */
        if (wrote < 0 || (size_t)wrote >= cap - len) return locus_fail("%s: a tensor name is longer than %zu bytes", r->path, cap);
        if (walk(r, item, name, len + (size_t)wrote, cap, depth + 1)) return -1;
        name[len] = '\0';
    }
    return 0;
}

int locus_read_pytorch(locus_weights *w, const char *path) {
    int file = locus_weights_add_file(w, path);
    if (file < 0) return -1;
    const unsigned char *buf = locus_storage_data(w->files[file].map);
    uint64_t size = locus_storage_nbytes(w->files[file].map);
    reader r = {.w = w, .file = file, .path = path};
    zip_entry *entries;
    if (locus_zip_entries(buf, size, path, &entries, &r.count)) return -1;
    r.entries = entries;
    const zip_entry *pkl = NULL;
    for (int64_t i = 0; i < r.count; i++) {
        const zip_entry *e = &entries[i];
        if (e->name_len >= 8 && memcmp(e->name + e->name_len - 8, "data.pkl", 8) == 0 &&
            (e->name_len == 8 || e->name[e->name_len - 9] == '/')) {
            pkl = e;
            r.prefix = e->name;
            r.prefix_len = e->name_len - 8;
        }
        if (e->name_len >= 9 && memcmp(e->name + e->name_len - 9, "byteorder", 9) == 0 && e->size >= 3 &&
            memcmp(buf + e->offset, "big", 3) == 0) {
            free(entries);
            return locus_fail("%s: saved on a big-endian machine; locus reads little-endian checkpoints", path);
        }
    }
    int rc;
    if (!pkl) {
        rc = locus_fail("%s: a zip archive without data.pkl, so not a PyTorch checkpoint", path);
    } else if (pkl->method != 0) {
        rc = locus_fail("%s: data.pkl is compressed; not written by torch.save", path);
    } else {
        pk_arena *arena;
        pk_value *root = locus_unpickle(buf + pkl->offset, (size_t)pkl->size, path, &arena);
        char name[1024] = "";
        int64_t before = w->n;
        rc = root ? walk(&r, root, name, 0, sizeof name, 0) : -1;
        if (rc == 0 && w->n == before) rc = locus_fail("%s: holds no tensors", path);
        locus_pickle_free(arena);
    }
    free(entries);
    return rc;
}
