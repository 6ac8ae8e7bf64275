import Foundation
import NoduleDetection

/// A truth file and detection records written inline, for tests of the evaluation and its picture.
public enum FROCFixture {
    /// `truth` is a `truth.json` text whose image paths are `images`; `candidates` are (image
    /// path, x, y, score), each reported with `diameterPx` on a 200 × 200 image at `spacingMM`.
    /// Records live under `folder`, which is also the truth folder.
    public static func evaluation(truth: String, images: [String], spacingMM: Double, diameterPx: Double,
                                  candidates: [(String, Double, Double, Double)], folder: String) throws -> FROCEvaluation {
        let groundTruth = try JSONDecoder().decode(GroundTruth.self, from: Data(truth.utf8))
        let records = try images.map { image in
            let nodules = candidates.filter { $0.0 == image }.map { c in
                "{\"x\": \(c.1), \"y\": \(c.2), \"diameter_px\": \(diameterPx), \"score\": \(c.3), \"features\": {}}"
            }
            return try JSONDecoder().decode(DetectionRecord.self, from: Data("""
                {"path": "\(folder)/\(image)", "width": 200, "height": 200, "pixel_spacing_mm": \(spacingMM),
                 "spacing_source": "test", "nodules": [\(nodules.joined(separator: ", "))], "error": null}
                """.utf8))
        }
        return FROCEvaluation(truth: groundTruth, truthFolder: folder, records: records)
    }
}
