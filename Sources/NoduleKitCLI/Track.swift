import ArgumentParser
import Foundation
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
        Nodules: per exam, the --top highest-scoring detections with score ≥ --min-score, plus any lower-ranked \
        detection at the registered place of another exam's nodule (corroboration; --no-corroboration turns it off); where \
        nothing is followed at such a place, the nodule is measured again there (--no-remeasure turns it off). \
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

    @Option(name: .long, help: ArgumentHelp("Write to FILE (atomically) instead of standard output.", valueName: "file"))
    var out: String?

    @OptionGroup var series: SeriesArguments

    enum Format: String { case json, csv, fhir }

    func validate() throws {
        guard Format(rawValue: format) != nil else { throw ValidationError("--format must be json, csv or fhir") }
    }

    func run() throws {
        let format = Format(rawValue: format)!
        let series = try self.series.open(db: db, keepsImages: false)
        var histories = series.histories
        if let patient {
            histories = histories.filter { $0.patientID == patient }
            guard !histories.isEmpty else {
                throw SeriesArguments.fail("--patient: no patient '\(patient)' in \(db) for pipeline \(series.definition.name)")
            }
        }
        let (tracked, failed) = series.track(histories)
        let results = tracked.map(\.tracks)
        let exams = results.reduce(0) { $0 + $1.exams.count }
        let registered = results.reduce(0) { $0 + $1.exams.dropFirst().filter(\.registrationUsed).count }
        let flagged = results.reduce(0) { $0 + $1.exams.dropFirst().filter { !$0.registrationUsed }.count }

        let text = Self.render(results, format: format)
        if let out {
            do { try Self.writeAtomically(text, to: out) } catch { throw SeriesArguments.fail("\(out): \(error)") }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if !self.series.quiet {
            let tracks = results.reduce(0) { $0 + $1.tracks.count }
            StandardError.write("track: \(results.count) patient\(results.count == 1 ? "" : "s") (\(failed) failed), \(exams) exams "
                                + "(\(registered) registered to their reference, \(flagged) flagged), \(tracks) tracks; "
                                + "pipeline \(series.definition.name) \(series.definition.version), policy \(series.policy.name) \(series.policy.version)\n")
        }
        if failed > 0 { throw ExitCode.failure }
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
