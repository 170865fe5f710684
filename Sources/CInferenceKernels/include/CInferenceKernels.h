#ifndef CINFERENCEKERNELS_H
#define CINFERENCEKERNELS_H
#include <stddef.h>
#include <stdint.h>

/* ggml block types by their ggml type ids. */
enum { OLK_Q4_0 = 2, OLK_Q4_1 = 3, OLK_Q8_0 = 8 };

/* Quantizes n floats (a multiple of 32) into the activation format paired with weight type `type`:
 * block_q8_1 (d, s as f16, 32 int8; 36 bytes) for Q4_1, block_q8_0 (d as f16, 32 int8; 34 bytes) otherwise. */
void olk_quantize_activation(int type, const float *x, int n, void *out);
/* Bytes the activation for n values takes. */
size_t olk_activation_bytes(int type, int n);

/* out[r - row_start] = row r of w (rows of row_bytes bytes, n values each) · the quantized activation. */
void olk_matvec(int type, const void *w, size_t row_bytes, int row_start, int row_end, const void *activation,
                int n, float *out);

/* The same for `count` activations (each activation_bytes long): out[t * out_stride + r]; weight rows are read
 * once, in tiles, for all activations. */
void olk_matmul(int type, const void *w, size_t row_bytes, int row_start, int row_end, const void *activations,
                size_t activation_bytes, int count, int n, float *out, size_t out_stride);

/* Σ a[i]·b[i] over f16 vectors (n a multiple of 16) the way ggml's 512-bit tinyBLAS does: sixteen fused
 * lanes, then the AVX-512 reduction order. */
float olk_dot_f16(const uint16_t *a, const uint16_t *b, int n);
/* f32 → f16 (round to nearest even) and back, n values. */
void olk_f32_to_f16(const float *x, uint16_t *y, int n);

/* The same sum as ggml_vec_dot_f16 computes it for one token (four 16-lane accumulators, n a multiple of 64
 * or with scalar leftovers in double). */
float olk_dot_f16_single(const uint16_t *a, const uint16_t *b, int n);
/// out[r] = row r of `values` (rows `stride` apart) · p over n values, for r < rows: olk_dot_f16 (batched) or
/// olk_dot_f16_single per row, with identical results.
void olk_attention_values(const uint16_t *values, size_t stride, const uint16_t *p, int n, int rows, int batched,
                          float *out);
/* y = exp(x − max) and its sum, as ggml_vec_soft_max_f32 (vectorized exp, 16-value partial sums in double). */
double olk_softmax(int n, float *y, const float *x, float max);
/* y = silu(x) · g, as ggml_vec_swiglu_f32. */
void olk_swiglu(int n, float *y, const float *x, const float *g);
/* llama's normal RoPE over `heads` heads, angles[2i] = cos, angles[2i+1] = sin, with the fused multiply-adds
 * ggml's compiled code uses. */
void olk_rope(float *v, int heads, int head_dim, int rope_dims, const float *angles);

/* scores[t] = (keys row t · q) · scale for t < count (rows `stride` values apart), in the batched or single-token
 * dot order; *maximum receives the largest. */
void olk_attention_scores(const uint16_t *keys, size_t stride, int count, const uint16_t *q, int n, float scale,
                          int batched, float *scores, float *maximum);

/* The low-rank update of a LoRA adapter for `count` rows of a batch, as llama.cpp's build_lora_mm computes it:
 * for each t, with x_t = x + rows[t]·x_stride (rounded to f16 first when half_in) and y_t = y + rows[t]·y_stride,
 * m = A·x_t (rank values, rounded to f16 when half_mid), then y_t[i] = y_t[i] + (B row i · m)·scales[t].
 * A is rank rows of n_in floats; B is given transposed, bt: rank rows of n_out floats. prompt: the dot order of a
 * batch of several tokens of one sequence (else of a single token). scratch holds n_in + count·rank + n_out + rank
 * floats. */
void olk_lora_apply(const float *a, const float *bt, int rank, int n_in, int n_out, int half_in, int half_mid,
                    int prompt, const float *x, size_t x_stride, float *y, size_t y_stride, const int32_t *rows,
                    const float *scales, int count, float *scratch);

/* The same with A and Bᵀ stored as f32 (a_f16 / b_f16 = 0) or f16 (1; widened exactly in registers), Bᵀ in
 * panels of `panel` outputs (olk_lora_pack_bt's layout; panel = n_out is plain Bᵀ, rank rows of n_out). next:
 * next_bytes of the weights used next, prefetched into the cache while this update runs (NULL: none).
 * accumulate 0: y_t[i] = (B row i · m)·scales[t], the scaled product alone, for the caller to add. */
void olk_lora_apply_stored(const void *a, int a_f16, const void *bt, int b_f16, int panel, int rank, int n_in,
                           int n_out, int half_in, int half_mid, int prompt, const float *x, size_t x_stride,
                           float *y, size_t y_stride, const int32_t *rows, const float *scales, int count,
                           float *scratch, const void *next, size_t next_bytes, int accumulate);

/* Writes B (n_out rows of rank floats) as Bᵀ in panels of `panel` outputs: panel p holds rank rows of its width,
 * outputs contiguous; as f16 (round to nearest even) when f16, else f32. */
void olk_lora_pack_bt(const float *b, int rank, int n_out, int panel, int f16, void *out);

/* The same layout by moving elements of `size` bytes (4: f32, 2: f16) unchanged, from B (n_out rows of rank). */
void olk_lora_pack_bt_raw(const void *b, int size, int rank, int n_out, int panel, void *out);

/* The inverse of olk_lora_pack_bt: B, n_out rows of rank floats. */
void olk_lora_unpack_bt(const void *bt, int f16, int rank, int n_out, int panel, float *b);

/* out[t * out_stride + r] = row r of the F32 matrix w (rows of n floats) · x_t (x rows n apart), for r in
 * [row_start, row_end): tinyBLAS's order for a batch of two or more tokens of one sequence (prompt, n a multiple
 * of 16), ggml_vec_dot_f32's otherwise. */
void olk_matmul_f32(const float *w, int row_start, int row_end, int n, const float *x, int count, int prompt,
                    float *out, size_t out_stride);

/* 1 when the AVX2 path is in use (the portable one gives the same results, slower). */
int olk_has_avx2(void);
#endif
