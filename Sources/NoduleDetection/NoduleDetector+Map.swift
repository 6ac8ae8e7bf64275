import Foundation
import ScaleSpace

/// The learned nodule map's part of detection (`heatmap` in the definition): it scores the measured
/// candidates again, moves parts of a nodule onto the whole, proposes candidates of its own, and notes
/// each candidate's blob size.
extension NoduleDetector {
    /// `candidates` (measured, best first by the score model) scored again with the pipeline's
    /// nodule-likelihood map (`Heatmap.score`: its largest value within a fraction of each one's reported
    /// radius, map px), with the map's own proposals added, best first by the combined score.
    func rescoredByMap(_ candidates: [NoduleCandidate], heatmap h: PipelineDefinition.Heatmap, grid: NoduleHeatmap.Grid,
                       in frame: DetectionFrame) -> [NoduleCandidate] {
        let maximumDiameterMM = pipeline.candidates.maximumDiameterMM
        // `context_mm`: the network runs only around the squares the map is read in.
        let region = grid.region(for: candidates, heatmap: h, maximumDiameterMM: maximumDiameterMM)
        let map = MapReading(
            heatmap: NoduleHeatmap(frame.normalised, network: h.network, grid: grid, threads: threads, region: region,
                                   mirrorAveraged: h.mirrorAveraged == true, ensemble: h.ensemble ?? [],
                                   rescaledPasses: h.rescaledPasses ?? []),
            parameters: h, blobSearch: grid.blobSearchRadius(maximumDiameterMM: maximumDiameterMM))
        var candidates = candidates
        let resized = scoreByMap(&candidates, map: map, in: frame)
        let recentred = resize(&candidates, jobs: resized, h: h, in: frame)
        if let q = h.proposals {
            candidates += proposals(q, map: map, claimedBy: candidates, in: frame)
        }
        // Stable: equal scores keep the score model's order.
        candidates = candidates.enumerated().sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }
            .map(\.element)
        if recentred {
            // Candidates moved onto one nodule coincide: suppressed as the measured ones are.
            let kept = NonMaximumSuppression.keep(
                candidates.map { .init(x: $0.x, y: $0.y, radius: $0.diameterPx / 2, score: $0.score) },
                overlap: pipeline.candidates.suppressionOverlap)
            candidates = kept.map { candidates[$0] }
        }
        noteMapBlobs(&candidates, map: map, in: frame)
        return candidates
    }

    /// The nodule map as the stages below read it: the map (with its grid), the definition's `heatmap`
    /// parameters, and how far a blob is searched (map px).
    struct MapReading {
        let heatmap: NoduleHeatmap
        let parameters: PipelineDefinition.Heatmap
        let blobSearch: Int
        var grid: NoduleHeatmap.Grid { heatmap.grid }

        /// The map's largest value within `window_fraction` of `candidate`'s radius (at least
        /// `minimum_window_px`), and where it lies (map px).
        func peak(near candidate: NoduleCandidate) -> (value: Double, x: Int, y: Int)? {
            heatmap.peakLocation(near: candidate, windowFraction: parameters.windowFraction,
                                 minimumWindowPx: parameters.minimumWindowPx)
        }

        /// The blob around map px (`x`, `y`): its diameter and centroid, map px.
        func blob(x: Int, y: Int) -> (diameter: Double, x: Double, y: Double)? {
            heatmap.blob(x: x, y: y, maximumRadius: blobSearch)
        }
    }

    /// A candidate to measure again from its map blob (`resize_log_ratio`): its index, where the measurement
    /// starts (px of `fine`) and the blob's size (input px).
    typealias ResizeJob = (index: Int, start: (x: Double, y: Double, radius: Double), blobPx: Double)

    /// Each candidate's map peak (`features.heatmap`) and combined score; and, with `resize_log_ratio`, the
    /// candidates whose measured size and map blob's disagree by more than that ratio.
    func scoreByMap(_ candidates: inout [NoduleCandidate], map: MapReading, in frame: DetectionFrame) -> [ResizeJob] {
        let h = map.parameters
        var resized: [ResizeJob] = []
        for i in candidates.indices {
            let located = map.peak(near: candidates[i])
            let peak = located?.value ?? 0
            candidates[i].features.heatmap = peak
            candidates[i].score = h.score(peak: peak, probability: candidates[i].score)
            guard let limit = h.resizeLogRatio, let located, peak > 0, let blob = map.blob(x: located.x, y: located.y) else { continue }
            let blobPx = blob.diameter * map.grid.inputPerMapPx
            let oldPx = candidates[i].diameterPx
            guard blobPx > 0, oldPx > 0, abs(log(oldPx / blobPx)) > limit else { continue }
            // `resize_recentres`: from the blob's centroid (map px → input px → px of `fine`);
            // otherwise from the candidate's own centre.
            let (x, y) = h.resizeRecentres == true
                ? map.grid.inputPosition(x: blob.x, y: blob.y)
                : (candidates[i].x, candidates[i].y)
            let start = frame.normalised.measurementPosition(inputX: x, y: y)
            resized.append((i, (x: start.x, y: start.y, radius: blobPx / 2 / frame.inputPerFine), blobPx))
        }
        return resized
    }

    /// The candidates of `jobs` measured again from their blobs. With `resize_recentres`, one moves to the
    /// measured centre and size only where that confirms the blob's size (a part becomes the nodule), or,
    /// with `resize_border`, onto the blob's border where a smaller part's circle lies inside it; without,
    /// it takes the measured size where that agrees with the blob's, else the blob's. Returns whether any
    /// candidate moved.
    func resize(_ candidates: inout [NoduleCandidate], jobs: [ResizeJob], h: PipelineDefinition.Heatmap,
                in frame: DetectionFrame) -> Bool {
        guard let limit = h.resizeLogRatio else { return false }   // (no jobs without it)
        let remeasured = frame.measured(from: jobs.map(\.start))
        var recentred = false
        for (j, job) in jobs.enumerated() {
            let i = job.index, again = remeasured[j]
            if h.resizeRecentres == true {
                if let again, frame.confirms(again.diameterPx, blobPx: job.blobPx, limit: limit) {
                    (candidates[i].x, candidates[i].y) = frame.normalised.inputPosition(measurementX: again.measurement.x,
                                                                                        y: again.measurement.y)
                    candidates[i].diameterPx = again.diameterPx
                } else if h.resizeBorder == true, candidates[i].diameterPx < job.blobPx,
                          let border = frame.border(from: job.start),
                          frame.confirms(border.diameterPx, blobPx: job.blobPx, limit: limit) {
                    // `resize_border`: a part whose measured circle lies inside the blob's border becomes the border
                    // (with the slack by which the tracker tells a part from a whole).
                    let offset = hypot(candidates[i].x - border.x, candidates[i].y - border.y)  // input px
                    guard offset + candidates[i].diameterPx / 2 <= NoduleCandidate.partRadiusSlack * border.diameterPx / 2
                    else { continue }
                    (candidates[i].x, candidates[i].y) = (border.x, border.y)
                    candidates[i].diameterPx = border.diameterPx
                } else { continue }
                recentred = true
            } else {
                // That size stands if it agrees with the blob's, else the blob's own (within the searched range).
                var newPx = job.blobPx
                if let again, again.diameterPx > 0, abs(log(again.diameterPx / job.blobPx)) <= limit { newPx = again.diameterPx }
                candidates[i].diameterPx = min(max(newPx, frame.minimumPx), frame.maximumPx)
            }
            candidates[i].diameterMM = frame.spacingKnown ? candidates[i].diameterPx / frame.inputPerFine * frame.fineMM : nil
        }
        return recentred
    }

    /// The map's own maxima that no candidate of `claimedBy` claims, as candidates (`proposals`): at most
    /// `q.maximum`, strongest first, each measured from its blob's centroid, at the measured centre and size
    /// where that confirms the blob's size, else (with `edge_sizing`) at its border where that does, else at
    /// the blob's centroid and size; scored as the map value with the fixed stand-in feature score.
    func proposals(_ q: PipelineDefinition.Heatmap.Proposals, map: MapReading, claimedBy candidates: [NoduleCandidate],
                   in frame: DetectionFrame) -> [NoduleCandidate] {
        let h = map.parameters, grid = map.grid, mapToInput = grid.inputPerMapPx
        func distanceMM(_ a: (x: Double, y: Double), _ b: (x: Double, y: Double)) -> Double {
            hypot((a.x - b.x) / grid.scale.x, (a.y - b.y) / grid.scale.y) * grid.spacingMM
        }
        func radiusMM(_ diameterPx: Double) -> Double { diameterPx / 2 / mapToInput * grid.spacingMM }
        let limit = h.resizeLogRatio ?? Self.proposalConfirmationLogRatio
        var chosen: [(peak: Double, x: Double, y: Double, blobPx: Double, start: (x: Double, y: Double, radius: Double))] = []
        for maximum in map.heatmap.localMaxima(minimum: q.minimumPeak) where chosen.count < q.maximum {
            let at = grid.inputPosition(x: Double(maximum.x), y: Double(maximum.y))
            guard let blob = map.blob(x: maximum.x, y: maximum.y), blob.diameter > 0 else { continue }
            // `parts_do_not_claim`: a candidate much smaller than the blob is a part of it and leaves it unclaimed.
            let wholePx = blob.diameter * mapToInput
            func isPart(_ c: NoduleCandidate) -> Bool {
                q.partsDoNotClaim == true && c.diameterPx > 0 && log(wholePx / c.diameterPx) > limit
            }
            guard !candidates.contains(where: { distanceMM(($0.x, $0.y), at) < max(q.separationMM, radiusMM($0.diameterPx)) && !isPart($0) }),
                  !chosen.contains(where: { distanceMM(($0.x, $0.y), at) < max(q.separationMM, radiusMM($0.blobPx)) })
            else { continue }
            let blobPx = min(max(blob.diameter * mapToInput, frame.minimumPx), frame.maximumPx)
            // Placed at the blob's centroid: a saturated map's maximum is the first of a plateau.
            let centroid = grid.inputPosition(x: blob.x, y: blob.y)
            let start = frame.normalised.measurementPosition(inputX: centroid.x, y: centroid.y)
            chosen.append((maximum.value, centroid.x, centroid.y, blobPx, (start.x, start.y, blobPx / 2 / frame.inputPerFine)))
        }
        // Each measured from its blob (px of `fine`).
        let measured = frame.measured(from: chosen.map(\.start))
        return chosen.enumerated().map { j, job in
            // At the blob's centroid with its size, unless the measurement agrees with that size: then at the
            // measured centre with the measured size. Features from the measurement where there is one
            // (blobness and LoG response at the blob's scale on the working image).
            var x = job.x, y = job.y, diameterPx = job.blobPx, confirmed = false
            let sigma = job.start.radius / ((frame.k.x + frame.k.y) / 2) / 2.squareRoot()  // working px
            let local = LocalHessian.at(frame.working, x: (job.start.x + 0.5) / frame.k.x - 0.5,
                                        y: (job.start.y + 0.5) / frame.k.y - 0.5, sigma: max(sigma, 0.5))
            let blobness = LocalHessian.blobness(local), response = -sigma * sigma * (local.xx + local.yy)
            let scaleDiameterMM = job.blobPx / frame.inputPerFine * frame.fineMM
            var features: NoduleFeatures
            if let again = measured[j] {
                let m = again.measurement
                features = Self.features(of: m, blobness: blobness, logResponse: response, scaleDiameterMM: scaleDiameterMM,
                                         lungs: frame.lungs, fineToMask: frame.fineToMask, fineMM: frame.fineMM)
                if frame.confirms(again.diameterPx, blobPx: job.blobPx, limit: limit) {
                    (x, y) = frame.normalised.inputPosition(measurementX: m.x, y: m.y)
                    diameterPx = again.diameterPx
                    confirmed = true
                }
            } else {
                features = .blobStage(logResponse: response, blobness: blobness, scaleDiameterMM: scaleDiameterMM,
                                      lungDepthMM: frame.lungs.depthMM(x: (job.start.x + 0.5) * frame.fineToMask.x - 0.5,
                                                                       y: (job.start.y + 0.5) * frame.fineToMask.y - 0.5))
            }
            // `edge_sizing`: unconfirmed, the blob's border (its edge outline) places and sizes it where
            // that confirms the blob's size; it follows a large faint nodule's growth, the blob does not.
            if q.edgeSizing == true, !confirmed, let border = frame.border(from: job.start),
               frame.confirms(border.diameterPx, blobPx: job.blobPx, limit: limit) {
                (x, y) = (border.x, border.y)
                diameterPx = border.diameterPx
            }
            features.heatmap = job.peak
            features.mapProposal = 1
            return NoduleCandidate(x: x, y: y, diameterPx: diameterPx,
                                   diameterMM: frame.spacingKnown ? diameterPx / frame.inputPerFine * frame.fineMM : nil,
                                   score: h.score(peak: job.peak, probability: q.featureScore), features: features)
        }
    }

    /// Each candidate's map blob where it now stands (`features.map_diameter_mm`) and, with `map_sizing`, the
    /// blob's size where the measured one is smaller by more than the ratio, the blob is large enough and the
    /// candidate lies on it (centre within `mapSizeCentreFraction` of its radius): a part or a neighbour off
    /// the blob's centre keeps its own size, and so does a candidate inside the circle of another already
    /// about the blob's size (measured so, or sized so before it, best score first): one nodule is reported at
    /// the blob's size once, its parts stay parts.
    func noteMapBlobs(_ candidates: inout [NoduleCandidate], map: MapReading, in frame: DetectionFrame) {
        let grid = map.grid
        for i in candidates.indices {
            guard let located = map.peak(near: candidates[i]), located.value > 0,
                  let blob = map.blob(x: located.x, y: located.y), blob.diameter > 0
            else { continue }
            let blobMM = blob.diameter * grid.spacingMM
            candidates[i].features.mapDiameterMM = blobMM
            guard let sizing = map.parameters.mapSizing, candidates[i].diameterPx > 0, blobMM >= sizing.minimumDiameterMM else { continue }
            let at = grid.mapPosition(x: candidates[i].x, y: candidates[i].y)
            guard hypot(at.x - blob.x, at.y - blob.y) <= Self.mapSizeCentreFraction * blob.diameter / 2 else { continue }
            let blobPx = min(max(blob.diameter * grid.inputPerMapPx, frame.minimumPx), frame.maximumPx)
            guard log(blobPx / candidates[i].diameterPx) > sizing.logRatio else { continue }
            let whole = candidates.indices.contains { j in
                j != i && log(blobPx / candidates[j].diameterPx) <= sizing.logRatio
                    && hypot(candidates[i].x - candidates[j].x, candidates[i].y - candidates[j].y) < candidates[j].diameterPx / 2
            }
            guard !whole else { continue }
            candidates[i].diameterPx = blobPx
            candidates[i].diameterMM = frame.spacingKnown ? blobPx / frame.inputPerFine * frame.fineMM : nil
        }
    }
}
