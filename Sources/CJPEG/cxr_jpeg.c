// CJPEG — internal shim over the libjpeg API of libjpeg-turbo.
// cxr_jpeg_decode owns the setjmp; the error manager's error_exit longjmps
// back into it and never calls exit().
#include "cxr_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

_Static_assert(sizeof(JSAMPLE) == 1, "NoduleKit expects an 8-bit libjpeg build (BITS_IN_JSAMPLE == 8)");
_Static_assert(sizeof(JDIMENSION) == 4, "JDIMENSION must be 32-bit");
#if JPEG_LIB_VERSION < 62
#error "NoduleKit needs the libjpeg 6b API or later"
#endif

typedef struct cxr_jpeg_error {
    struct jpeg_error_mgr base;
    jmp_buf jump;
    char *message;
    size_t message_capacity;
    int fatal_code;
    int truncated;
    int corrupt;
    unsigned benign;
} cxr_jpeg_error;

static void cxr_jpeg_format(j_common_ptr cinfo, cxr_jpeg_error *err) {
    char buffer[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, buffer);
    snprintf(err->message, err->message_capacity, "%s", buffer);
}

static void cxr_jpeg_error_exit(j_common_ptr cinfo) {
    cxr_jpeg_error *err = (cxr_jpeg_error *)cinfo->err;
    err->fatal_code = cinfo->err->msg_code;
    cxr_jpeg_format(cinfo, err);
    longjmp(err->jump, 1);
}

static void cxr_jpeg_emit_message(j_common_ptr cinfo, int msg_level) {
    if (msg_level >= 0) return;  // trace messages
    cxr_jpeg_error *err = (cxr_jpeg_error *)cinfo->err;
    int code = cinfo->err->msg_code;
    if (code == JWRN_EXTRANEOUS_DATA) { err->benign++; return; }
    if (code == JWRN_JPEG_EOF) {
        if (!err->truncated) cxr_jpeg_format(cinfo, err);
        err->truncated = 1;
        return;
    }
    // Any other warning means the entropy-coded data was damaged and libjpeg
    // filled in pixels: never pass such an image on.
    if (!err->corrupt && !err->truncated) cxr_jpeg_format(cinfo, err);
    err->corrupt = 1;
}

static void cxr_jpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static int cxr_jpeg_status_for_fatal(int code) {
    switch (code) {
    case JERR_NO_SOI: return CXR_JPEG_NOT_JPEG;
    case JERR_INPUT_EMPTY:
    case JERR_INPUT_EOF: return CXR_JPEG_TRUNCATED;
    case JERR_OUT_OF_MEMORY: return CXR_JPEG_NO_MEMORY;
    case JERR_BAD_PRECISION:
    case JERR_NOT_COMPILED:
    case JERR_NO_ARITH_TABLE:
    case JERR_CONVERSION_NOTIMPL:
    case JERR_NOTIMPL:
        return CXR_JPEG_UNSUPPORTED;
    default: return CXR_JPEG_CORRUPT;
    }
}

int cxr_jpeg_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                    void *out, size_t out_capacity, cxr_jpeg_info *info,
                    char *message, size_t message_capacity) {
    if (!data || !info || !message || message_capacity == 0) return CXR_JPEG_BAD_ARGUMENT;
    memset(info, 0, sizeof *info);
    message[0] = '\0';
    if (size < 2 || data[0] != 0xFF || data[1] != 0xD8) {
        snprintf(message, message_capacity, "missing JPEG start-of-image marker");
        return CXR_JPEG_NOT_JPEG;
    }

    struct jpeg_decompress_struct cinfo;
    cxr_jpeg_error err;
    memset(&err, 0, sizeof err);
    err.message = message;
    err.message_capacity = message_capacity;
    cinfo.err = jpeg_std_error(&err.base);
    err.base.error_exit = cxr_jpeg_error_exit;
    err.base.emit_message = cxr_jpeg_emit_message;
    err.base.output_message = cxr_jpeg_output_message;

    if (setjmp(err.jump)) {
        jpeg_destroy_decompress(&cinfo);
        if (err.truncated && err.fatal_code != JERR_OUT_OF_MEMORY) return CXR_JPEG_TRUNCATED;
        return cxr_jpeg_status_for_fatal(err.fatal_code);
    }

    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);
    if (err.truncated) {
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_TRUNCATED;
    }

    info->width = cinfo.image_width;
    info->height = cinfo.image_height;
    info->components = (uint8_t)cinfo.num_components;
    info->color_space = (uint8_t)cinfo.jpeg_color_space;
    info->progressive = cinfo.progressive_mode ? 1 : 0;
    info->arithmetic = cinfo.arith_code ? 1 : 0;
    info->data_precision = (uint8_t)cinfo.data_precision;
    info->saw_jfif = cinfo.saw_JFIF_marker ? 1 : 0;
    info->density_unit = cinfo.density_unit;
    info->x_density = cinfo.X_density;
    info->y_density = cinfo.Y_density;
    info->saw_adobe = cinfo.saw_Adobe_marker ? 1 : 0;
    info->adobe_transform = cinfo.Adobe_transform;

    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE:
    case JCS_YCbCr:
        cinfo.out_color_space = JCS_GRAYSCALE;
        info->output = CXR_JPEG_OUTPUT_GRAY;
        break;
    case JCS_RGB:
        cinfo.out_color_space = JCS_RGB;
        info->output = CXR_JPEG_OUTPUT_RGB;
        break;
    case JCS_CMYK:
    case JCS_YCCK:
        cinfo.out_color_space = JCS_CMYK;
        info->output = CXR_JPEG_OUTPUT_CMYK;
        break;
    default:
        snprintf(message, message_capacity, "unsupported JPEG colour space %d with %d components",
                 (int)cinfo.jpeg_color_space, cinfo.num_components);
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_UNSUPPORTED;
    }

    uint64_t pixels = (uint64_t)cinfo.image_width * (uint64_t)cinfo.image_height;
    info->required_bytes = pixels * (uint64_t)info->output;
    if (pixels > max_pixels) {
        snprintf(message, message_capacity, "%ux%u exceeds the limit of %llu pixels",
                 (unsigned)cinfo.image_width, (unsigned)cinfo.image_height,
                 (unsigned long long)max_pixels);
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_TOO_LARGE;
    }
    if (out == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_HEADER_ONLY;
    }
    if (out_capacity < info->required_bytes) {
        snprintf(message, message_capacity, "output buffer holds %zu bytes, %llu needed",
                 out_capacity, (unsigned long long)info->required_bytes);
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_BUFFER_TOO_SMALL;
    }

    jpeg_start_decompress(&cinfo);
    size_t stride = (size_t)cinfo.output_width * (size_t)cinfo.output_components;
    if (cinfo.output_width != cinfo.image_width || cinfo.output_height != cinfo.image_height
        || (uint8_t)cinfo.output_components != info->output) {
        snprintf(message, message_capacity, "decoder output geometry differs from the header");
        jpeg_destroy_decompress(&cinfo);
        return CXR_JPEG_CORRUPT;
    }
    while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = (JSAMPROW)out + (size_t)cinfo.output_scanline * stride;
        jpeg_read_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);

    info->benign_warnings = err.benign;
    if (err.truncated) return CXR_JPEG_TRUNCATED;
    if (err.corrupt) return CXR_JPEG_CORRUPT;
    return CXR_JPEG_OK;
}
