#include "CTrainingKernels.h"
#include <string.h>

/* Portable reference implementations; the tuned paths replace them. */

static void dequantize_row(int type, const void *row, int from, int to, float *out);

void otk_sgemm_nn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) s += a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s;
        }
}

void otk_sgemm_nt(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) s += a[i * lda + p] * b[j * ldb + p];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s;
        }
}

void otk_sgemm_tn(int m, int n, int k, const float *a, size_t lda, const float *b, size_t ldb, float *c, size_t ldc,
                  int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = 0;
            for (int p = 0; p < k; p++) s += a[p * lda + i] * b[p * ldb + j];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s;
        }
}

void otk_dgemm_nn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += a[i * lda + p] * b[p * ldb + j];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s;
        }
}

void otk_dgemm_nt(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += a[i * lda + p] * b[j * ldb + p];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s;
        }
}

void otk_dgemm_tn(int m, int n, int k, const double *a, size_t lda, const double *b, size_t ldb, double *c,
                  size_t ldc, int accumulate) {
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            double s = 0;
            for (int p = 0; p < k; p++) s += a[p * lda + i] * b[p * ldb + j];
            c[i * ldc + j] = accumulate ? c[i * ldc + j] + s : s;
        }
}

size_t otk_weight_scratch_floats(int in) { return (size_t)in; }

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

static void dequantize_row(int type, const void *row, int from, int to, float *out) {
    const uint8_t *r = row;
    if (type == 0) {
        memcpy(out, (const float *)row + from, sizeof(float) * (size_t)(to - from));
        return;
    }
    for (int block = from / 32; block < (to + 31) / 32; block++) {
        float *o = out + block * 32 - from;
        if (type == 8) {
            const uint8_t *b = r + block * 34;
            float d = half_to_float((uint16_t)(b[0] | b[1] << 8));
            for (int j = 0; j < 32; j++) o[j] = d * (float)(int8_t)b[2 + j];
        } else if (type == 2) {
            const uint8_t *b = r + block * 18;
            float d = half_to_float((uint16_t)(b[0] | b[1] << 8));
            for (int j = 0; j < 16; j++) {
                o[j] = (float)((b[2 + j] & 0x0F) - 8) * d;
                o[j + 16] = (float)((b[2 + j] >> 4) - 8) * d;
            }
        } else {
            const uint8_t *b = r + block * 20;
            float d = half_to_float((uint16_t)(b[0] | b[1] << 8)), mn = half_to_float((uint16_t)(b[2] | b[3] << 8));
            for (int j = 0; j < 16; j++) {
                o[j] = (float)(b[4 + j] & 0x0F) * d + mn;
                o[j + 16] = (float)(b[4 + j] >> 4) * d + mn;
            }
        }
    }
}

void otk_weight_forward(int type, const void *w, size_t row_bytes, int in, int o0, int o1, const float *x,
                        size_t ldx, int count, float *y, size_t ldy, int accumulate, float *scratch) {
    for (int o = o0; o < o1; o++) {
        dequantize_row(type, (const uint8_t *)w + (size_t)o * row_bytes, 0, in, scratch);
        for (int t = 0; t < count; t++) {
            float s = 0;
            for (int i = 0; i < in; i++) s += x[t * ldx + i] * scratch[i];
            float *d = &y[t * ldy + (o - o0)];
            *d = accumulate ? *d + s : s;
        }
    }
}

void otk_weight_backward(int type, const void *w, size_t row_bytes, int in, int out, int i0, int i1,
                         const float *dy, size_t lddy, int count, float *dx, size_t lddx, int accumulate,
                         float *scratch) {
    if (!accumulate)
        for (int t = 0; t < count; t++) memset(dx + t * lddx, 0, sizeof(float) * (size_t)(i1 - i0));
    for (int o = 0; o < out; o++) {
        dequantize_row(type, (const uint8_t *)w + (size_t)o * row_bytes, i0, i1, scratch);
        for (int t = 0; t < count; t++) {
            float g = dy[t * lddy + o];
            for (int i = i0; i < i1; i++) dx[t * lddx + (i - i0)] += g * scratch[i - i0];
        }
    }
}

int otk_has_avx512(void) { return 0; }
