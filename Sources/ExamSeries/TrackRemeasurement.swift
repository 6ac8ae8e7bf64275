import NoduleDetection
import ScaleSpace
import SerialTracking

extension TrackInputBuilder {
    /// Sizes each nodule of a provisional track alike on every exam of the track, the way a
    /// reader measures a known nodule the same way on the prior and the current exam
    /// (``NoduleSelection/remeasuresTracks``).
    ///
    /// Rule: the exams are tracked once with the default ``SerialTracker`` (the same matcher
    /// `nodules track` uses). For a track of two or more observations, every exam registered
    /// reliably, read at its stated spacing and loaded, the start is the median of the
    /// observations' sphere-fit sizes (mean of long and short axis; detections only) in the
    /// reference exam's mm, brought to each exam's mm through its registration scale. Each
    /// observation is measured again at its own centre from that start with the sizing that
    /// re-measures nodules across exams (``NoduleMeasurement/measureClearingBackground(_:smoothed:x:y:radius:parameters:sizingRefit:)``,
    /// then ``NoduleMeasurement/reportedDiameter(of:measuredFrom:in:smoothed:parameters:spacingMM:)``).
    /// The track takes the new diameters and uncertainties only when every observation's new
    /// centre lies within ``NoduleSelection/gateMM(diameterMM:)`` of its old one and its new
    /// diameter within ``NoduleSelection/corroborationDiameterRatio`` of its old one; otherwise
    /// it keeps the sizes as detected (a mix would defeat the point). Positions are kept, so
    /// the matching does not move.
    /// `startSizesMM`: per exam and nodule (in `measured`'s order) the detection's sphere-fit size in
    /// the exam's mm, nil for a nodule measured again at another exam's (no detection).
    /// Returns the exams with those sizes and how many nodules were sized again per exam.
    func remeasureTracks(key: PatientKey, exams measured: [ExamMeasurements], startSizesMM: [[Double?]],
                         toReference: [SimilarityTransform?], spacings: [(column: Double, row: Double)?], loaded: [Loaded?]) -> (exams: [ExamMeasurements], resized: [Int]) {
        var out = measured
        var resized = measured.map { _ in 0 }
        // Exam IDs are unique (``build(_:)`` leaves repeated content out); the first wins if they were not.
        let index = Dictionary(measured.enumerated().map { ($1.examID, $0) }, uniquingKeysWith: { first, _ in first })
        var smoothed: [FloatImage?] = measured.map { _ in nil }
        let provisional = SerialTracker().track(patient: key, exams: measured)
        for track in provisional.tracks where track.observations.count >= 2 {
            // (exam index, nodule index) per observation; the observation carries a copy of the nodule.
            let places = track.observations.compactMap { o -> (exam: Int, nodule: Int)? in
                guard let e = index[o.examID], let n = measured[e].nodules.firstIndex(of: o.nodule) else { return nil }
                return (e, n)
            }
            guard places.count == track.observations.count,
                  places.allSatisfy({ toReference[$0.exam] != nil && spacings[$0.exam] != nil && loaded[$0.exam]?.normalised != nil })
            else { continue }
            let inReference = places.compactMap { p in startSizesMM[p.exam][p.nodule].map { $0 * toReference[p.exam]!.scale } }.sorted()
            guard !inReference.isEmpty else { continue }
            let seed = inReference.count % 2 == 1 ? inReference[inReference.count / 2]
                : 0.5 * (inReference[inReference.count / 2 - 1] + inReference[inReference.count / 2])
            var sized: [(exam: Int, nodule: Int, diameter: Double, sigma: Double)] = []
            for p in places {
                let normalised = loaded[p.exam]!.normalised!
                let old = measured[p.exam].nodules[p.nodule]
                let spacing = spacings[p.exam]!
                // mm per measurement-image px, as in ``remeasure(exams:placed:chosen:loaded:)``.
                let fineMM = normalised.measurementSpacingMM
                let fineColumnMM = normalised.measurementScale.x * spacing.column
                let fineRowMM = normalised.measurementScale.y * spacing.row
                let diameter = seed / toReference[p.exam]!.scale
                let start = (x: old.xMM / fineColumnMM - 0.5, y: old.yMM / fineRowMM - 0.5, radius: diameter / 2 / fineMM)
                if smoothed[p.exam] == nil { smoothed[p.exam] = normalised.smoothedMeasurement() }
                guard let m = NoduleMeasurement.measureClearingBackground(normalised.measurement, smoothed: smoothed[p.exam], x: start.x, y: start.y,
                                                                           radius: start.radius, parameters: pipeline.measurement) else { break }
                let x = (m.x + 0.5) * fineColumnMM, y = (m.y + 0.5) * fineRowMM
                let gate = selection.gateMM(diameterMM: old.diameterMM)
                guard (x - old.xMM) * (x - old.xMM) + (y - old.yMM) * (y - old.yMM) <= gate * gate else { break }
                let reported = NoduleMeasurement.reportedDiameter(of: m, measuredFrom: start, in: normalised.measurement, smoothed: smoothed[p.exam],
                                                                  parameters: pipeline.measurement, spacingMM: fineMM) * fineMM
                let ratio = max(reported, old.diameterMM) / max(min(reported, old.diameterMM), 1e-9)
                guard reported > 0, ratio <= selection.corroborationDiameterRatio else { break }
                let sigma = SizingUncertainty.fitSigmaMM(longAxisMM: m.longAxis * fineMM, shortAxisMM: m.shortAxis * fineMM, sphereFit: m.sphereFit,
                                                         openRays: m.openRayFraction, diameterMM: reported)
                sized.append((p.exam, p.nodule, reported, sigma))
            }
            guard sized.count == places.count else { continue }
            for s in sized {
                out[s.exam].nodules[s.nodule].diameterMM = s.diameter
                out[s.exam].nodules[s.nodule].diameterUncertaintyMM = s.sigma
                out[s.exam].nodules[s.nodule].sizing = .commonStart
                resized[s.exam] += 1
            }
        }
        return (out, resized)
    }
}
