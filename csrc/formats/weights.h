/* weights.h — what the checkpoint readers share: a locus_weights being filled, file by file. */
#ifndef LOCUS_WEIGHTS_H
#define LOCUS_WEIGHTS_H

#include "../core/internal.h"

#include <cjson/cJSON.h>

typedef struct weight_entry {
    locus_weight_info info; /* name and stored_type are owned; file points at files[file].path */
    int file;
} weight_entry;

typedef struct weight_file {
    char *path;
    locus_storage *map;
} weight_file;

struct locus_weights {
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
int locus_weights_add_file(locus_weights *w, const char *path);

/* Appends an entry: type is a locus_dtype or -1 (listed, but get() refuses it); strides NULL
 * means contiguous; the tensor occupies nbytes from offset, which must lie inside the file. */
int locus_weights_add(locus_weights *w, int file, const char *name, const char *stored_type, int type, int ndim,
                     const int64_t *sizes, const int64_t *strides, uint64_t offset, uint64_t nbytes);

/* For other layers that read a checkpoint's metadata (the tokenizer from a GGUF file): the
 * metadata object, and the first file's path for messages. */
const cJSON *locus_weights_metadata(const locus_weights *w);
const char *locus_weights_source(const locus_weights *w);

/* GGUF's metadata value types by number, named as in locus_weights_metadata_types_json. */
extern const char *const locus_gguf_value_types[13];

/* The readers: each adds one file's tensors (and metadata) to w. */
int locus_read_safetensors(locus_weights *w, const char *path);
int locus_read_pytorch(locus_weights *w, const char *path);
int locus_read_gguf(locus_weights *w, const char *path);

#endif
