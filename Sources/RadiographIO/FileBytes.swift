#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Reads a whole regular file into memory with POSIX calls, so each failure
/// maps to an exact `ReadFailure` (errno is not lost behind Foundation).
enum FileBytes {
    static func read(path: String, maxBytes: Int) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw RadiographError.read(path: path, failure(errno)) }
        defer { close(fd) }

        var status = stat()
        guard fstat(fd, &status) == 0 else { throw RadiographError.read(path: path, failure(errno)) }
        if (status.st_mode & S_IFMT) == S_IFDIR { throw RadiographError.read(path: path, .isDirectory) }
        let size = Int(status.st_size)
        if size > maxBytes { throw RadiographError.read(path: path, .fileTooLarge(bytes: size, limit: maxBytes)) }

        var bytes = [UInt8](repeating: 0, count: size)
        var filled = 0
        while filled < size {
            let n = bytes.withUnsafeMutableBytes { buffer in
                Glibc.read(fd, buffer.baseAddress! + filled, size - filled)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw RadiographError.read(path: path, failure(errno))
            }
            if n == 0 { break }  // file shrank while reading
            filled += n
        }
        if filled < size { bytes.removeLast(size - filled) }
        return bytes
    }

    static func failure(_ code: Int32) -> ReadFailure {
        switch code {
        case ENOENT, ENOTDIR: .notFound
        case EISDIR: .isDirectory
        case EACCES, EPERM: .permissionDenied
        default: .system(errno: code, message: String(cString: strerror(code)))
        }
    }
}
