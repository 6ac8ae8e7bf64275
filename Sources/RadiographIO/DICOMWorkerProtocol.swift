/// The length-prefixed binary protocol between `DICOMWorkerPool` (parent) and
/// `nodules-dicom-worker` (child), over a Unix stream socket on the child's
/// standard input and output.
///
///     request  = "CXRQ" op:u8 length:u64le payload[length]
///     response = "CXRA" status:u8 length:u64le payload[length]
///
/// `op` 1 decodes the payload (a whole DICOM file); status 0 carries an encoded
/// `GDCMImage`, status 1 an encoded `DecodingFailure`. Ops 2 (abort) and
/// 3 (hang) exist only so the tests can prove a dead or stuck worker is replaced.
/// All integers are little-endian.
enum DICOMWorkerProtocol {
    static let requestMagic: [UInt8] = Array("CXRQ".utf8)
    static let responseMagic: [UInt8] = Array("CXRA".utf8)
    static let headerSize = 13

    enum Op: UInt8 {
        case decode = 1
        case abortForTesting = 2
        case hangForTesting = 3
        /// `decode`, leaving native frames out (``GDCMImage/frameOmitted``).
        case decodeOmittingNativeFrame = 4
    }

    static func header(_ magic: [UInt8], _ code: UInt8, length: Int) -> [UInt8] {
        var w = ByteWriter()
        w.bytes(magic)
        w.u8(code)
        w.u64(UInt64(length))
        return w.data
    }

    /// Parses a 13-byte header; `nil` when the magic is wrong.
    static func parseHeader(_ bytes: [UInt8], magic: [UInt8]) -> (code: UInt8, length: Int)? {
        guard bytes.count == headerSize, Array(bytes[0..<4]) == magic else { return nil }
        var r = ByteReader(bytes)
        r.offset = 4
        guard let code = r.u8(), let length = r.u64(), length < UInt64(Int.max) else { return nil }
        return (code, Int(length))
    }

    // MARK: Payloads

    static func encode(_ image: GDCMImage) -> [UInt8] {
        var w = ByteWriter()
        // One allocation: the frame dominates, the rest is a few hundred bytes plus the elements and LUT.
        w.data.reserveCapacity(image.frame.count + 2 * (image.modalityLUT?.data.count ?? 0)
                               + image.elements.values.reduce(0) { $0 + $1.count + 16 } + 256)
        for v in [image.rows, image.columns, image.frames, image.bitsAllocated, image.bitsStored, image.highBit,
                  image.pixelRepresentation, image.samplesPerPixel] { w.u64(UInt64(v)) }
        w.string(image.photometric)
        w.string(image.transferSyntaxUID)
        w.u64(UInt64(image.elements.count))
        for (tag, value) in image.elements.sorted(by: { $0.key < $1.key }) {
            w.u64(UInt64(tag))
            w.blob(value)
        }
        if let lut = image.modalityLUT {
            w.u8(1)
            w.u64(UInt64(bitPattern: Int64(lut.firstMapped)))
            w.u64(UInt64(lut.bits))
            w.u64(UInt64(lut.data.count))
            for v in lut.data { w.u16(v) }
        } else {
            w.u8(0)
        }
        w.blob(image.frame)
        w.u8(image.frameOmitted ? 1 : 0)
        return w.data
    }

    static func decodeImage(_ bytes: [UInt8]) -> GDCMImage? {
        var r = ByteReader(bytes)
        var ints: [Int] = []
        for _ in 0..<8 {
            guard let v = r.u64(), v < 1 << 40 else { return nil }
            ints.append(Int(v))
        }
        guard let photometric = r.string(), let uid = r.string(), let count = r.u64(), count < 1024 else { return nil }
        var elements: [UInt32: [UInt8]] = [:]
        for _ in 0..<count {
            guard let tag = r.u64(), let value = r.blob() else { return nil }
            elements[UInt32(truncatingIfNeeded: tag)] = value
        }
        guard let hasLUT = r.u8() else { return nil }
        var lut: GDCMImage.ModalityLUT?
        if hasLUT == 1 {
            guard let first = r.u64(), let bits = r.u64(), let n = r.u64(), n <= 65536 else { return nil }
            var data: [UInt16] = []
            data.reserveCapacity(Int(n))
            for _ in 0..<n {
                guard let v = r.u16() else { return nil }
                data.append(v)
            }
            lut = .init(firstMapped: Int(Int64(bitPattern: first)), bits: Int(bits), data: data)
        }
        guard let frame = r.blob(), let omitted = r.u8(), omitted <= 1 else { return nil }
        return GDCMImage(rows: ints[0], columns: ints[1], frames: ints[2], bitsAllocated: ints[3], bitsStored: ints[4],
                         highBit: ints[5], pixelRepresentation: ints[6], samplesPerPixel: ints[7],
                         photometric: photometric, transferSyntaxUID: uid, elements: elements, modalityLUT: lut, frame: frame,
                         frameOmitted: omitted == 1)
    }

    static func encode(_ failure: DecodingFailure) -> [UInt8] {
        var w = ByteWriter()
        w.string(failure.kind)
        switch failure {
        case .empty, .notAnImage, .missingPixelData: break
        case .truncated(let d), .badChecksum(let d), .unsupported(let d), .corrupt(let d),
             .workerCrashed(let d), .workerUnavailable(let d), .unsupportedTransferSyntax(let d):
            w.string(d)
        case .tooLarge(let a, let b, let c):
            w.u64(UInt64(a)); w.u64(UInt64(b)); w.u64(UInt64(c))
        case .sizeMismatch(let a, let b), .pixelDataLength(let a, let b):
            w.u64(UInt64(a)); w.u64(UInt64(b))
        case .timedOut(let s):
            w.u64(s.bitPattern)
        }
        return w.data
    }

    static func decodeFailure(_ bytes: [UInt8]) -> DecodingFailure? {
        var r = ByteReader(bytes)
        guard let kind = r.string() else { return nil }
        func int() -> Int? { r.u64().flatMap { $0 < 1 << 62 ? Int($0) : nil } }
        switch kind {
        case "empty": return .empty
        case "not-an-image": return .notAnImage
        case "missing-pixel-data": return .missingPixelData
        case "truncated": return r.string().map { .truncated(detail: $0) }
        case "bad-checksum": return r.string().map { .badChecksum(detail: $0) }
        case "unsupported": return r.string().map { .unsupported(detail: $0) }
        case "corrupt": return r.string().map { .corrupt(detail: $0) }
        case "worker-crashed": return r.string().map { .workerCrashed(detail: $0) }
        case "worker-unavailable": return r.string().map { .workerUnavailable(detail: $0) }
        case "unsupported-transfer-syntax": return r.string().map { .unsupportedTransferSyntax(uid: $0) }
        case "too-large":
            guard let a = int(), let b = int(), let c = int() else { return nil }
            return .tooLarge(width: a, height: b, limitPixels: c)
        case "size-mismatch":
            guard let a = int(), let b = int() else { return nil }
            return .sizeMismatch(expectedBytes: a, actualBytes: b)
        case "pixel-data-length":
            guard let a = int(), let b = int() else { return nil }
            return .pixelDataLength(expectedBytes: a, declaredBytes: b)
        case "timed-out": return r.u64().map { .timedOut(seconds: Double(bitPattern: $0)) }
        default: return nil
        }
    }
}

struct ByteWriter {
    var data: [UInt8] = []
    mutating func u8(_ v: UInt8) { data.append(v) }
    mutating func u16(_ v: UInt16) { data.append(UInt8(v & 0xFF)); data.append(UInt8(v >> 8)) }
    mutating func u64(_ v: UInt64) { for i in 0..<8 { data.append(UInt8((v >> (8 * UInt64(i))) & 0xFF)) } }
    mutating func bytes(_ v: [UInt8]) { data.append(contentsOf: v) }
    mutating func blob(_ v: [UInt8]) { u64(UInt64(v.count)); data.append(contentsOf: v) }
    mutating func string(_ v: String) { blob(Array(v.utf8)) }
}

/// Bounds-checked reads; every accessor returns `nil` past the end.
struct ByteReader {
    let data: [UInt8]
    var offset = 0
    init(_ data: [UInt8]) { self.data = data }
    mutating func u8() -> UInt8? {
        guard offset < data.count else { return nil }
        defer { offset += 1 }
        return data[offset]
    }
    mutating func u16() -> UInt16? {
        guard data.count - offset >= 2 else { return nil }
        defer { offset += 2 }
        return UInt16(data[offset]) | UInt16(data[offset + 1]) << 8
    }
    mutating func u64() -> UInt64? {
        guard data.count - offset >= 8 else { return nil }
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(data[offset + i]) << (8 * UInt64(i)) }
        offset += 8
        return v
    }
    mutating func blob() -> [UInt8]? {
        guard let n = u64(), n <= UInt64(data.count - offset) else { return nil }
        defer { offset += Int(n) }
        return Array(data[offset..<(offset + Int(n))])
    }
    mutating func string() -> String? { blob().map { String(decoding: $0, as: UTF8.self) } }
}
