import ArgumentParser
import Foundation
import NoduleDetection

/// `nodules evaluate --truth truth.json --results results.jsonl`: FROC, bands, sizing error.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Score detection results against ground truth: FROC, sensitivity by size and rib overlap, diameter error.",
        discussion: """
        A hit is a candidate within max(true radius, 4 mm) of a true centre; one true positive per nodule; \
        extra candidates on an already-found nodule are ignored. Result paths are matched to truth paths \
        (relative to the truth file's folder).
        """
    )

    @Option(name: .long, help: ArgumentHelp("Ground truth (truth.json from Data/phantom/make_phantoms.py).", valueName: "file"))
    var truth: String

    @Option(name: .long, help: ArgumentHelp("Detection results, JSON Lines (from `nodules detect` or a peer).", valueName: "file"))
    var results: String

    @Flag(name: .long, help: "Print the evaluation as one JSON object.")
    var json = false

    func run() throws {
        guard let truthData = FileManager.default.contents(atPath: truth) else {
            throw ValidationError("--truth: cannot read \(truth)")
        }
        let groundTruth: GroundTruth
        do { groundTruth = try JSONDecoder().decode(GroundTruth.self, from: truthData) } catch {
            throw ValidationError("--truth: \(truth) is not a truth file (\(error))")
        }
        guard let resultText = try? String(contentsOfFile: results, encoding: .utf8) else {
            throw ValidationError("--results: cannot read \(results)")
        }
        var records: [DetectionRecord] = []
        for (n, line) in resultText.split(separator: "\n", omittingEmptySubsequences: true).enumerated() {
            do { records.append(try JSONDecoder().decode(DetectionRecord.self, from: Data(line.utf8))) } catch {
                throw ValidationError("--results: line \(n + 1) of \(results) is not a detection record (\(error))")
            }
        }
        let folder = URL(fileURLWithPath: truth).deletingLastPathComponent().path
        let evaluation = FROCEvaluation(truth: groundTruth, truthFolder: folder, records: records)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(evaluation), as: UTF8.self))
        } else {
            print(evaluation.table)
        }
    }
}
