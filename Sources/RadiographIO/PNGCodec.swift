import CPNG

/// PNG decoding and encoding through libpng (CPNG). This file is the one
/// place that turns `cxr_png_status` codes into Swift errors. The pixels of a
/// well-formed 8- or 16-bit grayscale file come from ``PNGPixelPath`` (libdeflate
/// and a row-filter kernel) after libpng has read its header; anything else, and
/// every error, is libpng's.
enum PNGCodec {
    /// `pixelPath` false decodes every file with libpng alone (the reference `PNGPixelPathTests` compare against).
    static func decode(_ bytes: [UInt8], path: String, maxPixels: Int, pixelPath: Bool = true) throws -> DecodedPixels {
        var info = cxr_png_info()
        var message = [CChar](repeating: 0, count: 256)

        // Pass 1: header only, so the pixel limit is checked before any allocation.
        let header = bytes.withUnsafeBufferPointer { data in
            cxr_png_decode(data.baseAddress, data.count, UInt64(maxPixels), nil, 0, &info, &message, message.count)
        }
        guard header == Int32(CXR_PNG_HEADER_ONLY.rawValue) else {
            throw error(status: header, info: info, message: message, path: path, maxPixels: maxPixels, bytes: bytes)
        }

        let width = Int(info.width), height = Int(info.height)
        let pixelCount = width * height
        let required = Int(info.required_bytes)
        let decode: (UnsafeMutableRawBufferPointer) -> Int32 = { out in
            bytes.withUnsafeBufferPointer { data in
                cxr_png_decode(data.baseAddress, data.count, UInt64(maxPixels),
                               out.baseAddress, out.count, &info, &message, message.count)
            }
        }

        var samples: [UInt16]
        var status: Int32 = 0
        if pixelPath, PNGPixelPath.accepts(bitDepth: Int(info.bit_depth), colourType: Int(info.color_type), interlaced: info.interlaced != 0),
           let pixels = PNGPixelPath.decode(bytes, width: width, height: height, bitDepth: Int(info.bit_depth)) {
            // A well-formed grayscale file: its pixels without libpng (PNGPixelPath), the header and
            // metadata as libpng read them above.
            samples = pixels
            status = Int32(CXR_PNG_OK.rawValue)
        } else if info.out_channels == 1 && info.out_bytes_per_sample == 2 {
            samples = [UInt16](unsafeUninitializedCapacity: pixelCount) { buffer, count in
                status = decode(UnsafeMutableRawBufferPointer(buffer))
                count = pixelCount
            }
        } else {
            let raw = [UInt8](unsafeUninitializedCapacity: required) { buffer, count in
                status = decode(UnsafeMutableRawBufferPointer(buffer))
                count = required
            }
            guard status == Int32(CXR_PNG_OK.rawValue) else {
                throw error(status: status, info: info, message: message, path: path, maxPixels: maxPixels, bytes: bytes)
            }
            samples = raw.withUnsafeBytes { raw in
                switch (info.out_channels, info.out_bytes_per_sample) {
                case (1, _): Luma.widen(raw, pixelCount: pixelCount)
                case (_, 1): Luma.rgb8ToGray(raw, pixelCount: pixelCount)
                default: Luma.rgb16ToGray(raw, pixelCount: pixelCount)
                }
            }
        }
        guard status == Int32(CXR_PNG_OK.rawValue) else {
            throw error(status: status, info: info, message: message, path: path, maxPixels: maxPixels, bytes: bytes)
        }

        var notes: [String] = []
        var spacing: PixelSpacing?
        if info.has_phys_metre != 0 {
            let dpiX = Double(info.pixels_per_metre_x) * 0.0254
            let dpiY = Double(info.pixels_per_metre_y) * 0.0254
            if PlaceholderResolution.isPlaceholder(dotsPerInch: dpiX.rounded()) && PlaceholderResolution.isPlaceholder(dotsPerInch: dpiY.rounded()) {
                notes.append("pHYs gives \(Int(dpiX.rounded())) dpi, a software default; spacing treated as unknown")
            } else {
                spacing = PixelSpacing(row: 1000.0 / Double(info.pixels_per_metre_y),
                                       column: 1000.0 / Double(info.pixels_per_metre_x),
                                       source: .formatTag("PNG pHYs"))
            }
        }
        let (patient, studyDate) = dicomText(info, notes: &notes)
        return DecodedPixels(width: width, height: height, bitsStored: Int(info.significant_bits),
                             samples: samples, photometric: .monochrome2, pixelSpacing: spacing,
                             storedLayout: layout(info), notes: notes, patient: patient, studyDate: studyDate)
    }

    /// Patient and study date from text chunks keyed by DICOM keywords (`PatientID`,
    /// `IssuerOfPatientID`, `StudyDate`), the convention `RadiographWriter` writes. Values are
    /// UTF-8 (iTXt), or Latin-1 (tEXt, zTXt) when not valid UTF-8; surrounding spaces are
    /// trimmed, as DICOM pads values. An unusable value is noted and ignored.
    static func dicomText(_ info: cxr_png_info, notes: inout [String]) -> (PatientIdentity?, StudyDate?) {
        func text<T>(_ field: T) -> String {
            let raw = withUnsafeBytes(of: field) { Array($0.prefix { $0 != 0 }) }
            let decoded = String(validating: raw, as: UTF8.self) ?? String(raw.map { Character(Unicode.Scalar($0)) })
            return String(decoded.drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
        }
        if info.text_too_long != 0 {
            notes.append("a PNG text chunk PatientID, IssuerOfPatientID or StudyDate is longer than DICOM allows; ignored")
        }
        let id = text(info.patient_id), issuer = text(info.issuer_of_patient_id), date = text(info.study_date)
        let patient = id.isEmpty ? nil : PatientIdentity(id: id, issuer: issuer.isEmpty ? nil : issuer)
        var studyDate: StudyDate?
        if !date.isEmpty {
            studyDate = StudyDate(date)
            if studyDate == nil { notes.append("PNG text StudyDate '\(date)' is not a valid date; ignored") }
        }
        return (patient, studyDate)
    }

    static func layout(_ info: cxr_png_info) -> String {
        let kind: String
        switch info.color_type {
        case 0: kind = "gray"
        case 2: kind = "RGB"
        case 3: kind = "palette"
        case 4: kind = "gray+alpha"
        case 6: kind = "RGBA"
        default: kind = "colour type \(info.color_type)"
        }
        return "\(kind) \(info.bit_depth)-bit\(info.interlaced != 0 ? " interlaced" : "")"
    }

    static func error(status: Int32, info: cxr_png_info, message: [CChar], path: String, maxPixels: Int,
                      bytes: [UInt8]) -> RadiographError {
        var text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        var status = status
        // libpng inflates IDAT before it checks the chunk's CRC, so a damaged
        // IDAT surfaces as a zlib error. Walk the chunks to name the real cause.
        if UInt32(status) == CXR_PNG_CORRUPT.rawValue || UInt32(status) == CXR_PNG_TRUNCATED.rawValue {
            var structural = [CChar](repeating: 0, count: 256)
            let verdict = bytes.withUnsafeBufferPointer { cxr_png_check_chunks($0.baseAddress, $0.count, &structural, structural.count) }
            if UInt32(verdict) == CXR_PNG_BAD_CRC.rawValue || UInt32(verdict) == CXR_PNG_TRUNCATED.rawValue {
                status = verdict
                text = String(decoding: structural.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            }
        }
        let failure: DecodingFailure
        switch UInt32(status) {
        case CXR_PNG_NOT_PNG.rawValue: failure = .notAnImage
        case CXR_PNG_TRUNCATED.rawValue: failure = .truncated(detail: text)
        case CXR_PNG_BAD_CRC.rawValue: failure = .badChecksum(detail: text)
        case CXR_PNG_TOO_LARGE.rawValue:
            failure = .tooLarge(width: Int(info.width), height: Int(info.height), limitPixels: maxPixels)
        case CXR_PNG_NO_MEMORY.rawValue: failure = .unsupported(detail: "out of memory: \(text)")
        default: failure = .corrupt(detail: text.isEmpty ? "libpng status \(status)" : text)
        }
        return .decode(path: path, format: .png, failure)
    }

    /// Encodes 16-bit grayscale with optional pHYs (from `spacing`) and sBIT.
    /// pHYs holds whole pixels per metre, so spacing round-trips to about 1e-4 relative.
    static func encodeGray16(_ samples: [UInt16], width: Int, height: Int, bitsStored: Int,
                             spacing: PixelSpacing?, patient: PatientIdentity? = nil, studyDate: StudyDate? = nil,
                             compressionLevel: Int = 6) throws -> [UInt8] {
        precondition(samples.count == width * height)
        var message = [CChar](repeating: 0, count: 256)
        var encoded: UnsafeMutablePointer<UInt8>?
        var size = 0
        let ppmX = spacing.map { UInt32((1000.0 / $0.column).rounded()) } ?? 0
        let ppmY = spacing.map { UInt32((1000.0 / $0.row).rounded()) } ?? 0
        // DICOM LO holds 64 characters (the shim's field less its terminator); a longer ID is
        // not written (the reader would refuse it).
        let longest = Int(CXR_PNG_TEXT_VALUE_CAPACITY) - 1
        let id = patient.map(\.id).flatMap { $0.utf8.count <= longest ? $0 : nil } ?? ""
        let issuer = patient?.issuer.flatMap { $0.utf8.count <= longest ? $0 : nil } ?? ""
        let date = studyDate?.description ?? ""
        let status = samples.withUnsafeBufferPointer { pixels in
            cxr_png_encode_gray16(pixels.baseAddress, UInt32(width), UInt32(height),
                                  UInt8(clamping: bitsStored < 16 ? bitsStored : 0), ppmX, ppmY,
                                  id, issuer, date,
                                  Int32(compressionLevel), &encoded, &size, &message, message.count)
        }
        guard status == Int32(CXR_PNG_OK.rawValue), let encoded else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw EncodingError.libraryFailure("libpng: \(text) (status \(status))")
        }
        defer { cxr_png_free(encoded) }
        return Array(UnsafeBufferPointer(start: encoded, count: size))
    }
}

extension PNGCodec {
    static func encodeRGB8(_ pixels: [UInt8], width: Int, height: Int, compressionLevel: Int = 6) throws -> [UInt8] {
        precondition(pixels.count == width * height * 3)
        var message = [CChar](repeating: 0, count: 256)
        var encoded: UnsafeMutablePointer<UInt8>?
        var size = 0
        let status = pixels.withUnsafeBufferPointer { p in
            cxr_png_encode_rgb8(p.baseAddress, UInt32(width), UInt32(height), Int32(compressionLevel),
                                &encoded, &size, &message, message.count)
        }
        guard status == Int32(CXR_PNG_OK.rawValue), let encoded else {
            let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw EncodingError.libraryFailure("libpng: \(text) (status \(status))")
        }
        defer { cxr_png_free(encoded) }
        return Array(UnsafeBufferPointer(start: encoded, count: size))
    }
}

/// Why an output file could not be written.
public enum EncodingError: Error, Equatable, Sendable, CustomStringConvertible {
    case libraryFailure(String)
    case unsupportedDestination(String)
    case writeFailed(path: String, errno: Int32, message: String)

    public var description: String {
        switch self {
        case .libraryFailure(let m): m
        case .unsupportedDestination(let m): m
        case .writeFailed(let path, let errno, let message): "\(path): write failed (errno \(errno): \(message))"
        }
    }
}
