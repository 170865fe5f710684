// Matrix products for training: one summation order for every kernel and both paths (see the header), a
// register-blocked AVX-512 micro-kernel over k-tiles, and a portable twin that follows the same order.
#include "CTrainingKernels.h"
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// The reduction index is summed in tiles of OTK_K_TILE from 0; the backward pass dequantizes column strips of
// COLUMN_STRIP values of OTK_K_TILE weight rows at a time.
#define COLUMN_STRIP 256

static _Thread_local int portable_on_this_thread = 0;

void otk_use_portable_on_this_thread(int on) { portable_on_this_thread = on ? 1 : 0; }

static inline int min_int(int a, int b) { return a < b ? a : b; }

static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1F, mantissa = h & 0x3FF, bits;
    if (exponent == 0) {
        if (mantissa == 0) {
            bits = sign;
        } else {
            exponent = 127 - 15 + 1;
            while (!(mantissa & 0x400)) {
                mantissa <<= 1;
                exponent--;
            }
            bits = sign | (exponent << 23) | ((mantissa & 0x3FF) << 13);
        }
    } else if (exponent == 31) {
        bits = sign | 0x7F800000 | (mantissa << 13);
    } else {
        bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static inline uint16_t read_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

static size_t block_bytes(int type) { return type == OTK_Q8_0 ? 34 : type == OTK_Q4_0 ? 18 : 20; }

// Values [from, to) of one weight row; for the block types from and to are multiples of 32.
static void dequantize_row_portable(int type, const void *row, int from, int to, float *out) {
    const uint8_t *r = row;
    if (type == OTK_F32) {
        memcpy(out, (const float *)row + from, sizeof(float) * (size_t)(to - from));
        return;
    }
    for (int block = from / 32; block < to / 32; block++) {
        float *o = out + block * 32 - from;
        const uint8_t *b = r + (size_t)block * block_bytes(type);
        const float d = half_to_float(read_u16(b));
        if (type == OTK_Q8_0) {
            for (int j = 0; j < 32; j++) o[j] = d * (float)(int8_t)b[2 + j];
        } else if (type == OTK_Q4_0) {
            for (int j = 0; j < 16; j++) {
                o[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
                o[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
            }
        } else {
            const float mn = half_to_float(read_u16(b + 2));
            for (int j = 0; j < 16; j++) {
                o[j] = (float)(b[4 + j] & 0x0F) * d + mn;
                o[j + 16] = (float)(b[4 + j] >> 4) * d + mn;
            }
        }
    }
}

// ---------------------------------------------------------------- portable

// C[i][j] (+)= Σ_p A(i,p)·B(p,j) with A(i,p) = a[i·ars + p·acs], B(p,j) = b[p·brs + j·bcs], in the tiled order.
static void gemm_portable(int m, int n, int k, const float *a, size_t ars, size_t acs, const float *b, size_t brs,
                          size_t bcs, float *c, size_t ldc, int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float total = accumulate ? c[(size_t)i * ldc + j] : 0.0f;
            for (int p0 = 0; p0 < k; p0 += OTK_K_TILE) {
                const int pe = min_int(k, p0 + OTK_K_TILE);
                float s = 0.0f;
                for (int p = p0; p < pe; p++) s += a[(size_t)i * ars + (size_t)p * acs] * b[(size_t)p * brs + (size_t)j * bcs];
                total += s;
            }
            c[(size_t)i * ldc + j] = total;
        }
}

static void dgemm_portable(int m, int n, int k, const double *a, size_t ars, size_t acs, const double *b, size_t brs,
                           size_t bcs, double *c, size_t ldc, int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double total = accumulate ? c[(size_t)i * ldc + j] : 0.0;
            for (int p0 = 0; p0 < k; p0 += OTK_K_TILE) {
                const int pe = min_int(k, p0 + OTK_K_TILE);
                double s = 0.0;
                for (int p = p0; p < pe; p++) s += a[(size_t)i * ars + (size_t)p * acs] * b[(size_t)p * brs + (size_t)j * bcs];
                total += s;
            }
            c[(size_t)i * ldc + j] = total;
        }
}

// One weight row at a time, dequantized whole into scratch.
static void forward_portable(int type, const void *w, size_t row_bytes, int in, int o0, int o1, const float *x,
                             size_t ldx, int count, float *y, size_t ldy, int accumulate, float *scratch) {
    for (int o = o0; o < o1; o++) {
        dequantize_row_portable(type, (const uint8_t *)w + (size_t)o * row_bytes, 0, in, scratch);
        gemm_portable(count, 1, in, x, ldx, 1, scratch, 1, 0, y + (o - o0), ldy, accumulate);
    }
}

// A k-tile of weight rows over a strip of columns at a time, dequantized into scratch; dX is the running total.
static void backward_portable(int type, const void *w, size_t row_bytes, int in, int out, int i0, int i1,
                              const float *dy, size_t lddy, int count, float *dx, size_t lddx, int accumulate,
                              float *scratch) {
    (void)in;
    const int columns = i1 - i0;
    if (out <= 0) {
        if (!accumulate)
            for (int t = 0; t < count; t++) memset(dx + (size_t)t * lddx, 0, sizeof(float) * (size_t)columns);
        return;
    }
    for (int c0 = 0; c0 < columns; c0 += COLUMN_STRIP) {
        const int nc = min_int(COLUMN_STRIP, columns - c0);
        for (int p0 = 0; p0 < out; p0 += OTK_K_TILE) {
            const int kt = min_int(OTK_K_TILE, out - p0);
            for (int p = 0; p < kt; p++)
                dequantize_row_portable(type, (const uint8_t *)w + (size_t)(p0 + p) * row_bytes, i0 + c0,
                                        i0 + c0 + nc, scratch + (size_t)p * COLUMN_STRIP);
            gemm_portable(count, nc, kt, dy + p0, lddy, 1, scratch, COLUMN_STRIP, 1, dx + c0, lddx,
                          accumulate || p0 > 0);
        }
    }
}

// ---------------------------------------------------------------- AVX-512

#if defined(__x86_64__)
#define AVX512 __attribute__((target("avx512f,avx512dq,avx512vl,avx2,fma,f16c")))
#define INLINE static inline __attribute__((always_inline))

// MR rows × NV·16 columns of C: C (load_c ? C : 0) + Σ_{p<kt} A(r,p)·B(p,·), one FMA chain per element.
// Masked loads and stores keep every access inside the nr = popcount(m0) + popcount(m1) valid columns.
AVX512 INLINE void micro_f32(const int MR, const int NV, int kt, const float *a, size_t ars, size_t acs,
                             const float *b, size_t ldb, float *c, size_t ldc, int load_c, __mmask16 m0,
                             __mmask16 m1) {
    __m512 s[12][2];
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) s[r][v] = _mm512_setzero_ps();
    for (int p = 0; p < kt; p++) {
        const float *bp = b + (size_t)p * ldb;
        const __m512 b0 = _mm512_maskz_loadu_ps(m0, bp);
        const __m512 b1 = NV > 1 ? _mm512_maskz_loadu_ps(m1, bp + 16) : b0;
        const float *ap = a + (size_t)p * acs;
        for (int r = 0; r < MR; r++) {
            const __m512 av = _mm512_set1_ps(ap[(size_t)r * ars]);
            s[r][0] = _mm512_fmadd_ps(av, b0, s[r][0]);
            if (NV > 1) s[r][1] = _mm512_fmadd_ps(av, b1, s[r][1]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < NV; v++) {
            float *cr = c + (size_t)r * ldc + 16 * v;
            const __mmask16 mask = v ? m1 : m0;
            const __m512 old = load_c ? _mm512_maskz_loadu_ps(mask, cr) : _mm512_setzero_ps();
            _mm512_mask_storeu_ps(cr, mask, _mm512_add_ps(old, s[r][v]));
        }
}

#define MICRO2(R) \
    AVX512 static void micro2_##R(int kt, const float *a, size_t ars, size_t acs, const float *b, size_t ldb, \
                                  float *c, size_t ldc, int load_c, __mmask16 m0, __mmask16 m1) { \
        micro_f32(R, 2, kt, a, ars, acs, b, ldb, c, ldc, load_c, m0, m1); \
    }
#define MICRO1(R) \
    AVX512 static void micro1_##R(int kt, const float *a, size_t ars, size_t acs, const float *b, size_t ldb, \
                                  float *c, size_t ldc, int load_c, __mmask16 m0, __mmask16 m1) { \
        micro_f32(R, 1, kt, a, ars, acs, b, ldb, c, ldc, load_c, m0, m1); \
    }
MICRO2(1) MICRO2(2) MICRO2(3) MICRO2(4) MICRO2(5) MICRO2(6) MICRO2(7) MICRO2(8)
MICRO1(1) MICRO1(2) MICRO1(3) MICRO1(4) MICRO1(5) MICRO1(6) MICRO1(7) MICRO1(8) MICRO1(9) MICRO1(10) MICRO1(11)
MICRO1(12)

typedef void (*micro_fn)(int, const float *, size_t, size_t, const float *, size_t, float *, size_t, int, __mmask16,
                         __mmask16);
static const micro_fn micro2_table[9] = {0,        micro2_1, micro2_2, micro2_3, micro2_4,
                                         micro2_5, micro2_6, micro2_7, micro2_8};
static const micro_fn micro1_table[13] = {0,        micro1_1, micro1_2, micro1_3,  micro1_4,  micro1_5, micro1_6,
                                          micro1_7, micro1_8, micro1_9, micro1_10, micro1_11, micro1_12};

// All m rows of a column strip of nr ≤ 32 columns over one k-tile.
AVX512 static void strip_rows(int m, int kt, const float *a, size_t ars, size_t acs, const float *b, size_t ldb,
                              float *c, size_t ldc, int load_c, int nr) {
    const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
    const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
    const int rows = nr > 16 ? 8 : 12;
    const micro_fn *table = nr > 16 ? micro2_table : micro1_table;
    for (int i = 0; i < m; i += rows) {
        const int mr = min_int(rows, m - i);
        table[mr](kt, a + (size_t)i * ars, ars, acs, b, ldb, c + (size_t)i * ldc, ldc, load_c, m0, m1);
    }
}

// C[m×n] (+)= A·B with B read in place (row p at b + p·ldb), A(i,p) = a[i·ars + p·acs].
AVX512 static void gemm_direct_avx512(int m, int n, int k, const float *a, size_t ars, size_t acs, const float *b,
                                      size_t ldb, float *c, size_t ldc, int accumulate) {
    if (k <= 0) {
        if (!accumulate)
            for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, sizeof(float) * (size_t)n);
        return;
    }
    // With enough rows to reuse it, a k-tile of a 32-column strip of B is copied into a contiguous panel first:
    // B's own row stride would map the strip onto a few L1 sets.
    float panel[OTK_K_TILE * 32];
    const int pack = m >= 12;
    for (int j = 0; j < n; j += 32) {
        const int nr = min_int(32, n - j);
        const __mmask16 m0 = (__mmask16)(nr >= 16 ? 0xFFFF : (1u << nr) - 1);
        const __mmask16 m1 = (__mmask16)(nr >= 32 ? 0xFFFF : nr <= 16 ? 0 : (1u << (nr - 16)) - 1);
        for (int p0 = 0; p0 < k; p0 += OTK_K_TILE) {
            const int kt = min_int(OTK_K_TILE, k - p0);
            const float *bt = b + (size_t)p0 * ldb + j;
            if (pack) {
                for (int p = 0; p < kt; p++) {
                    _mm512_storeu_ps(panel + p * 32, _mm512_maskz_loadu_ps(m0, bt + (size_t)p * ldb));
                    _mm512_storeu_ps(panel + p * 32 + 16, _mm512_maskz_loadu_ps(m1, bt + (size_t)p * ldb + 16));
                }
            }
            strip_rows(m, kt, a + (size_t)p0 * acs, ars, acs, pack ? panel : bt, pack ? 32 : ldb, c + j, ldc,
                       accumulate || p0 > 0, nr);
        }
    }
}

AVX512 static inline void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
        const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
        r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
        r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
        r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
        r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
    }
    for (int h = 0; h < 2; h++)
        for (int i = 0; i < 4; i++) {
            t[8 * h + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0x88);
            t[8 * h + 4 + i] = _mm512_shuffle_f32x4(r[8 * h + i], r[8 * h + 4 + i], 0xdd);
        }
    for (int i = 0; i < 8; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xdd);
    }
}

// One 32-value block of a quantized row into o[0..32), with the portable path's arithmetic.
AVX512 static inline void dequantize_block_avx512(int type, const uint8_t *b, float *o) {
    const __m512 d = _mm512_set1_ps(_cvtsh_ss(read_u16(b)));
    if (type == OTK_Q8_0) {
        const __m512i q0 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 2)));
        const __m512i q1 = _mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(b + 18)));
        _mm512_storeu_ps(o, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q0)));
        _mm512_storeu_ps(o + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q1)));
        return;
    }
    const int offset = type == OTK_Q4_0 ? 2 : 4;
    const __m512i q = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(b + offset)));
    __m512i lo = _mm512_and_si512(q, _mm512_set1_epi32(0x0F)), hi = _mm512_srli_epi32(q, 4);
    if (type == OTK_Q4_0) {
        lo = _mm512_sub_epi32(lo, _mm512_set1_epi32(8));
        hi = _mm512_sub_epi32(hi, _mm512_set1_epi32(8));
        _mm512_storeu_ps(o, _mm512_mul_ps(_mm512_cvtepi32_ps(lo), d));
        _mm512_storeu_ps(o + 16, _mm512_mul_ps(_mm512_cvtepi32_ps(hi), d));
    } else {
        const __m512 mn = _mm512_set1_ps(_cvtsh_ss(read_u16(b + 2)));
        _mm512_storeu_ps(o, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(lo), d), mn));
        _mm512_storeu_ps(o + 16, _mm512_add_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(hi), d), mn));
    }
}

// Values [from, from + n) of one weight row into o; n ≤ OTK_K_TILE; for the block types from, n multiples of 32.
// F32 rows are read with masked loads, and o is zero-padded to a multiple of 16.
AVX512 static void dequantize_span_avx512(int type, const uint8_t *row, int from, int n, float *o) {
    if (type == OTK_F32) {
        const float *r = (const float *)row + from;
        for (int p = 0; p < n; p += 16) {
            const int left = n - p;
            const __mmask16 mask = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
            _mm512_storeu_ps(o + p, _mm512_maskz_loadu_ps(mask, r + p));
        }
        return;
    }
    const size_t bb = block_bytes(type);
    for (int p = 0; p < n; p += 32) dequantize_block_avx512(type, row + (size_t)(from + p) / 32 * bb, o + p);
}

// Asks for bytes [from, to) of `rows` weight rows from row0 on into L2 while the current panel is computed: a
// large weight (the output projection) streams from memory, and a panel is too short for the hardware prefetcher.
AVX512 static void prefetch_rows(const void *w, size_t row_bytes, int row0, int rows, size_t from, size_t to) {
    for (int r = 0; r < rows; r++) {
        const char *row = (const char *)w + (size_t)(row0 + r) * row_bytes;
        for (size_t b = from; b < to; b += 64) _mm_prefetch(row + b, _MM_HINT_T1);
    }
}

// The transposed panel panel[p][r] = W[row0 + r][p0 + p] for p < kt, r < 32 (zero for r ≥ nr), through tmp.
// Block rows are dequantized whole into tmp first (one scale conversion per block, rows read in order); F32 rows
// go straight from memory into the transpose.
AVX512 static void pack_transposed(int type, const void *w, size_t row_bytes, int row0, int nr, int p0, int kt,
                                   float *panel, float *tmp) {
    const int padded = (kt + 15) & ~15;
    if (type != OTK_F32)
        for (int r = 0; r < nr; r++)
            dequantize_span_avx512(type, (const uint8_t *)w + (size_t)(row0 + r) * row_bytes, p0, kt,
                                   tmp + (size_t)r * OTK_K_TILE);
    for (int rb = 0; rb < 32; rb += 16) {
        const int rows = min_int(16, nr - rb);
        if (rows <= 0) {
            for (int p = 0; p < padded; p++) _mm512_storeu_ps(panel + (size_t)p * 32 + rb, _mm512_setzero_ps());
            continue;
        }
        for (int pb = 0; pb < padded; pb += 16) {
            __m512 v[16];
            const int left = kt - pb;
            const __mmask16 mask = (__mmask16)(left >= 16 ? 0xFFFF : (1u << left) - 1);
            for (int i = 0; i < 16; i++)
                v[i] = i >= rows ? _mm512_setzero_ps()
                       : type == OTK_F32
                           ? _mm512_maskz_loadu_ps(mask, (const float *)((const uint8_t *)w +
                                                                         (size_t)(row0 + rb + i) * row_bytes) +
                                                             p0 + pb)
                           : _mm512_loadu_ps(tmp + (size_t)(rb + i) * OTK_K_TILE + pb);
            transpose16(v);
            for (int i = 0; i < 16; i++) _mm512_storeu_ps(panel + (size_t)(pb + i) * 32 + rb, v[i]);
        }
    }
}

// C[m×n] (+)= A·Wᵀ over rows [row0, row0 + n) of W: a k-tile of 32 rows is packed, then all m rows run over it.
// panel holds OTK_K_TILE·32 floats, tmp 32·OTK_K_TILE (unused for F32).
AVX512 static void gemm_packed_nt_avx512(int type, const void *w, size_t row_bytes, int row0, int m, int n, int k,
                                         const float *a, size_t lda, float *c, size_t ldc, int accumulate,
                                         float *panel, float *tmp) {
    if (k <= 0) {
        if (!accumulate)
            for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, sizeof(float) * (size_t)n);
        return;
    }
    const size_t span = type == OTK_F32 ? (size_t)k * sizeof(float) : (size_t)(k / 32) * block_bytes(type);
    for (int j = 0; j < n; j += 32) {
        const int nr = min_int(32, n - j);
        prefetch_rows(w, row_bytes, row0 + j + 32, min_int(32, n - j - 32), 0, span);
        for (int p0 = 0; p0 < k; p0 += OTK_K_TILE) {
            const int kt = min_int(OTK_K_TILE, k - p0);
            pack_transposed(type, w, row_bytes, row0 + j, nr, p0, kt, panel, tmp);
            strip_rows(m, kt, a + p0, lda, 1, panel, 32, c + j, ldc, accumulate || p0 > 0, nr);
        }
    }
}

AVX512 static void backward_avx512(int type, const void *w, size_t row_bytes, int out, int i0, int i1,
                                   const float *dy, size_t lddy, int count, float *dx, size_t lddx, int accumulate,
                                   float *scratch) {
    const int columns = i1 - i0;
    if (type == OTK_F32) {
        gemm_direct_avx512(count, columns, out, dy, lddy, 1, (const float *)w + i0, row_bytes / sizeof(float), dx,
                           lddx, accumulate);
        return;
    }
    if (out <= 0) {
        if (!accumulate)
            for (int t = 0; t < count; t++) memset(dx + (size_t)t * lddx, 0, sizeof(float) * (size_t)columns);
        return;
    }
    // The panel is stored strip by strip, [column / 32][p][32], so that the kernel walks 128-byte rows in order
    // (a 1 KiB row stride would map a strip onto a few L1 sets).
    for (int c0 = 0; c0 < columns; c0 += COLUMN_STRIP) {
        const int nc = min_int(COLUMN_STRIP, columns - c0);
        const size_t bb = block_bytes(type);
        const size_t from = (size_t)(i0 + c0) / 32 * bb, to = from + (size_t)nc / 32 * bb;
        for (int p0 = 0; p0 < out; p0 += OTK_K_TILE) {
            const int kt = min_int(OTK_K_TILE, out - p0);
            prefetch_rows(w, row_bytes, p0 + OTK_K_TILE, min_int(OTK_K_TILE, out - p0 - OTK_K_TILE), from, to);
            for (int p = 0; p < kt; p++) {
                const uint8_t *row = (const uint8_t *)w + (size_t)(p0 + p) * row_bytes;
                for (int q = 0; q < nc; q += 32)
                    dequantize_block_avx512(type, row + (size_t)(i0 + c0 + q) / 32 * bb,
                                            scratch + (size_t)q * OTK_K_TILE + (size_t)p * 32);
            }
            for (int j = 0; j < nc; j += 32)
                strip_rows(count, kt, dy + p0, lddy, 1, scratch + (size_t)j * OTK_K_TILE, 32, dx + c0 + j, lddx,
                           accumulate || p0 > 0, min_int(32, nc - j));
        }
    }
}

// f64: MR rows × 16 columns (two 8-lane vectors), the same tiled order.
AVX512 INLINE void micro_f64(const int MR, int kt, const double *a, size_t ars, size_t acs, const double *b,
                             size_t ldb, double *c, size_t ldc, int load_c, __mmask8 m0, __mmask8 m1) {
    __m512d s[6][2];
    for (int r = 0; r < MR; r++) s[r][0] = s[r][1] = _mm512_setzero_pd();
    for (int p = 0; p < kt; p++) {
        const double *bp = b + (size_t)p * ldb;
        const __m512d b0 = _mm512_maskz_loadu_pd(m0, bp), b1 = _mm512_maskz_loadu_pd(m1, bp + 8);
        const double *ap = a + (size_t)p * acs;
        for (int r = 0; r < MR; r++) {
            const __m512d av = _mm512_set1_pd(ap[(size_t)r * ars]);
            s[r][0] = _mm512_fmadd_pd(av, b0, s[r][0]);
            s[r][1] = _mm512_fmadd_pd(av, b1, s[r][1]);
        }
    }
    for (int r = 0; r < MR; r++)
        for (int v = 0; v < 2; v++) {
            double *cr = c + (size_t)r * ldc + 8 * v;
            const __mmask8 mask = v ? m1 : m0;
            const __m512d old = load_c ? _mm512_maskz_loadu_pd(mask, cr) : _mm512_setzero_pd();
            _mm512_mask_storeu_pd(cr, mask, _mm512_add_pd(old, s[r][v]));
        }
}

#define MICROD(R) \
    AVX512 static void microd_##R(int kt, const double *a, size_t ars, size_t acs, const double *b, size_t ldb, \
                                  double *c, size_t ldc, int load_c, __mmask8 m0, __mmask8 m1) { \
        micro_f64(R, kt, a, ars, acs, b, ldb, c, ldc, load_c, m0, m1); \
    }
MICROD(1) MICROD(2) MICROD(3) MICROD(4) MICROD(5) MICROD(6)
typedef void (*microd_fn)(int, const double *, size_t, size_t, const double *, size_t, double *, size_t, int,
                          __mmask8, __mmask8);
static const microd_fn microd_table[7] = {0, microd_1, microd_2, microd_3, microd_4, microd_5, microd_6};

// C[m×n] (+)= A·B with B(p,j) = b[p·brs + j·bcs]; B is copied k-tile by k-tile into a 16-column panel unless its
// columns are contiguous.
AVX512 static void dgemm_avx512(int m, int n, int k, const double *a, size_t ars, size_t acs, const double *b,
                                size_t brs, size_t bcs, double *c, size_t ldc, int accumulate) {
    if (k <= 0) {
        if (!accumulate)
            for (int i = 0; i < m; i++) memset(c + (size_t)i * ldc, 0, sizeof(double) * (size_t)n);
        return;
    }
    double panel[OTK_K_TILE * 16];
    for (int j = 0; j < n; j += 16) {
        const int nr = min_int(16, n - j);
        const __mmask8 m0 = (__mmask8)(nr >= 8 ? 0xFF : (1u << nr) - 1);
        const __mmask8 m1 = (__mmask8)(nr >= 16 ? 0xFF : nr <= 8 ? 0 : (1u << (nr - 8)) - 1);
        for (int p0 = 0; p0 < k; p0 += OTK_K_TILE) {
            const int kt = min_int(OTK_K_TILE, k - p0);
            const double *bt = b + (size_t)p0 * brs + (size_t)j * bcs;
            size_t ldb = brs;
            if (bcs != 1) {
                for (int p = 0; p < kt; p++)
                    for (int q = 0; q < 16; q++) panel[p * 16 + q] = q < nr ? bt[(size_t)p * brs + (size_t)q * bcs] : 0.0;
                bt = panel;
                ldb = 16;
            }
            for (int i = 0; i < m; i += 6)
                microd_table[min_int(6, m - i)](kt, a + (size_t)i * ars + (size_t)p0 * acs, ars, acs, bt, ldb,
                                                c + (size_t)i * ldc + j, ldc, accumulate || p0 > 0, m0, m1);
        }
    }
}
#endif

static int avx512_available(void) {
#if defined(__x86_64__)
    static int cached = -1;
    if (cached < 0)
        cached = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
                 __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx2") &&
                 __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
    return cached;
#else
    return 0;
#endif
}

static inline int use_avx512(void) { return !portable_on_this_thread && avx512_available(); }

int otk_has_avx512(void) { return use_avx512(); }

// ---------------------------------------------------------------- entry points

void otk_sgemm_nn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate) {
    if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        gemm_direct_avx512(m, n, k, a, lda, 1, b, ldb, c, ldc, accumulate);
        return;
    }
#endif
    gemm_portable(m, n, k, a, lda, 1, b, ldb, 1, c, ldc, accumulate);
}

void otk_sgemm_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate) {
    if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        float panel[OTK_K_TILE * 32];  // F32 rows need no dequantization buffer
        gemm_packed_nt_avx512(OTK_F32, b, ldb * sizeof(float), 0, m, n, k, a, lda, c, ldc, accumulate, panel, NULL);
        return;
    }
#endif
    gemm_portable(m, n, k, a, lda, 1, b, 1, ldb, c, ldc, accumulate);
}

void otk_sgemm_tn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate) {
    if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        gemm_direct_avx512(m, n, k, a, 1, lda, b, ldb, c, ldc, accumulate);
        return;
    }
#endif
    gemm_portable(m, n, k, a, 1, lda, b, ldb, 1, c, ldc, accumulate);
}

size_t otk_weight_scratch_floats(int in) {
    const size_t tiled = (size_t)OTK_K_TILE * COLUMN_STRIP;
    return in > 0 && (size_t)in > tiled ? (size_t)in : tiled;
}

// A shape the block formats cannot have, or an unknown type: the kernels leave the output as it is.
static int valid_weight(int type, int in) {
    if (in < 0) return 0;
    if (type == OTK_F32) return 1;
    return (type == OTK_Q4_0 || type == OTK_Q4_1 || type == OTK_Q8_0) && in % 32 == 0;
}

void otk_weight_forward(int type, const void *w, size_t row_bytes, int in, int o0, int o1, const float *x,
                        size_t ldx, int count, float *y, size_t ldy, int accumulate, float *scratch) {
    if (o1 <= o0 || o0 < 0 || count <= 0 || !valid_weight(type, in)) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        gemm_packed_nt_avx512(type, w, row_bytes, o0, count, o1 - o0, in, x, ldx, y, ldy, accumulate, scratch,
                              scratch + OTK_K_TILE * 32);
        return;
    }
#endif
    forward_portable(type, w, row_bytes, in, o0, o1, x, ldx, count, y, ldy, accumulate, scratch);
}

void otk_weight_backward(int type, const void *w, size_t row_bytes, int in, int out, int i0, int i1,
                         const float *dy, size_t lddy, int count, float *dx, size_t lddx, int accumulate,
                         float *scratch) {
    if (i1 <= i0 || i0 < 0 || i1 > in || count <= 0 || !valid_weight(type, in)) return;
    if (type != OTK_F32 && i0 % 32 != 0) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        backward_avx512(type, w, row_bytes, out, i0, i1, dy, lddy, count, dx, lddx, accumulate, scratch);
        return;
    }
#endif
    backward_portable(type, w, row_bytes, in, out, i0, i1, dy, lddy, count, dx, lddx, accumulate, scratch);
}

void otk_dgemm_nn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate) {
    if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        dgemm_avx512(m, n, k, a, lda, 1, b, ldb, 1, c, ldc, accumulate);
        return;
    }
#endif
    dgemm_portable(m, n, k, a, lda, 1, b, ldb, 1, c, ldc, accumulate);
}

void otk_dgemm_nt(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate) {
    if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        dgemm_avx512(m, n, k, a, lda, 1, b, 1, ldb, c, ldc, accumulate);
        return;
    }
#endif
    dgemm_portable(m, n, k, a, lda, 1, b, 1, ldb, c, ldc, accumulate);
}

void otk_dgemm_tn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate) {
    if (m <= 0 || n <= 0) return;
#if defined(__x86_64__)
    if (use_avx512()) {
        dgemm_avx512(m, n, k, a, 1, lda, b, ldb, 1, c, ldc, accumulate);
        return;
    }
#endif
    dgemm_portable(m, n, k, a, 1, lda, b, ldb, 1, c, ldc, accumulate);
}
