#ifndef CTRAININGKERNELS_H
#define CTRAININGKERNELS_H
#include <stddef.h>
#include <stdint.h>

/* Matrix products for LoRA training in f32. Every matrix is row-major with the given row stride (in floats).
 * Each kernel is single-threaded; callers split the work across threads by disjoint output ranges. Results do not
 * depend on how the caller splits the work: every output element is summed in one fixed order (k ascending in
 * fixed-size lanes), so a run is bit-for-bit repeatable on one machine. An AVX-512 path is used when the CPU has
 * it (checked once at run time), with a portable twin otherwise. accumulate 0: C = product; 1: C += product. */

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
 * type is the ggml type id (0 F32, 2 Q4_0, 3 Q4_1, 8 Q8_0); W has rows of `in` values, each row row_bytes long.
 * scratch: at least otk_weight_scratch_floats(in) floats, private to the calling thread. */
size_t otk_weight_scratch_floats(int in);

/* Forward, for output rows o in [o0, o1): Y[t][o − o0] (+)= Σ_i X[t][i]·W[o][i], t < count. */
void otk_weight_forward(int type, const void *w, size_t row_bytes, int in, int o0, int o1, const float *x,
                        size_t ldx, int count, float *y, size_t ldy, int accumulate, float *scratch);

/* Backward, for input columns i in [i0, i1) (multiples of 32, or i1 = in): dX[t][i − i0] (+)= Σ_o dY[t][o]·W[o][i]
 * over all `out` rows o, t < count. */
void otk_weight_backward(int type, const void *w, size_t row_bytes, int in, int out, int i0, int i1,
                         const float *dy, size_t lddy, int count, float *dx, size_t lddx, int accumulate,
                         float *scratch);

/* The same products in float64 over an f64 weight matrix (rows of `in` doubles), for the exact reference path. */
void otk_dgemm_nn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate);
void otk_dgemm_nt(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate);
void otk_dgemm_tn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate);

/* 1 when the AVX-512 path is in use. */
int otk_has_avx512(void);
#endif
