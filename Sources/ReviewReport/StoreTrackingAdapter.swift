import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO
import ScaleSpace
import SerialTracking

// STOP-GAP ADAPTER (issue 9). `nodules track` (branch `track-cli`) owns the shared glue from
// stored detections to `ExamMeasurements` (registration from images, mm conversion, nodule
// selection). This file is the report's own small version of it, kept in one place so that
// it can be replaced by the shared one at merge time: everything else in `ReviewReport`
// consumes only `PatientReview`.

/// Turns one patient's stored detections into serial-tracking input and runs the tracker.
///
/// - Exams: one per stored study with a date (studies of unknown date cannot be placed on
///   a time axis and are reported as skipped). When a study holds several images, the first
///   by path is used and the others are noted.
/// - Nodules: stored candidates with score ≥ ``minimumScore``, at most ``maximumPerExam`` per exam. Positions become mm from the
///   image's top-left corner: x = (column + ½)·column spacing, y = (row + ½)·row spacing.
///   When the pixel spacing is unknown, the pipeline's assumed spacing stands in and every
///   figure of that exam is flagged.
/// - Registration: each exam's normalised image (nodules bright) and lung field are
///   recomputed from the stored path with the stored spacing, brought to a common spacing,
///   and registered to the first exam with ``ExamRegistration``. An exam whose image cannot
///   be read, or has changed since it was analysed (SHA-256), gets an unreliable registration,
///   so the tracker links it unregistered and says so.
public struct StoreTrackingAdapter: Sendable {
    public var pipeline: PipelineDefinition
    public var minimumScore: Double
    /// At most this many candidates per exam (highest scores first); nil for no limit.
    public var maximumPerExam: Int?
    public var tracker: SerialTracker
    public var registration: ExamRegistration
    public var decodeOptions: DecodeOptions

    public init(pipeline: PipelineDefinition, minimumScore: Double = 0.5, maximumPerExam: Int? = nil, policy: FollowUpPolicy?,
                registration: ExamRegistration = ExamRegistration(), decodeOptions: DecodeOptions = DecodeOptions()) {
        self.pipeline = pipeline
        self.minimumScore = minimumScore
        self.maximumPerExam = maximumPerExam
        self.tracker = SerialTracker(policy: policy)
        self.registration = registration
        self.decodeOptions = decodeOptions
    }

    /// Every patient of the store analysed with this adapter's pipeline, by issuer then ID.
    public func histories(_ store: NoduleStore) throws -> [PatientHistory] {
        try store.detectionsByPatient(pipelineDigest: pipeline.stamp.digest)
    }

    /// Reads the images, registers, selects nodules and tracks one patient.
    public func review(_ history: PatientHistory) -> PatientReview {
        let key = PatientKey(issuer: history.issuer ?? "", patientID: history.patientID)
        var notes: [String] = []
        var exams: [ExamReview] = []
        for study in history.studies {
            guard let date = study.date.flatMap(CalendarDate.init) else {
                notes.append("study of unknown date skipped (\(study.images.map(\.path).joined(separator: ", "))): it cannot be placed on the time axis")
                continue
            }
            guard let image = study.images.first else { continue }
            if study.images.count > 1 {
                notes.append("\(date): \(study.images.count) images in the study; the report uses \(image.path)")
            }
            exams.append(prepare(image, examID: date.description, date: date))
        }
        // Registration to the first exam (the tracker's reference: earliest date).
        var measurements: [ExamMeasurements] = []
        for (i, exam) in exams.enumerated() {
            var result: RegistrationResult?
            if i > 0 {
                if let reference = exams[0].image, let moving = exam.image {
                    result = Self.register(moving, to: reference, with: registration)
                } else {
                    let why = exams[0].image == nil ? "the reference exam's image is unavailable" : "this exam's image is unavailable"
                    result = RegistrationResult(transform: .identity, quality: 0, overlap: 0, issues: [.insufficientImage(why)])
                }
                exams[i].registration = result
            }
            measurements.append(ExamMeasurements(examID: exam.examID, studyDate: exam.studyDate,
                                                 pixelSpacingMM: exam.spacingKnown ? (exam.spacingMM.row + exam.spacingMM.column) / 2 : nil,
                                                 nodules: exam.selected.map { exam.measured($0) }, registration: result))
        }
        let tracks = tracker.track(patient: key, exams: measurements)
        return PatientReview(patient: key, exams: exams, tracks: tracks, notes: notes, minimumScore: minimumScore, maximumPerExam: maximumPerExam, pipeline: pipeline.stamp)
    }

    func prepare(_ image: ImageDetections, examID: String, date: CalendarDate) -> ExamReview {
        let known = image.spacing
        let assumed = pipeline.normalisation.assumedSpacingMM
        let spacing = known.map { (row: $0.rowMM, column: $0.columnMM) } ?? (row: assumed, column: assumed)
        var exam = ExamReview(examID: examID, studyDate: date, path: image.path, width: image.width, height: image.height,
                              spacingMM: spacing, spacingKnown: known != nil, spacingSource: image.spacingSource,
                              candidates: image.detections,
                              selected: Array(image.detections.indices.filter { image.detections[$0].score >= minimumScore }
                                  .sorted { image.detections[$0].score > image.detections[$1].score }
                                  .prefix(maximumPerExam ?? Int.max)))
        var options = decodeOptions
        if let known { options.spacingOverride = PixelSpacing(row: known.rowMM, column: known.columnMM, source: .commandLine) }
        do {
            let radiograph = try RadiographReader(options: options).read(contentsOf: image.path)
            if let sha = radiograph.source.sha256, sha != image.sha256 {
                exam.imageProblem = "the file at \(image.path) has changed since it was analysed (SHA-256 differs); no image is shown and the exam is not registered"
                return exam
            }
            guard radiograph.width == image.width, radiograph.height == image.height else {
                exam.imageProblem = "the file at \(image.path) has other dimensions than when it was analysed"
                return exam
            }
            let normalised = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation,
                                                  measureSpacingMM: pipeline.measurement.measureSpacingMM)
            let lungs = LungField(working: normalised.working, workingSpacingMM: normalised.workingSpacingMM,
                                  parameters: pipeline.lungField)
            exam.image = ExamImage(normalised: normalised, lungs: lungs)
        } catch {
            exam.imageProblem = "image not readable (\(error)); no picture is shown and the exam is not registered"
        }
        return exam
    }

    /// Registers `moving` to `reference` on their normalised measurement images at a common spacing.
    static func register(_ moving: ExamImage, to reference: ExamImage, with registration: ExamRegistration) -> RegistrationResult {
        let spacing = max(moving.normalised.measurementSpacingMM, reference.normalised.measurementSpacingMM)
        func prepared(_ e: ExamImage) -> (FloatImage, FloatImage) {
            let image = Resampling.toSpacing(e.normalised.measurement, spacing: e.normalised.measurementSpacingMM, targetSpacing: spacing)
            return (image, e.lungMask(width: image.width, height: image.height))
        }
        let (m, mm) = prepared(moving), (r, rm) = prepared(reference)
        return registration.register(exam: m, examMask: mm, reference: r, referenceMask: rm, spacingMM: spacing)
    }
}
