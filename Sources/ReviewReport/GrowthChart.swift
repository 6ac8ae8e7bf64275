#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import SerialTracking

/// The fitted growth line of a track and its 95% band, in log volume against days.
///
/// The same model as ``GrowthEstimate``: y = ln V = 3 ln D + ln(π/6) (mm³), weights
/// 1/σ_y² with σ_y = 3σ_D/D, line through the weighted means (t̄, ȳ) with the estimate's
/// slope k. The band is ŷ(t) ± z·√(f²/Σw + σ_k²(t − t̄)²), where f² = σ_k²·Σw(t − t̄)²
/// carries the estimate's χ² inflation (f = 1 without it).
public struct GrowthFit: Sendable, Equatable {
    public var meanDays: Double
    /// ln(mm³) at ``meanDays``.
    public var meanLogVolume: Double
    public var ratePerDay: Double
    public var rateSE: Double
    public var meanLogVolumeSE: Double
    public var z: Double

    public init?(points: [GrowthPoint], estimate: GrowthEstimate, z: Double = 1.959_963_984_540_054) {
        guard points.count >= 2, estimate.spanDays > 0, estimate.growthRateStandardError.isFinite else { return nil }
        let w = points.map { p -> Double in let s = 3 * p.sigmaMM / p.diameterMM; return 1 / (s * s) }
        let y = points.map { GrowthFit.logVolume(diameterMM: $0.diameterMM) }
        let sw = w.reduce(0, +)
        let tbar = zip(w, points).map { $0 * $1.days }.reduce(0, +) / sw
        let ybar = zip(w, y).map { $0 * $1 }.reduce(0, +) / sw
        let sxx = zip(w, points).map { $0 * ($1.days - tbar) * ($1.days - tbar) }.reduce(0, +)
        let inflation = max(1, estimate.growthRateStandardError * estimate.growthRateStandardError * sxx)
        meanDays = tbar
        meanLogVolume = ybar
        ratePerDay = estimate.growthRatePerDay
        rateSE = estimate.growthRateStandardError
        meanLogVolumeSE = (inflation / sw).squareRoot()
        self.z = z
    }

    /// ln V, V in mm³, of a sphere of diameter `diameterMM`.
    public static func logVolume(diameterMM d: Double) -> Double { log(Double.pi / 6) + 3 * log(d) }

    public func logVolume(atDays t: Double) -> Double { meanLogVolume + ratePerDay * (t - meanDays) }

    public func band(atDays t: Double) -> (lower: Double, upper: Double) {
        let se = (meanLogVolumeSE * meanLogVolumeSE + rateSE * rateSE * (t - meanDays) * (t - meanDays)).squareRoot()
        let y = logVolume(atDays: t)
        return (y - z * se, y + z * se)
    }
}

/// Inline SVG growth charts: diameter (mm, linear) and volume (mm³, log axis) against time,
/// with ±95% error bars, the fitted doubling-time line and its 95% band. No scripts, no
/// external references; text is real SVG text, so it prints sharply.
enum GrowthChart {
    struct Series {
        /// Days since the patient's first exam.
        var days: [Double]
        var dates: [CalendarDate]
        var diameterMM: [Double]
        var sigmaMM: [Double]
        var fit: GrowthFit?
        /// Extra x positions the axis must include (e.g. the follow-up date), with labels.
        var markers: [(days: Double, label: String)]
        var origin: CalendarDate
    }

    static let width = 470.0, height = 270.0
    static let left = 62.0, right = 14.0, top = 26.0, bottom = 62.0

    static func diameterChart(_ s: Series, title: String) -> String {
        let lows = zip(s.diameterMM, s.sigmaMM).map { max(0.1, $0 - 1.96 * $1) }
        let highs = zip(s.diameterMM, s.sigmaMM).map { $0 + 1.96 * $1 }
        var fitted: [(Double, Double, Double, Double)] = []  // t, D, lo, hi
        if let fit = s.fit {
            for t in samples(s) {
                let b = fit.band(atDays: t)
                fitted.append((t, diameter(fit.logVolume(atDays: t)), diameter(b.lower), diameter(b.upper)))
            }
        }
        let yMin = max(0, (lows + fitted.map(\.2)).min()! * 0.9), yMax = (highs + fitted.map(\.3)).max()! * 1.08
        let ticks = linearTicks(yMin, yMax)
        let (lo, hi) = (min(yMin, ticks.first!), max(yMax, ticks.last!))
        let yMap = { (v: Double) in top + (height - top - bottom) * (1 - (v - lo) / (hi - lo)) }
        return chart(s, title: title, yLabel: "diameter (mm)", yTicks: ticks.map { ($0, format($0)) }, yMap: yMap,
                     values: s.diameterMM, lows: lows, highs: highs, fitted: fitted)
    }

    static func volumeChart(_ s: Series, title: String) -> String {
        let v = s.diameterMM.map { GrowthFit.logVolume(diameterMM: $0) }
        let sy = zip(s.diameterMM, s.sigmaMM).map { 3 * $1 / $0 }
        let lows = zip(v, sy).map { $0 - 1.96 * $1 }, highs = zip(v, sy).map { $0 + 1.96 * $1 }
        var fitted: [(Double, Double, Double, Double)] = []
        if let fit = s.fit {
            for t in samples(s) {
                let b = fit.band(atDays: t)
                fitted.append((t, fit.logVolume(atDays: t), b.lower, b.upper))
            }
        }
        let yMin = (lows + fitted.map(\.2)).min()! - 0.1, yMax = (highs + fitted.map(\.3)).max()! + 0.1
        let ticks = logTicks(exp(yMin), exp(yMax))
        let lo = min(yMin, log(ticks.first!)), hi = max(yMax, log(ticks.last!))
        let yMap = { (y: Double) in top + (height - top - bottom) * (1 - (y - lo) / (hi - lo)) }
        return chart(s, title: title, yLabel: "volume (mm³, log scale)", yTicks: ticks.map { (log($0), format($0)) }, yMap: yMap,
                     values: v, lows: lows, highs: highs, fitted: fitted)
    }

    static func diameter(_ logVolume: Double) -> Double { exp((logVolume - log(Double.pi / 6)) / 3) }

    /// Fit samples over the observed span.
    static func samples(_ s: Series) -> [Double] {
        let a = s.days.min()!, b = s.days.max()!
        return (0...40).map { a + (b - a) * Double($0) / 40 }
    }

    static func chart(_ s: Series, title: String, yLabel: String, yTicks: [(Double, String)], yMap: (Double) -> Double,
                      values: [Double], lows: [Double], highs: [Double], fitted: [(Double, Double, Double, Double)]) -> String {
        let xs = s.days + s.markers.map(\.days)
        let span = max(1, xs.max()! - xs.min()!)
        let x0 = xs.min()! - 0.06 * span, x1 = xs.max()! + 0.06 * span
        let xMap = { (t: Double) in left + (width - left - right) * (t - x0) / (x1 - x0) }
        var svg = """
        <svg class="chart" viewBox="0 0 \(f(width)) \(f(height))" width="\(f(width))" height="\(f(height))" role="img" aria-label="\(HTML.escape(title))">
        <title>\(HTML.escape(title))</title>
        <rect x="\(f(left))" y="\(f(top))" width="\(f(width - left - right))" height="\(f(height - top - bottom))" class="plot"/>

        """
        for (y, label) in yTicks {
            let py = yMap(y)
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(py))\" y2=\"\(f(py))\" class=\"grid\"/>"
            svg += "<text x=\"\(f(left - 5))\" y=\"\(f(py + 4))\" class=\"tick\" text-anchor=\"end\">\(label)</text>\n"
        }
        let positions = s.days.map(xMap)
        let crowded = zip(positions, positions.dropFirst()).contains { $1 - $0 < 64 }
        for (px, d) in zip(positions, s.dates) {
            svg += "<line x1=\"\(f(px))\" x2=\"\(f(px))\" y1=\"\(f(height - bottom))\" y2=\"\(f(height - bottom + 4))\" class=\"axis\"/>"
            if crowded {
                let y = height - bottom + 12
                svg += "<text x=\"\(f(px))\" y=\"\(f(y))\" class=\"tick\" text-anchor=\"end\" transform=\"rotate(-35 \(f(px)) \(f(y)))\">\(d)</text>\n"
            } else {
                svg += "<text x=\"\(f(px))\" y=\"\(f(height - bottom + 16))\" class=\"tick\" text-anchor=\"middle\">\(d)</text>\n"
            }
        }
        for m in s.markers {
            let px = xMap(m.days)
            svg += "<line x1=\"\(f(px))\" x2=\"\(f(px))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" class=\"marker\"/>"
            svg += "<text x=\"\(f(px - 3))\" y=\"\(f(top + 10))\" class=\"tick marker-label\" text-anchor=\"end\">\(HTML.escape(m.label))</text>\n"
        }
        if !fitted.isEmpty {
            let upper = fitted.map { "\(f(xMap($0.0))),\(f(yMap($0.3)))" }
            let lower = fitted.reversed().map { "\(f(xMap($0.0))),\(f(yMap($0.2)))" }
            svg += "<polygon points=\"\((upper + lower).joined(separator: " "))\" class=\"band\"><title>95% confidence band of the fitted growth</title></polygon>\n"
            svg += "<polyline points=\"\(fitted.map { "\(f(xMap($0.0))),\(f(yMap($0.1)))" }.joined(separator: " "))\" class=\"fit\"><title>fitted exponential growth (doubling-time line)</title></polyline>\n"
        }
        for i in values.indices {
            let px = xMap(s.days[i])
            svg += "<line x1=\"\(f(px))\" x2=\"\(f(px))\" y1=\"\(f(yMap(lows[i])))\" y2=\"\(f(yMap(highs[i])))\" class=\"errorbar\"/>"
            svg += "<circle cx=\"\(f(px))\" cy=\"\(f(yMap(values[i])))\" r=\"4\" class=\"point\"><title>\(s.dates[i]): \(format(s.diameterMM[i])) mm ± \(format(1.96 * s.sigmaMM[i])) mm (95%)</title></circle>\n"
        }
        svg += """
        <text x="\(f(left + (width - left - right) / 2))" y="\(f(height - 6))" class="label" text-anchor="middle">study date</text>
        <text x="14" y="\(f(top + (height - top - bottom) / 2))" class="label" text-anchor="middle" transform="rotate(-90 14 \(f(top + (height - top - bottom) / 2)))">\(yLabel)</text>
        <text x="\(f(left))" y="16" class="chart-title">\(HTML.escape(title))</text>
        </svg>
        """
        return svg
    }

    static func linearTicks(_ a: Double, _ b: Double) -> [Double] {
        let raw = (b - a) / 5
        let mag = pow(10, floor(log10(max(raw, 1e-9))))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * mag }.first { $0 >= raw } ?? 10 * mag
        var t = floor(a / step) * step
        var out: [Double] = []
        while t <= b + step * 0.999 { out.append(t); t += step }
        return out
    }

    /// Log-axis ticks inside [a, b]: 1-2-5 per decade, finer (1–9) when that gives fewer than 3,
    /// finer still (steps of 0.5·10ⁿ… 0.1·10ⁿ) for a narrow range.
    static func logTicks(_ a: Double, _ b: Double) -> [Double] {
        func ticks(_ mantissas: [Double]) -> [Double] {
            var out: [Double] = []
            var decade = pow(10, floor(log10(a)) - 1)
            while decade <= b {
                for m in mantissas {
                    let v = m * decade
                    if v >= a / 1.0001 && v <= b * 1.0001 { out.append(v) }
                }
                decade *= 10
            }
            return out
        }
        for mantissas in [[1.0, 2, 5], [1.0, 2, 3, 4, 5, 6, 7, 8, 9], stride(from: 1.0, to: 10, by: 0.5).map { $0 },
                          stride(from: 1.0, to: 10, by: 0.2).map { $0 }] {
            let t = ticks(mantissas)
            if t.count >= 3 { return t.count > 8 ? stride(from: 0, to: t.count, by: (t.count + 7) / 8).map { t[$0] } : t }
        }
        return [a, b]
    }

    /// SVG coordinates, 1 decimal.
    static func f(_ v: Double) -> String {
        let r = (v * 10).rounded() / 10
        return r == r.rounded() ? String(Int(r)) : String(r)
    }

    /// Axis numbers: up to 3 significant digits, no exponent.
    static func format(_ v: Double) -> String {
        if v >= 100 || v == v.rounded() { return String(Int(v.rounded())) }
        return Report.number(v, decimals: v >= 1 ? 1 : 2)
    }
}
