import ArgumentParser
import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO
import ReviewReport
import SerialTracking

/// `nodules report --db store.sqlite (--patient ID | --all) --out DIR`: the clinician-facing
/// static HTML report (exam timeline, registered crops, growth charts, follow-up).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML review report (timeline, aligned crops, growth charts, follow-up) from a store.",
        discussion: """
        Reads the detections `nodules batch` stored, re-reads each exam's image from its stored path \
        (relative paths are taken from the current folder) to draw it and register it to the patient's first exam, \
        links nodules across exams, and writes DIR/index.html (patients by urgency), one page per patient and \
        the PNG pictures beside them. No scripts, no network requests; open index.html from disk or print it. \
        Exit status: 0 on success, 1 when the report cannot be written, 2 for a usage error or a store, pipeline \
        or policy that cannot be used.
        """
    )

    @Option(name: .long, help: ArgumentHelp("SQLite store written by nodules batch.", valueName: "file"))
    var db: String

    @Option(name: .long, help: ArgumentHelp("Report this patient (repeatable).", valueName: "id"))
    var patient: [String] = []

    @Option(name: .long, help: ArgumentHelp("Issuer of Patient ID for --patient (default: any issuer).", valueName: "issuer"))
    var issuer: String?

    @Flag(name: .long, help: "Report every patient in the store.")
    var all = false

    @Option(name: .long, help: ArgumentHelp("Output folder (created if missing).", valueName: "dir"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("Pipeline whose detections to use: a name in Pipelines/ or a .json file.", valueName: "name|file"))
    var pipeline: String = PipelineDefinition.defaultName

    @Option(name: .long, help: ArgumentHelp("Follow-up policy: radiograph-surveillance, vdt-category, or a policy .json file.", valueName: "name|file"))
    var policy: String = "radiograph-surveillance"

    @Option(name: .customLong("min-score"), help: ArgumentHelp("Candidates with at least this detection score are tracked.", valueName: "score"))
    var minScore: Double = 0.5

    @Option(name: .customLong("max-per-exam"), help: ArgumentHelp("Track at most this many of the highest-scoring candidates per exam.", valueName: "n"))
    var maxPerExam: Int?

    @Option(name: .long, help: ArgumentHelp("Geometry of headerless raw files, as for nodules batch.", valueName: "geometry"))
    var raw: String?

    func validate() throws {
        if all == !patient.isEmpty { throw ValidationError("give either --patient ID (repeatable) or --all") }
        if issuer != nil && all { throw ValidationError("--issuer goes with --patient") }
        if let maxPerExam, maxPerExam < 1 { throw ValidationError("--max-per-exam must be at least 1") }
        guard (0...1).contains(minScore) else { throw ValidationError("--min-score must be between 0 and 1") }
    }

    func run() throws {
        func usage(_ message: String) -> ExitCode {
            StandardError.write("nodules: error: \(message)\n")
            return ExitCode(Nodules.usageExitCode)
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: db, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw usage("\(db): no such store")
        }
        let definition: PipelineDefinition
        do { definition = try PipelineDefinition.load(pipeline) } catch { throw usage("\(error)") }
        let followUp: FollowUpPolicy
        do { followUp = try FollowUpPolicy.resolve(policy, policiesDirectory: PipelineDefinition.searchFolders().map { $0 + "/policies" }.first { FileManager.default.fileExists(atPath: $0) }) } catch {
            throw usage("\(error)")
        }
        var options = DecodeOptions()
        if let raw {
            do { options.raw = try RawGeometry(parsing: raw) } catch { throw usage("--raw: \(error)") }
        }
        let adapter = StoreTrackingAdapter(pipeline: definition, minimumScore: minScore, maximumPerExam: maxPerExam, policy: followUp, decodeOptions: options)
        let histories: [PatientHistory]
        do {
            let store = try NoduleStore(path: db)
            histories = try adapter.histories(store)
            if histories.isEmpty {
                let digests = try store.pipelineDigests()
                let known = digests.map { "\($0.digest.prefix(12))… (\($0.images) images)" }.joined(separator: ", ")
                throw usage("\(db) holds no patient analysed with pipeline \(definition.name) \(definition.version) (digest \(definition.stamp.digest.prefix(12))…)"
                            + (known.isEmpty ? "" : "; it holds \(known): pass the --pipeline they were made with"))
            }
        } catch let e as ExitCode { throw e } catch { throw usage("\(db): \(error)") }
        let chosen: [PatientHistory]
        if all {
            chosen = histories
        } else {
            chosen = histories.filter { h in patient.contains(h.patientID) && (issuer == nil || (h.issuer ?? "") == issuer) }
            let missing = patient.filter { id in !chosen.contains { $0.patientID == id } }
            if !missing.isEmpty { throw usage("no patient \(missing.joined(separator: ", ")) in \(db) for pipeline \(definition.name)") }
        }
        let reviews = chosen.map(adapter.review)
        let writer = ReportWriter(registrationQualityThreshold: adapter.registration.configuration.minimumQuality,
                                  policy: followUp, source: URL(fileURLWithPath: db).lastPathComponent)
        do {
            let files = try writer.write(reviews, to: out)
            let tracks = reviews.reduce(0) { $0 + $1.tracks.tracks.count }
            StandardError.write("report: \(reviews.count) patient\(reviews.count == 1 ? "" : "s"), \(tracks) tracked nodule\(tracks == 1 ? "" : "s"), \(files.images.count) images; open \(out)/index.html\n")
        } catch {
            StandardError.write("nodules: error: \(error)\n")
            throw ExitCode.failure
        }
    }
}
