import ArgumentParser
import Foundation

/// The `nodules` command: a thin layer over the NoduleKit modules.
public struct Nodules: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "nodules",
        abstract: "Chest radiograph nodule feature pipeline.",
        discussion: """
        NoduleKit supports clinicians; it does not diagnose. Every figure it prints \
        is a measurement with an uncertainty, for review by a radiologist.
        """,
        version: NoduleKitVersion.string,
        subcommands: [Info.self, Convert.self, ScaleSpaceCommand.self, Detect.self, Evaluate.self, Batch.self, Merge.self, Track.self, Compare.self, ReportCommand.self, LungFeatures.self]
    )

    public init() {}

    /// Exit status for a usage error (bad flag, bad value), as documented in the README.
    public static let usageExitCode: Int32 = 2

    /// Parses and runs, mapping ArgumentParser's usage failures to exit code 2.
    /// Returns the process exit status; never calls `exit` itself.
    public static func run(arguments: [String]) -> Int32 {
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            return 0
        } catch {
            let code = exitCode(for: error)
            let message = fullMessage(for: error)
            if code == .success {
                if !message.isEmpty { print(message) }
                return 0
            }
            if !message.isEmpty { StandardError.write(message + "\n") }
            if code == .validationFailure { return usageExitCode }
            return code.rawValue
        }
    }
}

public enum NoduleKitVersion {
    public static let string = "0.1.0"
}

/// Writes to standard error, after flushing standard output so that the two
/// streams interleave in the order things happened.
enum StandardError {
    static func write(_ text: String) {
        fflush(nil)  // all output streams; avoids touching the global `stdout`
        FileHandle.standardError.write(Data(text.utf8))
    }
}
