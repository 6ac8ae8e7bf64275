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

    /// The diameter the shipped definition reports (from 0.14.0 the edge outline plus 0.6 mm per
    /// side, see "Pipeline definitions" in the README) of a projected sphere with a detector's blur
    /// (σ 0.4 mm, no processing) and noise. The offset stands for where blur and the measurement
    /// smoothing put the steepest descent inside the border, so the sphere here is blurred, as
    /// every detector blurs; unblurred, spheres of 6 and 10 mm are reported 0.8 and 0.5 mm large.
    @Test("a blurred projected sphere is reported within 0.5 mm", arguments: [6.0, 10.0, 18.0, 28.0])
    func blurredSphereReportedDiameter(diameterMM: Double) throws {
        let pipeline = try defaultPipeline()
        let image = EdgeSizingTests.processedSphere(diameterMM: diameterMM, unsharpSigmaMM: 1, gain: 0, seed: 11)
        let m = try #require(NoduleMeasurement.measureClearingBackground(image, smoothed: nil, x: 181, y: 179,
                                                                        radius: 0.9 * diameterMM / 2 / 0.35, parameters: pipeline.measurement))
        let reported = pipeline.measurement.reportedDiameter(m, spacingMM: 0.35) * 0.35
        #expect(m.edgeDiameter != nil && reported != m.diameter * 0.35, "the edge size is the one reported")
        #expect(abs(reported - diameterMM) <= 0.5, "reported \(reported) mm (sphere fit \(m.diameter * 0.35) mm)")
    }

    /// `best-of-both` fits from the long axis and from the mean axis and keeps the accepted fit
    /// with the lower robust residual: its size and residual are exactly one of the two
    /// single-start results, the better-fitting one. Spheres crossed by a rib-like ridge (rays
    /// leak along it, so the two starts differ) and one in the clear.
    @Test("the best-of-both sphere fit keeps the start with the lower residual",
          arguments: [(10.0, 0.1, 180.0), (14.0, 0.4, 220.0), (8.0, 1.2, 150.0), (12.0, 0.0, 0.0)])
    func bestOfBothStarts(diameterMM: Double, ridgeAngle: Double, ridgeHeight: Double) throws {
        let pipeline = try defaultPipeline()
        var chest = SyntheticChest(width: 400, height: 400, spacingMM: 0.35, lungs: [(200, 200, 400, 400)])
        chest.nodules = [(200, 200, diameterMM, 300)]
        if ridgeHeight > 0 { chest.ridges = [(200, 212, ridgeAngle, 4, ridgeHeight, 180)] }
        chest.noiseSD = 6
        let image = FloatImage(width: 400, height: 400, values: chest.values().map { Float(($0 - 1200) / 1400) })
        let radius = diameterMM / 2 / 0.35
        func measured(_ start: String) throws -> NoduleMeasurement {
            var p = pipeline.measurement
            p.sphereFitStart = start
            return try #require(NoduleMeasurement.measureClearingBackground(image, smoothed: nil, x: 200, y: 200,
                                                                           radius: radius, parameters: p))
        }
        let long = try measured("long-axis"), mean = try measured("mean-axis"), both = try measured("best-of-both")
        let accepted = [long, mean].filter { $0.fitResidual < 1 }
        if let better = accepted.min(by: { $0.fitResidual < $1.fitResidual }) {
            #expect(both.fitResidual == better.fitResidual && both.diameter == better.diameter,
                    "best-of-both \(both.diameter) px (residual \(both.fitResidual)); long-axis \(long.diameter) (\(long.fitResidual)), mean-axis \(mean.diameter) (\(mean.fitResidual))")
        } else {
            #expect(both.fitResidual == 1)
        }
        #expect(abs(both.diameter * 0.35 - diameterMM) <= 1.5, "measured \(both.diameter * 0.35) mm for \(diameterMM) mm")
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
        // The outline's (sphere-fit) size: this unblurred sphere's reported edge size is larger by
        // the edge offset, which stands for a detector's blur (see blurredSphereReportedDiameter).
        #expect(abs(top.features.sphereFitDiameterMM - 12) <= 0.5, "\(top.features.sphereFitDiameterMM) mm")
        #expect(abs(try #require(top.diameterMM) - 12) <= 1.0, "reported \(top.diameterMM ?? 0) mm")
        // `resize_border` moves only parts (smaller than their map blob): this whole nodule stays as measured.
        var partsStay = pipeline
        partsStay.heatmap?.resizeBorder = nil
        let without = try #require(NoduleDetector(pipeline: partsStay).detect(chest.radiograph()).candidates.first)
        #expect(without.x == top.x && without.y == top.y && without.diameterPx == top.diameterPx)
    }

    @Test("a smaller copy without a pixel spacing is found and sized like the full-size image")
    func resizedCopyWithoutSpacing() throws {
        let pipeline = try defaultPipeline()
        // The same chest at 1000 px (0.35 mm/px) and 700 px (0.5 mm/px), neither file stating it:
        // a 16 mm nodule is 45.7 px across on one and 32 px on the other.
        func detect(side: Int) throws -> (NoduleCandidate, DetectionResult) {
            let f = Double(side) / 1000
            var chest = SyntheticChest()
            chest.width = side
            chest.height = side
            chest.spacingMM = 0.35 / f
            chest.lungs = chest.lungs.map { ($0.x * f, $0.y * f, $0.a * f, $0.b * f) }
            chest.nodules = [(690 * f, 470 * f, 16, 400)]
            var radiograph = chest.radiograph()
            radiograph.pixelSpacing = nil
            let result = NoduleDetector(pipeline: pipeline).detect(radiograph)
            let top = try #require(result.candidates.first)
            #expect(hypot(top.x - 690 * f, top.y - 470 * f) < 4 * f, "\(side) px: top candidate at (\(top.x), \(top.y))")
            #expect(top.diameterMM == nil)
            return (top, result)
        }
        let (full, fullResult) = try detect(side: 1000)
        let (small, smallResult) = try detect(side: 700)
        #expect(abs(small.diameterPx / full.diameterPx - 0.7) < 0.05, "\(small.diameterPx) px against \(full.diameterPx) px")
        #expect(abs(full.diameterPx * 0.35 - 16) < 1.5, "\(full.diameterPx) px")
        // Both are analysed on the same working grid (the same chest at 0.7 mm/px by the assumption):
        // with a fixed assumed spacing the smaller copy would be taken for a smaller chest.
        #expect(abs(fullResult.normalised.working.width - smallResult.normalised.working.width) <= 1,
                "\(fullResult.normalised.working.width) against \(smallResult.normalised.working.width) px")
        #expect(fullResult.lungField.source == smallResult.lungField.source)
        for (result, spacing) in [(fullResult, 0.385), (smallResult, 0.55)] {
            let expected = "pixel spacing unknown: detection assumed \(spacing) mm/px (the image taken to span 385 mm, "
                + "the geometric mean of its sides); no mm figures reported"
            #expect(result.warnings.contains(expected), "\(result.warnings)")
        }
    }

    @Test("the scale space may be computed on a pyramid (the default from 0.20.0 on) or exactly: either way the nodule is found and sized, the ridge rejected")
    func pyramidScaleSpace() throws {
        var pipeline = try defaultPipeline()
        #expect(pipeline.candidates.scaleSpaceResolution == "pyramid")
        let pyramidDigest = pipeline.stamp.digest
        var chest = SyntheticChest()
        chest.ridges = [(320, 400, 0.15, 4.5, 500, 125)]
        chest.nodules = [(690, 470, 12, 400)]
        let radiograph = chest.radiograph()
        for resolution in ["pyramid", "exact"] {
            pipeline.candidates.scaleSpaceResolution = resolution
            try pipeline.validate()
            #expect((pipeline.stamp.digest == pyramidDigest) == (resolution == "pyramid"))
            let result = NoduleDetector(pipeline: pipeline).detect(radiograph)
            let top = try #require(result.candidates.first)
            #expect(hypot(top.x - 690, top.y - 470) < 4, "\(resolution): top candidate at (\(top.x), \(top.y))")
            #expect(abs(top.features.sphereFitDiameterMM - 12) <= 0.5, "\(resolution): \(top.features.sphereFitDiameterMM) mm")
            #expect(abs(try #require(top.diameterMM) - 12) <= 1.0, "\(resolution): reported \(top.diameterMM ?? 0) mm")
            #expect(!result.candidates.contains { c in
                abs(-(c.x - 320) * sin(0.15) + (c.y - 400) * cos(0.15)) < 15 && hypot(c.x - 320, c.y - 400) < 150
            }, "\(resolution)")
        }
        pipeline.candidates.scaleSpaceResolution = "octaves"
        #expect(throws: PipelineError.invalid(name: "cxr-nodules",
                                              reason: "candidates.scale_space_resolution must be \"exact\" or \"pyramid\"")) {
            try pipeline.validate()
        }
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

@Suite("Candidate pre-rank")
struct PrerankTests {
    /// A logistic pre-rank over the blob-stage features that prefers small blobs.
    static func smallFirst() -> PipelineDefinition.ScoreModel {
        .init(kind: "logistic", intercept: 0, weights: ["scale_diameter_mm": -4, "log_response": 1],
              means: ["scale_diameter_mm": 0, "log_response": 0], scales: ["scale_diameter_mm": 1, "log_response": 1],
              transforms: ["scale_diameter_mm": "log", "log_response": "log"], fittedOn: "test")
    }

    @Test("the pre-rank, not the response, chooses which maxima are measured")
    func prerankChoosesMeasured() throws {
        var pipeline = try defaultPipeline()
        pipeline.candidates.prerank = nil
        pipeline.candidates.maximumCandidates = 1
        pipeline.heatmap?.proposals = nil   // the measured candidates alone (the map would propose the other nodule)
        var chest = SyntheticChest()
        // A large bright nodule (highest response) and a small fainter one.
        chest.nodules = [(300, 350, 22, 450), (700, 600, 8, 250)]
        let radiograph = chest.radiograph()
        let byResponse = NoduleDetector(pipeline: pipeline).detect(radiograph).candidates
        #expect(byResponse.count == 1)
        let large = try #require(byResponse.first)
        #expect(hypot(large.x - 300, large.y - 350) < 6, "by response: (\(large.x), \(large.y))")

        pipeline.candidates.prerank = Self.smallFirst()
        try pipeline.validate()
        let byPrerank = NoduleDetector(pipeline: pipeline).detect(radiograph).candidates
        #expect(byPrerank.count == 1)
        let small = try #require(byPrerank.first)
        #expect(hypot(small.x - 700, small.y - 600) < 6, "by pre-rank: (\(small.x), \(small.y))")
        #expect(abs(small.features.sphereFitDiameterMM - 8) <= 0.5, "\(small.features.sphereFitDiameterMM) mm")
        #expect(abs(try #require(small.diameterMM) - 8) <= 1.0, "reported \(small.diameterMM ?? 0) mm")
    }

    @Test("a pre-rank may only use features known before measurement")
    func prerankValidation() throws {
        var pipeline = try defaultPipeline()
        var model = Self.smallFirst()
        model.weights["contrast"] = 1
        pipeline.candidates.prerank = model
        #expect(throws: PipelineError.invalid(
            name: "cxr-nodules",
            reason: "candidates.prerank may use only features known before measurement: log_response, blobness, scale_diameter_mm, lung_depth_mm")) {
            try pipeline.validate()
        }
        model = Self.smallFirst()
        model.kind = "perceptron"
        pipeline.candidates.prerank = model
        #expect(throws: PipelineError.self) { try pipeline.validate() }
        // The checks every score model gets apply to the pre-rank too.
        model = Self.smallFirst()
        model.transforms?["log_response"] = "sqrt"
        pipeline.candidates.prerank = model
        #expect(throws: PipelineError.invalid(name: "cxr-nodules", reason: "candidates.prerank.transforms: unknown transform 'sqrt'")) {
            try pipeline.validate()
        }
        // The shipped definition carries one, and it uses blob-stage features only.
        let shipped = try #require(try defaultPipeline().candidates.prerank)
        #expect(Set(shipped.weights.keys).isSubset(of: NoduleFeatures.blobStageNames))
    }
}

@Suite("Lung field")
struct LungFieldTests {
    /// IoU of a lung field against a truth predicate given in input pixels (sampled at grid centres).
    static func iou(_ field: LungField, inputWidth: Int, inputHeight: Int, truth: (Double, Double) -> Bool) -> Double {
        var intersection = 0, union = 0
        let sx = Double(inputWidth) / Double(field.width), sy = Double(inputHeight) / Double(field.height)
        for y in 0..<field.height {
            for x in 0..<field.width {
                let inTruth = truth((Double(x) + 0.5) * sx - 0.5, (Double(y) + 0.5) * sy - 0.5)
                let mine = field.mask[y * field.width + x] != 0
                if inTruth && mine { intersection += 1 }
                if inTruth || mine { union += 1 }
            }
        }
        return Double(intersection) / Double(max(union, 1))
    }

    static func simpleChest() -> SyntheticChest {
        var chest = SyntheticChest()
        chest.nodules = [(300, 300, 14, 500), (640, 700, 20, 600)]  // bright holes must be filled
        chest.noiseSD = 20
        return chest
    }

    @Test("the threshold method's mask of a simple phantom reaches IoU ≥ 0.9")
    func thresholdMaskIoU() throws {
        var pipeline = try defaultPipeline()
        pipeline.lungField.pixelClassifier = nil
        let chest = Self.simpleChest()
        let field = NoduleDetector(pipeline: pipeline).detect(chest.radiograph()).lungField
        #expect(field.lungCount == 2)
        let iou = Self.iou(field, inputWidth: chest.width, inputHeight: chest.height, truth: chest.lungContains)
        #expect(iou >= 0.9, "IoU \(iou)")
    }

    /// The simple phantom (no outside air, no mediastinum, a uniform body) is far from what the
    /// classifier was fitted on; it still finds both lungs (measured IoU 0.84 when fitted).
    @Test("the pixel classifier's mask of a simple phantom reaches IoU ≥ 0.8")
    func classifierMaskIoU() throws {
        let pipeline = try defaultPipeline()
        try #require(pipeline.lungField.pixelClassifier != nil)
        let chest = Self.simpleChest()
        let field = NoduleDetector(pipeline: pipeline).detect(chest.radiograph()).lungField
        #expect(field.lungCount == 2 && field.source == .segmented)
        let iou = Self.iou(field, inputWidth: chest.width, inputHeight: chest.height, truth: chest.lungContains)
        #expect(iou >= 0.8, "IoU \(iou)")
    }

    /// The opt-in definition whose lung field comes from a network (`lung_field.network`).
    static func lungNetworkPipeline() throws -> PipelineDefinition {
        let pipeline = try PipelineDefinition.decode(path: Fixtures.repositoryRoot() + "/Pipelines/cxr-nodules-lungnet.json")
        try #require(pipeline.lungField.network != nil)
        return pipeline
    }

    /// The simple phantom is unlike the lung network's training phantoms too; it still finds both lungs
    /// (measured IoU 0.873 when fitted; the classifier's 0.84).
    @Test("the lung network's mask of a simple phantom reaches IoU ≥ 0.85")
    func networkMaskIoU() throws {
        let chest = Self.simpleChest()
        let field = NoduleDetector(pipeline: try Self.lungNetworkPipeline()).detect(chest.radiograph()).lungField
        #expect(field.method == .network && field.lungCount == 2 && field.source == .segmented)
        let iou = Self.iou(field, inputWidth: chest.width, inputHeight: chest.height, truth: chest.lungContains)
        #expect(iou >= 0.85, "IoU \(iou)")
    }

    /// Every generator's committed CI phantoms (none used in fitting), the lung network against the default
    /// pipeline's pixel classifier. Measured when adopted, mean (lowest) IoU, network against classifier: ours 0.950
    /// (0.895) against 0.892; B 0.966 (0.956) against 0.886; C 0.943 (0.922) against 0.906; D 0.961 (0.946) against
    /// 0.821; E, a generator no fit has seen, 0.865 (0.760) against 0.690. Floors sit a little below, so a
    /// regression fails CI; on E the network must stay well above the classifier.
    @Test("on every generator's CI phantoms the lung network reaches its IoU floors, and beats the classifier on the unseen one",
          arguments: [("phantom", (mean: 0.93, each: 0.87)), ("phantom-b", (mean: 0.94, each: 0.93)), ("phantom-c", (mean: 0.92, each: 0.90)),
                     ("phantom-d", (mean: 0.94, each: 0.92)), ("phantom-e", (mean: 0.83, each: 0.73))])
    func lungNetworkOnEveryGenerator(_ generator: String, floors: (mean: Double, each: Double)) throws {
        let fields = try Self.lungFieldsOnPhantoms(folder: Fixtures.repositoryRoot() + "/Data/\(generator)/ci",
                                                   definitions: [try Self.lungNetworkPipeline(), try defaultPipeline()])
        #expect(fields.allSatisfy { $0[0].method == .network }, "\(generator): \(fields.map { $0[0].method })")
        let network = fields.map { $0[0].iou }, classifier = fields.map { $0[1].iou }
        try #require(network.count >= 6)
        let mean = network.reduce(0, +) / Double(network.count)
        let classifierMean = classifier.reduce(0, +) / Double(classifier.count)
        #expect(mean >= floors.mean && network.allSatisfy { $0 >= floors.each },
                "\(generator) network IoU \(network) (mean \(mean)), classifier \(classifier) (mean \(classifierMean))")
        if generator == "phantom-e" {
            #expect(mean >= classifierMean + 0.1, "network \(mean) vs classifier \(classifierMean)")
        }
    }

    /// A lung network that leaves both sides without a plausible lung (its output layer says "not lung"
    /// everywhere: weights 0, bias −20) is backed by the threshold method, which is then used and named.
    @Test func aLungNetworkThatFindsNoLungFallsBackToTheThresholdMethod() throws {
        var pipeline = try Self.lungNetworkPipeline()
        let network = try #require(pipeline.lungField.network)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(network)) as? [String: Any])
        var layers = try #require(object["layers"] as? [String: Any])
        var output = try #require(layers["out"] as? [String: Any])
        output["weight"] = [Double](repeating: 0, count: try #require(output["in"] as? Int))  // a 1 × 1 kernel: one per input
        output["bias"] = [-20.0]
        layers["out"] = output
        object["layers"] = layers
        pipeline.lungField.network = try NoduleHeatmapNetwork(json: JSONSerialization.data(withJSONObject: object))
        let chest = Self.simpleChest()
        let result = NoduleDetector(pipeline: pipeline).detect(chest.radiograph())
        #expect(result.lungField.method == .threshold && result.lungField.lungCount == 2)
        #expect(result.warnings.contains { $0.contains("lung network found fewer lungs") })
    }

    @Test("a lung network of an implausible spacing is rejected when the pipeline loads")
    func lungNetworkSpacingIsValidated() throws {
        var pipeline = try Self.lungNetworkPipeline()
        let network = try #require(pipeline.lungField.network)
        var object = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(network)) as? [String: Any])
        object["spacing_mm"] = 0.5
        pipeline.lungField.network = try NoduleHeatmapNetwork(json: JSONSerialization.data(withJSONObject: object))
        do {
            try pipeline.validate()
            Issue.record("a 0.5 mm/px lung network was accepted")
        } catch let PipelineError.invalid(_, reason) {
            #expect(reason.contains("lung_field.network.spacing_mm"))
        }
    }

    private struct MaskTruth: Decodable {
        struct Image: Decodable {
            var path: String
            var lung_mask: String
        }
        var images: [Image]
    }

    /// The committed CI phantoms (not used in fitting) with their truth lung masks: the default
    /// pipeline's classifier measured mean IoU 0.90 (each ≥ 0.83) when fitted, the threshold
    /// method 0.50. Thresholds sit a little below, so a regression fails CI.
    @Test("on the CI phantoms the classifier's lung field reaches mean IoU ≥ 0.85, each ≥ 0.75, above the threshold method's")
    func classifierBeatsThresholdOnPhantoms() throws {
        let pipeline = try defaultPipeline()
        var threshold = pipeline
        threshold.lungField.pixelClassifier = nil
        let fields = try Self.lungFieldsOnPhantoms(folder: Fixtures.repositoryRoot() + "/Data/phantom/ci",
                                                   definitions: [pipeline, threshold])
        let classifierIoU = fields.map { $0[0].iou }, thresholdIoU = fields.map { $0[1].iou }
        try #require(classifierIoU.count == 8)
        let mean = classifierIoU.reduce(0, +) / Double(classifierIoU.count)
        #expect(mean >= 0.85, "classifier IoU \(classifierIoU)")
        #expect(classifierIoU.allSatisfy { $0 >= 0.75 }, "classifier IoU \(classifierIoU)")
        #expect(zip(classifierIoU, thresholdIoU).allSatisfy { $0 > $1 }, "classifier \(classifierIoU) vs threshold \(thresholdIoU)")
    }

    /// Per image of a committed phantom set with truth lung masks, per definition: the lung field's
    /// IoU with the truth mask and the method that made it.
    private static func lungFieldsOnPhantoms(folder: String, definitions: [PipelineDefinition]) throws
        -> [[(iou: Double, method: LungField.Method)]] {
        let truth = try JSONDecoder().decode(MaskTruth.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/truth.json")))
        let reader = RadiographReader()
        return try truth.images.map { image in
            let radiograph = try reader.read(contentsOf: folder + "/" + image.path)
            let mask = try reader.read(contentsOf: folder + "/" + image.lung_mask)
            #expect(mask.width == radiograph.width && mask.height == radiograph.height)
            func inMask(_ x: Double, _ y: Double) -> Bool {
                let ix = min(max(Int(x.rounded()), 0), mask.width - 1), iy = min(max(Int(y.rounded()), 0), mask.height - 1)
                return mask[ix, iy] > 0
            }
            return definitions.map { definition in
                let normalised = NormalisedRadiograph(radiograph, parameters: definition.normalisation,
                                                      measureSpacingMM: definition.measurement.measureSpacingMM)
                let field = LungField(working: normalised.working, workingSpacingMM: normalised.workingSpacingMM,
                                      parameters: definition.lungField)
                return (Self.iou(field, inputWidth: radiograph.width, inputHeight: radiograph.height, truth: inMask), field.method)
            }
        }
    }

    /// The other generators' committed CI phantoms (`Data/phantom-b/ci`, `Data/phantom-c/ci`,
    /// `Data/phantom-d/ci`, `Data/phantom-e/ci`: 6 images each, written independently of our generator from the
    /// specification alone, and downsampled 3× by `Data/phantom/downsample_set.py`; not used in
    /// fitting). The 0.11.0 classifier, fitted on our generator only, measured mean IoU 0.72 (B)
    /// and 0.83 (C) here; 0.12.0's, fitted on three generators, 0.90 (B) and 0.91 (C) but
    /// 0.69 on D (one image 0.24), whose images it had not seen (collimation borders, grid lines, band
    /// processing, one image with almost no lung contrast); 0.13.0's, fitted on all four
    /// generators' training seeds, 0.89 (B), 0.91 (C) and 0.82 (D; the low-contrast image 0.47). The thresholds sit between, so a
    /// return to fewer generators' quirks fails CI. `Data/phantom-e/ci` is from a generator no fit has seen (its lungs reach
    /// the body edge with almost no chest wall): 0.13.0 measures mean 0.69, lowest 0.62 there, and a classifier refitted
    /// with E's training seed 0.875 (not adopted: it found fewer nodules, README); its floors guard against a regression
    /// on unseen anatomy.
    @Test("on the other generators' CI phantoms the classifier's lung field reaches its mean and per-image IoU floors",
          arguments: [("phantom-b", 0.85, 0.80), ("phantom-c", 0.85, 0.80), ("phantom-d", 0.78, 0.40), ("phantom-e", 0.62, 0.55)])
    func classifierOnOtherGenerators(_ generator: String, meanFloor: Double, eachFloor: Double) throws {
        let fields = try Self.lungFieldsOnPhantoms(folder: Fixtures.repositoryRoot() + "/Data/\(generator)/ci",
                                                   definitions: [try defaultPipeline()])
        #expect(fields.allSatisfy { $0[0].method == .classifier }, "\(generator): \(fields.map { $0[0].method })")
        let values = fields.map { $0[0].iou }
        try #require(values.count == 6)
        let mean = values.reduce(0, +) / Double(values.count)
        #expect(mean >= meanFloor, "\(generator) classifier IoU \(values)")
        #expect(values.allSatisfy { $0 >= eachFloor }, "\(generator) classifier IoU \(values)")
    }

    /// A classifier that leaves a side without a plausible lung (here: one that never says lung)
    /// is backed by the threshold method, which is then used and named in the warnings.
    @Test func aClassifierThatFindsNoLungFallsBackToTheThresholdMethod() throws {
        var pipeline = try defaultPipeline()
        var classifier = try #require(pipeline.lungField.pixelClassifier)
        classifier.outputWeights = classifier.outputWeights.map { _ in 0 }
        classifier.outputBias = -10
        pipeline.lungField.pixelClassifier = classifier
        let chest = Self.simpleChest()
        let result = NoduleDetector(pipeline: pipeline).detect(chest.radiograph())
        #expect(result.lungField.method == .threshold && result.lungField.lungCount == 2)
        #expect(result.warnings.contains { $0.contains("threshold method, which was used instead") })
        let iou = Self.iou(result.lungField, inputWidth: chest.width, inputHeight: chest.height, truth: chest.lungContains)
        #expect(iou >= 0.9, "IoU \(iou)")
        // The default classifier finds both lungs itself.
        let own = NoduleDetector(pipeline: try defaultPipeline()).detect(chest.radiograph())
        #expect(own.lungField.method == .classifier && !own.warnings.contains { $0.contains("threshold method") })
    }

    /// Probabilities follow the documented arithmetic: standardise, ReLU hidden layer, logistic output.
    @Test func classifierArithmetic() throws {
        let n = LungPixelFeatures.names.count
        // Eleven pixels (one block of eight lanes and a remainder of three): feature k of
        // pixel p is 0.3·p − 1 + k/10.
        let pixels = 11
        func feature(_ p: Int, _ k: Int) -> Float { Float(p) * 0.3 - 1 + Float(k) / 10 }
        let features = LungPixelFeatures(width: pixels, height: 1, spacingMM: 2,
                                         values: (0..<pixels).flatMap { p in (0..<n).map { feature(p, $0) } })
        var hidden = [[Double]](repeating: [Double](repeating: 0, count: n), count: 2)
        hidden[0][4] = 2      // unit 0: 2·z(g2) + 1
        hidden[1][0] = -1     // unit 1: −z(x_signed) − 0.5 (active for the first pixels, cut by the ReLU from x_signed > −0.5)
        let classifier = LungPixelClassifier(
            features: LungPixelFeatures.names, means: [Double](repeating: 0.5, count: n), scales: [Double](repeating: 2, count: n),
            hiddenWeights: hidden, hiddenBias: [1, -0.5], outputWeights: [1.5, 3], outputBias: -1, threshold: 0.5, fittedOn: "test")
        #expect(classifier.isConsistent)
        let p = classifier.probabilities(features)
        #expect(p.count == pixels)
        for pixel in 0..<pixels {
            let g2 = Double(feature(pixel, 4)), x = Double(feature(pixel, 0))
            let unit0 = max(0, 2 * (g2 - 0.5) / 2 + 1), unit1 = max(0, -(x - 0.5) / 2 - 0.5)
            let expected = 1 / (1 + exp(-(1.5 * unit0 + 3 * unit1 - 1)))
            #expect(abs(Double(p[pixel]) - expected) < 1e-5, "pixel \(pixel): \(p[pixel]) vs \(expected)")
        }
    }

    @Test("a classifier whose shapes do not match the features is rejected when the pipeline loads")
    func inconsistentClassifierIsInvalid() throws {
        var pipeline = try defaultPipeline()
        var classifier = try #require(pipeline.lungField.pixelClassifier)
        classifier.means.removeLast()
        pipeline.lungField.pixelClassifier = classifier
        #expect(throws: PipelineError.self) { try pipeline.validate() }
        do { try pipeline.validate() } catch let PipelineError.invalid(_, reason) {
            #expect(reason.contains("lung_field.pixel_classifier"))
        }
    }
}

@Suite("Score model")
struct ScoreModelTests {
    static let features = NoduleFeatures(contrast: 0.2, contrastToNoise: 4, blobness: 0.7, logResponse: 0.05,
                                         scaleDiameterMM: 12, circularity: 0.8, longAxisMM: 13, shortAxisMM: 11,
                                         lungDepthMM: 55, insideLung: 1, sphereFit: 0.97, convergence: 0.6, fitResidual: 0.3)

    /// Kind `perceptron`: the logit is the intercept plus the linear and quadratic terms plus
    /// each ReLU unit's output weight times its activation, on transformed, standardised features.
    @Test func perceptronArithmetic() throws {
        let hidden = PipelineDefinition.ScoreModel.HiddenLayer(
            inputs: ["contrast", "lung_depth_mm"], weights: [[1.5, 0.5], [-2, 1]], bias: [0.25, -3], outputWeights: [2, 4])
        var model = PipelineDefinition.ScoreModel(
            kind: "perceptron", intercept: -1, weights: ["circularity": 0.5], means: ["contrast": -2, "lung_depth_mm": 10, "circularity": 0.5],
            scales: ["contrast": 0.5, "lung_depth_mm": 20, "circularity": 0.1], quadraticWeights: nil,
            transforms: ["contrast": "log", "lung_depth_mm": "clamp40"], hidden: hidden, fittedOn: "test")
        let zContrast = (log(0.2) + 2) / 0.5, zDepth = (40.0 - 10) / 20, zCircularity = (0.8 - 0.5) / 0.1
        let unit0 = max(0, 0.25 + 1.5 * zContrast + 0.5 * zDepth), unit1 = max(0, -3 - 2 * zContrast + zDepth)
        let logit = -1 + 0.5 * zCircularity + 2 * unit0 + 4 * unit1
        #expect(unit0 > 0 && unit1 == 0)  // one unit active, one clipped
        #expect(abs(model.probability(Self.features) - 1 / (1 + exp(-logit))) < 1e-12)
        // Without the hidden layer it is the logistic model.
        model.hidden = nil
        #expect(abs(model.probability(Self.features) - 1 / (1 + exp(-(-1 + 0.5 * zCircularity)))) < 1e-12)
    }

    @Test("kind and hidden layer must agree, and the layer's sizes and names must be right")
    func perceptronValidation() throws {
        var pipeline = try defaultPipeline()
        let hidden = try #require(pipeline.score.hidden, "the default pipeline's score is a perceptron")
        #expect(pipeline.score.kind == "perceptron")
        try pipeline.validate()
        var wrong = pipeline
        wrong.score.kind = "logistic"
        #expect(throws: PipelineError.self) { try wrong.validate() }
        wrong = pipeline
        wrong.score.hidden?.bias.removeLast()
        #expect(throws: PipelineError.self) { try wrong.validate() }
        wrong = pipeline
        wrong.score.hidden?.inputs[0] = "no_such_feature"
        #expect(throws: PipelineError.self) { try wrong.validate() }
        pipeline.score.hidden = nil
        pipeline.score.kind = "logistic"
        try pipeline.validate()
        #expect(hidden.weights.count == hidden.outputWeights.count)
    }
}

@Suite("Detector")
struct DetectorTests {
    /// One thread segments the lung field before filtering and tests maxima as they are found; more
    /// segment it on a thread of its own while the scale space is filtered, and test the maxima after.
    @Test("identical results with 1, 2 and 3 threads")
    func determinism() throws {
        let pipeline = try defaultPipeline()
        var chest = SyntheticChest()
        chest.nodules = [(300, 350, 9, 250), (700, 600, 16, 300)]
        chest.noiseSD = 25
        let radiograph = chest.radiograph()
        let one = NoduleDetector(pipeline: pipeline, threads: 1).detect(radiograph).record(for: radiograph)
        let two = NoduleDetector(pipeline: pipeline, threads: 2).detect(radiograph).record(for: radiograph)
        let three = NoduleDetector(pipeline: pipeline, threads: 3).detect(radiograph).record(for: radiograph)
        #expect(one == two && one == three)
        #expect(!one.nodules.isEmpty)
        #expect(one.nodules.allSatisfy { $0.features.heatmap != nil })   // the default's map took part
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

    @Test("a spacing that is too coarse, or that makes the chest implausibly large or small, is flagged")
    func geometryWarnings() throws {
        var pipeline = try defaultPipeline()
        // A definition before 0.16.0 uses every stated spacing, so its extent is questioned in words only.
        pipeline.normalisation.plausibleImageExtentMM = nil
        func warnings(_ spacingMM: Double, side: Int) -> [String] {
            var chest = SyntheticChest()
            chest.width = side
            chest.height = side
            chest.lungs = [(0.32 * Double(side), 0.47 * Double(side), 0.165 * Double(side), 0.32 * Double(side)),
                           (0.68 * Double(side), 0.47 * Double(side), 0.165 * Double(side), 0.32 * Double(side))]
            chest.spacingMM = spacingMM
            let radiograph = chest.radiograph()
            let normalised = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation,
                                                  measureSpacingMM: pipeline.measurement.measureSpacingMM)
            return NoduleDetector.geometryWarnings(normalised, workingSpacingMM: pipeline.normalisation.workingSpacingMM,
                                                   minimumDiameterMM: pipeline.candidates.minimumDiameterMM)
        }
        // 1000 px at 0.35 mm: 350 mm, finer than the working spacing: nothing to say.
        #expect(warnings(0.35, side: 1000).isEmpty)
        // 250 px at 1.4 mm (350 mm): detection runs at 1.4 mm/px; 5 mm at 0.7 mm/px is 7.1 px, 10 mm here.
        let coarse = warnings(1.4, side: 250)
        #expect(coarse == ["pixel spacing 1.4 mm/px is coarser than the working spacing 0.7 mm/px: detection ran at 1.4 mm/px, "
                           + "and nodules under about 10 mm may be missed"], "\(coarse)")
        // 2000 px at 0.02 mm (40 mm: a pHYs in the wrong unit), and 1000 px at 1.3 mm (1300 mm).
        #expect(warnings(0.02, side: 2000) == ["the image spans 40 × 40 mm by its pixel spacing, where a chest radiograph spans "
                                                + "about 350–430 mm: the spacing is most likely wrong, and so is every size in mm"])
        #expect(warnings(1.3, side: 1000).count == 2)
        // Unknown spacing: the assumed value's extent is not questioned (that warning is its own), but
        // a coarse one is: 200 px taken for 385 mm is 1.925 mm/px.
        var chest = SyntheticChest()
        chest.width = 200
        chest.height = 200
        var radiograph = chest.radiograph()
        radiograph.pixelSpacing = nil
        let normalised = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation,
                                              measureSpacingMM: pipeline.measurement.measureSpacingMM)
        #expect(NoduleDetector.geometryWarnings(normalised, workingSpacingMM: 0.7, minimumDiameterMM: 5)
                == ["the assumed pixel spacing 1.925 mm/px is coarser than the working spacing 0.7 mm/px: detection ran at "
                    + "1.925 mm/px, and nodules under about 13.8 mm may be missed"])
        chest.width = 1000
        chest.height = 1000
        radiograph = chest.radiograph()
        radiograph.pixelSpacing = nil
        let full = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation,
                                        measureSpacingMM: pipeline.measurement.measureSpacingMM)
        #expect(NoduleDetector.geometryWarnings(full, workingSpacingMM: 0.7, minimumDiameterMM: 5).isEmpty)
    }

    @Test("a stated spacing that makes the chest implausibly large or small is not used: the image is read as if it stated none")
    func implausibleSpacingRejected() throws {
        let pipeline = try defaultPipeline()
        #expect(pipeline.normalisation.plausibleImageExtentMM == [100, 1000])
        var chest = SyntheticChest()
        chest.nodules = [(700, 600, 16, 300)]
        var none = chest.radiograph()
        none.pixelSpacing = nil
        let unknown = NoduleDetector(pipeline: pipeline).detect(none)
        // 1000 px at 0.02 mm (20 mm: a pHYs in the wrong unit) and at 1.1 mm (1100 mm: a default such as DICOM's 1\\1).
        for (stated, span) in [(0.02, 20), (1.1, 1100)] {
            var radiograph = chest.radiograph()
            radiograph.pixelSpacing = PixelSpacing(row: stated, column: stated, source: .formatTag("PNG pHYs"))
            let result = NoduleDetector(pipeline: pipeline).detect(radiograph)
            #expect(result.normalised.spacingAssumed)
            #expect(result.normalised.rejectedExtentMM?.map { $0.rounded() } == [Double(span), Double(span)])
            #expect(result.candidates == unknown.candidates)
            #expect(result.candidates.allSatisfy { $0.diameterMM == nil })
            #expect(result.warnings.first == "pixel spacing \(stated) × \(stated) mm (tag:PNG pHYs) makes the image span \(span) × \(span) mm, "
                    + "where a chest radiograph spans about 350–430 mm: taken for wrong and not used; detection assumed 0.385 mm/px "
                    + "(the image taken to span 385 mm, the geometric mean of its sides); no mm figures reported", "\(result.warnings)")
            let record = result.record(for: radiograph)
            #expect(record.pixelSpacingMM == stated)  // what the file states, as always
            #expect(record.nodules.allSatisfy { $0.diameterMM == nil })
        }
        // At the edges of the range the stated spacing is used.
        for stated in [0.1, 1.0] {
            let inUse = pipeline.normalisation.spacingInUse(statedRowMM: stated, statedColumnMM: stated, width: 1000, height: 1000)
            #expect(inUse == PipelineDefinition.SpacingInUse(rowMM: stated, columnMM: stated, isAssumed: false, rejectedExtentMM: nil))
        }
        // One side out of range is enough (1000 × 400 px at 1.25 × 2 mm: 1250 × 800 mm).
        let oneSide = pipeline.normalisation.spacingInUse(statedRowMM: 2, statedColumnMM: 1.25, width: 1000, height: 400)
        #expect(oneSide.isAssumed && oneSide.rejectedExtentMM == [1250, 800])
        #expect(oneSide.rowMM == 385 / (1000.0 * 400).squareRoot())
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

    @Test("a file without a spacing is taken to span the definition's extent; a fixed-spacing definition keeps its meaning and its JSON")
    func assumedSpacing() throws {
        var definition = try defaultPipeline()
        #expect(definition.normalisation.spacingAssumption == .imageExtent(mm: 385))
        #expect(abs(definition.normalisation.assumedSpacing(width: 1000, height: 1000) - 0.385) < 1e-12)
        #expect(abs(definition.normalisation.assumedSpacing(width: 2000, height: 500) - 0.385) < 1e-12)
        #expect(abs(definition.normalisation.assumedSpacing(width: 2048, height: 2048) - 385.0 / 2048) < 1e-12)
        #expect(definition.normalisation.assumedSpacingDescription(width: 1024, height: 1024)
                == "0.376 mm/px (the image taken to span 385 mm, the geometric mean of its sides)")

        // Definitions before 0.16.0 name a fixed spacing; their canonical JSON (so their digest) has no new key.
        definition.normalisation.spacingAssumption = .fixedSpacing(mm: 0.175)
        try definition.validate()
        #expect(definition.normalisation.assumedSpacing(width: 1024, height: 1024) == 0.175)
        #expect(definition.normalisation.assumedSpacingDescription(width: 1024, height: 1024) == "0.175 mm/px")
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        definition.normalisation.plausibleImageExtentMM = nil
        let written = try #require(try JSONSerialization.jsonObject(with: encoder.encode(definition.normalisation)) as? [String: Any])
        #expect(Set(written.keys) == ["assumed_spacing_mm", "lower_percentile", "upper_percentile", "working_spacing_mm"])
        #expect(try JSONDecoder().decode(PipelineDefinition.Normalisation.self, from: encoder.encode(definition.normalisation))
                == definition.normalisation)
        #expect(definition.normalisation.spacingInUse(statedRowMM: 0.02, statedColumnMM: 0.02, width: 1000, height: 1000)
                == PipelineDefinition.SpacingInUse(rowMM: 0.02, columnMM: 0.02, isAssumed: false, rejectedExtentMM: nil))

        definition.normalisation.spacingAssumption = .imageExtent(mm: 20)
        #expect(throws: PipelineError.invalid(name: "cxr-nodules", reason: "normalisation.assumed_image_extent_mm must be in [50, 1000]")) {
            try definition.validate()
        }
        definition.normalisation.spacingAssumption = .imageExtent(mm: 385)
        definition.normalisation.plausibleImageExtentMM = [1000, 100]
        #expect(throws: PipelineError.invalid(name: "cxr-nodules",
                                              reason: "normalisation.plausible_image_extent_mm must be [lower, upper] with 0 < lower < upper")) {
            try definition.validate()
        }
    }

    /// No built-in spacing stands in: a definition file naming neither or both of the two keys
    /// is refused when read, so no definition without one exists to reach detection.
    @Test("a definition must name exactly one assumed spacing", arguments: [[], ["assumed_spacing_mm", "assumed_image_extent_mm"]])
    func assumedSpacingIsRequired(keys: [String]) throws {
        let shipped = try #require(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: Fixtures.repositoryRoot() + "/Pipelines/cxr-nodules.json"))) as? [String: Any])
        var root = shipped
        var normalisation = try #require(root["normalisation"] as? [String: Any])
        normalisation["assumed_spacing_mm"] = nil
        normalisation["assumed_image_extent_mm"] = nil
        for key in keys { normalisation[key] = key == "assumed_spacing_mm" ? 0.175 : 385 }
        root["normalisation"] = normalisation
        let path = Fixtures.temporaryDirectory("pipelines") + "/assumption.json"
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        #expect(throws: PipelineError.malformed(path: path, reason: "normalisation needs exactly one of assumed_spacing_mm and assumed_image_extent_mm")) {
            try PipelineDefinition.decode(path: path)
        }
        // The same file with exactly one key is read.
        normalisation["assumed_image_extent_mm"] = keys.isEmpty ? 385 : nil
        root["normalisation"] = normalisation
        try JSONSerialization.data(withJSONObject: root).write(to: URL(fileURLWithPath: path))
        #expect(try PipelineDefinition.decode(path: path).normalisation.spacingAssumption
                == (keys.isEmpty ? .imageExtent(mm: 385) : .fixedSpacing(mm: 0.175)))
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
