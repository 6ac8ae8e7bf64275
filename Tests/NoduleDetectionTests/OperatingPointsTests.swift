import Foundation
@testable import NoduleDetection
import RadiographIO
import Testing
import TestSupport

/// A definition's measured operating points colour its review pictures, and apply only to the exact
/// definition (digest) they were measured for.
@Suite struct OperatingPointsTests {
    static let stamp = PipelineStamp(name: "test-pipeline", version: "1.0.0", digest: String(repeating: "ab", count: 32))

    /// A folder with `operating-points/test-pipeline.json` holding `text`.
    static func folder(_ text: String) throws -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nodulekit-op-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: folder + "/operating-points", withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: folder + "/operating-points/test-pipeline.json"))
        return folder
    }

    static func file(digest: String) -> String {
        """
        {"pipeline": "test-pipeline", "digest": "\(digest)", "measured_on": "a test",
         "points": [{"false_positives_per_image": 0.5, "score": 0.41}, {"false_positives_per_image": 1, "score": 0.28},
                    {"false_positives_per_image": 2, "score": 0.17}, {"false_positives_per_image": 4, "score": 0.1}]}
        """
    }

    @Test func pointsForTheDefinitionsDigestColourTheBands() throws {
        let folder = try Self.folder(Self.file(digest: Self.stamp.digest))
        defer { try? FileManager.default.removeItem(atPath: folder) }
        let points = try #require(OperatingPoints.measured(for: Self.stamp, folders: ["/nonexistent", folder]))
        let bands = OverlayBands(points)
        #expect(bands.red == 0.41 && bands.yellow == 0.17)
        #expect(bands.legend == "RED >= 0.41 (0.5 FP/IMAGE), YELLOW >= 0.17 (2 FP/IMAGE) ON PHANTOMS")
        // 0.18 is above the 2 FP/image point: yellow here, blue with the fixed bands (yellow from 0.2).
        #expect(bands.colour(0.18) == RGBRaster.Colour(255, 210, 40) && OverlayBands.fixed.colour(0.18) == RGBRaster.Colour(80, 140, 255))
        #expect(bands.colour(0.41) == RGBRaster.Colour(255, 60, 60) && bands.colour(0.1) == RGBRaster.Colour(80, 140, 255))
    }

    @Test func pointsForAnotherDigestOrUnreadableAreNone() throws {
        let other = try Self.folder(Self.file(digest: String(repeating: "cd", count: 32)))
        let broken = try Self.folder("{\"pipeline\": \"test-pipeline\"")
        defer { for f in [other, broken] { try? FileManager.default.removeItem(atPath: f) } }
        #expect(OperatingPoints.measured(for: Self.stamp, folders: [other, broken]) == nil)
        #expect(OverlayBands(nil) == .fixed && OverlayBands.fixed.legend == nil)
    }

    @Test func bandsNeedBothPointsInOrder() {
        let onlyOne = OperatingPoints(pipeline: "p", digest: "d", measuredOn: "", points: [.init(falsePositivesPerImage: 2, score: 0.2)])
        let reversed = OperatingPoints(pipeline: "p", digest: "d", measuredOn: "",
                                       points: [.init(falsePositivesPerImage: 0.5, score: 0.1), .init(falsePositivesPerImage: 2, score: 0.3)])
        #expect(OverlayBands(onlyOne) == .fixed && OverlayBands(reversed) == .fixed)
    }

    @Test("The shipped default definition has its operating points: a changed definition must be measured again (or its file removed)")
    func theDefaultDefinitionsPointsApplyToIt() throws {
        let root = Fixtures.repositoryRoot()
        let definition = try PipelineDefinition.decode(path: root + "/Pipelines/cxr-nodules.json")
        let points = try #require(OperatingPoints.measured(for: definition.stamp, folders: [root + "/Pipelines"]),
                                  "Pipelines/operating-points/cxr-nodules.json was measured for another digest")
        #expect(points.points.map(\.falsePositivesPerImage) == [0.5, 1, 2, 4])
        let scores = points.points.map(\.score)
        #expect(scores == scores.sorted(by: >) && scores.allSatisfy { $0 > 0 && $0 < 1 })
    }
}
