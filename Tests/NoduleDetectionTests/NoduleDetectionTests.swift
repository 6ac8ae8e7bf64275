import Foundation
import NoduleDetection
import RadiographIO
import ScaleSpace
import Testing
import TestSupport

private func defaultPipeline() throws -> PipelineDefinition {
    try PipelineDefinition.decode(path: Fixtures.repositoryRoot() + "/Pipelines/cxr-nodules.json")
}

@Suite("Measurement")
struct MeasurementTests {
    @Test("a projected sphere is sized within 0.5 mm", arguments: [6.0, 10.0, 18.0, 28.0])
    func sphereDiameter(diameterMM: Double) throws {
        let pipeline = try defaultPipeline()
        let spacing = 0.35
        var chest = SyntheticChest(width: 400, height: 400, spacingMM: spacing, lungs: [(200, 200, 400, 400)])
        chest.nodules = [(203.3, 197.6, diameterMM, 300)]
        chest.noiseSD = 6
        let values = chest.values().map { Float(($0 - 1200) / 1400) }
        let image = FloatImage(width: 400, height: 400, values: values)
        let radius = diameterMM / 2 / spacing
        let m = try #require(NoduleMeasurement.measure(image, x: 203, y: 198, radius: radius * 0.9,
                                                       parameters: pipeline.measurement))
        #expect(abs(m.diameter * spacing - diameterMM) <= 0.5, "measured \(m.diameter * spacing) mm")
        #expect(abs(m.x - 203.3) <= 0.5 && abs(m.y - 197.6) <= 0.5, "centre (\(m.x), \(m.y))")
        #expect(m.shortAxis <= m.longAxis)
    }

    @Test("an elongated nodule reports long and perpendicular short axis")
    func ellipse() throws {
        let pipeline = try defaultPipeline()
        // Two overlapping spheres side by side: long axis along x.
        var chest = SyntheticChest(width: 300, height: 300, spacingMM: 0.35, lungs: [(150, 150, 400, 400)])
        chest.nodules = [(140, 150, 10, 250), (160, 150, 10, 250)]
        let image = FloatImage(width: 300, height: 300, values: chest.values().map { Float(($0 - 1200) / 1400) })
        let m = try #require(NoduleMeasurement.measure(image, x: 150, y: 150, radius: 18, parameters: pipeline.measurement))
        #expect(m.longAxis > m.shortAxis * 1.3, "long \(m.longAxis) short \(m.shortAxis)")
    }
}

@Suite("Candidates")
struct CandidateTests {
    @Test("a long ridge gives no candidate; a blob beside it does")
    func ridgeRejected() throws {
        let pipeline = try defaultPipeline()
        var chest = SyntheticChest()
        // A rib-like ridge 250 px long inside the left lung, 3 mm wide, bright.
        chest.ridges = [(320, 400, 0.15, 4.5, 500, 125)]
        chest.nodules = [(690, 470, 12, 400)]
        let result = NoduleDetector(pipeline: pipeline).detect(chest.radiograph())
        let onRidge = result.candidates.filter { c in
            let distance = abs(-(c.x - 320) * sin(0.15) + (c.y - 400) * cos(0.15))
            return distance < 15 && hypot(c.x - 320, c.y - 400) < 150
        }
        #expect(onRidge.isEmpty, "candidates on the ridge: \(onRidge.map { ($0.x, $0.y, $0.score) })")
        let top = try #require(result.candidates.first)
        #expect(hypot(top.x - 690, top.y - 470) < 4, "top candidate at (\(top.x), \(top.y))")
        #expect(abs(try #require(top.diameterMM) - 12) <= 0.5)
    }

    @Test("NMS keeps exactly the greedy maximal set (brute force check)")
    func nmsMatchesBruteForce() {
        var rng = SeededRandomNumberGenerator(seed: 42)
        for _ in 0..<50 {
            let n = Int.random(in: 1...60, using: &rng)
            let detections = (0..<n).map { _ in
                NonMaximumSuppression.Detection(x: .random(in: 0...200, using: &rng), y: .random(in: 0...200, using: &rng),
                                                radius: .random(in: 2...25, using: &rng),
                                                score: Double(Int.random(in: 0...20, using: &rng)))
            }
            let kept = NonMaximumSuppression.keep(detections, overlap: 1.0)
            // Brute force: the same greedy rule, O(n²).
            let order = detections.indices.sorted { detections[$0].score != detections[$1].score
                ? detections[$0].score > detections[$1].score : $0 < $1 }
            var expected: [Int] = []
            for i in order where !expected.contains(where: { j in
                let a = detections[i], b = detections[j]
                return hypot(a.x - b.x, a.y - b.y) < min(a.radius, b.radius)
            }) { expected.append(i) }
            #expect(kept == expected)
        }
    }
}

@Suite("Lung field")
struct LungFieldTests {
    @Test("the mask of a simple phantom reaches IoU ≥ 0.9")
    func maskIoU() throws {
        let pipeline = try defaultPipeline()
        var chest = SyntheticChest()
        chest.nodules = [(300, 300, 14, 500), (640, 700, 20, 600)]  // bright holes must be filled
        chest.noiseSD = 20
        let result = NoduleDetector(pipeline: pipeline).detect(chest.radiograph())
        let field = result.lungField
        #expect(field.lungCount == 2)
        var intersection = 0, union = 0
        let sx = Double(chest.width) / Double(field.width), sy = Double(chest.height) / Double(field.height)
        for y in 0..<field.height {
            for x in 0..<field.width {
                let truth = chest.lungContains((Double(x) + 0.5) * sx - 0.5, (Double(y) + 0.5) * sy - 0.5)
                let mine = field.mask[y * field.width + x] != 0
                if truth && mine { intersection += 1 }
                if truth || mine { union += 1 }
            }
        }
        let iou = Double(intersection) / Double(union)
        #expect(iou >= 0.9, "IoU \(iou)")
    }
}

@Suite("Detector")
struct DetectorTests {
    @Test("identical results with 1 and 2 threads")
    func determinism() throws {
        let pipeline = try defaultPipeline()
        var chest = SyntheticChest()
        chest.nodules = [(300, 350, 9, 250), (700, 600, 16, 300)]
        chest.noiseSD = 25
        let radiograph = chest.radiograph()
        let one = NoduleDetector(pipeline: pipeline, threads: 1).detect(radiograph).record(for: radiograph)
        let two = NoduleDetector(pipeline: pipeline, threads: 2).detect(radiograph).record(for: radiograph)
        #expect(one == two)
        #expect(!one.nodules.isEmpty)
    }

    @Test("unknown spacing: detection runs, mm figures are null and a warning says why")
    func unknownSpacing() throws {
        let pipeline = try defaultPipeline()
        var chest = SyntheticChest()
        chest.nodules = [(700, 600, 16, 300)]
        var radiograph = chest.radiograph()
        radiograph.pixelSpacing = nil
        let record = NoduleDetector(pipeline: pipeline).detect(radiograph).record(for: radiograph)
        #expect(record.pixelSpacingMM == nil)
        #expect(record.spacingSource == "unknown")
        #expect(record.nodules.allSatisfy { $0.diameterMM == nil })
        #expect(record.warnings.contains { $0.contains("pixel spacing unknown") })
    }
}

@Suite("Pipeline definitions")
struct PipelineDefinitionTests {
    @Test("every definition under Pipelines/ loads and validates")
    func allLoad() throws {
        let folder = Fixtures.repositoryRoot() + "/Pipelines"
        let files = try FileManager.default.contentsOfDirectory(atPath: folder).filter { $0.hasSuffix(".json") }
        #expect(!files.isEmpty)
        for file in files {
            let definition = try PipelineDefinition.decode(path: folder + "/" + file)
            #expect(definition.name + ".json" == file)
        }
    }

    @Test("every written feature is available to the score model by its JSON name")
    func featureNames() throws {
        let features = NoduleFeatures(contrast: 1, contrastToNoise: 2, blobness: 0.5, logResponse: 0.1, scaleDiameterMM: 8,
                                      circularity: 0.9, longAxisMM: 9, shortAxisMM: 8, lungDepthMM: 12, insideLung: 1)
        let written = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(features)) as? [String: Any])
        #expect(Set(written.keys) == Set(NoduleFeatures.names))
        #expect(Set(features.named.keys) == Set(NoduleFeatures.names))
    }

    @Test("the digest changes with any parameter")
    func digest() throws {
        var definition = try defaultPipeline()
        let before = definition.stamp
        definition.candidates.minimumResponse += 0.001
        #expect(definition.stamp.digest != before.digest)
        #expect(definition.stamp.version == before.version)
    }

    @Test("a malformed or out-of-range definition is refused with the exact case")
    func refusals() throws {
        let dir = Fixtures.temporaryDirectory("pipelines")
        let bad = dir + "/bad.json"
        try Data("{\"name\": \"x\"}".utf8).write(to: URL(fileURLWithPath: bad))
        #expect(throws: PipelineError.malformed(path: bad, reason: "missing key 'version'")) { try PipelineDefinition.decode(path: bad) }
        var definition = try defaultPipeline()
        definition.candidates.scales = 1
        #expect(throws: PipelineError.invalid(name: "cxr-nodules", reason: "candidates.scales must be 3…64")) { try definition.validate() }
        #expect(throws: PipelineError.self) { try PipelineDefinition.load("no-such-pipeline") }
    }
}
