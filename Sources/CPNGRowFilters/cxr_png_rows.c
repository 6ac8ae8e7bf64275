// See include/cxr_png_rows.h. Byte-for-byte the filters libpng reverses (pngrutil.c), checked
// against libpng on every phantom set (Tests/RadiographIOTests/PNGPixelPathTests.swift, and
// Benchmarks/recorded/2026-12-07-session41.txt).
#include "cxr_png_rows.h"

#include <stdlib.h>
#include <string.h>

_Static_assert(sizeof(uint16_t) == 2, "16-bit samples");

/// One row, `bpp` 1 or 2. `prev` is the unfiltered row above (all zero for the first row).
static void cxr_unfilter_row(uint8_t type, uint8_t *row, const uint8_t *prev, size_t n, unsigned bpp) {
    switch (type) {
    case 0:
        return;
    case 1:
        for (size_t i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + row[i - bpp]);
        return;
    case 2:
        for (size_t i = 0; i < n; i++) row[i] = (uint8_t)(row[i] + prev[i]);
        return;
    case 3:
        for (size_t i = 0; i < bpp && i < n; i++) row[i] = (uint8_t)(row[i] + (prev[i] >> 1));
        for (size_t i = bpp; i < n; i++) row[i] = (uint8_t)(row[i] + ((row[i - bpp] + prev[i]) >> 1));
        return;
    case 4:
        // The predictor of the byte `bpp` before (a), above (b) and above that (c): whichever of
        // them is closest to a + b − c, ties in that order. One loop for every byte: the chains of
        // a pixel's bytes are independent and the processor overlaps them (a separate loop per
        // chain measured slower with clang).
        for (size_t i = 0; i < bpp && i < n; i++) row[i] = (uint8_t)(row[i] + prev[i]);
        for (size_t i = bpp; i < n; i++) {
            int a = row[i - bpp], b = prev[i], c = prev[i - bpp];
            int p = b - c, q = a - c;
            int pa = abs(p), pb = abs(q), pc = abs(p + q);
            if (pb < pa) { pa = pb; a = b; }
            if (pc < pa) a = c;
            row[i] = (uint8_t)(row[i] + a);
        }
        return;
    }
}

/// Sixteen consecutive Paeth rows at once, as a wavefront: a vector holds one byte of each row,
/// row k lagging k bytes behind row k − 1, so every byte it needs from the row above (b, c) and
/// from its own row (a) was made by an earlier step. Within a row Paeth is a serial chain, so
/// this is how it gets vectorised (about 2.8 times as fast as the row loop on a 2048² 16-bit
/// radiograph). `rows[k]` is row k's filtered bytes (`n`), `above` the unfiltered row before
/// them (zeros for the image's first row); `bpp` is 1 or 2.
typedef int16_t cxr_lanes __attribute__((ext_vector_type(16)));
#define CXR_WAVE_ROWS 16

// A macro, not a function: a 256-bit vector argument's ABI depends on the instruction set.
#define CXR_ABS_LANES(x) ((x) < 0 ? -(x) : (x))

static void cxr_paeth_wavefront(uint8_t *const rows[CXR_WAVE_ROWS], const uint8_t *above, size_t n, unsigned bpp) {
    // The last three steps' results: enough for c, which is bpp + 1 steps back.
    cxr_lanes previous1 = 0, previous2 = 0, previous3 = 0;
    for (size_t t = 0; t < n + CXR_WAVE_ROWS - 1; t++) {
        // Lane k is row k's byte t − k; lanes before their row's start (or past its end) are 0.
        const int inside = t >= CXR_WAVE_ROWS - 1 && t < n;
        int16_t gathered[CXR_WAVE_ROWS];
        for (int k = 0; k < CXR_WAVE_ROWS; k++) {
            long j = (long)t - k;
            gathered[k] = inside || (j >= 0 && (size_t)j < n) ? rows[k][j] : 0;
        }
        cxr_lanes x;
        memcpy(&x, gathered, sizeof x);
        // a: this row, bpp bytes before; b: the row above, this byte (one lane up, one step
        // back); c: the row above, bpp bytes before. Lane 0's row above is `above`.
        cxr_lanes a = bpp == 2 ? previous2 : previous1;
        cxr_lanes fromB = previous1, fromC = bpp == 2 ? previous3 : previous2;
        cxr_lanes b = __builtin_shufflevector(fromB, fromB, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
        cxr_lanes c = __builtin_shufflevector(fromC, fromC, -1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14);
        b[0] = t < n ? above[t] : 0;
        c[0] = t >= bpp && t - bpp < n ? above[t - bpp] : 0;
        cxr_lanes p = b - c, q = a - c;
        cxr_lanes pa = CXR_ABS_LANES(p), pb = CXR_ABS_LANES(q), pc = CXR_ABS_LANES(p + q);
        cxr_lanes pickB = pb < pa;
        cxr_lanes predictor = pickB ? b : a;
        cxr_lanes nearest = pickB ? pb : pa;
        predictor = pc < nearest ? c : predictor;
        cxr_lanes result = (x + predictor) & 0xFF;
        int16_t bytes[CXR_WAVE_ROWS];
        memcpy(bytes, &result, sizeof result);
        if (inside) {
            for (int k = 0; k < CXR_WAVE_ROWS; k++) rows[k][t - k] = (uint8_t)bytes[k];
        } else {
            // At the wavefront's two ends: lanes outside their row are zeroed for the steps after.
            for (int k = 0; k < CXR_WAVE_ROWS; k++) {
                long j = (long)t - k;
                if (j >= 0 && (size_t)j < n) rows[k][j] = (uint8_t)bytes[k];
                else bytes[k] = 0;
            }
            memcpy(&result, bytes, sizeof result);
        }
        previous3 = previous2;
        previous2 = previous1;
        previous1 = result;
    }
}

long cxr_png_unfilter_gray(uint8_t *data, size_t row_bytes, size_t height, unsigned bpp) {
    if (bpp != 1 && bpp != 2) return -1;
    // The row above the first is all zero (§9.2); a small stack row serves narrow images,
    // wider ones a zeroed heap row.
    uint8_t small[4096];
    uint8_t *zero = row_bytes <= sizeof small ? small : calloc(row_bytes, 1);
    if (!zero) return -1;
    if (zero == small) memset(small, 0, row_bytes);
    const size_t stride = row_bytes + 1;
    long result = 0;
    for (size_t y = 0; y < height;) {
        uint8_t *line = data + y * stride;
        const uint8_t *prev = y == 0 ? zero : line - stride + 1;
        // Sixteen Paeth rows in a row (most of a radiograph exported by OpenCV or Pillow) go
        // through the wavefront; any other row on its own.
        size_t run = 0;
        while (run < CXR_WAVE_ROWS && y + run < height && data[(y + run) * stride] == 4) run++;
        if (run == CXR_WAVE_ROWS) {
            uint8_t *rows[CXR_WAVE_ROWS];
            for (int k = 0; k < CXR_WAVE_ROWS; k++) rows[k] = data + (y + k) * stride + 1;
            cxr_paeth_wavefront(rows, prev, row_bytes, bpp);
            y += CXR_WAVE_ROWS;
            continue;
        }
        if (line[0] > 4) { result = (long)y + 1; break; }
        cxr_unfilter_row(line[0], line + 1, prev, row_bytes, bpp);
        y++;
    }
    if (zero != small) free(zero);
    return result;
}

long cxr_png_decode_gray_in_place(void *memory, size_t width, size_t height, unsigned bit_depth) {
    if (bit_depth != 8 && bit_depth != 16) return -1;
    uint8_t *data = memory;
    const size_t bpp = bit_depth / 8, row_bytes = width * bpp, stride = row_bytes + 1;
    long unfiltered = cxr_png_unfilter_gray(data, row_bytes, height, (unsigned)bpp);
    if (unfiltered != 0) return unfiltered;
    if (bit_depth == 16) {
        // Forwards: sample (y, x) goes to byte 2(yw + x), before where it is read from
        // (y(2w + 1) + 1 + 2x), so every byte not yet read lies past every byte written.
        for (size_t y = 0; y < height; y++) {
            const uint8_t *row = data + y * stride + 1;
            uint8_t *out = data + 2 * y * width;
            for (size_t x = 0; x < width; x++) {
                uint16_t v = (uint16_t)((row[2 * x] << 8) | row[2 * x + 1]);
                memcpy(out + 2 * x, &v, 2);
            }
        }
    } else {
        // Backwards: sample (y, x) grows to two bytes at 2(yw + x), at or after where it is read
        // from (y(w + 1) + 1 + x) except for the very first, so every byte not yet read lies before
        // every byte written.
        for (size_t y = height; y-- > 0;) {
            const uint8_t *row = data + y * stride + 1;
            for (size_t x = width; x-- > 0;) {
                uint16_t v = row[x];
                memcpy(data + 2 * (y * width + x), &v, 2);
            }
        }
    }
    return 0;
}
