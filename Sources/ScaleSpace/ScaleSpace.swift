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
/// `SeparableConvolution` (OpenBLAS sgemm). Borders reflect (`ReflectBorder`).
public struct ScaleSpace: Sendable {
    /// Standard deviations, px, in increasing order.
    public let sigmas: [Double]
    public var truncate: Double
    public var convolution: SeparableConvolution
    /// σ ratio used by `.dog` (k in G_kσ − G_σ).
    public var dogRatio: Double

    public init(sigmas: [Double], truncate: Double = GaussianKernel.defaultTruncate,
                threads: Int = SeparableConvolution.defaultThreads, dogRatio: Double? = nil) {
        precondition(!sigmas.isEmpty && sigmas.allSatisfy { $0 > 0 && $0.isFinite }, "σ must be positive")
        self.sigmas = sigmas.sorted()
        self.truncate = truncate
        convolution = SeparableConvolution(threads: threads)
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
    public func stream(_ image: FloatImage, filter: ScaleSpaceFilter, _ body: (Level) throws -> Void) rethrows {
        for (i, sigma) in sigmas.enumerated() {
            try body(Level(index: i, sigma: sigma, response: self.filter(image, filter, sigma: sigma)))
        }
    }

    /// All levels at once (memory: one image per σ).
    public func stack(_ image: FloatImage, filter: ScaleSpaceFilter) -> [Level] {
        var levels: [Level] = []
        stream(image, filter: filter) { levels.append($0) }
        return levels
    }

    /// One filter at one σ.
    public func filter(_ image: FloatImage, _ filter: ScaleSpaceFilter, sigma: Double) -> FloatImage {
        switch filter {
        case .gaussian:
            return convolution.apply(image, terms: [term(0, 0, sigma)])
        case .log:
            let s2 = Float(sigma * sigma)
            return convolution.apply(image, terms: [term(2, 0, sigma, weight: s2), term(0, 2, sigma, weight: s2)])
        case .dog:
            let k = dogRatio
            let w = Float(1 / (k - 1))
            return convolution.apply(image, terms: [term(0, 0, sigma * k, weight: w), term(0, 0, sigma, weight: -w)])
        case .hessianDeterminant:
            let h = hessian(image, sigma: sigma)
            return h.determinant
        }
    }

    /// A Gaussian derivative ∂^(ox+oy) / ∂x^ox ∂y^oy of G_σ ∗ I (x along columns, y along rows).
    public func derivative(_ image: FloatImage, sigma: Double, orderX: Int, orderY: Int) -> FloatImage {
        convolution.apply(image, terms: [term(orderX, orderY, sigma)])
    }

    /// The Hessian (Gxx, Gyy, Gxy) at σ, computed with shared horizontal passes.
    public func hessian(_ image: FloatImage, sigma: Double) -> Hessian {
        let out = convolution.apply(image, outputs: [[term(2, 0, sigma)], [term(0, 2, sigma)], [term(1, 1, sigma)]])
        return Hessian(sigma: sigma, xx: out[0], yy: out[1], xy: out[2])
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
