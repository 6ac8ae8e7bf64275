import Foundation
import NoduleDetection
import Testing
import TestSupport

/// The evaluation reports how far each hit lies from the true centre, as a fraction of the hit
/// radius max(true radius, 4 mm), and counts the centred ones (within half of it): on a large
/// nodule, a candidate near the edge of the outline may be another structure the rule credits.
@Suite struct FROCHitOffsetTests {
    /// Image a.png: a 20 mm nodule at (100, 100); b.png: a 6 mm nodule (hit radius 4 mm) at
    /// (50, 50); 1 mm/px. `candidates` are (image, x, y, score).
    static func evaluation(_ candidates: [(String, Double, Double, Double)]) throws -> FROCEvaluation {
        try FROCFixture.evaluation(truth: """
            {"images": [{"path": "a.png", "pixel_spacing_mm": 1, "nodules": [{"x": 100, "y": 100, "diameter_mm": 20}]},
                        {"path": "b.png", "pixel_spacing_mm": 1, "nodules": [{"x": 50, "y": 50, "diameter_mm": 6}]}]}
            """, images: ["a.png", "b.png"], spacingMM: 1, diameterPx: 8, candidates: candidates, folder: "/nodulekit-froc-offset")
    }

    @Test func offsetsAreFractionsOfTheHitRadius() throws {
        // 8 mm off a 10 mm radius: a hit, not centred. 1 mm off a 4 mm hit radius: centred.
        let e = try Self.evaluation([("a.png", 108, 100, 0.9), ("b.png", 50, 51, 0.8)])
        try #require(e.operatingHits.count == 2)
        #expect(abs(e.operatingHits[0].offsetFraction! - 0.8) < 1e-9 && !e.operatingHits[0].isCentred)
        #expect(abs(e.operatingHits[1].offsetFraction! - 0.25) < 1e-9 && e.operatingHits[1].isCentred)
        #expect(e.table.contains("within half the hit radius of the true centre: 1/2"))
    }

    @Test func theNearestNotYetHitNoduleSetsTheOffset() throws {
        // Two candidates on the large nodule: the first (higher score) hits it at 0.5, exactly
        // centred by the rule; the second reaches only the already-hit nodule and is no event.
        let e = try Self.evaluation([("a.png", 100, 105, 0.9), ("a.png", 100, 100, 0.5)])
        try #require(e.operatingHits.count == 1)
        #expect(e.operatingHits[0].offsetFraction == 0.5 && e.operatingHits[0].isCentred)
        #expect(e.froc.map(\.falsePositivesPerImage) == [0.5, 1, 2, 4] && e.froc[0].sensitivity == 0.5)
    }

    @Test func theTableGivesEachOperatingPointsScoreThreshold() throws {
        // Both nodules hit (0.9, 0.8) and one false positive (0.00123, the kind of score a crude image gets)
        // over two images: 0.5 FP/image and beyond reach down to the false positive, so every point's
        // threshold is its score, printed to three significant digits.
        let e = try Self.evaluation([("a.png", 100, 100, 0.9), ("b.png", 50, 50, 0.8), ("b.png", 200, 200, 0.00123)])
        #expect(e.froc.map(\.threshold) == [0.00123, 0.00123, 0.00123, 0.00123])
        let lines = e.table.split(separator: "\n").map(String.init)
        #expect(lines.contains("   0.5 FP/image  100.0%   at score ≥ 0.00123"), "\(lines)")
        #expect(lines.filter { $0.contains("FP/image") && $0.hasSuffix("at score ≥ 0.00123") }.count == 4)
    }

    @Test func aRecordWithoutOffsetsStillDecodes() throws {
        let json = #"{"image": "a.png", "nodule": 0, "trueDiameterMM": 20, "measuredDiameterMM": 18, "score": 0.7}"#
        let hit = try JSONDecoder().decode(FROCEvaluation.Hit.self, from: Data(json.utf8))
        #expect(hit.offsetFraction == nil && hit.isCentred)
    }
}
