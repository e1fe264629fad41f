/* weights.h — what the checkpoint readers share: a lego_weights being filled, file by file. */
#ifndef LEGO_WEIGHTS_H
#define LEGO_WEIGHTS_H

#include "../core/internal.h"

#include <cjson/cJSON.h>

typedef struct weight_entry {
    lego_weight_info info; /* name and stored_type are owned; file points at files[file].path */
    int file;
} weight_entry;

typedef struct weight_file {
    char *path;
    lego_storage *map;
} weight_file;

struct lego_weights {
    const char *format;
    weight_file *files;
    int nfiles;
    weight_entry *entries;
    int64_t n, cap;
    int64_t *by_name; /* entry indices sorted by name */
    cJSON *metadata;  /* an object; readers add to it */
    cJSON *types;     /* GGUF: key -> type name */
    char *metadata_text, *types_text;
};

/* Maps path and appends it to w's files; returns its index, or -1 with the error set. */
int lego_weights_add_file(lego_weights *w, const char *path);

/* Appends an entry: type is a lego_dtype or -1 (listed, but get() refuses it); strides NULL
 * means contiguous; the tensor occupies nbytes from offset, which must lie inside the file. */
int lego_weights_add(lego_weights *w, int file, const char *name, const char *stored_type, int type, int ndim,
                     const int64_t *sizes, const int64_t *strides, uint64_t offset, uint64_t nbytes);

/* GGUF's metadata value types by number, named as in lego_weights_metadata_types_json. */
extern const char *const lego_gguf_value_types[13];

/* The readers: each adds one file's tensors (and metadata) to w. */
int lego_read_safetensors(lego_weights *w, const char *path);
int lego_read_pytorch(lego_weights *w, const char *path);
int lego_read_gguf(lego_weights *w, const char *path);

#endif
