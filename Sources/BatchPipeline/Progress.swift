import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress on standard error: a live bar with rate and ETA on a terminal,
/// a plain line every `interval` seconds otherwise, nothing when quiet.
/// Called from one thread or serial queue at a time (the batch's persist queue,
/// the loop of `nodules detect`, `track` or `report`).
public final class ProgressReporter: @unchecked Sendable {
    // @unchecked: its owner calls every method from one serial context (see above).
    public enum Mode: Sendable, Equatable {
        case bar
        case lines(interval: Double)
        case quiet
    }

    /// What is counted: its plural, and the short form of its rate ("img/s").
    public struct Unit: Sendable, Equatable {
        public var plural: String
        public var short: String
        public static let images = Unit(plural: "images", short: "img")
        public static let patients = Unit(plural: "patients", short: "patients")
    }

    public let mode: Mode
    public let unit: Unit
    let write: @Sendable (String) -> Void
    let started = DispatchTime.now().uptimeNanoseconds
    var lastShown: UInt64 = 0
    var barVisible = false

    public init(mode: Mode, unit: Unit = .images, write: @escaping @Sendable (String) -> Void = ProgressReporter.standardError) {
        self.mode = mode
        self.unit = unit
        self.write = write
    }

    /// `bar` when standard error is a terminal, else a line every 10 s; `quiet` when asked.
    public static func automatic(quiet: Bool, unit: Unit = .images) -> ProgressReporter {
        if quiet { return ProgressReporter(mode: .quiet, unit: unit) }
        return ProgressReporter(mode: isatty(STDERR_FILENO) != 0 ? .bar : .lines(interval: 10), unit: unit)
    }

    public static let standardError: @Sendable (String) -> Void = { text in
        fflush(nil)
        FileHandle.standardError.write(Data(text.utf8))
    }

    var elapsed: Double { Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9 }

    /// Reports `done` of `total` (`failed` of them failed).
    public func update(done: Int, total: Int, failed: Int) {
        let now = DispatchTime.now().uptimeNanoseconds
        switch mode {
        case .quiet: return
        case .bar:
            guard now - lastShown >= 100_000_000 || done == total else { return }
            lastShown = now
            write("\r" + Self.bar(done: done, total: total, failed: failed, elapsed: elapsed, unit: unit) + "\u{1B}[K")
            barVisible = true
        case .lines(let interval):
            guard Double(now - lastShown) / 1e9 >= interval, done < total else { return }
            if lastShown == 0 { lastShown = now; return }  // the first line after one interval
            lastShown = now
            write(Self.line(done: done, total: total, failed: failed, elapsed: elapsed, unit: unit) + "\n")
        }
    }

    /// Prints a message on its own line (e.g. a per-file error), keeping the bar intact; nothing when quiet.
    public func message(_ text: String) {
        if mode == .quiet { return }
        error(text)
    }

    /// Prints a message that is written even when quiet (an error), on its own line, keeping the bar intact.
    public func error(_ text: String) {
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

    public static func bar(done: Int, total: Int, failed: Int, elapsed: Double, width: Int = 30, unit: Unit = .images) -> String {
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = min(width, Int(fraction * Double(width)))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: width - filled)
        let failedText = failed > 0 ? " \(failed) failed" : ""
        return "\(bar) \(done)/\(total) \(String(format: "%3.0f", fraction * 100))% "
            + "\(String(format: "%.1f", rate(done, elapsed))) \(unit.short)/s ETA \(eta(done: done, total: total, elapsed: elapsed))\(failedText)"
    }

    public static func line(done: Int, total: Int, failed: Int, elapsed: Double, unit: Unit = .images) -> String {
        "progress: \(done)/\(total) \(unit.plural), \(failed) failed, \(String(format: "%.1f", rate(done, elapsed))) \(unit.plural)/s, "
            + "elapsed \(duration(elapsed)), ETA \(eta(done: done, total: total, elapsed: elapsed))"
    }
}
