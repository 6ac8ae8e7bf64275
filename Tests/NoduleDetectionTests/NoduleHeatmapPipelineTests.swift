import Foundation
@testable import NoduleDetection
import RadiographIO
import ScaleSpace
import Testing
import TestSupport

/// A pipeline definition's `heatmap`: how it is stored, checked, and how its map
/// re-ranks the reported candidates (``NoduleDetector``).
@Suite("Pipelines with a learned nodule map")
struct NoduleHeatmapPipelineTests {
    static let root = Fixtures.repositoryRoot()

    static func tinyNetwork(spacingMM: Double? = nil) throws -> NoduleHeatmapNetwork {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("heatmap-network-tiny.json")))
        guard let spacingMM else { return try NoduleHeatmapNetwork(json: data) }
        var object = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        object["spacing_mm"] = spacingMM
        return try NoduleHeatmapNetwork(json: JSONSerialization.data(withJSONObject: object))
    }

    static func defaultPipeline() throws -> PipelineDefinition {
        try PipelineDefinition.decode(path: root + "/Pipelines/cxr-nodules.json")
    }

    /// A constructed chest with three nodules and a ridge, 0.35 mm/px.
    static func chest() -> Radiograph {
        var chest = SyntheticChest(width: 700, height: 700, spacingMM: 0.35,
                                   lungs: [(220, 350, 130, 260), (480, 350, 130, 260)])
        chest.nodules = [(200, 250, 12, 300), (470, 420, 8, 200), (500, 200, 16, 150)]
        chest.ridges = [(230, 450, 0.6, 4, 250, 90)]
        chest.noiseSD = 8
        return chest.radiograph()
    }

    @Test("The default definition has no map and writes none")
    func defaultHasNone() throws {
        let pipeline = try Self.defaultPipeline()
        #expect(pipeline.heatmap == nil)
        let json = try #require(String(data: try JSONEncoder().encode(pipeline), encoding: .utf8))
        #expect(!json.contains("\"heatmap\""))
    }

    @Test("cxr-nodules-heatmap loads, embeds a 16-wide network at 1.5 mm/px (no sizing from the map), and round-trips with its digest")
    func shippedDefinition() throws {
        let pipeline = try PipelineDefinition.load(Self.root + "/Pipelines/cxr-nodules-heatmap.json")
        let heatmap = try #require(pipeline.heatmap)
        #expect(pipeline.name == "cxr-nodules-heatmap")
        #expect(pipeline.version == "0.3.0")
        #expect(heatmap.network.width == 16 && heatmap.network.spacingMM == 1.5)
        #expect(heatmap.combine == "geometric-mean" && heatmap.windowFraction == 0.5 && heatmap.minimumWindowPx == 2)
        #expect(heatmap.resizeLogRatio == nil)
        // Trained on the training phantoms only: no evaluation set's seed in what it was fitted on.
        let fittedOn = try #require(heatmap.network.fittedOn)
        #expect(fittedOn.contains("--seed 5000") && fittedOn.contains("--seed 301"))
        #expect(!["eval3030", "eval4040", "eval11", "eval12", "eval13", "eval14", "eval16", "seed 2026"].contains { fittedOn.contains($0) })
        let again = try JSONDecoder().decode(PipelineDefinition.self, from: JSONEncoder().encode(pipeline))
        #expect(again == pipeline)
        #expect(again.stamp == pipeline.stamp)
        #expect(pipeline.stamp.digest != (try Self.defaultPipeline()).stamp.digest)
        // Everything but the map is the default definition's.
        var stripped = pipeline
        stripped.heatmap = nil
        let base = try Self.defaultPipeline()
        #expect(stripped.candidates == base.candidates && stripped.measurement == base.measurement
                && stripped.score == base.score && stripped.lungField == base.lungField && stripped.normalisation == base.normalisation)
    }

    @Test("A map re-ranks the reported candidates: same candidates, score = the map's peak, features carry it")
    func replaceReRanks() throws {
        let base = try Self.defaultPipeline()
        var mapped = base
        mapped.heatmap = .init(combine: "replace", windowFraction: 0.5, minimumWindowPx: 2, network: try Self.tinyNetwork())
        try mapped.validate()
        let radiograph = Self.chest()
        let plain = NoduleDetector(pipeline: base).detect(radiograph).candidates
        let ranked = NoduleDetector(pipeline: mapped).detect(radiograph).candidates
        #expect(!plain.isEmpty)
        #expect(ranked.count == plain.count)
        func key(_ c: NoduleCandidate) -> String { "\(c.x),\(c.y),\(c.diameterPx)" }
        #expect(Set(ranked.map(key)) == Set(plain.map(key)))
        #expect(plain.allSatisfy { $0.features.heatmap == nil })
        for c in ranked {
            let peak = try #require(c.features.heatmap)
            #expect(peak > 0 && peak < 1)
            #expect(c.score == peak)
        }
        #expect(zip(ranked, ranked.dropFirst()).allSatisfy { $0.score >= $1.score })
    }

    @Test("geometric-mean combines the map's peak with the score model's probability")
    func geometricMean() throws {
        let base = try Self.defaultPipeline()
        var mapped = base
        mapped.heatmap = .init(combine: "geometric-mean", windowFraction: 0.5, minimumWindowPx: 2, network: try Self.tinyNetwork())
        let radiograph = Self.chest()
        let plain = Dictionary(NoduleDetector(pipeline: base).detect(radiograph).candidates.map { ("\($0.x),\($0.y)", $0.score) },
                               uniquingKeysWith: max)
        let ranked = NoduleDetector(pipeline: mapped).detect(radiograph).candidates
        #expect(!ranked.isEmpty)
        for c in ranked {
            let probability = try #require(plain["\(c.x),\(c.y)"])
            let peak = try #require(c.features.heatmap)
            #expect(abs(c.score - (peak * probability).squareRoot()) < 1e-12)
        }
    }

    @Test("An unknown combine rule or a network finer than the working spacing is invalid")
    func validation() throws {
        var pipeline = try Self.defaultPipeline()
        pipeline.heatmap = .init(combine: "max", windowFraction: 0.5, minimumWindowPx: 2, network: try Self.tinyNetwork())
        #expect(throws: PipelineError.invalid(name: "cxr-nodules", reason: "heatmap.combine must be \"replace\" or \"geometric-mean\"")) {
            try pipeline.validate()
        }
        pipeline.heatmap = .init(combine: "replace", windowFraction: 0.5, minimumWindowPx: 2, network: try Self.tinyNetwork(spacingMM: 0.5))
        #expect(throws: PipelineError.invalid(name: "cxr-nodules",
                                              reason: "heatmap.network.spacing_mm must not be finer than normalisation.working_spacing_mm")) {
            try pipeline.validate()
        }
    }

    @Test("A network that fails its checks inside a definition is a decoding error naming the layer")
    func brokenEmbeddedNetwork() throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: Self.root + "/Pipelines/cxr-nodules.json"))
        var definition = try #require(JSONSerialization.jsonObject(with: data) as? [String: Any])
        let networkData = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("heatmap-network-tiny.json")))
        var network = try #require(JSONSerialization.jsonObject(with: networkData) as? [String: Any])
        var layers = try #require(network["layers"] as? [String: Any])
        layers["d2.1"] = nil
        network["layers"] = layers
        definition["heatmap"] = ["combine": "replace", "window_fraction": 0.5, "minimum_window_px": 2, "network": network]
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("heatmap-\(UUID().uuidString).json").path
        try JSONSerialization.data(withJSONObject: definition).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        #expect(throws: PipelineError.malformed(path: path, reason: "network layer 'd2.1' is missing")) {
            try PipelineDefinition.decode(path: path)
        }
    }

    @Test("No map for an image under 8 px a side at the network's spacing (the network would refuse it)")
    func tooThinForTheNetwork() throws {
        let pipeline = try Self.defaultPipeline()
        let network = try Self.tinyNetwork()
        for (height, expected) in [(5, false), (40, true)] {
            let radiograph = SyntheticChest(width: 600, height: height, spacingMM: 0.35, lungs: [(300, 2, 250, 30)]).radiograph()
            let normalised = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation,
                                                  measureSpacingMM: pipeline.measurement.measureSpacingMM)
            let map = NoduleHeatmap(normalised, network: network)
            #expect((map != nil) == expected, "600 × \(height) px: working \(normalised.working.width) × \(normalised.working.height)")
            if let map { #expect(map.probabilities.width == normalised.working.width && map.probabilities.height == normalised.working.height) }
        }
    }

    @Test("peakLocation's value is the largest in the square around the mapped position, nil off the map")
    func peak() {
        var values = [Float](repeating: 0.1, count: 20 * 10)
        values[4 * 20 + 6] = 0.9   // (x 6, y 4)
        values[8 * 20 + 15] = 0.7  // (x 15, y 8)
        let map = NoduleHeatmap(probabilities: FloatImage(width: 20, height: 10, values: values), spacingMM: 1, scale: (2, 2))
        // Input px (12.5, 8.5) is map px (6, 4).
        func peak(x: Double, y: Double, radius: Double) -> Double? { map.peakLocation(x: x, y: y, radius: radius)?.value }
        #expect(peak(x: 12.5, y: 8.5, radius: 0) == Double(Float(0.9)))
        #expect(peak(x: 16.5, y: 8.5, radius: 1) == Double(Float(0.1)))   // map x 8: 7…9, misses x 6
        #expect(peak(x: 16.5, y: 8.5, radius: 2) == Double(Float(0.9)))   // map x 6…10 reaches it
        #expect(peak(x: 30.5, y: 16.5, radius: 2) == Double(Float(0.7)))
        #expect(peak(x: -40, y: -40, radius: 2) == nil)
    }

    @Test("peakLocation finds where the peak lies; blobDiameter is the equivalent circle of the region above half of it")
    func peakLocationAndBlob() {
        // A 41 × 31 map: a disc of radius 6 px at (15, 12) valued 0.8 on 0.1, a 0.35 pixel touching it
        // (under half of 0.8, outside the blob) and a separate 0.9 spot far away (not connected).
        var values = [Float](repeating: 0.1, count: 41 * 31)
        var disc = 0
        for y in 0..<31 {
            for x in 0..<41 where (x - 15) * (x - 15) + (y - 12) * (y - 12) <= 36 {
                values[y * 41 + x] = 0.8
                disc += 1
            }
        }
        values[12 * 41 + 22] = 0.35
        values[25 * 41 + 36] = 0.9
        let map = NoduleHeatmap(probabilities: FloatImage(width: 41, height: 31, values: values), spacingMM: 1, scale: (1, 1))
        let located = map.peakLocation(x: 15, y: 12, radius: 3)
        #expect(located?.value == Double(Float(0.8)))
        #expect(located?.x == 12 && located?.y == 9)        // the first 0.8 in row order within the 7 × 7 square
        #expect(map.peakLocation(x: -50, y: -50, radius: 3) == nil)
        let diameter = map.blobDiameter(x: 15, y: 12, maximumRadius: 20)
        #expect(abs(diameter - 2 * (Double(disc) / Double.pi).squareRoot()) < 1e-12)
        #expect(abs(diameter - 12) < 1)                      // a 6 px radius disc
        // The search square bounds the region: radius 2 keeps a 5 × 5 square of the disc.
        #expect(abs(map.blobDiameter(x: 15, y: 12, maximumRadius: 2) - 2 * (25 / Double.pi).squareRoot()) < 1e-12)
        #expect(map.blobDiameter(x: 99, y: 0, maximumRadius: 5) == 0)
    }

    @Test("resize_log_ratio: outside (0, 3] is invalid; with it, positions and scores stand and sizes move toward the map blob's")
    func resizeFromTheMap() throws {
        let base = try Self.defaultPipeline()
        var mapped = base
        mapped.heatmap = .init(combine: "geometric-mean", windowFraction: 0.5, minimumWindowPx: 2, network: try Self.tinyNetwork())
        var resized = mapped
        for bad in [0.0, -1, 3.5] {
            resized.heatmap?.resizeLogRatio = bad
            #expect(throws: PipelineError.invalid(name: "cxr-nodules", reason: "heatmap.resize_log_ratio must be in (0, 3]")) {
                try resized.validate()
            }
        }
        resized.heatmap?.resizeLogRatio = 0.05
        try resized.validate()
        let radiograph = Self.chest()
        let plain = NoduleDetector(pipeline: mapped).detect(radiograph)
        let sized = NoduleDetector(pipeline: resized).detect(radiograph).candidates
        #expect(sized.count == plain.candidates.count && !sized.isEmpty)
        let map = try #require(NoduleHeatmap(plain.normalised, network: mapped.heatmap!.network))
        // The searched diameter range, input px (the detector's own bounds; 0.35 mm/px).
        let minimumPx = base.candidates.minimumDiameterMM * 0.8 / 0.35, maximumPx = base.candidates.maximumDiameterMM * 1.25 / 0.35
        var moved = 0
        for (old, new) in zip(plain.candidates, sized) {
            #expect(old.x == new.x && old.y == new.y && old.score == new.score && old.features == new.features)
            guard old.diameterPx != new.diameterPx else { continue }
            moved += 1
            let located = try #require(map.peakLocation(near: old, windowFraction: 0.5, minimumWindowPx: 2))
            let search = Int((base.candidates.maximumDiameterMM * 1.25 / 2 / map.spacingMM).rounded(.up))
            let blob = map.blobDiameter(x: located.x, y: located.y, maximumRadius: search) * (map.scale.x + map.scale.y) / 2
            #expect(abs(log(old.diameterPx / blob)) > 0.05)
            #expect(abs(log(new.diameterPx / blob)) <= 0.05 + 1e-9 || abs(new.diameterPx - blob) < 1e-9
                    || abs(new.diameterPx - minimumPx) < 1e-6 * minimumPx || abs(new.diameterPx - maximumPx) < 1e-6 * maximumPx, "\(old.diameterPx) → \(new.diameterPx), blob \(blob) px")
            #expect(new.diameterMM.map { abs($0 - new.diameterPx * 0.35) < 1e-6 * $0 } ?? false)
        }
        #expect(moved > 0)
        // Without the option, or with a ratio nothing exceeds, the sizes are the measurement's.
        resized.heatmap?.resizeLogRatio = 3
        #expect(NoduleDetector(pipeline: resized).detect(radiograph).candidates == plain.candidates)
    }
}

