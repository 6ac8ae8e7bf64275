#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a radiograph's stored samples to an exchange format.
public enum RadiographWriter {
    public enum Destination: String, Sendable, CaseIterable {
        /// 16-bit grayscale PNG with pHYs (spacing), sBIT (bits stored), and the patient
        /// and study date as text chunks keyed by DICOM keywords (PatientID, IssuerOfPatientID, StudyDate).
        case png16
        /// NumPy `.npy`, `<u2`, shape (rows, columns).
        case npy

        /// Chooses by the output's extension: `.png` or `.npy`.
        public init(path: String) throws {
            let lower = path.lowercased()
            if lower.hasSuffix(".png") { self = .png16 }
            else if lower.hasSuffix(".npy") { self = .npy }
            else { throw EncodingError.unsupportedDestination("cannot tell the output format of '\(path)': use .png or .npy") }
        }
    }

    /// Encodes without touching the file system.
    public static func encode(_ radiograph: Radiograph, as destination: Destination) throws -> [UInt8] {
        switch destination {
        case .png16:
            return try PNGCodec.encodeGray16(radiograph.samples, width: radiograph.width, height: radiograph.height,
                                             bitsStored: radiograph.bitsStored, spacing: radiograph.pixelSpacing,
                                             patient: radiograph.patient, studyDate: radiograph.studyDate)
        case .npy:
            return NPY.encode(radiograph.samples, shape: [radiograph.height, radiograph.width])
        }
    }

    /// Encodes and writes atomically (temporary file, then rename).
    public static func write(_ radiograph: Radiograph, to path: String) throws {
        let bytes = try encode(radiograph, as: Destination(path: path))
        try AtomicFile.write(bytes, to: path)
    }
}

/// Writes files via a temporary sibling and `rename`, so readers never see a partial file.
public enum AtomicFile {
    public static func write(_ bytes: [UInt8], to path: String) throws {
        let temporary = path + ".partial-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw failure(path: path) }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                let error = failure(path: path)
                close(fd)
                unlink(temporary)
                throw error
            }
            written += n
        }
        guard close(fd) == 0, rename(temporary, path) == 0 else {
            let error = failure(path: path)
            unlink(temporary)
            throw error
        }
    }

    static func failure(path: String) -> EncodingError {
        .writeFailed(path: path, errno: errno, message: String(cString: strerror(errno)))
    }
}

/// Minimal NumPy `.npy` (format 1.0) encoding for little-endian arrays.
public enum NPY {
    public static func encode(_ values: [UInt16], shape: [Int]) -> [UInt8] {
        var out = header(descr: "<u2", shape: shape)
        out.reserveCapacity(out.count + values.count * 2)
        for v in values { out.append(UInt8(v & 0xFF)); out.append(UInt8(v >> 8)) }
        return out
    }

    public static func encode(_ values: [Float], shape: [Int]) -> [UInt8] {
        var out = header(descr: "<f4", shape: shape)
        values.withUnsafeBytes { out.append(contentsOf: $0) }
        return out
    }

    /// Header: magic, version 1.0, length, then a dict padded with spaces so data starts on a 64-byte boundary.
    static func header(descr: String, shape: [Int]) -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var dict = "{'descr': '\(descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        let unpadded = 10 + dict.utf8.count + 1
        dict += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8) + [1, 0]
        let length = UInt16(dict.utf8.count)
        out.append(UInt8(length & 0xFF))
        out.append(UInt8(length >> 8))
        out.append(contentsOf: dict.utf8)
        return out
    }
}
