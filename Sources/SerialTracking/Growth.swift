#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A track's status across the patient's exams.
public enum GrowthStatus: String, Hashable, Sendable, Codable, CaseIterable {
    /// Volume increase beyond measurement error and ≥ the volume-change threshold.
    case growing
    /// Apparent volume change below the threshold.
    case stable
    /// Volume decrease beyond measurement error and ≥ the threshold (in log volume).
    case shrinking
    /// Apparent change at or above the threshold but within measurement error,
    /// or no usable time span: a VDT cannot be stated.
    case indeterminate
    /// Seen on the latest exam only (or on a single baseline exam).
    case new
    /// Seen before, absent on the latest exam.
    case resolved
}

/// One diameter measurement on the time axis.
public struct GrowthPoint: Hashable, Sendable {
    /// Days since any fixed origin.
    public var days: Double
    /// mm.
    public var diameterMM: Double
    /// 1-σ diameter uncertainty, mm (see ``DiameterUncertaintyModel``).
    public var sigmaMM: Double

    public init(days: Double, diameterMM: Double, sigmaMM: Double) {
        precondition(diameterMM > 0 && sigmaMM > 0)
        self.days = days
        self.diameterMM = diameterMM
        self.sigmaMM = sigmaMM
    }
}

/// The 95% interval on the volume doubling time, told honestly.
///
/// VDT = ln 2 / k for a growth rate k (per day) of log volume. A bounded
/// interval on k that excludes 0 gives a bounded VDT interval (negative VDTs
/// are halving times of a shrinking nodule). An interval on k that contains 0
/// maps to VDT ≥ ln2/k_hi *or* VDT ≤ ln2/k_lo: unbounded, passing through
/// "no change" (±∞).
public enum DoublingTimeInterval: Hashable, Sendable {
    /// Growth beyond error: both bounds positive, days.
    case growing(lowerDays: Double, upperDays: Double)
    /// Shrinkage beyond error: both bounds negative (halving times), days.
    case shrinking(lowerDays: Double, upperDays: Double)
    /// The rate interval contains 0. `fastestGrowthDays` = ln2/k_hi (nil if k_hi ≤ 0),
    /// `fastestShrinkageDays` = ln2/k_lo (nil if k_lo ≥ 0).
    case unbounded(fastestGrowthDays: Double?, fastestShrinkageDays: Double?)

    init(rateLow kl: Double, rateHigh kh: Double) {
        if kl > 0 {
            self = .growing(lowerDays: M_LN2 / kh, upperDays: M_LN2 / kl)
        } else if kh < 0 {
            self = .shrinking(lowerDays: M_LN2 / kh, upperDays: M_LN2 / kl)
        } else {
            self = .unbounded(fastestGrowthDays: kh > 0 ? M_LN2 / kh : nil, fastestShrinkageDays: kl < 0 ? M_LN2 / kl : nil)
        }
    }

    /// (lower, upper) days with nil for an unbounded end: the form the JSON report uses.
    /// For `.unbounded` this is (ln2/k_hi, nil): "at least this fast, or not growing at all".
    public var bounds: (lower: Double?, upper: Double?) {
        switch self {
        case let .growing(l, u), let .shrinking(l, u): (l, u)
        case let .unbounded(g, _): (g, nil)
        }
    }

    /// Whether the interval contains `vdtDays` (±∞ meaning no change).
    public func contains(_ vdtDays: Double) -> Bool {
        switch self {
        case let .growing(l, u), let .shrinking(l, u): return vdtDays >= l && vdtDays <= u
        case let .unbounded(g, s):
            if vdtDays.isInfinite { return true }
            if vdtDays > 0 { return g.map { vdtDays >= $0 } ?? false }
            return s.map { vdtDays <= $0 } ?? false
        }
    }
}

/// When a change counts (NELSON; see domain notes): the change in fitted log
/// volume between the first and last exam, ΔlnV = k·span, must be beyond
/// measurement error (|ΔlnV| > z·σ_ΔlnV, i.e. the 95% interval on k excludes 0)
/// AND at least a 25% volume change (|ΔlnV| ≥ ln 1.25; the same threshold in
/// log volume is used for shrinkage, V_last/V_first ≤ 0.8).
///
/// - growing / shrinking: both criteria hold.
/// - stable: |ΔlnV| < ln 1.25 (whatever the error: NELSON does not count smaller changes).
/// - indeterminate: |ΔlnV| ≥ ln 1.25 but within error, or exams on the same day.
public struct GrowthStatusRule: Hashable, Sendable, Codable {
    /// Relative volume change that counts (0.25 = 25%, NELSON).
    public var volumeChangeThreshold: Double
    /// Two-sided normal quantile of the interval (1.96 for 95%).
    public var z: Double

    public init(volumeChangeThreshold: Double = 0.25, z: Double = 1.959_963_984_540_054) {
        self.volumeChangeThreshold = volumeChangeThreshold
        self.z = z
    }
}

/// Growth of one nodule from two or more diameter measurements.
///
/// Model: V ∝ D³, so y = ln V = 3 ln D + const, with per-point
/// σ_y = 3·σ_D / D (first-order propagation of the diameter uncertainty).
/// - Two exams: k = (y₂ − y₁)/Δt, σ_k = √(σ₁² + σ₂²)/Δt; VDT = ln2/k = Δt·ln2 / (3·ln(D₂/D₁)) (Schwartz).
/// - Three or more: weighted least squares of y on t with weights 1/σ_y²;
///   σ_k = √(1/Σw(t − t̄)²), inflated by √(χ²/(n−2)) when the residual scatter
///   exceeds what σ_D explains (never deflated).
///
/// The 95% interval on k is k ± z·σ_k; VDT bounds are ln2 over the rate bounds
/// (see ``DoublingTimeInterval``). ``doublingTimeDays`` is nil unless the change
/// counts under the ``GrowthStatusRule``: a VDT is never stated from a change
/// within measurement error; ``fragileDoublingTimeDays`` keeps the point value for audit.
public struct GrowthEstimate: Hashable, Sendable {
    public let pointCount: Int
    /// Days between the first and last measurement.
    public let spanDays: Double
    /// k, fitted growth rate of ln V, per day.
    public let growthRatePerDay: Double
    /// σ_k, per day.
    public let growthRateStandardError: Double
    /// Fitted V_last / V_first = exp(k·span).
    public let volumeRatio: Double
    /// 95% interval of the fitted volume ratio.
    public let volumeRatioCI95: ClosedRange<Double>
    /// 95% interval on the VDT.
    public let doublingTimeCI95: DoublingTimeInterval
    /// ln2/k whatever the evidence (±∞ for k = 0): not for display on its own.
    public let fragileDoublingTimeDays: Double
    public let isBeyondMeasurementError: Bool
    public let reachesVolumeChangeThreshold: Bool
    /// growing, stable, shrinking or indeterminate.
    public let status: GrowthStatus

    /// The VDT in days (negative: halving time of a shrinking nodule), or nil
    /// when the change is within error or below the threshold.
    public var doublingTimeDays: Double? {
        status == .growing || status == .shrinking ? fragileDoublingTimeDays : nil
    }

    /// nil for fewer than two points.
    public init?(points unsorted: [GrowthPoint], rule: GrowthStatusRule = GrowthStatusRule()) {
        guard unsorted.count >= 2 else { return nil }
        let points = unsorted.sorted { $0.days < $1.days }
        pointCount = points.count
        spanDays = points.last!.days - points.first!.days
        let y = points.map { 3 * log($0.diameterMM) }
        let sy = points.map { 3 * $0.sigmaMM / $0.diameterMM }
        var k = 0.0, sk = Double.infinity
        if spanDays > 0 {
            if points.count == 2 {
                k = (y[1] - y[0]) / spanDays
                sk = (sy[0] * sy[0] + sy[1] * sy[1]).squareRoot() / spanDays
            } else {
                let w = sy.map { 1 / ($0 * $0) }
                let sw = w.reduce(0, +)
                let tbar = zip(w, points).map { $0 * $1.days }.reduce(0, +) / sw
                let ybar = zip(w, y).map { $0 * $1 }.reduce(0, +) / sw
                var sxx = 0.0, sxy = 0.0
                for i in points.indices {
                    sxx += w[i] * (points[i].days - tbar) * (points[i].days - tbar)
                    sxy += w[i] * (points[i].days - tbar) * (y[i] - ybar)
                }
                k = sxy / sxx
                var chi2 = 0.0
                for i in points.indices {
                    let r = y[i] - (ybar + k * (points[i].days - tbar))
                    chi2 += w[i] * r * r
                }
                sk = (1 / sxx).squareRoot() * max(1, chi2 / Double(points.count - 2)).squareRoot()
            }
        }
        growthRatePerDay = k
        growthRateStandardError = sk
        let kl = k - rule.z * sk, kh = k + rule.z * sk
        let change = k * spanDays
        volumeRatio = exp(change)
        volumeRatioCI95 = spanDays > 0 ? exp(kl * spanDays)...exp(kh * spanDays) : 0...Double.infinity
        doublingTimeCI95 = spanDays > 0 ? DoublingTimeInterval(rateLow: kl, rateHigh: kh)
            : .unbounded(fastestGrowthDays: nil, fastestShrinkageDays: nil)
        fragileDoublingTimeDays = k == 0 ? .infinity : M_LN2 / k
        isBeyondMeasurementError = spanDays > 0 && (kl > 0 || kh < 0)
        reachesVolumeChangeThreshold = spanDays > 0 && abs(change) >= log(1 + rule.volumeChangeThreshold)
        if spanDays <= 0 {
            status = .indeterminate
        } else if !reachesVolumeChangeThreshold {
            status = .stable
        } else if isBeyondMeasurementError {
            status = k > 0 ? .growing : .shrinking
        } else {
            status = .indeterminate
        }
    }

    /// Schwartz's two-exam formula, days: Δt·ln2 / (3·ln(D₂/D₁)) (±∞ when D₂ = D₁).
    public static func doublingTimeDays(intervalDays: Double, diameter1MM: Double, diameter2MM: Double) -> Double {
        let r = log(diameter2MM / diameter1MM)
        return r == 0 ? .infinity : intervalDays * M_LN2 / (3 * r)
    }
}
