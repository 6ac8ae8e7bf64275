// The command-line handling the benchmark executables share: a wrong command line stops with the
// tool's usage line and exit status 2, so it never produces a figure.
import Foundation

/// One benchmark executable's usage line, and the checks of its options' values.
public struct BenchmarkCommandLine: Sendable {
    public let tool: String
    public let usage: String

    public init(tool: String, usage: String) {
        self.tool = tool
        self.usage = usage
    }

    /// Prints `message` and the usage line to standard error and exits with status 2.
    public func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("\(tool): \(message)\nusage: \(usage)\n".utf8))
        exit(2)
    }

    /// Prints the usage line to standard output and exits with status 0 (`-h`, `--help`).
    public func help() -> Never {
        print("usage: \(usage)")
        exit(0)
    }

    /// `text` as a positive integer, or `fail` naming `option`.
    public func positiveInteger(_ text: String?, for option: String) -> Int {
        guard let text, let n = Int(text), n > 0 else { fail("\(option) needs a positive integer") }
        return n
    }

    /// `text` itself, or `fail` saying what `option` needs.
    public func value(_ text: String?, for option: String, needs what: String) -> String {
        guard let text else { fail("\(option) needs \(what)") }
        return text
    }
}
