#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ScaleSpace

/// Why a registration was judged unreliable.
public enum RegistrationIssue: Hashable, Sendable, CustomStringConvertible {
    /// Band-pass normalised cross-correlation after alignment below the threshold.
    case lowQuality(quality: Double, threshold: Double)
    /// Too little of the reference region lands inside the exam after alignment.
    case smallOverlap(fraction: Double, threshold: Double)
    /// Scale, rotation or translation outside what repositioning of a PA chest radiograph can explain.
    case implausibleTransform(SimilarityTransform)
    /// The images are too small or featureless at the working spacing.
    case insufficientImage(String)

    public var description: String {
        switch self {
        case let .lowQuality(q, t): "quality \(String((q * 1000).rounded() / 1000)) below \(t)"
        case let .smallOverlap(f, t): "overlap \(String((f * 1000).rounded() / 1000)) below \(t)"
        case let .implausibleTransform(tr): "implausible transform (\(tr))"
        case let .insufficientImage(m): "insufficient image: \(m)"
        }
    }
}

/// The outcome of registering an exam to the patient's reference exam.
public struct RegistrationResult: Hashable, Sendable {
    /// Maps the exam's mm coordinates to the reference exam's mm coordinates.
    public var transform: SimilarityTransform
    /// Median over 16 mm patches of the normalised cross-correlation of
    /// band-passed intensities (structures of roughly 2–8 mm at the default
    /// working spacing) inside the reference lung region after alignment,
    /// clamped to 0–1. Unrelated images score near 0, identical ones 1.
    public var quality: Double
    /// Fraction of the reference region that falls inside the exam after alignment, 0–1.
    public var overlap: Double
    /// Empty when reliable.
    public var issues: [RegistrationIssue]

    /// True when every check passed; an unreliable transform must not be used to link nodules.
    public var isReliable: Bool { issues.isEmpty }

    public init(transform: SimilarityTransform, quality: Double, overlap: Double, issues: [RegistrationIssue]) {
        self.transform = transform
        self.quality = quality
        self.overlap = overlap
        self.issues = issues
    }

    /// The reference exam against itself.
    public static let reference = RegistrationResult(transform: .identity, quality: 1, overlap: 1, issues: [])
}

/// Estimates the similarity transform (translation, rotation, isotropic scale)
/// between an exam and the patient's reference exam from the images themselves.
///
/// Method:
/// 1. Both images (already at one common spacing, mm/px) are downsampled to
///    ``Configuration/workingSpacingMM`` (2 mm/px by default) and normalised to
///    zero mean and unit variance.
/// 2. Coarse search: for each rotation and scale on a small grid, the exam is
///    resampled into the reference frame and the translation is found by phase
///    correlation (Hann window, Gaussian low-pass on the cross-power spectrum,
///    sub-pixel parabolic peak). The highest peak wins.
/// 3. Refinement: Levenberg–Marquardt (damped Gauss–Newton) on the intensity
///    residual α·E(W(y)) + β − R(y) over the reference lung mask, with the
///    four similarity parameters plus a photometric gain α and bias β, first at
///    twice the working spacing, then at the working spacing, then once more at
///    the working spacing on band-passed intensities (``Configuration/bandPassSigmaPx``),
///    which large-scale differences of the imaging chain between exams do not bias.
///    The band-passed step is also run alone from the coarse start, and the result
///    of higher quality is kept (the intensity steps can drift when exams differ in
///    collimation, markers and exposure).
/// 4. Checks: quality (band-pass NCC) ≥ ``Configuration/minimumQuality``,
///    overlap ≥ ``Configuration/minimumOverlap``, and the transform within the
///    plausibility bounds. Anything else is flagged in ``RegistrationResult/issues``.
public struct ExamRegistration: Sendable {
    public struct Configuration: Hashable, Sendable {
        /// Spacing of the working images, mm/px.
        public var workingSpacingMM: Double = 2.0
        /// Rotations tried in the coarse search, degrees.
        public var rotationGridDegrees: [Double] = [-6, -3, 0, 3, 6]
        /// Scales tried in the coarse search.
        public var scaleGrid: [Double] = [0.95, 1, 1.05]
        /// The final refinement works on intensities band-passed as Gaussian σ 0.7 px minus
        /// σ this many px at the working spacing (2 px = 4 mm by default; a value not above 0.7
        /// leaves no band and skips the step, as nil does).
        /// Measured on 79 later exams of two serial phantom sets (README), the worst-point
        /// error fell from a median of 2.5 to 0.3 mm, the maximum from 15.4 to 1.4 mm.
        public var bandPassSigmaPx: Double? = 2
        /// Reliability threshold on ``RegistrationResult/quality``. Provisional, set on
        /// synthetic data: on 208 later exams of four independently generated serial phantom
        /// sets every registration within 5.2 mm of the truth scored ≥ 0.917; the wrong ones
        /// seen scored 0.06 and 0.43 (20 mm off; Data/phantom-d series 23) and, before the
        /// band-passed step, 0.68 and 0.74 (8–12 mm off). Unrelated images score 0.0–0.1.
        public var minimumQuality: Double = 0.75
        /// Reliability threshold on ``RegistrationResult/overlap``.
        public var minimumOverlap: Double = 0.7
        /// Plausibility: |rotation| ≤ this, degrees.
        public var maximumRotationDegrees: Double = 15
        /// Plausibility: scale within this range.
        public var scaleRange: ClosedRange<Double> = 0.85...1.18
        /// Plausibility: displacement of the image centre ≤ this, mm.
        public var maximumTranslationMM: Double = 80

        public init() {}
    }

    public var configuration: Configuration

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// Registers `exam` to `reference`.
    /// - Parameters:
    ///   - spacingMM: the common pixel spacing of both images (and masks), mm/px.
    ///   - referenceMask, examMask: lung masks (1 inside, 0 outside) of the same size as
    ///     their images, or nil to use the whole image.
    /// - Returns: the exam → reference transform with its quality; check ``RegistrationResult/isReliable``.
    public func register(exam: FloatImage, examMask: FloatImage? = nil,
                         reference: FloatImage, referenceMask: FloatImage? = nil,
                         spacingMM: Double) -> RegistrationResult {
        precondition(spacingMM > 0 && spacingMM.isFinite, "spacing is a positive number of mm/px")
        if let referenceMask { precondition(referenceMask.width == reference.width && referenceMask.height == reference.height, "reference mask size") }
        if let examMask { precondition(examMask.width == exam.width && examMask.height == exam.height, "exam mask size") }
        let factor = max(1, configuration.workingSpacingMM / spacingMM)
        var ref = Plane(reference, spacingX: spacingMM, spacingY: spacingMM).downsampled(factor: factor)
        var ex = Plane(exam, spacingX: spacingMM, spacingY: spacingMM).downsampled(factor: factor)
        guard min(ref.width, ref.height, ex.width, ex.height) >= 16 else {
            return RegistrationResult(transform: .identity, quality: 0, overlap: 0,
                                      issues: [.insufficientImage("smaller than 16 px at \(configuration.workingSpacingMM) mm/px")])
        }
        let refRegion = Self.region(referenceMask, spacingMM: spacingMM, like: ref)
        guard Self.normalise(&ref, over: refRegion), Self.normalise(&ex, over: nil) else {
            return RegistrationResult(transform: .identity, quality: 0, overlap: 0, issues: [.insufficientImage("constant intensity")])
        }
        _ = examMask  // The exam mask is accepted for symmetry; the residual lives on the reference region.

        // 1. Coarse search: rotation × scale grid, translation by phase correlation.
        let cx = ref.widthMM / 2, cy = ref.heightMM / 2
        var best = (score: -Double.infinity, warp: Warp(a: 1, b: 0, dx: 0, dy: 0, cx: cx, cy: cy))
        let fixed = PhaseCorrelation.Reference(ref, window: Self.hann(like: ref))
        for degrees in configuration.rotationGridDegrees {
            for scale in configuration.scaleGrid {
                let th = degrees * .pi / 180
                let w0 = Warp(a: scale * cos(th), b: scale * sin(th), dx: 0, dy: 0, cx: cx, cy: cy)
                let warped = w0.resample(ex, onto: ref)
                let (vx, vy, peak) = PhaseCorrelation.shift(from: fixed, to: warped.plane)
                // warped(y) ≈ ref(y − v)  ⇒  E(W0(y + v)) ≈ R(y)  ⇒  d = A·v.
                if peak > best.score {
                    best = (peak, Warp(a: w0.a, b: w0.b, dx: w0.a * vx - w0.b * vy, dy: w0.b * vx + w0.a * vy, cx: cx, cy: cy))
                }
            }
        }

        // 2. Refinement, coarse then fine.
        var warp = best.warp
        let coarseRef = ref.downsampled(factor: 2), coarseEx = ex.downsampled(factor: 2)
        warp = Refinement.run(reference: coarseRef.blurred(sigmaPx: 0.7), exam: coarseEx.blurred(sigmaPx: 0.7),
                              region: Self.region(referenceMask, spacingMM: spacingMM, like: coarseRef),
                              start: warp)
        warp = Refinement.run(reference: ref.blurred(sigmaPx: 0.7), exam: ex.blurred(sigmaPx: 0.7), region: refRegion, start: warp)
        // Last, on band-passed intensities: the imaging chain (exposure, heel effect, dynamic-range
        // compression) differs between exams at large scales, which the gain and bias of the
        // photometric model cannot absorb; edges of ribs and vessels do not.
        var alternative: Warp?
        if let wide = configuration.bandPassSigmaPx, wide > 0.7 {
            let bandRef = ref.bandPassed(0.7, wide), bandEx = ex.bandPassed(0.7, wide)
            warp = Refinement.run(reference: bandRef, exam: bandEx, region: refRegion, start: warp)
            // When exams differ that much (collimation, side markers, exposure), the intensity steps can
            // pull away from a right coarse start; the band-passed step alone from that start is tried too.
            alternative = Refinement.run(reference: bandRef, exam: bandEx, region: refRegion, start: best.warp)
        }

        // 3. Quality (the alternative is kept only when its quality is strictly higher) and checks.
        let qualityBands = Self.qualityBands(reference: ref, exam: ex)
        var (quality, overlap) = Self.quality(bands: qualityBands, region: refRegion, warp: warp)
        if let alternative {
            let other = Self.quality(bands: qualityBands, region: refRegion, warp: alternative)
            if other.quality > quality { (warp, quality, overlap) = (alternative, other.quality, other.overlap) }
        }
        let transform = warp.similarity.inverse
        var issues: [RegistrationIssue] = []
        if quality < configuration.minimumQuality { issues.append(.lowQuality(quality: quality, threshold: configuration.minimumQuality)) }
        if overlap < configuration.minimumOverlap { issues.append(.smallOverlap(fraction: overlap, threshold: configuration.minimumOverlap)) }
        let centre = transform.apply(xMM: cx, yMM: cy)
        let shift = ((centre.xMM - cx) * (centre.xMM - cx) + (centre.yMM - cy) * (centre.yMM - cy)).squareRoot()
        if abs(transform.rotationDegrees) > configuration.maximumRotationDegrees || !configuration.scaleRange.contains(transform.scale)
            || shift > configuration.maximumTranslationMM || !shift.isFinite {
            issues.append(.implausibleTransform(transform))
        }
        return RegistrationResult(transform: transform, quality: quality, overlap: overlap, issues: issues)
    }

    // MARK: Pieces

    /// The mask resampled onto `plane`'s grid as booleans (nil mask → all true).
    static func region(_ mask: FloatImage?, spacingMM: Double, like plane: Plane) -> [Bool] {
        guard let mask else { return [Bool](repeating: true, count: plane.data.count) }
        let m = Plane(mask, spacingX: spacingMM, spacingY: spacingMM)
        var out = [Bool](repeating: false, count: plane.data.count)
        for y in 0..<plane.height {
            for x in 0..<plane.width {
                let (mx, my) = plane.centre(x, y)
                out[y * plane.width + x] = (m.sample(xMM: mx, yMM: my) ?? 0) >= 0.5
            }
        }
        return out
    }

    /// Zero mean, unit variance over `region` (applied to the whole plane). False if constant.
    static func normalise(_ p: inout Plane, over region: [Bool]?) -> Bool {
        var n = 0.0, s = 0.0, s2 = 0.0
        for i in p.data.indices where region?[i] ?? true { n += 1; s += p.data[i]; s2 += p.data[i] * p.data[i] }
        guard n > 1 else { return false }
        let mean = s / n, sd = max(0, s2 / n - mean * mean).squareRoot()
        guard sd > 1e-12 * max(1, abs(mean)) else { return false }
        for i in p.data.indices { p.data[i] = (p.data[i] - mean) / sd }
        return true
    }

    static func hann(like p: Plane) -> [Double] {
        var w = [Double](repeating: 0, count: p.data.count)
        for y in 0..<p.height {
            let wy = 0.5 - 0.5 * cos(2 * .pi * (Double(y) + 0.5) / Double(p.height))
            for x in 0..<p.width {
                w[y * p.width + x] = wy * (0.5 - 0.5 * cos(2 * .pi * (Double(x) + 0.5) / Double(p.width)))
            }
        }
        return w
    }

    /// The band-passed images (difference of Gaussians, σ = 1 and 4 working pixels) that ``quality(bands:region:warp:patchMM:)`` correlates.
    static func qualityBands(reference: Plane, exam: Plane) -> (reference: Plane, exam: Plane) {
        (reference.bandPassed(1, 4), exam.bandPassed(1, 4))
    }

    /// Quality and overlap of the aligned pair over `region`.
    ///
    /// Quality is the median, over square patches of ``patchMM`` mm that lie mostly
    /// inside the region, of the normalised cross-correlation of band-passed
    /// intensities (difference of Gaussians, σ = 1 and 4 working pixels). A
    /// median of local correlations is not dominated by a few strong edges
    /// (lung borders, diaphragm) that any two chests share, so unrelated images
    /// score low even when their outlines can be made to coincide.
    /// `bands` are ``qualityBands(reference:exam:)``, computed once for every warp of one pair that is scored.
    static func quality(bands: (reference: Plane, exam: Plane), region: [Bool], warp: Warp, patchMM: Double = 16)
        -> (quality: Double, overlap: Double) {
        let (r, e) = bands
        let warped = warp.resample(e, onto: r)
        var total = 0, covered = 0
        for i in r.data.indices where region[i] {
            total += 1
            if warped.valid[i] { covered += 1 }
        }
        guard total > 0 else { return (0, 0) }
        let overlap = Double(covered) / Double(total)
        let side = max(4, Int((patchMM / r.spacingX).rounded()))
        var scores: [Double] = []
        var py = 0
        while py + side <= r.height {
            var px = 0
            while px + side <= r.width {
                var n = 0.0, sr = 0.0, se = 0.0, srr = 0.0, see = 0.0, sre = 0.0
                for y in py..<(py + side) {
                    for x in px..<(px + side) {
                        let i = y * r.width + x
                        guard region[i], warped.valid[i] else { continue }
                        let a = r.data[i], b = warped.plane.data[i]
                        n += 1; sr += a; se += b; srr += a * a; see += b * b; sre += a * b
                    }
                }
                if n >= 0.5 * Double(side * side) {
                    let vr = srr / n - (sr / n) * (sr / n), ve = see / n - (se / n) * (se / n)
                    let cov = sre / n - (sr / n) * (se / n)
                    // A patch with no structure in either image says nothing; one with structure in only one counts as 0.
                    if vr > 1e-12 || ve > 1e-12 {
                        scores.append(vr > 1e-12 && ve > 1e-12 ? cov / (vr * ve).squareRoot() : 0)
                    }
                }
                px += side
            }
            py += side
        }
        guard !scores.isEmpty else { return (0, overlap) }
        scores.sort()
        let median = scores.count % 2 == 1 ? scores[scores.count / 2] : (scores[scores.count / 2 - 1] + scores[scores.count / 2]) / 2
        return (min(1, max(0, median)), overlap)
    }
}

/// W(y) = A·(y − c) + c + d, reference mm → exam mm, A = [[a, −b], [b, a]].
struct Warp: Hashable {
    var a: Double, b: Double, dx: Double, dy: Double
    let cx: Double, cy: Double

    @inline(__always) func callAsFunction(_ x: Double, _ y: Double) -> (Double, Double) {
        let u = x - cx, v = y - cy
        return (a * u - b * v + cx + dx, b * u + a * v + cy + dy)
    }

    /// W as a SimilarityTransform (reference → exam).
    var similarity: SimilarityTransform {
        let s = (a * a + b * b).squareRoot()
        return SimilarityTransform(scale: s, rotationRadians: atan2(b, a),
                                   translationXMM: cx + dx - (a * cx - b * cy), translationYMM: cy + dy - (b * cx + a * cy))
    }

    /// `source` sampled at W(y) for every pixel centre y of `grid`; 0 and invalid outside.
    func resample(_ source: Plane, onto grid: Plane) -> (plane: Plane, valid: [Bool]) {
        var out = grid.zeros()
        var valid = [Bool](repeating: false, count: grid.data.count)
        for y in 0..<grid.height {
            for x in 0..<grid.width {
                let (mx, my) = grid.centre(x, y)
                let (sx, sy) = self(mx, my)
                if let v = source.sample(xMM: sx, yMM: sy) {
                    out.data[y * grid.width + x] = v
                    valid[y * grid.width + x] = true
                }
            }
        }
        return (out, valid)
    }
}

enum PhaseCorrelation {
    /// The fixed plane's windowed spectrum and the cross-power spectrum's low-pass weights: the same for
    /// every moved plane it is compared with (a registration compares one reference with 15 warped exams).
    struct Reference {
        let fixedWidth: Int, fixedHeight: Int
        let spacingX: Double, spacingY: Double
        /// Applied to the fixed plane and to every moved one.
        let window: [Double]
        let spectrum: ComplexGrid
        /// Gaussian low-pass of the cross-power spectrum (σ_f = 0.15 cycles/px) per frequency bin, and its sum.
        let lowPass: [Double]
        let lowPassSum: Double

        init(_ fixed: Plane, window: [Double]) {
            let nx = FFT.nextPowerOfTwo(fixed.width), ny = FFT.nextPowerOfTwo(fixed.height)
            (fixedWidth, fixedHeight, spacingX, spacingY) = (fixed.width, fixed.height, fixed.spacingX, fixed.spacingY)
            self.window = window
            spectrum = PhaseCorrelation.spectrum(fixed, window: window, nx: nx, ny: ny)
            var lowPass = [Double](repeating: 0, count: nx * ny), sum = 0.0
            let f0 = 0.15
            for ky in 0..<ny {
                let fy = Double(ky < ny / 2 ? ky : ky - ny) / Double(ny)
                for kx in 0..<nx {
                    let fx = Double(kx < nx / 2 ? kx : kx - nx) / Double(nx)
                    let w = exp(-(fx * fx + fy * fy) / (2 * f0 * f0))
                    lowPass[ky * nx + kx] = w
                    sum += w
                }
            }
            self.lowPass = lowPass
            lowPassSum = sum
        }
    }

    /// `plane` × `window`, zero-padded to nx × ny, transformed.
    static func spectrum(_ plane: Plane, window: [Double], nx: Int, ny: Int) -> ComplexGrid {
        var grid = ComplexGrid(width: nx, height: ny)
        for y in 0..<plane.height {
            for x in 0..<plane.width {
                let i = y * plane.width + x
                grid.re[y * nx + x] = plane.data[i] * window[i]
            }
        }
        grid.fft2(inverse: false)
        return grid
    }

    /// The shift v (mm) such that `moved`(y) ≈ `fixed`(y − v), and the normalised
    /// peak height (1 for a pure shift of identical content). Both planes share a grid.
    static func shift(from fixed: Plane, to moved: Plane, window: [Double]) -> (vx: Double, vy: Double, peak: Double) {
        shift(from: Reference(fixed, window: window), to: moved)
    }

    /// ``shift(from:to:window:)`` with the fixed plane's part computed once (``Reference``).
    static func shift(from reference: Reference, to moved: Plane) -> (vx: Double, vy: Double, peak: Double) {
        precondition(moved.width == reference.fixedWidth && moved.height == reference.fixedHeight, "planes share a grid")
        let fa = reference.spectrum, nx = fa.width, ny = fa.height
        let fb = spectrum(moved, window: reference.window, nx: nx, ny: ny)
        // Cross-power spectrum conj(Fa)·Fb / |·|, low-passed.
        var q = ComplexGrid(width: nx, height: ny)
        for i in 0..<(nx * ny) {
            let re = fa.re[i] * fb.re[i] + fa.im[i] * fb.im[i]
            let im = fa.re[i] * fb.im[i] - fa.im[i] * fb.re[i]
            let mag = (re * re + im * im).squareRoot()
            let w = reference.lowPass[i]
            if mag > 1e-300 { q.re[i] = w * re / mag; q.im[i] = w * im / mag }
        }
        q.fft2(inverse: true)
        var best = 0, bestValue = -Double.infinity
        for i in q.re.indices where q.re[i] > bestValue { bestValue = q.re[i]; best = i }
        let px = best % nx, py = best / nx
        func value(_ x: Int, _ y: Int) -> Double { q.re[((y + ny) % ny) * nx + (x + nx) % nx] }
        func parabola(_ l: Double, _ c: Double, _ r: Double) -> Double {
            let d = l - 2 * c + r
            return d < 0 ? max(-0.5, min(0.5, 0.5 * (l - r) / d)) : 0
        }
        let ox = parabola(value(px - 1, py), bestValue, value(px + 1, py))
        let oy = parabola(value(px, py - 1), bestValue, value(px, py + 1))
        let sx = Double(px > nx / 2 ? px - nx : px) + ox
        let sy = Double(py > ny / 2 ? py - ny : py) + oy
        return (sx * reference.spacingX, sy * reference.spacingY, bestValue / reference.lowPassSum)
    }
}

enum Refinement {
    /// Levenberg–Marquardt on Σ_region (α·E(W(y)) + β − R(y))² over (a, b, dx, dy, α, β).
    static func run(reference r: Plane, exam e: Plane, region: [Bool], start: Warp, iterations: Int = 40) -> Warp {
        let (gx, gy) = e.gradient()
        var warp = start
        var alpha = 1.0, beta = 0.0
        var lambda = 1e-3
        func cost(_ w: Warp, _ al: Double, _ be: Double) -> (Double, Int) {
            var c = 0.0, n = 0
            for y in 0..<r.height {
                for x in 0..<r.width where region[y * r.width + x] {
                    let (mx, my) = r.centre(x, y)
                    let (sx, sy) = w(mx, my)
                    guard let ev = e.sample(xMM: sx, yMM: sy) else { continue }
                    let res = al * ev + be - r.data[y * r.width + x]
                    c += res * res
                    n += 1
                }
            }
            return (c, n)
        }
        var (current, count) = cost(warp, alpha, beta)
        guard count > 16 else { return warp }
        current /= Double(count)
        let minStep = 0.01 * min(r.spacingX, r.spacingY)
        for _ in 0..<iterations {
            var h = [Double](repeating: 0, count: 36), g = [Double](repeating: 0, count: 6)
            for y in 0..<r.height {
                for x in 0..<r.width where region[y * r.width + x] {
                    let (mx, my) = r.centre(x, y)
                    let (sx, sy) = warp(mx, my)
                    guard let ev = e.sample(xMM: sx, yMM: sy), let ex = gx.sample(xMM: sx, yMM: sy),
                          let ey = gy.sample(xMM: sx, yMM: sy) else { continue }
                    let u = mx - warp.cx, v = my - warp.cy
                    let j: [Double] = [alpha * (ex * u + ey * v), alpha * (-ex * v + ey * u), alpha * ex, alpha * ey, ev, 1]
                    let res = alpha * ev + beta - r.data[y * r.width + x]
                    for p in 0..<6 {
                        g[p] += j[p] * res
                        for q in p..<6 { h[p * 6 + q] += j[p] * j[q] }
                    }
                }
            }
            for p in 0..<6 { for q in 0..<p { h[p * 6 + q] = h[q * 6 + p] } }
            var accepted = false
            for _ in 0..<8 {
                var damped = h
                for p in 0..<6 { damped[p * 6 + p] += lambda * max(h[p * 6 + p], 1e-12) }
                guard let step = LinearSolve.solve(damped, g.map { -$0 }, n: 6) else { lambda *= 10; continue }
                var trial = warp
                trial.a += step[0]; trial.b += step[1]; trial.dx += step[2]; trial.dy += step[3]
                let (c, n) = cost(trial, alpha + step[4], beta + step[5])
                if n > 16, c / Double(n) < current {
                    // Displacement of the step at the region's far corners, mm.
                    let reach = max(r.widthMM, r.heightMM) / 2
                    let moved = (abs(step[0]) + abs(step[1])) * reach + abs(step[2]) + abs(step[3])
                    warp = trial; alpha += step[4]; beta += step[5]
                    current = c / Double(n)
                    lambda = max(1e-7, lambda / 3)
                    accepted = true
                    if moved < minStep { return warp }
                    break
                }
                lambda *= 4
            }
            if !accepted { break }
        }
        return warp
    }
}

enum LinearSolve {
    /// Gaussian elimination with partial pivoting on an n×n row-major system; nil if singular.
    static func solve(_ m: [Double], _ rhs: [Double], n: Int) -> [Double]? {
        var a = m, b = rhs
        for col in 0..<n {
            var pivot = col
            for row in (col + 1)..<n where abs(a[row * n + col]) > abs(a[pivot * n + col]) { pivot = row }
            guard abs(a[pivot * n + col]) > 1e-300 else { return nil }
            if pivot != col {
                for k in 0..<n { a.swapAt(col * n + k, pivot * n + k) }
                b.swapAt(col, pivot)
            }
            for row in (col + 1)..<n {
                let f = a[row * n + col] / a[col * n + col]
                if f == 0 { continue }
                for k in col..<n { a[row * n + k] -= f * a[col * n + k] }
                b[row] -= f * b[col]
            }
        }
        var x = [Double](repeating: 0, count: n)
        for row in stride(from: n - 1, through: 0, by: -1) {
            var s = b[row]
            for k in (row + 1)..<n { s -= a[row * n + k] * x[k] }
            x[row] = s / a[row * n + row]
        }
        return x.allSatisfy(\.isFinite) ? x : nil
    }
}
