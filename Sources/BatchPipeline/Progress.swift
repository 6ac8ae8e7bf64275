import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress on standard error: a live bar with rate and ETA on a terminal,
/// a plain line every `interval` seconds otherwise, nothing when quiet.
/// Called from the batch's serial persist queue only.
public final class ProgressReporter: @unchecked Sendable {
    // @unchecked: every method is called from the one serial persist queue.
    public enum Mode: Sendable, Equatable {
        case bar
        case lines(interval: Double)
        case quiet
    }

    public let mode: Mode
    let write: @Sendable (String) -> Void
    let started = DispatchTime.now().uptimeNanoseconds
    var lastShown: UInt64 = 0
    var barVisible = false

    public init(mode: Mode, write: @escaping @Sendable (String) -> Void = ProgressReporter.standardError) {
        self.mode = mode
        self.write = write
    }

    /// `bar` when standard error is a terminal, else a line every 10 s; `quiet` when asked.
    public static func automatic(quiet: Bool) -> ProgressReporter {
        if quiet { return ProgressReporter(mode: .quiet) }
        return ProgressReporter(mode: isatty(STDERR_FILENO) != 0 ? .bar : .lines(interval: 10))
    }

    public static let standardError: @Sendable (String) -> Void = { text in
        fflush(nil)
        FileHandle.standardError.write(Data(text.utf8))
    }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }

    /// Reports `done` of `total` images (`failed` of them failed).
    public func update(done: Int, total: Int, failed: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        switch mode {
        case .quiet: return
        case .bar:
            guard now - lastShown >= 100_000_000 || done == total else { return }
            lastShown = now
            write("\r" + Self.bar(done: done, total: total, failed: failed, elapsed: elapsed) + "\u{1B}[K")
            barVisible = true
        case .lines(let interval):
            guard Double(now - lastShown) / 1e9 >= interval, done < total else { return }
            if lastShown == 0 { lastShown = now; return }  // the first line after one interval
            lastShown = now
            write(Self.line(done: done, total: total, failed: failed, elapsed: elapsed) + "\n")
        }
    }

    /// Prints a message on its own line (e.g. a per-file error), keeping the bar intact.
    public func message(_ text: String) {
        if mode == .quiet { return }
        if barVisible { write("\r\u{1B}[K") }
        write(text + "\n")
        barVisible = false
    }

    /// Ends the bar's line.
    public func finish() {
        if barVisible { write("\n") }
        barVisible = false
    }

    static func rate(_ done: Int, _ elapsed: Double) -> Double { elapsed > 0 ? Double(done) / elapsed : 0 }

    static func eta(done: Int, total: Int, elapsed: Double) -> String {
        guard done > 0, total > done else { return "--" }
        return duration(elapsed / Double(done) * Double(total - done))
    }

    static func duration(_ s: Double) -> String {
        if s < 60 { return String(format: "%.0fs", s.rounded(.up)) }
        let m = Int(s / 60), sec = Int(s) % 60
        if m < 60 { return "\(m)m\(String(format: "%02d", sec))s" }
        return "\(m / 60)h\(String(format: "%02d", m % 60))m"
    }

    public static func bar(done: Int, total: Int, failed: Int, elapsed: Double, width: Int = 30) -> String {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let failedText = failed > 0 ? " \(failed) failed" : ""
        return "\(bar) \(done)/\(total) \(String(format: "%3.0f", fraction * 100))% "
            + "\(String(format: "%.1f", rate(done, elapsed))) img/s ETA \(eta(done: done, total: total, elapsed: elapsed))\(failedText)"
    }

    public static func line(done: Int, total: Int, failed: Int, elapsed: Double) -> String {
        "progress: \(done)/\(total) images, \(failed) failed, \(String(format: "%.1f", rate(done, elapsed))) images/s, "
            + "elapsed \(duration(elapsed)), ETA \(eta(done: done, total: total, elapsed: elapsed))"
    }
}
