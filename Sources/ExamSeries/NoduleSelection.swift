import NoduleDetection
import SerialTracking

/// Which stored detections are followed as nodules.
///
/// Rule: per exam (image), the candidates with score ≥ ``minimumScore``, highest
/// score first, at most ``top`` objects, where a candidate lying inside a larger
/// one's measured circle is a part of it and only the larger is followed.
/// Defaults: top 5, no score floor. The
/// score model's probabilities are not calibrated on radiographs (they are
/// 0.03–0.08 for every candidate on the serial phantoms), so a fixed-K cut is
/// the default and the floor is an option.
///
/// **Corroboration** (``corroborates``, on by default), the way a reader checks the
/// same place on the other exams of the patient: a stored candidate below its own
/// exam's cut is followed too when a nodule chosen on *another* exam maps, through
/// reliable registrations, to within max(``corroborationGateMM``, ½·D) of it (D the
/// larger diameter) with diameters within a factor ``corroborationDiameterRatio``.
/// Only candidates chosen by the cut corroborate (the rule is not applied
/// transitively), and the nearest qualifying candidate per chosen nodule is taken.
/// Exams without a reliable registration neither give nor receive corroboration.
/// Persistent anatomy (a rib crossing) is corroborated as readily as a nodule; it
/// then appears as a `stable` track, which a person reviews.
public struct NoduleSelection: Sendable, Equatable {
    public static let defaultTop = 5
    /// At most this many candidates per exam (≥ 1).
    public var top: Int
    /// Detection score floor, 0–1 (the score is unitless).
    public var minimumScore: Double
    /// Follow a lower-ranked candidate when another exam's chosen nodule lies at the same registered place.
    public var corroborates: Bool
    /// Smallest corroboration distance, mm (registration error on the serial phantoms is about 1.5 mm).
    public var corroborationGateMM: Double
    /// Largest diameter ratio between a chosen nodule and the candidate it corroborates.
    public var corroborationDiameterRatio: Double
    /// Measure a chosen nodule again at its registered place on the patient's other exams
    /// where nothing is followed there (``TrackInputBuilder``; the rule is documented there).
    public var remeasures: Bool
    /// Largest diameter ratio between a chosen nodule and its re-measurement on another exam
    /// (wider than ``corroborationDiameterRatio``: a measurement there is checked for density
    /// too, and a fast-growing nodule can more than double its diameter between exams). The
    /// default is the default matcher's size gate (``NoduleMatcher/maximumDiameterRatio``, 2.5),
    /// so what is measured can be linked.
    public var remeasureDiameterRatio: Double
    /// Measure every nodule of a provisional track again on each of its exams from one common
    /// start, the track's median sphere-fit size (``TrackInputBuilder``; the rule is documented there).
    public var remeasuresTracks: Bool

    public init(top: Int = NoduleSelection.defaultTop, minimumScore: Double = 0, corroborates: Bool = true,
                corroborationGateMM: Double = 5, corroborationDiameterRatio: Double = 2, remeasures: Bool = true,
                remeasureDiameterRatio: Double = NoduleMatcher().maximumDiameterRatio, remeasuresTracks: Bool = false) {
        precondition(corroborationGateMM > 0 && corroborationDiameterRatio >= 1 && remeasureDiameterRatio >= 1)
        self.top = top
        self.minimumScore = minimumScore
        self.corroborates = corroborates
        self.corroborationGateMM = corroborationGateMM
        self.corroborationDiameterRatio = corroborationDiameterRatio
        self.remeasures = remeasures
        self.remeasureDiameterRatio = remeasureDiameterRatio
        self.remeasuresTracks = remeasuresTracks
    }

    /// `candidates` as stored: highest score first (rank order). Returns the chosen ones
    /// with their rank (index into `candidates`), in rank order. Candidates without a
    /// finite positive diameter are never chosen. A candidate whose measured circle lies
    /// inside a larger one's (see ``isPart(_:of:)``) is a part of the same object: only the
    /// larger is followed, whichever ranks first, and the object counts once towards ``top``.
    public func select(_ candidates: [NoduleCandidate]) -> [(rank: Int, candidate: NoduleCandidate)] {
        var chosen: [(rank: Int, candidate: NoduleCandidate)] = []
        for (rank, c) in candidates.enumerated() where c.score >= minimumScore && Self.hasSize(c) {
            if chosen.contains(where: { Self.isPart(c, of: $0.candidate) }) { continue }
            let before = chosen.count
            chosen.removeAll { Self.isPart($0.candidate, of: c) }  // c replaces its parts
            if chosen.count == before && before == top { break }
            chosen.append((rank, c))  // ranks only grow, so `chosen` stays in rank order
        }
        return chosen
    }

    /// Whether `part`'s measured circle lies inside `whole`'s, with 25 % slack on the larger
    /// radius (centre distance + r_part ≤ 1.25·r_whole) and `part` the smaller: a lobe or
    /// sub-blob of a nodule that detection also measured whole (detection's own suppression
    /// keeps such parts, so that a large false positive cannot hide a nodule it covers).
    public static func isPart(_ part: NoduleCandidate, of whole: NoduleCandidate) -> Bool {
        let r = part.diameterPx / 2, R = whole.diameterPx / 2
        guard r < R else { return false }
        return ((part.x - whole.x) * (part.x - whole.x) + (part.y - whole.y) * (part.y - whole.y)).squareRoot() + r
            <= NoduleCandidate.partRadiusSlack * R
    }

    static func hasSize(_ c: NoduleCandidate) -> Bool { c.diameterPx > 0 && c.diameterPx.isFinite }

    /// Whether two nodules of diameters `a` and `b` (mm) with centres `distance` mm apart are the
    /// same object across exams: within max(``corroborationGateMM``, ½ of the larger diameter),
    /// diameters within a factor ``corroborationDiameterRatio``. Corroboration uses it; re-measurement the gate only.
    func isSameObject(distanceMM distance: Double, diameterMM a: Double, _ b: Double) -> Bool {
        distance <= gateMM(diameterMM: max(a, b)) && diametersAgree(a, b)
    }

    /// Whether diameters `a` and `b` are within a factor ``corroborationDiameterRatio`` of each other.
    func diametersAgree(_ a: Double, _ b: Double) -> Bool {
        max(a, b) / max(min(a, b), 1e-9) <= corroborationDiameterRatio
    }

    /// The corroboration gate for a nodule of diameter `d` mm: max(``corroborationGateMM``, ½·d), mm.
    func gateMM(diameterMM d: Double) -> Double { max(corroborationGateMM, d / 2) }

    /// One exam's stored candidates (rank order) with what places them in the reference exam.
    struct ExamCandidates {
        var candidates: [NoduleCandidate]
        /// Input pixel spacing, mm/px.
        var columnSpacingMM: Double
        var rowSpacingMM: Double
        /// Exam mm → reference mm; nil when the exam's registration is not reliable.
        var toReference: SimilarityTransform?

        /// Candidate `i`'s centre in this exam's mm from the image's top-left corner,
        /// x = (column + ½)·column spacing, y = (row + ½)·row spacing, and its diameter, mm.
        func inExam(_ i: Int) -> (x: Double, y: Double, diameter: Double) {
            let c = candidates[i]
            return ((c.x + 0.5) * columnSpacingMM, (c.y + 0.5) * rowSpacingMM,
                    c.diameterMM ?? c.diameterPx * (columnSpacingMM + rowSpacingMM) / 2)
        }

        /// Candidate `i`'s centre in reference mm and its diameter, mm (nil without a transform).
        func placed(_ i: Int) -> (x: Double, y: Double, diameter: Double)? {
            guard let toReference else { return nil }
            let c = inExam(i)
            let p = toReference.apply(xMM: c.x, yMM: c.y)
            return (p.xMM, p.yMM, c.diameter * toReference.scale)
        }
    }

    /// Per exam, the ranks followed (rank order) and which of them came by corroboration.
    func chooseAcrossExams(_ exams: [ExamCandidates]) -> [(ranks: [Int], corroborated: [Int])] {
        let cut = exams.map { select($0.candidates).map(\.rank) }
        guard corroborates else { return cut.map { ($0, []) } }
        return exams.indices.map { b in
            let own = Set(cut[b])
            var extra = Set<Int>()
            guard exams[b].toReference != nil else { return (cut[b], []) }
            let open = exams[b].candidates.indices.filter { !own.contains($0) && Self.hasSize(exams[b].candidates[$0]) }
            for a in exams.indices where a != b {
                for rank in cut[a] {
                    guard let chosen = exams[a].placed(rank) else { continue }
                    var best: (rank: Int, distance: Double)?
                    for i in open {
                        guard let here = exams[b].placed(i) else { continue }
                        let distance = ((here.x - chosen.x) * (here.x - chosen.x) + (here.y - chosen.y) * (here.y - chosen.y)).squareRoot()
                        guard isSameObject(distanceMM: distance, diameterMM: here.diameter, chosen.diameter) else { continue }
                        if best == nil || distance < best!.distance { best = (i, distance) }
                    }
                    if let best { extra.insert(best.rank) }
                }
            }
            return (own.union(extra).sorted(), extra.sorted())
        }
    }
}

/// The sizing fit's own 1-σ diameter uncertainty, mm, from the detection's features.
/// `DiameterUncertaintyModel` (SerialTracking) adds the pixel term (1 px of the
/// measurement spacing) in quadrature and a 0.2 mm floor.
///
///     σ_fit² = ((L − S)/√12)² + (D·(1 − clamp(sphere_fit, 0, 1)))² + (D·open_rays/2)²
///              + (¼·|D − (L + S)/2|)²
///
/// - shape: the reported diameter is the mean of the long axis L and the short
///   axis S; any diameter in [S, L] describes the outline equally well, a uniform
///   spread of SD (L − S)/√12.
/// - profile: `sphere_fit` is the correlation of the mean radial profile with a
///   projected sphere's; the unexplained part scales the half-maximum edge's
///   position error, taken as that fraction of D.
/// - open rays: rays that found no edge fall back to the search radius; a fraction
///   f of them moves the mean diameter by up to f·D, taken as f·D/2 at 1 σ.
/// - disagreement (from session 35): D is the edge outline's diameter and L, S the
///   sphere fit's axes; where the two sizings disagree, one of them measured a part
///   of the nodule or the nodule with its surroundings. The weight ¼ was fitted on
///   four serial training sets (`Benchmarks/tracking/sigma_model_probe.py`): the
///   95 % growth-rate intervals held the true rate for 96 of 101 tracks there
///   (90 without the term).
enum SizingUncertainty {
    /// Weight of the disagreement between the edge diameter and the sphere fit's mean axis.
    static let disagreementWeight = 0.25

    /// `diameterMM`: the measured diameter D, mm. Returns σ_fit, mm.
    static func fitSigmaMM(_ f: NoduleFeatures, diameterMM d: Double) -> Double {
        fitSigmaMM(longAxisMM: f.longAxisMM, shortAxisMM: f.shortAxisMM, sphereFit: f.sphereFit, openRays: f.openRays, diameterMM: d)
    }

    /// The same from the measurement's own figures (a re-measured nodule has no stored features).
    static func fitSigmaMM(longAxisMM: Double, shortAxisMM: Double, sphereFit: Double, openRays: Double, diameterMM d: Double) -> Double {
        let shape = max(0, longAxisMM - shortAxisMM) / 12.0.squareRoot()
        let profile = d * (1 - min(max(sphereFit, 0), 1))
        let open = d * min(max(openRays, 0), 1) / 2
        let disagreement = disagreementWeight * abs(d - (longAxisMM + shortAxisMM) / 2)
        return (shape * shape + profile * profile + open * open + disagreement * disagreement).squareRoot()
    }
}
