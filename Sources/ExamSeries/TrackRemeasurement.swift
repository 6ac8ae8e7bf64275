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
        // Each exam's measuring image (smoothed on first use); nil where the exam is not re-measured (no stated
        // spacing, or no normalised image).
        var images: [ExamMeasuringImage?] = measured.indices.map { e in
            guard let normalised = loaded[e]?.normalised, let spacing = spacings[e] else { return nil }
            return ExamMeasuringImage(normalised, columnSpacingMM: spacing.column, rowSpacingMM: spacing.row, parameters: pipeline.measurement)
        }
        let provisional = SerialTracker().track(patient: key, exams: measured)
        for track in provisional.tracks where track.observations.count >= 2 {
            // (exam index, nodule index) per observation; the observation carries a copy of the nodule.
            let places = track.observations.compactMap { o -> (exam: Int, nodule: Int)? in
                guard let e = index[o.examID], let n = measured[e].nodules.firstIndex(of: o.nodule) else { return nil }
                return (e, n)
            }
            guard places.count == track.observations.count,
                  places.allSatisfy({ toReference[$0.exam] != nil && images[$0.exam] != nil })
            else { continue }
            let inReference = places.compactMap { p in startSizesMM[p.exam][p.nodule].map { $0 * toReference[p.exam]!.scale } }.sorted()
            guard !inReference.isEmpty else { continue }
            let seed = inReference.count % 2 == 1 ? inReference[inReference.count / 2]
                : 0.5 * (inReference[inReference.count / 2 - 1] + inReference[inReference.count / 2])
            var sized: [(exam: Int, nodule: Int, diameter: Double, sigma: Double)] = []
            for p in places {
                let old = measured[p.exam].nodules[p.nodule]
                let start = images[p.exam]!.start(xMM: old.xMM, yMM: old.yMM, diameterMM: seed / toReference[p.exam]!.scale)
                guard let m = images[p.exam]!.measure(from: start) else { break }
                let (x, y) = images[p.exam]!.positionMM(of: m)
                let gate = selection.gateMM(diameterMM: old.diameterMM)
                guard (x - old.xMM) * (x - old.xMM) + (y - old.yMM) * (y - old.yMM) <= gate * gate else { break }
                let new = images[p.exam]!.size(m, measuredFrom: start)
                let ratio = max(new.diameterMM, old.diameterMM) / max(min(new.diameterMM, old.diameterMM), 1e-9)
                guard new.diameterMM > 0, ratio <= selection.corroborationDiameterRatio else { break }
                sized.append((p.exam, p.nodule, new.diameterMM, new.sigmaMM))
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

/// One exam's normalised measurement image, measured at places given in the exam's mm (from the
/// image's top-left corner): what ``TrackInputBuilder/remeasure(exams:placed:chosen:loaded:)`` and
/// ``TrackInputBuilder/remeasureTracks(key:exams:startSizesMM:toReference:spacings:loaded:)`` share.
struct ExamMeasuringImage {
    let normalised: NormalisedRadiograph
    let parameters: PipelineDefinition.MeasurementParameters
    /// mm per measurement-image px along a row and down a column (input px per fine px × mm per input px);
    /// fine px ↔ exam mm as x_mm = (x_fine + ½)·columnMM.
    let columnMM: Double, rowMM: Double
    /// The measurement image lightly smoothed, made on first use.
    private var smoothed: FloatImage?

    init(_ normalised: NormalisedRadiograph, columnSpacingMM: Double, rowSpacingMM: Double,
         parameters: PipelineDefinition.MeasurementParameters) {
        self.normalised = normalised
        self.parameters = parameters
        columnMM = normalised.measurementScale.x * columnSpacingMM
        rowMM = normalised.measurementScale.y * rowSpacingMM
    }

    /// The measurement image's isotropic spacing, mm/px.
    var fineMM: Double { normalised.measurementSpacingMM }

    /// A start at (`xMM`, `yMM`) with diameter `diameterMM`, in px of the measurement image.
    func start(xMM: Double, yMM: Double, diameterMM: Double) -> (x: Double, y: Double, radius: Double) {
        (x: xMM / columnMM - 0.5, y: yMM / rowMM - 0.5, radius: diameterMM / 2 / fineMM)
    }

    /// Where `m` lies, exam mm.
    func positionMM(of m: NoduleMeasurement) -> (x: Double, y: Double) {
        ((m.x + 0.5) * columnMM, (m.y + 0.5) * rowMM)
    }

    /// The detector's sizing from `start` (``NoduleMeasurement/measureClearingBackground(_:smoothed:x:y:radius:parameters:sizingRefit:)``).
    mutating func measure(from start: (x: Double, y: Double, radius: Double)) -> NoduleMeasurement? {
        if smoothed == nil { smoothed = normalised.smoothedMeasurement() }
        return NoduleMeasurement.measureClearingBackground(normalised.measurement, smoothed: smoothed, x: start.x, y: start.y,
                                                           radius: start.radius, parameters: parameters)
    }

    /// `m`'s diameter as the definition reports it (``NoduleMeasurement/reportedDiameter(of:measuredFrom:in:smoothed:parameters:spacingMM:)``)
    /// and its sizing uncertainty (``SizingUncertainty``), mm.
    mutating func size(_ m: NoduleMeasurement, measuredFrom start: (x: Double, y: Double, radius: Double))
        -> (diameterMM: Double, sigmaMM: Double) {
        if smoothed == nil { smoothed = normalised.smoothedMeasurement() }
        let diameter = NoduleMeasurement.reportedDiameter(of: m, measuredFrom: start, in: normalised.measurement, smoothed: smoothed,
                                                          parameters: parameters, spacingMM: fineMM) * fineMM
        let sigma = SizingUncertainty.fitSigmaMM(longAxisMM: m.longAxis * fineMM, shortAxisMM: m.shortAxis * fineMM, sphereFit: m.sphereFit,
                                                 openRays: m.openRayFraction, diameterMM: diameter)
        return (diameter, sigma)
    }
}
