import Crypto

/// Options that bound and steer decoding.
public struct DecodeOptions: Sendable, Equatable {
    /// Largest `width × height` accepted, checked against the header before any allocation.
    public var maxPixels: Int
    /// Largest file read into memory, bytes.
    public var maxFileBytes: Int
    /// Geometry for headerless raw files. Files whose leading bytes identify
    /// PNG or JPEG are still decoded as such.
    public var raw: RawGeometry?
    /// A spacing from outside the file (command line or manifest). When set it
    /// replaces the file's own spacing, and its source is recorded.
    public var spacingOverride: PixelSpacing?
    /// Whether to hash the file's bytes (SHA-256) for provenance and resume keys.
    public var computeDigest: Bool
    /// Where GDCM runs for DICOM files; by default in a worker process with a 20 s limit per file.
    public var dicomIsolation: DICOMIsolation = .default
    /// PNG and JPEG store no polarity. When set (the default), an image whose anatomy
    /// clearly says inverted (``ChestPolarity``: the mediastinum darker than the lungs, as
    /// when MONOCHROME1 data are saved without conversion) is read as MONOCHROME1, with a
    /// note; otherwise, and when unset, high values are dense (MONOCHROME2).
    public var infersPolarity = true

    public static let defaultMaxPixels = 100_000_000

    public init(maxPixels: Int = DecodeOptions.defaultMaxPixels, maxFileBytes: Int = 1 << 31,
                raw: RawGeometry? = nil, spacingOverride: PixelSpacing? = nil, computeDigest: Bool = true) {
        self.computeDigest = computeDigest
        self.maxPixels = maxPixels
        self.maxFileBytes = maxFileBytes
        self.raw = raw
        self.spacingOverride = spacingOverride
    }
}

/// Loads radiographs from files or bytes, choosing the decoder by magic bytes.
///
/// All failures are thrown as `RadiographError`; nothing is printed and the
/// process is never exited from here.
public struct RadiographReader: Sendable {
    public var options: DecodeOptions

    public init(options: DecodeOptions = DecodeOptions()) {
        self.options = options
    }

    /// Reads and decodes one file. Throws `RadiographError`.
    public func read(contentsOf path: String) throws -> Radiograph {
        let bytes = try FileBytes.read(path: path, maxBytes: options.maxFileBytes)
        return try decode(bytes, path: path)
    }

    /// Decodes bytes already in memory; `path` is used for errors and provenance. Throws `RadiographError`.
    public func decode(_ bytes: [UInt8], path: String) throws -> Radiograph {
        guard !bytes.isEmpty else { throw RadiographError.decode(path: path, format: nil, .empty) }

        let decoded: DecodedPixels
        let format: RadiographFormat
        var dicom: DICOMAttributes?
        switch FormatSniffer.sniff(bytes) {
        case .supported(.png):
            format = .png
            decoded = try PNGCodec.decode(bytes, path: path, maxPixels: options.maxPixels)
        case .supported(.jpeg):
            format = .jpeg
            decoded = try JPEGCodec.decode(bytes, path: path, maxPixels: options.maxPixels)
        case .supported(.dicom):
            format = .dicom
            (decoded, dicom) = try DICOMCodec.decode(bytes, path: path, options: options)
        case let verdict:
            // Anything else is raw when the caller stated a geometry.
            guard let geometry = options.raw else {
                if case .recognisedButUnsupported(let name) = verdict {
                    throw RadiographError.decode(path: path, format: nil, .unsupported(detail: "\(name) files are not supported by this build"))
                }
                throw RadiographError.decode(path: path, format: nil, .notAnImage)
            }
            format = .raw
            decoded = try RawCodec.decode(bytes, geometry: geometry, path: path, maxPixels: options.maxPixels)
        }

        var spacing = decoded.pixelSpacing
        var notes = decoded.notes
        var photometric = decoded.photometric
        // One reading of the anatomy per image: polarity, its check against DICOM tags, rotation.
        let anatomy = decoded.anatomy ?? ChestPolarity.read(decoded.samples, width: decoded.width, height: decoded.height)
        if options.infersPolarity, format == .png || format == .jpeg, let inferred = anatomy?.inferred,
           inferred.photometric == .monochrome1 {
            photometric = .monochrome1
            let percent = Int((abs(inferred.contrast) * 100).rounded())
            notes.append("\(format.rawValue.uppercased()) stores no polarity, and the anatomy says inverted (mediastinum below the lungs by "
                         + "\(percent) % of the range): read as MONOCHROME1, high values lucent")
        }
        if options.infersPolarity, format == .dicom, let doubt = anatomy?.disagreement(stated: photometric) {
            notes.append(doubt)
        }
        if let turned = anatomy?.rotationNote { notes.append(turned) }
        if let override = options.spacingOverride {
            if let own = spacing, abs(own.row - override.row) > 1e-3 * own.row || abs(own.column - override.column) > 1e-3 * own.column {
                notes.append("file spacing \(own.row)×\(own.column) mm (\(own.source)) replaced by \(override.row)×\(override.column) mm (\(override.source))")
            }
            spacing = override
        }

        var radiograph = Radiograph(
            width: decoded.width, height: decoded.height, bitsStored: decoded.bitsStored,
            samples: decoded.samples, photometric: photometric, pixelSpacing: spacing,
            patient: decoded.patient, studyDate: decoded.studyDate,
            source: SourceDescription(path: path, sha256: options.computeDigest ? Self.sha256Hex(bytes) : nil, format: format,
                                      byteCount: bytes.count, storedLayout: decoded.storedLayout))
        radiograph.notes = notes
        radiograph.dicom = dicom
        return radiograph
    }

    static func sha256Hex(_ bytes: [UInt8]) -> String {
        let digest = SHA256.hash(data: bytes)
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
