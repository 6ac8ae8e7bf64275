import Dispatch
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A bounded pool of long-lived `nodules-dicom-worker` processes that decode
/// DICOM with GDCM on the parent's behalf.
///
/// Debian builds GDCM with assertions on, so a damaged file can `abort()` the
/// decoding process or hang it (shared/toolchain.md). Each request therefore
/// runs in a child with a deadline: an abort becomes
/// `DecodingFailure.workerCrashed`, a hang `DecodingFailure.timedOut` (the
/// child is killed), and the next request gets a fresh child. At most `size`
/// requests run at once; further callers wait for a free slot.
///
/// The worker executable is `$NODULEKIT_DICOM_WORKER` when set, else
/// `nodules-dicom-worker` in the folder of the running executable
/// (`/proc/self/exe`), which is where SwiftPM puts every product, tests included;
/// when that is missing and the running executable can serve itself (it called
/// `DICOMWorker.serveIfAsked(_:)`, as `nodules` does), the running executable
/// with `DICOMWorker.servingArgument`.
final class DICOMWorkerPool: @unchecked Sendable {
    // Invariant: `idle`, `busy` and `spawnCount` are read and written only while
    // holding `lock`; a checked-out `Worker` is used by exactly one thread.

    static let environmentVariable = "NODULEKIT_DICOM_WORKER"
    static let executableName = "nodules-dicom-worker"
    /// Set once by `DICOMWorker.serveIfAsked(_:)`: the running executable can be a worker.
    static let ownExecutableServes = Atomic<Bool>(false)

    /// The process-wide pool: as many workers as cores, at most 4.
    static let shared = DICOMWorkerPool(size: max(1, min(4, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))))

    let size: Int
    private let slots: DispatchSemaphore
    private let lock = DispatchSemaphore(value: 1)
    private var idle: [Worker] = []
    private var busy: Set<pid_t> = []
    private var spawnCount = 0

    /// `executable` overrides the lookup described above (tests use it).
    private let executable: String?

    init(size: Int, executable: String? = nil) {
        precondition(size >= 1)
        self.size = size
        self.executable = executable
        slots = DispatchSemaphore(value: size)
    }

    final class Worker {
        let pid: pid_t
        let socket: Int32
        let stderrFD: Int32
        /// The last bytes the worker wrote to stderr (e.g. a GDCM assertion message).
        var stderrTail: [UInt8] = []

        init(pid: pid_t, socket: Int32, stderrFD: Int32) {
            self.pid = pid
            self.socket = socket
            self.stderrFD = stderrFD
        }

        func closeDescriptors() {
            close(socket)
            close(stderrFD)
        }
    }

    /// Processes started so far (tests use it to see that a dead worker was replaced).
    var workersStarted: Int { locked { spawnCount } }
    /// Process ids of workers currently serving a request.
    var busyWorkerPIDs: Set<pid_t> { locked { busy } }
    var idleWorkerPIDs: [pid_t] { locked { idle.map(\.pid) } }

    private func locked<T>(_ body: () -> T) -> T {
        lock.wait()
        defer { lock.signal() }
        return body()
    }

    // MARK: Requests

    /// Decodes a whole DICOM file in a worker. Throws the worker's own
    /// `DecodingFailure`, or `.workerCrashed`, `.timedOut`, `.workerUnavailable`.
    /// `nativeFrame` false: see ``GDCMBridge/decode(_:maxPixels:nativeFrame:)``.
    func decode(_ bytes: [UInt8], maxPixels: Int, timeoutSeconds: Double, nativeFrame: Bool = true) throws -> GDCMImage {
        var limit = ByteWriter()
        limit.u64(UInt64(maxPixels))
        let (status, body) = try request(nativeFrame ? .decode : .decodeOmittingNativeFrame, payload: [limit.data, bytes],
                                         timeoutSeconds: timeoutSeconds)
        if status == 0, let image = DICOMWorkerProtocol.decodeImage(body) { return image }
        if status == 1, let failure = DICOMWorkerProtocol.decodeFailure(body) { throw failure }
        throw DecodingFailure.workerCrashed(detail: "unreadable response from the worker")
    }

    /// Sends one request and waits for its response, replacing the worker if it dies or hangs.
    /// `payload` is sent as the concatenation of its parts (the file's bytes are not copied into one buffer).
    func request(_ op: DICOMWorkerProtocol.Op, payload: [[UInt8]], timeoutSeconds: Double) throws -> (UInt8, [UInt8]) {
        slots.wait()
        defer { slots.signal() }
        // A worker that died while idle did not see this request: retry once on a fresh one.
        for attempt in 0..<2 {
            let worker = try checkOut()
            let deadline = DispatchTime.now().uptimeNanoseconds &+ UInt64(max(0.001, timeoutSeconds) * 1e9)
            let header = DICOMWorkerProtocol.header(DICOMWorkerProtocol.requestMagic, op.rawValue,
                                                    length: payload.reduce(0) { $0 + $1.count })
            switch send([header] + payload, to: worker, deadline: deadline) {
            case .ok: break
            case .timedOut:
                discard(worker, kill: true)
                throw DecodingFailure.timedOut(seconds: timeoutSeconds)
            case .closed:
                let detail = discard(worker, kill: true)
                if attempt == 0 { continue }
                throw DecodingFailure.workerCrashed(detail: detail)
            }
            let head = try receiveResponse(DICOMWorkerProtocol.headerSize, from: worker, deadline: deadline, timeoutSeconds: timeoutSeconds)
            guard let (status, length) = DICOMWorkerProtocol.parseHeader(head, magic: DICOMWorkerProtocol.responseMagic) else {
                discard(worker, kill: true)
                throw DecodingFailure.workerCrashed(detail: "protocol error: bad response header")
            }
            let body = try receiveResponse(length, from: worker, deadline: deadline, timeoutSeconds: timeoutSeconds)
            checkIn(worker)
            return (status, body)
        }
        throw DecodingFailure.workerCrashed(detail: "worker died twice before reading the request")
    }

    /// Reads `count` bytes of a response. A worker that hangs past the deadline is killed
    /// (`.timedOut`); one that closes its socket mid-response has crashed (`.workerCrashed`,
    /// with how it ended). Either way it is discarded.
    private func receiveResponse(_ count: Int, from worker: Worker, deadline: UInt64, timeoutSeconds: Double) throws -> [UInt8] {
        switch receive(count, from: worker, deadline: deadline) {
        case .data(let bytes):
            return bytes
        case .timedOut:
            discard(worker, kill: true)
            throw DecodingFailure.timedOut(seconds: timeoutSeconds)
        case .closed:
            throw DecodingFailure.workerCrashed(detail: discard(worker, kill: false))
        }
    }

    // MARK: Worker lifecycle

    private func checkOut() throws -> Worker {
        while let worker = locked({ idle.popLast() }) {
            // Drop workers that died while idle (killed, OOM); reap them.
            var status: Int32 = 0
            if waitpid(worker.pid, &status, WNOHANG) == 0 {
                locked { _ = busy.insert(worker.pid) }
                return worker
            }
            worker.closeDescriptors()
        }
        let worker = try spawn()
        locked {
            spawnCount += 1
            _ = busy.insert(worker.pid)
        }
        return worker
    }

    private func checkIn(_ worker: Worker) {
        locked {
            busy.remove(worker.pid)
            idle.append(worker)
        }
    }

    /// Kills (optionally), reaps and forgets a worker; returns how it ended, for error messages.
    @discardableResult
    private func discard(_ worker: Worker, kill sendKill: Bool) -> String {
        locked { _ = busy.remove(worker.pid) }
        if sendKill { kill(worker.pid, SIGKILL) }
        var status: Int32 = 0
        // The worker closed its socket, so it is exiting; give it 2 s, then kill it.
        var waited = 0
        while true {
            let r = waitpid(worker.pid, &status, sendKill ? 0 : WNOHANG)
            if r == worker.pid || (r < 0 && errno != EINTR) { break }
            if r == 0 {
                if waited >= 200 { kill(worker.pid, SIGKILL); _ = waitpid(worker.pid, &status, 0); break }
                usleep(10_000)
                waited += 1
            }
        }
        drainStderr(worker)
        worker.closeDescriptors()
        let signal = status & 0x7F
        var detail = signal != 0 ? "killed by \(Self.signalName(signal))" : "exited with status \((status >> 8) & 0xFF)"
        let tail = Self.lastLine(worker.stderrTail)
        if !tail.isEmpty { detail += ": \(tail)" }
        return detail
    }

    /// Ends idle workers (they exit when their socket closes). Busy ones finish their request first.
    func shutdown() {
        let workers = locked { () -> [Worker] in
            defer { idle.removeAll() }
            return idle
        }
        for worker in workers {
            worker.closeDescriptors()
            var status: Int32 = 0
            _ = waitpid(worker.pid, &status, 0)
        }
    }

    /// The worker to start: its path and its one argument; `missing` says why none can start (else nil).
    static func workerCommand() -> (path: String, argument: String, missing: String?) {
        if let override = getenv(environmentVariable), override.pointee != 0 {
            return givenWorker(String(cString: override), source: " (\(environmentVariable))")
        }
        guard let exe = runningExecutable() else {
            return (executableName, "--serve", "cannot read /proc/self/exe; set \(environmentVariable)")
        }
        let folder = exe.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        let sibling = folder + "/" + executableName
        if access(sibling, X_OK) == 0 { return (sibling, "--serve", nil) }
        if ownExecutableServes.load(ordering: .acquiring) { return (exe, DICOMWorker.servingArgument, nil) }
        return (sibling, "--serve", "no executable at \(sibling); build the \(executableName) product or set \(environmentVariable)")
    }

    /// A `nodules-dicom-worker` named by the caller (`source` says where, for the message), not looked for.
    static func givenWorker(_ path: String, source: String) -> (path: String, argument: String, missing: String?) {
        (path, "--serve", access(path, X_OK) == 0 ? nil : "no executable at \(path)\(source)")
    }

    /// The running executable's path (`/proc/self/exe`), nil when unreadable.
    static func runningExecutable() -> String? {
        var buffer = [CChar](repeating: 0, count: 4096)
        let n = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        return String(decoding: buffer[..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    private func spawn() throws -> Worker {
        let (path, argument, missing) = executable.map { Self.givenWorker($0, source: "") } ?? Self.workerCommand()
        if let missing { throw DecodingFailure.workerUnavailable(detail: missing) }
        var pair: [Int32] = [-1, -1]
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &pair) == 0 else {
            throw DecodingFailure.workerUnavailable(detail: "socketpair failed (errno \(errno))")
        }
        // Room for a frame in flight (the kernel caps this at net.core.wmem_max / rmem_max): fewer round trips.
        var bufferBytes: Int32 = 4 << 20
        for fd in pair {
            _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufferBytes, socklen_t(MemoryLayout<Int32>.size))
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufferBytes, socklen_t(MemoryLayout<Int32>.size))
        }
        var errPipe: [Int32] = [-1, -1]
        // A socket pair, not pipe2 (which Glibc's module does not export), so both ends are close-on-exec atomically.
        guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &errPipe) == 0 else {
            close(pair[0]); close(pair[1])
            throw DecodingFailure.workerUnavailable(detail: "pipe failed (errno \(errno))")
        }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, pair[1], 0)
        posix_spawn_file_actions_adddup2(&actions, pair[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errPipe[1], 2)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(path), strdup(argument), nil]
        defer { for p in argv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, path, &actions, nil, argv, environ)
        close(pair[1])
        close(errPipe[1])
        guard rc == 0 else {
            close(pair[0]); close(errPipe[0])
            throw DecodingFailure.workerUnavailable(detail: "posix_spawn \(path) failed (\(String(cString: strerror(rc))))")
        }
        _ = fcntl(errPipe[0], F_SETFL, fcntl(errPipe[0], F_GETFL) | O_NONBLOCK)
        return Worker(pid: pid, socket: pair[0], stderrFD: errPipe[0])
    }

    // MARK: I/O with a deadline

    private enum IOResult { case ok, closed, timedOut }
    private enum ReadResult { case data([UInt8]), closed, timedOut }

    /// Waits until `socket` is ready for `events` or the deadline passes, draining stderr meanwhile
    /// (so a chatty worker never blocks on a full stderr pipe). Returns false on timeout.
    private func wait(_ worker: Worker, events: Int16, deadline: UInt64) -> Bool {
        while true {
            let now = DispatchTime.now().uptimeNanoseconds
            guard now < deadline else { return false }
            let ms = Int32(min(UInt64(Int32.max), (deadline - now + 999_999) / 1_000_000))
            var fds = [pollfd(fd: worker.socket, events: events, revents: 0), pollfd(fd: worker.stderrFD, events: Int16(POLLIN), revents: 0)]
            let n = poll(&fds, 2, ms)
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { continue }
            if fds[1].revents != 0 { drainStderr(worker) }
            if fds[0].revents != 0 { return true }
        }
    }

    /// Sends `parts` one after the other.
    private func send(_ parts: [[UInt8]], to worker: Worker, deadline: UInt64) -> IOResult {
        for bytes in parts {
            let result = send(bytes, to: worker, deadline: deadline)
            guard case .ok = result else { return result }
        }
        return .ok
    }

    private func send(_ bytes: [UInt8], to worker: Worker, deadline: UInt64) -> IOResult {
        var sent = 0
        while sent < bytes.count {
            guard wait(worker, events: Int16(POLLOUT), deadline: deadline) else { return .timedOut }
            let n = bytes.withUnsafeBytes { Glibc.send(worker.socket, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL | MSG_DONTWAIT)) }
            if n < 0 {
                if errno == EINTR || errno == EAGAIN { continue }
                return .closed
            }
            sent += n
        }
        return .ok
    }

    private func receive(_ count: Int, from worker: Worker, deadline: UInt64) -> ReadResult {
        var result = ReadResult.closed
        // Not zero-filled first: a frame is megabytes, and every byte is received into (or the array is dropped).
        let out = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialised in
            var got = 0
            defer { initialised = got }
            while got < count {
                guard wait(worker, events: Int16(POLLIN), deadline: deadline) else { result = .timedOut; return }
                let n = recv(worker.socket, buffer.baseAddress! + got, count - got, Int32(MSG_DONTWAIT))
                if n == 0 { return }
                if n < 0 {
                    if errno == EINTR || errno == EAGAIN { continue }
                    return
                }
                got += n
            }
        }
        guard out.count == count else { return result }
        return .data(out)
    }

    private func drainStderr(_ worker: Worker) {
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(worker.stderrFD, $0.baseAddress, $0.count) }
            if n <= 0 { return }
            worker.stderrTail.append(contentsOf: buffer[..<n])
            if worker.stderrTail.count > 2048 { worker.stderrTail.removeFirst(worker.stderrTail.count - 2048) }
        }
    }

    static func lastLine(_ bytes: [UInt8]) -> String {
        let lines = String(decoding: bytes, as: UTF8.self).split(whereSeparator: \.isNewline)
        return lines.last.map { String($0.prefix(300)) } ?? ""
    }

    static func signalName(_ signal: Int32) -> String {
        switch signal {
        case SIGABRT: "SIGABRT"
        case SIGKILL: "SIGKILL"
        case SIGSEGV: "SIGSEGV"
        case SIGBUS: "SIGBUS"
        case SIGFPE: "SIGFPE"
        case SIGILL: "SIGILL"
        case SIGTERM: "SIGTERM"
        default: "signal \(signal)"
        }
    }
}
