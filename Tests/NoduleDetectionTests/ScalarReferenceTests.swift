import Foundation
@testable import NoduleDetection
import ScaleSpace
import Testing
import TestSupport

/// The detector's inner loops were rewritten for speed (SIMD lanes, flat arrays, row-wise
/// passes) on the promise that every value is computed by the same arithmetic in the same
/// order. These tests hold them to it: each is compared, exactly (`==`), with a plain
/// one-value-at-a-time reference written the obvious way.
@Suite("Fast paths equal their scalar references")
struct ScalarReferenceTests {
    // MARK: Selection

    @Test("kth equals the sorted array's element k, duplicates and all")
    func kthElement() {
        var rng = SeededRandomNumberGenerator(seed: 31)
        for count in [1, 2, 3, 7, 64, 601] {
            for distinct in [2, 1000] {
                let values = (0..<count).map { _ in Double(Int.random(in: 0..<distinct, using: &rng)) / 7 }
                let sorted = values.sorted()
                for k in Set([0, count / 4, count / 2, count - 1]) {
                    var copy = values
                    #expect(Selection.kth(&copy, k) == sorted[k], "n \(count), k \(k)")
                    #expect(copy.sorted() == sorted, "kth must only reorder")
                }
                #expect(Selection.median(values) == sorted[count / 2])
            }
        }
    }

    // MARK: Chamfer distance

    /// The 3-4 chamfer distance, one pixel at a time (neighbours read as updated).
    static func referenceDistance(to set: [Bool], width w: Int, height h: Int) -> [Float] {
        let big = Float(w + h) * 2
        var d = set.map { $0 ? Float(0) : big }
        let diagonal: Float = 1.41421356
        for y in 0..<h {
            for x in 0..<w {
                var v = d[y * w + x]
                if x > 0 { v = min(v, d[y * w + x - 1] + 1) }
                if y > 0 {
                    v = min(v, d[(y - 1) * w + x] + 1)
                    if x > 0 { v = min(v, d[(y - 1) * w + x - 1] + diagonal) }
                    if x < w - 1 { v = min(v, d[(y - 1) * w + x + 1] + diagonal) }
                }
                d[y * w + x] = v
            }
        }
        for y in stride(from: h - 1, through: 0, by: -1) {
            for x in stride(from: w - 1, through: 0, by: -1) {
                var v = d[y * w + x]
                if x < w - 1 { v = min(v, d[y * w + x + 1] + 1) }
                if y < h - 1 {
                    v = min(v, d[(y + 1) * w + x] + 1)
                    if x < w - 1 { v = min(v, d[(y + 1) * w + x + 1] + diagonal) }
                    if x > 0 { v = min(v, d[(y + 1) * w + x - 1] + diagonal) }
                }
                d[y * w + x] = v
            }
        }
        return d
    }

    @Test("the row-wise chamfer distance equals the pixel-at-a-time one",
          arguments: [(1, 1), (1, 9), (9, 1), (2, 2), (17, 5), (64, 48), (200, 193)])
    func chamferDistance(width: Int, height: Int) {
        var rng = SeededRandomNumberGenerator(seed: UInt64(width * 1000 + height))
        for density in [0.0, 0.002, 0.05, 0.5, 1.0] {
            let set = (0..<(width * height)).map { _ in Double.random(in: 0..<1, using: &rng) < density }
            let fast = Morphology.distance(to: set, width: width, height: height)
            let reference = Self.referenceDistance(to: set, width: width, height: height)
            let mismatches = zip(fast, reference).filter { $0 != $1 }.count
            #expect(fast.count == reference.count && mismatches == 0, "\(width)×\(height), density \(density): \(mismatches) pixels differ")
        }
    }

    // MARK: Linear systems

    /// Gauss–Jordan with partial pivoting on nested arrays, written the obvious way.
    static func referenceSolve(_ m: [[Double]], _ b: [Double], pivotTolerance: Double) -> [Double]? {
        let n = b.count
        var a = m, y = b
        for col in 0..<n {
            guard let pivot = (col..<n).max(by: { abs(a[$0][col]) < abs(a[$1][col]) }),
                  abs(a[pivot][col]) > pivotTolerance else { return nil }
            a.swapAt(col, pivot)
            y.swapAt(col, pivot)
            for r in 0..<n where r != col {
                let f = a[r][col] / a[col][col]
                if f == 0 { continue }
                for c in col..<n { a[r][c] -= f * a[col][c] }
                y[r] -= f * y[col]
            }
        }
        return (0..<n).map { y[$0] / a[$0][$0] }
    }

    @Test("LinearSystem.solve equals the nested-array reference, pivots, ties and singular systems included")
    func linearSystem() {
        var rng = SeededRandomNumberGenerator(seed: 43)
        var solved = 0
        for n in [1, 2, 3, 7] {
            for trial in 0..<200 {
                // Integers from a small range: ties between pivot candidates, zero pivots and
                // singular systems all occur.
                let small = trial % 2 == 0
                let m = (0..<n).map { _ in (0..<n).map { _ in
                    small ? Double(Int.random(in: -2...2, using: &rng)) : Double.random(in: -1...1, using: &rng)
                } }
                let b = (0..<n).map { _ in Double.random(in: -5...5, using: &rng) }
                let fast = LinearSystem.solve(m, b, pivotTolerance: 1e-12)
                let reference = Self.referenceSolve(m, b, pivotTolerance: 1e-12)
                #expect(fast == reference, "n \(n), trial \(trial)")
                if let x = fast {
                    solved += 1
                    for r in 0..<n {
                        let mx = (0..<n).reduce(0.0) { $0 + m[r][$1] * x[$1] }
                        #expect(abs(mx - b[r]) <= 1e-6 * max(1, abs(b[r])) * Double(n) * 1e3, "residual, n \(n)")
                    }
                }
            }
        }
        #expect(solved > 400, "most random systems are solvable (\(solved))")
        #expect(LinearSystem.solve([[0, 1], [1, 0]], [2, 3], pivotTolerance: 1e-12) == [3, 2])
        #expect(LinearSystem.solve([[1, 2], [2, 4]], [1, 2], pivotTolerance: 1e-12) == nil)
        #expect(LinearSystem.solve([], [], pivotTolerance: 1e-12) == [])
    }

    // MARK: Candidate region

    @Test("candidates may sit inside the field, within the margin of it, or in the search region, and nowhere else")
    func candidateRegion() throws {
        let pipeline = try PipelineDefinition.decode(path: Fixtures.repositoryRoot() + "/Pipelines/cxr-nodules.json")
        var chest = SyntheticChest()
        chest.nodules = [(300, 300, 14, 500)]
        let result = NoduleDetector(pipeline: pipeline, threads: 1).detect(chest.radiograph())
        let lungs = result.lungField
        let identity = (x: 1.0, y: 1.0)
        for margin in [0.0, 6.0] {
            var inside = 0, outside = 0, widened = 0
            for y in 0..<lungs.height {
                for x in 0..<lungs.width {
                    let allowed = lungs.allowsCandidate(gridX: x, gridY: y, scale: identity, marginMM: margin)
                    if lungs.mask[y * lungs.width + x] != 0 {
                        #expect(allowed, "mask pixel (\(x), \(y)) refused")
                        inside += 1
                    } else if lungs.searchRegion[y * lungs.width + x] == 0 {
                        // Off the field and the search region: allowed exactly within the margin.
                        let depth = lungs.depthMM(x: Double(x), y: Double(y))
                        #expect(allowed == (depth >= -margin), "(\(x), \(y)) at \(depth) mm, margin \(margin) mm")
                        if allowed { widened += 1 } else { outside += 1 }
                    }
                }
            }
            #expect(inside > 0 && outside > 0, "margin \(margin) mm: \(inside) allowed in the field, \(outside) refused")
            if margin > 0 { #expect(widened > 0, "a \(margin) mm margin allows pixels off the field") }
            // On a grid three times finer, pixel (3x + 1, 3y + 1) is centred on mask pixel (x, y).
            let third = (x: 1.0 / 3, y: 1.0 / 3)
            var differing = 0
            for y in 0..<lungs.height {
                for x in 0..<lungs.width
                where lungs.allowsCandidate(gridX: 3 * x + 1, gridY: 3 * y + 1, scale: third, marginMM: margin)
                    != lungs.allowsCandidate(gridX: x, gridY: y, scale: identity, marginMM: margin) { differing += 1 }
            }
            #expect(differing == 0, "margin \(margin) mm: \(differing) pixels differ on the finer grid")
        }
    }

    // MARK: Scale-space maxima

    @Test("scale-space maxima are exactly the points above all 26 neighbours, inside the mask")
    func scaleSpaceMaxima() {
        var rng = SeededRandomNumberGenerator(seed: 7)
        let w = 96, h = 80
        // Random blobs of assorted sizes on noise: plenty of maxima, some on plateaus of the mask edge.
        let blobs = (0..<25).map { _ in
            (Double.random(in: 0..<Double(w), using: &rng), Double.random(in: 0..<Double(h), using: &rng),
             Double.random(in: 1.5...8, using: &rng), Double.random(in: -0.5...1, using: &rng))
        }
        let image = FloatImage(width: w, height: h) { x, y in
            var v = Float.random(in: -0.05...0.05, using: &rng)
            for (bx, by, r, a) in blobs {
                v += Float(a * exp(-((Double(x) - bx) * (Double(x) - bx) + (Double(y) - by) * (Double(y) - by)) / (2 * r * r)))
            }
            return v
        }
        let sigmas = ScaleSpace.geometricSigmas(from: 1.2, to: 7, count: 7)
        let accept: (Int, Int) -> Bool = { x, y in (x / 7 + y / 5) % 3 != 0 }
        let minimum: Float = 0.01
        let found = ScaleSpaceMaxima.find(in: image, sigmas: sigmas, minimumResponse: minimum,
                                          scaleSpace: ScaleSpace(sigmas: sigmas, threads: 1), accept: accept)
        // Reference: every level (−σ²∇²G), every interior pixel against its 26 neighbours.
        let levels = ScaleSpace(sigmas: sigmas, threads: 1).stack(image, filter: .log).map { level in
            FloatImage(width: w, height: h) { x, y in -level.response[x, y] }
        }
        var expected: [(x: Int, y: Int, response: Float)] = []
        for (i, level) in levels.enumerated() {
            for y in 1..<(h - 1) {
                for x in 1..<(w - 1) {
                    let v = level[x, y]
                    guard v >= minimum, accept(x, y) else { continue }
                    var isMax = true
                    for j in max(0, i - 1)...min(levels.count - 1, i + 1) {
                        for dy in -1...1 {
                            for dx in -1...1 where !(j == i && dx == 0 && dy == 0) && levels[j][x + dx, y + dy] >= v {
                                isMax = false
                            }
                        }
                    }
                    if isMax { expected.append((x, y, v)) }
                }
            }
        }
        #expect(found.count == expected.count && found.count > 10, "\(found.count) found, \(expected.count) expected")
        for blob in found {
            let match = expected.contains { e in
                Double(e.response) == blob.response && abs(blob.x - Double(e.x)) <= 0.5 && abs(blob.y - Double(e.y)) <= 0.5
            }
            #expect(match, "unexpected maximum at (\(blob.x), \(blob.y)), response \(blob.response)")
        }
    }

    // MARK: Background plane

    /// The robust annulus plane, one sample at a time with per-sample feature vectors.
    static func referencePlane(_ patch: FloatImage, cx: Double, cy: Double, inner: Double, outer: Double)
        -> (a: Double, b: Double, c: Double, noise: Double)? {
        var points: [(u: Double, v: Double, value: Double)] = []
        let area = Double.pi * (outer * outer - inner * inner)
        let step = max(1, Int((area / 600).squareRoot()))
        for v in stride(from: 0, to: patch.height, by: step) {
            for u in stride(from: 0, to: patch.width, by: step) {
                let d2 = (Double(u) - cx) * (Double(u) - cx) + (Double(v) - cy) * (Double(v) - cy)
                if d2 >= inner * inner && d2 <= outer * outer { points.append((Double(u), Double(v), Double(patch[u, v]))) }
            }
        }
        guard points.count >= 12 else { return nil }
        var keep = [Bool](repeating: true, count: points.count)
        var plane = (a: 0.0, b: 0.0, c: 0.0)
        var noise = 0.0
        for _ in 0..<3 {
            var m = [[Double]](repeating: [0, 0, 0], count: 3), rhs = [0.0, 0.0, 0.0]
            for (i, q) in points.enumerated() where keep[i] {
                let f = [1, q.u - cx, q.v - cy]
                for r in 0..<3 {
                    rhs[r] += f[r] * q.value
                    for c in 0..<3 { m[r][c] += f[r] * f[c] }
                }
            }
            guard let s = LinearSystem.solve(m, rhs, pivotTolerance: 1e-12) else { return nil }
            plane = (s[0] - s[1] * cx - s[2] * cy, s[1], s[2])
            let residuals = points.map { $0.value - (plane.a + plane.b * $0.u + plane.c * $0.v) }
            let median = Selection.median(residuals)
            let mad = Selection.median(residuals.map { abs($0 - median) })
            noise = max(1.4826 * mad, 1e-6)
            for i in points.indices { keep[i] = residuals[i] - median <= 2.5 * noise }
        }
        return (plane.a, plane.b, plane.c, noise)
    }

    /// A noisy sloping patch with a projected sphere at (cx, cy) and a bright bar across it.
    static func patch(size: Int, radius: Double, using rng: inout SeededRandomNumberGenerator) -> FloatImage {
        let c = Double(size) / 2 + Double.random(in: -1...1, using: &rng)
        let slope = (Double.random(in: -0.01...0.01, using: &rng), Double.random(in: -0.01...0.01, using: &rng))
        let bar = Int.random(in: 0..<size, using: &rng)
        var values = [Float](repeating: 0, count: size * size)
        for y in 0..<size {
            for x in 0..<size {
                let rho2 = (Double(x) - c) * (Double(x) - c) + (Double(y) - c) * (Double(y) - c)
                var v = 0.4 + slope.0 * Double(x) + slope.1 * Double(y)
                v += 0.2 * max(0, 1 - rho2 / (radius * radius)).squareRoot()
                if abs(y - bar) < 3 { v += 0.15 }
                v += Double.random(in: -0.03...0.03, using: &rng)
                values[y * size + x] = Float(v)
            }
        }
        return FloatImage(width: size, height: size, values: values)
    }

    @Test("the background plane equals the per-sample reference")
    func backgroundPlane() {
        var rng = SeededRandomNumberGenerator(seed: 2026)
        for trial in 0..<24 {
            let radius = Double.random(in: 4...30, using: &rng)
            let size = Int(2 * 2.5 * radius) + 6
            let image = Self.patch(size: size, radius: radius, using: &rng)
            let cx = Double(size) / 2 + Double.random(in: -2...2, using: &rng), cy = Double(size) / 2
            let fast = NoduleMeasurement.backgroundPlane(image, cx: cx, cy: cy, inner: 1.5 * radius, outer: 2.5 * radius)
            let reference = Self.referencePlane(image, cx: cx, cy: cy, inner: 1.5 * radius, outer: 2.5 * radius)
            #expect(fast != nil, "trial \(trial)")
            #expect(fast?.a == reference?.a && fast?.b == reference?.b && fast?.c == reference?.c
                    && fast?.noise == reference?.noise, "trial \(trial): \(String(describing: fast)) vs \(String(describing: reference))")
        }
    }

    // MARK: Sphere fit

    /// The projected-sphere Levenberg–Marquardt fit, one sample at a time.
    static func referenceFit(_ image: FloatImage, x: Double, y: Double, radius: Double, amplitude: Double)
        -> (x: Double, y: Double, radius: Double, amplitude: Double, residual: Double)? {
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
        var p = [x, y, radius, amplitude, 0, 0, 0]
        p[4] = points.map(\.value).sorted()[points.count / 4]
        func model(_ p: [Double], _ u: Double, _ v: Double) -> Double {
            let du = u - p[0], dv = v - p[1]
            let q = 1 - (du * du + dv * dv) / (p[2] * p[2])
            return p[4] + p[5] * du + p[6] * dv + p[3] * (q > 0 ? q.squareRoot() : 0)
        }
        var weights = [Double](repeating: 1, count: points.count)
        func cost(_ p: [Double]) -> Double {
            var c = 0.0
            for (i, q) in points.enumerated() {
                let r = q.value - model(p, q.u, q.v)
                c += weights[i] * r * r
            }
            return c
        }
        var lambda = 1e-2
        var current = cost(p)
        for iteration in 0..<12 {
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
            var jtj = [[Double]](repeating: [Double](repeating: 0, count: 7), count: 7)
            var jtr = [Double](repeating: 0, count: 7)
            let r2 = p[2] * p[2]
            for (i, q) in points.enumerated() where weights[i] > 0 {
                let r = q.value - model(p, q.u, q.v)
                let du = q.u - p[0], dv = q.v - p[1]
                let rho2 = du * du + dv * dv
                let inside = 1 - rho2 / r2
                let root = inside > 0 ? inside.squareRoot() : 0
                let g = inside > 0 ? p[3] / max(root, 0.05) : 0
                let j = [-p[5] + g * du / r2, -p[6] + g * dv / r2, g * rho2 / (r2 * p[2]), root, 1, du, dv]
                for a in 0..<7 {
                    let wj = weights[i] * j[a]
                    jtr[a] += wj * r
                    for b in a..<7 { jtj[a][b] += wj * j[b] }
                }
            }
            let normal = (0..<7).map { a in (0..<7).map { b in b >= a ? jtj[a][b] : jtj[b][a] } }
            var improved = false
            for _ in 0..<6 {
                var damped = normal
                for a in 0..<7 { damped[a][a] *= 1 + lambda }
                guard let delta = LinearSystem.solve(damped, jtr, pivotTolerance: 1e-15) else { lambda *= 10; continue }
                var candidate = p
                for k in 0..<7 { candidate[k] += delta[k] }
                candidate[2] = max(candidate[2], 1)
                let c = cost(candidate)
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
        guard p[3] > 0, p[2] > 1, p[2] < 2 * window, hypot(p[0] - x, p[1] - y) < radius else { return nil }
        let residuals = points.map { $0.value - model(p, $0.u, $0.v) }
        let spread = 1.4826 * Selection.median(residuals.map { abs($0) })
        return (p[0], p[1], p[2], p[3], spread / p[3])
    }

    @Test("the four-lane sphere fit equals the one-sample-at-a-time reference")
    func sphereFit() {
        var rng = SeededRandomNumberGenerator(seed: 4040)
        var converged = 0
        for trial in 0..<40 {
            let radius = Double.random(in: 3...30, using: &rng)
            let size = Int(4 * radius) + 8
            let image = Self.patch(size: size, radius: radius, using: &rng)
            // Started off-centre and mis-sized, as the detector starts it.
            let x = Double(size) / 2 + Double.random(in: -0.3...0.3, using: &rng) * radius
            let y = Double(size) / 2 + Double.random(in: -0.3...0.3, using: &rng) * radius
            let start = radius * Double.random(in: 0.6...1.5, using: &rng)
            let fast = SphereProfileFit.fit(image, x: x, y: y, radius: start, amplitude: 0.2)
            let reference = Self.referenceFit(image, x: x, y: y, radius: start, amplitude: 0.2)
            #expect((fast == nil) == (reference == nil), "trial \(trial)")
            if let fast, let reference {
                converged += 1
                #expect(fast.x == reference.x && fast.y == reference.y && fast.radius == reference.radius
                        && fast.amplitude == reference.amplitude && fast.relativeResidual == reference.residual,
                        "trial \(trial): \(fast) vs \(reference)")
            }
        }
        #expect(converged >= 30, "only \(converged) of 40 fits converged; the comparison needs fits to compare")
    }
}
