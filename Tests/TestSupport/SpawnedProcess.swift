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
    /// (seconds) the child is terminated if it is still running then.
    public static func run(executable: URL, _ arguments: [String], currentDirectory: String? = nil,
                           environment: [String: String]? = nil, timeout: Double? = nil) throws -> SpawnedProcess {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let currentDirectory { process.currentDirectoryURL = URL(fileURLWithPath: currentDirectory) }
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let killer = DispatchWorkItem { if process.isRunning { process.terminate() } }
        if let timeout { DispatchQueue.global().asyncAfter(deadline: .now() + timeout, execute: killer) }
        defer { killer.cancel() }
        // Drain both pipes concurrently so a chatty child cannot block on a full pipe.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        DispatchQueue.global().async(group: group) { errData = err.fileHandleForReading.readDataToEndOfFile() }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return SpawnedProcess(status: process.terminationStatus,
                              standardOutput: String(decoding: outData, as: UTF8.self),
                              standardError: String(decoding: errData, as: UTF8.self))
    }
}
