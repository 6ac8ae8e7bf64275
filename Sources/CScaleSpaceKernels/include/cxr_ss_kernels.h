// CScaleSpaceKernels — internal to NoduleKit. Not a public API; only ScaleSpace imports it.
//
// The inner loops of ScaleSpace's separable filters and of the pyramid's
// interpolation, written once with clang vector extensions and compiled for
// x86-64-v4 (AVX-512), x86-64-v3 (AVX2 + FMA) and the baseline, chosen at load
// time (target_clones). Swift code cannot ask for those instruction sets
// without compiling the whole module for one CPU. No function here allocates,
// fails or keeps a pointer after it returns.
#ifndef NODULEKIT_CXR_SS_KERNELS_H
#define NODULEKIT_CXR_SS_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Horizontal correlation of `rows` image rows with kernels in groups that
/// share one radius (even kernels of a group share the folded sums
/// x[i−k] + x[i+k], odd ones x[i+k] − x[i−k]).
///
/// Row j of the output reads image row `row_index[j]` (already reflected),
/// columns x0 ..< x0 + width. When `column_index` is NULL the source row is
/// read in place from x0 − pad to x0 + width + pad; otherwise it is first
/// gathered into `line` (width + 2·pad floats) through `column_index`
/// (width + 2·pad reflected column numbers, for x0 − pad …).
///
/// Group g has radius `radius[g]`, `even_count[g]` even kernels then
/// `odd_count[g]` odd kernels; kernel n (counted over all groups in that order)
/// has taps `taps[n][0 … radius]` for offsets 0 … +radius (offset −k is the
/// same tap, negated for odd kernels) and writes row j at `dst[n] + j·dst_stride`.
void cxr_ss_correlate_rows(const float *image, ptrdiff_t image_stride,
                           const int32_t *row_index, int rows,
                           int x0, int width, int pad,
                           const int32_t *column_index, float *line,
                           int groups, const int32_t *radius,
                           const int32_t *even_count, const int32_t *odd_count,
                           const float *const *taps, float *const *dst, ptrdiff_t dst_stride);

/// Vertical correlation summed over `terms`, written to `rows` rows of `width` floats:
/// dst[y·dst_stride + x] = Σ_t Σ_k taps[t][|k|]·(±) center[t][(y + k)·src_stride + x],
/// k = −radius[t] … radius[t], the sign − for k < 0 when odd[t] is nonzero.
void cxr_ss_correlate_columns(int terms, const float *const *center, ptrdiff_t src_stride,
                              const int32_t *radius, const int32_t *odd, const float *const *taps,
                              float *dst, ptrdiff_t dst_stride, int width, int rows);

/// Polyphase interpolation of one row by an integer factor:
/// dst[i·factor + p] = Σ_{k<6} weights[6p + k]·src[i − 2 + k] for every
/// output index below `width`. `src` must be readable from src[−2] to
/// src[⌈width/factor⌉ + 2]; `scratch` holds 16·factor floats.
void cxr_ss_upsample_row(const float *src, int factor, const float *weights,
                         float *dst, int width, float *scratch);

/// dst[x] = Σ_{k<count} weights[k]·first[k·stride + x] for x < width.
void cxr_ss_combine_rows(int count, const float *first, ptrdiff_t stride, const float *weights, float *dst, int width);

#ifdef __cplusplus
}
#endif
#endif
