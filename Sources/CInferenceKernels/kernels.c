// Quantized dot products with the arithmetic of ggml's x86 paths: per 32-value block, integer sums of four
// products per lane (eight lanes), lanes fused-multiply-added with d_w·d_a across blocks, reduced
// (0+4, 1+5, 2+6, 3+7) → (0+2, 1+3) → sum. An AVX2 version and a portable one with identical results.
#include "CInferenceKernels.h"
#include <math.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

static inline float f16_to_f32(uint16_t h) {
    _Float16 v;
    memcpy(&v, &h, 2);
    return (float)v;
}
static inline uint16_t f32_to_f16(float f) {
    _Float16 v = (_Float16)f;
    uint16_t h;
    memcpy(&h, &v, 2);
    return h;
}

typedef struct { uint16_t d, s; int8_t qs[32]; } block_q8_1;
typedef struct { uint16_t d; int8_t qs[32]; } block_q8_0;
typedef struct { uint16_t d, m; uint8_t qs[16]; } block_q4_1;
typedef struct { uint16_t d; uint8_t qs[16]; } block_q4_0;

size_t olk_activation_bytes(int type, int n) {
    return (size_t)(n / 32) * (type == OLK_Q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0));
}

static void f32_to_f16_avx2(const float *x, uint16_t *y, int n);

void olk_f32_to_f16(const float *x, uint16_t *y, int n) {
#if defined(__x86_64__)
    if (olk_has_avx2()) { f32_to_f16_avx2(x, y, n); return; }
#endif
    for (int i = 0; i < n; i++) y[i] = f32_to_f16(x[i]);
}

// ---------------------------------------------------------------- portable

static void quantize_portable(int type, const float *x, int n, void *out) {
    for (int b = 0; b < n / 32; b++) {
        const float *v = x + 32 * b;
        float amax = 0;
        for (int j = 0; j < 32; j++) amax = fmaxf(amax, fabsf(v[j]));
        const float d = amax / 127.f;
        const float id = amax != 0.0f ? 127.f / amax : 0.0f;
        int8_t *qs;
        if (type == OLK_Q4_1) {
            block_q8_1 *y = (block_q8_1 *)out + b;
            y->d = f32_to_f16(d);
            qs = y->qs;
        } else {
            block_q8_0 *y = (block_q8_0 *)out + b;
            y->d = f32_to_f16(d);
            qs = y->qs;
        }
        int sum = 0;
        for (int j = 0; j < 32; j++) {
            qs[j] = (int8_t)nearbyintf(v[j] * id);
            sum += qs[j];
        }
        if (type == OLK_Q4_1) ((block_q8_1 *)out + b)->s = f32_to_f16(d * (float)sum);
    }
}

static inline float hsum8(const float a[8]) {
    float r0 = a[4] + a[0], r1 = a[5] + a[1], r2 = a[6] + a[2], r3 = a[7] + a[3];
    return (r0 + r2) + (r1 + r3);
}

static float dot_portable(int type, const void *w, const void *act, int n) {
    float acc[8] = {0};
    float summs = 0;
    for (int b = 0; b < n / 32; b++) {
        int x[32];
        const int8_t *qy;
        float scale;
        if (type == OLK_Q4_1) {
            const block_q4_1 *bx = (const block_q4_1 *)w + b;
            const block_q8_1 *by = (const block_q8_1 *)act + b;
            for (int j = 0; j < 16; j++) {
                x[j] = bx->qs[j] & 0x0F;
                x[j + 16] = bx->qs[j] >> 4;
            }
            summs = fmaf(f16_to_f32(bx->m), f16_to_f32(by->s), summs);
            scale = f16_to_f32(bx->d) * f16_to_f32(by->d);
            qy = by->qs;
        } else if (type == OLK_Q4_0) {
            const block_q4_0 *bx = (const block_q4_0 *)w + b;
            const block_q8_0 *by = (const block_q8_0 *)act + b;
            for (int j = 0; j < 16; j++) {
                x[j] = (bx->qs[j] & 0x0F) - 8;
                x[j + 16] = (bx->qs[j] >> 4) - 8;
            }
            scale = f16_to_f32(bx->d) * f16_to_f32(by->d);
            qy = by->qs;
        } else {
            const block_q8_0 *bx = (const block_q8_0 *)w + b;
            const block_q8_0 *by = (const block_q8_0 *)act + b;
            for (int j = 0; j < 32; j++) x[j] = bx->qs[j];
            scale = f16_to_f32(bx->d) * f16_to_f32(by->d);
            qy = by->qs;
        }
        for (int k = 0; k < 8; k++) {
            int s = x[4 * k] * qy[4 * k] + x[4 * k + 1] * qy[4 * k + 1] + x[4 * k + 2] * qy[4 * k + 2] +
                    x[4 * k + 3] * qy[4 * k + 3];
            acc[k] = fmaf(scale, (float)s, acc[k]);
        }
    }
    return hsum8(acc) + summs;
}

// ---------------------------------------------------------------- AVX2

#if defined(__x86_64__)
#define AVX2 __attribute__((target("avx2,fma,f16c")))

AVX2 static inline float hsum_float_8(const __m256 x) {
    __m128 res = _mm256_extractf128_ps(x, 1);
    res = _mm_add_ps(res, _mm256_castps256_ps128(x));
    res = _mm_add_ps(res, _mm_movehl_ps(res, res));
    res = _mm_add_ss(res, _mm_movehdup_ps(res));
    return _mm_cvtss_f32(res);
}

AVX2 static inline __m256 mul_sum_us8_pairs_float(const __m256i ax, const __m256i sy) {
    const __m256i dot = _mm256_maddubs_epi16(ax, sy);
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_set1_epi16(1), dot));
}

AVX2 static inline __m256 mul_sum_i8_pairs_float(const __m256i x, const __m256i y) {
    return mul_sum_us8_pairs_float(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

AVX2 static inline __m256i bytes_from_nibbles_32(const uint8_t *p) {
    const __m128i tmp = _mm_loadu_si128((const __m128i *)p);
    const __m256i bytes = _mm256_insertf128_si256(_mm256_castsi128_si256(tmp), _mm_srli_epi16(tmp, 4), 1);
    return _mm256_and_si256(_mm256_set1_epi8(0x0F), bytes);
}

AVX2 static void quantize_avx2(int type, const float *x, int n, void *out) {
    for (int b = 0; b < n / 32; b++) {
        __m256 v0 = _mm256_loadu_ps(x + 32 * b), v1 = _mm256_loadu_ps(x + 32 * b + 8);
        __m256 v2 = _mm256_loadu_ps(x + 32 * b + 16), v3 = _mm256_loadu_ps(x + 32 * b + 24);
        const __m256 sign = _mm256_set1_ps(-0.0f);
        __m256 maxAbs = _mm256_andnot_ps(sign, v0);
        maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(sign, v1));
        maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(sign, v2));
        maxAbs = _mm256_max_ps(maxAbs, _mm256_andnot_ps(sign, v3));
        __m128 max4 = _mm_max_ps(_mm256_extractf128_ps(maxAbs, 1), _mm256_castps256_ps128(maxAbs));
        max4 = _mm_max_ps(max4, _mm_movehl_ps(max4, max4));
        max4 = _mm_max_ss(max4, _mm_movehdup_ps(max4));
        const float amax = _mm_cvtss_f32(max4);
        const float d = amax / 127.f;
        const __m256 mul = _mm256_set1_ps(amax != 0.0f ? 127.f / amax : 0.0f);
        __m256i i0 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v0, mul), _MM_ROUND_NEAREST));
        __m256i i1 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v1, mul), _MM_ROUND_NEAREST));
        __m256i i2 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v2, mul), _MM_ROUND_NEAREST));
        __m256i i3 = _mm256_cvtps_epi32(_mm256_round_ps(_mm256_mul_ps(v3, mul), _MM_ROUND_NEAREST));
        int sum = 0;
        if (type == OLK_Q4_1) {
            __m256i s = _mm256_add_epi32(_mm256_add_epi32(i0, i1), _mm256_add_epi32(i2, i3));
            __m128i s4 = _mm_add_epi32(_mm256_extracti128_si256(s, 1), _mm256_castsi256_si128(s));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0x4E));
            s4 = _mm_add_epi32(s4, _mm_shuffle_epi32(s4, 0xB1));
            sum = _mm_cvtsi128_si32(s4);
        }
        i0 = _mm256_packs_epi32(i0, i1);
        i2 = _mm256_packs_epi32(i2, i3);
        i0 = _mm256_packs_epi16(i0, i2);
        i0 = _mm256_permutevar8x32_epi32(i0, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        if (type == OLK_Q4_1) {
            block_q8_1 *y = (block_q8_1 *)out + b;
            y->d = f32_to_f16(d);
            y->s = f32_to_f16(d * (float)sum);
            _mm256_storeu_si256((__m256i *)y->qs, i0);
        } else {
            block_q8_0 *y = (block_q8_0 *)out + b;
            y->d = f32_to_f16(d);
            _mm256_storeu_si256((__m256i *)y->qs, i0);
        }
    }
}

AVX2 static float dot_q4_1_avx2(const block_q4_1 *x, const block_q8_1 *y, int nb) {
    __m256 acc = _mm256_setzero_ps();
    float summs = 0;
    for (int i = 0; i < nb; i++) {
        summs = fmaf(f16_to_f32(x[i].m), f16_to_f32(y[i].s), summs);
        const __m256 d0d1 = _mm256_mul_ps(_mm256_set1_ps(f16_to_f32(x[i].d)), _mm256_set1_ps(f16_to_f32(y[i].d)));
        const __m256i qx = bytes_from_nibbles_32(x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d0d1, mul_sum_us8_pairs_float(qx, qy), acc);
    }
    return hsum_float_8(acc) + summs;
}

AVX2 static float dot_q4_0_avx2(const block_q4_0 *x, const block_q8_0 *y, int nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
        __m256i qx = _mm256_sub_epi8(bytes_from_nibbles_32(x[i].qs), _mm256_set1_epi8(8));
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc);
    }
    return hsum_float_8(acc);
}

AVX2 static float dot_q8_0_avx2(const block_q8_0 *x, const block_q8_0 *y, int nb) {
    __m256 acc = _mm256_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m256 d = _mm256_set1_ps(f16_to_f32(x[i].d) * f16_to_f32(y[i].d));
        const __m256i qx = _mm256_loadu_si256((const __m256i *)x[i].qs);
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
        acc = _mm256_fmadd_ps(d, mul_sum_i8_pairs_float(qx, qy), acc);
    }
    return hsum_float_8(acc);
}

AVX2 static void matvec_avx2(int type, const void *w, size_t row_bytes, int row_start, int row_end,
                             const void *act, int n, float *out) {
    const int nb = n / 32;
    for (int r = row_start; r < row_end; r++) {
        const void *row = (const char *)w + (size_t)r * row_bytes;
        float v;
        if (type == OLK_Q4_1) v = dot_q4_1_avx2(row, act, nb);
        else if (type == OLK_Q4_0) v = dot_q4_0_avx2(row, act, nb);
        else v = dot_q8_0_avx2(row, act, nb);
        out[r - row_start] = v;
    }
}

// AVX-512 VNNI: the same integer lane sums in one instruction (vpdpbusd), two rows per pass sharing the
// activation loads. Results are identical to the AVX2 path, whose helpers (nibble expansion, horizontal sum)
// inline here since their target is a subset of this one.
#define VNNI __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")))

VNNI static inline __m256 vnni_us8(const __m256i ax, const __m256i sy) {
    return _mm256_cvtepi32_ps(_mm256_dpbusd_epi32(_mm256_setzero_si256(), ax, sy));
}

VNNI static inline __m256 vnni_i8(const __m256i x, const __m256i y) {
    return vnni_us8(_mm256_sign_epi8(x, x), _mm256_sign_epi8(y, x));
}

VNNI static void matvec_vnni(int type, const void *w, size_t row_bytes, int row_start, int row_end,
                             const void *act, int n, float *out) {
    const int nb = n / 32;
    int r = row_start;
    for (; r + 2 <= row_end; r += 2) {
        const char *row0 = (const char *)w + (size_t)r * row_bytes;
        const char *row1 = row0 + row_bytes;
        __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
        float summs0 = 0, summs1 = 0;
        if (type == OLK_Q4_1) {
            const block_q4_1 *x0 = (const block_q4_1 *)row0, *x1 = (const block_q4_1 *)row1;
            const block_q8_1 *y = act;
            for (int i = 0; i < nb; i++) {
                const float dy = f16_to_f32(y[i].d), sy = f16_to_f32(y[i].s);
                summs0 = fmaf(f16_to_f32(x0[i].m), sy, summs0);
                summs1 = fmaf(f16_to_f32(x1[i].m), sy, summs1);
                const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x0[i].d) * dy), vnni_us8(bytes_from_nibbles_32(x0[i].qs), qy), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x1[i].d) * dy), vnni_us8(bytes_from_nibbles_32(x1[i].qs), qy), acc1);
            }
        } else if (type == OLK_Q4_0) {
            const block_q4_0 *x0 = (const block_q4_0 *)row0, *x1 = (const block_q4_0 *)row1;
            const block_q8_0 *y = act;
            const __m256i eight = _mm256_set1_epi8(8);
            for (int i = 0; i < nb; i++) {
                const float dy = f16_to_f32(y[i].d);
                const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x0[i].d) * dy),
                                       vnni_i8(_mm256_sub_epi8(bytes_from_nibbles_32(x0[i].qs), eight), qy), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x1[i].d) * dy),
                                       vnni_i8(_mm256_sub_epi8(bytes_from_nibbles_32(x1[i].qs), eight), qy), acc1);
            }
        } else {
            const block_q8_0 *x0 = (const block_q8_0 *)row0, *x1 = (const block_q8_0 *)row1;
            const block_q8_0 *y = act;
            for (int i = 0; i < nb; i++) {
                const float dy = f16_to_f32(y[i].d);
                const __m256i qy = _mm256_loadu_si256((const __m256i *)y[i].qs);
                acc0 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x0[i].d) * dy),
                                       vnni_i8(_mm256_loadu_si256((const __m256i *)x0[i].qs), qy), acc0);
                acc1 = _mm256_fmadd_ps(_mm256_set1_ps(f16_to_f32(x1[i].d) * dy),
                                       vnni_i8(_mm256_loadu_si256((const __m256i *)x1[i].qs), qy), acc1);
            }
        }
        out[r - row_start] = hsum_float_8(acc0) + summs0;
        out[r + 1 - row_start] = hsum_float_8(acc1) + summs1;
    }
    if (r < row_end) matvec_avx2(type, w, row_bytes, r, row_end, act, n, out + (r - row_start));
}


// Prefill for Q4_1: a 2-row × 4-activation register tile, so each expanded weight block serves four tokens and
// each activation block two rows; the activations' scales come pre-converted to float. Per (row, activation)
// the operations and their order are those of the matvec (one fused lane accumulator and one fused m·s chain per
// pair), so the results are identical.
VNNI static void matmul_q4_1_vnni(const void *w, size_t row_bytes, int r, const block_q8_1 *const y[4],
                                  const float *dy, const float *sy, int nb, int t, int valid, float *out,
                                  size_t out_stride) {
    const block_q4_1 *x0 = (const block_q4_1 *)((const char *)w + (size_t)r * row_bytes);
    const block_q4_1 *x1 = (const block_q4_1 *)((const char *)x0 + row_bytes);
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    __m128 s0 = _mm_setzero_ps(), s1 = _mm_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m256i q0 = bytes_from_nibbles_32(x0[i].qs), q1 = bytes_from_nibbles_32(x1[i].qs);
        const float d0 = f16_to_f32(x0[i].d), d1 = f16_to_f32(x1[i].d);
        const __m128 sy4 = _mm_loadu_ps(sy + 4 * i);
        s0 = _mm_fmadd_ps(_mm_set1_ps(f16_to_f32(x0[i].m)), sy4, s0);
        s1 = _mm_fmadd_ps(_mm_set1_ps(f16_to_f32(x1[i].m)), sy4, s1);
#define OLK_TOKEN(k)                                                                            \
    {                                                                                           \
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[k][i].qs);                     \
        const float dk = dy[4 * i + k];                                                         \
        a0##k = _mm256_fmadd_ps(_mm256_set1_ps(d0 * dk), vnni_us8(q0, qy), a0##k);              \
        a1##k = _mm256_fmadd_ps(_mm256_set1_ps(d1 * dk), vnni_us8(q1, qy), a1##k);              \
    }
        OLK_TOKEN(0) OLK_TOKEN(1) OLK_TOKEN(2) OLK_TOKEN(3)
#undef OLK_TOKEN
    }
    float m0[4], m1[4];
    _mm_storeu_ps(m0, s0);
    _mm_storeu_ps(m1, s1);
    if (0 < valid) out[(size_t)(t + 0) * out_stride + r] = hsum_float_8(a00) + m0[0];
    if (1 < valid) out[(size_t)(t + 1) * out_stride + r] = hsum_float_8(a01) + m0[1];
    if (2 < valid) out[(size_t)(t + 2) * out_stride + r] = hsum_float_8(a02) + m0[2];
    if (3 < valid) out[(size_t)(t + 3) * out_stride + r] = hsum_float_8(a03) + m0[3];
    if (0 < valid) out[(size_t)(t + 0) * out_stride + r + 1] = hsum_float_8(a10) + m1[0];
    if (1 < valid) out[(size_t)(t + 1) * out_stride + r + 1] = hsum_float_8(a11) + m1[1];
    if (2 < valid) out[(size_t)(t + 2) * out_stride + r + 1] = hsum_float_8(a12) + m1[2];
    if (3 < valid) out[(size_t)(t + 3) * out_stride + r + 1] = hsum_float_8(a13) + m1[3];
}


// The same 2-row × 4-activation tile for Q8_0 weights (the output matrix in batched decoding).
VNNI static void matmul_q8_0_vnni(const void *w, size_t row_bytes, int r, const block_q8_0 *const y[4],
                                  const float *dy, int nb, int t, int valid, float *out, size_t out_stride) {
    const block_q8_0 *x0 = (const block_q8_0 *)((const char *)w + (size_t)r * row_bytes);
    const block_q8_0 *x1 = (const block_q8_0 *)((const char *)x0 + row_bytes);
    __m256 a00 = _mm256_setzero_ps(), a01 = a00, a02 = a00, a03 = a00, a10 = a00, a11 = a00, a12 = a00, a13 = a00;
    for (int i = 0; i < nb; i++) {
        const __m256i q0 = _mm256_loadu_si256((const __m256i *)x0[i].qs);
        const __m256i q1 = _mm256_loadu_si256((const __m256i *)x1[i].qs);
        const __m256i u0 = _mm256_sign_epi8(q0, q0), u1 = _mm256_sign_epi8(q1, q1);
        const float d0 = f16_to_f32(x0[i].d), d1 = f16_to_f32(x1[i].d);
#define OLK_TOKEN(k)                                                                                   \
    {                                                                                                  \
        const __m256i qy = _mm256_loadu_si256((const __m256i *)y[k][i].qs);                            \
        const float dk = dy[4 * i + k];                                                                \
        a0##k = _mm256_fmadd_ps(_mm256_set1_ps(d0 * dk), vnni_us8(u0, _mm256_sign_epi8(qy, q0)), a0##k); \
        a1##k = _mm256_fmadd_ps(_mm256_set1_ps(d1 * dk), vnni_us8(u1, _mm256_sign_epi8(qy, q1)), a1##k); \
    }
        OLK_TOKEN(0) OLK_TOKEN(1) OLK_TOKEN(2) OLK_TOKEN(3)
#undef OLK_TOKEN
    }
    if (0 < valid) out[(size_t)(t + 0) * out_stride + r] = hsum_float_8(a00);
    if (1 < valid) out[(size_t)(t + 1) * out_stride + r] = hsum_float_8(a01);
    if (2 < valid) out[(size_t)(t + 2) * out_stride + r] = hsum_float_8(a02);
    if (3 < valid) out[(size_t)(t + 3) * out_stride + r] = hsum_float_8(a03);
    if (0 < valid) out[(size_t)(t + 0) * out_stride + r + 1] = hsum_float_8(a10);
    if (1 < valid) out[(size_t)(t + 1) * out_stride + r + 1] = hsum_float_8(a11);
    if (2 < valid) out[(size_t)(t + 2) * out_stride + r + 1] = hsum_float_8(a12);
    if (3 < valid) out[(size_t)(t + 3) * out_stride + r + 1] = hsum_float_8(a13);
}

// Sixteen activations at once in 512-bit registers: each register holds two activations' eight lane sums, so
// one vpdpbusd, one conversion and one fused multiply-add serve two (row, activation) pairs. The activations are
// packed per block: the 32 quantized values of activations 2p and 2p + 1 side by side (64 bytes), their scales
// as eight copies each (16 floats), and for Q8_1 the sixteen sums s. Per (row, activation) the lanes hold
// exactly the values of the matvec's eight-lane accumulator, so results are identical.
#define WIDE __attribute__((target("avx2,fma,f16c,avx512f,avx512vl,avx512bw,avx512dq,avx512vnni")))

typedef struct {
    size_t capacity;
    uint8_t *qs;   // nb × 8 × 64 bytes
    float *ds;     // nb × 8 × 16
    float *ss;     // nb × 16
} wide_pack;

static __thread wide_pack pack_buffer;

static wide_pack *wide_pack_for(int nb) {
    wide_pack *p = &pack_buffer;
    if (p->capacity < (size_t)nb) {
        free(p->qs);
        free(p->ds);
        free(p->ss);
        p->qs = aligned_alloc(64, (size_t)nb * 8 * 64);
        p->ds = aligned_alloc(64, (size_t)nb * 8 * 16 * sizeof(float));
        p->ss = aligned_alloc(64, (size_t)nb * 16 * sizeof(float));
        p->capacity = p->qs && p->ds && p->ss ? (size_t)nb : 0;
    }
    return p->capacity >= (size_t)nb ? p : NULL;
}

/// Packs activations t … t + 15 (a short group repeats its last one); scales converted by the CPU's F16C.
WIDE static void wide_pack_activations(int type, const void *activations, size_t activation_bytes, int t, int valid,
                                  int nb, wide_pack *p) {
    const size_t block_bytes = type == OLK_Q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
    const size_t qs_offset = type == OLK_Q4_1 ? 4 : 2;
    for (int k = 0; k < 16; k++) {
        const char *y = (const char *)activations + (size_t)(t + (k < valid ? k : valid - 1)) * activation_bytes;
        for (int i = 0; i < nb; i++) {
            const char *block = y + (size_t)i * block_bytes;
            const uint16_t *head = (const uint16_t *)block;
            memcpy(p->qs + ((size_t)i * 8 + k / 2) * 64 + (k & 1) * 32, block + qs_offset, 32);
            const float d = f16_to_f32(head[0]);
            float *ds = p->ds + ((size_t)i * 8 + k / 2) * 16 + (k & 1) * 8;
            for (int lane = 0; lane < 8; lane++) ds[lane] = d;
            if (type == OLK_Q4_1) p->ss[(size_t)i * 16 + k] = f16_to_f32(head[1]);
        }
    }
}

WIDE static inline __m512i twice(__m256i v) { return _mm512_inserti64x4(_mm512_castsi256_si512(v), v, 1); }

/// The sixteen activations' sums, each formed exactly as hsum_float_8 forms it from its eight lanes —
/// ((x0 + x4) + (x2 + x6)) + ((x1 + x5) + (x3 + x7)) — plus m, for all sixteen at once. Lane 4j + i of the
/// result belongs to activation j + 4i.
WIDE static void wide_store(const __m512 *a, __m512 m, int r, int t, int valid, float *out, size_t out_stride) {
    __m512 b[4];
    for (int k = 0; k < 4; k++)  // quarter j of b[k]: activation 4k + j's four pair sums
        b[k] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0x88),
                             _mm512_shuffle_f32x4(a[2 * k], a[2 * k + 1], 0xDD));
    // Quarter j: activations j and 4 + j (c0), 8 + j and 12 + j (c1), two sums each.
    const __m512 c0 = _mm512_add_ps(_mm512_shuffle_ps(b[0], b[1], 0x44), _mm512_shuffle_ps(b[0], b[1], 0xEE));
    const __m512 c1 = _mm512_add_ps(_mm512_shuffle_ps(b[2], b[3], 0x44), _mm512_shuffle_ps(b[2], b[3], 0xEE));
    const __m512 sums = _mm512_add_ps(_mm512_shuffle_ps(c0, c1, 0x88), _mm512_shuffle_ps(c0, c1, 0xDD));
    const __m512i order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    float result[16];
    _mm512_storeu_ps(result, _mm512_add_ps(sums, _mm512_permutexvar_ps(order, m)));
    for (int lane = 0; lane < 16; lane++) {
        const int k = (lane & 3) * 4 + (lane >> 2);
        if (k < valid) out[(size_t)(t + k) * out_stride + r] = result[lane];
    }
}

WIDE static void matmul_q4_1_wide(const void *w, size_t row_bytes, int r, const wide_pack *pk, int nb, int t,
                                  int valid, float *out, size_t out_stride) {
    const block_q4_1 *x0 = (const block_q4_1 *)((const char *)w + (size_t)r * row_bytes);
    const block_q4_1 *x1 = (const block_q4_1 *)((const char *)x0 + row_bytes);
    __m512 a0[8], a1[8];
    for (int p = 0; p < 8; p++) a0[p] = a1[p] = _mm512_setzero_ps();
    __m512 m0 = _mm512_setzero_ps(), m1 = _mm512_setzero_ps();
    for (int i = 0; i < nb; i++) {
        const __m512i w0 = twice(bytes_from_nibbles_32(x0[i].qs)), w1 = twice(bytes_from_nibbles_32(x1[i].qs));
        const __m512 d0 = _mm512_set1_ps(f16_to_f32(x0[i].d)), d1 = _mm512_set1_ps(f16_to_f32(x1[i].d));
        const __m512 s16 = _mm512_load_ps(pk->ss + (size_t)i * 16);
        m0 = _mm512_fmadd_ps(_mm512_set1_ps(f16_to_f32(x0[i].m)), s16, m0);
        m1 = _mm512_fmadd_ps(_mm512_set1_ps(f16_to_f32(x1[i].m)), s16, m1);
        const uint8_t *qs = pk->qs + (size_t)i * 8 * 64;
        const float *ds = pk->ds + (size_t)i * 8 * 16;
        for (int p = 0; p < 8; p++) {
            const __m512i y = _mm512_load_si512((const void *)(qs + p * 64));
            const __m512 dy = _mm512_load_ps(ds + p * 16);
            a0[p] = _mm512_fmadd_ps(_mm512_mul_ps(d0, dy),
                                    _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w0, y)), a0[p]);
            a1[p] = _mm512_fmadd_ps(_mm512_mul_ps(d1, dy),
                                    _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(_mm512_setzero_si512(), w1, y)), a1[p]);
        }
    }
    wide_store(a0, m0, r, t, valid, out, out_stride);
    wide_store(a1, m1, r + 1, t, valid, out, out_stride);
}

WIDE static void matmul_q8_0_wide(const void *w, size_t row_bytes, int r, const wide_pack *pk, int nb, int t,
                                  int valid, float *out, size_t out_stride) {
    const block_q8_0 *x0 = (const block_q8_0 *)((const char *)w + (size_t)r * row_bytes);
    const block_q8_0 *x1 = (const block_q8_0 *)((const char *)x0 + row_bytes);
    __m512 a0[8], a1[8];
    for (int p = 0; p < 8; p++) a0[p] = a1[p] = _mm512_setzero_ps();
    const __m512i zero = _mm512_setzero_si512();
    for (int i = 0; i < nb; i++) {
        // |x| against y with x's sign moved onto y: vpsignb's products, as the matvec forms them.
        const __m512i q0 = twice(_mm256_loadu_si256((const __m256i *)x0[i].qs));
        const __m512i q1 = twice(_mm256_loadu_si256((const __m256i *)x1[i].qs));
        const __m512i u0 = _mm512_abs_epi8(q0), u1 = _mm512_abs_epi8(q1);
        const __mmask64 n0 = _mm512_movepi8_mask(q0), n1 = _mm512_movepi8_mask(q1);
        const __m512 d0 = _mm512_set1_ps(f16_to_f32(x0[i].d)), d1 = _mm512_set1_ps(f16_to_f32(x1[i].d));
        const uint8_t *qs = pk->qs + (size_t)i * 8 * 64;
        const float *ds = pk->ds + (size_t)i * 8 * 16;
        for (int p = 0; p < 8; p++) {
            const __m512i y = _mm512_load_si512((const void *)(qs + p * 64));
            const __m512 dy = _mm512_load_ps(ds + p * 16);
            const __m512i y0 = _mm512_mask_sub_epi8(y, n0, zero, y), y1 = _mm512_mask_sub_epi8(y, n1, zero, y);
            a0[p] = _mm512_fmadd_ps(_mm512_mul_ps(d0, dy),
                                    _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, u0, y0)), a0[p]);
            a1[p] = _mm512_fmadd_ps(_mm512_mul_ps(d1, dy),
                                    _mm512_cvtepi32_ps(_mm512_dpbusd_epi32(zero, u1, y1)), a1[p]);
        }
    }
    wide_store(a0, _mm512_setzero_ps(), r, t, valid, out, out_stride);
    wide_store(a1, _mm512_setzero_ps(), r + 1, t, valid, out, out_stride);
}

static int has_wide(void) {
    static int cached = -1;
    if (cached < 0)
        cached = olk_has_avx2() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl") &&
                 __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
    return cached;
}

static int has_vnni(void) {
    static int cached = -1;
    if (cached < 0) cached = olk_has_avx2() && __builtin_cpu_supports("avx512vnni") && __builtin_cpu_supports("avx512vl");
    return cached;
}
#endif

int olk_has_avx2(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0) cached = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return cached;
#else
    return 0;
#endif
}

void olk_quantize_activation(int type, const float *x, int n, void *out) {
#if defined(__x86_64__)
    if (olk_has_avx2()) { quantize_avx2(type, x, n, out); return; }
#endif
    quantize_portable(type, x, n, out);
}

void olk_matvec(int type, const void *w, size_t row_bytes, int row_start, int row_end, const void *act, int n,
                float *out) {
#if defined(__x86_64__)
    if (has_vnni()) { matvec_vnni(type, w, row_bytes, row_start, row_end, act, n, out); return; }
    if (olk_has_avx2()) { matvec_avx2(type, w, row_bytes, row_start, row_end, act, n, out); return; }
#endif
    for (int r = row_start; r < row_end; r++) out[r - row_start] = dot_portable(type, (const char *)w + (size_t)r * row_bytes, act, n);
}

#if defined(__x86_64__)
AVX2 static float dot_f16_avx2(const uint16_t *a, const uint16_t *b, int n) {
    __m256 lo = _mm256_setzero_ps(), hi = _mm256_setzero_ps();
    for (int i = 0; i < n; i += 16) {
        lo = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i))),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i))), lo);
        hi = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(a + i + 8))),
                             _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(b + i + 8))), hi);
    }
    const __m256 t8 = _mm256_add_ps(hi, lo);
    const __m128 t4 = _mm_add_ps(_mm256_extractf128_ps(t8, 1), _mm256_castps256_ps128(t8));
    const __m128 t2 = _mm_add_ps(t4, _mm_shuffle_ps(t4, t4, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t2) + _mm_cvtss_f32(_mm_shuffle_ps(t2, t2, 1));
}

AVX2 static void f32_to_f16_avx2(const float *x, uint16_t *y, int n) {
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = f32_to_f16(x[i]);
}
#endif

float olk_dot_f16(const uint16_t *a, const uint16_t *b, int n) {
#if defined(__x86_64__)
    if (olk_has_avx2()) return dot_f16_avx2(a, b, n);
#endif
    float lanes[16] = {0};
    for (int i = 0; i < n; i += 16)
        for (int k = 0; k < 16; k++) lanes[k] = fmaf(f16_to_f32(a[i + k]), f16_to_f32(b[i + k]), lanes[k]);
    float t8[8], t4[4];
    for (int k = 0; k < 8; k++) t8[k] = lanes[k + 8] + lanes[k];
    for (int k = 0; k < 4; k++) t4[k] = t8[k + 4] + t8[k];
    return (t4[0] + t4[2]) + (t4[1] + t4[3]);
}

/* Several activations at once: out[t * out_stride + r] = row r · activation t, for r in [row_start, row_end).
 * Each weight row is read once for all the activations (prefill); per (row, activation) the arithmetic is
 * exactly that of olk_matvec. */
void olk_matmul(int type, const void *w, size_t row_bytes, int row_start, int row_end, const void *activations,
                size_t activation_bytes, int count, int n, float *out, size_t out_stride) {
    int r = row_start;
#if defined(__x86_64__)
    const int nb = n / 32;
    if ((type == OLK_Q8_0 || type == OLK_Q4_1) && has_vnni() && nb <= 256 && count >= 2) {
        const int pairs_end = row_start + (row_end - row_start) / 2 * 2;
        const size_t block_bytes = type == OLK_Q4_1 ? sizeof(block_q8_1) : sizeof(block_q8_0);
        float dy[4 * 256], sy[4 * 256];
        int t = 0;
        // Groups of sixteen in 512-bit registers where the CPU has them.
        wide_pack *pack = count >= 16 && has_wide() ? wide_pack_for(nb) : NULL;
        for (; pack && t + 16 <= count; t += 16) {
            wide_pack_activations(type, activations, activation_bytes, t, 16, nb, pack);
            for (int rr = row_start; rr < pairs_end; rr += 2) {
                if (type == OLK_Q4_1) matmul_q4_1_wide(w, row_bytes, rr, pack, nb, t, 16, out, out_stride);
                else matmul_q8_0_wide(w, row_bytes, rr, pack, nb, t, 16, out, out_stride);
            }
        }
        // Groups of four; a short last group repeats its last activation and keeps only the real outputs.
        for (; t < count; t += 4) {
            const int valid = count - t < 4 ? count - t : 4;
            const void *y[4];
            for (int k = 0; k < 4; k++) {
                y[k] = (const char *)activations + (size_t)(t + (k < valid ? k : valid - 1)) * activation_bytes;
                for (int i = 0; i < nb; i++) {
                    // d (and for Q8_1, s) lead every activation block.
                    const uint16_t *head = (const uint16_t *)((const char *)y[k] + (size_t)i * block_bytes);
                    dy[4 * i + k] = f16_to_f32(head[0]);
                    if (type == OLK_Q4_1) sy[4 * i + k] = f16_to_f32(head[1]);
                }
            }
            for (int rr = row_start; rr < pairs_end; rr += 2) {
                if (type == OLK_Q4_1)
                    matmul_q4_1_vnni(w, row_bytes, rr, (const block_q8_1 *const *)y, dy, sy, nb, t, valid, out, out_stride);
                else
                    matmul_q8_0_vnni(w, row_bytes, rr, (const block_q8_0 *const *)y, dy, nb, t, valid, out, out_stride);
            }
        }
        r = pairs_end;
    }
#endif
    for (; r < row_end; r += 16) {
        const int end = r + 16 < row_end ? r + 16 : row_end;
        float tile[16];
        for (int t = 0; t < count; t++) {
            olk_matvec(type, w, row_bytes, r, end, (const char *)activations + (size_t)t * activation_bytes, n, tile);
            for (int k = r; k < end; k++) out[(size_t)t * out_stride + k] = tile[k - r];
        }
    }
}

// ---------------------------------------------------------------- llama.cpp's float paths (AVX-512)
//
// ggml's CPU backend, built for this CPU, computes softmax and SiLU with its own vectorized exp (ggml_v_expf)
// and single-token attention dots with four 16-lane accumulators; these are the same operations in the same
// order, so that probabilities rounded to f16 round the same way.

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c")))

AVX512 static inline __m512 v_expf(__m512 x) {
    const __m512 r = _mm512_set1_ps(0x1.8p23f);
    const __m512 z = _mm512_fmadd_ps(x, _mm512_set1_ps(0x1.715476p+0f), r);
    const __m512 n = _mm512_sub_ps(z, r);
    const __m512 b = _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.7f7d1cp-20f),
                                      _mm512_fnmadd_ps(n, _mm512_set1_ps(0x1.62e4p-1f), x));
    const __mmask16 d = _mm512_cmp_ps_mask(_mm512_abs_ps(n), _mm512_set1_ps(192), _CMP_GT_OQ);
    const __m512 u = _mm512_mul_ps(b, b);
    const __m512 j = _mm512_fmadd_ps(
        _mm512_fmadd_ps(_mm512_fmadd_ps(_mm512_set1_ps(0x1.0e4020p-7f), b, _mm512_set1_ps(0x1.573e2ep-5f)), u,
                        _mm512_fmadd_ps(_mm512_set1_ps(0x1.555e66p-3f), b, _mm512_set1_ps(0x1.fffdb6p-2f))),
        u, _mm512_fmadd_ps(_mm512_set1_ps(0x1.ffffecp-1f), b, _mm512_set1_ps(1.0F)));
    const __m512 res = _mm512_scalef_ps(j, n);
    if (_mm512_kortestz(d, d)) return res;
    const __m512 zero = _mm512_setzero_ps();
    const __m512 alt = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(n, zero, _CMP_LE_OQ), _mm512_set1_ps(INFINITY), zero);
    return _mm512_mask_blend_ps(d, res, alt);
}

AVX512 static inline float reduce_add_512(__m512 a) {
    const __m256 t3 = _mm256_add_ps(_mm512_extractf32x8_ps(a, 1), _mm512_extractf32x8_ps(a, 0));
    const __m128 t6 = _mm_add_ps(_mm256_extractf128_ps(t3, 1), _mm256_extractf128_ps(t3, 0));
    const __m128 t8 = _mm_add_ps(t6, _mm_shuffle_ps(t6, t6, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm_cvtss_f32(t8) + _mm_cvtss_f32(_mm_shuffle_ps(t8, t8, 1));
}

AVX512 static double softmax_avx512(int n, float *y, const float *x, float max) {
    int i = 0;
    double sum = 0;
    for (; i + 15 < n; i += 16) {
        const __m512 val = v_expf(_mm512_sub_ps(_mm512_loadu_ps(x + i), _mm512_set1_ps(max)));
        _mm512_storeu_ps(y + i, val);
        sum += (double)reduce_add_512(val);
    }
    for (; i < n; ++i) {
        const float val = expf(x[i] - max);
        sum += (double)val;
        y[i] = val;
    }
    return sum;
}

AVX512 static void swiglu_avx512(int n, float *y, const float *x, const float *g) {
    int i = 0;
    for (; i + 15 < n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        const __m512 silu = _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1), v_expf(_mm512_sub_ps(_mm512_setzero_ps(), v))));
        _mm512_storeu_ps(y + i, _mm512_mul_ps(silu, _mm512_loadu_ps(g + i)));
    }
    for (; i < n; ++i) y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

AVX512 static float dot_f16_vec_avx512(const uint16_t *a, const uint16_t *b, int n) {
    const int np = n & ~63;
    __m512 s[4] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            s[j] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i + 16 * j))),
                                   _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(b + i + 16 * j))), s[j]);
    s[0] = _mm512_add_ps(s[0], s[2]);
    s[1] = _mm512_add_ps(s[1], s[3]);
    s[0] = _mm512_add_ps(s[0], s[1]);
    double sum = (double)reduce_add_512(s[0]);
    for (int i = np; i < n; i++) sum += (double)(f16_to_f32(a[i]) * f16_to_f32(b[i]));
    return (float)sum;
}

static int has_avx512(void) {
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl") && olk_has_avx2();
    return cached;
}
#endif

double olk_softmax(int n, float *y, const float *x, float max) {
#if defined(__x86_64__)
    if (has_avx512()) return softmax_avx512(n, y, x, max);
#endif
    double sum = 0;
    for (int i = 0; i < n; ++i) {
        const float val = expf(x[i] - max);
        sum += (double)val;
        y[i] = val;
    }
    return sum;
}

void olk_swiglu(int n, float *y, const float *x, const float *g) {
#if defined(__x86_64__)
    if (has_avx512()) { swiglu_avx512(n, y, x, g); return; }
#endif
    for (int i = 0; i < n; ++i) y[i] = x[i] / (1.0f + expf(-x[i])) * g[i];
}

#if defined(__x86_64__)
/// dot_f16_vec_avx512 of a row of halves with values already converted to float (the same products and sums).
AVX512 static inline float dot_row_avx512(const uint16_t *a, const float *p, int n) {
    const int np = n & ~63;
    __m512 s[4];
    for (int j = 0; j < 4; j++) s[j] = _mm512_setzero_ps();
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            s[j] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a + i + 16 * j))),
                                   _mm512_loadu_ps(p + i + 16 * j), s[j]);
    s[0] = _mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
    double sum = (double)reduce_add_512(s[0]);
    for (int i = np; i < n; i++) sum += (double)(_cvtsh_ss(a[i]) * p[i]);
    return (float)sum;
}

// Single-token attention output for several value rows: dot_f16_vec_avx512 per row, the weights converted to
// float once and shared by two rows at a time (the same values the per-row conversion gives).
AVX512 static void attention_values_avx512(const uint16_t *values, size_t stride, const float *p, int n, int rows,
                                           float *out) {
    const int np = n & ~63;
    int r = 0;
    for (; r + 2 <= rows; r += 2) {
        const uint16_t *a0 = values + (size_t)r * stride, *a1 = a0 + stride;
        __m512 s[4], t[4];
        for (int j = 0; j < 4; j++) s[j] = t[j] = _mm512_setzero_ps();
        for (int i = 0; i < np; i += 64)
            for (int j = 0; j < 4; j++) {
                const __m512 b = _mm512_loadu_ps(p + i + 16 * j);
                s[j] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a0 + i + 16 * j))), b, s[j]);
                t[j] = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(a1 + i + 16 * j))), b, t[j]);
            }
        s[0] = _mm512_add_ps(_mm512_add_ps(s[0], s[2]), _mm512_add_ps(s[1], s[3]));
        t[0] = _mm512_add_ps(_mm512_add_ps(t[0], t[2]), _mm512_add_ps(t[1], t[3]));
        double sum0 = (double)reduce_add_512(s[0]), sum1 = (double)reduce_add_512(t[0]);
        for (int i = np; i < n; i++) {
            sum0 += (double)(_cvtsh_ss(a0[i]) * p[i]);
            sum1 += (double)(_cvtsh_ss(a1[i]) * p[i]);
        }
        out[r] = (float)sum0;
        out[r + 1] = (float)sum1;
    }
    for (; r < rows; r++) out[r] = dot_row_avx512(values + (size_t)r * stride, p, n);
}

AVX512 static void f16_to_f32_avx512(const uint16_t *x, float *y, int n) {
    int i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(y + i, _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(x + i))));
    for (; i < n; i++) y[i] = _cvtsh_ss(x[i]);
}

/// Single-token attention scores: dot_f16_vec_avx512 of every key with the query (converted to float once).
AVX512 static float attention_scores_avx512(const uint16_t *keys, size_t stride, int count, const uint16_t *q, int n,
                                            float scale, float *scores) {
    float qf[256];
    f16_to_f32_avx512(q, qf, n);
    float best = -INFINITY;
    for (int t = 0; t < count; t++) {
        const float v = dot_row_avx512(keys + (size_t)t * stride, qf, n) * scale;
        scores[t] = v;
        if (v > best) best = v;
    }
    return best;
}

static __thread float *weights_buffer;
static __thread int weights_capacity;
#endif

void olk_attention_values(const uint16_t *values, size_t stride, const uint16_t *p, int n, int rows, int batched,
                          float *out) {
#if defined(__x86_64__)
    if (!batched && has_avx512()) {
        if (weights_capacity < n) {
            free(weights_buffer);
            weights_buffer = malloc(sizeof(float) * (size_t)n);
            weights_capacity = weights_buffer ? n : 0;
        }
        if (weights_buffer) {
            f16_to_f32_avx512(p, weights_buffer, n);
            attention_values_avx512(values, stride, weights_buffer, n, rows, out);
            return;
        }
    }
#endif
    for (int r = 0; r < rows; r++)
        out[r] = batched ? olk_dot_f16(values + (size_t)r * stride, p, n) : olk_dot_f16_single(values + (size_t)r * stride, p, n);
}

float olk_dot_f16_single(const uint16_t *a, const uint16_t *b, int n) {
#if defined(__x86_64__)
    if (has_avx512()) return dot_f16_vec_avx512(a, b, n);
#endif
    float s[4][16] = {{0}};
    const int np = n & ~63;
    for (int i = 0; i < np; i += 64)
        for (int j = 0; j < 4; j++)
            for (int k = 0; k < 16; k++)
                s[j][k] = fmaf(f16_to_f32(a[i + 16 * j + k]), f16_to_f32(b[i + 16 * j + k]), s[j][k]);
    float x[16];
    for (int k = 0; k < 16; k++) x[k] = (s[0][k] + s[2][k]) + (s[1][k] + s[3][k]);
    float t8[8], t4[4];
    for (int k = 0; k < 8; k++) t8[k] = x[k + 8] + x[k];
    for (int k = 0; k < 4; k++) t4[k] = t8[k + 4] + t8[k];
    double sum = (double)((t4[0] + t4[2]) + (t4[1] + t4[3]));
    for (int i = np; i < n; i++) sum += (double)(f16_to_f32(a[i]) * f16_to_f32(b[i]));
    return (float)sum;
}

void olk_rope(float *v, int heads, int head_dim, int rope_dims, const float *angles) {
    for (int h = 0; h < heads; h++) {
        float *base = v + h * head_dim;
        for (int i = 0; i < rope_dims / 2; i++) {
            const float x0 = base[2 * i], x1 = base[2 * i + 1];
            const float c = angles[2 * i], s = angles[2 * i + 1];
            base[2 * i] = fmaf(x0, c, -(x1 * s));
            base[2 * i + 1] = fmaf(x0, s, x1 * c);
        }
    }
}

void olk_attention_scores(const uint16_t *keys, size_t stride, int count, const uint16_t *q, int n, float scale,
                          int batched, float *scores, float *maximum) {
#if defined(__x86_64__)
    if (!batched && n <= 256 && has_avx512()) {
        *maximum = attention_scores_avx512(keys, stride, count, q, n, scale, scores);
        return;
    }
#endif
    float best = -INFINITY;
    for (int t = 0; t < count; t++) {
        const float s = (batched ? olk_dot_f16(keys + (size_t)t * stride, q, n)
                                 : olk_dot_f16_single(keys + (size_t)t * stride, q, n)) * scale;
        scores[t] = s;
        if (s > best) best = s;
    }
    *maximum = best;
}
