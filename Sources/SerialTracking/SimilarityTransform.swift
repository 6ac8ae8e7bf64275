#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 2-D similarity transform in millimetres: p′ = s · R(θ) · p + t.
///
/// ``ExamRegistration`` returns the transform that maps an exam's mm
/// coordinates (from the image's top-left corner, x right, y down) into the
/// reference exam's mm coordinates. θ is counter-clockwise in a y-up sense,
/// i.e. clockwise as seen on screen with y pointing down.
public struct SimilarityTransform: Hashable, Sendable, CustomStringConvertible {
    /// Isotropic scale s (1 = no change).
    public var scale: Double
    /// Rotation θ, radians.
    public var rotationRadians: Double
    /// t, mm.
    public var translationXMM: Double
    /// t, mm.
    public var translationYMM: Double

    public init(scale: Double = 1, rotationRadians: Double = 0, translationXMM: Double = 0, translationYMM: Double = 0) {
        self.scale = scale
        self.rotationRadians = rotationRadians
        self.translationXMM = translationXMM
        self.translationYMM = translationYMM
    }

    /// The transform that rotates by `degrees` and scales by `scale` about `centre` (mm),
    /// then translates by (`dx`, `dy`) mm.
    public init(scale: Double, rotationDegrees degrees: Double, aboutXMM cx: Double, yMM cy: Double, dxMM: Double = 0, dyMM: Double = 0) {
        let th = degrees * .pi / 180
        let a = scale * cos(th), b = scale * sin(th)
        self.init(scale: scale, rotationRadians: th,
                  translationXMM: cx - (a * cx - b * cy) + dxMM,
                  translationYMM: cy - (b * cx + a * cy) + dyMM)
    }

    public static let identity = SimilarityTransform()

    /// θ, degrees.
    public var rotationDegrees: Double { rotationRadians * 180 / .pi }

    /// The linear part as (a, b) with matrix [[a, −b], [b, a]].
    var linear: (a: Double, b: Double) { (scale * cos(rotationRadians), scale * sin(rotationRadians)) }

    /// Maps a point, mm → mm.
    public func apply(xMM x: Double, yMM y: Double) -> (xMM: Double, yMM: Double) {
        let (a, b) = linear
        return (a * x - b * y + translationXMM, b * x + a * y + translationYMM)
    }

    /// The inverse transform.
    public var inverse: SimilarityTransform {
        let s = 1 / scale, th = -rotationRadians
        let a = s * cos(th), b = s * sin(th)
        return SimilarityTransform(scale: s, rotationRadians: th,
                                   translationXMM: -(a * translationXMM - b * translationYMM),
                                   translationYMM: -(b * translationXMM + a * translationYMM))
    }

    /// `self` after `first`: p ↦ self(first(p)).
    public func composed(after first: SimilarityTransform) -> SimilarityTransform {
        let (a1, b1) = first.linear
        let (a2, b2) = linear
        let a = a2 * a1 - b2 * b1, b = b2 * a1 + a2 * b1
        let t = apply(xMM: first.translationXMM, yMM: first.translationYMM)
        return SimilarityTransform(scale: (a * a + b * b).squareRoot(), rotationRadians: atan2(b, a), translationXMM: t.xMM, translationYMM: t.yMM)
    }

    /// Largest displacement (mm) between `self` and `other` over the corners of a
    /// `widthMM` × `heightMM` image: a single number for "how far apart are these".
    public func maximumDisplacementMM(from other: SimilarityTransform, widthMM: Double, heightMM: Double) -> Double {
        var worst = 0.0
        for (x, y) in [(0.0, 0.0), (widthMM, 0), (0, heightMM), (widthMM, heightMM), (widthMM / 2, heightMM / 2)] {
            let p = apply(xMM: x, yMM: y), q = other.apply(xMM: x, yMM: y)
            worst = max(worst, ((p.xMM - q.xMM) * (p.xMM - q.xMM) + (p.yMM - q.yMM) * (p.yMM - q.yMM)).squareRoot())
        }
        return worst
    }

    public var description: String {
        func f(_ v: Double, _ d: Int) -> String { let m = pow(10, Double(d)); return String((v * m).rounded() / m) }
        return "scale \(f(scale, 4)), rotation \(f(rotationDegrees, 2))°, translation (\(f(translationXMM, 2)), \(f(translationYMM, 2))) mm"
    }
}
