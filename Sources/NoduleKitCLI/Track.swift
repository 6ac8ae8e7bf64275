import ArgumentParser
import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO
import SerialTracking
#if canImport(Glibc)
import Glibc
#endif

/// `nodules track --db store.sqlite`: serial-exam tracking of the stored detections.
struct Track: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link a store's detections across each patient's exams: registration, tracks, doubling times, follow-up.",
        discussion: """
        Exams are the stored images of dated studies, grouped by patient (issuer, ID). Each exam is registered to the \
        patient's first exam from the images themselves (normalised as detection does, lung mask, ExamRegistration); an \
        unreliable or impossible registration is flagged in the output and the exam is linked unregistered, never silently. \
        Nodules: per exam, the --top highest-scoring detections with score ≥ --min-score. \
        Output: JSON (array of patients, Pipelines/schemas/tracks.schema.json), CSV (one row per track × observation) or \
        FHIR R4 (one Bundle per patient, one per line: FHIR NDJSON). The follow-up categories are CT-derived and are \
        decision support on radiographs, for review by a clinician; NoduleKit does not diagnose. \
        Exit status: 0 when every patient was tracked, 1 when some patient could not be (the others are still written), \
        2 for a usage error or a store, pipeline or policy that cannot be used.
        """
    )

    @Option(name: .long, help: ArgumentHelp("The SQLite store written by nodules batch.", valueName: "file"))
    var db: String

    @Option(name: .long, help: ArgumentHelp("Track only this patient ID (any issuer).", valueName: "id"))
    var patient: String?

    @Option(name: .long, help: ArgumentHelp("json, csv or fhir.", valueName: "format"))
    var format: String = "json"

    @Option(name: .long, help: ArgumentHelp("Follow-up policy: radiograph-surveillance, vdt-category, a name in Pipelines/policies/ or a JSON file.", valueName: "name|file"))
    var policy: String = "radiograph-surveillance"

    @Option(name: .long, help: ArgumentHelp("Write to FILE (atomically) instead of standard output.", valueName: "file"))
    var out: String?

    @Option(name: .long, help: ArgumentHelp("The pipeline whose detections to track, a name in Pipelines/ or a .json file; needed when the store holds several.", valueName: "name|file"))
    var pipeline: String?

    @Option(name: .long, help: ArgumentHelp("Nodules per exam: the N highest-scoring detections.", valueName: "n"))
    var top: Int = NoduleSelection.defaultTop

    @Option(name: .customLong("min-score"), help: ArgumentHelp("Nodules per exam: only detections with score ≥ P.", valueName: "p"))
    var minScore: Double = 0

    @Option(name: .long, help: ArgumentHelp("Geometry of headerless raw files, as given to nodules batch.", valueName: "geometry"))
    var raw: String?

    @Flag(name: .long, help: "No warnings and no summary on standard error.")
    var quiet = false

    enum Format: String { case json, csv, fhir }

    func validate() throws {
        guard Format(rawValue: format) != nil else { throw ValidationError("--format must be json, csv or fhir") }
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        guard minScore.isFinite, (0...1).contains(minScore) else { throw ValidationError("--min-score must be in 0…1") }
        if let raw { do { _ = try RawGeometry(parsing: raw) } catch { throw ValidationError("--raw: \(error)") } }
    }

    static func fail(_ message: String) -> ExitCode {
        StandardError.write("nodules: error: \(message)\n")
        return ExitCode(Nodules.usageExitCode)
    }

    func run() throws {
        let format = Format(rawValue: format)!
        guard FileManager.default.fileExists(atPath: db) else { throw Self.fail("\(db): no such store") }
        let store: NoduleStore
        let pipelines: [StoredPipeline]
        do {
            store = try NoduleStore(path: db)
            pipelines = try store.storedPipelines()
        } catch { throw Self.fail("\(error)") }
        let (definition, digest) = try Self.choosePipeline(pipelines, requested: pipeline)

        let policy = try Self.resolvePolicy(self.policy)

        var histories: [PatientHistory]
        do { histories = try store.detectionsByPatient(pipelineDigest: digest) } catch { throw Self.fail("\(error)") }
        if let patient {
            histories = histories.filter { $0.patientID == patient }
            guard !histories.isEmpty else { throw Self.fail("--patient: no patient '\(patient)' in \(db) for pipeline \(definition.name)") }
        }

        var options = DecodeOptions()
        options.raw = try raw.map { try RawGeometry(parsing: $0) }
        let storeFolder = URL(fileURLWithPath: db).deletingLastPathComponent().path
        let builder = TrackInputBuilder(pipeline: definition, selection: NoduleSelection(top: top, minimumScore: minScore),
                                        decode: options, searchFolders: [storeFolder])
        let tracker = SerialTracker(policy: policy)
        var results: [PatientTracks] = []
        var failed = 0
        var registered = 0, flagged = 0, exams = 0
        for history in histories {
            let input = builder.build(history)
            if !quiet { for w in input.warnings { StandardError.write("nodules: warning: \(w)\n") } }
            if let failure = input.failure {
                failed += 1
                StandardError.write("nodules: error: patient \(history.patientID): \(failure)\n")
                continue
            }
            let tracked = tracker.track(patient: input.key, exams: input.exams)
            for e in tracked.exams.dropFirst() { if e.registrationUsed { registered += 1 } else { flagged += 1 } }
            for e in tracked.exams where !e.registration.isReliable && !quiet {
                StandardError.write("nodules: warning: patient \(history.patientID), exam \(e.studyDate): registration not used ("
                                    + e.registration.issues.map(\.description).joined(separator: "; ") + ")\n")
            }
            exams += tracked.exams.count
            results.append(tracked)
        }

        let text = Self.render(results, format: format)
        if let out {
            do { try Self.writeAtomically(text, to: out) } catch { throw Self.fail("\(out): \(error)") }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if !quiet {
            let tracks = results.reduce(0) { $0 + $1.tracks.count }
            StandardError.write("track: \(results.count) patient\(results.count == 1 ? "" : "s") (\(failed) failed), \(exams) exams "
                                + "(\(registered) registered to their reference, \(flagged) flagged), \(tracks) tracks; "
                                + "pipeline \(definition.name) \(definition.version), policy \(policy.name) \(policy.version)\n")
        }
        if failed > 0 { throw ExitCode.failure }
    }

    /// The pipeline to track: `--pipeline`'s (which must be in the store), else the store's only one.
    /// Returns the definition (for normalisation and the lung field) and the stored digest to query.
    static func choosePipeline(_ stored: [StoredPipeline], requested: String?) throws -> (PipelineDefinition, String) {
        let listing = stored.map { "\($0.name) \($0.version) (digest \($0.digest.prefix(12)), \($0.images) images)" }.joined(separator: "; ")
        guard !stored.isEmpty else { throw fail("the store holds no analyses") }
        if let requested {
            let definition: PipelineDefinition
            do { definition = try PipelineDefinition.load(requested) } catch { throw fail("--pipeline: \(error)") }
            guard stored.contains(where: { $0.digest == definition.stamp.digest }) else {
                throw fail("--pipeline \(requested): no analyses with its digest \(definition.stamp.digest.prefix(12)) in the store; it holds: \(listing)")
            }
            return (definition, definition.stamp.digest)
        }
        guard stored.count == 1, let only = stored.first else {
            throw fail("the store holds several pipelines; choose one with --pipeline: \(listing)")
        }
        struct Parameters: Decodable { var pipeline: PipelineDefinition }
        guard let json = only.runParameters,
              let definition = try? JSONDecoder().decode(Parameters.self, from: Data(json.utf8)).pipeline else {
            throw fail("the store does not record the definition of pipeline \(only.name) \(only.version); give it with --pipeline")
        }
        return (definition, only.digest)
    }

    /// `--policy`: a built-in name, a name in a `policies/` folder beside the pipeline search folders, or a JSON file.
    /// Exits 2 with the reason when it cannot be used (shared by `nodules track` and `nodules compare`).
    static func resolvePolicy(_ name: String) throws -> FollowUpPolicy {
        let policyFolders = PipelineDefinition.searchFolders().map { $0 + "/policies" }
        do {
            let folder = policyFolders.first { FileManager.default.fileExists(atPath: $0 + "/" + name + ".json") }
            return try FollowUpPolicy.resolve(name, policiesDirectory: folder)
        } catch { throw fail("--policy: \(error)") }
    }

    /// The tracked patients as JSON (an array), CSV or FHIR NDJSON (one Bundle per patient).
    static func render(_ results: [PatientTracks], format: Format) -> String {
        switch format {
        case .json: TrackReport.json(results)
        case .csv: TrackReport.csv(results)
        case .fhir: results.sorted { $0.patient < $1.patient }.map { FHIRBundle.bundle($0).serialized() + "\n" }.joined()
        }
    }

    static func writeAtomically(_ text: String, to path: String) throws {
        let partial = path + ".partial"
        try Data(text.utf8).write(to: URL(fileURLWithPath: partial))
        guard rename(partial, path) == 0 else { throw CocoaError(.fileWriteUnknown) }
    }
}
