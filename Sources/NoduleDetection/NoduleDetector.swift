import Foundation
import RadiographIO
import ScaleSpace
#if canImport(Glibc)
import Glibc
#endif

/// Detection as a pure function of (radiograph, pipeline definition):
/// normalise → lung field → scale-space maxima → blobness filter → NMS →
/// measure → score. Deterministic whatever `threads` is.
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
        var blobs = ScaleSpaceMaxima.sorted(located).map(\.blob)
        // Maxima arrive sorted by response; blobness (a local Hessian per maximum)
        // is computed only for the strongest few hundred.
        // The rank NMS orders by (ties by index, i.e. response): the response, or the pipeline's
        // pre-rank model over the blob-stage features.
        var ranked: [(blob: BlobCandidate, rank: Double)] = []
        for var b in blobs.prefix(8 * p.candidates.maximumCandidates) {
            b.blobness = LocalHessian.blobness(LocalHessian.at(working, x: b.x, y: b.y, sigma: b.sigma))
            guard b.blobness >= p.candidates.minimumBlobness else { continue }
            var rank = b.response
            if let prerank = p.candidates.prerank {
                let mx = (b.x + 0.5) * toMask.x - 0.5, my = (b.y + 0.5) * toMask.y - 0.5
                rank = prerank.probability(.blobStage(logResponse: b.response, blobness: b.blobness,
                                                      scaleDiameterMM: 2 * b.radius * normalised.workingSpacingMM,
                                                      lungDepthMM: lungs.depthMM(x: mx, y: my)))
            }
            ranked.append((b, rank))
        }
        blobs = ranked.map(\.blob)
        let kept = NonMaximumSuppression.keep(
            ranked.map { .init(x: $0.blob.x, y: $0.blob.y, radius: $0.blob.radius, score: $0.rank) },
            overlap: p.candidates.suppressionOverlap)
        blobs = Array(kept.prefix(p.candidates.maximumCandidates).map { blobs[$0] })

        // Measure each candidate on the fine image, in parallel, into fixed slots.
        let fine = normalised.measurement
        // One light smoothing of the whole fine image (σ = 1 px) serves every candidate's rays.
        let fineSmoothed = normalised.smoothedMeasurement(threads: threads)
        let k = (x: Double(fine.width) / Double(working.width), y: Double(fine.height) / Double(working.height))
        let workingMM = normalised.workingSpacingMM, fineMM = normalised.measurementSpacingMM
        /// Each measured candidate, with its measurement and where that started (px of `fine`).
        typealias Measured = (candidate: NoduleCandidate, measurement: NoduleMeasurement, start: (x: Double, y: Double, radius: Double))
        let results = SlotArray<Measured>(count: blobs.count)
        let scale = normalised.measurementScale
        let inputPerFine = (scale.x + scale.y) / 2
        let fineToMask = (x: toMask.x / k.x, y: toMask.y / k.y)
        let spacingKnown = !normalised.spacingAssumed
        let model = p.score
        let measurement = p.measurement
        let candidateBlobs = blobs
        performTasks(candidateBlobs.count, workers: threads) { i in
            let b = candidateBlobs[i]
            let fx = (b.x + 0.5) * k.x - 0.5, fy = (b.y + 0.5) * k.y - 0.5
            let start = (x: fx, y: fy, radius: b.radius * (k.x + k.y) / 2)
            if let m = NoduleMeasurement.measureClearingBackground(fine, smoothed: fineSmoothed, x: start.x, y: start.y,
                                                                   radius: start.radius, parameters: measurement) {
                let features = Self.features(of: m, blobness: b.blobness, logResponse: b.response,
                                             scaleDiameterMM: 2 * b.radius * workingMM, lungs: lungs, fineToMask: fineToMask,
                                             fineMM: fineMM)
                let diameter = measurement.reportedDiameter(m, spacingMM: fineMM)
                let at = normalised.inputPosition(measurementX: m.x, y: m.y)
                let candidate = NoduleCandidate(
                    x: at.x, y: at.y,
                    diameterPx: diameter * inputPerFine,
                    diameterMM: spacingKnown ? diameter * fineMM : nil,
                    score: model.probability(features), features: features)
                results[i] = (candidate, m, start)
            }
        }
        var measured = results.values.compactMap { $0 }
        // Sizes outside the searched range are dropped after measurement.
        let minimumPx = p.candidates.minimumDiameterMM * 0.8 / fineMM * inputPerFine
        let maximumPx = p.candidates.maximumDiameterMM * 1.25 / fineMM * inputPerFine
        measured = measured.filter { $0.candidate.diameterPx >= minimumPx && $0.candidate.diameterPx <= maximumPx }
        // Measured outlines can coincide where two scale maxima sat on one nodule.
        let keptMeasured = NonMaximumSuppression.keep(
            measured.map { .init(x: $0.candidate.x, y: $0.candidate.y, radius: $0.candidate.diameterPx / 2, score: $0.candidate.score) },
            overlap: p.candidates.suppressionOverlap)
        // The reported ones: the score model's best, or with a map that scores every measured
        // candidate (`heatmap.scores_measured`) all of them, cut after the map below.
        let mapScoresMeasured = p.heatmap?.scoresMeasured == true
        measured = Array(keptMeasured.prefix(mapScoresMeasured ? keptMeasured.count : p.candidates.maximumReported).map { measured[$0] })
        // Their sizes: where edge and sphere fit disagree, measured again
        // (`sizing_refit_start`); their scores and features stay.
        let reported = measured
        let sizes = SlotArray<Double>(count: reported.count)
        performTasks(reported.count, workers: threads) { i in
            sizes[i] = NoduleMeasurement.reportedDiameter(of: reported[i].measurement, measuredFrom: reported[i].start, in: fine,
                                                          smoothed: fineSmoothed, parameters: measurement, spacingMM: fineMM)
        }
        for i in measured.indices {
            guard let size = sizes[i] else { continue }
            measured[i].candidate.diameterPx = size * inputPerFine
            measured[i].candidate.diameterMM = spacingKnown ? size * fineMM : nil
        }
        var candidates = measured.map(\.candidate)
        var warnings: [String] = []
        if let h = p.heatmap, !candidates.isEmpty {
            // The reported candidates scored again with the pipeline's nodule-likelihood map
            // (`Heatmap.score`): its largest value within a fraction of each one's reported radius (map px).
            if let grid = NoduleHeatmap.Grid(normalised, network: h.network) {
                let mapToInput = (grid.scale.x + grid.scale.y) / 2
                let blobSearch = grid.blobSearchRadius(maximumDiameterMM: p.candidates.maximumDiameterMM)
                // `context_mm`: the network runs only around the squares the map is read in.
                let region = grid.region(for: candidates, heatmap: h, maximumDiameterMM: p.candidates.maximumDiameterMM)
                let heatmap = NoduleHeatmap(normalised, network: h.network, grid: grid, threads: threads, region: region,
                                            mirrorAveraged: h.mirrorAveraged == true, ensemble: h.ensemble ?? [])
                // Sizing from the map (`resize_log_ratio`): the candidates whose measured size and map blob's
                // disagree, each with where it is measured again (px of `fine`) and the blob's size (input px).
                var resized: [(index: Int, start: (x: Double, y: Double, radius: Double), blobPx: Double)] = []
                for i in candidates.indices {
                    let located = heatmap.peakLocation(near: candidates[i], windowFraction: h.windowFraction,
                                                       minimumWindowPx: h.minimumWindowPx)
                    let peak = located?.value ?? 0
                    candidates[i].features.heatmap = peak
                    candidates[i].score = h.score(peak: peak, probability: candidates[i].score)
                    guard let limit = h.resizeLogRatio, let located, peak > 0,
                          let blob = heatmap.blob(x: located.x, y: located.y, maximumRadius: blobSearch) else { continue }
                    let blobPx = blob.diameter * mapToInput
                    let oldPx = candidates[i].diameterPx
                    guard blobPx > 0, oldPx > 0, abs(log(oldPx / blobPx)) > limit else { continue }
                    // `resize_recentres`: from the blob's centroid (map px → input px → px of `fine`);
                    // otherwise from the candidate's own centre.
                    let (x, y) = h.resizeRecentres == true
                        ? grid.inputPosition(x: blob.x, y: blob.y)
                        : (candidates[i].x, candidates[i].y)
                    let start = normalised.measurementPosition(inputX: x, y: y)
                    resized.append((i, (x: start.x, y: start.y,
                                        radius: blobPx / 2 / inputPerFine), blobPx))
                }
                /// A measurement from each start (px of `fine`) and its reported diameter (input px), nil where
                /// it fails: on the detector's threads, into fixed slots (each one's own work).
                func measured(from starts: [(x: Double, y: Double, radius: Double)])
                    -> [(measurement: NoduleMeasurement, diameterPx: Double)?] {
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
                let jobs = resized
                let remeasured = measured(from: jobs.map(\.start))
                var recentred = false
                for (j, job) in jobs.enumerated() {
                    guard let limit = h.resizeLogRatio else { break }   // (no jobs without it)
                    let i = job.index, again = remeasured[j]
                    if h.resizeRecentres == true {
                        // Moved only where the measurement confirms the blob's size: a part becomes the nodule.
                        if let again, confirms(again.diameterPx, blobPx: job.blobPx, limit: limit) {
                            (candidates[i].x, candidates[i].y) = normalised.inputPosition(measurementX: again.measurement.x, y: again.measurement.y)
                            candidates[i].diameterPx = again.diameterPx
                        } else if h.resizeBorder == true, candidates[i].diameterPx < job.blobPx,
                                  let border = NoduleMeasurement.border(fineSmoothed, x: job.start.x, y: job.start.y, radius: job.start.radius,
                                                                        parameters: measurement, spacingMM: fineMM),
                                  confirms(border.diameter * inputPerFine, blobPx: job.blobPx, limit: limit) {
                            // `resize_border`: a part whose measured circle lies inside the blob's border becomes the border
                            // (with the slack by which the tracker tells a part from a whole).
                            let at = normalised.inputPosition(measurementX: border.x, y: border.y)
                            let offset = hypot(candidates[i].x - at.x, candidates[i].y - at.y)  // input px
                            guard offset + candidates[i].diameterPx / 2 <= NoduleCandidate.partRadiusSlack * border.diameter * inputPerFine / 2
                            else { continue }
                            (candidates[i].x, candidates[i].y) = at
                            candidates[i].diameterPx = border.diameter * inputPerFine
                        } else { continue }
                        recentred = true
                    } else {
                        // That size stands if it agrees with the blob's, else the blob's own (within the searched range).
                        var newPx = job.blobPx
                        if let again, again.diameterPx > 0, abs(log(again.diameterPx / job.blobPx)) <= limit { newPx = again.diameterPx }
                        candidates[i].diameterPx = min(max(newPx, minimumPx), maximumPx)
                    }
                    candidates[i].diameterMM = spacingKnown ? candidates[i].diameterPx / inputPerFine * fineMM : nil
                }
                if let q = h.proposals {
                    // The map's own maxima that no reported candidate claims become candidates (`proposals`).
                    func distanceMM(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Double {
                        hypot((a.x - b.x) / grid.scale.x, (a.y - b.y) / grid.scale.y) * grid.spacingMM
                    }
                    func radiusMM(_ diameterPx: Double) -> Double { diameterPx / 2 / mapToInput * grid.spacingMM }
                    var chosen: [(peak: Double, x: Double, y: Double, blobPx: Double, start: (x: Double, y: Double, radius: Double))] = []
                    let claimLimit = h.resizeLogRatio ?? Self.proposalConfirmationLogRatio
                    for maximum in heatmap.localMaxima(minimum: q.minimumPeak) where chosen.count < q.maximum {
                        let at = grid.inputPosition(x: Double(maximum.x), y: Double(maximum.y))
                        guard let blob = heatmap.blob(x: maximum.x, y: maximum.y, maximumRadius: blobSearch), blob.diameter > 0 else { continue }
                        // `parts_do_not_claim`: a candidate much smaller than the blob is a part of it and leaves it unclaimed.
                        let wholePx = blob.diameter * mapToInput
                        func isPart(_ c: NoduleCandidate) -> Bool {
                            q.partsDoNotClaim == true && c.diameterPx > 0 && log(wholePx / c.diameterPx) > claimLimit
                        }
                        guard !candidates.contains(where: { distanceMM(($0.x, $0.y), at) < max(q.separationMM, radiusMM($0.diameterPx)) && !isPart($0) }),
                              !chosen.contains(where: { distanceMM(($0.x, $0.y), at) < max(q.separationMM, radiusMM($0.blobPx)) })
                        else { continue }
                        let blobPx = min(max(blob.diameter * mapToInput, minimumPx), maximumPx)
                        // Placed at the blob's centroid: a saturated map's maximum is the first of a plateau.
                        let centroid = grid.inputPosition(x: blob.x, y: blob.y)
                        let start = normalised.measurementPosition(inputX: centroid.x, y: centroid.y)
                        chosen.append((maximum.value, centroid.x, centroid.y, blobPx,
                                       (start.x, start.y, blobPx / 2 / inputPerFine)))
                    }
                    // Each measured from its blob (px of `fine`).
                    let proposalJobs = chosen
                    let proposalMeasured = measured(from: proposalJobs.map(\.start))
                    let limit = h.resizeLogRatio ?? Self.proposalConfirmationLogRatio
                    for (j, job) in proposalJobs.enumerated() {
                        // At the blob's centroid with its size, unless the measurement agrees with that size:
                        // then at the measured centre with the measured size. Features from the measurement where
                        // there is one (blobness and LoG response at the blob's scale on the working image).
                        var x = job.x, y = job.y, diameterPx = job.blobPx, confirmed = false
                        let sigma = job.start.radius / ((k.x + k.y) / 2) / 2.squareRoot()  // working px
                        let local = LocalHessian.at(working, x: (job.start.x + 0.5) / k.x - 0.5, y: (job.start.y + 0.5) / k.y - 0.5,
                                                    sigma: max(sigma, 0.5))
                        let blobness = LocalHessian.blobness(local), response = -sigma * sigma * (local.xx + local.yy)
                        var features: NoduleFeatures
                        if let again = proposalMeasured[j] {
                            let m = again.measurement
                            features = Self.features(of: m, blobness: blobness, logResponse: response, scaleDiameterMM: job.blobPx
                                                     / inputPerFine * fineMM, lungs: lungs, fineToMask: fineToMask, fineMM: fineMM)
                            if confirms(again.diameterPx, blobPx: job.blobPx, limit: limit) {
                                (x, y) = normalised.inputPosition(measurementX: m.x, y: m.y)
                                diameterPx = again.diameterPx
                                confirmed = true
                            }
                        } else {
                            features = .blobStage(logResponse: response, blobness: blobness, scaleDiameterMM: job.blobPx / inputPerFine * fineMM,
                                                  lungDepthMM: lungs.depthMM(x: (job.start.x + 0.5) * fineToMask.x - 0.5,
                                                                             y: (job.start.y + 0.5) * fineToMask.y - 0.5))
                        }
                        // `edge_sizing`: unconfirmed, the blob's border (its edge outline) places and sizes it where
                        // that confirms the blob's size; it follows a large faint nodule's growth, the blob does not.
                        if q.edgeSizing == true, !confirmed,
                           let border = NoduleMeasurement.border(fineSmoothed, x: job.start.x, y: job.start.y, radius: job.start.radius,
                                                                 parameters: measurement, spacingMM: fineMM),
                           confirms(border.diameter * inputPerFine, blobPx: job.blobPx, limit: limit) {
                            (x, y) = normalised.inputPosition(measurementX: border.x, y: border.y)
                            diameterPx = border.diameter * inputPerFine
                        }
                        features.heatmap = job.peak
                        features.mapProposal = 1
                        candidates.append(NoduleCandidate(x: x, y: y, diameterPx: diameterPx,
                                                          diameterMM: spacingKnown ? diameterPx / inputPerFine * fineMM : nil,
                                                          score: h.score(peak: job.peak, probability: q.featureScore), features: features))
                    }
                }
                // Stable: equal scores keep the score model's order.
                candidates = candidates.enumerated().sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }
                    .map(\.element)
                if recentred {
                    // Candidates moved onto one nodule coincide: suppressed as the measured ones are.
                    let kept = NonMaximumSuppression.keep(
                        candidates.map { .init(x: $0.x, y: $0.y, radius: $0.diameterPx / 2, score: $0.score) },
                        overlap: p.candidates.suppressionOverlap)
                    candidates = kept.map { candidates[$0] }
                }
                // Each candidate's map blob where it now stands (`features.map_diameter_mm`) and, with
                // `map_sizing`, the blob's size where the measured one is smaller by more than the ratio, the
                // blob is large enough and the candidate lies on it (centre within `mapSizeCentreFraction` of its
                // radius): a part or a neighbour off the blob's centre keeps its own size, and so does a candidate
                // inside the circle of another already about the blob's size (measured so, or sized so before it,
                // best score first): one nodule is reported at the blob's size once, its parts stay parts.
                for i in candidates.indices {
                    guard let located = heatmap.peakLocation(near: candidates[i], windowFraction: h.windowFraction,
                                                             minimumWindowPx: h.minimumWindowPx), located.value > 0,
                          let blob = heatmap.blob(x: located.x, y: located.y, maximumRadius: blobSearch), blob.diameter > 0
                    else { continue }
                    let blobMM = blob.diameter * grid.spacingMM
                    candidates[i].features.mapDiameterMM = blobMM
                    guard let sizing = h.mapSizing, candidates[i].diameterPx > 0, blobMM >= sizing.minimumDiameterMM else { continue }
                    let at = grid.mapPosition(x: candidates[i].x, y: candidates[i].y)
                    guard hypot(at.x - blob.x, at.y - blob.y) <= Self.mapSizeCentreFraction * blob.diameter / 2 else { continue }
                    let blobPx = min(max(blob.diameter * mapToInput, minimumPx), maximumPx)
                    guard log(blobPx / candidates[i].diameterPx) > sizing.logRatio else { continue }
                    let whole = candidates.indices.contains { j in
                        j != i && log(blobPx / candidates[j].diameterPx) <= sizing.logRatio
                            && hypot(candidates[i].x - candidates[j].x, candidates[i].y - candidates[j].y) < candidates[j].diameterPx / 2
                    }
                    guard !whole else { continue }
                    candidates[i].diameterPx = blobPx
                    candidates[i].diameterMM = spacingKnown ? blobPx / inputPerFine * fineMM : nil
                }
            } else {
                warnings.append("nodule map: the image is under \(NoduleHeatmap.minimumSide) px a side at the network's "
                                + "\(Self.rounded(h.network.spacingMM, 2)) mm/px; the feature score stands")
            }
        }
        // The reported ones (already so many unless the map scored every measured candidate).
        candidates = Array(candidates.prefix(p.candidates.maximumReported))

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
        return DetectionResult(candidates: candidates, lungField: lungs, normalised: normalised,
                               pipeline: stamp, warnings: warnings)
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
