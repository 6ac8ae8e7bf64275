#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A nodule's position and size in the reference exam's frame, as matching sees it.
public struct MatchCandidate: Hashable, Sendable {
    /// mm, reference frame.
    public var xMM: Double
    /// mm, reference frame.
    public var yMM: Double
    /// mm.
    public var diameterMM: Double

    public init(xMM: Double, yMM: Double, diameterMM: Double) {
        self.xMM = xMM
        self.yMM = yMM
        self.diameterMM = diameterMM
    }
}

/// Pairs nodules across two exams by globally optimal assignment
/// (``HungarianAssignment``) in registered mm coordinates, with two gates:
///
/// - **Distance:** centre distance d ≤ max(``minimumGateMM``, ``gateDiameterFactor`` · max(D₁, D₂)).
///   10 mm covers residual registration error and breathing-related shift of a
///   small nodule; 0.75·D lets a large nodule's centre move within its own extent.
/// - **Size plausibility:** max(D₁, D₂) / min(D₁, D₂) ≤ ``maximumDiameterRatio``
///   (2.5 by default: a 15.6-fold volume change, about four doublings, which
///   covers a VDT of 60 days over 240 days).
///
/// The cost of an allowed pair is (d / gate)² + (ln(D₂/D₁) / ln ratio)², each term
/// ≤ 1 inside its gate. The assignment maximises the number of allowed pairs,
/// then minimises total cost. Unpaired nodules become new tracks; tracks left
/// unpaired are candidates for "resolved".
public struct NoduleMatcher: Hashable, Sendable {
    public var minimumGateMM: Double
    public var gateDiameterFactor: Double
    public var maximumDiameterRatio: Double

    public init(minimumGateMM: Double = 10, gateDiameterFactor: Double = 0.75, maximumDiameterRatio: Double = 2.5) {
        precondition(minimumGateMM > 0 && gateDiameterFactor >= 0 && maximumDiameterRatio > 1)
        self.minimumGateMM = minimumGateMM
        self.gateDiameterFactor = gateDiameterFactor
        self.maximumDiameterRatio = maximumDiameterRatio
    }

    /// The distance gate for a pair, mm.
    public func gateMM(_ a: MatchCandidate, _ b: MatchCandidate) -> Double {
        max(minimumGateMM, gateDiameterFactor * max(a.diameterMM, b.diameterMM))
    }

    /// The pair's cost, or nil when either gate rejects it.
    public func cost(_ a: MatchCandidate, _ b: MatchCandidate) -> Double? {
        let dx = a.xMM - b.xMM, dy = a.yMM - b.yMM
        let d = (dx * dx + dy * dy).squareRoot(), gate = gateMM(a, b)
        let ratio = max(a.diameterMM, b.diameterMM) / min(a.diameterMM, b.diameterMM)
        guard d <= gate, ratio <= maximumDiameterRatio else { return nil }
        let size = log(ratio) / log(maximumDiameterRatio)
        return (d / gate) * (d / gate) + size * size
    }

    /// For each prior candidate, the index of its partner among `current`, or nil.
    public func match(prior: [MatchCandidate], current: [MatchCandidate]) -> [Int?] {
        guard !prior.isEmpty else { return [] }
        guard !current.isEmpty else { return [Int?](repeating: nil, count: prior.count) }
        let matrix = prior.map { p in current.map { c in cost(p, c) ?? .infinity } }
        return HungarianAssignment.solve(matrix)
    }
}
