import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn` and reaped with `waitpid`, for the tests.
///
/// Why not Foundation's `Process`: on Linux its `waitUntilExit()` can wait forever for a child that
/// exits at once. A CI run hung in `DecoderTests.sha256MatchesAnIndependentDigest` with `sha256sum`
/// already a zombie: its exit was never observed. Here the test reaps its own child, so nothing can
/// miss the exit. The product spawns its DICOM workers the same way (`DICOMWorkerPool`).
///
/// `@unchecked Sendable`: every stored property is a `let` except `status`, which is read and written only
/// under `lock`; a timeout's `send(_:)` may run on another thread than `wait()`.
public final class ChildProcess: @unchecked Sendable {
    /// What becomes of the child's standard output or error.
    public enum Output: Sendable { case captured, discarded }

    public let pid: pid_t
    // Read ends of the captured pipes (−1 when discarded); closed after reading.
    private let outputFD: Int32, errorFD: Int32
    // Guards `status`: `wait()` and a timeout's kill may run on different threads.
    private let lock = NSLock()
    private var status: Int32?

    /// Starts `executable` with `arguments` (no shell); standard input is /dev/null. `environment` is merged
    /// over this process's; `currentDirectory` is entered before the executable starts.
    public init(executable: String, _ arguments: [String], environment: [String: String]? = nil,
                currentDirectory: String? = nil, standardOutput: Output = .captured,
                standardError: Output = .captured) throws {
        // A working directory through the shell: posix_spawn has no portable chdir action.
        let (path, argv): (String, [String]) = currentDirectory.map {
            ("/bin/sh", ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", $0, executable] + arguments)
        } ?? (executable, [executable] + arguments)
        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment ?? [:] { merged[key] = value }
        let envp = merged.map { "\($0.key)=\($0.value)" }

        var outPipe: [Int32] = [-1, -1], errPipe: [Int32] = [-1, -1]
        // Close-on-exec from the start (a socket pair: Glibc's module does not export pipe2), so a child
        // another test spawns meanwhile (a long-lived DICOM worker) never inherits this child's write end
        // and keeps its reader from ever seeing the end of the output (a hang seen in CI).
        func closeOnExecPair(_ fds: inout [Int32]) -> Bool {
            socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0, &fds) == 0
        }
        if standardOutput == .captured { guard closeOnExecPair(&outPipe) else { throw Self.failure("socketpair") } }
        if standardError == .captured { guard closeOnExecPair(&errPipe) else { throw Self.failure("socketpair") } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        for (pipeFDs, target, output) in [(outPipe, Int32(1), standardOutput), (errPipe, Int32(2), standardError)] {
            if output == .captured {
                posix_spawn_file_actions_adddup2(&actions, pipeFDs[1], target)
                posix_spawn_file_actions_addclose(&actions, pipeFDs[0])
                posix_spawn_file_actions_addclose(&actions, pipeFDs[1])
            } else {
                posix_spawn_file_actions_addopen(&actions, target, "/dev/null", O_WRONLY, 0)
            }
        }
        var child: pid_t = 0
        let rc = Self.withCStrings(argv) { cArgv in
            Self.withCStrings(envp) { cEnvp in posix_spawn(&child, path, &actions, nil, cArgv, cEnvp) }
        }
        for fd in [outPipe[1], errPipe[1]] where fd >= 0 { close(fd) }
        guard rc == 0 else {
            for fd in [outPipe[0], errPipe[0]] where fd >= 0 { close(fd) }
            throw Self.failure("posix_spawn \(path)", code: rc)
        }
        pid = child
        outputFD = outPipe[0]
        errorFD = errPipe[0]
    }

    /// Everything the child writes to its captured standard output and error, read until both close
    /// (side by side, so a chatty child cannot block on a full pipe). Call once, before `wait()`.
    public func readOutput() -> (output: Data, error: Data) {
        nonisolated(unsafe) var error = Data()
        let group = DispatchGroup()
        let errorFD = errorFD
        DispatchQueue.global().async(group: group) { error = Self.readAll(errorFD) }
        let output = Self.readAll(outputFD)
        group.wait()
        return (output, error)
    }

    /// Waits for the child and reaps it: its exit code, or the number of the signal that ended it
    /// (as Foundation's `terminationStatus`); `signalled` tells which. Throws where `waitpid` fails for a
    /// child this object has not reaped (its exit status is then unknown, never taken for 0).
    @discardableResult
    public func wait() throws -> (status: Int32, signalled: Bool) {
        var raw: Int32 = 0
        while true {
            let r = waitpid(pid, &raw, 0)
            if r == pid { break }
            if r == -1 && errno == EINTR { continue }
            let failure = errno
            guard let reaped = lock.withLock({ status }) else { throw Self.failure("waitpid \(pid)", code: failure) }
            raw = reaped   // reaped by an earlier wait()
            break
        }
        lock.withLock { status = raw }
        let signal = raw & 0x7f
        return signal == 0 ? ((raw >> 8) & 0xff, false) : (signal, true)
    }

    /// Whether the child has not exited yet (it is not reaped by asking).
    public var isRunning: Bool {
        lock.withLock { status == nil } && Self.isAlive(pid)
    }

    /// Sends `signal` unless the child has been reaped (its pid may then belong to another process).
    public func send(_ signal: Int32) {
        lock.withLock { if status == nil { _ = kill(pid, signal) } }
    }

    // MARK: Helpers

    static func readAll(_ fd: Int32) -> Data {
        guard fd >= 0 else { return Data() }
        defer { close(fd) }
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 { data.append(contentsOf: buffer[0..<n]) } else if n == -1 && errno == EINTR { continue } else { break }
        }
        return data
    }

    /// Whether process `pid` exists and has not exited: its state in /proc/PID/stat is neither zombie (Z)
    /// nor dead (X).
    public static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)...].first
        return state != "Z" && state != "X"
    }

    static func withCStrings<T>(_ strings: [String], _ body: ([UnsafeMutablePointer<CChar>?]) -> T) -> T {
        let pointers = strings.map { strdup($0) } + [nil]
        defer { for p in pointers { free(p) } }
        return body(pointers)
    }

    static func failure(_ what: String, code: Int32 = errno) -> NSError {
        NSError(domain: "ChildProcess", code: Int(code), userInfo: [NSLocalizedDescriptionKey: "\(what): \(String(cString: strerror(code)))"])
    }
}
