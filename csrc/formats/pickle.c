/* pickle.c — a restricted unpickler for the data.pkl of PyTorch checkpoints.
 *
 * Written by hand because no C library unpickles, and because a checkpoint is untrusted input: a
 * real unpickler imports and calls whatever globals the file names (os.system included). This one
 * is a plain interpreter of the pickle opcodes (protocols 2-5) over a small value type. GLOBAL may
 * only name the handful of callables a state dict needs, and they are interpreted here, never
 * called: REDUCE on _rebuild_tensor_v2 records storage, offset, sizes and strides; OrderedDict()
 * makes a dict. Every other global, and every opcode outside the list, ends the load with an
 * error naming it. All memory comes from one arena, freed at once. */
#include "pickle.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- arena ---------------------------------------------------------------------------------- */

struct pk_arena {
    pk_arena *next;
    size_t used, cap;
    unsigned char data[];
};

static void *arena_alloc(pk_arena **a, size_t n) {
    n = (n + 15) & ~(size_t)15;
    if (!*a || (*a)->cap - (*a)->used < n) {
        size_t cap = n > (1u << 16) ? n : (1u << 16);
        pk_arena *chunk = malloc(sizeof *chunk + cap);
        if (!chunk) return NULL;
        chunk->next = *a;
        chunk->used = 0;
        chunk->cap = cap;
        *a = chunk;
    }
    void *p = (*a)->data + (*a)->used;
    (*a)->used += n;
    memset(p, 0, n);
    return p;
}

void locus_pickle_free(pk_arena *a) {
    while (a) {
        pk_arena *next = a->next;
        free(a);
        a = next;
    }
}

/* ---- the machine ---------------------------------------------------------------------------- */

typedef struct {
    const unsigned char *data;
    size_t size, pos;
    const char *where;
    pk_arena *arena;
    pk_value **stack;
    int64_t depth, stack_cap;
    pk_value **memo;
    int64_t memo_cap;
    int64_t memo_next; /* for MEMOIZE */
} unpickler;

enum { MAX_MEMO = 1 << 24, MAX_DEPTH = 1 << 24 };

static const char *allowed_globals[] = {
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",     "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state", "collections.OrderedDict", "_codecs.encode",
    "torch.FloatStorage", "torch.HalfStorage",   "torch.BFloat16Storage",   "torch.DoubleStorage",
    "torch.LongStorage",  "torch.IntStorage",    "torch.ShortStorage",      "torch.CharStorage",
    "torch.ByteStorage",  "torch.BoolStorage",
};

static pk_value *fail(unpickler *u, const char *what) {
    return locus_fail_null("%s: %s (pickle byte %zu)", u->where, what, u->pos);
}

static int error_at(unpickler *u, const char *what) {
    fail(u, what);
    return -1;
}

static pk_value *new_value(unpickler *u, pk_kind kind) {
    pk_value *v = arena_alloc(&u->arena, sizeof *v);
    if (v) v->kind = kind;
    return v;
}

static int push(unpickler *u, pk_value *v) {
    if (!v) return locus_fail("%s: out of memory", u->where);
    if (u->depth == u->stack_cap) {
        if (u->stack_cap >= MAX_DEPTH) return locus_fail("%s: pickle stack too deep", u->where);
        int64_t cap = u->stack_cap ? 2 * u->stack_cap : 256;
        pk_value **grown = realloc(u->stack, (size_t)cap * sizeof *grown);
        if (!grown) return locus_fail("%s: out of memory", u->where);
        u->stack = grown;
        u->stack_cap = cap;
    }
    u->stack[u->depth++] = v;
    return 0;
}

static pk_value *pop(unpickler *u) {
    if (u->depth == 0 || u->stack[u->depth - 1]->kind == PK_MARK) return fail(u, "pickle stack underflow");
    return u->stack[--u->depth];
}

static pk_value *top(unpickler *u) {
    if (u->depth == 0 || u->stack[u->depth - 1]->kind == PK_MARK) return fail(u, "pickle stack is empty");
    return u->stack[u->depth - 1];
}

/* Index of the topmost MARK, or -1 with the error set. */
static int64_t find_mark(unpickler *u) {
    for (int64_t i = u->depth - 1; i >= 0; i--)
        if (u->stack[i]->kind == PK_MARK) return i;
    fail(u, "no MARK on the pickle stack");
    return -1;
}

static int append_item(unpickler *u, pk_value *seq, pk_value *item) {
    if (seq->n == seq->cap) {
        int64_t cap = seq->cap ? 2 * seq->cap : 8;
        pk_value **grown = arena_alloc(&u->arena, (size_t)cap * sizeof *grown);
        if (!grown) return locus_fail("%s: out of memory", u->where);
        if (seq->n) memcpy(grown, seq->items, (size_t)seq->n * sizeof *grown);
        seq->items = grown;
        seq->cap = cap;
    }
    seq->items[seq->n++] = item;
    return 0;
}

static int need(unpickler *u, size_t n) {
    if (n > u->size - u->pos) {
        fail(u, "truncated pickle");
        return -1;
    }
    return 0;
}

static uint64_t read_le(unpickler *u, int n) {
    uint64_t v = locus_read_le(u->data + u->pos, n);
    u->pos += n;
    return v;
}

/* A str/bytes value copied into the arena, NUL-terminated. */
static pk_value *text_value(unpickler *u, pk_kind kind, size_t len) {
    if (need(u, len)) return NULL;
    pk_value *v = new_value(u, kind);
    char *s = v ? arena_alloc(&u->arena, len + 1) : NULL;
    if (!s) return locus_fail_null("%s: out of memory", u->where);
    memcpy(s, u->data + u->pos, len);
    u->pos += len;
    v->s = s;
    v->len = len;
    return v;
}

static pk_value *global_value(unpickler *u, const char *module, size_t mlen, const char *name, size_t nlen) {
    char full[256];
    if (mlen + nlen + 2 > sizeof full) return fail(u, "global name too long");
    memcpy(full, module, mlen);
    full[mlen] = '.';
    memcpy(full + mlen + 1, name, nlen);
    full[mlen + nlen + 1] = '\0';
    for (size_t i = 0; i < sizeof allowed_globals / sizeof *allowed_globals; i++)
        if (strcmp(full, allowed_globals[i]) == 0) {
            pk_value *v = new_value(u, PK_GLOBAL);
            if (v) v->s = allowed_globals[i];
            return v;
        }
    /* sanitize for the message: the name comes from an untrusted file */
    for (char *c = full; *c; c++)
        if (*c < 32 || *c > 126) *c = '?';
    return locus_fail_null("%s: refuses the pickle global '%s' (a checkpoint may only hold tensors, storages and "
                          "containers; locus never imports or calls anything)", u->where, full);
}

static bool is_int_tuple(const pk_value *t, int max) {
    if (!t || t->kind != PK_TUPLE || t->n > max) return false;
    for (int64_t i = 0; i < t->n; i++)
        if (t->items[i]->kind != PK_INT || t->items[i]->i < 0) return false;
    return true;
}

/* _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, hooks[, metadata]) */
static pk_value *rebuild_tensor(unpickler *u, const pk_value *args) {
    if (args->n < 4 || args->items[0]->kind != PK_STORAGE || args->items[1]->kind != PK_INT ||
        args->items[1]->i < 0 || !is_int_tuple(args->items[2], LOCUS_MAX_DIMS) || !is_int_tuple(args->items[3], LOCUS_MAX_DIMS) ||
        args->items[2]->n != args->items[3]->n)
        return fail(u, "malformed _rebuild_tensor arguments");
    pk_value *t = new_value(u, PK_TENSOR);
    if (!t) return locus_fail_null("%s: out of memory", u->where);
    t->storage = args->items[0];
    t->offset = args->items[1]->i;
    t->ndim = (int)args->items[2]->n;
    int64_t last = t->offset, numel = 1;
    for (int i = 0; i < t->ndim; i++) {
        t->sizes[i] = args->items[2]->items[i]->i;
        t->strides[i] = args->items[3]->items[i]->i;
        int64_t reach;
        if (__builtin_mul_overflow(numel, t->sizes[i], &numel) ||
            (t->sizes[i] > 0 && (__builtin_mul_overflow(t->sizes[i] - 1, t->strides[i], &reach) ||
                                 __builtin_add_overflow(last, reach, &last))))
            return fail(u, "tensor shape overflows");
    }
    if (numel > 0 && last >= t->storage->numel) return fail(u, "tensor reaches past the end of its storage");
    return t;
}

static pk_value *reduce(unpickler *u, pk_value *callable, pk_value *args) {
    if (callable->kind != PK_GLOBAL || args->kind != PK_TUPLE) return fail(u, "REDUCE on something not callable");
    const char *f = callable->s;
    if (strcmp(f, "collections.OrderedDict") == 0) {
        if (args->n != 0) return fail(u, "OrderedDict with arguments");
        return new_value(u, PK_DICT);
    }
    if (strcmp(f, "torch._utils._rebuild_tensor_v2") == 0 || strcmp(f, "torch._utils._rebuild_tensor") == 0)
        return rebuild_tensor(u, args);
    if (strncmp(f, "torch._utils._rebuild_parameter", 31) == 0) {
        if (args->n < 1 || args->items[0]->kind != PK_TENSOR) return fail(u, "malformed _rebuild_parameter arguments");
        return args->items[0];
    }
    if (strcmp(f, "_codecs.encode") == 0) { /* how protocol 2 spells bytes: keep them as they are */
        if (args->n < 1 || args->items[0]->kind != PK_STR) return fail(u, "malformed _codecs.encode arguments");
        pk_value *b = new_value(u, PK_BYTES);
        if (b) {
            b->s = args->items[0]->s;
            b->len = args->items[0]->len;
        }
        return b;
    }
    return fail(u, "a storage class is not callable");
}

/* BINPERSID: ('storage', storage class, key, location, numel) */
static pk_value *persistent_load(unpickler *u, pk_value *pid) {
    if (pid->kind != PK_TUPLE || pid->n < 5 || pid->items[0]->kind != PK_STR || strcmp(pid->items[0]->s, "storage") != 0 ||
        pid->items[1]->kind != PK_GLOBAL || strstr(pid->items[1]->s, "Storage") == NULL || pid->items[2]->kind != PK_STR ||
        pid->items[4]->kind != PK_INT || pid->items[4]->i < 0)
        return fail(u, "malformed persistent storage id");
    pk_value *s = new_value(u, PK_STORAGE);
    if (!s) return locus_fail_null("%s: out of memory", u->where);
    s->s = pid->items[1]->s;
    s->key = pid->items[2]->s;
    s->numel = pid->items[4]->i;
    return s;
}

static int memo_put(unpickler *u, uint64_t idx, pk_value *v) {
    if (!v) return -1;
    /* a real pickle numbers its memo entries from 0, one per opcode at most */
    if (idx >= MAX_MEMO || idx > u->size)
        return locus_fail("%s: pickle memo index %llu is implausible", u->where, (unsigned long long)idx);
    if ((int64_t)idx >= u->memo_cap) {
        int64_t cap = u->memo_cap ? u->memo_cap : 256;
        while (cap <= (int64_t)idx) cap *= 2;
        pk_value **grown = realloc(u->memo, (size_t)cap * sizeof *grown);
        if (!grown) return locus_fail("%s: out of memory", u->where);
        memset(grown + u->memo_cap, 0, (size_t)(cap - u->memo_cap) * sizeof *grown);
        u->memo = grown;
        u->memo_cap = cap;
    }
    u->memo[idx] = v;
    return 0;
}

static pk_value *memo_get(unpickler *u, uint64_t idx) {
    if ((int64_t)idx >= u->memo_cap || !u->memo[idx]) return fail(u, "pickle refers to an unset memo entry");
    return u->memo[idx];
}

/* Pops everything above the topmost MARK into a new TUPLE/LIST-like value (MARK removed). */
static pk_value *pop_to_mark(unpickler *u, pk_kind kind) {
    int64_t m = find_mark(u);
    if (m < 0) return NULL;
    pk_value *seq = new_value(u, kind);
    if (!seq) return locus_fail_null("%s: out of memory", u->where);
    for (int64_t i = m + 1; i < u->depth; i++)
        if (append_item(u, seq, u->stack[i])) return NULL;
    u->depth = m;
    return seq;
}

static int set_items(unpickler *u, pk_value *dict, pk_value *pairs) {
    if (dict->kind != PK_DICT || pairs->n % 2) return locus_fail("%s: SETITEMS on a non-dict (pickle byte %zu)", u->where, u->pos);
    for (int64_t i = 0; i < pairs->n; i++)
        if (append_item(u, dict, pairs->items[i])) return -1;
    return 0;
}

static int run(unpickler *u, pk_value **result) {
    static pk_value mark = {.kind = PK_MARK};
    while (u->pos < u->size) {
        unsigned char op = u->data[u->pos++];
        pk_value *v = NULL, *a, *b;
        uint64_t n;
        switch (op) {
        case 0x80: /* PROTO */
            if (need(u, 1)) return -1;
            if (u->data[u->pos++] > 5) return locus_fail("%s: pickle protocol above 5", u->where);
            continue;
        case 0x95: /* FRAME */
            if (need(u, 8)) return -1;
            u->pos += 8;
            continue;
        case '.': /* STOP */
            if (!(*result = pop(u))) return -1;
            return 0;
        case '(': v = &mark; break;
        case '}': v = new_value(u, PK_DICT); break;
        case ']': v = new_value(u, PK_LIST); break;
        case ')': v = new_value(u, PK_TUPLE); break;
        case 'N': v = new_value(u, PK_NONE); break;
        case 0x88: case 0x89: /* NEWTRUE, NEWFALSE */
            if ((v = new_value(u, PK_BOOL))) v->i = op == 0x88;
            break;
        case 'K': case 'M': case 'J': { /* BININT1, BININT2, BININT */
            int len = op == 'K' ? 1 : op == 'M' ? 2 : 4;
            if (need(u, (size_t)len)) return -1;
            n = read_le(u, len);
            if ((v = new_value(u, PK_INT))) v->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)n : (int64_t)n;
            break;
        }
        case 0x8a: case 0x8b: { /* LONG1, LONG4 */
            if (need(u, op == 0x8a ? 1 : 4)) return -1;
            n = read_le(u, op == 0x8a ? 1 : 4);
            if (n > 8) return locus_fail("%s: integer of %llu bytes is too large (pickle byte %zu)", u->where, (unsigned long long)n, u->pos);
            if (need(u, n)) return -1;
            uint64_t x = n ? read_le(u, (int)n) : 0;
            if (n > 0 && n < 8 && (x >> (8 * n - 1)) & 1) x |= ~0ull << (8 * n); /* sign-extend */
            if ((v = new_value(u, PK_INT))) v->i = (int64_t)x;
            break;
        }
        case 'G': { /* BINFLOAT, big-endian */
            if (need(u, 8)) return -1;
            uint64_t bits = 0;
            for (int i = 0; i < 8; i++) bits = bits << 8 | u->data[u->pos++];
            if ((v = new_value(u, PK_FLOAT))) memcpy(&v->f, &bits, 8);
            break;
        }
        case 'X': case 0x8c: case 0x8d: case 'T': case 'U': /* BINUNICODE{,8}, SHORT_BINUNICODE, BINSTRING, SHORT_BINSTRING */
        case 'B': case 'C': case 0x8e: { /* BINBYTES, SHORT_BINBYTES, BINBYTES8 */
            int len = (op == 0x8c || op == 'U' || op == 'C') ? 1 : (op == 0x8d || op == 0x8e) ? 8 : 4;
            if (need(u, (size_t)len)) return -1;
            n = read_le(u, len);
            if (n > u->size) return error_at(u, "string longer than the pickle");
            v = text_value(u, (op == 'B' || op == 'C' || op == 0x8e) ? PK_BYTES : PK_STR, (size_t)n);
            if (!v) return -1;
            break;
        }
        case 'c': { /* GLOBAL "module\nname\n" */
            const char *m = (const char *)u->data + u->pos;
            const char *nl1 = memchr(m, '\n', u->size - u->pos);
            const char *nm = nl1 ? nl1 + 1 : NULL;
            const char *nl2 = nm ? memchr(nm, '\n', (size_t)((const char *)u->data + u->size - nm)) : NULL;
            if (!nl2) return error_at(u, "truncated GLOBAL");
            u->pos = (size_t)(nl2 + 1 - (const char *)u->data);
            if (!(v = global_value(u, m, (size_t)(nl1 - m), nm, (size_t)(nl2 - nm)))) return -1;
            break;
        }
        case 0x93: /* STACK_GLOBAL */
            if (!(b = pop(u)) || !(a = pop(u))) return -1;
            if (a->kind != PK_STR || b->kind != PK_STR) return error_at(u, "STACK_GLOBAL needs two strings");
            if (!(v = global_value(u, a->s, a->len, b->s, b->len))) return -1;
            break;
        case 'q': case 'r': /* BINPUT, LONG_BINPUT */
            if (need(u, op == 'q' ? 1 : 4)) return -1;
            n = read_le(u, op == 'q' ? 1 : 4);
            if (memo_put(u, n, top(u))) return -1;
            continue;
        case 0x94: /* MEMOIZE */
            if (memo_put(u, (uint64_t)u->memo_next++, top(u))) return -1;
            continue;
        case 'h': case 'j': /* BINGET, LONG_BINGET */
            if (need(u, op == 'h' ? 1 : 4)) return -1;
            if (!(v = memo_get(u, read_le(u, op == 'h' ? 1 : 4)))) return -1;
            break;
        case 't': if (!(v = pop_to_mark(u, PK_TUPLE))) return -1; break;
        case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
            int k = op - 0x84;
            if (u->depth < k) return error_at(u, "pickle stack underflow");
            if (!(v = new_value(u, PK_TUPLE))) return locus_fail("%s: out of memory", u->where);
            for (int i = k; i > 0; i--) {
                pk_value *item = u->stack[u->depth - i];
                if (item->kind == PK_MARK || append_item(u, v, item)) return error_at(u, "bad TUPLE operand");
            }
            u->depth -= k;
            break;
        }
        case 'a': /* APPEND */
            if (!(b = pop(u)) || !(a = top(u))) return -1;
            if (a->kind != PK_LIST || append_item(u, a, b)) return error_at(u, "APPEND to a non-list");
            continue;
        case 'e': /* APPENDS */
            if (!(b = pop_to_mark(u, PK_TUPLE)) || !(a = top(u))) return -1;
            if (a->kind != PK_LIST) return error_at(u, "APPENDS to a non-list");
            for (int64_t i = 0; i < b->n; i++)
                if (append_item(u, a, b->items[i])) return -1;
            continue;
        case 's': { /* SETITEM */
            pk_value *val = pop(u), *key = val ? pop(u) : NULL, *d = key ? top(u) : NULL;
            if (!d) return -1;
            if (d->kind != PK_DICT || append_item(u, d, key) || append_item(u, d, val))
                return error_at(u, "SETITEM on a non-dict");
            continue;
        }
        case 'u': /* SETITEMS */
            if (!(b = pop_to_mark(u, PK_TUPLE)) || !(a = top(u)) || set_items(u, a, b)) return -1;
            continue;
        case 'R': /* REDUCE */
            if (!(b = pop(u)) || !(a = pop(u)) || !(v = reduce(u, a, b))) return -1;
            break;
        case 'b': /* BUILD: state for a dict (OrderedDict's _metadata) or a tensor; nothing to apply */
            if (!(b = pop(u)) || !(a = top(u))) return -1;
            if (a->kind != PK_DICT && a->kind != PK_TENSOR) return error_at(u, "BUILD on an unsupported object");
            continue;
        case 'Q': /* BINPERSID */
            if (!(a = pop(u)) || !(v = persistent_load(u, a))) return -1;
            break;
        default: {
            char msg[64];
            snprintf(msg, sizeof msg, "unsupported pickle opcode 0x%02x", op);
            u->pos--;
            return error_at(u, msg);
        }
        }
        if (push(u, v)) return -1;
    }
    return locus_fail("%s: truncated pickle (no STOP)", u->where);
}

pk_value *locus_unpickle(const unsigned char *data, size_t size, const char *where, pk_arena **arena) {
    unpickler u = {.data = data, .size = size, .where = where};
    pk_value *result = NULL;
    int rc = run(&u, &result);
    free(u.stack);
    free(u.memo);
    *arena = u.arena;
    if (rc != 0) {
        locus_pickle_free(u.arena);
        *arena = NULL;
        return NULL;
    }
    return result;
}
