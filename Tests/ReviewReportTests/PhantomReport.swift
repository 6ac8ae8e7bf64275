import ExamSeries
import Foundation
import NoduleDetection
import NoduleStore
import ReviewReport
import SerialTracking
import TestSupport

/// One report of the committed serial phantoms, made once per test process by the real
/// binaries: `nodules batch Data/phantom/series` into a store, then `nodules report --all`.
struct PhantomReport: Sendable {
    let folder: String
    let store: String
    let report: String
    let batchLog: String
    let reportLog: String

    static let pipelines = Fixtures.repositoryRoot() + "/Pipelines"
    static let environment = ["NODULEKIT_PIPELINES": pipelines]

    static let shared: Result<PhantomReport, FixtureError> = {
        let folder = Fixtures.temporaryDirectory("review-report")
        let series = Fixtures.repositoryRoot() + "/Data/phantom/series"
        do {
            let batch = try SpawnedProcess.run("nodules", ["batch", series, "--exclude", "truth.json", "--out", folder + "/results.jsonl",
                                                           "--db", folder + "/store.sqlite", "--quiet"], environment: environment)
            guard batch.status == 0 else { return .failure(FixtureError(message: "nodules batch exited \(batch.status): \(batch.standardError)")) }
            let report = try SpawnedProcess.run("nodules", ["report", "--db", folder + "/store.sqlite", "--all", "--out", folder + "/report"] + reportOptions,
                                                environment: environment)
            guard report.status == 0 else { return .failure(FixtureError(message: "nodules report exited \(report.status): \(report.standardError)")) }
            return .success(PhantomReport(folder: folder, store: folder + "/store.sqlite", report: folder + "/report",
                                          batchLog: batch.standardError, reportLog: report.standardError))
        } catch {
            return .failure(FixtureError(message: "\(error)"))
        }
    }()

    /// The reviews the report was made from, recomputed in-process from the same store (once).
    func reviews() throws -> [PatientReview] {
        try Self.cachedReviews(store).get()
    }

    private static let cache = ReviewCache()

    private static func cachedReviews(_ store: String) -> Result<[PatientReview], any Error> {
        cache.value(for: store) { Result { try computeReviews(store) } }
    }

    /// The options the fixture's `nodules report` was run with (the phantoms score low under the
    /// current calibration, so the four best candidates per exam are tracked: with 0.28.0's map the
    /// three best are found on every exam, and a fourth makes one that is measured again elsewhere).
    static let reportOptions = ["--top", "4", "--min-score", "0"]

    private static func computeReviews(_ store: String) throws -> [PatientReview] {
        // The shared builder, set up as the command sets it up for those options.
        let builder = TrackInputBuilder(pipeline: try PipelineDefinition.decode(path: Self.pipelines + "/cxr-nodules.json"),
                                        selection: NoduleSelection(top: 4, minimumScore: 0))
        let tracker = SerialTracker(policy: try FollowUpPolicy.builtIn("radiograph-surveillance"))
        return try NoduleStore(path: store).detectionsByPatient(pipelineDigest: builder.pipelineStamp.digest).map { history in
            let input = builder.build(history)
            return PatientReview(input, tracks: tracker.track(patient: input.key, exams: input.exams), builder: builder)
        }
    }

    func read(_ relative: String) throws -> String {
        try String(contentsOfFile: report + "/" + relative, encoding: .utf8)
    }

    func pages() throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: report).filter { $0.hasSuffix(".html") }.sorted()
    }
}

/// A lock-protected memo of the in-process reviews.
final class ReviewCache: @unchecked Sendable {
    // @unchecked: `values` is only touched while holding `lock`.
    private let lock = NSLock()
    private var values: [String: Result<[PatientReview], any Error>] = [:]

    func value(for key: String, _ make: () -> Result<[PatientReview], any Error>) -> Result<[PatientReview], any Error> {
        lock.lock()
        defer { lock.unlock() }
        if let v = values[key] { return v }
        let v = make()
        values[key] = v
        return v
    }
}

struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Attribute values of `attribute` (double-quoted) in `html`.
func attributeValues(_ attribute: String, in html: String) -> [String] {
    var out: [String] = []
    var rest = html[...]
    let needle = " \(attribute)=\""
    while let r = rest.range(of: needle) {
        let after = rest[r.upperBound...]
        guard let end = after.firstIndex(of: "\"") else { break }
        out.append(String(after[..<end]))
        rest = after[end...]
    }
    return out
}

/// Every `<tag …>` opening tag in `html`.
func openingTags(_ tag: String, in html: String) -> [String] {
    var out: [String] = []
    var rest = html[...]
    while let r = rest.range(of: "<\(tag)") {
        let after = rest[r.lowerBound...]
        guard let end = after.firstIndex(of: ">") else { break }
        out.append(String(after[...end]))
        rest = after[after.index(after: end)...]
    }
    return out
}
