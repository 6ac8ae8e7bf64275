import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO
import ScaleSpace
import SerialTracking

/// Which stored detections `nodules track` follows as nodules.
///
/// Rule: per exam (image), the candidates with score ≥ ``minimumScore``, highest
/// score first, at most ``top`` of them. Defaults: top 5, no score floor. The
/// score model's probabilities are not calibrated on radiographs (they are
/// 0.03–0.08 for every candidate on the serial phantoms), so a fixed-K cut is
/// the default and the floor is an option.
struct NoduleSelection: Sendable, Equatable {
    static let defaultTop = 5
    var top: Int = NoduleSelection.defaultTop
    var minimumScore: Double = 0

    /// `candidates` as stored: highest score first (rank order).
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
    static func fitSigmaMM(_ f: NoduleFeatures, diameterMM d: Double) -> Double {
        let shape = max(0, f.longAxisMM - f.shortAxisMM) / 12.0.squareRoot()
        let profile = d * (1 - min(max(f.sphereFit, 0), 1))
        let open = d * min(max(f.openRays, 0), 1) / 2
        return (shape * shape + profile * profile + open * open).squareRoot()
    }
}

/// One image prepared for registration: the normalised working image resampled to
/// the patient's common spacing, and its lung mask on the same grid.
struct RegistrationImage {
    var image: FloatImage
    var mask: FloatImage
    /// Spacing the image was made at (mm/px, isotropic up to rounding of the size).
    var spacingMM: Double
}

/// Builds the tracker's input from the store: one ``ExamMeasurements`` per stored
/// image of a dated study, with nodules in mm and a registration to the patient's
/// reference exam computed from the images.
struct TrackInputBuilder {
    var pipeline: PipelineDefinition
    var selection: NoduleSelection
    var decode: DecodeOptions
    var registration = ExamRegistration()
    /// Folders tried, in order, for a stored relative path that does not resolve from the working directory.
    var searchFolders: [String] = []

    /// What happened to one patient.
    struct PatientInput {
        var key: PatientKey
        var exams: [ExamMeasurements]
        /// Exam-level remarks for standard error (unreadable images, unknown spacing, skipped images).
        var warnings: [String]
        /// Set when the patient cannot be tracked at all.
        var failure: String?
    }

    /// One exam before registration.
    struct Exam {
        var image: ImageDetections
        var date: CalendarDate
        var examID: String
    }

    func build(_ history: PatientHistory) -> PatientInput {
        let key = PatientKey(issuer: history.issuer ?? "", patientID: history.patientID)
        var warnings: [String] = []
        var exams: [Exam] = []
        var seen = Set<String>()
        for study in history.studies {
            guard let text = study.date, let date = CalendarDate(text) else {
                for image in study.images { warnings.append("\(image.path): no study date; not tracked") }
                continue
            }
            if study.images.count > 1 {
                warnings.append("\(history.patientID) \(text): \(study.images.count) images; each is tracked as its own exam")
            }
            for image in study.images {
                guard seen.insert(image.sha256).inserted else {
                    warnings.append("\(image.path): same content as another image of this patient; not tracked twice")
                    continue
                }
                exams.append(Exam(image: image, date: date, examID: image.sha256))
            }
        }
        guard !exams.isEmpty else {
            return PatientInput(key: key, exams: [], warnings: warnings, failure: "no exam with a study date")
        }
        // The tracker's order: (study date, exam ID); the reference is the first exam whose image loads.
        exams.sort { ($0.date, $0.examID) < ($1.date, $1.examID) }

        var prepared: [RegistrationImage?] = []
        var problems: [String?] = []
        var raw: [(image: FloatImage, mask: FloatImage, effX: Double, effY: Double)?] = []
        for exam in exams {
            switch loadForRegistration(exam.image) {
            case let .success(r): raw.append(r); problems.append(nil)
            case let .failure(message): raw.append(nil); problems.append(message)
            }
        }
        // One common spacing: the coarsest working spacing among the patient's exams (never upsample).
        let common = raw.compactMap { $0.map { max($0.effX, $0.effY) } }.max() ?? pipeline.normalisation.workingSpacingMM
        for r in raw {
            prepared.append(r.map { Self.resample($0.image, mask: $0.mask, effX: $0.effX, effY: $0.effY, to: common) })
        }
        let referenceIndex = prepared.firstIndex { $0 != nil }

        var out: [ExamMeasurements] = []
        for (i, exam) in exams.enumerated() {
            let result: RegistrationResult?
            if let problem = problems[i] {
                warnings.append("\(exam.image.path): \(problem); tracked without registration (flagged)")
                result = RegistrationResult(transform: .identity, quality: 0, overlap: 0,
                                            issues: [.insufficientImage("image not usable for registration: \(problem)")])
            } else if i == referenceIndex {
                result = nil
            } else if let referenceIndex, let e = prepared[i], let r = prepared[referenceIndex] {
                result = registration.register(exam: e.image, examMask: e.mask, reference: r.image, referenceMask: r.mask,
                                               spacingMM: common)
            } else {
                result = nil  // unreachable: a loaded exam implies a reference
            }
            let spacing = exam.image.spacing
            if spacing == nil {
                warnings.append("\(exam.image.path): pixel spacing unknown; positions use the pipeline's assumed "
                                + "\(pipeline.normalisation.assumedSpacingMM) mm/px and diameters carry the default 1 mm uncertainty")
            }
            let column = spacing?.columnMM ?? pipeline.normalisation.assumedSpacingMM
            let row = spacing?.rowMM ?? pipeline.normalisation.assumedSpacingMM
            let nodules = selection.select(exam.image.detections).map { rank, c -> MeasuredNodule in
                let diameter = c.diameterMM ?? c.diameterPx * (column + row) / 2
                return MeasuredNodule(
                    xMM: (c.x + 0.5) * column, yMM: (c.y + 0.5) * row, diameterMM: diameter,
                    diameterUncertaintyMM: spacing == nil ? nil : SizingUncertainty.fitSigmaMM(c.features, diameterMM: diameter),
                    longAxisMM: spacing == nil ? nil : c.features.longAxisMM,
                    sourceReference: exam.image.path)
            }
            let measureSpacing = spacing.map { max(pipeline.measurement.measureSpacingMM, $0.rowMM, $0.columnMM) }
            out.append(ExamMeasurements(examID: exam.examID, studyDate: exam.date, pixelSpacingMM: measureSpacing,
                                        nodules: nodules, registration: result))
        }
        return PatientInput(key: key, exams: out, warnings: warnings, failure: nil)
    }

    /// The path to open for a stored path.
    func resolve(_ path: String) -> String {
        if path.hasPrefix("/") || FileManager.default.fileExists(atPath: path) { return path }
        for folder in searchFolders where FileManager.default.fileExists(atPath: folder + "/" + path) {
            return folder + "/" + path
        }
        return path
    }

    enum Loaded {
        case success((image: FloatImage, mask: FloatImage, effX: Double, effY: Double))
        case failure(String)
    }

    /// Reads the image, checks it is the content that was analysed, normalises it as
    /// detection does and segments the lung field on the working image.
    func loadForRegistration(_ stored: ImageDetections) -> Loaded {
        var options = decode
        options.computeDigest = false
        let reader = RadiographReader(options: options)
        let bytes: [UInt8]
        do { bytes = try reader.readBytes(contentsOf: resolve(stored.path)) } catch {
            return .failure("image not readable (\(error))")
        }
        guard RadiographReader.sha256(of: bytes) == stored.sha256 else {
            return .failure("image content changed since detection (SHA-256 differs)")
        }
        var radiograph: Radiograph
        do { radiograph = try reader.decode(bytes, path: stored.path) } catch {
            return .failure("image not decodable (\(error))")
        }
        guard radiograph.width == stored.width, radiograph.height == stored.height else {
            return .failure("decoded size \(radiograph.width)×\(radiograph.height) differs from the stored \(stored.width)×\(stored.height)")
        }
        // The spacing detection used (the store's, which includes any override), so mm agree.
        radiograph.pixelSpacing = stored.spacing.map { PixelSpacing(row: $0.rowMM, column: $0.columnMM, source: .commandLine) }
        let normalised = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation,
                                              measureSpacingMM: pipeline.measurement.measureSpacingMM)
        let lungs = LungField(working: normalised.working, workingSpacingMM: normalised.workingSpacingMM, parameters: pipeline.lungField)
        let working = normalised.working
        let widthMM = Double(normalised.inputWidth) * normalised.inputSpacingMM.column
        let heightMM = Double(normalised.inputHeight) * normalised.inputSpacingMM.row
        let effX = widthMM / Double(working.width), effY = heightMM / Double(working.height)
        let maskX = widthMM / Double(lungs.width), maskY = heightMM / Double(lungs.height)
        let mask = FloatImage(width: working.width, height: working.height) { x, y in
            let mx = (Double(x) + 0.5) * effX / maskX - 0.5, my = (Double(y) + 0.5) * effY / maskY - 0.5
            return lungs.contains(x: mx, y: my) ? 1 : 0
        }
        return .success((working, mask, effX, effY))
    }

    /// Area-averages image and mask to `spacing` (mask thresholded at ½ again).
    static func resample(_ image: FloatImage, mask: FloatImage, effX: Double, effY: Double, to spacing: Double) -> RegistrationImage {
        let fx = max(1, spacing / effX), fy = max(1, spacing / effY)
        guard fx > 1.0001 || fy > 1.0001 else { return RegistrationImage(image: image, mask: mask, spacingMM: spacing) }
        var m = Resampling.areaAverage(mask, factorX: fx, factorY: fy)
        m.withUnsafeMutableRows { row, _ in for i in row.indices { row[i] = row[i] >= 0.5 ? 1 : 0 } }
        return RegistrationImage(image: Resampling.areaAverage(image, factorX: fx, factorY: fy), mask: m, spacingMM: spacing)
    }
}
