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
}
