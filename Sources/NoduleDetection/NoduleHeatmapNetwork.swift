import COpenBLAS
import Foundation
import ScaleSpace

/// A fully convolutional nodule-likelihood network (U-Net), run on OpenBLAS sgemm.
///
/// Trained offline in PyTorch and exported as `nodulekit-unet-1` JSON with batch
/// norm folded into the convolutions. The forward pass, for a single-channel
/// image of any size ≥ 8 × 8 px (odd sizes included):
///
///     e1 = block(x)        e2 = block(pool(e1))     e3 = block(pool(e2))   b = block(pool(e3))
///     d3 = block(cat(up(b), e3))   d2 = block(cat(up(d3), e2))   d1 = block(cat(up(d2), e1))
///     logits = conv1×1(d1)
///
/// `block` is two 3×3 convolutions (zero padding 1, stride 1, bias) each followed
/// by ReLU; `pool` is 2×2 max pooling, stride 2, dropping an odd last row or
/// column (PyTorch `MaxPool2d(2)`); `up` is bilinear resizing to the skip's exact
/// size with half-pixel centres (PyTorch `interpolate(mode: "bilinear",
/// align_corners: False)`); `cat` puts the upsampled channels first.
///
/// Each 3×3 convolution is an im2col copy and one `cblas_sgemm` (weights
/// out × (in·9) times columns (in·9) × pixels) per band of rows, with bias and
/// ReLU applied after. Bands bound the im2col buffer (in·9 × `bandPixels` floats)
/// and depend only on the image size, so results are bit-for-bit repeatable.
/// FeatureMapss are channel-major `[C][H][W]`. One OpenBLAS thread per call
/// (`BLASThreadPolicy`): callers parallelise across images.
public struct NoduleHeatmapNetwork: Sendable, Equatable {
    /// Why a network file cannot be used.
    public enum LoadError: Error, Equatable, Sendable, CustomStringConvertible {
        /// The file cannot be read, is not JSON, or lacks a required field (`reason`).
        case unreadable(String)
        /// The `format` field is not `nodulekit-unet-1` (the value found; "none" when absent).
        case unknownFormat(String)
        /// A layer the architecture needs is absent (its name, e.g. "d2.1").
        case missingLayer(String)
        /// A layer's in/out channels, kernel size or weight/bias counts disagree with the network's width.
        case layerShape(String, expected: String, found: String)

        public var description: String {
            switch self {
            case let .unreadable(reason): "network file unreadable: \(reason)"
            case let .unknownFormat(format): "network format '\(format)' is not \(NoduleHeatmapNetwork.format)"
            case let .missingLayer(name): "network layer '\(name)' is missing"
            case let .layerShape(name, expected, found): "network layer '\(name)': expected \(expected), found \(found)"
            }
        }
    }

    /// How training normalised the input, as recorded by the exporter. Not applied here.
    public struct Normalisation: Codable, Sendable, Equatable {
        public var centralFraction: Double?
        public var lowerPercentile: Double?
        public var upperPercentile: Double?

        enum CodingKeys: String, CodingKey {
            case centralFraction = "central_fraction"
            case lowerPercentile = "lower_percentile"
            case upperPercentile = "upper_percentile"
        }
    }

    /// The file format this type reads.
    public static let format = "nodulekit-unet-1"

    /// Channels of the first level (the levels have width, 2·width and 4·width).
    public let width: Int
    /// The pixel spacing the network expects its input at, mm/px.
    public let spacingMM: Double
    /// Input normalisation used in training, if the file records it.
    public let normalisation: Normalisation?
    /// The exporter's description of the architecture, if any.
    public let architecture: String?
    /// What the network was trained on, as the fitting tool recorded it.
    public let fittedOn: String?

    let encoder1: Block, encoder2: Block, encoder3: Block, bottleneck: Block
    let decoder3: Block, decoder2: Block, decoder1: Block
    let output: Layer

    /// Pixels per im2col band (whole rows, at least one). The width-16 model on 385 × 385 px
    /// took 140–150 ms with 512–1024 px bands, 165 ms with 2048, 210 ms with 8192 and
    /// 600 ms unbanded (2-core development machine): the band's columns stay in cache.
    static let bandPixels = 1024

    /// Decodes a `nodulekit-unet-1` file and checks every layer's in/out channels,
    /// kernel size and weight/bias counts against `width`.
    public init(json: Data) throws {
        let file: File
        do {
            file = try JSONDecoder().decode(File.self, from: json)
        } catch {
            throw LoadError.unreadable("\(error)")
        }
        try self.init(file: file)
    }

    /// Checks a decoded file (see ``init(json:)``).
    private init(file: File) throws {
        guard file.format == Self.format else { throw LoadError.unknownFormat(file.format ?? "none") }
        guard let width = file.width else { throw LoadError.unreadable("no width") }
        guard width > 0 else { throw LoadError.unreadable("width \(width) is not positive") }
        guard let spacing = file.spacingMM else { throw LoadError.unreadable("no spacing_mm") }
        guard spacing.isFinite && spacing > 0 else { throw LoadError.unreadable("spacing_mm \(spacing) is not positive") }
        let records = file.layers ?? [:]
        var layers: [String: Layer] = [:]
        for (name, inputs, outputs, kernel) in Self.layerShapes(width: width) {
            guard let record = records[name] else { throw LoadError.missingLayer(name) }
            let expected = Self.shapeText(inputs, outputs, kernel, inputs * outputs * kernel * kernel, outputs)
            let found = Self.shapeText(record.in, record.out, record.kernel, record.weight.count, record.bias.count)
            guard expected == found else { throw LoadError.layerShape(name, expected: expected, found: found) }
            layers[name] = Layer(inputs: inputs, outputs: outputs, kernel: kernel, weight: record.weight, bias: record.bias)
        }
        func block(_ prefix: String) -> Block { Block(first: layers[prefix + ".0"]!, second: layers[prefix + ".1"]!) }
        self.width = width
        spacingMM = spacing
        normalisation = file.normalisation
        architecture = file.architecture
        fittedOn = file.fittedOn
        encoder1 = block("e1")
        encoder2 = block("e2")
        encoder3 = block("e3")
        bottleneck = block("b")
        decoder3 = block("d3")
        decoder2 = block("d2")
        decoder1 = block("d1")
        output = layers["out"]!
    }

    /// Reads and decodes a network file (see ``init(json:)``).
    public init(contentsOf url: URL) throws {
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            throw LoadError.unreadable("\(url.path): \(error.localizedDescription)")
        }
        try self.init(json: data)
    }

    /// The network's logit per pixel, the image's size. The image must be at least 8 × 8 px
    /// and at ``spacingMM``, normalised as in training. Each layer's row bands are shared
    /// among `threads` Dispatch workers; the result is bit-for-bit the same for any count.
    public func logits(_ image: FloatImage, threads: Int = 1) -> FloatImage {
        logits(image, bandPixels: Self.bandPixels, threads: threads)
    }

    /// ``logits(_:threads:)`` with im2col bands of about `bandPixels` pixels (tests use small bands).
    func logits(_ image: FloatImage, bandPixels: Int, threads: Int = 1) -> FloatImage {
        precondition(image.width >= 8 && image.height >= 8, "the network needs at least 8 × 8 px (three 2× poolings)")
        BLASThreadPolicy.apply()
        let t = max(1, threads)
        let x = FeatureMaps(channels: 1, height: image.height, width: image.width, values: image.values)
        let e1 = encoder1.apply(x, bandPixels: bandPixels, threads: t)
        let e2 = encoder2.apply(e1.maxPooled(), bandPixels: bandPixels, threads: t)
        let e3 = encoder3.apply(e2.maxPooled(), bandPixels: bandPixels, threads: t)
        let b = bottleneck.apply(e3.maxPooled(), bandPixels: bandPixels, threads: t)
        let d3 = decoder3.apply(FeatureMaps(upsampling: b, concatenatedWith: e3), bandPixels: bandPixels, threads: t)
        let d2 = decoder2.apply(FeatureMaps(upsampling: d3, concatenatedWith: e2), bandPixels: bandPixels, threads: t)
        let d1 = decoder1.apply(FeatureMaps(upsampling: d2, concatenatedWith: e1), bandPixels: bandPixels, threads: t)
        let out = output.apply(d1, relu: false, bandPixels: bandPixels, threads: t)
        return FloatImage(width: image.width, height: image.height, values: out.values)
    }

    /// Nodule probability per pixel, 1 / (1 + e^−logit); rounds to exactly 0 or 1
    /// for logits beyond about −88 or +17 (float32).
    public func probabilities(_ image: FloatImage, threads: Int = 1) -> FloatImage {
        let z = logits(image, threads: threads)
        return FloatImage(width: z.width, height: z.height, values: z.values.map { 1 / (1 + exp(-$0)) })
    }

    // MARK: Layers

    /// Every layer's name, input channels, output channels and kernel size, for `width`.
    static func layerShapes(width w: Int) -> [(name: String, inputs: Int, outputs: Int, kernel: Int)] {
        [
            ("e1.0", 1, w, 3), ("e1.1", w, w, 3),
            ("e2.0", w, 2 * w, 3), ("e2.1", 2 * w, 2 * w, 3),
            ("e3.0", 2 * w, 4 * w, 3), ("e3.1", 4 * w, 4 * w, 3),
            ("b.0", 4 * w, 4 * w, 3), ("b.1", 4 * w, 4 * w, 3),
            ("d3.0", 8 * w, 2 * w, 3), ("d3.1", 2 * w, 2 * w, 3),
            ("d2.0", 4 * w, w, 3), ("d2.1", w, w, 3),
            ("d1.0", 2 * w, w, 3), ("d1.1", w, w, 3),
            ("out", w, 1, 1),
        ]
    }

    static func shapeText(_ inputs: Int, _ outputs: Int, _ kernel: Int, _ weights: Int, _ biases: Int) -> String {
        "in \(inputs), out \(outputs), kernel \(kernel), \(weights) weights, \(biases) biases"
    }

    /// Two 3×3 convolutions, each followed by ReLU.
    struct Block: Sendable, Equatable {
        let first: Layer
        let second: Layer

        func apply(_ input: FeatureMaps, bandPixels: Int, threads: Int) -> FeatureMaps {
            second.apply(first.apply(input, relu: true, bandPixels: bandPixels, threads: threads),
                         relu: true, bandPixels: bandPixels, threads: threads)
        }
    }

    /// A convolution (3×3 zero-padded or 1×1, stride 1) with bias; `weight` is
    /// (out, in, ky, kx) row-major, which is the sgemm left operand as it stands.
    struct Layer: Sendable, Equatable {
        let inputs: Int
        let outputs: Int
        let kernel: Int
        let weight: [Float]
        let bias: [Float]

        /// The convolution of `input` (`inputs` channels) plus bias, ReLU if `relu`, in bands
        /// of whole rows of about `bandPixels` pixels (at least one row), each worker taking
        /// the next band not yet taken (`threads` workers). A band's arithmetic does not depend on which worker runs it.
        func apply(_ input: FeatureMaps, relu: Bool, bandPixels: Int, threads: Int) -> FeatureMaps {
            precondition(input.channels == inputs)
            let h = input.height, w = input.width, plane = h * w
            let depth = inputs * kernel * kernel
            let bandRows = max(1, min(h, bandPixels / w))
            let bands = (h + bandRows - 1) / bandRows
            var values = [Float](repeating: 0, count: outputs * plane)
            input.values.withUnsafeBufferPointer { source in
                weight.withUnsafeBufferPointer { weight in
                    values.withUnsafeMutableBufferPointer { destination in
                        let src = UnsafeSendablePointer(UnsafeMutablePointer(mutating: source.baseAddress!))
                        let wts = UnsafeSendablePointer(UnsafeMutablePointer(mutating: weight.baseAddress!))
                        let dst = UnsafeSendablePointer(destination.baseAddress!)
                        // Scratch per worker: the im2col buffer, row (c·9 + ky·3 + kx), column (y − y0)·w + x
                        // of a band. A 1×1 kernel reads the input directly.
                        let scratch = kernel == 3 ? depth * bandRows * w : 1
                        withScratchPerWorker(bands, workers: threads, floats: scratch) { band, columns in
                            let y0 = band * bandRows
                            let rows = min(bandRows, h - y0), n = rows * w
                            let right: UnsafePointer<Float>, ldb: Int
                            if kernel == 3 {
                                Self.im2col(UnsafePointer(src.pointer), channels: inputs, height: h, width: w, rows: y0..<(y0 + rows),
                                            into: columns)
                                right = UnsafePointer(columns)
                                ldb = n
                            } else {
                                right = UnsafePointer(src.pointer + y0 * w)
                                ldb = plane
                            }
                            // C (out × n, row stride plane) = W (out × depth) · B (depth × n).
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                        Int32(outputs), Int32(n), Int32(depth), 1,
                                        wts.pointer, Int32(depth), right, Int32(ldb), 0,
                                        dst.pointer + y0 * w, Int32(plane))
                            for o in 0..<outputs {
                                let p = dst.pointer + o * plane + y0 * w, b = bias[o]
                                if relu {
                                    for i in 0..<n { p[i] = max(p[i] + b, 0) }
                                } else {
                                    for i in 0..<n { p[i] += b }
                                }
                            }
                        }
                    }
                }
            }
            return FeatureMaps(channels: outputs, height: h, width: w, values: values)
        }

        /// Writes the 3×3 zero-padded im2col rows of image rows `rows` (every column).
        static func im2col(_ src: UnsafePointer<Float>, channels: Int, height h: Int, width w: Int, rows: Range<Int>,
                           into columns: UnsafeMutablePointer<Float>) {
            let n = rows.count * w
            for c in 0..<channels {
                let channel = src + c * h * w
                for ky in 0..<3 {
                    for kx in 0..<3 {
                        let row = columns + (c * 9 + ky * 3 + kx) * n
                        for (i, y) in rows.enumerated() {
                            let d = row + i * w, sy = y + ky - 1
                            guard sy >= 0 && sy < h else {
                                d.update(repeating: 0, count: w)
                                continue
                            }
                            let s = channel + sy * w
                            switch kx {
                            case 0:
                                d[0] = 0
                                (d + 1).update(from: s, count: w - 1)
                            case 1:
                                d.update(from: s, count: w)
                            default:
                                d.update(from: s + 1, count: w - 1)
                                d[w - 1] = 0
                            }
                        }
                    }
                }
            }
        }
    }

    // MARK: The file

    fileprivate struct File: Codable {
        var format: String?
        var width: Int?
        var spacingMM: Double?
        var normalisation: Normalisation?
        var architecture: String?
        var fittedOn: String?
        var layers: [String: LayerRecord]?

        enum CodingKeys: String, CodingKey {
            case format, width, normalisation, architecture, layers
            case spacingMM = "spacing_mm"
            case fittedOn = "fitted_on"
        }
    }

    /// One layer as stored. `weight` and `bias` are read either as JSON arrays of numbers (what the
    /// fitting tools write) or as ``PackedFloats`` strings, and always written packed: decoding and
    /// digesting a definition's 300 000 weights as numbers took about 0.14 s of every run's start.
    fileprivate struct LayerRecord: Codable {
        var out: Int
        var `in`: Int
        var kernel: Int
        var weight: [Float]
        var bias: [Float]

        enum CodingKeys: String, CodingKey { case out, `in`, kernel, weight, bias }

        init(out: Int, in: Int, kernel: Int, weight: [Float], bias: [Float]) {
            (self.out, self.in, self.kernel, self.weight, self.bias) = (out, `in`, kernel, weight, bias)
        }

        init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            out = try c.decode(Int.self, forKey: .out)
            `in` = try c.decode(Int.self, forKey: .in)
            kernel = try c.decode(Int.self, forKey: .kernel)
            weight = try PackedFloats.decode(c, forKey: .weight)
            bias = try PackedFloats.decode(c, forKey: .bias)
        }

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(out, forKey: .out)
            try c.encode(`in`, forKey: .in)
            try c.encode(kernel, forKey: .kernel)
            try c.encode(PackedFloats.string(weight), forKey: .weight)
            try c.encode(PackedFloats.string(bias), forKey: .bias)
        }
    }
}

/// A network's weights as one JSON string: `"f32le:"` followed by the base64 of the values as
/// little-endian IEEE 754 binary32, in the same order as the number array they replace. Exact (the
/// Float bits themselves), a third of the size of the numbers, and read in microseconds.
enum PackedFloats {
    static let prefix = "f32le:"

    static func string(_ values: [Float]) -> String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(4 * values.count)
        for v in values {
            let bits = v.bitPattern.littleEndian
            withUnsafeBytes(of: bits) { bytes.append(contentsOf: $0) }
        }
        return prefix + Data(bytes).base64EncodedString()
    }

    /// The values of a packed string; nil when it is not one (wrong prefix, bad base64, or a byte
    /// count that is not a multiple of 4).
    static func values(_ string: String) -> [Float]? {
        guard string.hasPrefix(prefix), let data = Data(base64Encoded: String(string.dropFirst(prefix.count))),
              data.count % 4 == 0 else { return nil }
        return data.withUnsafeBytes { raw in
            (0..<data.count / 4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) }
        }
    }

    /// `key` as a packed string or a JSON array of numbers.
    static func decode<K: CodingKey>(_ container: KeyedDecodingContainer<K>, forKey key: K) throws -> [Float] {
        if let text = try? container.decode(String.self, forKey: key) {
            guard let values = values(text) else {
                throw DecodingError.dataCorruptedError(forKey: key, in: container,
                                                       debugDescription: "not \(prefix) followed by base64 of little-endian float32 values")
            }
            return values
        }
        return try container.decode([Float].self, forKey: key)
    }
}

extension NoduleHeatmapNetwork.LayerRecord {
    init(_ layer: NoduleHeatmapNetwork.Layer) {
        self.init(out: layer.outputs, in: layer.inputs, kernel: layer.kernel, weight: layer.weight, bias: layer.bias)
    }
}

/// The network inside a pipeline definition (its `heatmap.network`): the same fields as a
/// `nodulekit-unet-1` file, checked the same way; a check that fails is a decoding error.
extension NoduleHeatmapNetwork: Codable {
    public init(from decoder: any Decoder) throws {
        let file = try File(from: decoder)
        do {
            try self.init(file: file)
        } catch let error as LoadError {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var layers: [String: LayerRecord] = [:]
        let blocks = [("e1", encoder1), ("e2", encoder2), ("e3", encoder3), ("b", bottleneck),
                      ("d3", decoder3), ("d2", decoder2), ("d1", decoder1)]
        for (name, block) in blocks {
            for (k, layer) in [block.first, block.second].enumerated() {
                layers["\(name).\(k)"] = LayerRecord(layer)
            }
        }
        layers["out"] = LayerRecord(output)
        try File(format: Self.format, width: width, spacingMM: spacingMM, normalisation: normalisation,
                 architecture: architecture, fittedOn: fittedOn, layers: layers).encode(to: encoder)
    }
}

extension NoduleHeatmapNetwork {
    /// A stack of feature maps, channel-major: `values[(c · height + y) · width + x]`.
    struct FeatureMaps: Sendable {
        let channels: Int
        let height: Int
        let width: Int
        var values: [Float]

        init(channels: Int, height: Int, width: Int, values: [Float]) {
            precondition(values.count == channels * height * width)
            self.channels = channels
            self.height = height
            self.width = width
            self.values = values
        }

        /// 2×2 max pooling, stride 2: ⌊height/2⌋ × ⌊width/2⌋ (an odd last row or column is dropped).
        func maxPooled() -> FeatureMaps {
            let ho = height / 2, wo = width / 2
            var out = [Float](repeating: 0, count: channels * ho * wo)
            values.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for c in 0..<channels {
                        let s = src.baseAddress! + c * height * width, d = dst.baseAddress! + c * ho * wo
                        for y in 0..<ho {
                            let top = s + 2 * y * width, bottom = top + width, row = d + y * wo
                            for x in 0..<wo {
                                row[x] = max(max(top[2 * x], top[2 * x + 1]), max(bottom[2 * x], bottom[2 * x + 1]))
                            }
                        }
                    }
                }
            }
            return FeatureMaps(channels: channels, height: ho, width: wo, values: out)
        }

        /// `low` resized bilinearly to `skip`'s size (half-pixel centres, PyTorch
        /// `align_corners=False`), followed by `skip`'s channels.
        init(upsampling low: FeatureMaps, concatenatedWith skip: FeatureMaps) {
            let h = skip.height, w = skip.width, plane = h * w
            var out = [Float](repeating: 0, count: (low.channels + skip.channels) * plane)
            let ys = BilinearTaps(input: low.height, output: h), xs = BilinearTaps(input: low.width, output: w)
            low.values.withUnsafeBufferPointer { src in
                out.withUnsafeMutableBufferPointer { dst in
                    for c in 0..<low.channels {
                        let s = src.baseAddress! + c * low.height * low.width, d = dst.baseAddress! + c * plane
                        for y in 0..<h {
                            let r0 = s + ys.lower[y] * low.width, r1 = s + ys.upper[y] * low.width
                            let wy1 = ys.weight[y], wy0 = 1 - wy1
                            for x in 0..<w {
                                let x0 = xs.lower[x], x1 = xs.upper[x], wx1 = xs.weight[x], wx0 = 1 - wx1
                                d[y * w + x] = wy0 * (wx0 * r0[x0] + wx1 * r0[x1]) + wy1 * (wx0 * r1[x0] + wx1 * r1[x1])
                            }
                        }
                    }
                }
            }
            out.replaceSubrange((low.channels * plane)..., with: skip.values)
            self.init(channels: low.channels + skip.channels, height: h, width: w, values: out)
        }
    }

    /// Source indices and weights of linear resampling along one axis, half-pixel centres:
    /// src = (o + ½)·(input/output) − ½, clamped at 0; value = (1 − λ)·v[lower] + λ·v[upper].
    struct BilinearTaps {
        var lower: [Int] = []
        var upper: [Int] = []
        var weight: [Float] = []

        init(input: Int, output: Int) {
            let scale = Float(input) / Float(output)
            for o in 0..<output {
                let source = max(scale * (Float(o) + 0.5) - 0.5, 0)
                let i0 = min(Int(source), input - 1)
                lower.append(i0)
                upper.append(min(i0 + 1, input - 1))
                weight.append(min(max(source - Float(i0), 0), 1))
            }
        }
    }
}
