import ArgumentParser
import BatchPipeline
import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO

/// `nodules batch INPUT --out results.jsonl --db store.sqlite`: detection over a
/// folder or manifest, concurrent, bounded, resumable.
struct Batch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect nodules in every radiograph of a folder or manifest, into JSON Lines and a SQLite store.",
        discussion: """
        INPUT is a folder, scanned recursively (<root>/<patient>/<YYYY-MM-DD>/<image> gives patient and date; failing that, \
        a date in the file name: <patient>/<YYYY-MM-DD>.png or <patient>_<YYYYMMDD>_pa.png), \
        or a manifest CSV with the header patient_id,study_date,path[,pixel_spacing_mm] (paths relative to the manifest). \
        Precedence when sources disagree: manifest > file metadata > folder layout > file name; spacing: manifest > --spacing > file tag. \
        A rerun skips images whose content, pipeline and spacing are already in the store and re-emits their stored results; \
        --force recomputes. Exit status: 0 when every file succeeded, 1 when some failed (the rest are still processed), \
        2 for a usage error or an input, pipeline, store or output that cannot be used.
        """
    )

    @Argument(help: "A folder of radiographs or a manifest CSV.")
    var input: String

    @Option(name: .long, help: ArgumentHelp("JSON Lines results, one line per image in input order (written to FILE.partial, renamed when the run ends).", valueName: "file"))
    var out: String

    @Option(name: .long, help: ArgumentHelp("SQLite store (created if missing; results accumulate across runs).", valueName: "file"))
    var db: String

    @Option(name: .long, help: ArgumentHelp("Images processed at once (default: the core count).", valueName: "n"))
    var jobs: Int?

    @Option(name: .long, help: ArgumentHelp("Process only shard K of N (0 ≤ K < N), chosen by a hash of each relative path.", valueName: "K/N"))
    var shard: String?

    @Flag(name: .long, help: "Recompute images whose results are already stored.")
    var force = false

    @Flag(name: .long, help: "No progress and no summary on standard error.")
    var quiet = false

    @Option(name: .long, help: ArgumentHelp("Pipeline definition: a name in Pipelines/ or a .json file.", valueName: "name|file"))
    var pipeline: String = PipelineDefinition.defaultName

    @Option(name: .long, help: ArgumentHelp("Also write a CSV with one row per detection.", valueName: "file"))
    var csv: String?

    @Option(name: .long, help: ArgumentHelp("Skip files whose relative path or name matches GLOB (repeatable).", valueName: "glob"))
    var exclude: [String] = []

    @Option(name: .long, help: ArgumentHelp("Also draw a review picture of every image detected in this run: DIR/<relative path without extension>.overlay.png (lung field outlined, candidates circled and numbered) and .lungs.png (the mask). Files under DIR are never inputs.",
                                            valueName: "dir"))
    var overlay: String?

    @OptionGroup var decode: DecodeArguments

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let shard, Shard(shard) == nil { throw ValidationError("--shard: '\(shard)' is not K/N with 0 ≤ K < N") }
    }

    func run() throws {
        let definition: PipelineDefinition
        do { definition = try PipelineDefinition.load(pipeline) } catch {
            StandardError.write("nodules: error: \(error)\n")
            throw ExitCode(Nodules.usageExitCode)
        }
        let options = try decode.decodeOptions()
        let shard = self.shard.flatMap { Shard($0) }
        let skip = Set([out, out + ".partial", db, db + "-wal", db + "-shm", db + "-journal"]
            + (csv.map { [$0, $0 + ".partial"] } ?? []))

        var inputs: [BatchInput]
        let store: NoduleStore
        let jsonl: StagedOutputFile
        let csvFile: StagedOutputFile?
        do {
            if let overlay { try FileManager.default.createDirectory(atPath: overlay, withIntermediateDirectories: true) }
            inputs = try BatchInputs.enumerate(input, excluding: exclude, skipping: skip, skippingFolders: overlay.map { [$0] } ?? [])
            if let shard { inputs = inputs.filter { shard.contains($0) } }
            store = try NoduleStore(path: db)
            jsonl = try StagedOutputFile(path: out)
            csvFile = try csv.map { try StagedOutputFile(path: $0) }
        } catch {
            StandardError.write("nodules: error: \(error)\n")
            throw ExitCode(Nodules.usageExitCode)
        }

        let configuration = BatchConfiguration(pipeline: definition, decode: options,
                                               jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount, force: force,
                                               overlayDirectory: overlay)
        let parameters = Self.parameters(definition: definition, configuration: configuration, shard: shard, input: input)
        let run = try store.beginRun(RunDescription(pipeline: definition.stamp, parameters: parameters,
                                                    toolVersion: NoduleKitVersion.string, input: input,
                                                    shard: shard?.description))
        let progress = ProgressReporter.automatic(quiet: quiet)
        csvFile?.write(DetectionCSV.header)
        let total = inputs.count
        let runner = BatchRunner(configuration: configuration, store: store, run: run)
        nonisolated(unsafe) var done = 0, failed = 0  // touched only on the runner's serial persist queue
        nonisolated(unsafe) var tally = WarningTally()  // likewise
        let summary = runner.run(inputs) { item in
            jsonl.write(DetectionJSONLines.line(item.record) + "\n")
            csvFile?.write(DetectionCSV.rows(item.record))
            tally.add(item.record.warnings)
            done += 1
            if item.status == .failed {
                failed += 1
                progress.message("nodules: error: \(item.record.error ?? item.record.path)")
            }
            progress.update(done: done, total: total, failed: failed)
        }
        progress.finish()
        do {
            try jsonl.commit()
            try csvFile?.commit()
        } catch {
            StandardError.write("nodules: error: \(error)\n")
            try? store.endRun(run, status: .completedWithErrors, ok: summary.computed, resumed: summary.resumed, failed: summary.failed)
            throw ExitCode.failure
        }
        try store.endRun(run, status: summary.failed > 0 ? .completedWithErrors : .completed,
                         ok: summary.computed, resumed: summary.resumed, failed: summary.failed)
        if !quiet {
            StandardError.write(Self.summaryText(summary, out: out, db: db, csv: csv, overlay: overlay, shard: shard) + tally.summary())
        }
        if summary.failed > 0 { throw ExitCode.failure }
    }

    static func summaryText(_ s: BatchSummary, out: String, db: String, csv: String?, overlay: String? = nil, shard: Shard?) -> String {
        let shardText = shard.map { " (shard \($0))" } ?? ""
        var text = "batch\(shardText): \(s.total) image\(s.total == 1 ? "" : "s") in \(String(format: "%.1f", s.seconds)) s "
            + "(\(String(format: "%.2f", s.imagesPerSecond)) images/s): \(s.succeeded) ok (\(s.computed) computed, "
            + "\(s.resumed) resumed), \(s.failed) failed; \(s.detections) detection\(s.detections == 1 ? "" : "s")\n"
        text += "results: \(out)\(csv.map { ", \($0)" } ?? "")  store: \(db)\n"
        if let overlay { text += "review pictures: \(overlay)/ (of the \(s.computed) image\(s.computed == 1 ? "" : "s") detected in this run)\n" }
        return text
    }

    /// The run's parameters as JSON: the whole pipeline definition and the options that change results.
    static func parameters(definition: PipelineDefinition, configuration: BatchConfiguration, shard: Shard?, input: String) -> String {
        struct Parameters: Encodable {
            var pipeline: PipelineDefinition
            var jobs: Int
            var force: Bool
            var shard: String?
            var spacingOverride: String?
            var raw: Bool
            var maxPixels: Int
            var polarity: String
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let value = Parameters(pipeline: definition, jobs: configuration.jobs, force: configuration.force,
                               shard: shard?.description,
                               spacingOverride: configuration.decode.spacingOverride.map { "\($0.row)x\($0.column)" },
                               raw: configuration.decode.raw != nil, maxPixels: configuration.decode.maxPixels,
                               polarity: configuration.decode.infersPolarity ? "infer" : "stored")
        return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}

/// `nodules merge OUT.sqlite SHARD.sqlite...`: combine shard stores, idempotently.
struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Merge stores (e.g. one per --shard) into one; merging again adds nothing.",
        discussion: "Rows are matched by their natural keys, never by row id. Exit status: 0 on success, 1 when a store cannot be merged, 2 for a usage error."
    )

    @Argument(help: "The store to merge into (created if missing).")
    var destination: String

    @Argument(help: "Stores to merge from.")
    var sources: [String]

    @Flag(name: .long, help: "No summary on standard error.")
    var quiet = false

    func validate() throws {
        if sources.isEmpty { throw ValidationError("give at least one store to merge from") }
    }

    func run() throws {
        let store: NoduleStore
        do { store = try NoduleStore(path: destination) } catch {
            StandardError.write("nodules: error: \(error)\n")
            throw ExitCode.failure
        }
        var total = MergeReport()
        var failures = 0
        for source in sources {
            do {
                let report = try store.merge(from: source)
                total = total + report
                if !quiet {
                    StandardError.write("\(source): +\(report.images) images, +\(report.analyses) analyses, "
                                        + "+\(report.detections) detections, +\(report.errors) errors, +\(report.runs) runs\n")
                }
            } catch {
                failures += 1
                StandardError.write("nodules: error: \(error)\n")
            }
        }
        if !quiet, let counts = try? store.counts() {
            StandardError.write("\(destination): \(counts["images"] ?? 0) images, \(counts["detections"] ?? 0) detections, "
                                + "\(counts["image_errors"] ?? 0) errors, \(counts["runs"] ?? 0) runs\n")
        }
        if failures > 0 { throw ExitCode.failure }
    }
}
