import Foundation
import RadiographIO
import ScaleSpace
#if canImport(Glibc)
import Glibc
#endif

/// Detection as a pure function of (radiograph, pipeline definition), in stages:
/// normalise → lung field and scale-space maxima (``lungFieldAndMaxima(_:)``) → blobness filter,
/// pre-rank and NMS (``selectedBlobs(_:in:)``) → measure and score (``measuredCandidates(_:in:)``)
/// → the nodule map's scores, re-centred parts and proposals (``rescoredByMap(_:heatmap:grid:in:)``,
/// when the definition has a map) → the reported ones. Deterministic whatever `threads` is.
public struct NoduleDetector: Sendable {
    public let pipeline: PipelineDefinition
    /// The definition's name, version and digest, computed once (encoding and
    /// hashing the definition is not per-image work).
    public let stamp: PipelineStamp
    /// Dispatch workers for filtering and measurement (1 in a batch that
    /// already runs images in parallel).
    public var threads: Int

    public init(pipeline: PipelineDefinition, threads: Int = SeparableConvolution.defaultThreads) {
        self.pipeline = pipeline
        stamp = pipeline.stamp
        self.threads = max(1, threads)
        BLASThreadPolicy.apply()
    }

    /// σ ladder in working px covering the pipeline's diameter range (σ = D / (2·R/σ),
    /// R/σ of a projected sphere, see `BlobCandidate.radius`),
    /// widened by one step at each end so the end sizes are interior maxima.
    public func sigmas(workingSpacingMM: Double) -> [Double] {
        let c = pipeline.candidates
        let lo = c.minimumDiameterMM / (2 * BlobCandidate.sphereRadiusPerSigma) / workingSpacingMM
        let hi = c.maximumDiameterMM / (2 * BlobCandidate.sphereRadiusPerSigma) / workingSpacingMM
        let ratio = pow(hi / lo, 1 / Double(c.scales - 1))
        return ScaleSpace.geometricSigmas(from: lo / ratio, to: hi * ratio, count: c.scales + 2)
    }

    public func detect(_ radiograph: Radiograph) -> DetectionResult {
        let p = pipeline
        let normalised = NormalisedRadiograph(radiograph, parameters: p.normalisation,
                                              measureSpacingMM: p.measurement.measureSpacingMM, threads: threads)
        let (lungs, maxima) = lungFieldAndMaxima(normalised)
        let frame = DetectionFrame(normalised: normalised, lungs: lungs, pipeline: p, threads: threads)
        var candidates = measuredCandidates(selectedBlobs(maxima, in: frame), in: frame)
        var warnings: [String] = []
        if let h = p.heatmap, !candidates.isEmpty {
            if let grid = NoduleHeatmap.Grid(normalised, network: h.network) {
                candidates = rescoredByMap(candidates, heatmap: h, grid: grid, in: frame)
            } else {
                warnings.append("nodule map: the image is under \(NoduleHeatmap.minimumSide) px a side at the network's "
                                + "\(Self.rounded(h.network.spacingMM, 2)) mm/px; the feature score stands")
            }
        }
        // The reported ones (already so many unless the map scored every measured candidate).
        candidates = Array(candidates.prefix(p.candidates.maximumReported))
        warnings += resultWarnings(radiograph, normalised: normalised, lungs: lungs)
        return DetectionResult(candidates: candidates, lungField: lungs, normalised: normalised,
                               pipeline: stamp, warnings: warnings)
    }

    /// The lung field and the scale-space maxima where candidates may sit (within `lung_field.margin_mm` of
    /// the field), strongest first, in px of the working image.
    func lungFieldAndMaxima(_ normalised: NormalisedRadiograph) -> (LungField, [BlobCandidate]) {
        let p = pipeline
        let working = normalised.working
        let sigmas = self.sigmas(workingSpacingMM: normalised.workingSpacingMM)
        let space = ScaleSpace(sigmas: sigmas, threads: threads,
                               resolution: p.candidates.scaleSpaceResolution == "pyramid" ? .pyramid() : .exact)
        func maxima(accept: (Int, Int) -> Bool) -> [ScaleSpaceMaxima.LocatedMaximum] {
            ScaleSpaceMaxima.locatedMaxima(in: working, sigmas: sigmas, minimumResponse: Float(p.candidates.minimumResponse),
                                           scaleBias: p.candidates.scaleBias ?? 0,
                                           filter: p.candidates.detector == "hessian-determinant" ? .hessianDeterminant : .log,
                                           scaleSpace: space, accept: accept)
        }
        // With more than one thread the lung field is segmented on a thread of its own while the
        // scale space is filtered (`threads` workers), and its test is applied to the maxima after:
        // the same maxima (``ScaleSpaceMaxima/locatedMaxima``).
        let lungs: LungField
        let unfiltered: [ScaleSpaceMaxima.LocatedMaximum]?
        if threads > 1 {
            let segmented = SlotArray<LungField>(count: 1), done = DispatchSemaphore(value: 0)
            let parameters = p.lungField, spacing = normalised.workingSpacingMM
            Thread {
                segmented[0] = LungField(working: working, workingSpacingMM: spacing, parameters: parameters)
                done.signal()
            }.start()
            unfiltered = maxima { _, _ in true }
            done.wait()
            lungs = segmented[0]!
        } else {
            lungs = LungField(working: working, workingSpacingMM: normalised.workingSpacingMM, parameters: p.lungField)
            unfiltered = nil
        }
        let toMask = (x: Double(lungs.width) / Double(working.width), y: Double(lungs.height) / Double(working.height))
        let margin = p.lungField.marginMM
        // Where candidates may sit: within `margin` of the lung field (asked at in-level maxima only).
        func allowed(_ x: Int, _ y: Int) -> Bool { lungs.allowsCandidate(gridX: x, gridY: y, scale: toMask, marginMM: margin) }
        let located = unfiltered?.filter { allowed($0.pixelX, $0.pixelY) } ?? maxima(accept: allowed)
        return (lungs, ScaleSpaceMaxima.sorted(located).map(\.blob))
    }

    /// The blobs to measure: of the strongest few hundred maxima, those whose Hessian blobness passes the
    /// floor, ranked by response or the pre-rank model, suppressed where they overlap, the first
    /// `candidates.maximum_candidates`.
    func selectedBlobs(_ maxima: [BlobCandidate], in frame: DetectionFrame) -> [BlobCandidate] {
        let p = pipeline
        // Blobness (a local Hessian per maximum) is computed only for the strongest few hundred.
        // The rank NMS orders by (ties by index, i.e. response): the response, or the pipeline's
        // pre-rank model over the blob-stage features.
        var ranked: [(blob: BlobCandidate, rank: Double)] = []
        for var b in maxima.prefix(8 * p.candidates.maximumCandidates) {
            b.blobness = LocalHessian.blobness(LocalHessian.at(frame.working, x: b.x, y: b.y, sigma: b.sigma))
            guard b.blobness >= p.candidates.minimumBlobness else { continue }
            var rank = b.response
            if let prerank = p.candidates.prerank {
                let mx = (b.x + 0.5) * frame.toMask.x - 0.5, my = (b.y + 0.5) * frame.toMask.y - 0.5
                rank = prerank.probability(.blobStage(logResponse: b.response, blobness: b.blobness,
                                                      scaleDiameterMM: 2 * b.radius * frame.workingMM,
                                                      lungDepthMM: frame.lungs.depthMM(x: mx, y: my)))
            }
            ranked.append((b, rank))
        }
        let kept = NonMaximumSuppression.keep(
            ranked.map { .init(x: $0.blob.x, y: $0.blob.y, radius: $0.blob.radius, score: $0.rank) },
            overlap: p.candidates.suppressionOverlap)
        return kept.prefix(p.candidates.maximumCandidates).map { ranked[$0].blob }
    }

    /// Each blob measured on the fine image (in parallel, into fixed slots), scored by the score model, kept
    /// within the size range and where the measured outlines do not coincide, best first: all of them when
    /// the map scores every measured candidate (`heatmap.scores_measured`), else the reported number; each
    /// sized again where edge and sphere fit disagree (`sizing_refit_start`), its score and features kept.
    func measuredCandidates(_ blobs: [BlobCandidate], in frame: DetectionFrame) -> [NoduleCandidate] {
        let p = pipeline
        /// Each measured candidate, with its measurement and where that started (px of `fine`).
        typealias Measured = (candidate: NoduleCandidate, measurement: NoduleMeasurement, start: (x: Double, y: Double, radius: Double))
        let results = SlotArray<Measured>(count: blobs.count)
        let model = p.score
        performTasks(blobs.count, workers: threads) { i in
            let b = blobs[i]
            let fx = (b.x + 0.5) * frame.k.x - 0.5, fy = (b.y + 0.5) * frame.k.y - 0.5
            let start = (x: fx, y: fy, radius: b.radius * (frame.k.x + frame.k.y) / 2)
            if let m = NoduleMeasurement.measureClearingBackground(frame.fine, smoothed: frame.fineSmoothed, x: start.x, y: start.y,
                                                                   radius: start.radius, parameters: frame.measurement) {
                let features = Self.features(of: m, blobness: b.blobness, logResponse: b.response,
                                             scaleDiameterMM: 2 * b.radius * frame.workingMM, lungs: frame.lungs,
                                             fineToMask: frame.fineToMask, fineMM: frame.fineMM)
                let diameter = frame.measurement.reportedDiameter(m, spacingMM: frame.fineMM)
                let at = frame.normalised.inputPosition(measurementX: m.x, y: m.y)
                let candidate = NoduleCandidate(
                    x: at.x, y: at.y,
                    diameterPx: diameter * frame.inputPerFine,
                    diameterMM: frame.spacingKnown ? diameter * frame.fineMM : nil,
                    score: model.probability(features), features: features)
                results[i] = (candidate, m, start)
            }
        }
        // Sizes outside the searched range are dropped after measurement.
        var measured = results.values.compactMap { $0 }
            .filter { $0.candidate.diameterPx >= frame.minimumPx && $0.candidate.diameterPx <= frame.maximumPx }
        // Measured outlines can coincide where two scale maxima sat on one nodule.
        let keptMeasured = NonMaximumSuppression.keep(
            measured.map { .init(x: $0.candidate.x, y: $0.candidate.y, radius: $0.candidate.diameterPx / 2, score: $0.candidate.score) },
            overlap: p.candidates.suppressionOverlap)
        // The reported ones: the score model's best, or with a map that scores every measured
        // candidate (`heatmap.scores_measured`) all of them, cut after the map.
        let mapScoresMeasured = p.heatmap?.scoresMeasured == true
        measured = Array(keptMeasured.prefix(mapScoresMeasured ? keptMeasured.count : p.candidates.maximumReported).map { measured[$0] })
        // Their sizes: where edge and sphere fit disagree, measured again (`sizing_refit_start`).
        let reported = measured
        let sizes = SlotArray<Double>(count: reported.count)
        performTasks(reported.count, workers: threads) { i in
            sizes[i] = NoduleMeasurement.reportedDiameter(of: reported[i].measurement, measuredFrom: reported[i].start, in: frame.fine,
                                                          smoothed: frame.fineSmoothed, parameters: frame.measurement,
                                                          spacingMM: frame.fineMM)
        }
        for i in measured.indices {
            guard let size = sizes[i] else { continue }
            measured[i].candidate.diameterPx = size * frame.inputPerFine
            measured[i].candidate.diameterMM = frame.spacingKnown ? size * frame.fineMM : nil
        }
        return measured.map(\.candidate)
    }

    /// What the record should warn of besides the decoder's notes: a spacing not used or assumed, the
    /// image's geometry, and a lung field that was not segmented as intended.
    func resultWarnings(_ radiograph: Radiograph, normalised: NormalisedRadiograph, lungs: LungField) -> [String] {
        let p = pipeline
        var warnings: [String] = []
        if let rejected = normalised.rejectedExtentMM, let stated = radiograph.pixelSpacing {
            warnings.append("pixel spacing \(Self.rounded(stated.row, 4)) × \(Self.rounded(stated.column, 4)) mm (\(stated.source)) "
                            + "makes the image span \(Int(rejected[0].rounded())) × \(Int(rejected[1].rounded())) mm, where a chest "
                            + "radiograph spans about 350–430 mm: taken for wrong and not used; detection assumed "
                            + "\(p.normalisation.assumedSpacingDescription(width: normalised.inputWidth, height: normalised.inputHeight)); "
                            + "no mm figures reported")
        } else if normalised.spacingAssumed {
            warnings.append("pixel spacing unknown: detection assumed "
                            + "\(p.normalisation.assumedSpacingDescription(width: normalised.inputWidth, height: normalised.inputHeight)); "
                            + "no mm figures reported")
        }
        warnings += Self.geometryWarnings(normalised, workingSpacingMM: p.normalisation.workingSpacingMM,
                                          minimumDiameterMM: p.candidates.minimumDiameterMM)
        switch lungs.source {
        case .segmented: break
        case .mirrored: warnings.append("lung field: one lung segmented; the other was taken as its mirror image")
        case .prior: warnings.append("lung field: no lung segmented; a central prior region was used")
        }
        if lungs.method == .threshold && (p.lungField.network != nil || p.lungField.pixelClassifier != nil) {
            let learned = p.lungField.network != nil ? "lung network" : "pixel classifier"
            warnings.append("lung field: the \(learned) found fewer lungs than the threshold method, which was used instead")
        }
        return warnings
    }
}

/// One radiograph's images, scales and size range as the stages after the lung field use them.
struct DetectionFrame: Sendable {
    let normalised: NormalisedRadiograph
    let lungs: LungField
    /// The normalised image at the working spacing; the finer measurement image and its light smoothing
    /// (σ = 1 px, one for every candidate's rays).
    let working: FloatImage, fine: FloatImage, fineSmoothed: FloatImage
    /// Mask px per working px; fine px per working px; mask px per fine px.
    let toMask: (x: Double, y: Double), k: (x: Double, y: Double), fineToMask: (x: Double, y: Double)
    /// mm per working px and per fine px; input px per fine px.
    let workingMM: Double, fineMM: Double, inputPerFine: Double
    /// Whether sizes can be given in mm (the spacing was stated and used).
    let spacingKnown: Bool
    /// Reported sizes, input px: the searched diameters, less 20 % and plus 25 %.
    let minimumPx: Double, maximumPx: Double
    let measurement: PipelineDefinition.MeasurementParameters
    let threads: Int

    init(normalised: NormalisedRadiograph, lungs: LungField, pipeline p: PipelineDefinition, threads: Int) {
        self.normalised = normalised
        self.lungs = lungs
        working = normalised.working
        fine = normalised.measurement
        fineSmoothed = normalised.smoothedMeasurement(threads: threads)
        toMask = (x: Double(lungs.width) / Double(working.width), y: Double(lungs.height) / Double(working.height))
        k = (x: Double(fine.width) / Double(working.width), y: Double(fine.height) / Double(working.height))
        fineToMask = (x: toMask.x / k.x, y: toMask.y / k.y)
        workingMM = normalised.workingSpacingMM
        fineMM = normalised.measurementSpacingMM
        let scale = normalised.measurementScale
        inputPerFine = (scale.x + scale.y) / 2
        spacingKnown = !normalised.spacingAssumed
        minimumPx = p.candidates.minimumDiameterMM * 0.8 / fineMM * inputPerFine
        maximumPx = p.candidates.maximumDiameterMM * 1.25 / fineMM * inputPerFine
        measurement = p.measurement
        self.threads = threads
    }

    /// A measurement from each start (px of `fine`) and its reported diameter (input px), nil where it
    /// fails: on the detector's threads, into fixed slots (each one's own work).
    func measured(from starts: [(x: Double, y: Double, radius: Double)]) -> [(measurement: NoduleMeasurement, diameterPx: Double)?] {
        let slots = SlotArray<(measurement: NoduleMeasurement, diameterPx: Double)>(count: starts.count)
        performTasks(starts.count, workers: threads) { j in
            let start = starts[j]
            guard let m = NoduleMeasurement.measureClearingBackground(fine, smoothed: fineSmoothed, x: start.x, y: start.y,
                                                                      radius: start.radius, parameters: measurement)
            else { return }
            slots[j] = (m, NoduleMeasurement.reportedDiameter(of: m, measuredFrom: start, in: fine, smoothed: fineSmoothed,
                                                              parameters: measurement, spacingMM: fineMM) * inputPerFine)
        }
        return slots.values
    }

    /// A measured diameter (input px) confirms a map blob's (input px): inside the searched size range
    /// and within the |ln ratio| `limit` of the blob's. What moves a re-centred part and places a proposal.
    func confirms(_ diameterPx: Double, blobPx: Double, limit: Double) -> Bool {
        diameterPx >= minimumPx && diameterPx <= maximumPx && abs(log(diameterPx / blobPx)) <= limit
    }

    /// The blob's border (`NoduleMeasurement.border`) from a start (px of `fine`): centre in input px and
    /// diameter in input px, nil where there is none.
    func border(from start: (x: Double, y: Double, radius: Double)) -> (x: Double, y: Double, diameterPx: Double)? {
        guard let border = NoduleMeasurement.border(fineSmoothed, x: start.x, y: start.y, radius: start.radius,
                                                    parameters: measurement, spacingMM: fineMM) else { return nil }
        let at = normalised.inputPosition(measurementX: border.x, y: border.y)
        return (at.x, at.y, border.diameter * inputPerFine)
    }
}

extension NoduleDetector {
    /// |ln ratio| within which a map proposal's measurement confirms its blob's size when the definition
    /// has no `heatmap.resize_log_ratio` (the shipped definitions have 0.6, the same).
    static let proposalConfirmationLogRatio = 0.6

    /// `heatmap.map_sizing` sizes a candidate from its map blob only when the candidate's centre lies
    /// within this fraction of the blob's radius of the blob's centroid (the evaluation's "centred" hit); an
    /// off-centre one (a part, a neighbour) would otherwise take the whole blob's size and duplicate it.
    static let mapSizeCentreFraction = 0.5

    /// A measured candidate's features: `m` in px of the fine image (`fineMM` mm/px), the blob-stage
    /// ones as given, lung depth and the outline's share inside the lung field from `lungs`
    /// (`fineToMask`: mask px per fine px).
    static func features(of m: NoduleMeasurement, blobness: Double, logResponse: Double, scaleDiameterMM: Double,
                         lungs: LungField, fineToMask: (x: Double, y: Double), fineMM: Double) -> NoduleFeatures {
        let mx = (m.x + 0.5) * fineToMask.x - 0.5, my = (m.y + 0.5) * fineToMask.y - 0.5
        let inside = m.outline.filter {
            lungs.contains(x: ($0.x + 0.5) * fineToMask.x - 0.5, y: ($0.y + 0.5) * fineToMask.y - 0.5)
        }.count
        return NoduleFeatures(
            contrast: m.contrast,
            contrastToNoise: m.contrastToNoise,
            blobness: blobness,
            logResponse: logResponse,
            scaleDiameterMM: scaleDiameterMM,
            circularity: m.shortAxis / max(m.longAxis, 1e-9),
            longAxisMM: m.longAxis * fineMM,
            shortAxisMM: m.shortAxis * fineMM,
            lungDepthMM: lungs.depthMM(x: mx, y: my),
            insideLung: Double(inside) / Double(max(1, m.outline.count)),
            background: m.background,
            backgroundGradient: m.backgroundGradient / fineMM,
            sphereFit: m.sphereFit,
            openRays: m.openRayFraction,
            convergence: m.convergenceIndex,
            fitResidual: m.fitResidual)
    }

    /// Physical extent (mm) outside which a frontal chest radiograph's spacing is taken to be wrong.
    public static let plausibleExtentMM: ClosedRange<Double> = 100...1000

    /// Warnings about the image's geometry:
    /// - a spacing in use (stated or assumed) coarser than the working spacing: detection runs at
    ///   the input's spacing, and a nodule as few px across as the smallest one
    ///   (`minimumDiameterMM`) at the working spacing is larger in mm there;
    /// - for a stated spacing that is used, an extent outside ``plausibleExtentMM`` (a chest
    ///   radiograph spans about 350–430 mm): the spacing is most likely wrong (units, a scanner's
    ///   default), and so is every size (from 0.16.0 such a spacing is not used at all).
    public static func geometryWarnings(_ n: NormalisedRadiograph, workingSpacingMM: Double, minimumDiameterMM: Double) -> [String] {
        var warnings: [String] = []
        let input = max(n.inputSpacingMM.row, n.inputSpacingMM.column)
        if input > workingSpacingMM * 1.0001 {
            // Also for an assumed spacing: a small copy (a thumbnail) is taken for a whole chest at a coarse spacing.
            let smallest = minimumDiameterMM / workingSpacingMM * input
            warnings.append("\(n.spacingAssumed ? "the assumed " : "")pixel spacing \(rounded(input, 3)) mm/px is coarser than the "
                            + "working spacing \(workingSpacingMM) mm/px: detection ran at \(rounded(input, 3)) mm/px, and nodules "
                            + "under about \(rounded(smallest, 1)) mm may be missed")
        }
        guard !n.spacingAssumed else { return warnings }
        let width = Double(n.inputWidth) * n.inputSpacingMM.column, height = Double(n.inputHeight) * n.inputSpacingMM.row
        if !plausibleExtentMM.contains(width) || !plausibleExtentMM.contains(height) {
            warnings.append("the image spans \(Int(width.rounded())) × \(Int(height.rounded())) mm by its pixel spacing, where a chest "
                            + "radiograph spans about 350–430 mm: the spacing is most likely wrong, and so is every size in mm")
        }
        return warnings
    }

    /// `v` to at most `digits` decimals for messages, without a trailing ".0" ("0.88", "385").
    public static func rounded(_ v: Double, _ digits: Int) -> String {
        let f = pow(10, Double(digits))
        let r = (v * f).rounded() / f
        return r == r.rounded() ? String(Int(r)) : "\(r)"
    }
}

/// What detection produced for one radiograph.
public struct DetectionResult: Sendable {
    /// Candidates, highest score first, in input px.
    public var candidates: [NoduleCandidate]
    public var lungField: LungField
    public var normalised: NormalisedRadiograph
    public var pipeline: PipelineStamp
    public var warnings: [String]

    /// The JSON Lines record for `radiograph`.
    public func record(for radiograph: Radiograph) -> DetectionRecord {
        let spacing = radiograph.pixelSpacing
        return DetectionRecord(
            path: radiograph.source.path,
            patientID: radiograph.patient?.id, patientIssuer: radiograph.patient?.issuer,
            studyDate: radiograph.studyDate?.description,
            width: radiograph.width, height: radiograph.height,
            pixelSpacingMM: spacing.map { ($0.row + $0.column) / 2 },
            spacingSource: spacing?.source.description ?? "unknown",
            imageSHA256: radiograph.source.sha256, pipeline: pipeline,
            nodules: candidates, warnings: radiograph.notes + warnings)
    }
}

/// Fixed slots written by concurrent workers, one slot per index, read after they finish.
final class SlotArray<Element>: @unchecked Sendable {
    // @unchecked: each index is written by exactly one worker of a `performTasks` (a
    // `concurrentPerform`), or by one thread that then signals a semaphore, and read only after
    // the `performTasks` returns or the semaphore is waited on (either orders the writes). The
    // buffer is allocated once and never resized, so no copy-on-write check races between workers.
    private let base: UnsafeMutablePointer<Element?>
    let count: Int
    init(count: Int) {
        self.count = count
        base = .allocate(capacity: max(1, count))
        base.initialize(repeating: nil, count: max(1, count))
    }
    deinit {
        base.deinitialize(count: max(1, count))
        base.deallocate()
    }
    subscript(i: Int) -> Element? {
        get { precondition(i >= 0 && i < count); return base[i] }
        set { precondition(i >= 0 && i < count); base[i] = newValue }
    }
    var values: [Element?] { (0..<count).map { base[$0] } }
}
