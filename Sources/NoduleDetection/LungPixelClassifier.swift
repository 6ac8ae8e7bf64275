import ScaleSpace
#if canImport(Glibc)
import Glibc
#endif

/// A per-pixel lung/not-lung classifier on the lung-field grid (about 2 mm/px),
/// in the tradition of pixel-classification lung segmentation (van Ginneken et
/// al., Med Image Anal 2006): 16 local features per pixel — position relative to
/// the body, distance from outside air, multi-scale Gaussian intensities and
/// their differences, gradient magnitude and a row-relative darkness — fed to a
/// one-hidden-layer perceptron (ReLU, logistic output). The weights live in the
/// pipeline definition (`lung_field.pixel_classifier`, with how they were
/// fitted); nothing is fetched at run time. Fitted by
/// `Pipelines/tools/fit_lung_model.py` on features this code writes
/// (`nodules lung-features`), so training and inference share one feature code.
public struct LungPixelClassifier: Codable, Sendable, Equatable {
    /// Feature names in input order; must equal ``LungPixelFeatures/names``.
    public var features: [String]
    /// Standardisation: z = (f − mean) / scale.
    public var means: [Double]
    public var scales: [Double]
    /// Hidden layer: one row of `features.count` weights per unit, and a bias per unit.
    public var hiddenWeights: [[Double]]
    public var hiddenBias: [Double]
    /// Output unit (logistic).
    public var outputWeights: [Double]
    public var outputBias: Double
    /// Pixels with probability above this are lung.
    public var threshold: Double
    /// What the weights were fitted on, and how.
    public var fittedOn: String

    enum CodingKeys: String, CodingKey {
        case features, means, scales, threshold
        case hiddenWeights = "hidden_weights"
        case hiddenBias = "hidden_bias"
        case outputWeights = "output_weights"
        case outputBias = "output_bias"
        case fittedOn = "fitted_on"
    }

    /// Whether the shapes agree with each other and with ``LungPixelFeatures/names``.
    public var isConsistent: Bool {
        let n = features.count
        return features == LungPixelFeatures.names && means.count == n && scales.count == n
            && !hiddenWeights.isEmpty && hiddenWeights.allSatisfy { $0.count == n }
            && hiddenBias.count == hiddenWeights.count && outputWeights.count == hiddenWeights.count
            && scales.allSatisfy { $0 > 0 }
    }

    public init(features: [String], means: [Double], scales: [Double], hiddenWeights: [[Double]], hiddenBias: [Double],
                outputWeights: [Double], outputBias: Double, threshold: Double, fittedOn: String) {
        self.features = features
        self.means = means
        self.scales = scales
        self.hiddenWeights = hiddenWeights
        self.hiddenBias = hiddenBias
        self.outputWeights = outputWeights
        self.outputBias = outputBias
        self.threshold = threshold
        self.fittedOn = fittedOn
    }

    /// Lung probability (0–1) per pixel of a feature grid.
    public func probabilities(_ grid: LungPixelFeatures) -> [Float] {
        let n = features.count
        let units = hiddenWeights.count
        // Fold the standardisation into the first layer: w·((f − m)/s) + b = (w/s)·f + (b − Σ w·m/s).
        var weights = [Float](repeating: 0, count: units * n)
        var bias = [Float](repeating: 0, count: units)
        for u in 0..<units {
            var b = hiddenBias[u]
            for k in 0..<n {
                weights[u * n + k] = Float(hiddenWeights[u][k] / scales[k])
                b -= hiddenWeights[u][k] * means[k] / scales[k]
            }
            bias[u] = Float(b)
        }
        let output = outputWeights.map(Float.init)
        let outputBias = Float(self.outputBias)
        let count = grid.width * grid.height
        var result = [Float](repeating: 0, count: count)
        // Hidden units sixteen at a time, one per SIMD lane (unused lanes have zero weights and
        // bias, so they stay at 0 and add nothing): each unit's sum runs over the features in
        // order and the output sums the units in order, exactly the scalar arithmetic.
        let blocks = (units + 15) / 16
        var columns = [SIMD16<Float>](repeating: .zero, count: blocks * n)  // [block · n + k]: w[u][k] for the block's units
        var biases = [SIMD16<Float>](repeating: .zero, count: blocks)
        for u in 0..<units {
            biases[u / 16][u % 16] = bias[u]
            for k in 0..<n { columns[(u / 16) * n + k][u % 16] = weights[u * n + k] }
        }
        grid.values.withUnsafeBufferPointer { f in
            columns.withUnsafeBufferPointer { columns in
                result.withUnsafeMutableBufferPointer { result in
                    for i in 0..<count {
                        let row = f.baseAddress! + i * n
                        var z = outputBias
                        for block in 0..<blocks {
                            var a = biases[block]
                            for k in 0..<n { a = a + columns[block * n + k] * row[k] }
                            for lane in 0..<min(16, units - 16 * block) where a[lane] > 0 {
                                z += output[16 * block + lane] * a[lane]
                            }
                        }
                        result[i] = 1 / (1 + expf(-z))
                    }
                }
            }
        }
        return result
    }
}

/// The classifier's per-pixel features on the lung-field grid, pixel-major
/// (`values[(y · width + x) · names.count + k]`).
public struct LungPixelFeatures: Sendable {
    /// Feature names, in order. Intensities are the grid image scaled so the
    /// body's 5th and 95th percentiles map to 0 and 1 (outside air set to 1.2).
    public static let names = [
        "x_signed",         // (x − body centre) / body half-width
        "x_abs",            // |x − body centre| / body half-width
        "y",                // (y − body top) / body height (1st–99th percentile rows)
        "air_distance",     // distance from outside air, mm, capped at 80, / 80
        "g2", "g6", "g12", "g24", "g48",  // Gaussian σ = 2, 6, 12, 24, 48 mm
        "dog2_6", "dog6_12", "dog12_24", "dog24_48", "dog2_48",
        "gradient4",        // gradient magnitude at σ = 4 mm
        "row_relative",     // g6 within its row's body range (2nd–98th percentile)
    ]

    public let width: Int
    public let height: Int
    /// Grid spacing, mm/px.
    public let spacingMM: Double
    public let values: [Float]

    /// Features given directly (`values.count == width · height · names.count`).
    public init(width: Int, height: Int, spacingMM: Double, values: [Float]) {
        precondition(values.count == width * height * LungPixelFeatures.names.count)
        self.width = width
        self.height = height
        self.spacingMM = spacingMM
        self.values = values
    }

    /// The features of a lung-field grid (its image, spacing, and distance from outside air).
    init(_ grid: LungFieldGrid) {
        self.init(image: grid.image, spacingMM: grid.spacingMM, fromAirMM: grid.fromAirMM, body: grid.body)
    }

    /// - Parameters:
    ///   - image: the lung-field grid image (nodules bright), `spacingMM` mm/px.
    ///   - fromAirMM: distance from outside air per pixel, mm.
    ///   - body: pixels at least the chest-wall margin from outside air.
    public init(image: FloatImage, spacingMM: Double, fromAirMM: [Float], body: [Bool]) {
        let w = image.width, h = image.height, count = w * h
        width = w
        height = h
        self.spacingMM = spacingMM
        let raw = image.values
        var bodyValues = (0..<count).filter { body[$0] }.map { raw[$0] }
        if bodyValues.count < 16 { bodyValues = raw }
        let p5 = Selection.percentile(bodyValues, 5), p95 = Selection.percentile(bodyValues, 95)
        let span = max(p95 - p5, 1e-6)
        let normalised = FloatImage(width: w, height: h, values: (0..<count).map { body[$0] ? (raw[$0] - p5) / span : 1.2 })
        // Body extent from the 1st and 99th percentile body columns and rows.
        var columns: [Float] = [], rows: [Float] = []
        for i in 0..<count where body[i] { columns.append(Float(i % w)); rows.append(Float(i / w)) }
        if columns.isEmpty {
            columns = [0, Float(w - 1)]
            rows = [0, Float(h - 1)]
        }
        let x0 = Selection.percentile(columns, 1), x1 = Selection.percentile(columns, 99)
        let y0 = Selection.percentile(rows, 1), y1 = Selection.percentile(rows, 99)
        let centre = (x0 + x1) / 2, halfWidth = max((x1 - x0) / 2, 1), bodyHeight = max(y1 - y0, 1)

        let convolution = SeparableConvolution(threads: 1)
        let smoothed = [2.0, 6, 12, 24, 48].map { mm -> [Float] in
            let g = GaussianKernel(sigma: mm / spacingMM)
            return convolution.apply(normalised, terms: [SeparableTerm(horizontal: g, vertical: g)]).values
        }
        let s = GaussianKernel(sigma: 4 / spacingMM), d = GaussianKernel(sigma: 4 / spacingMM, order: 1)
        let gx = convolution.apply(normalised, terms: [SeparableTerm(horizontal: d, vertical: s)]).values
        let gy = convolution.apply(normalised, terms: [SeparableTerm(horizontal: s, vertical: d)]).values
        // Each row's body range of g6.
        var rowLow = [Float](repeating: 0, count: h), rowHigh = [Float](repeating: 1, count: h)
        for y in 0..<h {
            let inRow = (0..<w).filter { body[y * w + $0] }.map { smoothed[1][y * w + $0] }
            if !inRow.isEmpty {
                rowLow[y] = Selection.percentile(inRow, 2)
                rowHigh[y] = Selection.percentile(inRow, 98)
            }
        }
        let n = LungPixelFeatures.names.count
        var out = [Float](repeating: 0, count: count * n)
        // Written in place, in the order of `names` (no per-pixel array).
        out.withUnsafeMutableBufferPointer { out in
            for i in 0..<count {
                let x = Float(i % w), y = i / w
                let g = (smoothed[0][i], smoothed[1][i], smoothed[2][i], smoothed[3][i], smoothed[4][i])
                let f = out.baseAddress! + i * n
                f[0] = (x - centre) / halfWidth
                f[1] = abs(x - centre) / halfWidth
                f[2] = (Float(y) - y0) / bodyHeight
                f[3] = min(fromAirMM[i], 80) / 80
                (f[4], f[5], f[6], f[7], f[8]) = g
                (f[9], f[10], f[11], f[12], f[13]) = (g.0 - g.1, g.1 - g.2, g.2 - g.3, g.3 - g.4, g.0 - g.4)
                f[14] = (gx[i] * gx[i] + gy[i] * gy[i]).squareRoot()
                f[15] = (g.1 - rowLow[y]) / (rowHigh[y] - rowLow[y] + 1e-3)
            }
        }
        values = out
    }
}
