/// The transfer syntaxes NoduleKit decodes (through GDCM). Any other UID is
/// rejected with `DecodingFailure.unsupportedTransferSyntax(uid:)` before
/// GDCM sees the pixel data.
///
/// Source: DICOM PS3.6 Table A-1 (UIDs); the list is what radiograph archives
/// use (see shared/domain.md), all verified against pydicom in the tests.
public enum DICOMTransferSyntax: String, Sendable, Equatable, CaseIterable, Codable {
    case implicitLittleEndian = "1.2.840.10008.1.2"
    case explicitLittleEndian = "1.2.840.10008.1.2.1"
    case deflatedExplicitLittleEndian = "1.2.840.10008.1.2.1.99"
    case explicitBigEndian = "1.2.840.10008.1.2.2"
    case jpegBaseline = "1.2.840.10008.1.2.4.50"
    case jpegExtended = "1.2.840.10008.1.2.4.51"
    case jpegLossless = "1.2.840.10008.1.2.4.57"
    case jpegLosslessSV1 = "1.2.840.10008.1.2.4.70"
    case jpegLSLossless = "1.2.840.10008.1.2.4.80"
    case jpegLSNearLossless = "1.2.840.10008.1.2.4.81"
    case jpeg2000Lossless = "1.2.840.10008.1.2.4.90"
    case jpeg2000 = "1.2.840.10008.1.2.4.91"
    case rleLossless = "1.2.840.10008.1.2.5"

    public init?(uid: String) { self.init(rawValue: uid) }

    public var uid: String { rawValue }

    /// Pixel Data is a sequence of compressed fragments (PS3.5 §A.4).
    public var isEncapsulated: Bool {
        switch self {
        case .implicitLittleEndian, .explicitLittleEndian, .deflatedExplicitLittleEndian, .explicitBigEndian: false
        default: true
        }
    }

    /// Whether decoded pixels can differ from what was acquired.
    public var isLossy: Bool {
        switch self {
        case .jpegBaseline, .jpegExtended, .jpegLSNearLossless, .jpeg2000: true
        default: false
        }
    }

    public var name: String {
        switch self {
        case .implicitLittleEndian: "Implicit VR Little Endian"
        case .explicitLittleEndian: "Explicit VR Little Endian"
        case .deflatedExplicitLittleEndian: "Deflated Explicit VR Little Endian"
        case .explicitBigEndian: "Explicit VR Big Endian"
        case .jpegBaseline: "JPEG Baseline (Process 1)"
        case .jpegExtended: "JPEG Extended (Process 2 & 4)"
        case .jpegLossless: "JPEG Lossless (Process 14)"
        case .jpegLosslessSV1: "JPEG Lossless SV1 (Process 14, Selection Value 1)"
        case .jpegLSLossless: "JPEG-LS Lossless"
        case .jpegLSNearLossless: "JPEG-LS Near-Lossless"
        case .jpeg2000Lossless: "JPEG 2000 Lossless"
        case .jpeg2000: "JPEG 2000"
        case .rleLossless: "RLE Lossless"
        }
    }
}
