// CPNGRowFilters — internal to NoduleKit. Not a public API; only RadiographIO imports it.
//
// The inner loops of RadiographIO's PNG pixel path for grayscale images (PNGPixelPath.swift):
// reversing PNG's per-row filters (ISO/IEC 15948 §9, "Filtering") and turning the rows into
// 16-bit samples. In C, optimised in debug builds too, because a 2048² radiograph is 8 MB of
// rows whose Paeth filter is a serial chain per byte. No function here allocates or keeps a
// pointer after it returns.
#ifndef NODULEKIT_CXR_PNG_ROWS_H
#define NODULEKIT_CXR_PNG_ROWS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Reverses the filters of `height` rows in place. `data` holds the inflated image data of a
/// non-interlaced PNG: each row is its filter-type byte followed by `row_bytes` filtered bytes.
/// `bpp` is the bytes per complete pixel (1 or 2: 8- or 16-bit grayscale). Returns 0, or the
/// 1-based number of the first row whose filter type is not 0–4 (rows before it are done), or
/// -1 for a `bpp` other than 1 or 2.
long cxr_png_unfilter_gray(uint8_t *data, size_t row_bytes, size_t height, unsigned bpp);

/// The unfiltered rows of `data` (as above, each after its filter-type byte) as `width` ×
/// `height` samples in `out`: 16-bit samples (`bit_depth` 16, stored big-endian) in host
/// order, 8-bit ones widened to their value. Nothing is written for another bit depth.
void cxr_png_gray_rows_to_u16(const uint8_t *data, size_t width, size_t height, unsigned bit_depth,
                              uint16_t *out);

#ifdef __cplusplus
}
#endif
#endif
