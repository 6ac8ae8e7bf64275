import Foundation
import NoduleDetection
#if canImport(Glibc)
import Glibc
#endif

/// A results file written as it goes to `PATH.partial` and renamed to `PATH` only
/// when the run completes, so `PATH` is always a complete run's output: a killed run
/// leaves the previous `PATH` untouched (and a stale `.partial`, replaced next time).
public final class StagedOutputFile: @unchecked Sendable {
    // @unchecked: written from one serial queue at a time (the batch's persist queue),
    // committed after that queue has drained.
    public let path: String
    public var partialPath: String { path + ".partial" }
    private var handle: FileHandle?
    private var buffer = Data()

    public init(path: String) throws {
        self.path = path
        let partial = path + ".partial"
        guard FileManager.default.createFile(atPath: partial, contents: nil),
              let handle = FileHandle(forWritingAtPath: partial) else {
            throw OutputError.cannotCreate(path: partial)
        }
        self.handle = handle
    }

    public func write(_ text: String) {
        buffer.append(contentsOf: text.utf8)
        if buffer.count >= 1 << 16 { flush() }
    }

    public func flush() {
        guard !buffer.isEmpty, let handle else { return }
        handle.write(buffer)
        buffer.removeAll(keepingCapacity: true)
    }

    /// Flushes, syncs and atomically renames `PATH.partial` to `PATH`.
    public func commit() throws {
        flush()
        if let handle {
            fsync(handle.fileDescriptor)
            try? handle.close()
        }
        handle = nil
        guard rename(partialPath, path) == 0 else {
            throw OutputError.cannotRename(path: path, reason: String(cString: strerror(errno)))
        }
    }
}

public enum OutputError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotCreate(path: String)
    case cannotRename(path: String, reason: String)

    public var description: String {
        switch self {
        case .cannotCreate(let path): "\(path): cannot create the output file"
        case .cannotRename(let path, let reason): "\(path): cannot move the finished output into place (\(reason))"
        }
    }
}

/// JSON Lines in the detection contract, one line per record.
public enum DetectionJSONLines {
    /// The record as one line, keys sorted so equal records give equal bytes.
    public static func line(_ record: DetectionRecord) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types cannot fail.
        return String(decoding: try! encoder.encode(record), as: UTF8.self)
    }
}

/// CSV with one row per detection (images without detections or with errors have no row).
public enum DetectionCSV {
    static let featureNames = ["contrast", "contrast_to_noise", "blobness", "log_response", "scale_diameter_mm",
                               "circularity", "long_axis_mm", "short_axis_mm", "lung_depth_mm", "inside_lung"]

    public static let header = (["path", "patient_id", "study_date", "image_sha256", "pipeline_digest", "rank", "x", "y",
                                 "diameter_px", "diameter_mm", "score"] + featureNames).joined(separator: ",") + "\n"

    public static func rows(_ record: DetectionRecord) -> String {
        var out = ""
        for (rank, n) in record.nodules.enumerated() {
            let named = n.features.named
            let fields: [String] = [
                quote(record.path), quote(record.patientID ?? ""), record.studyDate ?? "", record.imageSHA256 ?? "",
                record.pipeline?.digest ?? "", String(rank), number(n.x), number(n.y), number(n.diameterPx),
                n.diameterMM.map(number) ?? "", number(n.score),
            ] + featureNames.map { number(named[$0] ?? 0) }
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }

    static func number(_ v: Double) -> String { "\(v)" }

    static func quote(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
