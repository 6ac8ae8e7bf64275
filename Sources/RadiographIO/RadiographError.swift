/// Why a radiograph could not be loaded. Every case names the file.
///
/// Two phases, two reason enums: reading the bytes (`ReadFailure`) and
/// decoding them (`DecodingFailure`). Tests assert the exact case.
public enum RadiographError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file's bytes could not be read.
    case read(path: String, ReadFailure)
    /// The bytes were read but are not a usable radiograph. `format` is `nil`
    /// when the bytes matched no known format.
    case decode(path: String, format: RadiographFormat?, DecodingFailure)

    public var path: String {
        switch self {
        case .read(let path, _), .decode(let path, _, _): path
        }
    }

    public var description: String {
        switch self {
        case .read(let path, let failure):
            "\(path): \(failure)"
        case .decode(let path, let format, let failure):
            "\(path): \(format.map { "\($0.rawValue.uppercased()): " } ?? "")\(failure)"
        }
    }
}

/// Reasons a file's bytes could not be read.
public enum ReadFailure: Equatable, Sendable, CustomStringConvertible {
    case notFound
    case isDirectory
    case permissionDenied
    /// The file exceeds the configured byte limit.
    case fileTooLarge(bytes: Int, limit: Int)
    /// Any other operating-system error (errno and its text).
    case system(errno: Int32, message: String)

    public var description: String {
        switch self {
        case .notFound: "no such file"
        case .isDirectory: "is a directory, not a file"
        case .permissionDenied: "permission denied"
        case .fileTooLarge(let bytes, let limit): "file is \(bytes) bytes, above the limit of \(limit)"
        case .system(let errno, let message): "read failed (errno \(errno): \(message))"
        }
    }
}

/// Reasons a file's bytes are not a usable radiograph. An `Error` so that
/// inner DICOM stages can throw it; `RadiographReader` always wraps it in
/// `RadiographError.decode` with the path.
public enum DecodingFailure: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file has zero bytes.
    case empty
    /// The leading bytes match no supported format (and no raw geometry was given).
    case notAnImage
    /// The data ends before the image does.
    case truncated(detail: String)
    /// A chunk's CRC does not match (PNG).
    case badChecksum(detail: String)
    /// The header declares more pixels than the configured limit; nothing was allocated.
    case tooLarge(width: Int, height: Int, limitPixels: Int)
    /// A valid file using a feature this build cannot decode.
    case unsupported(detail: String)
    /// Damaged structure or entropy-coded data.
    case corrupt(detail: String)
    /// A raw file whose size does not match the stated geometry.
    case sizeMismatch(expectedBytes: Int, actualBytes: Int)
    /// DICOM: a transfer syntax outside `DICOMTransferSyntax` (e.g. HTJ2K), named by its UID.
    case unsupportedTransferSyntax(uid: String)
    /// DICOM: the data set has no Pixel Data (7FE0,0010).
    case missingPixelData
    /// DICOM: native Pixel Data declares fewer bytes than Rows × Columns × Samples × bytes × Frames.
    case pixelDataLength(expectedBytes: Int, declaredBytes: Int)
    /// DICOM: the isolated decoder process died (e.g. a GDCM assertion called `abort()`).
    case workerCrashed(detail: String)
    /// DICOM: the isolated decoder did not answer within the per-file limit; it was killed.
    case timedOut(seconds: Double)
    /// DICOM: the decoder worker executable could not be found or started.
    case workerUnavailable(detail: String)

    public var description: String {
        switch self {
        case .empty: "file is empty"
        case .notAnImage: "not an image (unrecognised leading bytes)"
        case .truncated(let detail): "truncated (\(detail))"
        case .badChecksum(let detail): "bad checksum (\(detail))"
        case .tooLarge(let w, let h, let limit): "\(w)×\(h) exceeds the limit of \(limit) pixels"
        case .unsupported(let detail): "unsupported (\(detail))"
        case .corrupt(let detail): "corrupt (\(detail))"
        case .sizeMismatch(let expected, let actual): "raw size mismatch: geometry needs \(expected) bytes, file has \(actual)"
        case .unsupportedTransferSyntax(let uid):
            "unsupported transfer syntax \(uid)\(uid == "1.2.840.10008.1.2.4.201" || uid == "1.2.840.10008.1.2.4.202" || uid == "1.2.840.10008.1.2.4.203" ? " (HTJ2K)" : "")"
        case .missingPixelData: "no Pixel Data (7FE0,0010)"
        case .pixelDataLength(let expected, let declared): "Pixel Data holds \(declared) bytes; the image needs \(expected)"
        case .workerCrashed(let detail): "decoder worker crashed (\(detail))"
        case .timedOut(let seconds): "decoder worker timed out after \(seconds) s and was killed"
        case .workerUnavailable(let detail): "decoder worker unavailable (\(detail))"
        }
    }
}

extension DecodingFailure {
    /// A pattern-match helper for tests and callers that care only about the case.
    public var kind: String {
        switch self {
        case .empty: "empty"
        case .notAnImage: "not-an-image"
        case .truncated: "truncated"
        case .badChecksum: "bad-checksum"
        case .tooLarge: "too-large"
        case .unsupported: "unsupported"
        case .corrupt: "corrupt"
        case .sizeMismatch: "size-mismatch"
        case .unsupportedTransferSyntax: "unsupported-transfer-syntax"
        case .missingPixelData: "missing-pixel-data"
        case .pixelDataLength: "pixel-data-length"
        case .workerCrashed: "worker-crashed"
        case .timedOut: "timed-out"
        case .workerUnavailable: "worker-unavailable"
        }
    }
}

extension ReadFailure {
    public var kind: String {
        switch self {
        case .notFound: "not-found"
        case .isDirectory: "is-directory"
        case .permissionDenied: "permission-denied"
        case .fileTooLarge: "file-too-large"
        case .system: "io-error"
        }
    }
}

extension RadiographError {
    /// A stable machine-readable code, e.g. `decode.truncated`, `read.is-directory`.
    public var code: String {
        switch self {
        case .read(_, let f): "read.\(f.kind)"
        case .decode(_, _, let f): "decode.\(f.kind)"
        }
    }
}
