import ExamSeries
import NoduleDetection
import NoduleStore
import ScaleSpace
import SerialTracking

/// An exam's picture, recomputed from the stored file for review: the normalised image
/// (nodules bright, 0–1 between the body's percentiles) and the lung field.
public struct ExamImage: Sendable {
    public var normalised: NormalisedRadiograph
    public var lungs: LungField

    /// Bilinear gray value (0–1 clamped) at a point in mm from the image's top-left corner; nil outside.
    public func gray(xMM: Double, yMM: Double) -> Float? {
        let image = normalised.measurement, s = normalised.measurementSpacingMM
        let px = xMM / s - 0.5, py = yMM / s - 0.5
        guard px >= 0, py >= 0, px <= Double(image.width - 1), py <= Double(image.height - 1) else { return nil }
        let x0 = min(Int(px), max(0, image.width - 2)), y0 = min(Int(py), max(0, image.height - 2))
        let x1 = min(x0 + 1, image.width - 1), y1 = min(y0 + 1, image.height - 1)
        let tx = Float(px - Double(x0)), ty = Float(py - Double(y0))
        let top = image[x0, y0] * (1 - tx) + image[x1, y0] * tx
        let bottom = image[x0, y1] * (1 - tx) + image[x1, y1] * tx
        return min(max(top * (1 - ty) + bottom * ty, 0), 1)
    }
}

/// One exam as the report shows it.
public struct ExamReview: Sendable {
    public var examID: String
    public var studyDate: CalendarDate
    public var path: String
    /// Input image size, px.
    public var width: Int
    public var height: Int
    /// Row and column spacing used for mm figures, mm/px (the pipeline's assumed spacing when unknown).
    public var spacingMM: (row: Double, column: Double)
    public var spacingKnown: Bool
    public var spacingSource: String
    /// Every stored candidate, highest score first (input px).
    public var candidates: [NoduleCandidate]
    /// Indices into ``candidates`` of those given to the tracker.
    public var selected: [Int]
    /// The tracker's input for each of ``selected`` (same order), mm from the image's top-left corner.
    public var nodules: [MeasuredNodule]
    /// nil when the image could not be used (see ``imageProblem``).
    public var image: ExamImage?
    public var imageProblem: String?
    /// nil for the reference exam (the first whose image loaded).
    public var registration: RegistrationResult?
    /// The stored detection record's warnings for this image.
    public var detectionWarnings: [String] = []
    /// Read at an assumed spacing and registered: how the diameters in ``nodules`` were brought to the
    /// patient's common scale (nil: they are in this exam's own mm).
    public var diameterScale: TrackInputBuilder.DiameterScale? = nil

    /// A point in mm (this exam's frame) as input px.
    func pixel(xMM: Double, yMM: Double) -> (x: Double, y: Double) {
        (xMM / spacingMM.column - 0.5, yMM / spacingMM.row - 0.5)
    }
}

/// Everything the report shows for one patient.
public struct PatientReview: Sendable {
    public var patient: PatientKey
    /// In date order; the first is the reference exam.
    public var exams: [ExamReview]
    public var tracks: PatientTracks
    /// Patient-level caveats (skipped studies, extra images).
    public var notes: [String]
    public var selection: NoduleSelection
    public var pipeline: PipelineStamp

    public init(patient: PatientKey, exams: [ExamReview], tracks: PatientTracks, notes: [String], selection: NoduleSelection, pipeline: PipelineStamp) {
        self.patient = patient
        self.exams = exams
        self.tracks = tracks
        self.notes = notes
        self.selection = selection
        self.pipeline = pipeline
    }

    /// The review of one patient whose tracker input `builder` made (`input.failure` must be nil) and
    /// `tracks` the tracker's output for exactly `input.exams`. Pictures need `builder.keepsImages`.
    public init(_ input: TrackInputBuilder.PatientInput, tracks: PatientTracks, builder: TrackInputBuilder) {
        let exams = zip(input.exams, input.sources).map { exam, source -> ExamReview in
            let stored = source.stored
            let image = source.normalised.flatMap { n in source.lungs.map { ExamImage(normalised: n, lungs: $0) } }
            let inUse = source.spacing  // as the builder placed the exam
            return ExamReview(examID: exam.examID, studyDate: exam.studyDate, path: stored.path, width: stored.width, height: stored.height,
                              spacingMM: (inUse.rowMM, inUse.columnMM),
                              spacingKnown: !inUse.isAssumed, spacingSource: stored.spacingSource,
                              candidates: stored.detections, selected: source.selected, nodules: exam.nodules, image: image,
                              imageProblem: source.problem.map { "\($0); no picture is shown and the exam is linked unregistered" },
                              registration: exam.registration, detectionWarnings: stored.warnings,
                              diameterScale: source.diameterScale)
        }
        self.init(patient: input.key, exams: exams, tracks: tracks, notes: input.notes, selection: builder.selection,
                  pipeline: builder.pipelineStamp)
    }

    /// How nodules were chosen from the stored candidates, for the page.
    var selectionRule: String {
        "the \(selection.top) highest-scoring candidates per exam"
            + (selection.minimumScore > 0 ? " with detection score ≥ \(Report.number(selection.minimumScore, decimals: 2))" : "")
    }

    func exam(_ id: String) -> ExamReview? { exams.first { $0.examID == id } }

    /// Shortest positive VDT among the tracks (days), nil when none is stated.
    public var shortestDoublingTimeDays: Double? {
        tracks.tracks.compactMap { $0.growth?.doublingTimeDays }.filter { $0 > 0 }.min()
    }

    /// The soonest follow-up: a referral counts as due on the decision date (the latest exam).
    public var soonestFollowUp: CalendarDate? {
        let decision = tracks.exams.last?.studyDate
        return tracks.tracks.compactMap { t -> CalendarDate? in
            guard let f = t.followUp else { return nil }
            switch f.action {
            case .followUp: return f.nextFollowUpDate
            case .refer: return decision
            case .none: return nil
            }
        }.min()
    }

    /// The review without its exams' pictures (normalised images and lung fields): what ordering and the
    /// index need, a few kilobytes instead of megabytes per exam.
    public var withoutPictures: PatientReview {
        var copy = self
        for i in copy.exams.indices { copy.exams[i].image = nil }
        return copy
    }

    /// Index order: shortest VDT first (patients without a stated VDT after), then soonest
    /// follow-up (none last), then issuer and patient ID.
    public static func urgencyOrder(_ a: PatientReview, _ b: PatientReview) -> Bool {
        let va = a.shortestDoublingTimeDays ?? .infinity, vb = b.shortestDoublingTimeDays ?? .infinity
        if va != vb { return va < vb }
        let fa = a.soonestFollowUp?.daysSinceEpoch ?? Int.max, fb = b.soonestFollowUp?.daysSinceEpoch ?? Int.max
        if fa != fb { return fa < fb }
        return a.patient < b.patient
    }
}
