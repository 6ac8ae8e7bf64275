#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A sampled 1-D Gaussian or Gaussian-derivative kernel, used as a correlation:
/// `out[i] = Σₖ taps[k] · in[reflect(i + k − radius)]`.
///
/// Sampling follows `scipy.ndimage.gaussian_filter` exactly, so results can be
/// cross-checked against SciPy: radius = ⌊truncate·σ + 0.5⌋, φ normalised to
/// sum 1 before the derivative polynomial is applied, and the taps oriented so
/// that order 1 is the derivative towards increasing index.
public struct GaussianKernel: Sendable, Hashable {
    /// Standard deviation, px.
    public let sigma: Double
    /// Derivative order: 0 (smoothing), 1 or 2.
    public let order: Int
    /// Half-width, px; the kernel has 2·radius + 1 taps.
    public let radius: Int
    public let taps: [Float]

    /// Default truncation, in standard deviations (SciPy's default).
    public static let defaultTruncate = 4.0

    public init(sigma: Double, order: Int = 0, truncate: Double = GaussianKernel.defaultTruncate) {
        precondition(sigma > 0 && sigma.isFinite, "sigma must be positive")
        precondition((0...2).contains(order), "derivative order must be 0, 1 or 2")
        self.sigma = sigma
        self.order = order
        radius = max(1, Int(truncate * sigma + 0.5))
        let s2 = sigma * sigma
        var phi = (-radius...radius).map { d in exp(-0.5 * Double(d * d) / s2) }
        let sum = phi.reduce(0, +)
        phi = phi.map { $0 / sum }
        taps = (-radius...radius).enumerated().map { i, d in
            let x = Double(d)
            switch order {
            case 0: return Float(phi[i])
            case 1: return Float(x / s2 * phi[i])
            default: return Float((x * x / (s2 * s2) - 1 / s2) * phi[i])
            }
        }
    }

    /// Number of taps, 2·radius + 1.
    public var length: Int { 2 * radius + 1 }
}

/// Border handling shared by every filter: half-sample symmetric reflection,
/// `d c b a | a b c d | d c b a` (SciPy `mode='reflect'`, OpenCV
/// `BORDER_REFLECT`), repeated as often as a large kernel needs.
public enum ReflectBorder {
    /// Maps any integer index onto `0..<count`.
    @inlinable
    public static func index(_ i: Int, count n: Int) -> Int {
        if i >= 0 && i < n { return i }
        let period = 2 * n
        var m = i % period
        if m < 0 { m += period }
        return m < n ? m : period - 1 - m
    }
}
