// CGDCM — internal shim over GDCM 3.0. See README.md.
//
// Every extern "C" function body is one try/catch(...) block, so no C++
// exception ever unwinds into Swift. GDCM's own assert() aborts cannot be
// caught here; the caller isolates them in a worker process.
#include "cxr_dicom.h"

#include <gdcm-3.0/gdcmAttribute.h>
#include <gdcm-3.0/gdcmDataSet.h>
#include <gdcm-3.0/gdcmFileMetaInformation.h>
#include <gdcm-3.0/gdcmImage.h>
#include <gdcm-3.0/gdcmImageReader.h>
#include <gdcm-3.0/gdcmPixelFormat.h>
#include <gdcm-3.0/gdcmSequenceOfItems.h>
#include <gdcm-3.0/gdcmTrace.h>
#include <gdcm-3.0/gdcmTransferSyntax.h>

#include <pthread.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <istream>
#include <new>
#include <streambuf>
#include <string>
#include <vector>

static_assert(sizeof(uint16_t) == 2, "uint16_t must be 2 bytes");
static_assert(sizeof(cxr_dcm_info) <= 256, "cxr_dcm_info should stay small");
#if __cplusplus < 201703L
#error "CGDCM needs C++17 (cxxLanguageStandard: .cxx17)"
#endif

namespace {

/// A read-only, seekable stream buffer over caller-owned memory (no copy).
class MemoryBuffer final : public std::streambuf {
public:
    MemoryBuffer(const uint8_t *data, size_t size) {
        char *begin = reinterpret_cast<char *>(const_cast<uint8_t *>(data));
        setg(begin, begin, begin + size);
    }

protected:
    pos_type seekoff(off_type offset, std::ios_base::seekdir dir, std::ios_base::openmode which) override {
        if (!(which & std::ios_base::in)) return pos_type(off_type(-1));
        off_type base = 0;
        if (dir == std::ios_base::cur) base = gptr() - eback();
        else if (dir == std::ios_base::end) base = egptr() - eback();
        const off_type target = base + offset;
        if (target < 0 || target > egptr() - eback()) return pos_type(off_type(-1));
        setg(eback(), eback() + target, egptr());
        return pos_type(target);
    }
    pos_type seekpos(pos_type position, std::ios_base::openmode which) override {
        return seekoff(off_type(position), std::ios_base::beg, which);
    }
};

void set_message(char *message, size_t capacity, const std::string &text) {
    if (message && capacity > 0) std::snprintf(message, capacity, "%s", text.c_str());
}

/// The one place an exception becomes a status code (call only inside a `catch`):
/// out of memory → CXR_DCM_NO_MEMORY, a std::exception → `library_failure` with
/// GDCM's text, anything else → CXR_DCM_INTERNAL naming what was being done.
int status_for_current_exception(char *message, size_t capacity, int library_failure, const char *activity) {
    try {
        throw;
    } catch (const std::bad_alloc &) {
        set_message(message, capacity, "out of memory");
        return CXR_DCM_NO_MEMORY;
    } catch (const std::exception &e) {
        set_message(message, capacity, std::string("GDCM: ") + e.what());
        return library_failure;
    } catch (...) {
        set_message(message, capacity, std::string("GDCM threw a non-standard exception ") + activity);
        return CXR_DCM_INTERNAL;
    }
}

std::string trimmed(const char *bytes, size_t length) {
    std::string s(bytes, length);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
    return s;
}

}  // namespace

struct cxr_dcm_handle {
    MemoryBuffer buffer;
    std::istream stream;
    gdcm::ImageReader reader;
    cxr_dcm_handle(const uint8_t *data, size_t size) : buffer(data, size), stream(&buffer) {}
};

extern "C" {

void cxr_dcm_worker_prepare(void) {
    // Not prctl(PR_SET_PDEATHSIG): that signal follows the parent *thread*, and the pool
    // spawns workers from Dispatch threads that may retire while the worker is still wanted.
    // A detached thread polls getppid() instead; a change means the parent process is gone.
    static pid_t parent = getppid();
    pthread_attr_t attr;
    if (pthread_attr_init(&attr) != 0) return;
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 64 * 1024);
    pthread_t watcher;
    pthread_create(&watcher, &attr, [](void *) -> void * {
        while (getppid() == parent) usleep(200 * 1000);
        _exit(137);
    }, nullptr);
    pthread_attr_destroy(&attr);
}

void cxr_dcm_quiet(void) {
    try {
        gdcm::Trace::SetDebug(false);
        gdcm::Trace::SetWarning(false);
        gdcm::Trace::SetError(false);
    } catch (...) {
    }
}

int cxr_dcm_open(const uint8_t *data, size_t size, cxr_dcm_handle **handle,
                 char *message, size_t message_capacity) {
    if (!data || !handle || !message || message_capacity == 0) return CXR_DCM_BAD_ARGUMENT;
    *handle = nullptr;
    message[0] = '\0';
    try {
        auto *h = new (std::nothrow) cxr_dcm_handle(data, size);
        if (!h) return CXR_DCM_NO_MEMORY;
        h->reader.SetStream(h->stream);
        if (!h->reader.Read()) {
            // ImageReader fails both on a broken data set and on one without an image.
            const gdcm::DataSet &ds = h->reader.GetFile().GetDataSet();
            const bool pixels = ds.FindDataElement(gdcm::Tag(0x7fe0, 0x0010));
            set_message(message, message_capacity,
                        pixels ? "GDCM could not read the image" : "no Pixel Data (7FE0,0010)");
            delete h;
            return pixels ? CXR_DCM_PARSE_FAILED : CXR_DCM_NO_PIXEL_DATA;
        }
        *handle = h;
        return CXR_DCM_OK;
    } catch (...) {
        return status_for_current_exception(message, message_capacity, CXR_DCM_PARSE_FAILED, "while parsing");
    }
}

int cxr_dcm_info_get(const cxr_dcm_handle *handle, cxr_dcm_info *info,
                     char *message, size_t message_capacity) {
    if (!handle || !info || !message || message_capacity == 0) return CXR_DCM_BAD_ARGUMENT;
    std::memset(info, 0, sizeof *info);
    message[0] = '\0';
    try {
        const gdcm::Image &image = handle->reader.GetImage();
        const gdcm::File &file = handle->reader.GetFile();
        const gdcm::DataSet &ds = file.GetDataSet();

        // Transfer syntax: the UID as written in the meta header, else GDCM's view.
        std::string ts;
        const gdcm::Tag tsTag(0x0002, 0x0010);
        if (file.GetHeader().FindDataElement(tsTag)) {
            const gdcm::ByteValue *bv = file.GetHeader().GetDataElement(tsTag).GetByteValue();
            if (bv) ts = trimmed(bv->GetPointer(), bv->GetLength());
        }
        if (ts.empty()) {
            const char *s = image.GetTransferSyntax().GetString();
            if (s) ts = s;
        }
        std::snprintf(info->transfer_syntax, sizeof info->transfer_syntax, "%s", ts.c_str());

        const gdcm::Tag pixelTag(0x7fe0, 0x0010);
        if (!ds.FindDataElement(pixelTag) || ds.GetDataElement(pixelTag).IsEmpty()) {
            set_message(message, message_capacity, "no Pixel Data (7FE0,0010)");
            return CXR_DCM_NO_PIXEL_DATA;
        }

        const gdcm::PixelFormat &pf = image.GetPixelFormat();
        info->columns = image.GetDimension(0);
        info->rows = image.GetDimension(1);
        info->frames = image.GetNumberOfDimensions() > 2 ? image.GetDimension(2) : 1;
        if (info->frames == 0) info->frames = 1;
        info->bits_allocated = pf.GetBitsAllocated();
        info->bits_stored = pf.GetBitsStored();
        info->high_bit = pf.GetHighBit();
        info->pixel_representation = pf.GetPixelRepresentation();
        info->samples_per_pixel = pf.GetSamplesPerPixel();
        {
            gdcm::Attribute<0x0028, 0x0101> bitsStored;
            gdcm::Attribute<0x0028, 0x0102> highBit;
            if (ds.FindDataElement(bitsStored.GetTag()) && !ds.GetDataElement(bitsStored.GetTag()).IsEmpty()) {
                bitsStored.SetFromDataSet(ds);
                info->header_bits_stored = bitsStored.GetValue();
            }
            if (ds.FindDataElement(highBit.GetTag()) && !ds.GetDataElement(highBit.GetTag()).IsEmpty()) {
                highBit.SetFromDataSet(ds);
                info->header_high_bit = highBit.GetValue();
            }
        }
        const char *pi = gdcm::PhotometricInterpretation::GetPIString(image.GetPhotometricInterpretation());
        std::snprintf(info->photometric, sizeof info->photometric, "%s", pi ? pi : "");
        info->frame_bytes = uint64_t(info->rows) * info->columns * info->samples_per_pixel
                            * ((info->bits_allocated + 7u) / 8u);

        const gdcm::DataElement &pixels = ds.GetDataElement(pixelTag);
        info->encapsulated = image.GetTransferSyntax().IsEncapsulated() ? 1 : 0;
        if (const gdcm::ByteValue *bv = pixels.GetByteValue()) {
            info->pixel_data_bytes = bv->GetLength();
        } else if (const gdcm::SequenceOfFragments *sf = pixels.GetSequenceOfFragments()) {
            info->pixel_data_bytes = sf->ComputeByteLength();
        }
        if (!info->encapsulated && info->bits_allocated >= 8) {
            const uint64_t needed = info->frame_bytes * info->frames;
            if (info->pixel_data_bytes < needed) {
                set_message(message, message_capacity,
                            "Pixel Data holds " + std::to_string(info->pixel_data_bytes) + " bytes; "
                            + std::to_string(info->rows) + " x " + std::to_string(info->columns) + " x "
                            + std::to_string(info->frames) + " frame(s) need " + std::to_string(needed));
                return CXR_DCM_PIXEL_DATA_SHORT;
            }
        }

        // Modality LUT Sequence: first item's descriptor and data.
        const gdcm::Tag lutSeq(0x0028, 0x3000);
        if (ds.FindDataElement(lutSeq)) {
            gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(lutSeq).GetValueAsSQ();
            if (sq && sq->GetNumberOfItems() >= 1) {
                const gdcm::DataSet &item = sq->GetItem(1).GetNestedDataSet();
                const gdcm::Tag descriptorTag(0x0028, 0x3002), dataTag(0x0028, 0x3006);
                if (item.FindDataElement(descriptorTag) && item.FindDataElement(dataTag)) {
                    const gdcm::ByteValue *d = item.GetDataElement(descriptorTag).GetByteValue();
                    const gdcm::ByteValue *v = item.GetDataElement(dataTag).GetByteValue();
                    if (d && v && d->GetLength() >= 6) {
                        uint16_t raw[3];
                        std::memcpy(raw, d->GetPointer(), 6);
                        info->has_modality_lut = 1;
                        info->modality_lut_entries = raw[0] == 0 ? 65536u : raw[0];
                        // The first mapped value is US or SS, matching Pixel Representation.
                        info->modality_lut_first_mapped = info->pixel_representation ? int32_t(int16_t(raw[1])) : int32_t(raw[1]);
                        info->modality_lut_bits = raw[2];
                        const uint64_t bytesPer = 2;  // LUT Data is OW/US: 16-bit words whatever the bits per entry
                        if (v->GetLength() < info->modality_lut_entries * bytesPer) info->has_modality_lut = 0;
                    }
                }
            }
        }
        return CXR_DCM_OK;
    } catch (...) {
        return status_for_current_exception(message, message_capacity, CXR_DCM_PARSE_FAILED, "reading attributes");
    }
}

int cxr_dcm_element(const cxr_dcm_handle *handle, uint16_t group, uint16_t element,
                    uint8_t *out, size_t capacity, size_t *length) {
    if (!handle || !length) return CXR_DCM_BAD_ARGUMENT;
    *length = 0;
    try {
        const gdcm::Tag tag(group, element);
        const gdcm::DataSet &ds = group == 0x0002 ? handle->reader.GetFile().GetHeader()
                                                  : handle->reader.GetFile().GetDataSet();
        if (!ds.FindDataElement(tag)) return CXR_DCM_NOT_FOUND;
        const gdcm::ByteValue *bv = ds.GetDataElement(tag).GetByteValue();
        if (!bv) return CXR_DCM_NOT_FOUND;
        *length = bv->GetLength();
        if (*length > capacity || (*length > 0 && !out)) return CXR_DCM_BUFFER_TOO_SMALL;
        if (*length > 0) std::memcpy(out, bv->GetPointer(), *length);
        return CXR_DCM_OK;
    } catch (...) {
        return CXR_DCM_INTERNAL;
    }
}

int cxr_dcm_modality_lut(const cxr_dcm_handle *handle, uint16_t *out, size_t entries) {
    if (!handle || !out) return CXR_DCM_BAD_ARGUMENT;
    try {
        const gdcm::DataSet &ds = handle->reader.GetFile().GetDataSet();
        const gdcm::Tag lutSeq(0x0028, 0x3000);
        if (!ds.FindDataElement(lutSeq)) return CXR_DCM_NOT_FOUND;
        gdcm::SmartPointer<gdcm::SequenceOfItems> sq = ds.GetDataElement(lutSeq).GetValueAsSQ();
        if (!sq || sq->GetNumberOfItems() < 1) return CXR_DCM_NOT_FOUND;
        const gdcm::DataSet &item = sq->GetItem(1).GetNestedDataSet();
        const gdcm::Tag dataTag(0x0028, 0x3006);
        if (!item.FindDataElement(dataTag)) return CXR_DCM_NOT_FOUND;
        const gdcm::ByteValue *v = item.GetDataElement(dataTag).GetByteValue();
        if (!v || v->GetLength() < entries * 2) return CXR_DCM_BUFFER_TOO_SMALL;
        std::memcpy(out, v->GetPointer(), entries * 2);
        return CXR_DCM_OK;
    } catch (...) {
        return CXR_DCM_INTERNAL;
    }
}

int cxr_dcm_decode_first_frame(cxr_dcm_handle *handle, void *out, size_t capacity,
                               char *message, size_t message_capacity) {
    if (!handle || !out || !message || message_capacity == 0) return CXR_DCM_BAD_ARGUMENT;
    message[0] = '\0';
    try {
        const gdcm::Image &image = handle->reader.GetImage();
        const unsigned long total = image.GetBufferLength();
        const gdcm::PixelFormat &pf = image.GetPixelFormat();
        const uint64_t frame = uint64_t(image.GetDimension(0)) * image.GetDimension(1)
                               * pf.GetSamplesPerPixel() * ((pf.GetBitsAllocated() + 7u) / 8u);
        if (capacity < frame || total < frame) {
            set_message(message, message_capacity, "frame needs " + std::to_string(frame) + " bytes");
            return CXR_DCM_BUFFER_TOO_SMALL;
        }
        std::vector<char> all(total);
        if (!image.GetBuffer(all.data())) {
            set_message(message, message_capacity,
                        std::string("GDCM could not decode the pixel data (") + image.GetTransferSyntax().GetString() + ")");
            return CXR_DCM_DECODE_FAILED;
        }
        std::memcpy(out, all.data(), frame);
        return CXR_DCM_OK;
    } catch (...) {
        return status_for_current_exception(message, message_capacity, CXR_DCM_DECODE_FAILED, "while decoding");
    }
}

void cxr_dcm_close(cxr_dcm_handle *handle) {
    try {
        delete handle;
    } catch (...) {
    }
}

}  // extern "C"
