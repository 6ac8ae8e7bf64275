import ScaleSpace
#if canImport(Glibc)
import Glibc
#endif

/// Least-squares fit of the projected-sphere model to a patch:
///
///   I(x, y) ≈ B + bx·(x − x₀) + by·(y − y₀) + A·√max(0, 1 − ρ²/R²),  ρ = |(x, y) − (x₀, y₀)|
///
/// (a sphere's chord length over a sloping background), by Levenberg–Marquardt
/// with Tukey biweights, so ribs and vessels crossing the window count little.
/// The window is a disc of 1.8·R around the start. Returns `nil` when the fit
/// does not converge to a positive-contrast sphere.
struct SphereProfileFit {
    var x: Double
    var y: Double
    var radius: Double
    var amplitude: Double
    /// Robust RMS of the residual relative to the amplitude (0 = perfect fit).
    var relativeResidual: Double

    static func fit(_ image: FloatImage, x: Double, y: Double, radius: Double, amplitude: Double) -> SphereProfileFit? {
        guard radius > 1, amplitude > 0 else { return nil }
        let window = 1.8 * radius
        let x0 = max(0, Int((x - window).rounded(.down))), x1 = min(image.width - 1, Int((x + window).rounded(.up)))
        let y0 = max(0, Int((y - window).rounded(.down))), y1 = min(image.height - 1, Int((y + window).rounded(.up)))
        guard x1 - x0 >= 6, y1 - y0 >= 6 else { return nil }
        let step = max(1, Int((Double.pi * window * window / 300).squareRoot()))
        var points: [(u: Double, v: Double, value: Double)] = []
        for v in stride(from: y0, through: y1, by: step) {
            for u in stride(from: x0, through: x1, by: step) {
                let du = Double(u) - x, dv = Double(v) - y
                if du * du + dv * dv <= window * window { points.append((Double(u), Double(v), Double(image[u, v]))) }
            }
        }
        guard points.count >= 30 else { return nil }
        // Parameters: x₀, y₀, R, A, B, bx, by.
        var p = [x, y, radius, amplitude, 0, 0, 0]
        // Start B from the window's lower values (background), A as given.
        let sortedValues = points.map(\.value).sorted()
        p[4] = sortedValues[sortedValues.count / 4]

        func model(_ p: [Double], _ u: Double, _ v: Double) -> Double {
            let du = u - p[0], dv = v - p[1]
            let q = 1 - (du * du + dv * dv) / (p[2] * p[2])
            return p[4] + p[5] * du + p[6] * dv + p[3] * (q > 0 ? q.squareRoot() : 0)
        }
        var weights = [Double](repeating: 1, count: points.count)
        var lambda = 1e-2
        func cost(_ p: [Double]) -> Double {
            var c = 0.0
            for (i, q) in points.enumerated() {
                let r = q.value - model(p, q.u, q.v)
                c += weights[i] * r * r
            }
            return c
        }
        var current = cost(p)
        for iteration in 0..<12 {
            // Tukey biweights from the current residuals (c = 4.685 robust SD).
            if iteration % 5 == 0 {
                let residuals = points.map { $0.value - model(p, $0.u, $0.v) }
                let mad = Selection.median(residuals.map { abs($0) })
                let c = max(4.685 * 1.4826 * mad, 1e-6)
                weights = residuals.map { r in
                    let t = r / c
                    return abs(t) < 1 ? (1 - t * t) * (1 - t * t) : 0
                }
                current = cost(p)
            }
            // Normal equations (7 × 7), accumulated in SIMD rows (lane 7 unused): the same
            // products in the same order as element-wise loops, so results are unchanged.
            var jtj = [SIMD8<Double>](repeating: .zero, count: 7)
            var jtr = SIMD8<Double>.zero
            let r2 = p[2] * p[2]
            for (i, q) in points.enumerated() where weights[i] > 0 {
                let r = q.value - model(p, q.u, q.v)
                // Analytic Jacobian; √q is floored at 0.05 where the chord profile's
                // derivative is unbounded (the rim).
                let du = q.u - p[0], dv = q.v - p[1]
                let rho2 = du * du + dv * dv
                let inside = 1 - rho2 / r2
                let root = inside > 0 ? inside.squareRoot() : 0
                let g = inside > 0 ? p[3] / max(root, 0.05) : 0
                let j = SIMD8<Double>(-p[5] + g * du / r2, -p[6] + g * dv / r2, g * rho2 / (r2 * p[2]), root, 1, du, dv, 0)
                let wj = weights[i] * j
                jtr += wj * r
                for a in 0..<7 { jtj[a] += wj[a] * j }
            }
            // Upper triangle as accumulated; the lower one mirrors it (exactly symmetric).
            let normal = (0..<7).map { a in (0..<7).map { b in b >= a ? jtj[a][b] : jtj[b][a] } }
            let rhs = (0..<7).map { jtr[$0] }
            var improved = false
            for _ in 0..<6 {
                var damped = normal
                for a in 0..<7 { damped[a][a] *= 1 + lambda }
                guard let delta = LinearSystem.solve(damped, rhs, pivotTolerance: 1e-15) else { lambda *= 10; continue }
                var candidate = p
                for k in 0..<7 { candidate[k] += delta[k] }
                candidate[2] = max(candidate[2], 1)
                let c = cost(candidate)
                if c < current {
                    let change = abs(current - c) / max(current, 1e-12)
                    p = candidate
                    current = c
                    lambda = max(lambda / 3, 1e-6)
                    improved = true
                    if change < 1e-6 { break }
                    break
                }
                lambda *= 4
            }
            if !improved { break }
        }
        guard p[3] > 0, p[2] > 1, p[2] < 2 * window,
              hypot(p[0] - x, p[1] - y) < radius else { return nil }
        let residuals = points.map { $0.value - model(p, $0.u, $0.v) }
        let spread = 1.4826 * Selection.median(residuals.map { abs($0) })
        return SphereProfileFit(x: p[0], y: p[1], radius: p[2], amplitude: p[3], relativeResidual: spread / p[3])
    }
}
