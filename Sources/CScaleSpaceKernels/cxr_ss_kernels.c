// CScaleSpaceKernels — see include/cxr_ss_kernels.h. Internal to NoduleKit.
#include "cxr_ss_kernels.h"

#include <string.h>

#if defined(__x86_64__) && defined(__linux__)
// One build, three instruction sets, picked by the loader (ifunc). Every clone
// runs the same operations in the same order; only the vector width differs,
// and the vector code below is written lane by lane, so results do not depend
// on how many lanes the CPU has.
#define CXR_SS_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CXR_SS_CLONES
#endif
#define CXR_SS_INLINE static inline __attribute__((always_inline))

_Static_assert(sizeof(float) == 4, "float32 expected");
_Static_assert(sizeof(int32_t) == 4, "int32 expected");

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));

// Unaligned 16-float load and store (macros: a v16 crossing a function boundary
// would change the ABI of the non-AVX-512 clones).
#define ld(p) (*(const v16u *)(p))
#define st(p, v) (*(v16u *)(p) = (v))

enum { MAX_ROW_KERNELS = 3 };

// MARK: Horizontal

// Two 16-lane blocks (32 outputs) at src + x for `ne` even then `no` odd kernels.
CXR_SS_INLINE void row_block2(const float *src, int r, const int ne, const int no,
                              const float *const *taps, float *const *dst, int x) {
    v16 a0[MAX_ROW_KERNELS], a1[MAX_ROW_KERNELS];
    const v16 c0 = ld(src + x), c1 = ld(src + x + 16);
    for (int n = 0; n < ne + no; n++) {
        a0[n] = c0 * taps[n][0];
        a1[n] = c1 * taps[n][0];
    }
    for (int k = 1; k <= r; k++) {
        const v16 l0 = ld(src + x - k), h0 = ld(src + x + k);
        const v16 l1 = ld(src + x + 16 - k), h1 = ld(src + x + 16 + k);
        if (ne > 0) {
            const v16 s0 = l0 + h0, s1 = l1 + h1;
            for (int n = 0; n < ne; n++) {
                a0[n] = a0[n] + s0 * taps[n][k];
                a1[n] = a1[n] + s1 * taps[n][k];
            }
        }
        if (no > 0) {
            const v16 d0 = h0 - l0, d1 = h1 - l1;
            for (int n = ne; n < ne + no; n++) {
                a0[n] = a0[n] + d0 * taps[n][k];
                a1[n] = a1[n] + d1 * taps[n][k];
            }
        }
    }
    for (int n = 0; n < ne + no; n++) {
        st(dst[n] + x, a0[n]);
        st(dst[n] + x + 16, a1[n]);
    }
}

CXR_SS_INLINE void row_block1(const float *src, int r, const int ne, const int no,
                              const float *const *taps, float *const *dst, int x) {
    v16 a[MAX_ROW_KERNELS];
    const v16 c = ld(src + x);
    for (int n = 0; n < ne + no; n++) a[n] = c * taps[n][0];
    for (int k = 1; k <= r; k++) {
        const v16 l = ld(src + x - k), h = ld(src + x + k);
        if (ne > 0) {
            const v16 s = l + h;
            for (int n = 0; n < ne; n++) a[n] = a[n] + s * taps[n][k];
        }
        if (no > 0) {
            const v16 d = h - l;
            for (int n = ne; n < ne + no; n++) a[n] = a[n] + d * taps[n][k];
        }
    }
    for (int n = 0; n < ne + no; n++) st(dst[n] + x, a[n]);
}

CXR_SS_INLINE void row_scalar(const float *src, int r, const int ne, const int no,
                              const float *const *taps, float *const *dst, int x) {
    for (int n = 0; n < ne + no; n++) {
        const int odd = n >= ne;
        float a = src[x] * taps[n][0];
        for (int k = 1; k <= r; k++) {
            const float f = odd ? src[x + k] - src[x - k] : src[x - k] + src[x + k];
            a = a + f * taps[n][k];
        }
        dst[n][x] = a;
    }
}

// One row: blocks of 32, then 16, then one block overlapping the previous
// (its outputs are recomputed with identical operations) instead of a scalar tail.
CXR_SS_INLINE void row_kernels(const float *src, int width, int r, const int ne, const int no,
                               const float *const *taps, float *const *dst) {
    if (width < 16) {
        for (int x = 0; x < width; x++) row_scalar(src, r, ne, no, taps, dst, x);
        return;
    }
    int x = 0;
    for (; x + 32 <= width; x += 32) row_block2(src, r, ne, no, taps, dst, x);
    for (; x + 16 <= width; x += 16) row_block1(src, r, ne, no, taps, dst, x);
    if (x < width) row_block1(src, r, ne, no, taps, dst, width - 16);
}

// Sweeps of (2 even + 1 odd), (2 even), (1 even) or (1 odd) kernels, so the
// folded sums are shared and the accumulators stay in registers.
CXR_SS_INLINE void row_group(const float *src, int width, int r, int ne, int no,
                      const float *const *taps, float *const *dst) {
    int e = 0, o = 0;
    while (e < ne || o < no) {
        if (ne - e >= 2 && no - o >= 1) {
            const float *t[3] = {taps[e], taps[e + 1], taps[ne + o]};
            float *d[3] = {dst[e], dst[e + 1], dst[ne + o]};
            row_kernels(src, width, r, 2, 1, t, d);
            e += 2; o += 1;
        } else if (ne - e >= 2) {
            row_kernels(src, width, r, 2, 0, taps + e, dst + e);
            e += 2;
        } else if (ne - e == 1) {
            row_kernels(src, width, r, 1, 0, taps + e, dst + e);
            e += 1;
        } else {
            row_kernels(src, width, r, 0, 1, taps + ne + o, dst + ne + o);
            o += 1;
        }
    }
}

CXR_SS_CLONES
void cxr_ss_correlate_rows(const float *image, ptrdiff_t image_stride,
                           const int32_t *row_index, int rows,
                           int x0, int width, int pad,
                           const int32_t *column_index, float *line,
                           int groups, const int32_t *radius,
                           const int32_t *even_count, const int32_t *odd_count,
                           const float *const *taps, float *const *dst, ptrdiff_t dst_stride) {
    int kernels = 0;
    for (int g = 0; g < groups; g++) kernels += even_count[g] + odd_count[g];
    float *out[64];
    if (kernels > 64) return;  // FilterPlan enforces ≤ 64 before calling
    for (int j = 0; j < rows; j++) {
        const float *row = image + (ptrdiff_t)row_index[j] * image_stride;
        const float *src;
        if (column_index) {
            for (int m = 0; m < width + 2 * pad; m++) line[m] = row[column_index[m]];
            src = line + pad;
        } else {
            src = row + x0;
        }
        for (int n = 0; n < kernels; n++) out[n] = dst[n] + (ptrdiff_t)j * dst_stride;
        int n = 0;
        for (int g = 0; g < groups; g++) {
            row_group(src, width, radius[g], even_count[g], odd_count[g], taps + n, out + n);
            n += even_count[g] + odd_count[g];
        }
    }
}

// MARK: Vertical

// Rows y and y + 1 (`pair`) or y alone, `blocks` 16-lane blocks from column x.
// Row y uses rows y∓k, row y + 1 uses y + 1∓k: walking k upwards, row y + 1's
// lower row is row y's previous one and its upper row is row y's next one, so
// each loaded row serves both outputs (half the loads of one row at a time).
// Loop order: columns outside, rows inside, so a column block's (2r + 2) rows stay in L1.
CXR_SS_INLINE void column_rows(int terms, const float *const *center, ptrdiff_t ss,
                               const int32_t *radius, const int32_t *odd, const float *const *taps,
                               float *dst, ptrdiff_t ds, ptrdiff_t x, ptrdiff_t y, const int blocks, const int pair) {
    v16 a[4], b[4];
    for (int u = 0; u < blocks; u++) { a[u] = (v16){0}; b[u] = (v16){0}; }
    for (int t = 0; t < terms; t++) {
        const float *c = center[t] + y * ss + x;
        const float *tp = taps[t];
        const int r = radius[t];
        v16 lower[4], upper[4];  // row y − (k − 1) and row y + k for the next step
        for (int u = 0; u < blocks; u++) {
            lower[u] = ld(c + 16 * u);
            a[u] = a[u] + lower[u] * tp[0];
            if (pair) {
                upper[u] = ld(c + ss + 16 * u);
                b[u] = b[u] + upper[u] * tp[0];
            }
        }
        if (!pair) {
            for (int k = 1; k <= r; k++) {
                const float *lo = c - k * ss, *hi = c + k * ss;
                for (int u = 0; u < blocks; u++) {
                    const v16 f = odd[t] ? ld(hi + 16 * u) - ld(lo + 16 * u) : ld(lo + 16 * u) + ld(hi + 16 * u);
                    a[u] = a[u] + f * tp[k];
                }
            }
        } else if (odd[t]) {
            for (int k = 1; k <= r; k++) {
                const float *lo = c - k * ss, *hi = c + (k + 1) * ss;
                for (int u = 0; u < blocks; u++) {
                    const v16 l = ld(lo + 16 * u), h = ld(hi + 16 * u);
                    a[u] = a[u] + (upper[u] - l) * tp[k];
                    b[u] = b[u] + (h - lower[u]) * tp[k];
                    lower[u] = l;
                    upper[u] = h;
                }
            }
        } else {
            for (int k = 1; k <= r; k++) {
                const float *lo = c - k * ss, *hi = c + (k + 1) * ss;
                for (int u = 0; u < blocks; u++) {
                    const v16 l = ld(lo + 16 * u), h = ld(hi + 16 * u);
                    a[u] = a[u] + (l + upper[u]) * tp[k];
                    b[u] = b[u] + (lower[u] + h) * tp[k];
                    lower[u] = l;
                    upper[u] = h;
                }
            }
        }
    }
    for (int u = 0; u < blocks; u++) {
        st(dst + y * ds + x + 16 * u, a[u]);
        if (pair) st(dst + (y + 1) * ds + x + 16 * u, b[u]);
    }
}

CXR_SS_INLINE void column_strip(int terms, const float *const *center, ptrdiff_t ss,
                                const int32_t *radius, const int32_t *odd, const float *const *taps,
                                float *dst, ptrdiff_t ds, ptrdiff_t x, int rows, const int blocks) {
    int y = 0;
    for (; y + 2 <= rows; y += 2) column_rows(terms, center, ss, radius, odd, taps, dst, ds, x, y, blocks, 1);
    if (y < rows) column_rows(terms, center, ss, radius, odd, taps, dst, ds, x, y, blocks, 0);
}

CXR_SS_CLONES
void cxr_ss_correlate_columns(int terms, const float *const *center, ptrdiff_t src_stride,
                              const int32_t *radius, const int32_t *odd, const float *const *taps,
                              float *dst, ptrdiff_t dst_stride, int width, int rows) {
    if (width < 16) {
        for (int y = 0; y < rows; y++) {
            for (int x = 0; x < width; x++) {
                float a = 0;
                for (int t = 0; t < terms; t++) {
                    const float *p = center[t] + (ptrdiff_t)y * src_stride + x;
                    a = a + p[0] * taps[t][0];
                    for (int k = 1; k <= radius[t]; k++) {
                        const float f = odd[t] ? p[k * src_stride] - p[-k * src_stride] : p[-k * src_stride] + p[k * src_stride];
                        a = a + f * taps[t][k];
                    }
                }
                dst[(ptrdiff_t)y * dst_stride + x] = a;
            }
        }
        return;
    }
    int x = 0;
    for (; x + 64 <= width; x += 64) column_strip(terms, center, src_stride, radius, odd, taps, dst, dst_stride, x, rows, 4);
    for (; x + 16 <= width; x += 16) column_strip(terms, center, src_stride, radius, odd, taps, dst, dst_stride, x, rows, 1);
    if (x < width) column_strip(terms, center, src_stride, radius, odd, taps, dst, dst_stride, width - 16, rows, 1);
}

// MARK: Interpolation

CXR_SS_CLONES
void cxr_ss_upsample_row(const float *src, int factor, const float *weights,
                         float *dst, int width, float *scratch) {
    int i = 0;
    // Vector part: 16 source positions → 16·factor outputs, transposed through `scratch`.
    for (; (i + 16) * factor <= width; i += 16) {
        v16 l[6];
        for (int k = 0; k < 6; k++) l[k] = ld(src + i - 2 + k);
        for (int p = 0; p < factor; p++) {
            const float *w = weights + 6 * p;
            v16 a = l[0] * w[0];
            for (int k = 1; k < 6; k++) a = a + l[k] * w[k];
            st(scratch + 16 * p, a);
        }
        float *d = dst + i * factor;
        for (int m = 0; m < 16; m++)
            for (int p = 0; p < factor; p++) d[m * factor + p] = scratch[16 * p + m];
    }
    for (int x = i * factor; x < width; x++) {
        const int s = x / factor, p = x % factor;
        const float *w = weights + 6 * p;
        float a = src[s - 2] * w[0];
        for (int k = 1; k < 6; k++) a = a + src[s - 2 + k] * w[k];
        dst[x] = a;
    }
}

CXR_SS_CLONES
void cxr_ss_combine_rows(int count, const float *first, ptrdiff_t stride, const float *weights, float *dst, int width) {
    int x = 0;
    for (; x + 16 <= width; x += 16) {
        v16 a = ld(first + x) * weights[0];
        for (int k = 1; k < count; k++) a = a + ld(first + k * stride + x) * weights[k];
        st(dst + x, a);
    }
    for (; x < width; x++) {
        float a = first[x] * weights[0];
        for (int k = 1; k < count; k++) a = a + first[k * stride + x] * weights[k];
        dst[x] = a;
    }
}
