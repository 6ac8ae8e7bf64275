#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The filters a scale space can produce at each σ.
public enum ScaleSpaceFilter: String, Sendable, CaseIterable {
    /// Gaussian smoothing G_σ ∗ I.
    case gaussian
    /// σ²-normalised Laplacian of Gaussian, σ²(Gxx + Gyy). Bright blobs give negative minima.
    case log
    /// Difference of Gaussians (G_kσ − G_σ) ∗ I / (k − 1), which approximates σ²∇²G.
    case dog
    /// σ⁴-normalised Hessian determinant, σ⁴(Gxx·Gyy − Gxy²). Blobs positive, ridges negative.
    case hessianDeterminant = "hessian-det"
}

/// Gaussian scale-space filtering of one image over a list of σ (px).
///
/// Every filter is a sum of separable Gaussian-derivative terms run on
/// `SeparableConvolution` (direct SIMD correlation by default, or OpenBLAS sgemm;
/// see `ConvolutionEngine`). Borders reflect (`ReflectBorder`).
public struct ScaleSpace: Sendable {
    /// Standard deviations, px, in increasing order.
    public let sigmas: [Double]
    public var truncate: Double
    public var convolution: SeparableConvolution
    /// σ ratio used by `.dog` (k in G_kσ − G_σ).
    public var dogRatio: Double
    /// Where each σ is computed; `stream`/`stack` honour it, single-σ calls are always exact.
    public var resolution: ScaleResolution

    public init(sigmas: [Double], truncate: Double = GaussianKernel.defaultTruncate,
                threads: Int = SeparableConvolution.defaultThreads, engine: ConvolutionEngine = .default,
                dogRatio: Double? = nil, resolution: ScaleResolution = .exact) {
        self.resolution = resolution
        precondition(!sigmas.isEmpty && sigmas.allSatisfy { $0 > 0 && $0.isFinite }, "σ must be positive")
        self.sigmas = sigmas.sorted()
        self.truncate = truncate
        convolution = SeparableConvolution(threads: threads, engine: engine)
        if let dogRatio {
            self.dogRatio = dogRatio
        } else if sigmas.count > 1 && self.sigmas.last! > self.sigmas.first! {
            // The list's own geometric step, so level i's DoG reaches level i+1's σ.
            self.dogRatio = pow(self.sigmas.last! / self.sigmas.first!, 1 / Double(sigmas.count - 1))
        } else {
            self.dogRatio = 1.6
        }
    }

    /// `count` σ spaced geometrically from `minimum` to `maximum`, px.
    public static func geometricSigmas(from minimum: Double, to maximum: Double, count: Int) -> [Double] {
        precondition(minimum > 0 && maximum >= minimum && count >= 1)
        if count == 1 { return [minimum] }
        let ratio = pow(maximum / minimum, 1 / Double(count - 1))
        return (0..<count).map { i in i == count - 1 ? maximum : minimum * pow(ratio, Double(i)) }
    }

    /// One level of a scale space.
    public struct Level: Sendable {
        public var index: Int
        /// Standard deviation, px.
        public var sigma: Double
        public var response: FloatImage
    }

    /// Computes level after level and hands each to `body` before computing the
    /// next, so only one level (plus working buffers) is in memory at a time.
    /// When `body` keeps no reference to a level, its buffer is reused for the
    /// next one (a 2048² level is 16 MB of fresh pages otherwise).
    public func stream(_ image: FloatImage, filter: ScaleSpaceFilter, _ body: (Level) throws -> Void) rethrows {
        var minimumLevelSigma = Double.infinity
        if case .pyramid(let m) = resolution { minimumLevelSigma = m }
        let maximumOctave = minimumLevelSigma.isFinite ? max(0, Int(log2(Double(min(image.width, image.height)) / 32))) : 0
        let octaveOf = sigmas.map { GaussianOctaves.octave(for: $0, minimumLevelSigma: minimumLevelSigma, maximumOctave: maximumOctave) }
        var octaves = GaussianOctaves(image, convolution: convolution)
        var spare: FloatImage?
        for (i, sigma) in sigmas.enumerated() {
            let o = octaveOf[i]
            let factor = Double(1 << o)
            let b = GaussianOctaves.blur(octave: o)
            let remaining = (sigma * sigma - b * b).squareRoot() / factor
            var response = spare ?? FloatImage(width: image.width, height: image.height, zeroed: false)
            spare = nil
            // Derivatives are per level px, so σ-normalisation uses σ in level px.
            if o == 0 {
                levelFilter(image, filter, sigmaRemaining: remaining, sigmaNominal: sigma, baseBlur: 0, into: &response)
            } else {
                let onLevel = levelFilter(octaves.level(o), filter, sigmaRemaining: remaining, sigmaNominal: sigma / factor,
                                          baseBlur: b / factor)
                GaussianOctaves.upsample(onLevel, octave: o, into: &response, threads: convolution.threads)
            }
            try body(Level(index: i, sigma: sigma, response: response))
            if response.isUniquelyReferenced() { spare = response }
        }
    }

    /// A filter on a level whose content already carries `baseBlur` px of
    /// Gaussian blur: kernels of σ_remaining, σ-normalisation by the nominal σ
    /// (level px). Writes every value of `out` (the level's size).
    func levelFilter(_ level: FloatImage, _ filter: ScaleSpaceFilter,
                     sigmaRemaining r: Double, sigmaNominal s: Double, baseBlur b: Double, into out: inout FloatImage) {
        switch filter {
        case .gaussian:
            convolution.apply(level, terms: [term(0, 0, r)], into: &out)
        case .log:
            // One output, two terms: the horizontal g and g″ share one sweep of
            // folded sums, the vertical pass sums both terms and writes once.
            let s2 = Float(s * s)
            convolution.apply(level, terms: [term(2, 0, r, weight: s2), term(0, 2, r, weight: s2)], into: &out)
        case .dog:
            let k = dogRatio
            let upper = ((s * k) * (s * k) - b * b).squareRoot()
            let w = Float(1 / (k - 1))
            convolution.apply(level, terms: [term(0, 0, upper, weight: w), term(0, 0, r, weight: -w)], into: &out)
        case .hessianDeterminant:
            let hessian = convolution.apply(level, outputs: hessianOutputs(r))
            out = Hessian(sigma: s, xx: hessian[0], yy: hessian[1], xy: hessian[2]).determinant
        }
    }

    func levelFilter(_ level: FloatImage, _ filter: ScaleSpaceFilter,
                     sigmaRemaining r: Double, sigmaNominal s: Double, baseBlur b: Double) -> FloatImage {
        var out = FloatImage(width: level.width, height: level.height, zeroed: false)
        levelFilter(level, filter, sigmaRemaining: r, sigmaNominal: s, baseBlur: b, into: &out)
        return out
    }

    /// All levels at once (memory: one image per σ).
    public func stack(_ image: FloatImage, filter: ScaleSpaceFilter) -> [Level] {
        var levels: [Level] = []
        stream(image, filter: filter) { levels.append($0) }
        return levels
    }

    /// One filter at one σ, always at full resolution (exact).
    public func filter(_ image: FloatImage, _ filter: ScaleSpaceFilter, sigma: Double) -> FloatImage {
        levelFilter(image, filter, sigmaRemaining: sigma, sigmaNominal: sigma, baseBlur: 0)
    }

    /// A Gaussian derivative ∂^(ox+oy) / ∂x^ox ∂y^oy of G_σ ∗ I (x along columns, y along rows).
    public func derivative(_ image: FloatImage, sigma: Double, orderX: Int, orderY: Int) -> FloatImage {
        convolution.apply(image, terms: [term(orderX, orderY, sigma)])
    }

    /// The Hessian (Gxx, Gyy, Gxy) at σ, computed with shared horizontal passes.
    public func hessian(_ image: FloatImage, sigma: Double) -> Hessian {
        let out = convolution.apply(image, outputs: hessianOutputs(sigma))
        return Hessian(sigma: sigma, xx: out[0], yy: out[1], xy: out[2])
    }

    /// Gxx, Gyy, Gxy at σ as three outputs sharing horizontal passes.
    func hessianOutputs(_ sigma: Double) -> [[SeparableTerm]] {
        [[term(2, 0, sigma)], [term(0, 2, sigma)], [term(1, 1, sigma)]]
    }

    func term(_ orderX: Int, _ orderY: Int, _ sigma: Double, weight: Float = 1) -> SeparableTerm {
        SeparableTerm(horizontal: GaussianKernel(sigma: sigma, order: orderX, truncate: truncate),
                      vertical: GaussianKernel(sigma: sigma, order: orderY, truncate: truncate), weight: weight)
    }
}

/// Second Gaussian derivatives at one σ, and the blob/ridge measures built on them.
public struct Hessian: Sendable {
    /// σ, px.
    public var sigma: Double
    public var xx: FloatImage
    public var yy: FloatImage
    public var xy: FloatImage

    /// σ⁴(Gxx·Gyy − Gxy²): positive on blobs, negative on ridges (ribs, vessels).
    public var determinant: FloatImage {
        let s4 = Float(sigma * sigma * sigma * sigma)
        return combine { xx, yy, xy in s4 * (xx * yy - xy * xy) }
    }

    /// σ²-normalised eigenvalues (λ₁ ≤ λ₂). A bright blob has both strongly negative;
    /// a bright ridge has λ₁ ≪ 0 and λ₂ ≈ 0.
    public var eigenvalues: (smaller: FloatImage, larger: FloatImage) {
        let s2 = Float(sigma * sigma)
        let small = combine { xx, yy, xy in s2 * Hessian.eigen(xx, yy, xy).0 }
        let large = combine { xx, yy, xy in s2 * Hessian.eigen(xx, yy, xy).1 }
        return (small, large)
    }

    /// Eigenvalues of [[xx, xy], [xy, yy]], smaller first.
    @inlinable
    public static func eigen(_ xx: Float, _ yy: Float, _ xy: Float) -> (Float, Float) {
        let mean = 0.5 * (xx + yy)
        let half = 0.5 * (xx - yy)
        let root = (half * half + xy * xy).squareRoot()
        return (mean - root, mean + root)
    }

    func combine(_ f: (Float, Float, Float) -> Float) -> FloatImage {
        var out = FloatImage(width: xx.width, height: xx.height)
        xx.withUnsafeStridedPointer { pxx, sxx in
            yy.withUnsafeStridedPointer { pyy, syy in
                xy.withUnsafeStridedPointer { pxy, sxy in
                    out.withUnsafeMutableRows { row, y in
                        for x in 0..<row.count {
                            row[x] = f(pxx[y * sxx + x], pyy[y * syy + x], pxy[y * sxy + x])
                        }
                    }
                }
            }
        }
        return out
    }
}
