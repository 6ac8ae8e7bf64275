/// A bounded, pure-Swift walk over a DICOM file's top-level data set, done
/// before GDCM sees the bytes.
///
/// GDCM pads truncated uncompressed Pixel Data with zeros and reports success,
/// and Debian's build asserts (aborts) on some truncated compressed data. So
/// the structure is checked here first: the transfer syntax is read from the
/// File Meta Information (and rejected by UID when unsupported), and the
/// Pixel Data element is located and measured against the file's real size
/// and against Rows × Columns × Samples × bytes × Frames. A deflated data set is
/// inflated (zlib, bounded) and walked the same way.
///
/// Source: DICOM PS3.5 §7.1 (data element encoding), §7.5 (nested data sets,
/// undefined lengths), §A.4 (encapsulated pixel data fragments), §A.5 (deflated
/// explicit VR little endian); PS3.10 §7.1
/// (preamble, `DICM`, File Meta group 0002 always explicit VR little endian).
struct DICOMPreflight: Equatable {
    /// Whether the file has the 128-byte preamble and `DICM`.
    var hasPreamble: Bool
    /// The transfer syntax UID from (0002,0010), or inferred for files without meta.
    var transferSyntaxUID: String
    /// `true` when (0002,0010) was absent and the syntax was inferred from the first element.
    var transferSyntaxInferred: Bool
    /// `nil` for a deflated data set longer, inflated, than the walk's limit (GDCM inflates it whole).
    var pixelData: PixelData?

    struct PixelData: Equatable {
        /// Bytes declared by the element's length (`nil`: undefined length, i.e. encapsulated).
        var declaredBytes: Int?
        /// Where native Pixel Data's value starts in the scanned bytes (`nil`: encapsulated, or in a
        /// deflated data set, where it lies in the inflated stream).
        var valueOffset: Int? = nil
        /// Number of compressed fragments (encapsulated only; the offset table is not counted).
        var fragments: Int
        var rows: Int?
        var columns: Int?
        var frames: Int
    }

    static let implicitLittleEndian = "1.2.840.10008.1.2"
    static let explicitBigEndian = "1.2.840.10008.1.2.2"
    static let deflated = "1.2.840.10008.1.2.1.99"

    private static let longVRs: Set<String> = ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
    static let knownVRs: Set<String> = longVRs.union(["AE", "AS", "AT", "CS", "DA", "DS", "DT", "FL", "FD", "IS", "LO", "LT",
                                                      "PN", "SH", "SL", "SS", "ST", "TM", "UI", "UL", "US"])
    private static let maxDepth = 32

    /// Walks `bytes`. Throws `DecodingFailure` (`.truncated`, `.missingPixelData`,
    /// `.pixelDataLength`, `.corrupt`, `.unsupportedTransferSyntax`).
    /// A deflated data set is inflated up to `maxInflatedBytes` and walked the same way; when it
    /// is longer, what lies beyond is left to GDCM (`pixelData` nil).
    static func scan(_ bytes: [UInt8], maxInflatedBytes: Int = defaultMaxInflatedBytes) throws -> DICOMPreflight {
        var acquisition = DICOMAcquisition()
        return try scan(bytes, maxInflatedBytes: maxInflatedBytes, acquisition: &acquisition)
    }

    /// Inflated bytes walked for a pixel limit: one frame of 16-bit samples at that limit, and a header.
    static func maxInflatedBytes(maxPixels: Int) -> Int { 2 * maxPixels + (1 << 20) }
    static let defaultMaxInflatedBytes = maxInflatedBytes(maxPixels: DecodeOptions.defaultMaxPixels)

    /// ``scan(_:maxInflatedBytes:)``, leaving in `acquisition` the Modality and View Position met
    /// before the walk ended, even when it ends by throwing (both precede Pixel Data in a conforming file).
    static func scan(_ bytes: [UInt8], maxInflatedBytes: Int = defaultMaxInflatedBytes,
                     acquisition: inout DICOMAcquisition) throws -> DICOMPreflight {
        var cursor = Cursor(bytes: bytes)
        let preamble = bytes.count >= 132 && bytes[128..<132].elementsEqual("DICM".utf8)
        cursor.offset = preamble ? 132 : 0

        // File Meta Information: group 0002, explicit VR little endian.
        var transferSyntax: String?
        while cursor.remaining >= 8, cursor.peekUInt16(bigEndian: false) == 0x0002 {
            let element = try cursor.readHeader(explicit: true, bigEndian: false)
            guard let length = element.length else { throw DecodingFailure.corrupt(detail: "undefined length in File Meta Information") }
            let value = try cursor.take(length, what: "File Meta element \(element.tagText)")
            if element.tag == 0x0002_0010 { transferSyntax = DICOMText.trimmed(ascii: value) }
        }
        if preamble && transferSyntax == nil && cursor.remaining == 0 {
            throw DecodingFailure.truncated(detail: "file ends inside the File Meta Information")
        }

        let inferred = transferSyntax == nil
        let uid: String
        if let transferSyntax {
            uid = transferSyntax
        } else {
            // No meta: DICOM's default is implicit VR little endian; accept explicit LE when the VR bytes say so.
            let looksExplicit = cursor.remaining >= 6 && knownVRs.contains(String(decoding: bytes[(cursor.offset + 4)..<(cursor.offset + 6)], as: UTF8.self))
            uid = looksExplicit ? DICOMTransferSyntax.explicitLittleEndian.uid : implicitLittleEndian
        }
        guard let syntax = DICOMTransferSyntax(uid: uid) else { throw DecodingFailure.unsupportedTransferSyntax(uid: uid) }
        func result(_ pixelData: PixelData?) -> DICOMPreflight {
            DICOMPreflight(hasPreamble: preamble, transferSyntaxUID: uid, transferSyntaxInferred: inferred, pixelData: pixelData)
        }
        guard syntax == .deflatedExplicitLittleEndian else {
            return result(try walk(&cursor, syntax: syntax, explicit: syntax != .implicitLittleEndian,
                                   bigEndian: syntax == .explicitBigEndian, acquisition: &acquisition))
        }
        // PS3.5 A.5: after the File Meta Information, one raw deflate stream of an explicit VR
        // little endian data set.
        let inflated = try DeflatedDataSet.inflate(bytes[cursor.offset...], limit: maxInflatedBytes)
        var body = Cursor(bytes: inflated.bytes)
        do {
            var pixelData = try walk(&body, syntax: syntax, explicit: true, bigEndian: false, acquisition: &acquisition)
            pixelData.valueOffset = nil  // an offset into the inflated stream, not the file
            return result(pixelData)
        } catch {
            guard inflated.reachedLimit else { throw error }
            return result(nil)  // inflated only in part: the rest is GDCM's, in its worker
        }
    }

    /// The top-level data set from `cursor` up to and including Pixel Data: the layout checks and
    /// Pixel Data's measurements (see the type's documentation).
    private static func walk(_ cursor: inout Cursor, syntax: DICOMTransferSyntax, explicit: Bool, bigEndian: Bool,
                             acquisition: inout DICOMAcquisition) throws -> PixelData {
        var rows: Int?, columns: Int?, bitsAllocated: Int?, samples = 1, frames = 1, photometric = ""
        while true {
            guard cursor.remaining > 0 else { throw DecodingFailure.missingPixelData }
            let element = try cursor.readHeader(explicit: explicit, bigEndian: bigEndian)
            if element.tag == 0x7FE0_0010 {
                // Layouts NoduleKit does not decode are refused here, before GDCM: a 32-bit single-frame
                // file makes Debian's GDCM abort(), and colour or 1-bit data would otherwise fail the
                // length check below with a misleading error.
                if samples != 1 {
                    throw DecodingFailure.unsupported(detail: "Photometric Interpretation \(photometric.isEmpty ? "(missing)" : photometric) with \(samples) sample(s) per pixel; radiographs are MONOCHROME1/2")
                }
                if let bitsAllocated, bitsAllocated != 8, bitsAllocated != 16 {
                    throw DecodingFailure.unsupported(detail: "Bits Allocated \(bitsAllocated); only 8 and 16 are supported")
                }
                if let length = element.length {
                    if syntax.isEncapsulated { throw DecodingFailure.corrupt(detail: "Pixel Data has a defined length in an encapsulated transfer syntax") }
                    guard let rows, let columns, let bitsAllocated else {
                        throw DecodingFailure.corrupt(detail: "Rows, Columns or Bits Allocated missing before Pixel Data")
                    }
                    let pixelsPerFrame = rows * columns * samples
                    let needed = bitsAllocated == 1 ? (pixelsPerFrame * frames + 7) / 8
                        : pixelsPerFrame * ((bitsAllocated + 7) / 8) * frames
                    if cursor.remaining < length {
                        throw DecodingFailure.truncated(detail: "Pixel Data declares \(length) bytes but the file holds \(cursor.remaining)")
                    }
                    if length < needed {
                        throw DecodingFailure.pixelDataLength(expectedBytes: needed, declaredBytes: length)
                    }
                    return PixelData(declaredBytes: length, valueOffset: cursor.offset, fragments: 0, rows: rows, columns: columns, frames: frames)
                }
                guard syntax.isEncapsulated else { throw DecodingFailure.corrupt(detail: "Pixel Data has undefined length in a native transfer syntax") }
                // Basic Offset Table item, then fragment items, then the sequence delimiter.
                var items = 0
                while true {
                    guard cursor.remaining >= 8 else {
                        throw DecodingFailure.truncated(detail: "file ends inside encapsulated Pixel Data (after \(max(0, items - 1)) complete fragment(s))")
                    }
                    let item = try cursor.readHeader(explicit: false, bigEndian: bigEndian)
                    if item.tag == 0xFFFE_E0DD { break }
                    guard item.tag == 0xFFFE_E000, let length = item.length else {
                        throw DecodingFailure.corrupt(detail: "unexpected \(item.tagText) inside encapsulated Pixel Data")
                    }
                    guard cursor.remaining >= length else {
                        throw DecodingFailure.truncated(detail: "file ends inside encapsulated Pixel Data: fragment \(items) declares \(length) bytes, \(cursor.remaining) present")
                    }
                    cursor.offset += length
                    items += 1
                }
                guard items >= 2 else { throw DecodingFailure.corrupt(detail: "encapsulated Pixel Data has no fragments") }
                return PixelData(declaredBytes: nil, fragments: items - 1, rows: rows, columns: columns, frames: frames)
            }
            if let length = element.length {
                let value = try cursor.take(length, what: "element \(element.tagText)")
                switch element.tag {
                case 0x0028_0010: rows = Cursor.uint16(value, bigEndian: bigEndian)
                case 0x0028_0011: columns = Cursor.uint16(value, bigEndian: bigEndian)
                case 0x0028_0100: bitsAllocated = Cursor.uint16(value, bigEndian: bigEndian)
                case 0x0028_0002: samples = Cursor.uint16(value, bigEndian: bigEndian) ?? 1
                case 0x0028_0004: photometric = DICOMText.trimmed(ascii: value)
                case 0x0028_0008: frames = max(1, Int(DICOMText.trimmed(ascii: value)) ?? 1)
                case 0x0008_0060: acquisition.modality = DICOMText.nonEmpty(ascii: value)
                case 0x0018_5101: acquisition.viewPosition = DICOMText.nonEmpty(ascii: value)
                default: break
                }
            } else {
                // PS3.5 6.2.2: a UN value of undefined length holds an implicit VR sequence.
                try cursor.skipUndefinedLengthValue(explicit: explicit && element.vr != "UN", bigEndian: bigEndian, depth: 0)
            }
        }
    }

    /// `true` when the leading bytes look like a DICOM data set written without
    /// the preamble: a group 0002 or 0008 element with a known VR (explicit) or
    /// a plausible even length (implicit).
    static func looksLikePreamblelessDataSet(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 12 else { return false }
        let group = UInt16(bytes[0]) | UInt16(bytes[1]) << 8
        let element = UInt16(bytes[2]) | UInt16(bytes[3]) << 8
        guard group == 0x0002 || group == 0x0008 else { return false }
        if knownVRs.contains(String(decoding: bytes[4..<6], as: UTF8.self)) { return true }
        let length = UInt32(bytes[4]) | UInt32(bytes[5]) << 8 | UInt32(bytes[6]) << 16 | UInt32(bytes[7]) << 24
        // Implicit VR: the first elements of group 0008 are small (≤ 0x0018 for SOP UIDs) with short values.
        return group == 0x0008 && element <= 0x0018 && length % 2 == 0 && length <= 256 && Int(length) <= bytes.count - 8
    }

    /// A read position with bounds-checked primitives. Every read throws
    /// `.truncated` rather than trapping.
    struct Cursor {
        let bytes: [UInt8]
        var offset = 0
        var remaining: Int { bytes.count - offset }

        struct Header {
            var tag: UInt32
            /// `nil` for undefined length (0xFFFFFFFF).
            var length: Int?
            var vr: String?
            var tagText: String {
                let hex = Array("0123456789ABCDEF")
                func h(_ v: UInt32) -> String { (0..<4).reversed().map { String(hex[Int((v >> (4 * UInt32($0))) & 0xF)]) }.joined() }
                return "(\(h(tag >> 16)),\(h(tag & 0xFFFF)))"
            }
        }

        func peekUInt16(bigEndian: Bool) -> UInt16 {
            bigEndian ? UInt16(bytes[offset]) << 8 | UInt16(bytes[offset + 1]) : UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8
        }

        mutating func u16(_ bigEndian: Bool) throws -> UInt16 {
            guard remaining >= 2 else { throw DecodingFailure.truncated(detail: "file ends inside an element header at byte \(offset)") }
            defer { offset += 2 }
            return peekUInt16(bigEndian: bigEndian)
        }

        mutating func u32(_ bigEndian: Bool) throws -> UInt32 {
            let a = UInt32(try u16(bigEndian)), b = UInt32(try u16(bigEndian))
            return bigEndian ? a << 16 | b : b << 16 | a
        }

        mutating func readHeader(explicit: Bool, bigEndian: Bool) throws -> Header {
            let group = try u16(bigEndian), element = try u16(bigEndian)
            let tag = UInt32(group) << 16 | UInt32(element)
            var vr: String?
            let length: UInt32
            if explicit && group != 0xFFFE {
                guard remaining >= 2 else { throw DecodingFailure.truncated(detail: "file ends inside an element header at byte \(offset)") }
                let text = String(decoding: bytes[offset..<(offset + 2)], as: UTF8.self)
                offset += 2
                vr = text
                if DICOMPreflight.longVRs.contains(text) {
                    _ = try u16(bigEndian)
                    length = try u32(bigEndian)
                } else if DICOMPreflight.knownVRs.contains(text) {
                    length = UInt32(try u16(bigEndian))
                } else {
                    throw DecodingFailure.corrupt(detail: "invalid VR at byte \(offset - 2) for \(Header(tag: tag, length: nil).tagText)")
                }
            } else {
                length = try u32(bigEndian)
            }
            return Header(tag: tag, length: length == 0xFFFF_FFFF ? nil : Int(length), vr: vr)
        }

        mutating func take(_ count: Int, what: String) throws -> ArraySlice<UInt8> {
            guard remaining >= count else { throw DecodingFailure.truncated(detail: "file ends inside \(what) (declares \(count) bytes, \(remaining) present)") }
            defer { offset += count }
            return bytes[offset..<(offset + count)]
        }

        /// Skips a sequence (or UN) of undefined length: items until (FFFE,E0DD).
        mutating func skipUndefinedLengthValue(explicit: Bool, bigEndian: Bool, depth: Int) throws {
            guard depth < DICOMPreflight.maxDepth else { throw DecodingFailure.corrupt(detail: "sequences nested deeper than \(DICOMPreflight.maxDepth)") }
            while true {
                let item = try readHeader(explicit: false, bigEndian: bigEndian)
                if item.tag == 0xFFFE_E0DD { return }
                guard item.tag == 0xFFFE_E000 else { throw DecodingFailure.corrupt(detail: "unexpected \(item.tagText) inside a sequence") }
                if let length = item.length {
                    _ = try take(length, what: "a sequence item")
                    continue
                }
                // Item of undefined length: a nested data set until (FFFE,E00D).
                while true {
                    let element = try readHeader(explicit: explicit, bigEndian: bigEndian)
                    if element.tag == 0xFFFE_E00D { break }
                    if let length = element.length {
                        _ = try take(length, what: "element \(element.tagText) in a sequence item")
                    } else {
                        try skipUndefinedLengthValue(explicit: explicit && element.vr != "UN", bigEndian: bigEndian, depth: depth + 1)
                    }
                }
            }
        }

        static func uint16(_ value: ArraySlice<UInt8>, bigEndian: Bool) -> Int? {
            guard value.count >= 2 else { return nil }
            let a = value[value.startIndex], b = value[value.startIndex + 1]
            return Int(bigEndian ? UInt16(a) << 8 | UInt16(b) : UInt16(a) | UInt16(b) << 8)
        }
    }
}
