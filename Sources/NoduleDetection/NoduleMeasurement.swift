import ScaleSpace
#if canImport(Glibc)
import Glibc
#endif

/// Size and shape of one nodule from a local segmentation on the measurement image.
///
/// Method: a robust plane is fitted to a background annulus (iteratively
/// discarding bright outliers such as ribs and vessels) and subtracted; the
/// peak contrast A is the mean of the lightly smoothed residual near the centre;
/// rays are cast from the centre and each stops where the residual first falls
/// below `contourFraction`·A (linear sub-pixel interpolation). The centre is
/// refined to the centroid of that outline and the rays recast. The long axis
/// is the largest ray-pair diameter, the short axis the diameter perpendicular
/// to it, and the reported diameter their mean (as radiologists report it).
///
/// A projected sphere has the profile A·√(1 − ρ²/R²), whose level f·A lies at
/// ρ = R·√(1 − f²); the contour diameter is divided by √(1 − f²) to give the
/// sphere's diameter. This is the physical model of a nodule on a projection
/// radiograph, not a fit to one phantom generator. The size is then set by a
/// robust fit of that model (``SphereProfileFit``), started from the mean axis,
/// or with `sphere_fit_start: long-axis` from the long axis, or with `best-of-both`
/// from each of them, keeping the accepted fit with the lower robust residual.
public struct NoduleMeasurement: Sendable, Equatable {
    /// Refined centre, px of the measurement image.
    public var x: Double
    public var y: Double
    /// Long axis and perpendicular short axis, px of the measurement image.
    public var longAxis: Double
    public var shortAxis: Double
    /// Peak contrast over the local background, normalised intensity.
    public var contrast: Double
    /// Robust SD of the background residual, normalised intensity.
    public var backgroundNoise: Double
    /// Peak contrast over the background noise (unitless): the `contrast_to_noise` feature.
    public var contrastToNoise: Double { contrast / max(backgroundNoise, 1e-6) }
    /// Ray end points (outline), px of the measurement image.
    public var outline: [(x: Double, y: Double)]
    /// Fraction of rays that reached their limit without crossing the contour level.
    public var openRayFraction: Double
    /// Background plane value at the centre, and its gradient magnitude per px.
    public var background: Double = 0
    public var backgroundGradient: Double = 0
    /// Correlation of the mean radial residual profile (0…1.5 R) with A·√(1 − ρ²/R²).
    public var sphereFit: Double = 0
    /// Robust residual of the sphere-model fit relative to its amplitude (1 when the fit failed).
    public var fitResidual: Double = 1
    /// Mean cosine between gradients and the direction to the centre, −1…1.
    public var convergenceIndex: Double = 0
    /// Long axis and perpendicular short axis of the *edge* outline, px of the measurement
    /// image: on each ray, where the background-subtracted intensity falls fastest, within
    /// 0.7–1.6 × the sphere-fit radius. Measured only when the pipeline sizes by the edge
    /// (`measurement.diameter_method: edge`); nil otherwise, or when fewer than half the rays
    /// have such a descent.
    public var edgeLongAxis: Double?
    public var edgeShortAxis: Double?

    /// Mean of long and short axis, px.
    public var diameter: Double { (longAxis + shortAxis) / 2 }

    /// Mean of the edge outline's long and short axis, px (see ``edgeLongAxis``).
    ///
    /// Why: vendor processing (unsharp masking, multi-frequency enhancement, tone curves)
    /// reshapes a nodule's profile, so the level at which a half-maximum contour or a
    /// projected-sphere fit places the border moves with the processing, while the place of
    /// steepest descent stays at the border, a fixed fraction of a millimetre inside it
    /// (the image's blur and the measurement smoothing).
    public var edgeDiameter: Double? {
        guard let long = edgeLongAxis, let short = edgeShortAxis else { return nil }
        return (long + short) / 2
    }

    public static func == (a: NoduleMeasurement, b: NoduleMeasurement) -> Bool {
        a.x == b.x && a.y == b.y && a.longAxis == b.longAxis && a.shortAxis == b.shortAxis && a.contrast == b.contrast
    }

    /// ``measure(_:smoothed:x:y:radius:parameters:)``, then again (at most twice) with the
    /// measured radius while the outline reaches toward the background annulus, so the
    /// annulus clears the nodule. This is how the detector sizes every candidate, and how a
    /// nodule is re-measured at a known place on another exam.
    /// `sizingRefit`: size with the pipeline's ``PipelineDefinition/MeasurementParameters/sizingRefitStart``
    /// (the sizing of reported candidates; the detector's features come from the plain measurement).
    public static func measureClearingBackground(_ image: FloatImage, smoothed: FloatImage?, x: Double, y: Double, radius: Double,
                                                 parameters p: PipelineDefinition.MeasurementParameters,
                                                 sizingRefit: Bool = false) -> NoduleMeasurement? {
        var radius = radius
        var measured = measure(image, smoothed: smoothed, x: x, y: y, radius: radius, parameters: p, sizingRefit: sizingRefit)
        for _ in 0..<2 {
            guard let m = measured, m.diameter / 2 > 0.8 * p.backgroundInner * radius else { break }
            radius = m.diameter / 2
            measured = measure(image, smoothed: smoothed, x: m.x, y: m.y, radius: radius, parameters: p, sizingRefit: sizingRefit)
        }
        return measured
    }

    /// The diameter to report for `m`, which ``measureClearingBackground(_:smoothed:x:y:radius:parameters:sizingRefit:)``
    /// measured on `image` from `start` (px of `image`): ``PipelineDefinition/MeasurementParameters/reportedDiameter(_:spacingMM:)``,
    /// or, where ``PipelineDefinition/MeasurementParameters/needsSizingRefit(_:spacingMM:)``, measured again from the same
    /// start with the sizing refit and chosen by ``PipelineDefinition/MeasurementParameters/refittedDiameter(_:refit:spacingMM:)``.
    /// How the detector sizes what it reports, and the tracker what it re-measures. px of `image` (spacing `spacingMM`).
    public static func reportedDiameter(of m: NoduleMeasurement, measuredFrom start: (x: Double, y: Double, radius: Double),
                                        in image: FloatImage, smoothed: FloatImage?,
                                        parameters p: PipelineDefinition.MeasurementParameters, spacingMM: Double) -> Double {
        guard p.needsSizingRefit(m, spacingMM: spacingMM) else { return p.reportedDiameter(m, spacingMM: spacingMM) }
        let refit = measureClearingBackground(image, smoothed: smoothed, x: start.x, y: start.y, radius: start.radius,
                                              parameters: p, sizingRefit: true)
        return p.refittedDiameter(m, refit: refit, spacingMM: spacingMM)
    }

    /// Measures the blob near (x, y) with expected radius `radius` (px of `image`).
    /// Returns `nil` when there is no positive contrast to measure.
    /// `smoothed`, when given, is `image` already lightly smoothed (the detector
    /// smooths the whole image once); otherwise the patch is smoothed with σ = max(0.5, 0.08·r0) px.
    /// `sizingRefit` with a pipeline that has ``PipelineDefinition/MeasurementParameters/sizingRefitStart``:
    /// one more sphere-fit start, and the fits compared on one common window (see there).
    public static func measure(_ image: FloatImage, smoothed: FloatImage? = nil, x: Double, y: Double, radius r0: Double,
                               parameters p: PipelineDefinition.MeasurementParameters,
                               sizingRefit: Bool = false) -> NoduleMeasurement? {
        let outer = p.backgroundOuter * r0
        guard let (px0, py0, px1, py1) = window(x: x, y: y, radius: r0, width: image.width, height: image.height, parameters: p)
        else { return nil }
        let patch: FloatImage
        if let smoothed {
            patch = smoothed.view(x: px0, y: py0, width: px1 - px0, height: py1 - py0)
        } else {
            let g = GaussianKernel(sigma: max(0.5, 0.08 * r0))
            patch = SeparableConvolution(threads: 1).apply(image.view(x: px0, y: py0, width: px1 - px0, height: py1 - py0),
                                                           terms: [SeparableTerm(horizontal: g, vertical: g)])
        }
        let cx = x - Double(px0), cy = y - Double(py0)

        guard let plane = backgroundPlane(patch, cx: cx, cy: cy, inner: p.backgroundInner * r0, outer: outer) else { return nil }
        func residual(_ u: Double, _ v: Double) -> Double? {
            bilinear(patch, u, v).map { $0 - (plane.a + plane.b * u + plane.c * v) }
        }

        var centre = (x: cx, y: cy)
        var outline: [(x: Double, y: Double)] = []
        var radii: [Double] = []
        var contrast = 0.0
        var open = 0
        let limit = min(outer, 2.2 * r0)
        for pass in 0..<2 {
            // Peak contrast: mean residual within 0.25·r0 of the centre.
            var sum = 0.0, count = 0.0
            let core = max(1.0, 0.25 * r0)
            var v = -core
            while v <= core {
                var u = -core
                while u <= core {
                    if u * u + v * v <= core * core, let value = residual(centre.x + u, centre.y + v) { sum += value; count += 1 }
                    u += 0.5
                }
                v += 0.5
            }
            contrast = count > 0 ? sum / count : 0
            guard contrast > 0 else { return nil }
            let level = p.contourFraction * contrast
            radii = []
            outline = []
            open = 0
            for k in 0..<p.rays {
                let angle = 2 * Double.pi * Double(k) / Double(p.rays)
                let (dx, dy) = (cos(angle), sin(angle))
                var previous = contrast
                var t = 0.0
                var crossing: Double?
                while t < limit {
                    let next = t + 0.5
                    guard let value = residual(centre.x + next * dx, centre.y + next * dy) else { break }
                    if value < level {
                        let fraction = (previous - level) / max(previous - value, 1e-12)
                        crossing = t + 0.5 * min(max(fraction, 0), 1)
                        break
                    }
                    previous = value
                    t = next
                }
                if crossing == nil { open += 1 }
                radii.append(crossing ?? t)
            }
            // A circular median of three rays, then a cap at 1.6 × the median
            // radius, so one ray leaking along a rib or vessel does not set the axis.
            let n = radii.count
            var filtered = (0..<n).map { k in
                let (a, b, c) = (radii[(k + n - 1) % n], radii[k], radii[(k + 1) % n])
                return max(min(a, b), min(max(a, b), c))
            }
            let median = filtered.sorted()[n / 2]
            filtered = filtered.map { min($0, 1.6 * median) }
            radii = filtered
            outline = (0..<n).map { k in
                let angle = 2 * Double.pi * Double(k) / Double(n)
                return (centre.x + radii[k] * cos(angle), centre.y + radii[k] * sin(angle))
            }
            if pass == 0 {
                let polygon = polygonCentroid(outline)
                let shift = hypot(polygon.x - centre.x, polygon.y - centre.y)
                if shift > 0.6 * r0 { break }  // implausible: keep the detector's centre
                centre = polygon
            }
        }
        // Mean radial profile out to 1.5 R against the projected-sphere model.
        let meanRadius = radii.reduce(0, +) / Double(max(1, radii.count))
        var observed: [Double] = [], model: [Double] = []
        if meanRadius > 0.5 {
            for step in 0..<16 {
                let rho = 1.5 * meanRadius * Double(step) / 15
                var sum = 0.0, count = 0.0
                for k in 0..<16 {
                    let angle = 2 * Double.pi * Double(k) / 16
                    if let v = residual(centre.x + rho * cos(angle), centre.y + rho * sin(angle)) { sum += v; count += 1 }
                }
                guard count > 0 else { continue }
                observed.append(sum / count)
                let ratio = rho / (meanRadius / (1 - p.contourFraction * p.contourFraction).squareRoot())
                model.append(ratio < 1 ? (1 - ratio * ratio).squareRoot() : 0)
            }
        }
        let sphereFit = NoduleMeasurement.correlation(observed, model)
        // Convergence index (Kobatake's iris/COIN filters): the mean cosine between the
        // image gradient and the direction to the centre over 0.4–1.3 R. A bright
        // round blob has gradients converging on its centre (→ 1); a rib edge, a
        // vessel or flat noise does not (→ 0).
        var convergence = 0.0, samples = 0.0
        if meanRadius > 0.5 {
            let edgeRadius = meanRadius / (1 - p.contourFraction * p.contourFraction).squareRoot()
            for k in 0..<32 {
                let angle = 2 * Double.pi * Double(k) / 32
                let (ux, uy) = (cos(angle), sin(angle))
                for step in 0..<6 {
                    let rho = edgeRadius * (0.4 + 0.18 * Double(step))
                    let px = centre.x + rho * ux, py = centre.y + rho * uy
                    guard let right = residual(px + 1, py), let left = residual(px - 1, py),
                          let down = residual(px, py + 1), let up = residual(px, py - 1) else { continue }
                    let gx = (right - left) / 2, gy = (down - up) / 2
                    let magnitude = (gx * gx + gy * gy).squareRoot()
                    guard magnitude > 1e-9 else { continue }
                    convergence += (-gx * ux - gy * uy) / magnitude
                    samples += 1
                }
            }
        }
        let convergenceIndex = samples > 0 ? convergence / samples : 0
        let n = radii.count
        let halfTurn = n / 2
        var longAxis = 0.0, longIndex = 0
        for k in 0..<halfTurn where radii[k] + radii[k + halfTurn] > longAxis {
            longAxis = radii[k] + radii[k + halfTurn]
            longIndex = k
        }
        let perpendicular = (longIndex + n / 4) % halfTurn
        let shortAxis = radii[perpendicular] + radii[perpendicular + halfTurn]
        let sphere = 1 / (1 - p.contourFraction * p.contourFraction).squareRoot()
        // Refine the size with a robust fit of the projected-sphere model on the
        // unsmoothed image; keep the rays' shape (long/short ratio) but the fit's scale.
        var scale = sphere
        var fitResidual = 1.0
        let rayDiameter = (longAxis + min(shortAxis, longAxis)) / 2 * sphere
        // The fit's window is 1.8 × its starting radius, and must reach background on every
        // side: started from the mean axis, a round nodule whose short-axis rays stopped at a
        // rib edge is fitted in a window too small for it, and comes out undersized.
        let fromLongAxis = longAxis * sphere / 2, fromMeanAxis = rayDiameter / 2
        var starts = p.sphereFitStartsFromBothAxes ? [fromLongAxis, fromMeanAxis]
            : [p.sphereFitStartsFromLongAxis ? fromLongAxis : fromMeanAxis]
        let refitStart = sizingRefit ? p.sizingRefitStart : nil
        if let refitStart { starts.append(refitStart * fromLongAxis) }
        let largestAccepted = 2 * rayDiameter / 2 * (refitStart ?? 1)
        let (imageX, imageY) = (centre.x + Double(px0), centre.y + Double(py0))
        let fits = starts.compactMap { startRadius in
            SphereProfileFit.fit(image, x: imageX, y: imageY, radius: startRadius, amplitude: contrast)
        }.filter { $0.radius > 0.5 * rayDiameter / 2 && $0.radius < largestAccepted }
        // Each fit judged on its own window, or (refit) all on the largest one.
        var best = fits.min { $0.relativeResidual < $1.relativeResidual }
        if refitStart != nil, fits.count > 1 {
            let window = SphereProfileFit.windowFactor * fits.map(\.radius).max()!
            best = fits.compactMap { fit in
                SphereProfileFit.spread(image, parameters: fit.parameters, x: imageX, y: imageY, window: window).map { (fit, $0) }
            }.min { $0.1 < $1.1 }?.0 ?? best
        }
        if let fit = best {
            scale = sphere * (2 * fit.radius) / rayDiameter
            fitResidual = fit.relativeResidual
        }
        let edge = p.diameterMethod == "edge"
            ? edgeAxes(residual, centre: centre, radius: rayDiameter * scale / sphere / 2, rays: p.rays) : nil
        return NoduleMeasurement(
            x: centre.x + Double(px0), y: centre.y + Double(py0),
            longAxis: longAxis * scale, shortAxis: min(shortAxis, longAxis) * scale,
            contrast: contrast, backgroundNoise: plane.noise,
            outline: outline.map { ($0.x + Double(px0), $0.y + Double(py0)) },
            openRayFraction: Double(open) / Double(max(1, n)),
            background: plane.a + plane.b * centre.x + plane.c * centre.y,
            backgroundGradient: (plane.b * plane.b + plane.c * plane.c).squareRoot(),
            sphereFit: sphereFit, fitResidual: fitResidual, convergenceIndex: convergenceIndex,
            edgeLongAxis: edge?.long, edgeShortAxis: edge?.short)
    }

    /// The border of a blob the nodule map placed where ``measure(_:smoothed:x:y:radius:parameters:sizingRefit:)``
    /// finds no contrast or only a part (a large faint nodule on a steep background): the edge outline
    /// (``edgeAxes(_:centre:radius:rays:)``, 0.7–1.6 × `radius`) on `smoothed` less the background plane over the
    /// measurement's annulus, from (x, y) and once more from the outline's centre when that lies over ½ px away.
    /// The centre (px of `smoothed`) and the diameter (px) plus ``PipelineDefinition/MeasurementParameters/edgeOffsetMM``
    /// per side; nil without an edge or when the outline's centre lies over half `radius` away.
    public static func border(_ smoothed: FloatImage, x: Double, y: Double, radius r0: Double,
                              parameters p: PipelineDefinition.MeasurementParameters,
                              spacingMM: Double) -> (x: Double, y: Double, diameter: Double)? {
        let outer = p.backgroundOuter * r0
        guard let (px0, py0, px1, py1) = window(x: x, y: y, radius: r0, width: smoothed.width, height: smoothed.height, parameters: p)
        else { return nil }
        let patch = smoothed.view(x: px0, y: py0, width: px1 - px0, height: py1 - py0)
        let cx = x - Double(px0), cy = y - Double(py0)
        guard let plane = backgroundPlane(patch, cx: cx, cy: cy, inner: p.backgroundInner * r0, outer: outer) else { return nil }
        func residual(_ u: Double, _ v: Double) -> Double? {
            bilinear(patch, u, v).map { $0 - (plane.a + plane.b * u + plane.c * v) }
        }
        var centre = (x: cx, y: cy)
        guard var axes = edgeAxes(residual, centre: centre, radius: r0, rays: p.rays) else { return nil }
        if hypot(axes.shift.x, axes.shift.y) > 0.5 {
            let moved = (x: centre.x + axes.shift.x, y: centre.y + axes.shift.y)
            guard hypot(moved.x - cx, moved.y - cy) <= 0.5 * r0,
                  let again = edgeAxes(residual, centre: moved, radius: r0, rays: p.rays) else { return nil }
            (centre, axes) = (moved, again)
        }
        // A border of a bright blob: inside (0.2–0.7 R) brighter than outside (1.2–1.5 R) by a quarter of the
        // annulus's robust SD (noise alone has a steepest descent on every ray too; a faint nodule on a
        // steep background: 0.4–1.1 of it).
        let edgeRadius = (axes.long + axes.short) / 4
        func ringMean(_ from: Double, _ to: Double) -> Double? {
            var sum = 0.0, count = 0.0
            for k in 0..<32 {
                let angle = 2 * Double.pi * Double(k) / 32
                for step in 0..<6 {
                    let rho = edgeRadius * (from + (to - from) * Double(step) / 5)
                    if let v = residual(centre.x + rho * cos(angle), centre.y + rho * sin(angle)) { sum += v; count += 1 }
                }
            }
            return count > 0 ? sum / count : nil
        }
        guard let inside = ringMean(0.2, 0.7), let outside = ringMean(1.2, 1.5), inside - outside > 0.25 * plane.noise else { return nil }
        return (centre.x + Double(px0), centre.y + Double(py0),
                (axes.long + axes.short) / 2 + 2 * (p.edgeOffsetMM ?? 0) / spacingMM)
    }

    /// The edge outline (``edgeLongAxis``): on each of `rays` rays from `centre`, the
    /// steepest descent of `residual` (central differences over 1 px, samples every ½ px,
    /// parabolic sub-sample peak) between 0.7 and 1.6 × `radius` (further in, a lobe or a vessel
    /// inside the nodule can fall faster than its border); the axes come from a robust
    /// two-harmonic fit of those radii (``harmonicAxes(_:rays:)``), which averages the ray-to-ray
    /// jitter of a derivative's peak that the largest opposite-ray sum would pick up. nil when
    /// fewer than half the rays have a descent or the fit fails.
    static func edgeAxes(_ residual: (Double, Double) -> Double?, centre: (x: Double, y: Double), radius: Double,
                         rays: Int) -> (long: Double, short: Double, shift: (x: Double, y: Double))? {
        guard radius > 1, rays >= 8 else { return nil }
        let lo = 0.7 * radius, hi = 1.6 * radius
        var radii: [Double?] = []
        for k in 0..<rays {
            let angle = 2 * Double.pi * Double(k) / Double(rays)
            let (dx, dy) = (cos(angle), sin(angle))
            var values: [Double] = []
            var t = lo - 0.5
            while t <= hi + 0.5, let v = residual(centre.x + t * dx, centre.y + t * dy) {
                values.append(v)
                t += 0.5
            }
            // descent[i] = −dI/dρ at ρ = lo + 0.5·i, from the samples ½ px either side.
            guard values.count >= 5 else { radii.append(nil); continue }
            let descent = (1..<(values.count - 1)).map { values[$0 - 1] - values[$0 + 1] }
            var peak = 0
            for i in descent.indices where descent[i] > descent[peak] { peak = i }
            guard descent[peak] > 0 else { radii.append(nil); continue }
            let offset = peak > 0 && peak < descent.count - 1
                ? ScaleSpaceMaxima.parabola(descent[peak - 1], descent[peak], descent[peak + 1]) : 0
            radii.append(lo + 0.5 * (Double(peak) + offset))
        }
        guard radii.compactMap({ $0 }).count * 2 >= rays else { return nil }
        return harmonicAxes(radii, rays: rays)
    }

    /// Long and short axis of r(θ) ≈ c₀ + c₁cos θ + s₁sin θ + c₂cos 2θ + s₂sin 2θ fitted to the
    /// rays that found an edge (least squares, refitted twice without residuals beyond 2.5 robust
    /// SD): opposite rays sum to 2c₀ + 2(c₂cos 2θ + s₂sin 2θ), so long = 2(c₀ + a₂), short =
    /// 2(c₀ − a₂) with a₂ = √(c₂² + s₂²); the first harmonic (an off-centre start) cancels.
    static func harmonicAxes(_ radii: [Double?], rays: Int) -> (long: Double, short: Double, shift: (x: Double, y: Double))? {
        // Per ray with an edge: its radius and the five basis functions at its angle.
        var samples: [(r: Double, f: [Double])] = []
        for (k, r) in radii.enumerated() {
            guard let r else { continue }
            let angle = 2 * Double.pi * Double(k) / Double(rays)
            samples.append((r, [1, cos(angle), sin(angle), cos(2 * angle), sin(2 * angle)]))
        }
        var keep = [Bool](repeating: true, count: samples.count)
        var c = [Double](repeating: 0, count: 5)
        for _ in 0..<3 {
            var m = [[Double]](repeating: [Double](repeating: 0, count: 5), count: 5), b = [Double](repeating: 0, count: 5)
            for (i, s) in samples.enumerated() where keep[i] {
                for a in 0..<5 {
                    b[a] += s.f[a] * s.r
                    for d in 0..<5 { m[a][d] += s.f[a] * s.f[d] }
                }
            }
            guard let solved = LinearSystem.solve(m, b, pivotTolerance: 1e-9) else { return nil }
            c = solved
            let residuals = samples.map { s in s.r - (c[0] * s.f[0] + c[1] * s.f[1] + c[2] * s.f[2] + c[3] * s.f[3] + c[4] * s.f[4]) }
            let spread = max(1.4826 * Selection.median(residuals.map { abs($0) }), 0.25)
            keep = residuals.map { abs($0) <= 2.5 * spread }
            guard keep.filter({ $0 }).count * 2 >= rays else { return nil }
        }
        let a2 = (c[3] * c[3] + c[4] * c[4]).squareRoot()
        guard c[0] > a2 else { return nil }
        return (2 * (c[0] + a2), 2 * (c[0] - a2), (c[1], c[2]))
    }

    /// The square a measurement around (x, y) with expected radius `r0` reads (px, half-open): out to the
    /// background annulus's outer radius plus 2 px, clipped to a `width` × `height` image; nil when under
    /// 8 px a side.
    static func window(x: Double, y: Double, radius r0: Double, width: Int, height: Int,
                       parameters p: PipelineDefinition.MeasurementParameters) -> (x0: Int, y0: Int, x1: Int, y1: Int)? {
        let half = Int((p.backgroundOuter * r0 + 2).rounded(.up))
        let px0 = max(0, Int(x.rounded()) - half), py0 = max(0, Int(y.rounded()) - half)
        let px1 = min(width, Int(x.rounded()) + half + 1), py1 = min(height, Int(y.rounded()) + half + 1)
        guard px1 - px0 >= 8, py1 - py0 >= 8 else { return nil }
        return (px0, py0, px1, py1)
    }

    /// `patch` at (u, v) (px), bilinear; nil outside it.
    static func bilinear(_ patch: FloatImage, _ u: Double, _ v: Double) -> Double? {
        guard u >= 0, v >= 0, u <= Double(patch.width - 1), v <= Double(patch.height - 1) else { return nil }
        let x0 = Int(u), y0 = Int(v), x1 = min(x0 + 1, patch.width - 1), y1 = min(y0 + 1, patch.height - 1)
        let tx = u - Double(x0), ty = v - Double(y0)
        let top = Double(patch[x0, y0]) * (1 - tx) + Double(patch[x1, y0]) * tx
        let bottom = Double(patch[x0, y1]) * (1 - tx) + Double(patch[x1, y1]) * tx
        return top * (1 - ty) + bottom * ty
    }

    /// Least-squares plane a + b·u + c·v over the annulus, refitted twice without
    /// residuals above 2.5 robust SD (bright overlapping structures). `noise` is the
    /// robust SD (1.4826·MAD) of the final residuals.
    static func backgroundPlane(_ patch: FloatImage, cx: Double, cy: Double, inner: Double, outer: Double)
        -> (a: Double, b: Double, c: Double, noise: Double)? {
        // About 600 samples whatever the size: the plane has three parameters.
        let area = Double.pi * (outer * outer - inner * inner)
        let step = max(1, Int((area / 600).squareRoot()))
        // Samples as parallel arrays: position (px of `patch`) and value.
        var us: [Double] = [], vs: [Double] = [], values: [Double] = []
        patch.withUnsafeStridedPointer { pixels, rowStride in
            for v in stride(from: 0, to: patch.height, by: step) {
                for u in stride(from: 0, to: patch.width, by: step) {
                    let d2 = (Double(u) - cx) * (Double(u) - cx) + (Double(v) - cy) * (Double(v) - cy)
                    if d2 >= inner * inner && d2 <= outer * outer {
                        us.append(Double(u))
                        vs.append(Double(v))
                        values.append(Double(pixels[v * rowStride + u]))
                    }
                }
            }
        }
        guard values.count >= 12 else { return nil }
        var keep = [Bool](repeating: true, count: values.count)
        var residuals = [Double](repeating: 0, count: values.count)
        var plane = (a: 0.0, b: 0.0, c: 0.0)
        var noise = 0.0
        for _ in 0..<3 {
            // Normal equations for f = [1, u − cx, v − cy]: Σ f·fᵀ and Σ f·value.
            var m00 = 0.0, m01 = 0.0, m02 = 0.0, m11 = 0.0, m12 = 0.0, m22 = 0.0
            var r0 = 0.0, r1 = 0.0, r2 = 0.0
            for i in values.indices where keep[i] {
                let f1 = us[i] - cx, f2 = vs[i] - cy, value = values[i]
                r0 += value
                r1 += f1 * value
                r2 += f2 * value
                m00 += 1
                m01 += f1
                m02 += f2
                m11 += f1 * f1
                m12 += f1 * f2
                m22 += f2 * f2
            }
            guard let s = LinearSystem.solve([[m00, m01, m02], [m01, m11, m12], [m02, m12, m22]], [r0, r1, r2],
                                             pivotTolerance: 1e-12) else { return nil }
            plane = (s[0] - s[1] * cx - s[2] * cy, s[1], s[2])
            for i in values.indices { residuals[i] = values[i] - (plane.a + plane.b * us[i] + plane.c * vs[i]) }
            let median = Selection.median(residuals)
            let mad = Selection.median(residuals.map { abs($0 - median) })
            noise = max(1.4826 * mad, 1e-6)
            for i in values.indices { keep[i] = residuals[i] - median <= 2.5 * noise }
        }
        return (plane.a, plane.b, plane.c, noise)
    }

    /// Pearson correlation; 0 when either side is constant or empty.
    static func correlation(_ a: [Double], _ b: [Double]) -> Double {
        let n = Double(min(a.count, b.count))
        guard n >= 3 else { return 0 }
        let ma = a.prefix(Int(n)).reduce(0, +) / n, mb = b.prefix(Int(n)).reduce(0, +) / n
        var sab = 0.0, saa = 0.0, sbb = 0.0
        for (x, y) in zip(a, b) {
            sab += (x - ma) * (y - mb)
            saa += (x - ma) * (x - ma)
            sbb += (y - mb) * (y - mb)
        }
        guard saa > 0, sbb > 0 else { return 0 }
        return sab / (saa * sbb).squareRoot()
    }

    static func polygonCentroid(_ points: [(x: Double, y: Double)]) -> (x: Double, y: Double) {
        var area = 0.0, sx = 0.0, sy = 0.0
        for i in points.indices {
            let p = points[i], q = points[(i + 1) % points.count]
            let cross = p.x * q.y - q.x * p.y
            area += cross
            sx += (p.x + q.x) * cross
            sy += (p.y + q.y) * cross
        }
        guard abs(area) > 1e-9 else {
            return (points.map(\.x).reduce(0, +) / Double(points.count), points.map(\.y).reduce(0, +) / Double(points.count))
        }
        return (sx / (3 * area), sy / (3 * area))
    }
}
