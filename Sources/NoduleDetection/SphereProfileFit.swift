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
    /// The fitted model: x₀, y₀, R, A, B, bx, by (lane 7 unused).
    var parameters: SIMD8<Double>
    /// Robust RMS of the residual relative to the amplitude (0 = perfect fit).
    var relativeResidual: Double
    /// Centre (px of the image), radius R (px) and amplitude A (intensity).
    var x: Double { parameters[0] }
    var y: Double { parameters[1] }
    var radius: Double { parameters[2] }
    var amplitude: Double { parameters[3] }

    /// The window's radius over the start radius.
    static let windowFactor = 1.8

    /// The robust spread (1.4826 · median absolute residual, intensity) of the model `parameters`
    /// over the window samples of a disc of `window` px around (x, y): fits started from
    /// different radii, compared on the same samples. nil when the window holds too few.
    static func spread(_ image: FloatImage, parameters p: SIMD8<Double>, x: Double, y: Double, window: Double) -> Double? {
        guard let (us, vs, values) = windowSamples(image, x: x, y: y, window: window) else { return nil }
        let samples = Samples(us: us, vs: vs, values: values)
        var scratch = Scratch(count: samples.padded)
        return samples.robustSpread(p, &scratch)
    }

    /// About 300 samples on a regular grid over the disc of `window` px around (x, y), as
    /// parallel arrays (u, v: px of `image`; value: intensity); nil when fewer than 30.
    static func windowSamples(_ image: FloatImage, x: Double, y: Double, window: Double)
        -> (us: [Double], vs: [Double], values: [Double])? {
        let x0 = max(0, Int((x - window).rounded(.down))), x1 = min(image.width - 1, Int((x + window).rounded(.up)))
        let y0 = max(0, Int((y - window).rounded(.down))), y1 = min(image.height - 1, Int((y + window).rounded(.up)))
        guard x1 - x0 >= 6, y1 - y0 >= 6 else { return nil }
        let step = max(1, Int((Double.pi * window * window / 300).squareRoot()))
        var us: [Double] = [], vs: [Double] = [], values: [Double] = []
        image.withUnsafeStridedPointer { pixels, rowStride in
            for v in stride(from: y0, through: y1, by: step) {
                for u in stride(from: x0, through: x1, by: step) {
                    let du = Double(u) - x, dv = Double(v) - y
                    if du * du + dv * dv <= window * window {
                        us.append(Double(u))
                        vs.append(Double(v))
                        values.append(Double(pixels[v * rowStride + u]))
                    }
                }
            }
        }
        return values.count >= 30 ? (us, vs, values) : nil
    }

    static func fit(_ image: FloatImage, x: Double, y: Double, radius: Double, amplitude: Double) -> SphereProfileFit? {
        guard radius > 1, amplitude > 0 else { return nil }
        let window = windowFactor * radius
        guard let (us, vs, values) = windowSamples(image, x: x, y: y, window: window) else { return nil }
        let samples = Samples(us: us, vs: vs, values: values)
        // Parameters: x₀, y₀, R, A, B, bx, by (lane 7 unused).
        var p = SIMD8<Double>(x, y, radius, amplitude, 0, 0, 0, 0)
        // Start B from the window's lower values (background), A as given.
        var reordered = values  // the selection reorders its argument
        p[4] = Selection.kth(&reordered, reordered.count / 4)
        var weights = [Double](repeating: 1, count: samples.count)
        var lambda = 1e-2
        var scratch = Scratch(count: samples.padded)
        var current = samples.cost(p, weights, &scratch)
        for iteration in 0..<12 {
            // Tukey biweights from the current residuals (c = 4.685 robust SD).
            if iteration % 5 == 0 {
                let residuals = samples.residuals(p, &scratch)
                let mad = Selection.median(residuals.map { abs($0) })
                let c = max(4.685 * 1.4826 * mad, 1e-6)
                for i in residuals.indices {
                    let t = residuals[i] / c
                    weights[i] = abs(t) < 1 ? (1 - t * t) * (1 - t * t) : 0
                }
                current = samples.cost(p, weights, &scratch)
            }
            let (jtj, jtr) = samples.normalEquations(p, weights, &scratch)
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
                let c = samples.cost(candidate, weights, &scratch)
                if c < current {
                    p = candidate
                    current = c
                    lambda = max(lambda / 3, 1e-6)
                    improved = true
                    break
                }
                lambda *= 4
            }
            if !improved { break }
        }
        guard p[3] > 0, p[2] > 1, p[2] < 2 * window,
              hypot(p[0] - x, p[1] - y) < radius else { return nil }
        return SphereProfileFit(parameters: p, relativeResidual: samples.robustSpread(p, &scratch) / p[3])
    }

    /// The window's samples, stored in blocks of four (padded with copies of the last)
    /// so the model is evaluated four samples at a time. Every lane does the scalar
    /// arithmetic of the model in the same order, and sums run in sample order, so
    /// the fit is the same as one sample at a time.
    struct Samples {
        let count: Int
        let padded: Int
        private let u: [SIMD4<Double>], v: [SIMD4<Double>], value: [SIMD4<Double>]

        init(us: [Double], vs: [Double], values: [Double]) {
            count = values.count
            let blocks = (count + 3) / 4
            padded = 4 * blocks
            func pack(_ a: [Double]) -> [SIMD4<Double>] {
                let last = a.count - 1
                return (0..<blocks).map { b in
                    SIMD4(a[min(4 * b, last)], a[min(4 * b + 1, last)], a[min(4 * b + 2, last)], a[min(4 * b + 3, last)])
                }
            }
            u = pack(us)
            v = pack(vs)
            value = pack(values)
        }

        /// The model at `p` for every block: residual value − model, and the pieces the
        /// Jacobian needs, kept in `scratch` so that the cost of an accepted step, the next
        /// reweighting and the next normal equations (all at the same `p`) compute it once.
        func evaluate(_ p: SIMD8<Double>, _ scratch: inout Scratch) {
            if scratch.evaluatedAt == p { return }
            let p0 = SIMD4(repeating: p[0]), p1 = SIMD4(repeating: p[1]), r2 = SIMD4(repeating: p[2] * p[2])
            for b in u.indices {
                let du = u[b] - p0, dv = v[b] - p1
                let rho2 = du * du + dv * dv
                let inside = 1 - rho2 / r2
                // √ of the positive lanes only (a negative lane would take libm's domain-error path).
                let root = SIMD4<Double>.zero.replacing(with: inside, where: inside .> 0).squareRoot()
                let model = SIMD4(repeating: p[4]) + p[5] * du + p[6] * dv + p[3] * root
                scratch.r[b] = value[b] - model
                scratch.du[b] = du
                scratch.dv[b] = dv
                scratch.rho2[b] = rho2
                scratch.inside[b] = inside
                scratch.root[b] = root
            }
            scratch.evaluatedAt = p
        }

        /// 1.4826 · the median |value − model|: the residual's robust SD.
        func robustSpread(_ p: SIMD8<Double>, _ scratch: inout Scratch) -> Double {
            1.4826 * Selection.median(residuals(p, &scratch).map { abs($0) })
        }

        /// value − model at every sample.
        func residuals(_ p: SIMD8<Double>, _ scratch: inout Scratch) -> [Double] {
            evaluate(p, &scratch)
            return scratch.withResiduals { r in (0..<count).map { r[$0] } }
        }

        /// Σ wᵢ·rᵢ², summed in sample order.
        func cost(_ p: SIMD8<Double>, _ weights: [Double], _ scratch: inout Scratch) -> Double {
            evaluate(p, &scratch)
            return scratch.withResiduals { r in
                weights.withUnsafeBufferPointer { weights in
                    var c = 0.0
                    for i in 0..<count { c += weights[i] * r[i] * r[i] }
                    return c
                }
            }
        }

        /// JᵀWJ (rows 0–6, upper triangle meaningful) and JᵀWr, accumulated in sample order
        /// over samples of positive weight, with the analytic Jacobian; √q is floored at 0.05
        /// where the chord profile's derivative is unbounded (the rim).
        func normalEquations(_ p: SIMD8<Double>, _ weights: [Double], _ scratch: inout Scratch)
            -> (jtj: [SIMD8<Double>], jtr: SIMD8<Double>) {
            evaluate(p, &scratch)
            let r2 = p[2] * p[2]
            let r2v = SIMD4(repeating: r2), r3v = SIMD4(repeating: r2 * p[2])
            for b in u.indices {
                let root = scratch.root[b], du = scratch.du[b], dv = scratch.dv[b]
                let g = SIMD4<Double>.zero.replacing(with: p[3] / root.replacing(with: 0.05, where: root .< 0.05),
                                                     where: scratch.inside[b] .> 0)
                let j0 = SIMD4(repeating: -p[5]) + g * du / r2v
                let j1 = SIMD4(repeating: -p[6]) + g * dv / r2v
                let j2 = g * scratch.rho2[b] / r3v
                for l in 0..<4 {
                    scratch.jacobian[4 * b + l] = SIMD8(j0[l], j1[l], j2[l], root[l], 1, du[l], dv[l], 0)
                }
            }
            var jtj = (SIMD8<Double>.zero, SIMD8<Double>.zero, SIMD8<Double>.zero, SIMD8<Double>.zero,
                       SIMD8<Double>.zero, SIMD8<Double>.zero, SIMD8<Double>.zero)
            var jtr = SIMD8<Double>.zero
            scratch.jacobian.withUnsafeBufferPointer { jacobian in
                scratch.withResiduals { residual in
                    weights.withUnsafeBufferPointer { weights in
                        for i in 0..<count where weights[i] > 0 {
                            let j = jacobian[i]
                            let wj = weights[i] * j
                            jtr += wj * residual[i]
                            jtj.0 += wj[0] * j
                            jtj.1 += wj[1] * j
                            jtj.2 += wj[2] * j
                            jtj.3 += wj[3] * j
                            jtj.4 += wj[4] * j
                            jtj.5 += wj[5] * j
                            jtj.6 += wj[6] * j
                        }
                    }
                }
            }
            return ([jtj.0, jtj.1, jtj.2, jtj.3, jtj.4, jtj.5, jtj.6], jtr)
        }
    }

    /// Working arrays of one fit (allocated once): per block of four, the model's pieces at
    /// `evaluatedAt`; per sample, the Jacobian row (lane 7 unused).
    struct Scratch {
        var evaluatedAt: SIMD8<Double>?
        var r, du, dv, rho2, inside, root: [SIMD4<Double>]
        var jacobian: [SIMD8<Double>]
        init(count: Int) {
            let blocks = [SIMD4<Double>](repeating: .zero, count: count / 4)
            (r, du, dv, rho2, inside, root) = (blocks, blocks, blocks, blocks, blocks, blocks)
            jacobian = [SIMD8<Double>](repeating: .zero, count: count)
        }

        /// The residuals sample by sample (the blocks' lanes in order).
        func withResiduals<T>(_ body: (UnsafePointer<Double>) -> T) -> T {
            r.withUnsafeBufferPointer { blocks in
                UnsafeRawPointer(blocks.baseAddress!).withMemoryRebound(to: Double.self, capacity: 4 * blocks.count, body)
            }
        }
    }
}
