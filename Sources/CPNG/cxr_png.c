// CPNG — internal shim over libpng's full read/write API.
// Every libpng call happens inside a function that owns the setjmp; locals
// that change between setjmp and a possible longjmp are volatile.
#include "cxr_png.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

_Static_assert(sizeof(png_uint_32) == 4, "png_uint_32 must be 32-bit");
_Static_assert(sizeof(uint16_t) == 2, "uint16_t must be 2 bytes");
_Static_assert(CXR_PNG_TEXT_VALUE_CAPACITY == 65, "PatientID is DICOM LO: 64 bytes and the terminator");
_Static_assert(CXR_PNG_DATE_CAPACITY == 11, "a date is at most YYYY-MM-DD and the terminator");
#if PNG_LIBPNG_VER < 10600
#error "NoduleKit needs libpng 1.6 or later"
#endif

typedef struct cxr_png_context {
    jmp_buf jump;
    char *message;
    size_t message_capacity;
    // Read side.
    const uint8_t *data;
    size_t size;
    size_t offset;
    int truncated;
    int bad_crc;
    // Write side.
    uint8_t *encoded;
    size_t encoded_size;
    size_t encoded_capacity;
    int out_of_memory;
} cxr_png_context;

static void cxr_png_set_message(cxr_png_context *ctx, const char *text) {
    if (ctx->message && ctx->message_capacity > 0) {
        snprintf(ctx->message, ctx->message_capacity, "%s", text ? text : "");
    }
}

static void cxr_png_on_error(png_structp png, png_const_charp text) {
    cxr_png_context *ctx = (cxr_png_context *)png_get_error_ptr(png);
    if (text && strstr(text, "CRC error")) ctx->bad_crc = 1;
    if (text && strstr(text, "Out of memory")) ctx->out_of_memory = 1;
    if (!ctx->truncated || ctx->message[0] == '\0') cxr_png_set_message(ctx, text);
    longjmp(ctx->jump, 1);
}

static void cxr_png_on_warning(png_structp png, png_const_charp text) {
    (void)png; (void)text;  // ancillary-chunk warnings do not affect pixels
}

static void cxr_png_read_memory(png_structp png, png_bytep dest, size_t length) {
    cxr_png_context *ctx = (cxr_png_context *)png_get_io_ptr(png);
    if (length > ctx->size - ctx->offset) {
        ctx->truncated = 1;
        cxr_png_set_message(ctx, "unexpected end of file");
        png_error(png, "unexpected end of file");
    }
    memcpy(dest, ctx->data + ctx->offset, length);
    ctx->offset += length;
}

/* Copies `value` into `field` when it fits (NUL-terminated); otherwise leaves the
 * field empty and flags `text_too_long`. */
static void cxr_png_copy_text(char *field, size_t capacity, const char *value, size_t length,
                              cxr_png_info *info) {
    if (length + 1 > capacity) { field[0] = '\0'; info->text_too_long = 1; return; }
    memcpy(field, value, length);
    field[length] = '\0';
}

/* The DICOM-keyword text chunks libpng has read so far (those before IDAT). */
static void cxr_png_read_dicom_text(png_structp png, png_infop png_info, cxr_png_info *info) {
    png_textp text = NULL;
    int count = 0;
    if (!png_get_text(png, png_info, &text, &count) || !text) return;
    for (int i = 0; i < count; i++) {
        const char *key = text[i].key;
        const char *value = text[i].text ? text[i].text : "";
        size_t length = text[i].compression >= PNG_ITXT_COMPRESSION_NONE ? text[i].itxt_length : text[i].text_length;
        if (strcasecmp(key, "PatientID") == 0) {
            cxr_png_copy_text(info->patient_id, sizeof info->patient_id, value, length, info);
        } else if (strcasecmp(key, "IssuerOfPatientID") == 0) {
            cxr_png_copy_text(info->issuer_of_patient_id, sizeof info->issuer_of_patient_id, value, length, info);
        } else if (strcasecmp(key, "StudyDate") == 0) {
            cxr_png_copy_text(info->study_date, sizeof info->study_date, value, length, info);
        }
    }
}

int cxr_png_decode(const uint8_t *data, size_t size, uint64_t max_pixels,
                   void *out, size_t out_capacity, cxr_png_info *info,
                   char *message, size_t message_capacity) {
    if (!data || !info || !message || message_capacity == 0) return CXR_PNG_BAD_ARGUMENT;
    memset(info, 0, sizeof *info);
    message[0] = '\0';
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        snprintf(message, message_capacity, "missing PNG signature");
        return size < 8 && size > 0 && png_sig_cmp((png_const_bytep)data, 0, size) == 0
            ? CXR_PNG_TRUNCATED : CXR_PNG_NOT_PNG;
    }

    cxr_png_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.message = message;
    ctx.message_capacity = message_capacity;
    ctx.data = data;
    ctx.size = size;

    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx,
                                             cxr_png_on_error, cxr_png_on_warning);
    if (!png) { cxr_png_set_message(&ctx, "png_create_read_struct failed"); return CXR_PNG_NO_MEMORY; }
    png_infop png_info = png_create_info_struct(png);
    if (!png_info) {
        png_destroy_read_struct(&png, NULL, NULL);
        cxr_png_set_message(&ctx, "png_create_info_struct failed");
        return CXR_PNG_NO_MEMORY;
    }
    png_bytep *volatile rows = NULL;

    if (setjmp(ctx.jump)) {
        free(rows);
        png_destroy_read_struct(&png, &png_info, NULL);
        if (ctx.out_of_memory) return CXR_PNG_NO_MEMORY;
        if (ctx.truncated) return CXR_PNG_TRUNCATED;
        if (ctx.bad_crc) return CXR_PNG_BAD_CRC;
        return CXR_PNG_CORRUPT;
    }

    png_set_read_fn(png, &ctx, cxr_png_read_memory);
    // Bound what a hostile ancillary chunk may make libpng allocate (bytes).
    png_set_chunk_malloc_max(png, 64u * 1024u * 1024u);
    png_read_info(png, png_info);

    png_uint_32 width = 0, height = 0;
    int bit_depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, png_info, &width, &height, &bit_depth, &color_type, &interlace, NULL, NULL);
    info->width = width;
    info->height = height;
    info->bit_depth = (uint8_t)bit_depth;
    info->color_type = (uint8_t)color_type;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    info->out_channels = (color_type & PNG_COLOR_MASK_COLOR) ? 3 : 1;
    info->out_bytes_per_sample = bit_depth == 16 ? 2 : 1;
    info->significant_bits = (color_type == PNG_COLOR_TYPE_PALETTE) ? 8 : (uint8_t)bit_depth;

    png_color_8p sig = NULL;
    if (png_get_sBIT(png, png_info, &sig) && sig) {
        int bits = 0;
        if (color_type & PNG_COLOR_MASK_COLOR) {
            bits = sig->red;
            if (sig->green > bits) bits = sig->green;
            if (sig->blue > bits) bits = sig->blue;
        } else {
            bits = sig->gray;
        }
        int ceiling = color_type == PNG_COLOR_TYPE_PALETTE ? 8 : bit_depth;
        if (bits >= 1 && bits <= ceiling) {
            info->significant_bits = (uint8_t)bits;
            info->has_sbit = 1;
        }
    }

    png_uint_32 ppm_x = 0, ppm_y = 0;
    int unit = 0;
    if (png_get_pHYs(png, png_info, &ppm_x, &ppm_y, &unit) && unit == PNG_RESOLUTION_METER
        && ppm_x > 0 && ppm_y > 0) {
        info->has_phys_metre = 1;
        info->pixels_per_metre_x = ppm_x;
        info->pixels_per_metre_y = ppm_y;
    }

    cxr_png_read_dicom_text(png, png_info, info);

    uint64_t pixels = (uint64_t)width * (uint64_t)height;
    info->required_bytes = pixels * info->out_channels * info->out_bytes_per_sample;
    if (pixels > max_pixels) {
        snprintf(message, message_capacity, "%ux%u exceeds the limit of %llu pixels",
                 (unsigned)width, (unsigned)height, (unsigned long long)max_pixels);
        png_destroy_read_struct(&png, &png_info, NULL);
        return CXR_PNG_TOO_LARGE;
    }
    if (out == NULL) {
        png_destroy_read_struct(&png, &png_info, NULL);
        return CXR_PNG_HEADER_ONLY;
    }
    if (out_capacity < info->required_bytes) {
        snprintf(message, message_capacity, "output buffer holds %zu bytes, %llu needed",
                 out_capacity, (unsigned long long)info->required_bytes);
        png_destroy_read_struct(&png, &png_info, NULL);
        return CXR_PNG_BUFFER_TOO_SMALL;
    }

    // Transforms: palette -> RGB, sub-byte gray unpacked without rescaling,
    // alpha dropped, 16-bit samples in host order. tRNS is ignored.
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (bit_depth < 8) png_set_packing(png);
    if (color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (bit_depth == 16) png_set_swap(png);
#endif
    (void)png_set_interlace_handling(png);
    png_read_update_info(png, png_info);

    size_t rowbytes = png_get_rowbytes(png, png_info);
    size_t expected_rowbytes = (size_t)width * info->out_channels * info->out_bytes_per_sample;
    if (rowbytes != expected_rowbytes) {
        snprintf(message, message_capacity, "unexpected row size %zu (expected %zu)", rowbytes, expected_rowbytes);
        png_destroy_read_struct(&png, &png_info, NULL);
        return CXR_PNG_CORRUPT;
    }
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (height ? height : 1));
    if (!rows) {
        png_destroy_read_struct(&png, &png_info, NULL);
        snprintf(message, message_capacity, "cannot allocate row table");
        return CXR_PNG_NO_MEMORY;
    }
    for (png_uint_32 y = 0; y < height; y++) rows[y] = (png_bytep)out + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    free(rows);
    rows = NULL;
    png_destroy_read_struct(&png, &png_info, NULL);
    return CXR_PNG_OK;
}

static void cxr_png_write_memory(png_structp png, png_bytep bytes, size_t length) {
    cxr_png_context *ctx = (cxr_png_context *)png_get_io_ptr(png);
    if (ctx->encoded_size + length > ctx->encoded_capacity) {
        size_t capacity = ctx->encoded_capacity ? ctx->encoded_capacity : 65536;
        while (capacity < ctx->encoded_size + length) capacity *= 2;
        uint8_t *grown = (uint8_t *)realloc(ctx->encoded, capacity);
        if (!grown) { ctx->out_of_memory = 1; png_error(png, "Out of memory"); }
        ctx->encoded = grown;
        ctx->encoded_capacity = capacity;
    }
    memcpy(ctx->encoded + ctx->encoded_size, bytes, length);
    ctx->encoded_size += length;
}

static void cxr_png_flush_memory(png_structp png) { (void)png; }

/* Text chunks one encode may write (gray16 writes 3: PatientID, IssuerOfPatientID, StudyDate). */
#define CXR_PNG_MAX_TEXT_CHUNKS 3

/* One encoder for both public entry points: `row_bytes` per row, `bit_depth`
 * 8 or 16, gray or RGB. 16-bit samples are in host order and swapped here. */
static int cxr_png_encode(const void *pixels, uint32_t width, uint32_t height,
                          int bit_depth, int color_type, size_t row_bytes,
                          uint8_t significant_bits,
                          uint32_t pixels_per_metre_x, uint32_t pixels_per_metre_y,
                          const char *const *text_keys, const char *const *text_values, int text_count,
                          int compression_level,
                          uint8_t **encoded, size_t *encoded_size,
                          char *message, size_t message_capacity) {
    if (!pixels || !encoded || !encoded_size || !message || message_capacity == 0
        || width == 0 || height == 0) return CXR_PNG_BAD_ARGUMENT;
    *encoded = NULL;
    *encoded_size = 0;
    message[0] = '\0';

    cxr_png_context ctx;
    memset(&ctx, 0, sizeof ctx);
    ctx.message = message;
    ctx.message_capacity = message_capacity;

    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx,
                                              cxr_png_on_error, cxr_png_on_warning);
    if (!png) return CXR_PNG_NO_MEMORY;
    png_infop png_info = png_create_info_struct(png);
    if (!png_info) { png_destroy_write_struct(&png, NULL); return CXR_PNG_NO_MEMORY; }
    png_bytep *volatile rows = NULL;

    if (setjmp(ctx.jump)) {
        free(rows);
        free(ctx.encoded);
        png_destroy_write_struct(&png, &png_info);
        return ctx.out_of_memory ? CXR_PNG_NO_MEMORY : CXR_PNG_CORRUPT;
    }

    png_set_write_fn(png, &ctx, cxr_png_write_memory, cxr_png_flush_memory);
    if (compression_level >= 0 && compression_level <= 9) png_set_compression_level(png, compression_level);
    png_set_IHDR(png, png_info, width, height, bit_depth, color_type, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (color_type == PNG_COLOR_TYPE_GRAY && significant_bits >= 1 && significant_bits < bit_depth) {
        png_color_8 sig;
        memset(&sig, 0, sizeof sig);
        sig.gray = significant_bits;
        png_set_sBIT(png, png_info, &sig);
    }
    if (pixels_per_metre_x > 0 && pixels_per_metre_y > 0) {
        png_set_pHYs(png, png_info, pixels_per_metre_x, pixels_per_metre_y, PNG_RESOLUTION_METER);
    }
    png_text text[CXR_PNG_MAX_TEXT_CHUNKS];
    int written_text = 0;
    for (int i = 0; i < text_count && i < CXR_PNG_MAX_TEXT_CHUNKS; i++) {
        const char *value = text_values[i];
        if (!value || !value[0]) continue;
        int ascii = 1;
        for (const unsigned char *p = (const unsigned char *)value; *p; p++) if (*p >= 0x80) { ascii = 0; break; }
        memset(&text[written_text], 0, sizeof text[written_text]);
        text[written_text].compression = ascii ? PNG_TEXT_COMPRESSION_NONE : PNG_ITXT_COMPRESSION_NONE;
        text[written_text].key = (png_charp)text_keys[i];
        text[written_text].text = (png_charp)value;
        text[written_text].text_length = ascii ? strlen(value) : 0;
        text[written_text].itxt_length = ascii ? 0 : strlen(value);
        written_text++;
    }
    if (written_text > 0) png_set_text(png, png_info, text, written_text);
    png_write_info(png, png_info);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (bit_depth == 16) png_set_swap(png);
#endif
    rows = (png_bytep *)malloc(sizeof(png_bytep) * height);
    if (!rows) { ctx.out_of_memory = 1; png_error(png, "Out of memory"); }
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)pixels + (size_t)y * row_bytes;
    png_write_image(png, rows);
    png_write_end(png, NULL);

    free(rows);
    rows = NULL;
    png_destroy_write_struct(&png, &png_info);
    *encoded = ctx.encoded;
    *encoded_size = ctx.encoded_size;
    return CXR_PNG_OK;
}

int cxr_png_encode_gray16(const uint16_t *pixels, uint32_t width, uint32_t height,
                          uint8_t significant_bits,
                          uint32_t pixels_per_metre_x, uint32_t pixels_per_metre_y,
                          const char *patient_id, const char *issuer_of_patient_id,
                          const char *study_date,
                          int compression_level,
                          uint8_t **encoded, size_t *encoded_size,
                          char *message, size_t message_capacity) {
    const char *const keys[3] = {"PatientID", "IssuerOfPatientID", "StudyDate"};
    const char *const values[3] = {patient_id, issuer_of_patient_id, study_date};
    return cxr_png_encode(pixels, width, height, 16, PNG_COLOR_TYPE_GRAY, (size_t)width * 2,
                          significant_bits, pixels_per_metre_x, pixels_per_metre_y, keys, values, 3,
                          compression_level, encoded, encoded_size, message, message_capacity);
}

int cxr_png_encode_rgb8(const uint8_t *pixels, uint32_t width, uint32_t height,
                        int compression_level,
                        uint8_t **encoded, size_t *encoded_size,
                        char *message, size_t message_capacity) {
    return cxr_png_encode(pixels, width, height, 8, PNG_COLOR_TYPE_RGB, (size_t)width * 3,
                          0, 0, 0, NULL, NULL, 0, compression_level, encoded, encoded_size, message, message_capacity);
}

void cxr_png_free(void *buffer) { free(buffer); }

static uint32_t cxr_png_be32(const uint8_t *p) {
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

int cxr_png_check_chunks(const uint8_t *data, size_t size, char *message, size_t message_capacity) {
    if (!data || !message || message_capacity == 0) return CXR_PNG_BAD_ARGUMENT;
    message[0] = '\0';
    if (size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) return CXR_PNG_NOT_PNG;
    size_t at = 8;
    for (;;) {
        if (size - at < 12) {
            snprintf(message, message_capacity, "file ends inside a chunk header at byte %zu", at);
            return CXR_PNG_TRUNCATED;
        }
        uint32_t length = cxr_png_be32(data + at);
        const uint8_t *type = data + at + 4;
        char name[5] = {0};
        for (int i = 0; i < 4; i++) name[i] = (type[i] >= 32 && type[i] < 127) ? (char)type[i] : '?';
        if (length > 0x7FFFFFFFu || (size_t)length > size - at - 12) {
            snprintf(message, message_capacity, "%s chunk at byte %zu runs past the end of the file", name, at);
            return CXR_PNG_TRUNCATED;
        }
        uLong crc = crc32(0L, Z_NULL, 0);
        crc = crc32(crc, type, (uInt)(length + 4));
        if ((uint32_t)crc != cxr_png_be32(type + 4 + length)) {
            snprintf(message, message_capacity, "%s chunk at byte %zu: CRC error", name, at);
            return CXR_PNG_BAD_CRC;
        }
        at += 12 + (size_t)length;
        if (memcmp(type, "IEND", 4) == 0) return CXR_PNG_OK;
    }
}
