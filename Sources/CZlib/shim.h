// CZlib — internal system-library target. Not a public API.
// zlib's raw inflate, for walking a deflated DICOM data set (PS3.5 A.5) in Swift before GDCM
// sees it (RadiographIO's DICOMPreflight). inflateInit2 is a macro, which Swift cannot call,
// so one inline function owns it.
#ifndef NODULEKIT_CZLIB_SHIM_H
#define NODULEKIT_CZLIB_SHIM_H
#include <zlib.h>

/// inflateInit2 for a raw deflate stream (no zlib or gzip wrapper, 32 KiB window).
static inline int cxr_zlib_inflate_init_raw(z_stream *stream) {
    return inflateInit2(stream, -MAX_WBITS);
}
#endif
