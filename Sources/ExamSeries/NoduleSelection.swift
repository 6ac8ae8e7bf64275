import NoduleDetection

/// Which stored detections are followed as nodules.
///
/// Rule: per exam (image), the candidates with score ≥ ``minimumScore``, highest
/// score first, at most ``top`` of them. Defaults: top 5, no score floor. The
/// score model's probabilities are not calibrated on radiographs (they are
/// 0.03–0.08 for every candidate on the serial phantoms), so a fixed-K cut is
/// the default and the floor is an option.
public struct NoduleSelection: Sendable, Equatable {
    public static let defaultTop = 5
    /// At most this many candidates per exam (≥ 1).
    public var top: Int
    /// Detection score floor, 0–1 (the score is unitless).
    public var minimumScore: Double

    public init(top: Int = NoduleSelection.defaultTop, minimumScore: Double = 0) {
        self.top = top
        self.minimumScore = minimumScore
    }

    /// `candidates` as stored: highest score first (rank order). Returns the chosen ones
    /// with their rank (index into `candidates`), in rank order. Candidates without a
    /// finite positive diameter are never chosen.
    func select(_ candidates: [NoduleCandidate]) -> [(rank: Int, candidate: NoduleCandidate)] {
        Array(candidates.enumerated()
            .filter { $0.element.score >= minimumScore && $0.element.diameterPx > 0 && $0.element.diameterPx.isFinite }
            .prefix(top)
            .map { (rank: $0.offset, candidate: $0.element) })
    }
}

/// The sizing fit's own 1-σ diameter uncertainty, mm, from the detection's features.
/// `DiameterUncertaintyModel` (SerialTracking) adds the pixel term (1 px of the
/// measurement spacing) in quadrature and a 0.2 mm floor.
///
///     σ_fit² = ((L − S)/√12)² + (D·(1 − clamp(sphere_fit, 0, 1)))² + (D·open_rays/2)²
///
/// - shape: the reported diameter is the mean of the long axis L and the short
///   axis S; any diameter in [S, L] describes the outline equally well, a uniform
///   spread of SD (L − S)/√12.
/// - profile: `sphere_fit` is the correlation of the mean radial profile with a
///   projected sphere's; the unexplained part scales the half-maximum edge's
///   position error, taken as that fraction of D.
/// - open rays: rays that found no edge fall back to the search radius; a fraction
///   f of them moves the mean diameter by up to f·D, taken as f·D/2 at 1 σ.
enum SizingUncertainty {
    /// `diameterMM`: the measured diameter D, mm. Returns σ_fit, mm.
    static func fitSigmaMM(_ f: NoduleFeatures, diameterMM d: Double) -> Double {
        let shape = max(0, f.longAxisMM - f.shortAxisMM) / 12.0.squareRoot()
        let profile = d * (1 - min(max(f.sphereFit, 0), 1))
        let open = d * min(max(f.openRays, 0), 1) / 2
        return (shape * shape + profile * profile + open * open).squareRoot()
    }
}
