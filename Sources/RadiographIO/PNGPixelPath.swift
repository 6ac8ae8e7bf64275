import CLibdeflate
import CPNGRowFilters

/// The pixels of a well-formed, non-interlaced 8- or 16-bit grayscale PNG, the form radiographs
/// are exported in, decoded without libpng: the image data inflated by libdeflate in one call
/// and the rows unfiltered by `CPNGRowFilters`. libpng has already read and checked the header
/// and every chunk before the image data (``PNGCodec/decode(_:path:maxPixels:pixelPath:)``'s first pass);
/// this path takes over only the pixels, where libpng's streaming zlib inflate and byte-at-a-time
/// Paeth filter spend most of a radiograph's decoding time.
///
/// It never reports an error of its own. Anything it does not expect (another colour type or bit
/// depth, interlacing, a chunk CRC that does not match, a critical chunk after the image data, a
/// zlib stream that is not exactly the image's size, a filter type above 4, no IEND) returns nil
/// and the file is decoded by libpng, which then says what is wrong exactly as it always has.
/// Its samples equal libpng's for every file it accepts (`PNGPixelPathTests`).
enum PNGPixelPath {
    /// Whether a header read by libpng is one this path decodes.
    static func accepts(bitDepth: Int, colourType: Int, interlaced: Bool) -> Bool {
        colourType == 0 && (bitDepth == 8 || bitDepth == 16) && !interlaced
    }

    /// The `width` × `height` samples (host order; 8-bit values widened), or nil to leave the file to libpng.
    static func decode(_ bytes: [UInt8], width: Int, height: Int, bitDepth: Int) -> [UInt16]? {
        guard width > 0, height > 0, bitDepth == 8 || bitDepth == 16 else { return nil }
        let bytesPerPixel = bitDepth / 8
        let (rowBytes, rowsOverflow) = width.multipliedReportingOverflow(by: bytesPerPixel)
        let (filtered, overflow) = (rowBytes + 1).multipliedReportingOverflow(by: height)
        guard !rowsOverflow, !overflow else { return nil }
        return bytes.withUnsafeBufferPointer { file -> [UInt16]? in
            guard let base = file.baseAddress, let imageData = imageDataRanges(file) else { return nil }
            // One contiguous zlib stream: the IDAT chunks' data back to back.
            var stream: [UInt8] = []
            if imageData.count > 1 {
                stream.reserveCapacity(imageData.reduce(0) { $0 + $1.count })
                for range in imageData { stream.append(contentsOf: UnsafeBufferPointer(rebasing: file[range])) }
            }
            // One buffer holds the inflated rows, then (in place) the samples: room for the larger of the two.
            let capacity = max(width * height, (filtered + 1) / 2)
            let samples = [UInt16](unsafeUninitializedCapacity: capacity) { out, count in
                count = 0
                guard let decompressor = libdeflate_alloc_decompressor() else { return }
                defer { libdeflate_free_decompressor(decompressor) }
                let memory = UnsafeMutableRawPointer(out.baseAddress!)
                // Exactly `filtered` bytes or failure: a short or long stream goes to libpng.
                let result: libdeflate_result = imageData.count == 1
                    ? libdeflate_zlib_decompress(decompressor, base + imageData[0].lowerBound, imageData[0].count,
                                                 memory, filtered, nil)
                    : stream.withUnsafeBytes {
                        libdeflate_zlib_decompress(decompressor, $0.baseAddress, $0.count, memory, filtered, nil)
                    }
                guard result == LIBDEFLATE_SUCCESS,
                      cxr_png_decode_gray_in_place(memory, width, height, UInt32(bitDepth)) == 0 else { return }
                count = width * height
            }
            // Empty when anything failed (an image has at least one sample).
            return samples.isEmpty ? nil : samples
        }
    }

    /// The byte ranges of the IDAT chunks' data, in order, when every chunk from the signature to
    /// IEND is complete with a matching CRC, the IDAT chunks are consecutive, and nothing after
    /// them but IEND is critical; otherwise nil.
    static func imageDataRanges(_ file: UnsafeBufferPointer<UInt8>) -> [Range<Int>]? {
        guard let base = file.baseAddress, file.count >= 8 else { return nil }
        func uint32(at offset: Int) -> UInt32 {
            UInt32(file[offset]) << 24 | UInt32(file[offset + 1]) << 16 | UInt32(file[offset + 2]) << 8 | UInt32(file[offset + 3])
        }
        let idat: UInt32 = 0x4944_4154, iend: UInt32 = 0x4945_4E44
        var ranges: [Range<Int>] = []
        var offset = 8
        var afterImageData = false
        while offset + 12 <= file.count {
            let length = Int(uint32(at: offset))
            guard length <= 0x7FFF_FFFF, length <= file.count - offset - 12 else { return nil }
            let type = uint32(at: offset + 4)
            let crc = UInt32(truncatingIfNeeded: libdeflate_crc32(0, base + offset + 4, 4 + length))
            guard crc == uint32(at: offset + 8 + length) else { return nil }
            if type == idat {
                guard !afterImageData else { return nil }
                ranges.append(offset + 8 ..< offset + 8 + length)
            } else if !ranges.isEmpty {
                afterImageData = true
                if type == iend { return ranges }
                // A critical chunk (upper-case first letter) after the image data is for libpng to judge.
                guard file[offset + 4] & 0x20 != 0 else { return nil }
            }
            offset += 12 + length
        }
        return nil
    }
}
