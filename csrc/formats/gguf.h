/* gguf.h — ggml's tensor types as GGUF stores them. */
#ifndef LEGO_GGUF_H
#define LEGO_GGUF_H

typedef struct lego_gguf_type {
    int ggml;         /* the number in the file */
    const char *name; /* "Q8_0" */
    int block;        /* elements per block (1 for plain types) */
    int bytes;        /* bytes per block */
    int lego;         /* the lego_dtype, or -1 */
} lego_gguf_type;

extern const lego_gguf_type lego_gguf_types[]; /* ends with name == NULL */
const lego_gguf_type *lego_gguf_type_of(int ggml_type);

#endif
