import Numerics

/// Float comparison helpers built on swift-numerics.
public enum Tolerance {
    /// Largest |a − b| / max(|b|, floor) over paired values; `floor` keeps near-zero references meaningful.
    public static func maxRelativeError(_ a: [Float], _ b: [Float], floor: Float) -> Float {
        precondition(a.count == b.count)
        var worst: Float = 0
        for i in a.indices {
            worst = max(worst, abs(a[i] - b[i]) / max(abs(b[i]), floor))
        }
        return worst
    }

    /// max|a − b| / max|b|, the normwise relative error of `a` against reference `b`.
    public static func normwiseRelativeError(_ a: [Float], _ b: [Float]) -> Float {
        precondition(a.count == b.count)
        var worst: Float = 0, scale: Float = 0
        for i in a.indices {
            worst = max(worst, abs(a[i] - b[i]))
            scale = max(scale, abs(b[i]))
        }
        return scale > 0 ? worst / scale : worst
    }

    public static func approximatelyEqual(_ a: Double, _ b: Double, relative: Double) -> Bool {
        a.isApproximatelyEqual(to: b, relativeTolerance: relative)
    }
}
