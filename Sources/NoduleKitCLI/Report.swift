import ArgumentParser
import Foundation
import NoduleDetection
import NoduleStore
import ReviewReport

/// `nodules report --db store.sqlite (--patient ID | --all) --out DIR`: the clinician-facing
/// static HTML report (exam timeline, registered crops, growth charts, follow-up).
struct ReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write a self-contained HTML review report (timeline, aligned crops, growth charts, follow-up) from a store.",
        discussion: """
        Tracks the store's detections exactly as `nodules track` does with the same options (same exams, nodule \
        selection, registration from the images and tracker), keeps each exam's processed image to draw it, and \
        writes DIR/index.html (patients by urgency), one page per patient and the PNG pictures beside them. \
        No scripts, no network requests; open index.html from disk or print it. \
        Exit status: 0 on success, 1 when the report cannot be written or some patient could not be tracked \
        (the others are still reported), 2 for a usage error or a store, pipeline or policy that cannot be used.
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

    @OptionGroup var series: SeriesArguments

    /// The report's former name for --top, still accepted.
    @Option(name: .customLong("max-per-exam"), help: .hidden)
    var maxPerExam: Int?

    func validate() throws {
        if all == !patient.isEmpty { throw ValidationError("give either --patient ID (repeatable) or --all") }
        if issuer != nil && all { throw ValidationError("--issuer goes with --patient") }
        if let maxPerExam, maxPerExam < 1 { throw ValidationError("--max-per-exam must be at least 1") }
    }

    func run() throws {
        var arguments = self.series
        if let maxPerExam { arguments.selection.top = maxPerExam }
        let series = try arguments.open(db: db, keepsImages: true)
        let histories = series.histories
        guard !histories.isEmpty else {
            throw SeriesArguments.fail("\(db) holds no patient analysed with pipeline \(series.definition.name) \(series.definition.version)")
        }
        let chosen: [PatientHistory]
        if all {
            chosen = histories
        } else {
            chosen = histories.filter { h in patient.contains(h.patientID) && (issuer == nil || (h.issuer ?? "") == issuer) }
            let missing = patient.filter { id in !chosen.contains { $0.patientID == id } }
            if !missing.isEmpty {
                throw SeriesArguments.fail("no patient \(missing.joined(separator: ", ")) in \(db) for pipeline \(series.definition.name)")
            }
        }
        let writer = ReportWriter(registrationQualityThreshold: series.builder.registration.configuration.minimumQuality,
                                  policy: series.policy, source: URL(fileURLWithPath: db).lastPathComponent,
                                  operatingPoints: OperatingPoints.measured(for: series.builder.pipelineStamp))
        var failed = 0
        do {
            // Each patient's page and pictures are written as soon as it is tracked, and its images dropped:
            // the run holds a few patients' images at a time, however many the store has.
            var report = try ReportWriter.Incremental(writer, directory: out)
            var patients = 0, tracks = 0
            failed = try series.forEachTracked(chosen) { tracked in
                let review = PatientReview(tracked.input, tracks: tracked.tracks, builder: series.builder)
                try report.add(review)
                patients += 1
                tracks += review.tracks.tracks.count
            }
            let files = try report.finish()
            if !arguments.quiet {
                StandardError.write("report: \(patients) patient\(patients == 1 ? "" : "s") (\(failed) failed), \(tracks) tracked nodule\(tracks == 1 ? "" : "s"), \(files.images.count) images; open \(out)/index.html\n")
            }
        } catch {
            StandardError.write("nodules: error: \(error)\n")
            throw ExitCode.failure
        }
        if failed > 0 { throw ExitCode.failure }
    }
}
