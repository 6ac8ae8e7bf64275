/// One measurement on a track.
public struct TrackObservation: Hashable, Sendable {
    public var examID: String
    public var studyDate: CalendarDate
    /// As measured, in the exam's own mm coordinates.
    public var nodule: MeasuredNodule
    /// Centre in the reference exam's frame, mm (what matching used).
    public var referenceXMM: Double
    public var referenceYMM: Double
    /// σ_D from the ``DiameterUncertaintyModel``, mm.
    public var diameterSigmaMM: Double
    /// False when the exam's registration was unreliable (coordinates used unregistered).
    public var registrationReliable: Bool
}

/// A nodule followed across exams.
public struct NoduleTrack: Hashable, Sendable {
    /// Stable identity (DICOM Tracking UID 112040 as ``TrackIdentity/dicomUID``).
    public var identity: TrackIdentity
    /// Human-readable Tracking Identifier (112039), e.g. "nodule 1", numbered by first appearance.
    public var trackingIdentifier: String
    /// In date order.
    public var observations: [TrackObservation]
    /// nil with fewer than two observations.
    public var growth: GrowthEstimate?
    public var status: GrowthStatus
    /// nil when no policy was given.
    public var followUp: FollowUpDecision?
    /// Caveats that apply to this track's linkage (e.g. an unreliable registration).
    public var warnings: [String]

    /// The lowest registration quality among the exams on this track (1 for the reference).
    public var registrationQuality: Double

    /// The highest detector score among the track's observations (0–1, unitless; nil when none
    /// carries one). A track of anatomy persists between exams as a nodule does; this is the
    /// strongest evidence the detector gave that the track is a nodule, for ranking tracks in review.
    public var detectionScore: Double? { observations.compactMap(\.nodule.detectionScore).max() }
}

/// An exam as the tracker used it.
public struct TrackedExam: Hashable, Sendable {
    public var examID: String
    public var studyDate: CalendarDate
    public var registration: RegistrationResult
    /// False when the exam's registration was unreliable.
    public var registrationUsed: Bool
}

/// Every track of one patient.
public struct PatientTracks: Hashable, Sendable {
    public var patient: PatientKey
    /// In date order; the first is the reference exam.
    public var exams: [TrackedExam]
    /// Ordered by first exam, then position (y, x).
    public var tracks: [NoduleTrack]
}

/// Links the nodules of a patient's exams into tracks, estimates growth and
/// applies a follow-up policy.
///
/// Exams are taken in (study date, exam ID) order. Each exam's nodules are
/// mapped into the reference frame with its ``ExamMeasurements/registration``
/// (nil: already in the reference frame) and matched with ``NoduleMatcher``
/// against the latest observation of every existing track, so a nodule missed
/// on one exam can be relinked later. An exam whose registration is unreliable
/// is still linked, in unregistered coordinates, and every track it touches
/// carries a warning: it is flagged, never silently used.
///
/// Status: a track last seen before the latest exam is `resolved`; a track with
/// one observation on the latest exam is `new`; otherwise the
/// ``GrowthEstimate`` decides (growing / stable / shrinking / indeterminate).
public struct SerialTracker: Sendable {
    public var matcher: NoduleMatcher
    public var uncertainty: DiameterUncertaintyModel
    public var rule: GrowthStatusRule
    public var policy: FollowUpPolicy?

    public init(matcher: NoduleMatcher = NoduleMatcher(), uncertainty: DiameterUncertaintyModel = DiameterUncertaintyModel(),
                rule: GrowthStatusRule = GrowthStatusRule(), policy: FollowUpPolicy? = nil) {
        self.matcher = matcher
        self.uncertainty = uncertainty
        self.rule = rule
        self.policy = policy
    }

    public func track(patient: PatientKey, exams unsorted: [ExamMeasurements]) -> PatientTracks {
        let exams = unsorted.sorted { ($0.studyDate, $0.examID) < ($1.studyDate, $1.examID) }
        var tracked: [TrackedExam] = []
        var building: [(first: Int, observations: [TrackObservation], warnings: [String])] = []
        for (e, exam) in exams.enumerated() {
            let registration = exam.registration ?? .reference
            let reliable = registration.isReliable
            let transform = reliable ? registration.transform : .identity
            tracked.append(TrackedExam(examID: exam.examID, studyDate: exam.studyDate, registration: registration, registrationUsed: reliable))
            let observations = exam.nodules.map { n -> TrackObservation in
                let p = transform.apply(xMM: n.xMM, yMM: n.yMM)
                return TrackObservation(examID: exam.examID, studyDate: exam.studyDate, nodule: n, referenceXMM: p.xMM, referenceYMM: p.yMM,
                                        diameterSigmaMM: uncertainty.sigmaMM(fitSigmaMM: n.diameterUncertaintyMM, pixelSpacingMM: exam.pixelSpacingMM),
                                        registrationReliable: reliable)
            }
            let prior = building.map { t -> MatchCandidate in
                let o = t.observations.last!
                return MatchCandidate(xMM: o.referenceXMM, yMM: o.referenceYMM, diameterMM: o.nodule.diameterMM)
            }
            let current = observations.map { MatchCandidate(xMM: $0.referenceXMM, yMM: $0.referenceYMM, diameterMM: $0.nodule.diameterMM) }
            let pairs = matcher.match(prior: prior, current: current)
            var taken = Set<Int>()
            let warning = "exam \(exam.examID) (\(exam.studyDate)): registration unreliable (\(registration.issues.map(\.description).joined(separator: "; "))); linked in unregistered coordinates"
            for (t, c) in pairs.enumerated() {
                guard let c else { continue }
                taken.insert(c)
                building[t].observations.append(observations[c])
                if !reliable { building[t].warnings.append(warning) }
            }
            for (c, o) in observations.enumerated() where !taken.contains(c) {
                building.append((e, [o], reliable ? [] : [warning]))
            }
        }
        guard let latest = exams.last else { return PatientTracks(patient: patient, exams: [], tracks: []) }
        let latestReliable = tracked.last!.registrationUsed
        // Stable order: first exam, then position in the reference frame.
        building.sort { a, b in
            let oa = a.observations[0], ob = b.observations[0]
            return (a.first, oa.referenceYMM, oa.referenceXMM, oa.nodule.diameterMM) < (b.first, ob.referenceYMM, ob.referenceXMM, ob.nodule.diameterMM)
        }
        var tracks: [NoduleTrack] = []
        for (index, t) in building.enumerated() {
            let first = t.observations[0]
            let identity = TrackIdentity(patient: patient, firstExamID: first.examID, xMM: first.referenceXMM, yMM: first.referenceYMM)
            let origin = exams[0].studyDate
            let points = t.observations.map {
                GrowthPoint(days: Double(origin.days(to: $0.studyDate)), diameterMM: $0.nodule.diameterMM, sigmaMM: $0.diameterSigmaMM)
            }
            let growth = GrowthEstimate(points: points, rule: rule)
            var warnings = t.warnings
            let status: GrowthStatus
            if t.observations.last!.examID != latest.examID {
                status = .resolved
                if !latestReliable { warnings.append("not found on the latest exam, whose registration is unreliable") }
            } else if t.observations.count == 1 {
                status = .new
                if exams.count == 1 { warnings.append("single (baseline) exam: no prior to compare") }
            } else {
                status = growth?.status ?? .indeterminate
            }
            let quality = t.observations.compactMap { o in tracked.first { $0.examID == o.examID }?.registration.quality }.min() ?? 1
            let decision = policy?.decide(status: status, growth: growth, lastDiameterMM: t.observations.last!.nodule.diameterMM,
                                          decisionDate: latest.studyDate)
            tracks.append(NoduleTrack(identity: identity, trackingIdentifier: "nodule \(index + 1)", observations: t.observations,
                                      growth: growth, status: status, followUp: decision, warnings: warnings, registrationQuality: quality))
        }
        return PatientTracks(patient: patient, exams: tracked, tracks: tracks)
    }
}
