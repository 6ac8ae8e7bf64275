import ArgumentParser
import Foundation
import NoduleDetection
import RadiographIO
import ReviewReport

/// `nodules evaluate --truth truth.json --results results.jsonl`: FROC, bands, sizing error.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score detection results against ground truth: FROC, sensitivity by size and rib overlap, diameter error.",
        discussion: """
        A hit is a candidate within max(true radius, 4 mm) of a true centre; one true positive per nodule; \
        extra candidates on an already-found nodule are ignored. Result paths are matched to truth paths \
        (relative to the truth file's folder), else by the end of the path, else by file name without \
        extension. Truth files: truth.json from the phantom generators, a CSV table (image, x_px, y_px, \
        diameter_mm[, pixel_spacing_mm, nodule, on_rib]; e.g. Data/samples/truth.csv), or the JSRT database's \
        clinical data, e.g. --truth CLNDAT_EN.txt --truth CNNDAT_EN.TXT (then also by subtlety).
        """
    )

    @Option(name: .long, help: ArgumentHelp(
        "Ground truth: truth.json (Data/phantom/make_phantoms.py), a CSV table or JSRT clinical data (repeatable; the images are concatenated).",
        valueName: "file"))
    var truth: [String] = []

    @Option(name: .long, help: ArgumentHelp("Detection results, JSON Lines (from `nodules detect` or a peer).", valueName: "file"))
    var results: String

    @Flag(name: .long, help: "Print the evaluation as one JSON object.")
    var json = false

    @Option(name: .long, help: ArgumentHelp("Also draw the FROC curve as a standalone SVG picture.", valueName: "file.svg"))
    var plot: String?

    @Option(name: .long, help: ArgumentHelp("The curve's label in --plot (default: the results file's name).", valueName: "text"))
    var label: String?

    @Option(name: .long, help: ArgumentHelp(
        "More results to draw in --plot against the same truth, e.g. a peer's or another pipeline's (repeatable).",
        valueName: "label=file"))
    var compare: [String] = []

    func validate() throws {
        if truth.isEmpty { throw ValidationError("Missing expected argument '--truth <file>'") }
        if !compare.isEmpty && plot == nil { throw ValidationError("--compare draws into --plot; give --plot FILE") }
        for entry in compare where !entry.contains("=") || entry.hasPrefix("=") || entry.hasSuffix("=") {
            throw ValidationError("--compare: '\(entry)' is not LABEL=FILE")
        }
    }

    func run() throws {
        let groundTruth: GroundTruth
        do { groundTruth = try GroundTruth.concatenating(truth.map { try GroundTruth.read(contentsOf: $0) }) } catch {
            throw ValidationError("--truth: \(error)")
        }
        let folder = URL(fileURLWithPath: truth[0]).deletingLastPathComponent().path
        let evaluation = FROCEvaluation(truth: groundTruth, truthFolder: folder, records: try Self.records(results, option: "--results"))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(evaluation), as: UTF8.self))
        } else {
            print(evaluation.table)
        }
        if let plot {
            var curves = [(label: label ?? URL(fileURLWithPath: results).lastPathComponent, evaluation: evaluation)]
            for entry in compare {
                let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
                curves.append((parts[0], FROCEvaluation(truth: groundTruth, truthFolder: folder,
                                                        records: try Self.records(parts[1], option: "--compare"))))
            }
            let title = "FROC against " + truth.map {
                URL(fileURLWithPath: $0).deletingLastPathComponent().lastPathComponent + "/" + URL(fileURLWithPath: $0).lastPathComponent
            }.joined(separator: " + ")
            do { try AtomicFile.write(Array(FROCChart.svg(curves, title: title).utf8), to: plot) } catch {
                throw ValidationError("--plot: cannot write \(plot) (\(error))")
            }
        }
    }

    /// Detection records of a JSON Lines file; a usage error naming `option` when it cannot be read.
    static func records(_ path: String, option: String) throws -> [DetectionRecord] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ValidationError("\(option): cannot read \(path)")
        }
        var records: [DetectionRecord] = []
        for (n, line) in text.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do { records.append(try JSONDecoder().decode(DetectionRecord.self, from: Data(line.utf8))) } catch {
                throw ValidationError("\(option): line \(n + 1) of \(path) is not a detection record (\(error))")
            }
        }
        return records
    }
}
