// CJPEG — internal to NoduleKit. Not a public API; only RadiographIO imports it.
//
// One C function owns every libjpeg(-turbo) call and the setjmp that libjpeg's
// error manager needs. It returns a status code and fills a message buffer;
// it never exits, prints or longjmps out.
#ifndef NODULEKIT_CXR_JPEG_H
#define NODULEKIT_CXR_JPEG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cxr_jpeg_status {
    CXR_JPEG_OK = 0,
    /// Header read; `out` was NULL. `info` is filled, nothing decoded.
    CXR_JPEG_HEADER_ONLY = 1,
    CXR_JPEG_NOT_JPEG = 2,
    CXR_JPEG_TRUNCATED = 3,
    CXR_JPEG_CORRUPT = 4,
    CXR_JPEG_TOO_LARGE = 5,
    CXR_JPEG_BUFFER_TOO_SMALL = 6,
    CXR_JPEG_UNSUPPORTED = 7,
    CXR_JPEG_NO_MEMORY = 8,
    CXR_JPEG_BAD_ARGUMENT = 9,
} cxr_jpeg_status;

/// How the delivered samples must be read.
typedef enum cxr_jpeg_output {
    /// One sample per pixel: the gray channel, or the luma (Y) of a YCbCr file.
    CXR_JPEG_OUTPUT_GRAY = 1,
    /// Three samples per pixel, R G B (a file stored as RGB without YCbCr).
    CXR_JPEG_OUTPUT_RGB = 3,
    /// Four samples per pixel, C M Y K as stored (Adobe files store them inverted).
    CXR_JPEG_OUTPUT_CMYK = 4,
} cxr_jpeg_output;

typedef struct cxr_jpeg_info {
    uint32_t width;
    uint32_t height;
    uint8_t components;
    /// libjpeg's J_COLOR_SPACE of the file (1 gray, 2 RGB, 3 YCbCr, 4 CMYK, 5 YCCK).
    uint8_t color_space;
    /// cxr_jpeg_output: samples per delivered pixel.
    uint8_t output;
    uint8_t progressive;
    uint8_t arithmetic;
    uint8_t data_precision;
    uint8_t saw_jfif;
    /// JFIF density unit: 0 aspect ratio only, 1 dots per inch, 2 dots per cm.
    uint8_t density_unit;
    uint16_t x_density;
    uint16_t y_density;
    uint8_t saw_adobe;
    uint8_t adobe_transform;
    /// Recoverable warnings libjpeg raised that did not affect pixels (e.g. extraneous bytes).
    uint32_t benign_warnings;
    uint64_t required_bytes;
} cxr_jpeg_info;

/// Decodes a whole JPEG held in memory into 8-bit samples.
/// With `out == NULL` it reads only the header, fills `info` and returns
/// CXR_JPEG_HEADER_ONLY (or CXR_JPEG_TOO_LARGE when width*height > max_pixels).
/// A premature end of data is CXR_JPEG_TRUNCATED and corrupt entropy data is
/// CXR_JPEG_CORRUPT, even though libjpeg itself only warns about both.
int cxr_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                    void *out, size_t out_capacity, cxr_jpeg_info *info,
                    char *message, size_t message_capacity);

#ifdef __cplusplus
}
#endif
#endif
