/* gguf.h — ggml's tensor types as GGUF stores them. */
#ifndef LOCUS_GGUF_H
#define LOCUS_GGUF_H

typedef struct locus_gguf_type {
    int ggml;         /* the number in the file */
    const char *name; /* "Q8_0" */
    int block;        /* elements per block (1 for plain types) */
    int bytes;        /* bytes per block */
    int locus;         /* the locus_dtype, or -1 */
} locus_gguf_type;

extern const locus_gguf_type locus_gguf_types[]; /* ends with name == NULL */
const locus_gguf_type *locus_gguf_type_of(int ggml_type);

#endif
