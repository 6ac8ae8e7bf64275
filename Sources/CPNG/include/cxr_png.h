// CPNG — internal to NoduleKit. Not a public API; only RadiographIO imports it.
//
// Two C functions own every libpng call, and with it the setjmp/longjmp that
// libpng uses for errors (Swift cannot call setjmp). Both return a status
// code and fill a caller-supplied message buffer; neither ever exits or
// longjmps out.
#ifndef NODULEKIT_CXR_PNG_H
#define NODULEKIT_CXR_PNG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cxr_png_status {
    CXR_PNG_OK = 0,
    /// Header read; `out` was NULL. `info` is filled, nothing decoded.
    CXR_PNG_HEADER_ONLY = 1,
    CXR_PNG_NOT_PNG = 2,
    CXR_PNG_TRUNCATED = 3,
    CXR_PNG_BAD_CRC = 4,
    CXR_PNG_TOO_LARGE = 5,
    CXR_PNG_BUFFER_TOO_SMALL = 6,
    CXR_PNG_CORRUPT = 7,
    CXR_PNG_NO_MEMORY = 8,
    CXR_PNG_BAD_ARGUMENT = 9,
} cxr_png_status;

/// 64 bytes of DICOM LO plus the terminator; a date is YYYYMMDD or YYYY-MM-DD.
#define CXR_PNG_TEXT_VALUE_CAPACITY 65
#define CXR_PNG_DATE_CAPACITY 11

typedef struct cxr_png_info {
    uint32_t width;
    uint32_t height;
    /// Bit depth and colour type as stored in IHDR.
    uint8_t bit_depth;
    uint8_t color_type;
    uint8_t interlaced;
    /// Samples per pixel delivered: 1 (gray) or 3 (RGB; palette expanded). Alpha is dropped.
    uint8_t out_channels;
    /// Bytes per delivered sample: 1, or 2 (host byte order).
    uint8_t out_bytes_per_sample;
    /// Significant bits from sBIT when present and valid, else the bit depth.
    uint8_t significant_bits;
    uint8_t has_sbit;
    /// Non-zero when pHYs is present with unit = metre.
    uint8_t has_phys_metre;
    /// Pixels per metre along x (columns) and y (rows), from pHYs.
    uint32_t pixels_per_metre_x;
    uint32_t pixels_per_metre_y;
    /// Bytes `out` must hold: width * height * out_channels * out_bytes_per_sample.
    uint64_t required_bytes;
    /// Text chunks (tEXt, zTXt, iTXt) before the image data whose keyword is a DICOM
    /// keyword (`PatientID`, `IssuerOfPatientID`, `StudyDate`; case-insensitive), copied as
    /// stored bytes and NUL-terminated; empty when absent. A value longer than the field
    /// (64 bytes: DICOM LO; 10 for the date) is left empty and `text_too_long` is set.
    char patient_id[CXR_PNG_TEXT_VALUE_CAPACITY];
    char issuer_of_patient_id[CXR_PNG_TEXT_VALUE_CAPACITY];
    char study_date[CXR_PNG_DATE_CAPACITY];
    uint8_t text_too_long;
} cxr_png_info;

/// Decodes a whole PNG held in memory.
/// With `out == NULL` it reads only up to the first IDAT, fills `info` and
/// returns CXR_PNG_HEADER_ONLY (or CXR_PNG_TOO_LARGE when width*height >
/// max_pixels), so the caller can allocate exactly once.
int cxr_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                   void *out, size_t out_capacity, cxr_png_info *info,
                   char *message, size_t message_capacity);

/// Encodes 16-bit grayscale samples (host order) as a PNG in memory.
/// `pixels_per_metre_*` of 0 omits pHYs; `significant_bits` outside 1...15
/// omits sBIT. `patient_id`, `issuer_of_patient_id` and `study_date` (UTF-8,
/// NULL or empty to omit) are written before the image data as text chunks
/// keyed by their DICOM keywords: tEXt when ASCII, else uncompressed iTXt.
/// On success `*encoded` is a malloc'ed buffer the caller releases with cxr_png_free.
int cxr_png_encode_gray16(const uint16_t *pixels, uint32_t width, uint32_t height,
                          uint8_t significant_bits,
                          uint32_t pixels_per_metre_x, uint32_t pixels_per_metre_y,
                          const char *patient_id, const char *issuer_of_patient_id,
                          const char *study_date,
                          int compression_level,
                          uint8_t **encoded, size_t *encoded_size,
                          char *message, size_t message_capacity);

/// Encodes 8-bit RGB (interleaved, rows of width*3 bytes) as a PNG in memory,
/// for review overlays. Ownership of `*encoded` as for cxr_png_encode_gray16.
int cxr_png_encode_rgb8(const uint8_t *pixels, uint32_t width, uint32_t height,
                        int compression_level,
                        uint8_t **encoded, size_t *encoded_size,
                        char *message, size_t message_capacity);

void cxr_png_free(void *buffer);

/// Walks the chunk structure without decoding: every length in bounds and
/// every CRC correct, up to IEND. Returns CXR_PNG_OK, CXR_PNG_TRUNCATED or
/// CXR_PNG_BAD_CRC (with the chunk's name in `message`). Used to classify a
/// failed decode, because libpng inflates IDAT before checking its CRC.
int cxr_png_check_chunks(const uint8_t *data, size_t size, char *message, size_t message_capacity);

#ifdef __cplusplus
}
#endif
#endif
