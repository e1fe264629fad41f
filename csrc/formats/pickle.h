/* pickle.h — a restricted unpickler for PyTorch state dicts and for plain data (refer's refs.p). */
#ifndef LOCUS_PICKLE_H
#define LOCUS_PICKLE_H

#include "../core/internal.h"

typedef enum pk_kind {
    PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_BYTES, PK_TUPLE, PK_LIST, PK_DICT,
    PK_GLOBAL,  /* an allowed global, by name */
    PK_STORAGE, /* a persistent storage reference: class, key, element count */
    PK_TENSOR,  /* a rebuilt tensor: storage + offset + sizes + strides */
    PK_MARK     /* the MARK sentinel on the stack */
} pk_kind;

typedef struct pk_value pk_value;
struct pk_value {
    pk_kind kind;
    int64_t i;              /* BOOL, INT */
    double f;               /* FLOAT */
    const char *s;          /* STR, BYTES, GLOBAL name ("module.name"), STORAGE class; NUL-terminated */
    size_t len;
    pk_value **items;       /* TUPLE, LIST; DICT as key, value, key, value, ... */
    int64_t n, cap;
    const char *key;        /* STORAGE: the archive's data/<key> entry */
    int64_t numel;          /* STORAGE */
    pk_value *storage;      /* TENSOR */
    int64_t offset;         /* TENSOR: storage offset, in elements */
    int ndim;
    int64_t sizes[LOCUS_MAX_DIMS], strides[LOCUS_MAX_DIMS];
};

typedef struct pk_arena pk_arena;

/* Unpickles data[0..size) into a value owned by *arena (free it with locus_pickle_free).
 * Only the globals a state dict needs are allowed (tensor rebuilding, storage classes,
 * OrderedDict); any other global stops the load with an error naming it. Nothing is executed. */
pk_value *locus_unpickle(const unsigned char *data, size_t size, const char *where, pk_arena **arena);
void locus_pickle_free(pk_arena *arena);

/* The same for a data pickle: dicts, lists, tuples, strings, bytes, numbers, booleans and None
 * only; any global or persistent id is refused. Protocols 0-5 (Python 2's text pickles too). */
pk_value *locus_unpickle_data(const unsigned char *data, size_t size, const char *where, pk_arena **arena);

#endif
