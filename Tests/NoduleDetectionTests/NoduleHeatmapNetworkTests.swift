import Foundation
@testable import NoduleDetection
import ScaleSpace
import Testing
import TestSupport

/// The U-Net port against PyTorch: `heatmap-network-tiny.json` is a width-2 network with
/// random weights and random batch-norm statistics, exported with batch norm folded;
/// `heatmap-network-tiny-reference.json` holds a 37 × 45 input and PyTorch's logits for it
/// (eval mode, batch norm unfolded), both row-major.
@Suite("U-Net nodule heatmap network")
struct NoduleHeatmapNetworkTests {
    struct Reference: Decodable {
        var height: Int
        var width: Int
        var input: [Float]
        var logits: [Float]
    }

    static let networkPath = Fixtures.path("heatmap-network-tiny.json")

    static func network() throws -> NoduleHeatmapNetwork {
        try NoduleHeatmapNetwork(contentsOf: URL(fileURLWithPath: networkPath))
    }

    static func reference() throws -> Reference {
        let data = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("heatmap-network-tiny-reference.json")))
        return try JSONDecoder().decode(Reference.self, from: data)
    }

    static func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        return zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
    }

    static func randomImage(width: Int, height: Int, seed: UInt64) -> FloatImage {
        var rng = SeededRandomNumberGenerator(seed: seed)
        return FloatImage(width: width, height: height, values: (0..<width * height).map { _ in Float.random(in: -1...2, using: &rng) })
    }

    @Test("The tiny network loads with its width and spacing")
    func loads() throws {
        let network = try Self.network()
        #expect(network.width == 2)
        #expect(network.spacingMM == 1.0)
        #expect(network.normalisation?.upperPercentile == 99)
        #expect(try Self.network() == network)
    }

    @Test("Logits match PyTorch's within 1e-4, unbanded, in default bands and in bands of a row or two")
    func logitsMatchPyTorch() throws {
        let network = try Self.network(), reference = try Self.reference()
        #expect(reference.input.count == reference.width * reference.height && reference.logits.count == reference.input.count)
        let image = FloatImage(width: reference.width, height: reference.height, values: reference.input)
        for bands in [1 << 30, NoduleHeatmapNetwork.bandPixels, 64] {
            let logits = network.logits(image, bandPixels: bands)
            #expect(logits.width == reference.width && logits.height == reference.height)
            let difference = Self.maxAbsoluteDifference(logits.values, reference.logits)
            print("heatmap network, band \(bands) px: max |logit − PyTorch| = \(difference)")
            #expect(difference <= 1e-4, "band \(bands) px: max abs difference \(difference)")
        }
    }

    @Test("Probabilities are the logistic function of the logits, strictly inside (0, 1)")
    func probabilitiesAreSigmoidOfLogits() throws {
        let network = try Self.network(), reference = try Self.reference()
        let image = FloatImage(width: reference.width, height: reference.height, values: reference.input)
        let logits = network.logits(image), probabilities = network.probabilities(image)
        #expect(probabilities.width == logits.width && probabilities.height == logits.height)
        for (p, z) in zip(probabilities.values, logits.values) {
            #expect(p == 1 / (1 + exp(-z)), "logit \(z)")
            #expect(p > 0 && p < 1, "logit \(z)")
        }
    }

    @Test("Odd and even sizes give an output of the input's size", arguments: [(45, 37), (32, 32), (8, 8), (9, 17), (64, 11)])
    func outputSizeEqualsInputSize(width: Int, height: Int) throws {
        let network = try Self.network()
        let logits = network.logits(Self.randomImage(width: width, height: height, seed: UInt64(width * 1000 + height)))
        #expect(logits.width == width && logits.height == height)
        #expect(logits.values.allSatisfy { $0.isFinite })
    }

    @Test("Two runs are bit-for-bit identical")
    func deterministic() throws {
        let network = try Self.network()
        let image = Self.randomImage(width: 131, height: 97, seed: 7)  // several bands per layer at full size
        #expect(network.logits(image).isBitwiseIdentical(to: network.logits(image)))
        #expect(network.probabilities(image).isBitwiseIdentical(to: network.probabilities(image)))
    }

    @Test("Any number of threads gives the one-thread logits bit for bit, in default and row-sized bands")
    func threadCountDoesNotChangeTheLogits() throws {
        let network = try Self.network()
        let image = Self.randomImage(width: 131, height: 97, seed: 11)
        for bands in [NoduleHeatmapNetwork.bandPixels, 131, 1 << 30] {
            let one = network.logits(image, bandPixels: bands, threads: 1)
            for threads in [2, 3, 8] {
                let many = network.logits(image, bandPixels: bands, threads: threads)
                #expect(many.isBitwiseIdentical(to: one), "band \(bands) px, \(threads) threads")
            }
        }
        let reference = try Self.reference()
        let referenceImage = FloatImage(width: reference.width, height: reference.height, values: reference.input)
        let difference = Self.maxAbsoluteDifference(network.logits(referenceImage, bandPixels: 64, threads: 2).values, reference.logits)
        #expect(difference <= 1e-4, "two threads: max abs difference from PyTorch \(difference)")
    }

    // MARK: Load errors

    /// The tiny network's JSON object, edited by `edit`, re-encoded.
    static func edited(_ edit: (inout [String: Any]) -> Void) throws -> Data {
        var object = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: networkPath))) as? [String: Any])
        edit(&object)
        return try JSONSerialization.data(withJSONObject: object)
    }

    static func editLayer(_ name: String, _ edit: @escaping (inout [String: Any]) -> Void) -> (inout [String: Any]) -> Void {
        { object in
            var layers = object["layers"] as! [String: Any]
            var layer = layers[name] as! [String: Any]
            edit(&layer)
            layers[name] = layer
            object["layers"] = layers
        }
    }

    @Test("The unedited JSON round trip still loads (the editing itself breaks nothing)")
    func roundTripLoads() throws {
        let network = try NoduleHeatmapNetwork(json: Self.edited { _ in })
        #expect(network == (try Self.network()))
    }

    @Test("A wrong format string is an unknown format")
    func wrongFormat() throws {
        let data = try Self.edited { $0["format"] = "nodulekit-unet-2" }
        #expect(throws: NoduleHeatmapNetwork.LoadError.unknownFormat("nodulekit-unet-2")) { try NoduleHeatmapNetwork(json: data) }
        let none = try Self.edited { $0["format"] = nil }
        #expect(throws: NoduleHeatmapNetwork.LoadError.unknownFormat("none")) { try NoduleHeatmapNetwork(json: none) }
    }

    @Test("A removed layer is reported by name")
    func missingLayer() throws {
        let data = try Self.edited { object in
            var layers = object["layers"] as! [String: Any]
            layers["d2.1"] = nil
            object["layers"] = layers
        }
        #expect(throws: NoduleHeatmapNetwork.LoadError.missingLayer("d2.1")) { try NoduleHeatmapNetwork(json: data) }
    }

    @Test("A weight array one value short, or wrong channels, is a layer shape error")
    func layerShape() throws {
        let short = try Self.edited(Self.editLayer("d3.0") { layer in
            layer["weight"] = Array((layer["weight"] as! [Any]).dropLast())
        })
        #expect(throws: NoduleHeatmapNetwork.LoadError.layerShape("d3.0", expected: "in 16, out 4, kernel 3, 576 weights, 4 biases",
                                                                  found: "in 16, out 4, kernel 3, 575 weights, 4 biases")) {
            try NoduleHeatmapNetwork(json: short)
        }
        let channels = try Self.edited(Self.editLayer("e2.0") { $0["in"] = 3 })
        #expect(throws: NoduleHeatmapNetwork.LoadError.layerShape("e2.0", expected: "in 2, out 4, kernel 3, 72 weights, 4 biases",
                                                                  found: "in 3, out 4, kernel 3, 72 weights, 4 biases")) {
            try NoduleHeatmapNetwork(json: channels)
        }
        let bias = try Self.edited(Self.editLayer("out") { $0["bias"] = [0.5, 0.5] })
        #expect(throws: NoduleHeatmapNetwork.LoadError.layerShape("out", expected: "in 2, out 1, kernel 1, 2 weights, 1 biases",
                                                                  found: "in 2, out 1, kernel 1, 2 weights, 2 biases")) {
            try NoduleHeatmapNetwork(json: bias)
        }
    }

    @Test("Malformed JSON, a missing field and a missing file are unreadable")
    func unreadable() throws {
        let whole = try Data(contentsOf: URL(fileURLWithPath: Self.networkPath))
        let inputs: [Data] = [
            whole.prefix(whole.count / 2),
            Data("not json".utf8),
            try Self.edited { $0["width"] = nil },
            try Self.edited { $0["width"] = "two" },
            try Self.edited(Self.editLayer("b.1") { $0["bias"] = nil }),
        ]
        for data in inputs {
            #expect {
                try NoduleHeatmapNetwork(json: data)
            } throws: { error in
                guard case .unreadable = error as? NoduleHeatmapNetwork.LoadError else { return false }
                return true
            }
        }
        #expect {
            try NoduleHeatmapNetwork(contentsOf: URL(fileURLWithPath: Fixtures.path("no-such-network.json")))
        } throws: { error in
            guard case .unreadable(let reason) = error as? NoduleHeatmapNetwork.LoadError else { return false }
            return reason.contains("no-such-network.json")
        }
    }

    /// Every layer's weight and bias arrays of the tiny network, as `f32le:` strings.
    static func packedLayers() throws -> Data {
        try edited { object in
            var layers = object["layers"] as! [String: Any]
            for (name, value) in layers {
                var layer = value as! [String: Any]
                for key in ["weight", "bias"] {
                    layer[key] = PackedFloats.string((layer[key] as! [NSNumber]).map(\.floatValue))
                }
                layers[name] = layer
            }
            object["layers"] = layers
        }
    }

    @Test("Packed weights give the same network, bit for bit, and the same canonical JSON, as number arrays")
    func packedWeights() throws {
        let packed = try NoduleHeatmapNetwork(json: Self.packedLayers()), plain = try Self.network()
        #expect(String(decoding: try Self.packedLayers(), as: UTF8.self).contains("\"f32le:"))
        #expect(packed == plain)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let canonical = try encoder.encode(plain)
        #expect(try encoder.encode(packed) == canonical)
        #expect(String(decoding: canonical, as: UTF8.self).contains("\"weight\":\"f32le:"), "written packed")
        // Written packed, read back: the same network again.
        #expect(try NoduleHeatmapNetwork(json: canonical) == plain)
    }

    @Test("Packing keeps every Float's bits: signed zero, subnormals, extremes, a NaN's payload")
    func packedFloatBits() throws {
        let values: [Float] = [0, -0.0, .leastNonzeroMagnitude, -.leastNormalMagnitude, .greatestFiniteMagnitude, -.infinity,
                               Float(bitPattern: 0x7FC0_1234), 0.492_062_7, -1.221_465]
        let text = PackedFloats.string(values)
        #expect(text.hasPrefix("f32le:"))
        let back = try #require(PackedFloats.values(text))
        #expect(back.map(\.bitPattern) == values.map(\.bitPattern))
        #expect(PackedFloats.values(PackedFloats.string([])) == [])
        // Little-endian on every host: 1.0 is 00 00 80 3F.
        #expect(PackedFloats.string([1]) == "f32le:" + Data([0, 0, 0x80, 0x3F]).base64EncodedString())
    }

    @Test("A packed array without its prefix, with broken base64 or a byte count not a multiple of four is unreadable")
    func packedWeightsMalformed() throws {
        let weights = (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Self.networkPath))) as! [String: Any])
        let d30 = ((weights["layers"] as! [String: Any])["d3.0"] as! [String: Any])["weight"] as! [NSNumber]
        let good = PackedFloats.string(d30.map(\.floatValue))
        let encoded = String(good.dropFirst("f32le:".count))
        let threeBytes = "f32le:" + Data([1, 2, 3]).base64EncodedString()
        for bad in [encoded, "f32le:" + encoded.dropLast(3) + "!!!", threeBytes, "f64le:" + encoded] {
            #expect(PackedFloats.values(bad) == nil, "\(bad.prefix(12))")
            let data = try Self.edited(Self.editLayer("d3.0") { $0["weight"] = bad })
            #expect {
                try NoduleHeatmapNetwork(json: data)
            } throws: { error in
                guard case .unreadable(let reason) = error as? NoduleHeatmapNetwork.LoadError else { return false }
                return reason.contains("f32le")
            }
        }
        // The good string loads: the failures above are the string's, not the editing's.
        #expect(try NoduleHeatmapNetwork(json: Self.edited(Self.editLayer("d3.0") { $0["weight"] = good })) == (try Self.network()))
    }
}
