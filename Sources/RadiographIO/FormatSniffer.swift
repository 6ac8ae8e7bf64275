/// Identifies a file's format from its leading bytes, never from its name.
public enum FormatSniffer {
    /// What the leading bytes say.
    public enum Verdict: Equatable, Sendable {
        case supported(RadiographFormat)
        /// A recognised image format that this build does not decode (name given).
        case recognisedButUnsupported(String)
        case unknown
    }

    static let pngSignature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    public static func sniff(_ bytes: [UInt8]) -> Verdict {
        if bytes.starts(with: pngSignature) { return .supported(.png) }
        if bytes.starts(with: [0xFF, 0xD8, 0xFF]) { return .supported(.jpeg) }
        if bytes.count >= 132, bytes[128..<132].elementsEqual("DICM".utf8) { return .supported(.dicom) }
        if DICOMPreflight.looksLikePreamblelessDataSet(bytes) { return .supported(.dicom) }
        if bytes.starts(with: [0x49, 0x49, 0x2A, 0x00]) || bytes.starts(with: [0x4D, 0x4D, 0x00, 0x2A]) {
            return .recognisedButUnsupported("TIFF")
        }
        if bytes.starts(with: [0x00, 0x00, 0x00, 0x0C, 0x6A, 0x50, 0x20, 0x20]) || bytes.starts(with: [0xFF, 0x4F, 0xFF, 0x51]) {
            return .recognisedButUnsupported("JPEG 2000")
        }
        if bytes.starts(with: Array("GIF8".utf8)) { return .recognisedButUnsupported("GIF") }
        if bytes.starts(with: Array("BM".utf8)) && bytes.count > 26 { return .recognisedButUnsupported("BMP") }
        // A PNG or JPEG cut inside its own signature is still that format.
        if !bytes.isEmpty && bytes.count < pngSignature.count && pngSignature.starts(with: bytes) { return .supported(.png) }
        if bytes.count < 3 && [0xFF, 0xD8, 0xFF].starts(with: bytes) && !bytes.isEmpty { return .supported(.jpeg) }
        return .unknown
    }
}
