#ifndef CTRAININGKERNELS_H
#define CTRAININGKERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Matrix products for LoRA training in f32. Every matrix is row-major with the given row stride (in floats).
 * Each kernel is single-threaded; callers split the work across threads by disjoint output ranges. An AVX-512
 * path is used when the CPU has it (checked once at run time), with a portable twin otherwise.
 * accumulate 0: C = product; 1: C += product.
 *
 * Summation order (every kernel, both paths). For each output element, with p the reduction index (k for the
 * sgemms, `in` for the forward, `out` for the backward):
 *     total = accumulate ? C : 0
 *     for each tile [p0, p0 + OTK_K_TILE) of p, from p0 = 0 (the last tile may be shorter):
 *         s = 0;  for p ascending in the tile: s = s + A(i,p)·B(p,j)     (one fused multiply-add on AVX-512)
 *         total = total + s
 *     C = total
 * The order depends only on the reduction length, never on m, n, count, the output range or the thread, so
 * splitting the outputs across calls gives bit-identical results, and a run is bit-for-bit repeatable on one
 * machine. The tiles bound the rounding error by about (OTK_K_TILE + k / OTK_K_TILE)·ε instead of k·ε (the
 * output projection's backward sums 49152 terms). The portable path may round the product before the add, so
 * its results agree with the AVX-512 path's within rounding, not bit for bit.
 *
 * Bounds: a kernel reads A, B and W only inside the given shapes and writes only the m×n (count×range) outputs;
 * tails of any size are handled with masked loads and stores. */

/* The tile length of the reduction index in the summation order above. */
#define OTK_K_TILE 128

/* ggml type ids of the weight formats the weight products read. */
#define OTK_F32 0
#define OTK_Q4_0 2
#define OTK_Q4_1 3
#define OTK_Q8_0 8

/* C[m×n] (+)= A[m×k] · B[k×n]. */
void otk_sgemm_nn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate);
/* C[m×n] (+)= A[m×k] · Bᵀ, B given as n rows of k. */
void otk_sgemm_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate);
/* C[m×n] (+)= Aᵀ · B, A given as k rows of m, B as k rows of n (weight gradients: a sum over tokens). */
void otk_sgemm_tn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate);

/* Products with a frozen weight matrix W in its ggml block format, read from the blocks (never a whole f32 copy):
 * type is the ggml type id (0 F32, 2 Q4_0, 3 Q4_1, 8 Q8_0); W has rows of `in` values, each row row_bytes long
 * (`in` a multiple of 32 for the block types). Blocks are dequantized as ggml does (Q4_1: q·d + m, rounded twice).
 * scratch: at least otk_weight_scratch_floats(in) floats, private to the calling thread. An unknown type, a block
 * type with `in` not a multiple of 32, or a range outside [0, in) (backward: i0 not a multiple of 32 for a block
 * type) leaves the output as it is.
 * Tiling on AVX-512: the forward packs 32 rows × OTK_K_TILE values of W, dequantized and transposed, into
 * scratch and runs an 8 × 32 register-blocked FMA kernel over it for all tokens; the backward dequantizes
 * OTK_K_TILE rows × 256 columns into scratch and runs the same kernel with dY broadcast. */
size_t otk_weight_scratch_floats(int in);

/* Forward, for output rows o in [o0, o1): Y[t][o − o0] (+)= Σ_i X[t][i]·W[o][i], t < count. */
void otk_weight_forward(int type, const void *w, size_t row_bytes, int in, int o0, int o1, const float *x,
                        size_t ldx, int count, float *y, size_t ldy, int accumulate, float *scratch);

/* Backward, for input columns i in [i0, i1) (multiples of 32, or i1 = in): dX[t][i − i0] (+)= Σ_o dY[t][o]·W[o][i]
 * over all `out` rows o, t < count. */
void otk_weight_backward(int type, const void *w, size_t row_bytes, int in, int out, int i0, int i1,
                         const float *dy, size_t lddy, int count, float *dx, size_t lddx, int accumulate,
                         float *scratch);

/* The same products in float64, for the exact reference path, in the same summation order. */
void otk_dgemm_nn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate);
void otk_dgemm_nt(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate);
void otk_dgemm_tn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate);

/* 1 when the AVX-512 path is in use on the calling thread. */
int otk_has_avx512(void);

/* on = 1: the calling thread uses the portable path from now on (for tests comparing the two); 0: back to the
 * fastest path the CPU has. Other threads are not affected. */
void otk_use_portable_on_this_thread(int on);
#endif
