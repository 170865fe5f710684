// The low-rank update of a LoRA adapter, y += scale · B·(A·x), with the arithmetic llama.cpp's CPU backend uses
// for the two F32 (or F16) products of build_lora_mm: tinyBLAS (one 16-lane fused accumulator per output, then
// the AVX-512 reduction) for a batch of two or more tokens when the inner length is a multiple of 16 and the
// rows a multiple of 4; else ggml_vec_dot_f32 (four 16-lane fused accumulators over 64-value steps, their
// reduction, unfused scalar leftovers in float) or ggml_vec_dot_f16 (the same, leftovers summed in double).
// The product is scaled, then added: two roundings, as ggml_scale and ggml_add. Measured bit-exact against
// llama-cpp-python 0.3.36 on this machine's AVX-512 build.
//
// A and B are read as f32 or as f16 (F16 adapters stay f16 in memory and are widened in registers: f16 → f32 is
// exact, so the arithmetic is the same as on their f32 copies). Bᵀ is stored in panels of `panel` outputs: panel
// p holds, for each of the rank values, the panel's outputs contiguously, so a panel of 16 is read front to back.
#include "CInferenceKernels.h"
#include <math.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#pragma clang fp contract(off)

static inline float half_round(float x) {
    _Float16 h = (_Float16)x;
    return (float)h;
}

static inline float half_value(uint16_t bits) {
    _Float16 h;
    memcpy(&h, &bits, 2);
    return (float)h;
}

/* Element i of a row stored as f32 or f16. */
static inline float stored(const void *p, int f16, size_t i) {
    return f16 ? half_value(((const uint16_t *)p)[i]) : ((const float *)p)[i];
}

static inline const void *advance(const void *p, int f16, size_t count) {
    return (const char *)p + count * (f16 ? 2 : 4);
}

/* _mm512_reduce_add_ps's order: halves, quarters, then (0+2) + (1+3). */
static inline float reduce16(const float lanes[16]) {
    float t8[8], t4[4];
    for (int k = 0; k < 8; k++) t8[k] = lanes[k + 8] + lanes[k];
    for (int k = 0; k < 4; k++) t4[k] = t8[k + 4] + t8[k];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

static float dot_tiny_portable(const void *a, int a_f16, const float *b, int n) {
    float lanes[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int k = 0; k < 16; k++) lanes[k] = fmaf(stored(a, a_f16, i + k), b[i + k], lanes[k]);
    return reduce16(lanes);
}

/* ggml_vec_dot_f32 (half = 0) or ggml_vec_dot_f16 (half = 1, values already halves) on AVX-512. */
static float dot_vec_portable(const void *a, int a_f16, const float *b, int n, int half) {
    const int np = n & ~63;
    float s[4][16] = {{0}};
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 16; k++)
                s[j][k] = fmaf(stored(a, a_f16, i + 16 * j + k), b[i + 16 * j + k], s[j][k]);
    float x[16];
    for (int k = 0; k < 16; k++) x[k] = (s[0][k] + s[2][k]) + (s[1][k] + s[3][k]);
    const float reduced = reduce16(x);
    if (half) {
        double sum = (double)reduced;
        for (int i = np; i < n; i++) sum += (double)(stored(a, a_f16, i) * b[i]);
        return (float)sum;
    }
    float sum = reduced;
    for (int i = np; i < n; i++) {
        const float product = stored(a, a_f16, i) * b[i];
        sum = sum + product;
    }
    return sum;
}

#if defined(__x86_64__)
#define LORA512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c")))

/* 16 values from a row stored as f32 or f16, widened to f32. */
LORA512 static inline __m512 load16(const void *p, int f16, size_t i) {
    if (f16) return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)p + i)));
    return _mm512_loadu_ps((const float *)p + i);
}

LORA512 static inline float reduce512(__m512 a) {
    const __m256 t3 = _mm256_add_ps(_mm512_extractf32x8_ps(a, 1), _mm512_extractf32x8_ps(a, 0));
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_extractf128_ps(t3, 0));
    const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, 1));
}

LORA512 static float dot_vec_512(const void *a, int a_f16, const float *b, int n, int half) {
    const int np = n & ~63;
    __m512 s[4];
    for (int j = 0; j < 4; j++) s[j] = _mm512_setzero_ps();
    if (a_f16) {
        for (int i = 0; i < np; i += 64)
            for (int j = 0; j < 4; j++)
                s[j] = _mm512_fmadd_ps(load16(a, 1, i + 16 * j), _mm512_loadu_ps(b + i + 16 * j), s[j]);
    } else {
        for (int i = 0; i < np; i += 64)
            for (int j = 0; j < 4; j++)
                s[j] = _mm512_fmadd_ps(load16(a, 0, i + 16 * j), _mm512_loadu_ps(b + i + 16 * j), s[j]);
    }
    s[0] = _mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
    const float reduced = reduce512(s[0]);
    if (half) {
        double sum = (double)reduced;
        for (int i = np; i < n; i++) sum += (double)(stored(a, a_f16, i) * b[i]);
        return (float)sum;
    }
    float sum = reduced;
    for (int i = np; i < n; i++) {
        const float product = stored(a, a_f16, i) * b[i];
        sum = sum + product;
    }
    return sum;
}

LORA512 static float dot_tiny_512(const void *a, int a_f16, const float *b, int n) {
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < n; i += 16) acc = _mm512_fmadd_ps(load16(a, a_f16, i), _mm512_loadu_ps(b + i), acc);
    return reduce512(acc);
}

/* Rounds n floats to f16 and back (round to nearest even, as a cast). */
LORA512 static void half_round_512(const float *in, float *out, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm512_cvtps_ph(_mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT |
                                                                                            _MM_FROUND_NO_EXC)));
    for (; i < n; i++) out[i] = half_round(in[i]);
}

LORA512 static void prefetch_512(const void *p, size_t bytes) {
    const char *c = (const char *)p;
    for (size_t i = 0; i < bytes; i += 64) _mm_prefetch(c + i, _MM_HINT_T1);
}

static int lora_has_avx512(void) {
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("fma") &&
                 __builtin_cpu_supports("f16c");
    return cached;
}
#endif

/* tiny: llamafile_sgemm serves the product (a batch of two or more tokens, k a multiple of 16, m of 4). */
static inline float lora_dot(const void *a, int a_f16, const float *b, int n, int half, int tiny) {
#if defined(__x86_64__)
    if (lora_has_avx512()) return tiny ? dot_tiny_512(a, a_f16, b, n) : dot_vec_512(a, a_f16, b, n, half);
#endif
    return tiny ? dot_tiny_portable(a, a_f16, b, n) : dot_vec_portable(a, a_f16, b, n, half);
}

#if defined(__x86_64__)
/* B·m for 16 outputs at a time of one panel (width outputs, rank rows `width` apart), in lora_dot's order for each
 * output (rank < 64): tinyBLAS's sixteen fused lanes and their reduction, or ggml_vec_dot's in-order leftovers
 * (float, or double for F16). Returns how many outputs it computed. */
LORA512 static int up_products_512(const void *bt, int b_f16, int rank, int width, const float *m, int half,
                                   int tiny, float *out) {
    int i = 0;
    for (; i + 16 <= width; i += 16) {
        if (tiny) {
            __m512 lanes[16];
            for (int l = 0; l < 16; l++) lanes[l] = _mm512_setzero_ps();
            for (int s = 0; s < rank; s += 16)
                for (int l = 0; l < 16; l++)
                    lanes[l] = _mm512_fmadd_ps(load16(bt, b_f16, (size_t)(s + l) * width + i),
                                               _mm512_set1_ps(m[s + l]), lanes[l]);
            __m512 t8[8], t4[4];
            for (int k = 0; k < 8; k++) t8[k] = _mm512_add_ps(lanes[k + 8], lanes[k]);
            for (int k = 0; k < 4; k++) t4[k] = _mm512_add_ps(t8[k + 4], t8[k]);
            _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_add_ps(t4[0], t4[2]), _mm512_add_ps(t4[1], t4[3])));
        } else if (!half) {
            __m512 sum = _mm512_setzero_ps();
            for (int j = 0; j < rank; j++)
                sum = _mm512_add_ps(
                    sum, _mm512_mul_ps(load16(bt, b_f16, (size_t)j * width + i), _mm512_set1_ps(m[j])));
            _mm512_storeu_ps(out + i, sum);
        } else {
            __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
            for (int j = 0; j < rank; j++) {
                const __m512 p = _mm512_mul_ps(load16(bt, b_f16, (size_t)j * width + i), _mm512_set1_ps(m[j]));
                lo = _mm512_add_pd(lo, _mm512_cvtps_pd(_mm512_castps512_ps256(p)));
                hi = _mm512_add_pd(
                    hi, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(p), 1))));
            }
            _mm256_storeu_ps(out + i, _mm512_cvtpd_ps(lo));
            _mm256_storeu_ps(out + i + 8, _mm512_cvtpd_ps(hi));
        }
    }
    return i;
}
#endif

/* out[i] = B row i · m for every output, Bᵀ stored in panels of `panel` outputs; column: rank floats. */
static void up_products(const void *bt, int b_f16, int panel, int rank, int n_out, const float *m, int half,
                        int tiny, float *out, float *column) {
    for (int start = 0; start < n_out; start += panel) {
        const int width = n_out - start < panel ? n_out - start : panel;
        const void *p = advance(bt, b_f16, (size_t)start * rank);
        int i = 0;
#if defined(__x86_64__)
        if (lora_has_avx512() && rank < 64) i = up_products_512(p, b_f16, rank, width, m, half, tiny, out + start);
#endif
        for (; i < width; i++) {
            for (int j = 0; j < rank; j++) column[j] = stored(p, b_f16, (size_t)j * width + i);
            out[start + i] = lora_dot(column, 0, m, rank, half, tiny);
        }
    }
}

void olk_lora_apply_stored(const void *a, int a_f16, const void *bt, int b_f16, int panel, int rank, int n_in,
                           int n_out, int half_in, int half_mid, int prompt, const float *x, size_t x_stride,
                           float *y, size_t y_stride, const int32_t *rows, const float *scales, int count,
                           float *scratch, const void *next, size_t next_bytes, int accumulate) {
    const int tiny_a = prompt && n_in % 16 == 0 && rank % 4 == 0;
    const int tiny_b = prompt && rank % 16 == 0 && n_out % 4 == 0;
    if (panel < 1) panel = n_out;
    float *input = scratch;                              /* n_in */
    float *mid = input + n_in;                           /* count × rank */
    float *products = mid + (size_t)count * rank;        /* n_out */
    float *column = products + n_out;                    /* rank */
#if defined(__x86_64__)
    const int simd = lora_has_avx512();
    if (simd && next && next_bytes) prefetch_512(next, next_bytes);
#endif
    for (int t = 0; t < count; t++) {
        const float *row = x + (size_t)rows[t] * x_stride;
        const float *in = row;
        if (half_in) {
#if defined(__x86_64__)
            if (simd)
                half_round_512(row, input, n_in);
            else
#endif
                for (int i = 0; i < n_in; i++) input[i] = half_round(row[i]);
            in = input;
        }
        for (int j = 0; j < rank; j++) {
            const float v = lora_dot(advance(a, a_f16, (size_t)j * n_in), a_f16, in, n_in, half_in, tiny_a);
            mid[(size_t)t * rank + j] = half_mid ? half_round(v) : v;
        }
    }
    for (int t = 0; t < count; t++) {
        up_products(bt, b_f16, panel, rank, n_out, mid + (size_t)t * rank, half_mid, tiny_b, products, column);
        const float scale = scales[t];
        float *out = y + (size_t)rows[t] * y_stride;
        for (int i = 0; i < n_out; i++) {
            const float scaled = products[i] * scale;
            out[i] = accumulate ? out[i] + scaled : scaled;
        }
    }
}

void olk_lora_apply(const float *a, const float *bt, int rank, int n_in, int n_out, int half_in, int half_mid,
                    int prompt, const float *x, size_t x_stride, float *y, size_t y_stride, const int32_t *rows,
                    const float *scales, int count, float *scratch) {
    olk_lora_apply_stored(a, 0, bt, 0, n_out, rank, n_in, n_out, half_in, half_mid, prompt, x, x_stride, y, y_stride,
                          rows, scales, count, scratch, NULL, 0, 1);
}

void olk_lora_pack_bt(const float *b, int rank, int n_out, int panel, int f16, void *out) {
    if (panel < 1) panel = n_out;
    for (int start = 0; start < n_out; start += panel) {
        const int width = n_out - start < panel ? n_out - start : panel;
        for (int j = 0; j < rank; j++)
            for (int i = 0; i < width; i++) {
                const float v = b[(size_t)(start + i) * rank + j];
                const size_t at = (size_t)start * rank + (size_t)j * width + i;
                if (f16) {
                    _Float16 h = (_Float16)v;
                    memcpy((uint16_t *)out + at, &h, 2);
                } else {
                    ((float *)out)[at] = v;
                }
            }
    }
}

void olk_lora_pack_bt_raw(const void *b, int size, int rank, int n_out, int panel, void *out) {
    if (panel < 1) panel = n_out;
    const char *from = (const char *)b;
    char *to = (char *)out;
    for (int start = 0; start < n_out; start += panel) {
        const int width = n_out - start < panel ? n_out - start : panel;
        for (int j = 0; j < rank; j++)
            for (int i = 0; i < width; i++)
                memcpy(to + ((size_t)start * rank + (size_t)j * width + i) * size,
                       from + ((size_t)(start + i) * rank + j) * size, (size_t)size);
    }
}

void olk_lora_unpack_bt(const void *bt, int f16, int rank, int n_out, int panel, float *b) {
    if (panel < 1) panel = n_out;
    for (int start = 0; start < n_out; start += panel) {
        const int width = n_out - start < panel ? n_out - start : panel;
        for (int j = 0; j < rank; j++)
            for (int i = 0; i < width; i++)
                b[(size_t)(start + i) * rank + j] = stored(bt, f16, (size_t)start * rank + (size_t)j * width + i);
    }
}

void olk_matmul_f32(const float *w, int row_start, int row_end, int n, const float *x, int count, int prompt,
                    float *out, size_t out_stride) {
    const int tiny = prompt && n % 16 == 0;
    for (int r = row_start; r < row_end; r++) {
        const float *row = w + (size_t)r * n;
        for (int t = 0; t < count; t++)
            out[(size_t)t * out_stride + r] = lora_dot(row, 0, x + (size_t)t * n, n, 0, tiny);
    }
}
