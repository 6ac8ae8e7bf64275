// CGDCM — internal to NoduleKit. Not a public API; only RadiographIO imports it.
//
// A plain-C view of GDCM: one opaque handle per parsed file, status codes,
// and a caller-supplied message buffer. Every entry point catches all C++
// exceptions. GDCM asserts (abort) cannot be caught: call this from a worker
// process for untrusted input.
#ifndef NODULEKIT_CXR_DICOM_H
#define NODULEKIT_CXR_DICOM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cxr_dcm_status {
    CXR_DCM_OK = 0,
    CXR_DCM_BAD_ARGUMENT = 1,
    /// GDCM could not parse the data set (message says why).
    CXR_DCM_PARSE_FAILED = 2,
    /// The data set has no Pixel Data (7FE0,0010).
    CXR_DCM_NO_PIXEL_DATA = 3,
    /// A transfer syntax outside the supported list; its UID is in the message.
    CXR_DCM_UNSUPPORTED_TRANSFER_SYNTAX = 4,
    /// A pixel layout this shim does not deliver (message says which).
    CXR_DCM_UNSUPPORTED_LAYOUT = 5,
    /// The codec failed on the pixel data.
    CXR_DCM_DECODE_FAILED = 6,
    CXR_DCM_BUFFER_TOO_SMALL = 7,
    /// The requested element is absent (or has no value bytes).
    CXR_DCM_NOT_FOUND = 8,
    CXR_DCM_NO_MEMORY = 9,
    /// Native (uncompressed) Pixel Data holds fewer bytes than rows x columns x frames needs.
    CXR_DCM_PIXEL_DATA_SHORT = 10,
    /// Any other C++ exception.
    CXR_DCM_INTERNAL = 11,
} cxr_dcm_status;

typedef struct cxr_dcm_handle cxr_dcm_handle;

typedef struct cxr_dcm_info {
    uint32_t rows;
    uint32_t columns;
    uint32_t frames;
    uint16_t bits_allocated;
    uint16_t bits_stored;
    uint16_t high_bit;
    uint16_t pixel_representation;
    uint16_t samples_per_pixel;
    /// Bits Stored (0028,0101) and High Bit (0028,0102) as the header states them
    /// (0 when absent). GDCM's own values above follow the codestream (e.g. a
    /// 16-bit JPEG 2000 stream under a 12-bit header).
    uint16_t header_bits_stored;
    uint16_t header_high_bit;
    /// Non-zero when the transfer syntax is encapsulated (compressed).
    uint8_t encapsulated;
    /// Non-zero when a Modality LUT Sequence (0028,3000) item has descriptor and data.
    uint8_t has_modality_lut;
    /// Modality LUT descriptor: entries (0 means 65536), first mapped value, bits per entry.
    uint32_t modality_lut_entries;
    int32_t modality_lut_first_mapped;
    uint16_t modality_lut_bits;
    /// Bytes of Pixel Data as stored (native) or the sum of fragments (encapsulated).
    uint64_t pixel_data_bytes;
    /// Bytes of one decoded frame: rows * columns * samples * bits_allocated / 8.
    uint64_t frame_bytes;
    /// Photometric Interpretation as GDCM understood it, e.g. "MONOCHROME1".
    char photometric[32];
    /// The data set's transfer syntax UID (NUL-terminated, no padding).
    char transfer_syntax[72];
} cxr_dcm_info;

/// Parses a whole DICOM file held in memory (header and data set; pixel data
/// is not decompressed yet). On success `*handle` must be released with
/// cxr_dcm_close. The bytes must stay valid until cxr_dcm_close.
int cxr_dcm_open(const uint8_t *data, size_t size, cxr_dcm_handle **handle,
                 char *message, size_t message_capacity);

/// Fills `info` for the parsed image. Fails with CXR_DCM_NO_PIXEL_DATA,
/// CXR_DCM_UNSUPPORTED_TRANSFER_SYNTAX or CXR_DCM_PIXEL_DATA_SHORT before any decode.
int cxr_dcm_info_get(const cxr_dcm_handle *handle, cxr_dcm_info *info,
                     char *message, size_t message_capacity);

/// Copies the raw value bytes of a top-level element (strings as stored, in
/// the file's character set, padding included). `*length` receives the full
/// value length even when `capacity` is too small (CXR_DCM_BUFFER_TOO_SMALL).
int cxr_dcm_element(const cxr_dcm_handle *handle, uint16_t group, uint16_t element,
                    uint8_t *out, size_t capacity, size_t *length);

/// Copies the first Modality LUT's data (host order, `entries` values).
int cxr_dcm_modality_lut(const cxr_dcm_handle *handle, uint16_t *out, size_t entries);

/// Decodes the pixel data and copies the first frame (host byte order,
/// stored values as GDCM returns them: no masking, no sign extension) into
/// `out`, which must hold `info.frame_bytes`.
int cxr_dcm_decode_first_frame(cxr_dcm_handle *handle, void *out, size_t capacity,
                               char *message, size_t message_capacity);

void cxr_dcm_close(cxr_dcm_handle *handle);

/// For the worker process: starts a watcher thread that ends the process (status 137)
/// within 0.2 s of its parent process dying, so a worker stuck inside GDCM never
/// outlives the batch. (Not PR_SET_PDEATHSIG, which follows the spawning thread.)
void cxr_dcm_worker_prepare(void);

/// Silences GDCM's warning/error/debug traces (they go to stderr otherwise).
void cxr_dcm_quiet(void);

#ifdef __cplusplus
}
#endif
#endif
