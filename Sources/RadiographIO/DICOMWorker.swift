import CGDCM

#if canImport(Glibc)
import Glibc
#endif

/// The child side of `DICOMWorkerPool`: serves decode requests on standard
/// input, answers on standard output (protocol in `DICOMWorkerProtocol`), and
/// exits when standard input closes. Run by the `nodules-dicom-worker`
/// executable, or by the `nodules` executable itself when that is not installed
/// beside it (``serveIfAsked(_:)``); not meant to be run by hand.
public enum DICOMWorker {
    /// The one argument with which an executable that calls ``serveIfAsked(_:)`` runs as a worker.
    public static let servingArgument = "--serve-dicom-worker"

    /// For an executable that links RadiographIO and calls this first thing (the `nodules` CLI): when
    /// `arguments` (without the program name) is just ``servingArgument``, serves and returns the exit
    /// status. Otherwise returns nil, having noted that this executable can serve, so the worker pool
    /// falls back to running it (`/proc/self/exe`) when no `nodules-dicom-worker` sits beside it: building
    /// only the `nodules` product must not cost DICOM support.
    public static func serveIfAsked(_ arguments: [String]) -> Int32? {
        if arguments == [servingArgument] { return serve() }
        DICOMWorkerPool.ownExecutableServes.store(true, ordering: .releasing)
        return nil
    }

    /// Serves until end of input. Returns the process exit status.
    public static func serve() -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        cxr_dcm_worker_prepare()
        while true {
            guard let head = readExactly(DICOMWorkerProtocol.headerSize) else { return 0 }
            guard let (op, length) = DICOMWorkerProtocol.parseHeader(head, magic: DICOMWorkerProtocol.requestMagic) else { return 2 }
            switch DICOMWorkerProtocol.Op(rawValue: op) {
            case .decode, .decodeOmittingNativeFrame:
                // The payload: the pixel limit (8 bytes), then the file, read straight into its own array.
                guard length >= 8, let limit = readExactly(8), let bytes = readExactly(length - 8) else { return 2 }
                var reader = ByteReader(limit)
                let maxPixels = reader.u64().map { Int(min($0, UInt64(Int.max))) } ?? DecodeOptions.defaultMaxPixels
                do {
                    let image = try GDCMBridge.decode(bytes, maxPixels: maxPixels, nativeFrame: op == DICOMWorkerProtocol.Op.decode.rawValue)
                    guard respond(0, DICOMWorkerProtocol.encode(image)) else { return 3 }
                } catch {
                    let failure = error as? DecodingFailure ?? .corrupt(detail: "\(error)")
                    guard respond(1, DICOMWorkerProtocol.encode(failure)) else { return 3 }
                }
            case .abortForTesting:
                abort()
            case .hangForTesting:
                while true { sleep(3600) }
            case nil:
                return 2
            }
        }
    }

    static func respond(_ status: UInt8, _ body: [UInt8]) -> Bool {
        // Header and body written one after the other: the body (a frame) is not copied behind the header.
        writeAll(DICOMWorkerProtocol.header(DICOMWorkerProtocol.responseMagic, status, length: body.count)) && writeAll(body)
    }

    static func readExactly(_ count: Int) -> [UInt8]? {
        // Not zero-filled first (a request holds a whole file): every byte is read into, or the array is dropped.
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            var got = 0
            defer { initialised = got }
            while got < count {
                let n = read(0, buffer.baseAddress! + got, count - got)
                if n < 0 && errno == EINTR { continue }
                if n <= 0 { return }
                got += n
            }
        }
        return out.count == count ? out : nil
    }

    static func writeAll(_ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes { write(1, $0.baseAddress! + sent, $0.count - sent) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }
}
