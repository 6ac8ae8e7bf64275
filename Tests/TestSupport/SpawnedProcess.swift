import Foundation

/// Runs a built executable of this package as a child process and captures its output.
public struct SpawnedProcess {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    /// The folder holding the built products (next to the test bundle).
    public static var productsDirectory: URL {
        let exe = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        return exe.deletingLastPathComponent()
    }

    /// Runs `product` (e.g. "nodules") with `arguments`; standard input is empty.
    public static func run(_ product: String, _ arguments: [String], currentDirectory: String? = nil,
                           environment: [String: String]? = nil) throws -> SpawnedProcess {
        try run(executable: productsDirectory.appendingPathComponent(product), arguments,
                currentDirectory: currentDirectory, environment: environment)
    }

    /// Runs any `executable` with `arguments`; standard input is empty. With `timeout`
    /// (seconds) the child is terminated if it is still running then. Spawned and reaped by
    /// ``ChildProcess`` (see there why not Foundation's `Process`).
    public static func run(executable: URL, _ arguments: [String], currentDirectory: String? = nil,
                           environment: [String: String]? = nil, timeout: Double? = nil) throws -> SpawnedProcess {
        let child = try ChildProcess(executable: executable.path, arguments, environment: environment,
                                     currentDirectory: currentDirectory)
        let killer = DispatchWorkItem { child.send(SIGTERM) }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer) }
        defer { killer.cancel() }
        let (output, error) = child.readOutput()
        let status = try child.wait().status
        return SpawnedProcess(status: status,
                              standardOutput: String(decoding: output, as: UTF8.self),
                              standardError: String(decoding: error, as: UTF8.self))
    }
}
