import ArgumentParser
import Foundation
import BatchPipeline
import NoduleDetection
import RadiographIO

/// `nodules detect IMAGE...`: one JSON Lines record per image, in the documented contract.
struct Detect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Detect and measure nodule candidates; one JSON object per image (JSON Lines).",
        discussion: """
        The record contract is documented in the README and in Pipelines/schemas/detection.schema.json. \
        x is the column and y the row, in pixels of the input image. A file that fails still gets a \
        record, with "error" set. Exit status: 0 when every image succeeded, 1 when any failed, 2 for a usage error.
        """
    )

    @OptionGroup var decode: DecodeArguments

    @Option(name: .long, help: ArgumentHelp("Pipeline definition: a NAME under Pipelines/ or a path to a .json file.", valueName: "name|file"))
    var pipeline: String = PipelineDefinition.defaultName

    @Option(name: .long, help: ArgumentHelp("Write the JSON Lines here instead of standard output (atomically).", valueName: "file"))
    var out: String?

    @Option(name: .long, help: ArgumentHelp("Write a review PNG per image (lung outline, candidates circled and labelled) and its lung mask into this folder.", valueName: "dir"))
    var overlay: String?

    @Option(name: .long, help: "Dispatch workers per image.")
    var threads: Int = ProcessInfo.processInfo.activeProcessorCount

    @Flag(name: .long, help: "No progress and no summary on standard error (errors are still written).")
    var quiet = false

    @Argument(help: "Radiograph files (PNG, JPEG, or raw with --raw).")
    var images: [String]

    func validate() throws {
        if images.isEmpty { throw ValidationError("give at least one image") }
        if threads < 1 { throw ValidationError("--threads must be at least 1") }
    }

    func run() throws {
        let definition: PipelineDefinition
        do { definition = try PipelineDefinition.load(pipeline) } catch let error as PipelineError {
            throw ValidationError("--pipeline: \(error)")
        }
        let reader = RadiographReader(options: try decode.decodeOptions())
        let detector = NoduleDetector(pipeline: definition, threads: threads)
        if let overlay { try FileManager.default.createDirectory(atPath: overlay, withIntermediateDirectories: true) }
        var lines: [String] = []
        // Progress for a folder's worth of images; one image needs none.
        let progress = ProgressReporter.automatic(quiet: quiet || images.count < 2)
        var tally = WarningTally()
        let failures = try Self.detect(images, reader: reader, detector: detector, overlay: overlay, progress: progress) { record, line in
            tally.add(record.warnings)
            if out == nil { print(line) } else { lines.append(line) }
        }
        if let out {
            try AtomicFile.write(Array((lines.joined(separator: "\n") + "\n").utf8), to: out)
        }
        if !quiet && (images.count > 1 || failures > 0) {
            StandardError.write("\(images.count) image\(images.count == 1 ? "" : "s"): \(images.count - failures) ok, \(failures) failed\n"
                                + (images.count > 1 ? tally.summary() : ""))
        }
        if failures > 0 { throw ExitCode.failure }
    }

    /// Detects `images` in order and hands each one's record and JSON line to `emit`; a file that fails
    /// gets a failure record and its error goes to `progress` (written even when quiet).
    /// Returns how many failed.
    static func detect(_ images: [String], reader: RadiographReader, detector: NoduleDetector, overlay: String?,
                       progress: ProgressReporter, emit: (DetectionRecord, String) -> Void) throws -> Int {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // The pictures' colours follow the definition's measured operating points, when it has them.
        let bands = overlay == nil ? OverlayBands.fixed : OverlayBands(OperatingPoints.measured(for: detector.stamp))
        var failures = 0
        for (index, path) in images.enumerated() {
            var record: DetectionRecord
            do {
                let radiograph = try reader.read(contentsOf: path)
                let result = detector.detect(radiograph)
                record = result.record(for: radiograph)
                if let overlay {
                    let stem = Self.overlayStem(path, index: index)
                    do {
                        try DetectionOverlay.write(result, stem: "\(overlay)/\(stem)", bands: bands)
                    } catch {
                        // The detection stands; only its picture is missing, and that is said.
                        record.warnings.append("overlay not written: \(error)")
                        progress.error("nodules: warning: \(path): overlay not written: \(error)")
                    }
                }
            } catch let error as RadiographError {
                failures += 1
                record = .failure(path: path, message: error.description, code: error.code, pipeline: detector.stamp)
                progress.error("nodules: error: \(error)")
            }
            emit(record, String(decoding: try encoder.encode(record), as: UTF8.self))
            progress.update(done: index + 1, total: images.count, failed: failures)
        }
        progress.finish()
        return failures
    }

    /// A file-name stem for an image's overlay: its base name, prefixed by its
    /// position so two inputs with the same name never collide.
    static func overlayStem(_ path: String, index: Int) -> String {
        let base = (path as NSString).lastPathComponent
        let stem = (base as NSString).deletingPathExtension
        return String(format: "%03d-", index) + stem
    }
}
