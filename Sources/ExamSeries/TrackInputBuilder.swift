import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO
import ScaleSpace
import SerialTracking

/// One image prepared for registration: the normalised working image resampled to
/// the patient's common spacing, and its lung mask on the same grid.
struct RegistrationImage {
    var image: FloatImage
    var mask: FloatImage
    /// Spacing the image was made at (mm/px, isotropic up to rounding of the size).
    var spacingMM: Double
}

/// Builds the tracker's input from the store: one `ExamMeasurements` per stored
/// image of a dated study, with nodules in mm and a registration to the patient's
/// reference exam computed from the images. `nodules track` and `nodules report`
/// both take their tracks from this, so they agree.
///
/// - Exams: every stored image of a dated study, exam ID = the image's SHA-256, in
///   (study date, exam ID) order; undated images and repeated content are left out
///   with a note.
/// - Nodules: ``selection`` of the stored candidates (with corroboration and re-measurement
///   across the patient's registered exams); positions in mm from the image's top-left
///   corner, x = (column + ½)·column spacing, y = (row + ½)·row spacing.
///   Unknown spacing (or one not used, ``PipelineDefinition/Normalisation/spacingInUse(statedRowMM:statedColumnMM:width:height:)``):
///   the pipeline's assumed spacing stands in, diameters get the tracker's default uncertainty,
///   and on an exam registered to the reference they are taken at the reference's scale.
/// - Registration: each image is read again (stored path, then ``searchFolders``),
///   checked against the stored SHA-256, normalised as detection does, its lung field
///   segmented, brought to one common spacing per patient (the coarsest working
///   spacing; never upsampled) and registered to the reference exam (the first whose
///   image loads) with ``registration``. An image that cannot be used gets an
///   unreliable registration, so the tracker links it unregistered and says so.
public struct TrackInputBuilder: Sendable {
    /// The definition the detections were made with (normalisation, lung field, measurement spacing).
    public let pipeline: PipelineDefinition
    /// ``pipeline``'s stamp, computed once (its digest encodes the whole definition).
    public let pipelineStamp: PipelineStamp
    public var selection: NoduleSelection
    public var decode: DecodeOptions
    public var registration: ExamRegistration
    /// Folders tried, in order, for a stored relative path that does not resolve from the working directory.
    public var searchFolders: [String]
    /// Keep each exam's normalised image and lung field in ``ExamSource`` (for pictures); off, they are dropped after registration.
    public var keepsImages: Bool

    public init(pipeline: PipelineDefinition, selection: NoduleSelection = NoduleSelection(), decode: DecodeOptions = DecodeOptions(),
                registration: ExamRegistration = ExamRegistration(), searchFolders: [String] = [], keepsImages: Bool = false) {
        self.pipeline = pipeline
        pipelineStamp = pipeline.stamp
        self.selection = selection
        self.decode = decode
        self.registration = registration
        self.searchFolders = searchFolders
        self.keepsImages = keepsImages
    }

    /// What happened to one patient.
    public struct PatientInput: Sendable {
        public var key: PatientKey
        /// The tracker's input, in (study date, exam ID) order.
        public var exams: [ExamMeasurements]
        /// Where each of ``exams`` came from (same order).
        public var sources: [ExamSource]
        /// Patient-level remarks: undated images, several images in a study, repeated content.
        public var notes: [String]
        /// Every remark for standard error: ``notes``, then per exam an unusable image and an unknown spacing.
        public var warnings: [String]
        /// Set when the patient cannot be tracked at all.
        public var failure: String?
    }

    /// The stored image behind one exam.
    public struct ExamSource: Sendable {
        public var stored: ImageDetections
        /// The spacing the exam was placed at (``PipelineDefinition/Normalisation/spacingInUse(statedRowMM:statedColumnMM:width:height:)``
        /// of `stored`): its stated one, or the assumed one with sizes in px only.
        public var spacing: PipelineDefinition.SpacingInUse
        /// Indices into `stored.detections` of the nodules given to the tracker, in the order of `ExamMeasurements.nodules`.
        public var selected: [Int]
        /// The subset of ``selected`` below this exam's own cut, followed because another exam corroborates them
        /// (see ``NoduleSelection/corroborates``).
        public var corroborated: [Int]
        /// How many nodules were measured again on this exam at another exam's nodule (see
        /// ``TrackInputBuilder/remeasure(exams:placed:chosen:loaded:)``); they follow the
        /// ``selected`` ones in `ExamMeasurements.nodules` and have no stored detection.
        public var remeasured: Int
        /// Why the image could not be used for registration (the exam is then linked unregistered).
        public var problem: String?
        /// The normalised image and lung field, when ``TrackInputBuilder/keepsImages`` and the image loaded.
        public var normalised: NormalisedRadiograph?
        public var lungs: LungField?
        /// For an exam read at an assumed spacing and registered: how its diameters were brought to
        /// the patient's common scale (nil when they are in the exam's own mm).
        public var diameterScale: DiameterScale?
    }

    /// The factor an assumed-spacing exam's diameters are multiplied by (its registration's scale,
    /// times the reference's factor to a registered exam with a stated spacing, if any), so the
    /// assumption's error cancels in the growth between exams.
    public struct DiameterScale: Sendable, Equatable {
        public var factor: Double
        /// `true`: the scale of a registered exam that states its spacing; `false`: the reference exam's.
        public var toStatedSpacing: Bool

        public init(factor: Double, toStatedSpacing: Bool) {
            self.factor = factor
            self.toStatedSpacing = toStatedSpacing
        }

        /// "diameters are taken at the reference exam's scale (× 0.867, through the registration)".
        public var description: String {
            "diameters are taken at the \(toStatedSpacing ? "stated spacing's" : "reference exam's") scale "
                + "(× \(NoduleDetector.rounded(factor, 3)), through the registration)"
        }
    }

    /// One exam before registration.
    struct Exam {
        var image: ImageDetections
        var date: CalendarDate
        var examID: String
    }

    public func build(_ history: PatientHistory) -> PatientInput {
        let key = PatientKey(issuer: history.issuer ?? "", patientID: history.patientID)
        var notes: [String] = []
        var exams: [Exam] = []
        var seen = Set<String>()
        for study in history.studies {
            guard let text = study.date, let date = CalendarDate(text) else {
                for image in study.images { notes.append("\(image.path): no study date; not tracked") }
                continue
            }
            for image in study.images {
                guard seen.insert(image.sha256).inserted else {
                    notes.append("\(image.path): same content as another image of this patient; not tracked twice")
                    continue
                }
                exams.append(Exam(image: image, date: date, examID: image.sha256))
            }
        }
        guard !exams.isEmpty else {
            return PatientInput(key: key, exams: [], sources: [], notes: notes, warnings: notes, failure: "no exam with a study date")
        }
        // The tracker's order: (study date, exam ID); the reference is the first exam whose image loads.
        exams.sort { ($0.date, $0.examID) < ($1.date, $1.examID) }

        var loaded: [Loaded?] = []
        var problems: [String?] = []
        var frontal: [Exam] = []
        for exam in exams {
            switch loadForRegistration(exam.image) {
            case let .success(r): frontal.append(exam); loaded.append(r); problems.append(nil)
            case let .failure(message): frontal.append(exam); loaded.append(nil); problems.append(message)
            case let .notFrontal(reason): notes.append("\(exam.image.path): \(reason); left out of tracking")
            }
        }
        exams = frontal
        guard !exams.isEmpty else {
            return PatientInput(key: key, exams: [], sources: [], notes: notes, warnings: notes,
                                failure: "no frontal chest radiograph among the dated images")
        }
        for (date, count) in Dictionary(grouping: exams, by: \.date).mapValues(\.count).sorted(by: { $0.key < $1.key }) where count > 1 {
            notes.append("\(history.patientID) \(date): \(count) images; each is tracked as its own exam")
        }
        // One common spacing: the coarsest working spacing among the patient's exams (never upsample).
        let common = loaded.compactMap { $0.map { max($0.effX, $0.effY) } }.max() ?? pipeline.normalisation.workingSpacingMM
        let prepared = loaded.map { $0.map { Self.resample($0.image, mask: $0.mask, effX: $0.effX, effY: $0.effY, to: common) } }
        let referenceIndex = prepared.firstIndex { $0 != nil }

        var warnings = notes
        var results: [RegistrationResult?] = []
        for (i, exam) in exams.enumerated() {
            if let problem = problems[i] {
                warnings.append("\(exam.image.path): \(problem); tracked without registration (flagged)")
                results.append(RegistrationResult(transform: .identity, quality: 0, overlap: 0,
                                                  issues: [.insufficientImage("image not usable for registration: \(problem)")]))
            } else if i == referenceIndex {
                results.append(nil)
            } else if let referenceIndex, let e = prepared[i], let r = prepared[referenceIndex] {
                results.append(registration.register(exam: e.image, examMask: e.mask, reference: r.image, referenceMask: r.mask,
                                                     spacingMM: common))
            } else {
                results.append(nil)  // unreachable: a loaded exam implies a reference
            }
        }
        // Per exam: its spacing, and the map from its mm to the reference's when registration is usable.
        let inUse = exams.map { exam in
            pipeline.normalisation.spacingInUse(statedRowMM: exam.image.spacing?.rowMM, statedColumnMM: exam.image.spacing?.columnMM,
                                                width: exam.image.width, height: exam.image.height)
        }
        let spacings = inUse.map { (column: $0.columnMM, row: $0.rowMM) }
        let toReference: [SimilarityTransform?] = results.enumerated().map { i, result in
            if let result { return result.isReliable ? result.transform : nil }
            return i == referenceIndex ? .identity : nil
        }
        let placed = exams.indices.map { i in
            NoduleSelection.ExamCandidates(
                candidates: exams[i].image.detections,
                columnSpacingMM: spacings[i].column, rowSpacingMM: spacings[i].row, toReference: toReference[i])
        }
        let chosen = selection.chooseAcrossExams(placed)

        let remeasured = selection.remeasures
            ? remeasure(exams: exams, placed: placed, chosen: chosen, loaded: loaded)
            : exams.map { _ in [MeasuredNodule]() }
        for (i, exam) in exams.enumerated() where !remeasured[i].isEmpty {
            let note = "\(exam.image.path): \(remeasured[i].count) nodule\(remeasured[i].count == 1 ? "" : "s") measured again "
                + "at the registered place of another exam's nodule"
            notes.append(note)
            warnings.append(note)
        }

        // An exam read at an assumed spacing and registered has its diameters taken at the scale
        // of the patient's stated spacing: through the registration, the reference's mm, and when
        // the reference's own spacing is assumed, those of a registered exam with a stated one
        // (reference mm ÷ its scale); with none, the reference's assumed mm. So the assumption's
        // error cancels in the growth between exams. Unregistered, they stay in the exam's own mm.
        let statedAnchor = exams.indices.first { !inUse[$0].isAssumed && toReference[$0] != nil }
        let referenceToStated = referenceIndex.map { inUse[$0].isAssumed } == true
            ? statedAnchor.flatMap { toReference[$0].map { 1 / $0.scale } } ?? 1 : 1
        var out: [ExamMeasurements] = []
        var sources: [ExamSource] = []
        var startSizes: [[Double?]] = []  // sphere-fit sizes (mm) of the exam's own detections
        for (i, exam) in exams.enumerated() {
            let spacing = inUse[i].isAssumed ? nil : exam.image.spacing
            let lengthScale = spacing == nil ? toReference[i].map { $0.scale * referenceToStated } ?? 1 : 1
            let diameterScale = lengthScale == 1 ? nil : DiameterScale(factor: lengthScale, toStatedSpacing: referenceToStated != 1)
            if spacing == nil {
                let why = inUse[i].rejectedExtentMM.map { "pixel spacing not used (it makes the image span "
                    + "\(Int($0[0].rounded())) × \(Int($0[1].rounded())) mm)" } ?? "pixel spacing unknown"
                let scaled = diameterScale.map { ", " + $0.description } ?? ""
                warnings.append("\(exam.image.path): \(why); positions use the pipeline's assumed "
                                + "\(pipeline.normalisation.assumedSpacingDescription(width: exam.image.width, height: exam.image.height))"
                                + "\(scaled) and diameters carry the default 1 mm uncertainty")
            }
            let chosenNodules = chosen[i].ranks.map { rank -> MeasuredNodule in
                let c = exam.image.detections[rank]
                let (x, y, diameter) = placed[i].inExam(rank)
                return MeasuredNodule(
                    xMM: x, yMM: y, diameterMM: diameter, diameterUncertaintyMM: SizingUncertainty.fitSigmaMM(c.features, diameterMM: diameter),
                    longAxisMM: c.features.longAxisMM, sourceReference: exam.image.path, sizing: .detection,
                    detectionScore: c.score)
            }
            let measureSpacing = spacing.map { max(pipeline.measurement.measureSpacingMM, $0.rowMM, $0.columnMM) }
            // The exam's own nodules, then those measured again here (in its mm too). Read at an
            // assumed spacing, all take the exam's scale and the default uncertainty.
            var nodules = spacing != nil ? chosenNodules + remeasured[i] : (chosenNodules + remeasured[i]).map { nodule in
                var scaled = nodule
                scaled.diameterMM *= lengthScale
                scaled.diameterUncertaintyMM = nil
                scaled.longAxisMM = nil
                return scaled
            }
            // Every position also in px of the exam's image (the inverse of `inExam`, at the spacing in use).
            for k in nodules.indices {
                nodules[k].xPx = nodules[k].xMM / placed[i].columnSpacingMM - 0.5
                nodules[k].yPx = nodules[k].yMM / placed[i].rowSpacingMM - 0.5
            }
            out.append(ExamMeasurements(examID: exam.examID, studyDate: exam.date, pixelSpacingMM: measureSpacing,
                                        nodules: nodules, registration: results[i]))
            startSizes.append(chosen[i].ranks.map { Optional(exam.image.detections[$0].features.sphereFitDiameterMM) }
                              + remeasured[i].map { _ in nil })
            sources.append(ExamSource(stored: exam.image, spacing: inUse[i], selected: chosen[i].ranks, corroborated: chosen[i].corroborated,
                                      remeasured: remeasured[i].count, problem: problems[i],
                                      normalised: keepsImages ? loaded[i]?.normalised : nil, lungs: loaded[i]?.lungs,
                                      diameterScale: diameterScale))
        }
        if selection.remeasuresTracks {
            let stated = exams.indices.map { inUse[$0].isAssumed ? nil : spacings[$0] }
            let (resized, counts) = remeasureTracks(key: key, exams: out, startSizesMM: startSizes, toReference: toReference,
                                                    spacings: stated, loaded: loaded)
            out = resized
            for (i, exam) in exams.enumerated() where counts[i] > 0 {
                let note = "\(exam.image.path): \(counts[i]) tracked nodule\(counts[i] == 1 ? "" : "s") sized again from the track's common start size"
                notes.append(note)
                warnings.append(note)
            }
        }
        return PatientInput(key: key, exams: out, sources: sources, notes: notes, warnings: warnings, failure: nil)
    }

    /// Diameter ratio (seed over found) beyond which a re-measurement is repeated from the found size.
    static let remeasureAgainBelow = 1.25

    /// Measures each exam's own chosen nodules (the cut, not corroborated ones) again on every
    /// other exam of the patient where nothing is followed at that registered place, the way
    /// a reader looks for a known nodule on the prior.
    ///
    /// Rule: both exams registered reliably (each in the mm of the spacing it is read at, stated
    /// or assumed: the registration maps one to the other); the nodule's centre is mapped
    /// through the registrations into the other exam, and if no followed nodule lies within
    /// max(``NoduleSelection/corroborationGateMM``, ½·D), the detector's own sizing
    /// (``NoduleMeasurement/measureClearingBackground(_:smoothed:x:y:radius:parameters:)``,
    /// on the exam's normalised measurement image) runs there with the expected radius. The
    /// result is kept only when it is nodule-like and the same object, centre within the gate
    /// and ``RemeasurementCheck`` passed: as bright as the chosen nodule or, when the nodule has
    /// grown or shrunk in between, of the same density (contrast per mm), diameter within
    /// ``NoduleSelection/remeasureDiameterRatio``. So a nodule that is absent on an exam (new,
    /// resolved) is not invented there, and one the detector ranked too low is, also on the
    /// prior of a fast-growing nodule.
    ///
    /// The search radius and the diameter check use the seed's sphere-fit size (the mean of its
    /// long and short axis, ``NoduleFeatures/sphereFitDiameterMM``), the quantity the measurement
    /// fits, against the re-measured sphere-fit size; the added nodule's diameter is the one the
    /// definition reports. With `diameter_method: edge` the reported size is larger by the edge
    /// offset and varies differently between exams; starting from it moved the fit and lost 4 of
    /// 73 linked identities on a 60-patient serial set (README, `nodules track`, "Re-measurement").
    ///
    /// A nodule measured more than ``remeasureAgainBelow`` × smaller than the seed (the prior of a
    /// fast grower) is measured a second time, from its own centre and size: started from the
    /// seed's larger radius, the measurement takes its background and noise from an annulus far
    /// out in the anatomy, and its contrast-to-noise is not comparable with the seed's (on the
    /// eight serial sets: 210 linked with the second pass against 206 without; also doing it for
    /// a larger nodule gave 209 and two fewer right statuses).
    /// Returns, per exam, the added nodules in exam mm.
    func remeasure(exams: [Exam], placed: [NoduleSelection.ExamCandidates], chosen: [(ranks: [Int], corroborated: [Int])],
                   loaded: [Loaded?]) -> [[MeasuredNodule]] {
        var added = exams.map { _ in [MeasuredNodule]() }
        for b in exams.indices {
            guard let toReferenceB = placed[b].toReference,
                  let normalised = loaded[b]?.normalised else { continue }
            let fromReference = toReferenceB.inverse
            var image = ExamMeasuringImage(normalised, columnSpacingMM: placed[b].columnSpacingMM,
                                           rowSpacingMM: placed[b].rowSpacingMM, parameters: pipeline.measurement)
            // Places followed in exam b, exam b mm: its chosen detections, then what is added here.
            var followed = chosen[b].ranks.map { placed[b].inExam($0) }.map { (x: $0.x, y: $0.y) }
            for a in exams.indices where a != b {
                let own = Set(chosen[a].ranks).subtracting(chosen[a].corroborated)
                for rank in own.sorted() {
                    let seed = exams[a].image.detections[rank]
                    guard seed.diameterPx > 0, seed.features.sphereFitDiameterMM > 0, let inReference = placed[a].placed(rank),
                          let toReferenceA = placed[a].toReference else { continue }
                    let expected = fromReference.apply(xMM: inReference.x, yMM: inReference.y)
                    // The seed's sphere-fit size in exam b's mm (see the doc comment).
                    let diameter = seed.features.sphereFitDiameterMM * toReferenceA.scale / toReferenceB.scale
                    let gate = selection.gateMM(diameterMM: diameter)
                    func near(_ p: (x: Double, y: Double)) -> Bool {
                        (p.x - expected.xMM) * (p.x - expected.xMM) + (p.y - expected.yMM) * (p.y - expected.yMM) <= gate * gate
                    }
                    guard !followed.contains(where: near) else { continue }
                    var start = image.start(xMM: expected.xMM, yMM: expected.yMM, diameterMM: diameter)
                    guard var m = image.measure(from: start) else { continue }
                    // Smaller here (a prior of a grower): measured again from its own size, so the
                    // background annulus (1.5–2.5 × the start radius) lies next to it, not far out.
                    if m.diameter * image.fineMM < diameter / Self.remeasureAgainBelow {
                        let fromOwnSize = (x: m.x, y: m.y, radius: m.diameter / 2)
                        if let again = image.measure(from: fromOwnSize) {
                            m = again
                            start = fromOwnSize
                        }
                    }
                    let (x, y) = image.positionMM(of: m)
                    guard near((x, y)), RemeasurementCheck.accepts(
                        seed: (diameter, seed.features.contrast, seed.features.contrastToNoise),
                        measured: (m.diameter * image.fineMM, m.contrast, m.contrastToNoise, m.sphereFit, m.fitResidual),
                        diameterRatio: selection.remeasureDiameterRatio) else { continue }
                    // Sized as the detector sizes the nodules it reports (`sizing_refit_start`), and only once
                    // accepted: the sizing may measure again, and a refused measurement needs no size.
                    let sized = image.size(m, measuredFrom: start)
                    added[b].append(MeasuredNodule(xMM: x, yMM: y, diameterMM: sized.diameterMM, diameterUncertaintyMM: sized.sigmaMM,
                                                   longAxisMM: m.longAxis * image.fineMM, sourceReference: exams[b].image.path,
                                                   sizing: .measuredAgain))
                    followed.append((x, y))
                }
            }
        }
        return added
    }

    /// The path to open for a stored path.
    func resolve(_ path: String) -> String {
        if path.hasPrefix("/") || FileManager.default.fileExists(atPath: path) { return path }
        for folder in searchFolders where FileManager.default.fileExists(atPath: folder + "/" + path) {
            return folder + "/" + path
        }
        return path
    }

    /// An image read again for registration: the working image, its lung mask on the same
    /// grid, the effective spacings (mm/px) of that grid, and what they were made from: the
    /// normalised radiograph when ``keepsImages`` or a re-measurement needs it, the lung field
    /// only when ``keepsImages``.
    struct Loaded {
        var image: FloatImage
        var mask: FloatImage
        var effX: Double, effY: Double
        var normalised: NormalisedRadiograph?
        var lungs: LungField?
    }

    enum LoadResult {
        case success(Loaded)
        case failure(String)
        /// Not a frontal chest radiograph by its own DICOM tags (``DICOMAttributes/acquisitionNotes``):
        /// a lateral view or another modality in the study is left out of tracking, not linked.
        case notFrontal(String)
    }

    /// Reads the image, checks it is the content that was analysed, normalises it as
    /// detection does and segments the lung field on the working image.
    func loadForRegistration(_ stored: ImageDetections) -> LoadResult {
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
        // A lateral view (rare) is known from the header, before the decode every other exam needs.
        if let acquisition = RadiographReader.dicomAcquisition(of: bytes), !acquisition.notes.isEmpty {
            return .notFrontal(Self.notFrontalReason(acquisition))
        }
        var radiograph: Radiograph
        do { radiograph = try reader.decode(bytes, path: stored.path) } catch {
            return .failure("image not decodable (\(error))")
        }
        guard radiograph.width == stored.width, radiograph.height == stored.height else {
            return .failure("decoded size \(radiograph.width)×\(radiograph.height) differs from the stored \(stored.width)×\(stored.height)")
        }
        if let dicom = radiograph.dicom, !dicom.acquisitionNotes.isEmpty {  // tags the header walk did not reach
            return .notFrontal(Self.notFrontalReason(dicom.acquisition))
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
        return .success(Loaded(image: working, mask: mask, effX: effX, effY: effY,
                               normalised: keepsImages || selection.remeasures || selection.remeasuresTracks ? normalised : nil,
                               lungs: keepsImages ? lungs : nil))
    }

    static func notFrontalReason(_ acquisition: DICOMAcquisition) -> String {
        "not a frontal chest radiograph by its DICOM tags (Modality '\(acquisition.modality ?? "")', "
            + "View Position '\(acquisition.viewPosition ?? "")')"
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

/// Whether a re-measurement at a chosen nodule's registered place on another exam is the same
/// nodule (``TrackInputBuilder``'s re-measurement; the centre gate is checked there).
///
/// Kept when all hold:
/// - profile: projected-sphere correlation ≥ 0.8 and robust fit residual ≤ ``maximumResidual``
///   of the amplitude;
/// - size: diameters within `diameterRatio` of each other (``NoduleSelection/remeasureDiameterRatio``);
/// - brightness, either *as bright*: contrast and contrast-to-noise each ≥ ½ of the chosen
///   nodule's; or *the same density*, for a nodule that grew or shrank between the exams: a
///   projected sphere's peak contrast is its density × its diameter, so a prior at half the
///   size is half as bright. Then contrast per mm ≥ ``densityFraction`` of the chosen nodule's,
///   contrast-to-noise ≥ ½ of the chosen nodule's scaled by the diameter ratio (when smaller),
///   and contrast-to-noise ≥ ``minimumContrastToNoise`` whatever the sizes.
///
/// Measured on eight serial phantom sets from six generators (README, `nodules track`,
/// "Re-measurement"): with the same-density branch, the wider ratio and the second pass of a
/// smaller nodule, 210 of 575 identities are linked against 202 with the as-bright rule and a
/// ratio of 2 alone, 113 statuses are right against 110, and no more are wrong; the nodules
/// gained are mostly fast growers now measured on their prior.
enum RemeasurementCheck {
    /// Largest robust fit residual, as a fraction of the fitted amplitude.
    static let maximumResidual = 0.65
    /// Smallest contrast per mm, as a fraction of the chosen nodule's.
    static let densityFraction = 0.7
    /// Smallest contrast-to-noise for the same-density branch.
    static let minimumContrastToNoise = 1.5

    /// `seed`: the chosen nodule's sphere-fit diameter (mm, in the other exam's mm), contrast
    /// and contrast-to-noise; `measured`: the re-measurement's sphere-fit diameter (mm),
    /// contrast, contrast-to-noise, profile correlation and fit residual.
    static func accepts(seed: (diameterMM: Double, contrast: Double, contrastToNoise: Double),
                        measured m: (diameterMM: Double, contrast: Double, contrastToNoise: Double, sphereFit: Double, fitResidual: Double),
                        diameterRatio: Double) -> Bool {
        guard m.sphereFit >= 0.8, m.fitResidual <= maximumResidual, seed.diameterMM > 0, m.diameterMM > 0,
              max(m.diameterMM, seed.diameterMM) / min(m.diameterMM, seed.diameterMM) <= diameterRatio else { return false }
        let asBright = m.contrast >= 0.5 * seed.contrast && m.contrastToNoise >= 0.5 * seed.contrastToNoise
        let sameDensity = m.contrast / m.diameterMM >= densityFraction * seed.contrast / seed.diameterMM
            && m.contrastToNoise >= 0.5 * seed.contrastToNoise * min(1, m.diameterMM / seed.diameterMM)
            && m.contrastToNoise >= minimumContrastToNoise
        return asBright || sameDensity
    }
}
