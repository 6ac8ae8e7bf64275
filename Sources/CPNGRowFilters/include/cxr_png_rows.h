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

/// The inflated image data at the start of `data` (as above: `height` rows of a filter-type
/// byte and width × bit_depth / 8 bytes) unfiltered and turned, in the same memory, into
/// `width` × `height` samples from its start: 16-bit ones (stored big-endian) in host order,
/// 8-bit ones widened to their value. `data` must be 2-byte aligned and hold the larger of the
/// two layouts. Returns as cxr_png_unfilter_gray; -1 also for a bit depth other than 8 or 16.
/// One buffer instead of two: a 2048² 16-bit image needs 8 MB, not 16.
long cxr_png_decode_gray_in_place(void *data, size_t width, size_t height, unsigned bit_depth);

#ifdef __cplusplus
}
#endif
#endif
