/// A decoded radiograph: grayscale samples at full precision plus what the
/// file says about geometry, polarity, identity and provenance.
///
/// Samples are row-major, `width × height`, one `UInt16` per pixel; 8-bit
/// sources are widened without rescaling, so `bitsStored` says how many low
/// bits carry signal.
public struct Radiograph: Sendable, Equatable {
    /// Image width (columns), px.
    public var width: Int
    /// Image height (rows), px.
    public var height: Int
    /// Number of significant low bits in each sample (1…16).
    public var bitsStored: Int
    /// Row-major samples, `width * height` of them.
    public var samples: [UInt16]
    /// Which polarity means "dense" (bone, nodule) in `samples`.
    public var photometric: PhotometricInterpretation
    /// Physical pixel spacing, or `nil` when no source gave one.
    public var pixelSpacing: PixelSpacing?
    /// Patient identity, where the format carries it.
    public var patient: PatientIdentity?
    /// Study date, where the format carries it.
    public var studyDate: StudyDate?
    /// Where the pixels came from.
    public var source: SourceDescription
    /// Decoder remarks a reviewer should see (e.g. a placeholder resolution tag ignored).
    public var notes: [String] = []
    /// DICOM study/series/instance attributes and the modality mapping; `nil` for other formats.
    public var dicom: DICOMAttributes? = nil

    public init(width: Int, height: Int, bitsStored: Int, samples: [UInt16],
                photometric: PhotometricInterpretation = .monochrome2,
                pixelSpacing: PixelSpacing? = nil, patient: PatientIdentity? = nil,
                studyDate: StudyDate? = nil, source: SourceDescription) {
        precondition(width > 0 && height > 0, "a radiograph has at least one pixel")
        precondition(samples.count == width * height, "samples must hold width × height values")
        precondition((1...16).contains(bitsStored), "bitsStored must be 1…16")
        self.width = width
        self.height = height
        self.bitsStored = bitsStored
        self.samples = samples
        self.photometric = photometric
        self.pixelSpacing = pixelSpacing
        self.patient = patient
        self.studyDate = studyDate
        self.source = source
    }

    /// Largest value a sample can take given `bitsStored`.
    public var maximumStoredValue: UInt16 { UInt16((1 << bitsStored) - 1) }

    /// The sample at column `x`, row `y`.
    public subscript(x: Int, y: Int) -> UInt16 {
        samples[y * width + x]
    }

    /// Minimum, maximum and mean of all samples (stored values, no polarity change).
    public var statistics: SampleStatistics { SampleStatistics(samples) }
}

/// Which sample polarity means "dense". Terms from DICOM (0028,0004).
public enum PhotometricInterpretation: String, Sendable, Codable, Equatable {
    /// The minimum sample is displayed white: low values are dense.
    case monochrome1 = "MONOCHROME1"
    /// The minimum sample is displayed black: high values are dense (usual for PNG/JPEG).
    case monochrome2 = "MONOCHROME2"
}

/// Physical size of one pixel, mm, with where that figure came from.
///
/// DICOM order: `row` is the spacing between rows (vertical), `column` the
/// spacing between columns (horizontal), as in Pixel Spacing (0028,0030).
public struct PixelSpacing: Sendable, Equatable, Codable {
    /// Distance between adjacent rows, mm.
    public var row: Double
    /// Distance between adjacent columns, mm.
    public var column: Double
    public var source: Source

    public init(row: Double, column: Double, source: Source) {
        self.row = row
        self.column = column
        self.source = source
    }

    /// Where a spacing figure came from. Stored beside every mm figure.
    public enum Source: Sendable, Equatable, Codable, CustomStringConvertible {
        /// A tag in the file itself, named (e.g. "PNG pHYs", "JFIF density").
        case formatTag(String)
        /// A manifest row supplied with the batch.
        case manifest
        /// The command line (`--spacing`).
        case commandLine
        /// DICOM Pixel Spacing (0028,0030): in the patient plane.
        case dicomPixelSpacing
        /// DICOM Imager Pixel Spacing (0018,1164) divided by the Estimated
        /// Radiographic Magnification Factor (0018,1114): an estimate at the patient plane.
        case dicomImagerPixelSpacingCorrected(magnification: Double)
        /// DICOM Imager Pixel Spacing (0018,1164) with no magnification factor:
        /// at the detector plane, so anatomy measures larger than it is.
        case dicomImagerPixelSpacingDetector
        /// DICOM Nominal Scanned Pixel Spacing (0018,2010) of a digitised film (Secondary
        /// Capture): at the film, so anatomy measures larger than it is, as at the detector.
        case dicomNominalScannedPixelSpacing

        public var description: String {
            switch self {
            case .formatTag(let tag): "tag:\(tag)"
            case .manifest: "manifest"
            case .commandLine: "command-line"
            case .dicomPixelSpacing: "dicom:PixelSpacing"
            case .dicomImagerPixelSpacingCorrected(let m): "dicom:ImagerPixelSpacing/ERMF(\(m))"
            case .dicomImagerPixelSpacingDetector: "dicom:ImagerPixelSpacing(detector-plane)"
            case .dicomNominalScannedPixelSpacing: "dicom:NominalScannedPixelSpacing(film-plane)"
            }
        }
    }

    /// `true` when row and column spacing agree to within 0.1 %.
    public var isSquare: Bool { abs(row - column) <= 0.001 * max(row, column) }
}

/// Patient identity as carried by the file (DICOM Patient ID with Issuer).
public struct PatientIdentity: Sendable, Equatable, Hashable, Codable {
    public var id: String
    public var issuer: String?
    public init(id: String, issuer: String? = nil) {
        self.id = id
        self.issuer = issuer
    }
}

/// A calendar date without time zone, as DICOM Study Date (DA, YYYYMMDD).
public struct StudyDate: Sendable, Equatable, Hashable, Comparable, Codable, CustomStringConvertible {
    public var year: Int
    public var month: Int
    public var day: Int

    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month) else { return nil }
        let monthDays = [31, StudyDate.isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard (1...monthDays[month - 1]).contains(day) else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// Parses `YYYY-MM-DD` or DICOM `YYYYMMDD`.
    public init?(_ text: some StringProtocol) {
        let digits = text.filter { $0 != "-" }
        guard digits.count == 8, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              text.count == 8 || text.count == 10 else { return nil }
        let d = Array(digits)
        guard let y = Int(String(d[0..<4])), let m = Int(String(d[4..<6])), let dd = Int(String(d[6..<8])) else { return nil }
        self.init(year: y, month: m, day: dd)
    }

    static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    /// Days since 1970-01-01 (proleptic Gregorian).
    public var daysSinceEpoch: Int {
        // Howard Hinnant's days_from_civil.
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
    }

    public var description: String {
        func pad(_ v: Int, _ n: Int) -> String { String(repeating: "0", count: max(0, n - String(v).count)) + String(v) }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    public static func < (a: StudyDate, b: StudyDate) -> Bool { a.daysSinceEpoch < b.daysSinceEpoch }
}

/// The container format a radiograph was decoded from.
public enum RadiographFormat: String, Sendable, Equatable, Codable, CaseIterable {
    case png
    case jpeg
    case raw
    case dicom
}

/// Provenance of a decoded radiograph.
public struct SourceDescription: Sendable, Equatable {
    /// Path as given by the caller.
    public var path: String
    /// Lower-case hex SHA-256 of the file's bytes (`nil` when `DecodeOptions.computeDigest` is off).
    public var sha256: String?
    public var format: RadiographFormat
    /// Size of the file, bytes.
    public var byteCount: Int
    /// What the format stored before conversion to gray, e.g. "gray 16-bit", "RGB 8-bit", "CMYK (Adobe)".
    public var storedLayout: String

    public init(path: String, sha256: String?, format: RadiographFormat, byteCount: Int, storedLayout: String) {
        self.path = path
        self.sha256 = sha256
        self.format = format
        self.byteCount = byteCount
        self.storedLayout = storedLayout
    }
}

/// Minimum, maximum and mean of a set of samples.
public struct SampleStatistics: Sendable, Equatable {
    public var minimum: UInt16
    public var maximum: UInt16
    public var mean: Double

    public init(_ samples: [UInt16]) {
        var lo = UInt16.max, hi = UInt16.min
        var sum: UInt64 = 0
        for s in samples {
            lo = Swift.min(lo, s)
            hi = Swift.max(hi, s)
            sum &+= UInt64(s)
        }
        minimum = samples.isEmpty ? 0 : lo
        maximum = samples.isEmpty ? 0 : hi
        mean = samples.isEmpty ? 0 : Double(sum) / Double(samples.count)
    }
}
