/// The geometry of a headerless raw file, stated by the caller because the
/// file cannot: `WIDTHxHEIGHT:TYPE[:BITS][:mono1|mono2]`.
///
/// Example (the JSRT convention): `2048x2048:u16be:12` — 2048 × 2048
/// samples, 16-bit big-endian words of which the low 12 bits are used.
/// TYPE is `u8`, `u16le` or `u16be`; BITS defaults to the word size.
/// Polarity: `mono1` (high values lucent) or `mono2` (high values dense).
/// A raw file does not say which, and archives differ (digitised film is
/// often stored as optical density, lucent-high), so when neither is given
/// it is inferred from the anatomy (``ChestPolarity``) and the radiograph
/// carries a note saying so.
public struct RawGeometry: Sendable, Equatable, CustomStringConvertible {
    public enum SampleType: String, Sendable, Equatable, CaseIterable {
        case u8, u16le, u16be
        var bytesPerSample: Int { self == .u8 ? 1 : 2 }
    }

    /// Columns, px.
    public var width: Int
    /// Rows, px.
    public var height: Int
    public var sampleType: SampleType
    public var bitsStored: Int
    /// The stated polarity; nil: infer it from the image (``ChestPolarity``).
    public var photometric: PhotometricInterpretation?

    public init(width: Int, height: Int, sampleType: SampleType, bitsStored: Int? = nil,
                photometric: PhotometricInterpretation? = nil) throws {
        let bits = bitsStored ?? sampleType.bytesPerSample * 8
        guard width > 0, height > 0 else { throw RawGeometryError.invalid("width and height must be positive") }
        guard (1...(sampleType.bytesPerSample * 8)).contains(bits) else {
            throw RawGeometryError.invalid("\(bits) bits do not fit a \(sampleType.rawValue) sample")
        }
        self.width = width
        self.height = height
        self.sampleType = sampleType
        self.bitsStored = bits
        self.photometric = photometric
    }

    /// Parses `2048x2048:u16be:12[:mono1]`.
    public init(parsing text: String) throws {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        guard (2...4).contains(parts.count) else {
            throw RawGeometryError.invalid("expected WIDTHxHEIGHT:TYPE[:BITS][:mono1|mono2], got '\(text)'")
        }
        let dims = parts[0].lowercased().split(separator: "x")
        guard dims.count == 2, let w = Int(dims[0]), let h = Int(dims[1]) else {
            throw RawGeometryError.invalid("'\(parts[0])' is not WIDTHxHEIGHT")
        }
        guard let type = SampleType(rawValue: parts[1].lowercased()) else {
            throw RawGeometryError.invalid("sample type '\(parts[1])' is not one of u8, u16le, u16be")
        }
        var bits: Int?
        var photometric: PhotometricInterpretation?
        for extra in parts.dropFirst(2) {
            switch extra.lowercased() {
            case "mono1", "monochrome1": photometric = .monochrome1
            case "mono2", "monochrome2": photometric = .monochrome2
            default:
                guard let b = Int(extra) else { throw RawGeometryError.invalid("'\(extra)' is neither a bit count nor mono1/mono2") }
                bits = b
            }
        }
        try self.init(width: w, height: h, sampleType: type, bitsStored: bits, photometric: photometric)
    }

    /// Bytes a file with this geometry must have.
    public var byteCount: Int { width * height * sampleType.bytesPerSample }

    public var description: String {
        let polarity = switch photometric {
        case .monochrome1: ":mono1"
        case .monochrome2: ":mono2"
        default: ""
        }
        return "\(width)x\(height):\(sampleType.rawValue):\(bitsStored)\(polarity)"
    }
}

public enum RawGeometryError: Error, Equatable, Sendable, CustomStringConvertible {
    case invalid(String)
    public var description: String {
        switch self { case .invalid(let m): "invalid raw geometry: \(m)" }
    }
}

enum RawCodec {
    static func decode(_ bytes: [UInt8], geometry: RawGeometry, path: String, maxPixels: Int) throws -> DecodedPixels {
        let pixelCount = geometry.width * geometry.height
        guard pixelCount <= maxPixels else {
            throw RadiographError.decode(path: path, format: .raw,
                                         .tooLarge(width: geometry.width, height: geometry.height, limitPixels: maxPixels))
        }
        guard bytes.count == geometry.byteCount else {
            throw RadiographError.decode(path: path, format: .raw,
                                         .sizeMismatch(expectedBytes: geometry.byteCount, actualBytes: bytes.count))
        }
        var samples = [UInt16](repeating: 0, count: pixelCount)
        bytes.withUnsafeBytes { raw in
            samples.withUnsafeMutableBufferPointer { out in
                switch geometry.sampleType {
                case .u8:
                    for i in 0..<pixelCount { out[i] = UInt16(raw[i]) }
                case .u16le:
                    for i in 0..<pixelCount { out[i] = UInt16(raw[2 * i]) | UInt16(raw[2 * i + 1]) << 8 }
                case .u16be:
                    for i in 0..<pixelCount { out[i] = UInt16(raw[2 * i]) << 8 | UInt16(raw[2 * i + 1]) }
                }
            }
        }
        // Values above the stated bit depth mean the geometry is wrong (most often the byte order).
        let ceiling = UInt16((1 << geometry.bitsStored) - 1)
        if let bad = samples.firstIndex(where: { $0 > ceiling }) {
            throw RadiographError.decode(path: path, format: .raw, .corrupt(
                detail: "sample \(samples[bad]) at (\(bad % geometry.width), \(bad / geometry.width)) exceeds \(geometry.bitsStored) bits stored; check the byte order in '\(geometry)'"))
        }
        var notes: [String] = []
        let photometric: PhotometricInterpretation
        let anatomy = geometry.photometric == nil ? ChestPolarity.read(samples, width: geometry.width, height: geometry.height) : nil
        if let stated = geometry.photometric {
            photometric = stated
        } else if let inferred = anatomy?.inferred {
            photometric = inferred.photometric
            let side = inferred.contrast > 0 ? "above" : "below"
            let percent = Int((abs(inferred.contrast) * 100).rounded())
            notes.append("raw file polarity not stated; inferred \(inferred.photometric.rawValue) from the anatomy "
                         + "(mediastinum \(side) the lungs by \(percent) % of the range)")
        } else {
            photometric = .monochrome2
            notes.append("raw file polarity not stated and not clear from the image; taken as MONOCHROME2 (high values dense)")
        }
        return DecodedPixels(width: geometry.width, height: geometry.height, bitsStored: geometry.bitsStored,
                             samples: samples, photometric: photometric, pixelSpacing: nil,
                             storedLayout: "raw \(geometry.sampleType.rawValue) \(geometry.bitsStored)-bit", notes: notes,
                             anatomy: anatomy)
    }
}
