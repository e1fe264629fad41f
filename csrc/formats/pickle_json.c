/* pickle_json.c — a data pickle (refer's refs(unc).p) as JSON text, for Lua to decode.
 *
 * The value tree of locus_unpickle_data is written out depth first: dicts become objects (string
 * keys as they are, integer, boolean and None keys spelled as Python's json.dumps spells them),
 * lists and tuples arrays, str and bytes strings. Python 2's str is bytes: valid UTF-8 passes
 * through, anything else is read as Latin-1, as pickle.load(..., encoding="latin1") would. The memo
 * lets a pickle refer to one value many times, or to itself, so the output is bounded: nesting
 * beyond MAX_DEPTH and text beyond 64 bytes per input byte (plus 64 MB) are refused. */
#include "pickle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum { MAX_DEPTH = 256 };

typedef struct {
    char *text;
    size_t len, cap, limit;
    const char *where;
} json_out;

static int grow(json_out *o, size_t more) {
    if (more > o->limit - o->len)
        return locus_fail("%s: the pickle's data would be more than %zu MB as JSON (it refers to the same values "
                          "over and over)", o->where, o->limit >> 20);
    if (o->len + more + 1 <= o->cap) return 0;
    size_t cap = o->cap ? o->cap : 4096;
    while (cap < o->len + more + 1) cap *= 2;
    char *grown = realloc(o->text, cap);
    if (!grown) return locus_fail("%s: out of memory", o->where);
    o->text = grown;
    o->cap = cap;
    return 0;
}

static int put(json_out *o, const char *s, size_t n) {
    if (grow(o, n)) return -1;
    memcpy(o->text + o->len, s, n);
    o->len += n;
    o->text[o->len] = '\0';
    return 0;
}

/* Length of the UTF-8 sequence at s (1-4), or 0 if it is not one. */
static int utf8_length(const unsigned char *s, size_t avail) {
    int n = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)n > avail) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    return n;
}

static bool is_utf8(const unsigned char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        int n = utf8_length(s + i, len - i);
        if (!n) return false;
        i += (size_t)n;
    }
    return true;
}

static int put_string(json_out *o, const char *s, size_t len) {
    const unsigned char *b = (const unsigned char *)s;
    bool latin1 = !is_utf8(b, len);
    if (put(o, "\"", 1)) return -1;
    for (size_t i = 0; i < len; i++) {
        char buf[8];
        unsigned c = b[i];
        int n;
        if (c == '"' || c == '\\') n = snprintf(buf, sizeof buf, "\\%c", c);
        else if (c < 0x20) n = snprintf(buf, sizeof buf, "\\u%04x", c);
        else if (c >= 0x80 && latin1) buf[0] = (char)(0xC0 | c >> 6), buf[1] = (char)(0x80 | (c & 63)), n = 2;
        else buf[0] = (char)c, n = 1;
        if (put(o, buf, (size_t)n)) return -1;
    }
    return put(o, "\"", 1);
}

static const char *kind_name(pk_kind k) {
    static const char *names[] = {"None", "bool", "int", "float", "str", "bytes", "tuple", "list", "dict",
                                  "global", "storage", "tensor", "mark"};
    return names[k];
}

static int put_value(json_out *o, const pk_value *v, int depth);

static int put_key(json_out *o, const pk_value *k) {
    char buf[32];
    switch (k->kind) {
    case PK_STR: case PK_BYTES: return put_string(o, k->s, k->len);
    case PK_INT: snprintf(buf, sizeof buf, "%lld", (long long)k->i); return put_string(o, buf, strlen(buf));
    case PK_BOOL: return put_string(o, k->i ? "true" : "false", k->i ? 4 : 5);
    case PK_NONE: return put_string(o, "null", 4);
    default: return locus_fail("%s: a dict key is a %s (keys may be strings, integers, booleans or None)", o->where,
                               kind_name(k->kind));
    }
}

static int put_value(json_out *o, const pk_value *v, int depth) {
    char buf[40];
    if (depth > MAX_DEPTH)
        return locus_fail("%s: the pickle's data nests deeper than %d levels (or holds itself)", o->where, MAX_DEPTH);
    switch (v->kind) {
    case PK_NONE: return put(o, "null", 4);
    case PK_BOOL: return v->i ? put(o, "true", 4) : put(o, "false", 5);
    case PK_INT: return put(o, buf, (size_t)snprintf(buf, sizeof buf, "%lld", (long long)v->i));
    case PK_FLOAT: /* JSON has no NaN or infinity */
        if (!isfinite(v->f)) return put(o, "null", 4);
        return put(o, buf, (size_t)snprintf(buf, sizeof buf, "%.17g", v->f));
    case PK_STR: case PK_BYTES: return put_string(o, v->s, v->len);
    case PK_TUPLE: case PK_LIST:
        if (put(o, "[", 1)) return -1;
        for (int64_t i = 0; i < v->n; i++)
            if ((i && put(o, ",", 1)) || put_value(o, v->items[i], depth + 1)) return -1;
        return put(o, "]", 1);
    case PK_DICT:
        if (put(o, "{", 1)) return -1;
        for (int64_t i = 0; i + 1 < v->n; i += 2)
            if ((i && put(o, ",", 1)) || put_key(o, v->items[i]) || put(o, ":", 1) || put_value(o, v->items[i + 1], depth + 1))
                return -1;
        return put(o, "}", 1);
    default: return locus_fail("%s: the pickle holds a %s, not data", o->where, kind_name(v->kind));
    }
}

char *locus_pickle_json(const char *path, size_t *len) {
    if (!path) return locus_fail_null("pickle: path is NULL");
    locus_storage *file = locus_storage_map_file(path);
    if (!file) return NULL;
    size_t size = locus_storage_nbytes(file);
    pk_arena *arena = NULL;
    if (size >= 4 && memcmp(locus_storage_data(file), "PK\3\4", 4) == 0) {
        locus_storage_release(file);
        return locus_fail_null("%s: is a zip archive (a PyTorch checkpoint?), not a pickle", path);
    }
    pk_value *root = locus_unpickle_data(locus_storage_data(file), size, path, &arena);
    json_out o = {.where = path, .limit = size < (SIZE_MAX >> 7) ? 64 * size + (64u << 20) : SIZE_MAX / 2};
    int rc = root ? put_value(&o, root, 0) : -1;
    locus_pickle_free(arena);
    locus_storage_release(file);
    if (rc) {
        free(o.text);
        return NULL;
    }
    if (len) *len = o.len;
    return o.text;
}

void locus_text_free(char *text) { free(text); }
