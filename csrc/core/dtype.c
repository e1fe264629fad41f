/* dtype.c — element types: names, sizes, and scalar conversions. */
#include "internal.h"

#include <math.h>

static const struct {
    const char *name;
    int block;        /* elements per block */
    size_t bytes;     /* bytes per block */
} dtypes[LOCUS_DTYPE_COUNT] = {
    [LOCUS_F32] = {"f32", 1, 4},     [LOCUS_F16] = {"f16", 1, 2},    [LOCUS_BF16] = {"bf16", 1, 2},
    [LOCUS_I8] = {"i8", 1, 1},       [LOCUS_U8] = {"u8", 1, 1},      [LOCUS_I32] = {"i32", 1, 4},
    [LOCUS_I64] = {"i64", 1, 8},     [LOCUS_BOOL] = {"bool", 1, 1},  [LOCUS_Q8_0] = {"q8_0", 32, 34},
    [LOCUS_Q4_0] = {"q4_0", 32, 18},  [LOCUS_Q4_K] = {"q4_k", 256, 144}, [LOCUS_Q5_K] = {"q5_k", 256, 176},
    [LOCUS_Q6_K] = {"q6_k", 256, 210},
};

const char *locus_dtype_name(int dt) {
    return dt >= 0 && dt < LOCUS_DTYPE_COUNT ? dtypes[dt].name : NULL;
}

int locus_dtype_from_name(const char *name) {
    for (int i = 0; name && i < LOCUS_DTYPE_COUNT; i++)
        if (strcmp(name, dtypes[i].name) == 0) return i;
    return -1;
}

size_t locus_dtype_size(int dt) {
    return dt >= 0 && dt < LOCUS_DTYPE_COUNT && dtypes[dt].block == 1 ? dtypes[dt].bytes : 0;
}

int locus_dtype_block(int dt) { return dt >= 0 && dt < LOCUS_DTYPE_COUNT ? dtypes[dt].block : 0; }

size_t locus_dtype_block_bytes(int dt) { return dt >= 0 && dt < LOCUS_DTYPE_COUNT ? dtypes[dt].bytes : 0; }

float locus_bf16_to_f32(uint16_t h) { return bf16_to_f32(h); }
uint16_t locus_f32_to_bf16(float f) { return f32_to_bf16(f); }

/* IEEE half <-> float in plain C (the vector kernels use F16C / AVX-512 instead). */
float locus_half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, mant = h & 0x3ff, u;
    if (exp == 0) {
        if (mant == 0) {
            u = sign;
        } else { /* subnormal: normalize */
            int e = -1;
            do {
                e++;
                mant <<= 1;
            } while (!(mant & 0x400));
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | ((mant & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (mant << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (mant << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t locus_float_to_half(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t absu = u & 0x7fffffffu;
    if (absu > 0x7f800000u) return sign | 0x7e00; /* NaN */
    if (absu >= 0x477ff000u) return sign | 0x7c00; /* rounds to >= 65520: infinity */
    if (absu < 0x38800000u) { /* below the smallest normal half: subnormal or zero */
        float a;
        memcpy(&a, &absu, 4);
        /* scale so the subnormal unit (2^-24) becomes 1; rint rounds to nearest even */
        return sign | (uint16_t)rintf(a * 16777216.0f);
    }
    uint32_t mant_round = absu + 0xfffu + ((absu >> 13) & 1u); /* nearest even at bit 13 */
    return sign | (uint16_t)((mant_round - 0x38000000u) >> 13);
}

float locus_f16_to_f32(uint16_t h) { return locus_half_to_float(h); }
uint16_t locus_f32_to_f16(float f) { return locus_float_to_half(f); }

double locus_load_elem(const void *p, int dt) {
    switch (dt) {
    case LOCUS_F32: return *(const float *)p;
    case LOCUS_F16: return locus_half_to_float(*(const uint16_t *)p);
    case LOCUS_BF16: return bf16_to_f32(*(const uint16_t *)p);
    case LOCUS_I8: return *(const int8_t *)p;
    case LOCUS_U8: return *(const uint8_t *)p;
    case LOCUS_I32: return *(const int32_t *)p;
    case LOCUS_I64: return (double)*(const int64_t *)p;
    case LOCUS_BOOL: return *(const uint8_t *)p ? 1.0 : 0.0;
    }
    return NAN;
}

/* Integer stores saturate and map NaN to 0 instead of invoking undefined behaviour. */
static int64_t saturate(double v, double lo, double hi) {
    if (isnan(v)) return 0;
    if (v <= lo) return (int64_t)lo;
    if (v >= hi) return (int64_t)hi;
    return (int64_t)v;
}

void locus_store_elem(void *p, int dt, double v) {
    switch (dt) {
    case LOCUS_F32: *(float *)p = (float)v; break;
    case LOCUS_F16: *(uint16_t *)p = locus_float_to_half((float)v); break;
    case LOCUS_BF16: *(uint16_t *)p = f32_to_bf16((float)v); break;
    case LOCUS_I8: *(int8_t *)p = (int8_t)saturate(v, -128, 127); break;
    case LOCUS_U8: *(uint8_t *)p = (uint8_t)saturate(v, 0, 255); break;
    case LOCUS_I32: *(int32_t *)p = (int32_t)saturate(v, -2147483648.0, 2147483647.0); break;
    case LOCUS_I64: *(int64_t *)p = saturate(v, -9223372036854775808.0, 9223372036854774784.0); break;
    case LOCUS_BOOL: *(uint8_t *)p = v != 0; break;
    }
}
