/* tokenizer.c — LLaMA's SentencePiece BPE tokenizer, from a tokenizer.model file or from GGUF
 * metadata, plus the whole-unit "added tokens" of Hugging Face's slow LlamaTokenizer.
 *
 * Written by hand: Debian's libsentencepiece is C++ and would add a C++ runtime to a C core for
 * one function, and Hugging Face's added-token handling is not part of SentencePiece anyway.
 * What this reproduces:
 *  - tokenizer.model is a protobuf ModelProto; we read pieces (text, score, type), the trainer's
 *    byte_fallback and special ids, and the normalizer's add_dummy_prefix /
 *    remove_extra_whitespaces / escape_whitespaces flags (proto2 defaults when absent).
 *  - encoding as sentencepiece's bpe_model.cc: text normalized (spaces -> U+2581 "▁", a "▁" in
 *    front), split into UTF-8 characters, then the adjacent pair whose concatenation is a piece
 *    with the highest score is merged, repeatedly (ties: leftmost first); symbols that are not
 *    pieces fall back to <0xNN> byte pieces. Control, unknown, byte and unused pieces are never
 *    formed by merging.
 *  - added tokens (HF, transformers 4.31-4.34 with use_fast=False): matched as whole units,
 *    leftmost and longest first, before BPE; the whitespace next to each is stripped (both sides
 *    for plain added tokens; as their lstrip/rstrip flags say for AddedToken specials), and every
 *    remaining chunk is encoded on its own, so it gets its own "▁" prefix. */
#include "../core/internal.h"
#include "../formats/weights.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

enum { PIECE_NORMAL = 1, PIECE_UNKNOWN = 2, PIECE_CONTROL = 3, PIECE_USER = 4, PIECE_UNUSED = 5, PIECE_BYTE = 6 };

typedef struct {
    char *text;
    uint32_t len;
    float score;
    int type;
} piece;

typedef struct {
    char *text;
    uint32_t len;
    int32_t id;
    bool strip_left, strip_right; /* eat the whitespace before / after it */
} added_token;

struct locus_tokenizer {
    piece *pieces;
    int32_t n;
    int32_t *table; /* open addressing: piece ids by text hash, -1 empty */
    uint32_t table_mask;
    int32_t byte_ids[256];
    int32_t bos, eos, unk;
    bool add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces, byte_fallback;
    added_token *added;
    int32_t n_added;
};

/* ---- the piece table -------------------------------------------------------------------------- */

static uint32_t hash(const char *s, size_t n) {
    uint32_t h = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < n; i++) h = (h ^ (uint8_t)s[i]) * 16777619u;
    return h;
}

int32_t locus_tokenizer_id(const locus_tokenizer *t, const char *text, size_t len) {
    if (!t || !text) return -1;
    for (uint32_t i = hash(text, len) & t->table_mask;; i = (i + 1) & t->table_mask) {
        int32_t id = t->table[i];
        if (id < 0) break;
        if (t->pieces[id].len == len && memcmp(t->pieces[id].text, text, len) == 0) return id;
    }
    for (int32_t i = 0; i < t->n_added; i++)
        if (t->added[i].len == len && memcmp(t->added[i].text, text, len) == 0) return t->added[i].id;
    return -1;
}

static int hex_digit(char c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'A' && c <= 'F' ? c - 'A' + 10 : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The byte of a "<0xNN>" piece, or -1. */
static int byte_piece_value(const char *text, size_t len) {
    if (len != 6 || memcmp(text, "<0x", 3) != 0 || text[5] != '>') return -1;
    int hi = hex_digit(text[3]), lo = hex_digit(text[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

static int build_table(locus_tokenizer *t, const char *where) {
    uint32_t size = 1;
    while (size < 2u * (uint32_t)t->n + 1) size <<= 1;
    t->table = malloc(size * sizeof *t->table);
    if (!t->table) return locus_fail("%s: out of memory", where);
    memset(t->table, 0xff, size * sizeof *t->table);
    t->table_mask = size - 1;
    for (int i = 0; i < 256; i++) t->byte_ids[i] = -1;
    for (int32_t id = 0; id < t->n; id++) {
        piece *p = &t->pieces[id];
        uint32_t i = hash(p->text, p->len) & t->table_mask;
        while (t->table[i] >= 0) {
            const piece *q = &t->pieces[t->table[i]];
            if (q->len == p->len && memcmp(q->text, p->text, p->len) == 0)
                return locus_fail("%s: piece %d repeats piece %d", where, id, t->table[i]);
            i = (i + 1) & t->table_mask;
        }
        t->table[i] = id;
        int byte = p->type == PIECE_BYTE ? byte_piece_value(p->text, p->len) : -1;
        if (byte >= 0) t->byte_ids[byte] = id;
    }
    return 0;
}

void locus_tokenizer_free(locus_tokenizer *t) {
    if (!t) return;
    for (int32_t i = 0; i < t->n; i++) free(t->pieces[i].text);
    for (int32_t i = 0; i < t->n_added; i++) free(t->added[i].text);
    free(t->pieces);
    free(t->added);
    free(t->table);
    free(t);
}

static locus_tokenizer *new_tokenizer(int32_t n) {
    locus_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->pieces = calloc((size_t)(n ? n : 1), sizeof *t->pieces);
    if (!t->pieces) {
        free(t);
        return NULL;
    }
    t->bos = t->eos = t->unk = -1;
    t->add_dummy_prefix = t->escape_whitespaces = true;
    return t;
}

static int set_piece(locus_tokenizer *t, int32_t id, const char *text, size_t len, float score, int type) {
    t->pieces[id].text = malloc(len + 1);
    if (!t->pieces[id].text) return -1;
    memcpy(t->pieces[id].text, text, len);
    t->pieces[id].text[len] = '\0';
    t->pieces[id].len = (uint32_t)len;
    t->pieces[id].score = score;
    t->pieces[id].type = type;
    return 0;
}

/* ---- tokenizer.model (protobuf) --------------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} pb;

static bool pb_varint(pb *b, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && b->p < b->end; shift += 7) {
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7f) << shift;
        if (!(c & 0x80)) return true;
    }
    return false;
}

/* Reads one field: its number, wire type, and either a varint/fixed value or a byte range. */
static bool pb_field(pb *b, uint32_t *field, uint32_t *wire, uint64_t *value, pb *sub) {
    uint64_t key;
    if (!pb_varint(b, &key)) return false;
    *field = (uint32_t)(key >> 3);
    *wire = (uint32_t)(key & 7);
    switch (*wire) {
    case 0: return pb_varint(b, value);
    case 1:
    case 5: {
        size_t n = *wire == 1 ? 8 : 4;
        if ((size_t)(b->end - b->p) < n) return false;
        *value = 0;
        for (size_t i = 0; i < n; i++) *value |= (uint64_t)b->p[i] << (8 * i);
        b->p += n;
        return true;
    }
    case 2: {
        uint64_t n;
        if (!pb_varint(b, &n) || n > (uint64_t)(b->end - b->p)) return false;
        sub->p = b->p;
        sub->end = b->p + n;
        b->p += n;
        return true;
    }
    default: return false;
    }
}

static locus_tokenizer *fail_free(locus_tokenizer *t, const char *fmt, const char *path) {
    locus_tokenizer_free(t);
    return locus_fail_null(fmt, path);
}

static locus_tokenizer *parse_model_proto(const uint8_t *data, size_t size, const char *path) {
    if (size == 0) return locus_fail_null("%s: an empty file, not a SentencePiece model", path);
    /* first pass: count the pieces */
    pb b = {data, data + size}, sub;
    uint32_t field, wire;
    uint64_t v;
    int32_t n = 0;
    while (b.p < b.end) {
        if (!pb_field(&b, &field, &wire, &v, &sub)) return locus_fail_null("%s: not a SentencePiece model (bad protobuf)", path);
        if (field == 1 && wire == 2) n++;
    }
    if (n == 0) return locus_fail_null("%s: a SentencePiece model with no pieces", path);
    locus_tokenizer *t = new_tokenizer(n);
    if (!t) return locus_fail_null("%s: out of memory", path);
    t->n = n; /* every slot is freed on failure (unfilled ones are NULL) */
    int model_type = 1;
    b = (pb){data, data + size};
    int32_t id = 0;
    while (b.p < b.end) {
        pb_field(&b, &field, &wire, &v, &sub);
        if (wire != 2) continue;
        pb m = sub, s;
        if (field == 1) { /* SentencePiece { piece = 1; score = 2; type = 3 } */
            const uint8_t *text = NULL;
            size_t len = 0;
            float score = 0;
            int type = PIECE_NORMAL;
            while (m.p < m.end) {
                if (!pb_field(&m, &field, &wire, &v, &s)) return fail_free(t, "%s: corrupt piece in SentencePiece model", path);
                if (field == 1 && wire == 2) {
                    text = s.p;
                    len = (size_t)(s.end - s.p);
                } else if (field == 2 && wire == 5) {
                    uint32_t bits = (uint32_t)v;
                    memcpy(&score, &bits, 4);
                } else if (field == 3 && wire == 0) {
                    type = (int)v;
                }
            }
            if (!text || type < PIECE_NORMAL || type > PIECE_BYTE) return fail_free(t, "%s: piece without text or with a bad type", path);
            if (set_piece(t, id, (const char *)text, len, score, type)) return fail_free(t, "%s: out of memory", path);
            if (type == PIECE_UNKNOWN) t->unk = id;
            id++;
        } else if (field == 2) { /* TrainerSpec: model_type = 3, byte_fallback = 35, unk/bos/eos ids = 40-42 */
            while (m.p < m.end && pb_field(&m, &field, &wire, &v, &s)) {
                if (wire != 0) continue;
                if (field == 3) model_type = (int)v;
                else if (field == 35) t->byte_fallback = v != 0;
                else if (field == 40) t->unk = (int32_t)v;
                else if (field == 41) t->bos = (int32_t)v;
                else if (field == 42) t->eos = (int32_t)v;
            }
        } else if (field == 3) { /* NormalizerSpec: add_dummy_prefix = 3, remove_extra_whitespaces = 4, escape = 5 */
            t->remove_extra_whitespaces = true; /* the proto2 default */
            while (m.p < m.end && pb_field(&m, &field, &wire, &v, &s)) {
                if (wire != 0) continue;
                if (field == 3) t->add_dummy_prefix = v != 0;
                else if (field == 4) t->remove_extra_whitespaces = v != 0;
                else if (field == 5) t->escape_whitespaces = v != 0;
            }
        }
    }
    if (model_type != 2) return fail_free(t, "%s: not a BPE SentencePiece model (LLaMA's tokenizer is BPE)", path);
    t->n = id;
    for (int32_t *sp = &t->bos; sp <= &t->unk; sp++)
        if (*sp >= t->n) *sp = -1;
    if (build_table(t, path)) {
        locus_tokenizer_free(t);
        return NULL;
    }
    return t;
}

locus_tokenizer *locus_tokenizer_load(const char *path) {
    if (!path) return locus_fail_null("tokenizer: path is NULL");
    locus_storage *map = locus_storage_map_file(path);
    if (!map) return NULL;
    locus_tokenizer *t = parse_model_proto(locus_storage_data(map), locus_storage_nbytes(map), path);
    locus_storage_release(map);
    return t;
}

/* ---- GGUF metadata (tokenizer.ggml.*) ---------------------------------------------------------- */

static int32_t meta_id(const cJSON *meta, const char *key) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(meta, key);
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < 2147483647.0 ? (int32_t)v->valuedouble : -1;
}

locus_tokenizer *locus_tokenizer_from_weights(const locus_weights *w) {
    if (!w) return locus_fail_null("tokenizer: no weights");
    const char *where = locus_weights_source(w);
    const cJSON *meta = locus_weights_metadata(w);
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer.ggml.model");
    const cJSON *tokens = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer.ggml.tokens");
    const cJSON *scores = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer.ggml.scores");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer.ggml.token_type");
    if (!cJSON_IsString(model) || !cJSON_IsArray(tokens))
        return locus_fail_null("%s: no tokenizer in the metadata (tokenizer.ggml.model and .tokens)", where);
    if (strcmp(model->valuestring, "llama") != 0)
        return locus_fail_null("%s: tokenizer '%s' is not SentencePiece BPE ('llama')", where, model->valuestring);
    int32_t n = cJSON_GetArraySize(tokens);
    if (n == 0 || (cJSON_IsArray(scores) && cJSON_GetArraySize(scores) != n) || (cJSON_IsArray(types) && cJSON_GetArraySize(types) != n))
        return locus_fail_null("%s: tokenizer tokens, scores and types differ in length", where);
    locus_tokenizer *t = new_tokenizer(n);
    if (!t) return locus_fail_null("%s: out of memory", where);
    t->n = n; /* every slot is freed on failure (unfilled ones are NULL) */
    const cJSON *tok = tokens->child, *sc = cJSON_IsArray(scores) ? scores->child : NULL, *ty = cJSON_IsArray(types) ? types->child : NULL;
    for (int32_t id = 0; id < n; id++, tok = tok->next, sc = sc ? sc->next : NULL, ty = ty ? ty->next : NULL) {
        int type = ty && cJSON_IsNumber(ty) ? (int)ty->valuedouble : PIECE_NORMAL;
        if (!cJSON_IsString(tok) || type < PIECE_NORMAL || type > PIECE_BYTE) return fail_free(t, "%s: a bad tokenizer token", where);
        if (set_piece(t, id, tok->valuestring, strlen(tok->valuestring), sc && cJSON_IsNumber(sc) ? (float)sc->valuedouble : 0.0f, type))
            return fail_free(t, "%s: out of memory", where);
        if (type == PIECE_BYTE) t->byte_fallback = true;
    }
    t->n = n;
    t->bos = meta_id(meta, "tokenizer.ggml.bos_token_id");
    t->eos = meta_id(meta, "tokenizer.ggml.eos_token_id");
    t->unk = meta_id(meta, "tokenizer.ggml.unknown_token_id");
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(meta, "tokenizer.ggml.add_space_prefix");
    if (cJSON_IsBool(prefix)) t->add_dummy_prefix = cJSON_IsTrue(prefix);
    for (int32_t *sp = &t->bos; sp <= &t->unk; sp++)
        if (*sp >= t->n) *sp = -1;
    if (build_table(t, where)) {
        locus_tokenizer_free(t);
        return NULL;
    }
    return t;
}

/* ---- queries ---------------------------------------------------------------------------------- */

int32_t locus_tokenizer_vocab_size(const locus_tokenizer *t) {
    int32_t n = t->n;
    for (int32_t i = 0; i < t->n_added; i++)
        if (t->added[i].id >= n) n = t->added[i].id + 1;
    return n;
}

int32_t locus_tokenizer_bos(const locus_tokenizer *t) { return t->bos; }
int32_t locus_tokenizer_eos(const locus_tokenizer *t) { return t->eos; }
int32_t locus_tokenizer_unk(const locus_tokenizer *t) { return t->unk; }

const char *locus_tokenizer_piece(const locus_tokenizer *t, int32_t id, size_t *len) {
    for (int32_t i = 0; i < t->n_added; i++)
        if (t->added[i].id == id) {
            *len = t->added[i].len;
            return t->added[i].text;
        }
    if (id < 0 || id >= t->n) return locus_fail_null("tokenizer: id %d is outside the vocabulary (%d pieces)", id, t->n);
    *len = t->pieces[id].len;
    return t->pieces[id].text;
}

int32_t locus_tokenizer_pieces(const locus_tokenizer *t) { return t->n; }

int locus_tokenizer_piece_info(const locus_tokenizer *t, int32_t id, float *score, int32_t *type) {
    if (id < 0 || id >= t->n) return locus_fail("tokenizer: id %d is not one of the %d pieces", id, t->n);
    *score = t->pieces[id].score;
    *type = t->pieces[id].type;
    return 0;
}

int locus_tokenizer_adds_space_prefix(const locus_tokenizer *t) { return t->add_dummy_prefix; }

int locus_tokenizer_add_token(locus_tokenizer *t, const char *text, int32_t id, int strip_left, int strip_right) {
    size_t len = text ? strlen(text) : 0;
    if (len == 0) return locus_fail("tokenizer: an added token must not be empty");
    if (id < 0) return locus_fail("tokenizer: added token '%s' has a negative id", text);
    if (id < t->n && !(t->pieces[id].len == len && memcmp(t->pieces[id].text, text, len) == 0))
        return locus_fail("tokenizer: added token '%s' would take id %d, which is the piece '%s'", text, id, t->pieces[id].text);
    for (int32_t i = 0; i < t->n_added; i++) {
        bool same_text = t->added[i].len == len && memcmp(t->added[i].text, text, len) == 0;
        if (t->added[i].id == id && same_text) return 0; /* already there */
        if (t->added[i].id == id || same_text)
            return locus_fail("tokenizer: added token '%s' (%d) clashes with '%s' (%d)", text, id, t->added[i].text, t->added[i].id);
    }
    added_token *grown = realloc(t->added, (size_t)(t->n_added + 1) * sizeof *grown);
    if (!grown) return locus_fail("tokenizer: out of memory");
    t->added = grown;
    char *copy = malloc(len + 1);
    if (!copy) return locus_fail("tokenizer: out of memory");
    memcpy(copy, text, len + 1);
    t->added[t->n_added++] = (added_token){copy, (uint32_t)len, id, strip_left != 0, strip_right != 0};
    return 0;
}

/* ---- encoding --------------------------------------------------------------------------------- */

typedef struct {
    int64_t n, cap;
    int32_t *ids;
    bool oom;
} id_list;

static void emit(id_list *out, int32_t id) {
    if (out->n < out->cap) out->ids[out->n] = id;
    out->n++;
}

typedef struct {
    int32_t prev, next; /* linked list of live symbols */
    const char *text;
    uint32_t len;       /* 0: merged away */
} symbol;

typedef struct {
    int32_t left, right;
    float score;
    uint32_t len; /* the merged length when queued, to detect stale entries */
} bigram;

/* max-heap: higher score first, then the leftmost */
static bool before(const bigram *a, const bigram *b) { return a->score > b->score || (a->score == b->score && a->left < b->left); }

typedef struct {
    bigram *items;
    int64_t n, cap;
} heap;

static bool heap_push(heap *h, bigram b) {
    if (h->n == h->cap) {
        int64_t cap = h->cap ? 2 * h->cap : 64;
        bigram *grown = realloc(h->items, (size_t)cap * sizeof *grown);
        if (!grown) return false;
        h->items = grown;
        h->cap = cap;
    }
    int64_t i = h->n++;
    while (i > 0 && before(&b, &h->items[(i - 1) / 2])) {
        h->items[i] = h->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h->items[i] = b;
    return true;
}

static bigram heap_pop(heap *h) {
    bigram top = h->items[0], last = h->items[--h->n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= h->n) break;
        if (c + 1 < h->n && before(&h->items[c + 1], &h->items[c])) c++;
        if (!before(&h->items[c], &last)) break;
        h->items[i] = h->items[c];
        i = c;
    }
    if (h->n) h->items[i] = last;
    return top;
}

static bool mergeable(const locus_tokenizer *t, int32_t id) {
    return id >= 0 && id < t->n && (t->pieces[id].type == PIECE_NORMAL || t->pieces[id].type == PIECE_USER);
}

static void try_pair(const locus_tokenizer *t, const symbol *s, int32_t left, int32_t right, heap *h, bool *oom) {
    if (left < 0 || right < 0) return;
    /* adjacent symbols are adjacent in the text, so their concatenation is a slice of it */
    uint32_t len = s[left].len + s[right].len;
    int32_t id = locus_tokenizer_id(t, s[left].text, len);
    if (!mergeable(t, id)) return;
    if (!heap_push(h, (bigram){left, right, t->pieces[id].score, len})) *oom = true;
}

static int utf8_len(uint8_t c) {
    if (c < 0x80) return 1;
    if ((c & 0xe0) == 0xc0) return 2;
    if ((c & 0xf0) == 0xe0) return 3;
    if ((c & 0xf8) == 0xf0) return 4;
    return 1; /* a stray continuation or invalid byte stands alone (and falls back to its byte) */
}

/* BPE over one normalized chunk. */
static int bpe(const locus_tokenizer *t, const char *text, size_t n, id_list *out) {
    if (n == 0) return 0;
    symbol *s = malloc(n * sizeof *s);
    heap h = {0};
    bool oom = !s;
    int32_t count = 0;
    for (size_t i = 0; !oom && i < n; count++) {
        uint32_t len = (uint32_t)utf8_len((uint8_t)text[i]);
        if (len > n - i) len = (uint32_t)(n - i);
        s[count] = (symbol){count - 1, -1, text + i, len};
        if (count > 0) s[count - 1].next = count;
        i += len;
    }
    for (int32_t i = 1; !oom && i < count; i++) try_pair(t, s, i - 1, i, &h, &oom);
    while (!oom && h.n > 0) {
        bigram b = heap_pop(&h);
        symbol *l = &s[b.left], *r = &s[b.right];
        if (l->len == 0 || r->len == 0 || l->len + r->len != b.len || l->next != b.right) continue; /* stale */
        l->len += r->len;
        r->len = 0;
        l->next = r->next;
        if (r->next >= 0) s[r->next].prev = b.left;
        try_pair(t, s, l->prev, b.left, &h, &oom);
        try_pair(t, s, b.left, l->next, &h, &oom);
    }
    for (int32_t i = 0; !oom && i >= 0 && count > 0; i = s[i].next) {
        int32_t id = locus_tokenizer_id(t, s[i].text, s[i].len);
        if (id >= 0 && id < t->n && t->pieces[id].type != PIECE_UNUSED) {
            emit(out, id);
        } else if (t->byte_fallback) {
            for (uint32_t k = 0; k < s[i].len; k++) {
                int32_t bid = t->byte_ids[(uint8_t)s[i].text[k]];
                emit(out, bid >= 0 ? bid : t->unk);
            }
        } else {
            emit(out, t->unk);
        }
    }
    free(s);
    free(h.items);
    return oom ? locus_fail("tokenizer: out of memory") : 0;
}

static bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

/* SentencePiece's normalization of one chunk, then BPE. */
static int encode_chunk(const locus_tokenizer *t, const char *text, size_t n, id_list *out) {
    if (t->remove_extra_whitespaces) { /* trim the ends, collapse inner runs of spaces */
        while (n > 0 && text[0] == ' ') text++, n--;
        while (n > 0 && text[n - 1] == ' ') n--;
    }
    if (n == 0) return 0;
    char *buf = malloc(3 * n + 4); /* each space may become the 3-byte "▁" */
    if (!buf) return locus_fail("tokenizer: out of memory");
    size_t m = 0;
    if (t->add_dummy_prefix) {
        memcpy(buf, t->escape_whitespaces ? "\xe2\x96\x81" : " ", t->escape_whitespaces ? 3 : 1);
        m = t->escape_whitespaces ? 3 : 1;
    }
    for (size_t i = 0; i < n; i++) {
        if (text[i] == ' ') {
            if (t->remove_extra_whitespaces && i > 0 && text[i - 1] == ' ') continue;
            if (t->escape_whitespaces) {
                memcpy(buf + m, "\xe2\x96\x81", 3);
                m += 3;
                continue;
            }
        }
        buf[m++] = text[i];
    }
    int rc = bpe(t, buf, m, out);
    free(buf);
    return rc;
}

/* Python's str.isspace for one UTF-8 character at s (n bytes left); returns its length or 0. */
static int unicode_space(const char *s, size_t n) {
    const uint8_t *u = (const uint8_t *)s;
    if (is_ascii_space(s[0]) || (u[0] >= 0x1c && u[0] <= 0x1f)) return 1;
    if (n >= 2 && u[0] == 0xc2 && (u[1] == 0x85 || u[1] == 0xa0)) return 2;
    if (n >= 3 && u[0] == 0xe1 && u[1] == 0x9a && u[2] == 0x80) return 3;                 /* U+1680 */
    if (n >= 3 && u[0] == 0xe2 && u[1] == 0x80 && (u[2] <= 0x8a || u[2] == 0xa8 || u[2] == 0xa9 || u[2] == 0xaf))
        return 3;                                                                            /* U+2000-200A, 2028, 2029, 202F */
    if (n >= 3 && u[0] == 0xe2 && u[1] == 0x81 && u[2] == 0x9f) return 3;                 /* U+205F */
    if (n >= 3 && u[0] == 0xe3 && u[1] == 0x80 && u[2] == 0x80) return 3;                 /* U+3000 */
    return 0;
}

static void strip_left(const char **s, size_t *n) {
    int k;
    while (*n > 0 && (k = unicode_space(*s, *n)) > 0) *s += k, *n -= (size_t)k;
}

static void strip_right(const char *s, size_t *n) {
    while (*n > 0) {
        size_t start = *n - 1; /* back up to the start of the last character */
        while (start > 0 && ((uint8_t)s[start] & 0xc0) == 0x80 && *n - start < 4) start--;
        if (unicode_space(s + start, *n - start) != (int)(*n - start)) break;
        *n = start;
    }
}

/* The leftmost, then longest, added token at or after `from`. */
/* whether bytes [from, to) meet one of the plain ranges (pairs of [start, end) offsets) */
static bool meets_plain(const int64_t *plain, int64_t n_plain, size_t from, size_t to) {
    for (int64_t r = 0; r < n_plain; r++)
        if ((int64_t)from < plain[2 * r + 1] && (int64_t)to > plain[2 * r]) return true;
    return false;
}

static const added_token *next_added(const locus_tokenizer *t, const char *text, size_t n, size_t from, size_t *at,
                                     const int64_t *plain, int64_t n_plain) {
    for (size_t i = from; i < n; i++) {
        const added_token *best = NULL;
        for (int32_t k = 0; k < t->n_added; k++) {
            const added_token *a = &t->added[k];
            if (a->len <= n - i && memcmp(text + i, a->text, a->len) == 0 && (!best || a->len > best->len) &&
                !meets_plain(plain, n_plain, i, i + a->len))
                best = a;
        }
        if (best) {
            *at = i;
            return best;
        }
    }
    return NULL;
}

int64_t locus_tokenizer_encode(const locus_tokenizer *t, const char *text, size_t n, int add_bos, int32_t *ids, int64_t cap) {
    return locus_tokenizer_encode_plain(t, text, n, add_bos, NULL, 0, ids, cap);
}

int64_t locus_tokenizer_encode_plain(const locus_tokenizer *t, const char *text, size_t n, int add_bos, const int64_t *plain,
                                     int64_t n_plain, int32_t *ids, int64_t cap) {
    if (!t || (!text && n) || n_plain < 0 || (n_plain > 0 && !plain)) return locus_fail("tokenizer: NULL argument");
    for (int64_t r = 0; r < n_plain; r++)
        if (plain[2 * r] < 0 || plain[2 * r] > plain[2 * r + 1] || plain[2 * r + 1] > (int64_t)n)
            return locus_fail("tokenizer: plain range [%lld, %lld) is not within the text's %zu bytes",
                              (long long)plain[2 * r], (long long)plain[2 * r + 1], n);
    id_list out = {0, ids ? cap : 0, ids, false};
    if (add_bos && t->bos >= 0) emit(&out, t->bos);
    const char *chunk = text;
    size_t pos = 0, at;
    bool strip_next = false;
    for (;;) {
        const added_token *a = t->n_added ? next_added(t, text, n, pos, &at, plain, n_plain) : NULL;
        size_t end = a ? at : n, len = end - (size_t)(chunk - text);
        if (strip_next) strip_left(&chunk, &len);
        if (a && a->strip_left) strip_right(chunk, &len);
        if (encode_chunk(t, chunk, len, &out)) return -1;
        if (!a) break;
        emit(&out, a->id);
        pos = at + a->len;
        chunk = text + pos;
        strip_next = a->strip_right;
    }
    return out.n;
}

/* ---- decoding --------------------------------------------------------------------------------- */

int64_t locus_tokenizer_decode(const locus_tokenizer *t, const int32_t *ids, int64_t n, int strip_leading_space, char *buf,
                              int64_t cap) {
    int64_t m = 0;
    bool stripped = false;
#define PUT(p, k)                                                                                 \
    do {                                                                                          \
        for (size_t q_ = 0; q_ < (size_t)(k); q_++) {                                             \
            if (m < cap) buf[m] = (p)[q_];                                                        \
            m++;                                                                                  \
        }                                                                                         \
    } while (0)
    for (int64_t i = 0; i < n; i++) {
        int32_t id = ids[i];
        if (id < 0 || id >= t->n) { /* beyond the pieces: an added token, or an error */
            size_t len;
            const char *p = locus_tokenizer_piece(t, id, &len);
            if (!p) return -1;
            PUT(p, len);
            continue;
        }
        const piece *pc = &t->pieces[id];
        if (pc->type == PIECE_CONTROL) continue;
        if (pc->type == PIECE_UNKNOWN) {
            PUT(" \xe2\x81\x87 ", 5); /* sentencepiece's surface for <unk>: " ⁇ " */
            continue;
        }
        if (pc->type == PIECE_BYTE) {
            int byte = byte_piece_value(pc->text, pc->len);
            if (byte >= 0) {
                char c = (char)byte;
                PUT(&c, 1);
            }
            continue;
        }
        for (size_t k = 0; k < pc->len; k++) {
            if (k + 3 <= pc->len && memcmp(pc->text + k, "\xe2\x96\x81", 3) == 0) { /* "▁" is a space */
                if (!(strip_leading_space && m == 0 && k == 0 && !stripped)) PUT(" ", 1);
                stripped = true; /* only the dummy prefix: the first "▁" of the first piece */
                k += 2;
            } else {
                PUT(pc->text + k, 1);
            }
        }
    }
#undef PUT
    if (m < cap) buf[m] = '\0';
    return m;
}
