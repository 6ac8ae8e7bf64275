/// The two halves of `RadiographReader.read(contentsOf:)`, for callers that look at
/// the bytes before decoding (a batch checks its resume key by content hash first).
extension RadiographReader {
    /// Reads a whole file within `options.maxFileBytes`. Throws `RadiographError.read`.
    public func readBytes(contentsOf path: String) throws -> [UInt8] {
        try FileBytes.read(path: path, maxBytes: options.maxFileBytes)
    }

    /// Lower-case hex SHA-256 of `bytes`, the same digest `SourceDescription.sha256` holds.
    public static func sha256(of bytes: [UInt8]) -> String {
        sha256Hex(bytes)
    }

    /// Modality and View Position of a DICOM file, read from its header without decoding its
    /// pixels, so a caller can leave out a lateral view before paying for its decode. nil: the
    /// bytes are not DICOM. Short of any tag that follows a point where the header cannot be
    /// walked (a deflated data set is inflated only as far as its first 4 MiB).
    public static func dicomAcquisition(of bytes: [UInt8]) -> DICOMAcquisition? {
        guard case .supported(.dicom) = FormatSniffer.sniff(bytes) else { return nil }
        var acquisition = DICOMAcquisition()
        _ = try? DICOMPreflight.scan(bytes, maxInflatedBytes: 4 << 20, acquisition: &acquisition)
        return acquisition
    }
}
