// CLibdeflate — internal system-library target. Not a public API.
// libdeflate's whole-buffer zlib decompression and CRC-32, for RadiographIO's PNG pixel path
// (PNGPixelPath.swift): a grayscale PNG's image data inflated in one call, about 2.5 times as
// fast as zlib's streaming inflate that libpng uses, and its chunks' CRCs checked.
#ifndef NODULEKIT_CLIBDEFLATE_SHIM_H
#define NODULEKIT_CLIBDEFLATE_SHIM_H
#include <libdeflate.h>
#endif
