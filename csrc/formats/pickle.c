/* pickle.c — a restricted unpickler for the data.pkl of PyTorch checkpoints and for data pickles.
 *
 * Written by hand because no C library unpickles, and because a checkpoint is untrusted input: a
 * real unpickler imports and calls whatever globals the file names (os.system included). This one
 * is a plain interpreter of the pickle opcodes (protocols 2-5) over a small value type. GLOBAL may
 * only name the handful of callables a state dict needs, and they are interpreted here, never
 * called: REDUCE on _rebuild_tensor_v2 records storage, offset, sizes and strides; OrderedDict()
 * makes a dict. Every other global, and every opcode outside the list, ends the load with an
 * error naming it. A data pickle (locus_unpickle_data: refer's refs(unc).p, written by Python 2)
 * may name no global but _codecs.encode (how Python 3 spells bytes), and may use protocol 0's
 * text opcodes. All memory comes from one
 * arena, freed at once. */
#include "pickle.h"

#include <errno.h>
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
    bool data_only;    /* no globals, no persistent ids */
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
    for (size_t i = 0; (!u->data_only || strcmp(full, "_codecs.encode") == 0) && i < sizeof allowed_globals / sizeof *allowed_globals; i++)
        if (strcmp(full, allowed_globals[i]) == 0) {
            pk_value *v = new_value(u, PK_GLOBAL);
            if (v) v->s = allowed_globals[i];
            return v;
        }
    /* sanitize for the message: the name comes from an untrusted file */
    for (char *c = full; *c; c++)
        if (*c < 32 || *c > 126) *c = '?';
    if (u->data_only)
        return locus_fail_null("%s: refuses the pickle global '%s' (a data pickle may only hold dicts, lists, strings, bytes "
                              "and numbers; locus never imports or calls anything)", u->where, full);
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

/* ---- protocol 0: values written as text lines ------------------------------------------------ */

/* The line at the read position (without its '\n'); the position moves past it. */
static const char *text_line(unpickler *u, size_t *len) {
    const char *start = (const char *)u->data + u->pos;
    const char *nl = memchr(start, '\n', u->size - u->pos);
    if (!nl) return fail(u, "truncated text line"), NULL;
    *len = (size_t)(nl - start);
    u->pos += *len + 1;
    return start;
}

/* A decimal integer line ("I", "L", "p", "g"): optional sign, digits, a trailing 'L' for LONG. */
static int text_int(unpickler *u, int64_t *out) {
    size_t len;
    const char *s = text_line(u, &len);
    if (!s) return -1;
    if (len && s[len - 1] == 'L') len--;
    char buf[32];
    if (len == 0 || len >= sizeof buf) return error_at(u, "integer too large or empty");
    memcpy(buf, s, len);
    buf[len] = '\0';
    char *end;
    errno = 0;
    long long v = strtoll(buf, &end, 10);
    if (*end || errno) return error_at(u, "not a decimal integer");
    *out = v;
    return 0;
}

static int put_utf8(char *out, uint32_t c) {
    if (c < 0x80) return out[0] = (char)c, 1;
    if (c < 0x800) return out[0] = (char)(0xC0 | c >> 6), out[1] = (char)(0x80 | (c & 63)), 2;
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | c >> 12), out[1] = (char)(0x80 | (c >> 6 & 63)), out[2] = (char)(0x80 | (c & 63));
        return 3;
    }
    out[0] = (char)(0xF0 | c >> 18), out[1] = (char)(0x80 | (c >> 12 & 63));
    out[2] = (char)(0x80 | (c >> 6 & 63)), out[3] = (char)(0x80 | (c & 63));
    return 4;
}

static int hex_digits(const char *s, size_t avail, int n, uint32_t *out) {
    if ((size_t)n > avail) return -1;
    uint32_t v = 0;
    for (int i = 0; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v << 4 | (uint32_t)d;
    }
    *out = v;
    return 0;
}

/* STRING: Python 2's repr of a str, quoted, with backslash escapes. Bytes stay bytes. */
static pk_value *text_string(unpickler *u) {
    size_t len;
    const char *s = text_line(u, &len);
    if (!s) return NULL;
    if (len < 2 || (s[0] != '\'' && s[0] != '"') || s[len - 1] != s[0]) return fail(u, "STRING is not quoted");
    s++, len -= 2;
    pk_value *v = new_value(u, PK_STR);
    char *out = v ? arena_alloc(&u->arena, len + 1) : NULL;
    if (!out) return locus_fail_null("%s: out of memory", u->where);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] != '\\') {
            out[n++] = s[i];
            continue;
        }
        if (++i == len) return fail(u, "STRING ends in a backslash");
        static const char escaped[] = "\\\\''\"\"n\nt\tr\ra\ab\bf\fv\v"; /* pairs: escape letter, byte */
        const char *simple = NULL;
        for (const char *e = escaped; *e && !simple; e += 2)
            if (*e == s[i]) simple = e;
        uint32_t c;
        if (simple) {
            out[n++] = simple[1];
        } else if (s[i] == 'x' && hex_digits(s + i + 1, len - i - 1, 2, &c) == 0) {
            out[n++] = (char)c;
            i += 2;
        } else if (s[i] >= '0' && s[i] <= '7') {
            c = 0;
            for (int k = 0; k < 3 && i < len && s[i] >= '0' && s[i] <= '7'; k++, i++) c = c * 8 + (uint32_t)(s[i] - '0');
            i--;
            out[n++] = (char)(c & 0xFF);
        } else {
            out[n++] = '\\', out[n++] = s[i]; /* Python keeps unknown escapes as they are */
        }
    }
    out[n] = '\0';
    v->s = out;
    v->len = n;
    return v;
}

/* UNICODE: raw-unicode-escape (\uXXXX, \UXXXXXXXX; other bytes are Latin-1), made UTF-8. */
static pk_value *text_unicode(unpickler *u) {
    size_t len;
    const char *s = text_line(u, &len);
    if (!s) return NULL;
    pk_value *v = new_value(u, PK_STR);
    char *out = v && len <= SIZE_MAX / 4 ? arena_alloc(&u->arena, 4 * len + 1) : NULL;
    if (!out) return locus_fail_null("%s: out of memory", u->where);
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        uint32_t c = (unsigned char)s[i];
        int digits = 0;
        if (c == '\\' && i + 1 < len) digits = s[i + 1] == 'u' ? 4 : s[i + 1] == 'U' ? 8 : 0;
        if (digits) {
            if (hex_digits(s + i + 2, len - i - 2, digits, &c) || c > 0x10FFFF || (c >= 0xD800 && c < 0xE000))
                return fail(u, "bad \\u escape in UNICODE");
            i += 1 + (size_t)digits;
        }
        n += (size_t)put_utf8(out + n, c);
    }
    out[n] = '\0';
    v->s = out;
    v->len = n;
    return v;
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
            if (u->data_only) return error_at(u, "a data pickle refers to a persistent object");
            if (!(a = pop(u)) || !(v = persistent_load(u, a))) return -1;
            break;
        case 'I': case 'L': { /* INT ("I01"/"I00" are True/False), LONG */
            int64_t x;
            bool maybe_bool = op == 'I' && u->size - u->pos >= 3 && u->data[u->pos] == '0' && u->data[u->pos + 2] == '\n';
            if (text_int(u, &x)) return -1;
            if ((v = new_value(u, maybe_bool ? PK_BOOL : PK_INT))) v->i = x;
            break;
        }
        case 'F': { /* FLOAT as text */
            size_t len;
            const char *s = text_line(u, &len);
            char buf[64], *end;
            if (!s) return -1;
            if (len == 0 || len >= sizeof buf) return error_at(u, "FLOAT too long or empty");
            memcpy(buf, s, len);
            buf[len] = '\0';
            double f = strtod(buf, &end);
            if (*end) return error_at(u, "not a FLOAT");
            if ((v = new_value(u, PK_FLOAT))) v->f = f;
            break;
        }
        case 'S': if (!(v = text_string(u))) return -1; break;
        case 'V': if (!(v = text_unicode(u))) return -1; break;
        case 'p': case 'g': { /* PUT, GET with a decimal index */
            int64_t idx;
            if (text_int(u, &idx)) return -1;
            if (idx < 0) return error_at(u, "negative memo index");
            if (op == 'p') {
                if (memo_put(u, (uint64_t)idx, top(u))) return -1;
                continue;
            }
            if (!(v = memo_get(u, (uint64_t)idx))) return -1;
            break;
        }
        case 'l': if (!(v = pop_to_mark(u, PK_LIST))) return -1; break;
        case 'd': /* DICT from the pairs above the MARK */
            if (!(b = pop_to_mark(u, PK_TUPLE))) return -1;
            if (b->n % 2) return error_at(u, "DICT with an odd number of items");
            if (!(v = new_value(u, PK_DICT))) return locus_fail("%s: out of memory", u->where);
            v->items = b->items, v->n = v->cap = b->n;
            break;
        case '0': /* POP */
            if (u->depth == 0) return error_at(u, "pickle stack underflow");
            u->depth--;
            continue;
        case '1': { /* POP_MARK */
            int64_t m = find_mark(u);
            if (m < 0) return -1;
            u->depth = m;
            continue;
        }
        case '2': if (!(v = top(u))) return -1; break; /* DUP */
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

static pk_value *unpickle(const unsigned char *data, size_t size, const char *where, pk_arena **arena, bool data_only) {
    unpickler u = {.data = data, .size = size, .where = where, .data_only = data_only};
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

pk_value *locus_unpickle(const unsigned char *data, size_t size, const char *where, pk_arena **arena) {
    return unpickle(data, size, where, arena, false);
}

pk_value *locus_unpickle_data(const unsigned char *data, size_t size, const char *where, pk_arena **arena) {
    return unpickle(data, size, where, arena, true);
}
