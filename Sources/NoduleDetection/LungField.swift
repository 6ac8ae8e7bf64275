import ScaleSpace

/// The lung fields of a radiograph as a binary mask on a coarse grid (about
/// 2 mm/px), with a signed distance to its border. Outside air (dark, reaching a
/// band along the exposed field's border) is removed first. Then either
/// - a lung network (a U-Net at about 4 mm/px, pipelines from 0.27.0) or a per-pixel
///   classifier (``LungPixelClassifier``, pipelines from 0.6): the largest lung-labelled
///   region per side of the midline, holes filled; or
/// - the threshold method: Otsu thresholds over the body, dark components clear
///   of the border, one lung per side, morphological closing (reabsorbs rib gaps
///   and nodules on the lung edge), hole filling and apex growth.
/// A side that finds no plausible lung falls back to the mirror image of the
/// other, and two missing lungs to an anatomical prior; ``source`` says which.
public struct LungField: Sendable {
    /// Mask columns and rows, px of the mask grid.
    public let width: Int
    public let height: Int
    /// Mask grid spacing, mm/px.
    public let spacingMM: Double
    /// 1 inside a lung, 0 outside; row-major.
    public let mask: [UInt8]
    /// Signed distance to the mask border, mm: positive inside, negative outside.
    public let signedDistanceMM: [Float]
    /// Where candidates are sought: the mask plus an apex prior above each lung
    /// (1 inside), row-major on the mask grid.
    public let searchRegion: [UInt8]
    /// Number of lungs found by segmentation (0, 1 or 2).
    public let lungCount: Int
    /// How the mask was made.
    public let source: Source
    /// Which segmentation method produced the lungs.
    public let method: Method

    public enum Method: String, Sendable {
        /// The pipeline's lung network (``PipelineDefinition/LungFieldParameters/network``).
        case network
        /// The pipeline's per-pixel classifier (``LungPixelClassifier``).
        case classifier
        /// Otsu thresholds, morphology and apex growth: pipelines without a classifier, and
        /// the fallback when the classifier leaves a side without a plausible lung.
        case threshold
    }

    public enum Source: String, Sendable {
        /// Both lungs segmented.
        case segmented
        /// One lung segmented; the other is its mirror image about the midline.
        case mirrored
        /// No lung segmented; a central prior region stands in.
        case prior
    }

    /// Segments the normalised working image (`spacingMM` mm/px).
    public init(working: FloatImage, workingSpacingMM: Double, parameters p: PipelineDefinition.LungFieldParameters) {
        let grid = LungFieldGrid(working: working, workingSpacingMM: workingSpacingMM, parameters: p,
                                 exposedFieldBand: p.pixelClassifier != nil || p.network != nil)
        let w = grid.width, h = grid.height
        let spacing = grid.spacingMM
        width = w
        height = h
        spacingMM = spacing
        let minimumArea = p.minimumLungAreaMM2 / (spacing * spacing)
        var best: (mask: [UInt8], count: Int)
        var method = p.network != nil ? Method.network : p.pixelClassifier == nil ? Method.threshold : Method.classifier
        let learned: [Float]? = if let network = p.network {
            LungField.networkProbabilities(working: working, workingSpacingMM: workingSpacingMM, network: network,
                                           width: w, height: h)
        } else if let classifier = p.pixelClassifier {
            classifier.probabilities(LungPixelFeatures(grid))
        } else {
            nil
        }
        if let learned {
            let threshold = p.network != nil ? 0.5 : Float(p.pixelClassifier!.threshold)
            best = LungField.largestPerSide(learned.map { $0 > threshold }, width: w, height: h,
                                            minimumArea: minimumArea, closingRadius: p.closingRadiusMM / spacing)
            // An image unlike those the network or classifier was fitted on can leave a side
            // without a plausible lung: then the threshold method is asked too, and whichever
            // finds more lungs is used (the learned one on a tie).
            if best.count < 2 {
                let threshold = LungField.thresholdSegmentation(grid, parameters: p, minimumArea: minimumArea)
                if threshold.count > best.count {
                    best = threshold
                    method = .threshold
                }
            }
        } else {
            best = LungField.thresholdSegmentation(grid, parameters: p, minimumArea: minimumArea)
        }
        // Shape priors when the threshold fails: one lung found → its mirror image
        // about the midline stands in for the other; none → a central prior region.
        var final = best.mask
        var source = LungField.Source.segmented
        if best.count == 1 {
            for y in 0..<h {
                for x in 0..<w where best.mask[y * w + x] != 0 { final[y * w + (w - 1 - x)] = 1 }
            }
            source = .mirrored
        } else if best.count == 0 {
            // Two ellipses where lungs sit on a PA radiograph: columns 12–46 % and
            // 54–88 %, rows 12–78 %.
            LungField.markPriorEllipses(&final, width: w, height: h, halfWidth: 0.17, halfHeight: 0.33)
            source = .prior
        }
        mask = final
        // Search region: the mask plus, above each lung, the columns it spans up to
        // 0.6 × its height higher (apices hidden under shoulder tissue), inside the body.
        var region = final
        let finalLungs = Morphology.label(final.map { $0 != 0 }, width: w, height: h).1
        for lung in finalLungs {
            let top = max(0, lung.minY - Int(0.6 * Double(lung.maxY - lung.minY + 1)))
            for y in top..<lung.minY {
                for x in lung.minX...lung.maxX where grid.body[y * w + x] { region[y * w + x] = 1 }
            }
        }
        // And always the anatomical prior (slightly enlarged ellipses), so a
        // segmentation that misses part of a lung cannot hide a nodule there.
        LungField.markPriorEllipses(&region, width: w, height: h, halfWidth: 0.21, halfHeight: 0.38)
        searchRegion = region
        lungCount = best.count
        self.source = source
        self.method = method
        let insideDistance = Morphology.distance(to: final.map { $0 == 0 }, width: w, height: h)
        let outsideDistance = Morphology.distance(to: final.map { $0 != 0 }, width: w, height: h)
        signedDistanceMM = (0..<(w * h)).map { i in Float(spacing) * (final[i] != 0 ? insideDistance[i] : -outsideDistance[i]) }
    }

    /// The lung network's probability per mask px (`width` × `height`, row-major): the network run
    /// over the normalised working image area-averaged to its spacing and clipped to 0–1 (as the
    /// nodule map's input), read bilinearly at each mask px centre. All 0 when the image at the
    /// network's spacing is under 8 px a side.
    static func networkProbabilities(working: FloatImage, workingSpacingMM: Double, network: NoduleHeatmapNetwork,
                                     width w: Int, height h: Int) -> [Float] {
        let factor = network.spacingMM / workingSpacingMM
        var input = factor > 1.0001 ? Resampling.areaAverage(working, factorX: factor, factorY: factor) : working
        guard input.width >= 8 && input.height >= 8 else { return [Float](repeating: 0, count: w * h) }
        input.withUnsafeMutableRows { row, _ in
            for i in row.indices { row[i] = min(max(row[i], 0), 1) }
        }
        let probability = network.probabilities(input)
        let sx = Double(probability.width) / Double(w), sy = Double(probability.height) / Double(h)
        return probability.values.withUnsafeBufferPointer { p in
            (0..<(w * h)).map { i in
                Float(LungField.bilinear(p, width: probability.width, height: probability.height,
                                         x: (Double(i % w) + 0.5) * sx - 0.5, y: (Double(i / w) + 0.5) * sy - 0.5))
            }
        }
    }

    /// The pixel classifier's features for the working image, on the mask grid, as the
    /// classifier sees them (what `nodules lung-features` writes for fitting).
    public static func pixelFeatures(working: FloatImage, workingSpacingMM: Double,
                                     parameters p: PipelineDefinition.LungFieldParameters) -> LungPixelFeatures {
        LungPixelFeatures(LungFieldGrid(working: working, workingSpacingMM: workingSpacingMM, parameters: p, exposedFieldBand: true))
    }

    /// Signed distance to the border at a point given in mask px (bilinear), mm.
    public func depthMM(x: Double, y: Double) -> Double {
        signedDistanceMM.withUnsafeBufferPointer { Self.bilinear($0, width: width, height: height, x: x, y: y) }
    }

    /// Whether a candidate may sit at pixel (gridX, gridY) of a grid whose pixel centres map to
    /// mask px as m = (g + ½)·scale − ½: within `marginMM` of the field (``depthMM(x:y:)`` ≥
    /// −margin) or in the search region (``inSearchRegion(x:y:)``). Asked per point: the maxima
    /// scan asks only at its in-level maxima, a few thousand of the working grid's few hundred
    /// thousand pixels.
    @inline(__always)
    public func allowsCandidate(gridX: Int, gridY: Int, scale: (x: Double, y: Double), marginMM: Double) -> Bool {
        let x = (Double(gridX) + 0.5) * scale.x - 0.5, y = (Double(gridY) + 0.5) * scale.y - 0.5
        return depthMM(x: x, y: y) >= -marginMM || inSearchRegion(x: x, y: y)
    }

    /// Whether the mask is set at a point given in mask px (nearest).
    public func contains(x: Double, y: Double) -> Bool {
        nearestIndex(x: x, y: y).map { mask[$0] != 0 } ?? false
    }

    /// Whether a point (mask px, nearest) lies in the search region.
    public func inSearchRegion(x: Double, y: Double) -> Bool {
        nearestIndex(x: x, y: y).map { searchRegion[$0] != 0 } ?? false
    }

    /// Index of the mask pixel nearest a point in mask px; `nil` off the grid.
    func nearestIndex(x: Double, y: Double) -> Int? {
        let ix = Int(x.rounded()), iy = Int(y.rounded())
        guard ix >= 0, iy >= 0, ix < width, iy < height else { return nil }
        return iy * width + ix
    }

    /// `values` (width × height) interpolated bilinearly at a point in grid px, clamped to the grid.
    @inline(__always)
    static func bilinear(_ values: UnsafeBufferPointer<Float>, width: Int, height: Int, x: Double, y: Double) -> Double {
        let cx = min(max(x, 0), Double(width - 1)), cy = min(max(y, 0), Double(height - 1))
        let x0 = Int(cx), y0 = Int(cy), x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let tx = Float(cx - Double(x0)), ty = Float(cy - Double(y0))
        let top = values[y0 * width + x0] * (1 - tx) + values[y0 * width + x1] * tx
        let bottom = values[y1 * width + x0] * (1 - tx) + values[y1 * width + x1] * tx
        return Double(top * (1 - ty) + bottom * ty)
    }

    /// Fraction of the mask area, 0–1.
    public var areaFraction: Double {
        Double(mask.reduce(0) { $0 + Int($1) }) / Double(max(1, mask.count))
    }

    /// The threshold method (pipelines before 0.6): candidate thresholds from the lower of
    /// the body's three-class Otsu thresholds (lung | soft tissue | dense) up to its
    /// two-class one; the highest that still gives separate lungs clear of the border wins,
    /// i.e. the most lung count, then the largest area. Then the apices are grown.
    static func thresholdSegmentation(_ grid: LungFieldGrid, parameters p: PipelineDefinition.LungFieldParameters,
                                      minimumArea: Double) -> (mask: [UInt8], count: Int) {
        let w = grid.width, h = grid.height, values = grid.image.values, body = grid.body
        let closing = p.closingRadiusMM / grid.spacingMM
        let bodyValues = (0..<(w * h)).filter { body[$0] }.map { values[$0] }
        let upper = bodyValues.count > 100 ? LungField.otsu(bodyValues) : grid.airThreshold
        let lower = bodyValues.count > 100 ? min(LungField.otsu3(bodyValues).lower, upper) : grid.airThreshold
        var best: (mask: [UInt8], count: Int) = (Array(repeating: 0, count: w * h), 0)
        var bestArea = 0
        for step in 0...5 {
            let threshold = lower + (upper - lower) * Float(step) / 5
            let found = LungField.segment(values, body: body, width: w, height: h, threshold: threshold,
                                          band: grid.band, minimumArea: minimumArea, closingRadius: closing)
            let area = found.mask.reduce(0) { $0 + Int($1) }
            if found.count > best.count || (found.count == best.count && area > bestArea) {
                best = found
                bestArea = area
            }
        }
        // Apices: overlying shoulder tissue and clavicles make the upper lung
        // brighter than the threshold. Grow each lung upward through body pixels
        // below the two-class threshold, within the lung's own column range and
        // at most 0.6 × its height above its top (a shape prior), then close again.
        if best.count > 0 {
            best.mask = LungField.growApices(best.mask, values: values, body: body, width: w, height: h,
                                             threshold: upper, closingRadius: closing)
        }
        return best
    }

    /// Per half of the grid (split at the middle column), the largest connected part of
    /// `lung`, closed by a disc of `closingRadius` px (reabsorbs clefts and nodules on
    /// the lung edge) with its holes filled, kept when it is large enough and shaped like a lung.
    static func largestPerSide(_ lung: [Bool], width w: Int, height h: Int, minimumArea: Double,
                               closingRadius: Double) -> (mask: [UInt8], count: Int) {
        var mask = [UInt8](repeating: 0, count: w * h)
        var count = 0
        for side in 0..<2 {
            let half = (0..<(w * h)).map { lung[$0] && (($0 % w < w / 2) == (side == 0)) }
            let (labels, parts) = Morphology.label(half, width: w, height: h)
            guard let largest = parts.max(by: { $0.area < $1.area }), Double(largest.area) >= minimumArea,
                  isPlausibleLung(largest, width: w, height: h) else { continue }
            let closed = Morphology.close((0..<(w * h)).map { labels[$0] == largest.label }, width: w, height: h, radius: closingRadius)
            let filled = Morphology.fillHoles(closed, width: w, height: h)
            for i in 0..<(w * h) where filled[i] { mask[i] = 1 }
            count += 1
        }
        return (mask, count)
    }

    static func segment(_ values: [Float], body: [Bool], width w: Int, height h: Int, threshold: Float, band: Int,
                        minimumArea: Double, closingRadius: Double) -> (mask: [UInt8], count: Int) {
        let dark = (0..<(w * h)).map { body[$0] && values[$0] < threshold }
        let (labels, components) = Morphology.label(dark, width: w, height: h)
        var sides: [[Bool]] = [Array(repeating: false, count: w * h), Array(repeating: false, count: w * h)]
        for c in components {
            guard c.minX >= band, c.maxX < w - band, c.maxY < h - band,
                  Double(c.area) >= 0.05 * minimumArea else { continue }
            // A component reaching well across the midline (lungs joined through a
            // dark mediastinum) is split there pixel by pixel; others go whole to
            // the side of their centroid.
            var leftArea = 0
            for i in 0..<(w * h) where labels[i] == c.label && i % w < w / 2 { leftArea += 1 }
            let straddles = leftArea >= c.area / 5 && c.area - leftArea >= c.area / 5
            let side = c.centroidX < Double(w) / 2 ? 0 : 1
            for i in 0..<(w * h) where labels[i] == c.label {
                sides[straddles ? (i % w < w / 2 ? 0 : 1) : side][i] = true
            }
        }
        var mask = [UInt8](repeating: 0, count: w * h)
        var count = 0
        for side in sides {
            guard side.contains(true) else { continue }
            var closed = Morphology.close(side, width: w, height: h, radius: closingRadius)
            closed = Morphology.fillHoles(closed, width: w, height: h)
            let (labels2, parts) = Morphology.label(closed, width: w, height: h)
            guard let largest = parts.max(by: { $0.area < $1.area }), Double(largest.area) >= minimumArea,
                  isPlausibleLung(largest, width: w, height: h) else { continue }
            for i in 0..<(w * h) where labels2[i] == largest.label { mask[i] = 1 }
            count += 1
        }
        return (mask, count)
    }

    static func growApices(_ mask: [UInt8], values: [Float], body: [Bool], width w: Int, height h: Int,
                           threshold: Float, closingRadius: Double) -> [UInt8] {
        let (labels, lungs) = Morphology.label(mask.map { $0 != 0 }, width: w, height: h)
        var out = mask
        for lung in lungs {
            let height = lung.maxY - lung.minY + 1
            let top = max(0, lung.minY - Int(0.6 * Double(height)))
            let x0 = lung.minX, x1 = lung.maxX
            var grown = (0..<(w * h)).map { labels[$0] == lung.label }
            var stack = (0..<(w * h)).filter { grown[$0] }
            while let i = stack.popLast() {
                let x = i % w, y = i / w
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                where nx >= x0 && nx <= x1 && ny >= top && ny <= lung.maxY {
                    let j = ny * w + nx
                    if !grown[j] && body[j] && values[j] < threshold { grown[j] = true; stack.append(j) }
                }
            }
            grown = Morphology.fillHoles(Morphology.close(grown, width: w, height: h, radius: closingRadius), width: w, height: h)
            for i in 0..<(w * h) where grown[i] { out[i] = 1 }
        }
        return out
    }

    /// Sets the two anatomical prior ellipses (centres at 29 % and 71 % of the width
    /// and 45 % of the height; semi-axes as fractions of width and height) in `mask`.
    static func markPriorEllipses(_ mask: inout [UInt8], width w: Int, height h: Int, halfWidth: Double, halfHeight: Double) {
        for y in 0..<h {
            let v = (Double(y) / Double(h) - 0.45) / halfHeight
            for x in 0..<w {
                for centre in [0.29, 0.71] {
                    let u = (Double(x) / Double(w) - centre) / halfWidth
                    if u * u + v * v <= 1 { mask[y * w + x] = 1 }
                }
            }
        }
    }

    /// Shape prior for one lung: centroid in the central 76 % of columns and
    /// between 20 % and 75 % of the rows, taller than 0.8 × its width, and at
    /// most 35 % of the image. Rejects the soft-tissue strips, arms and outside
    /// regions a threshold can pick up.
    static func isPlausibleLung(_ c: Morphology.Component, width w: Int, height h: Int) -> Bool {
        let boxWidth = Double(c.maxX - c.minX + 1), boxHeight = Double(c.maxY - c.minY + 1)
        return c.centroidX >= 0.12 * Double(w) && c.centroidX <= 0.88 * Double(w)
            && c.centroidY >= 0.2 * Double(h) && c.centroidY <= 0.75 * Double(h)
            && boxHeight >= 0.8 * boxWidth
            && Double(c.area) <= 0.35 * Double(w * h)
    }

    /// The two thresholds of three-class Otsu (maximum between-class variance) over 128 bins.
    static func otsu3(_ values: [Float]) -> (lower: Float, upper: Float) {
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return (values.first ?? 0, values.first ?? 0) }
        let bins = 128
        var histogram = [Double](repeating: 0, count: bins)
        let scale = Float(bins - 1) / (hi - lo)
        for v in values { histogram[Int((v - lo) * scale)] += 1 }
        var cumulativeCount = [Double](repeating: 0, count: bins + 1), cumulativeSum = cumulativeCount
        for i in 0..<bins {
            cumulativeCount[i + 1] = cumulativeCount[i] + histogram[i]
            cumulativeSum[i + 1] = cumulativeSum[i] + Double(i) * histogram[i]
        }
        func term(_ a: Int, _ b: Int) -> Double {  // classes are bins a..<b
            let n = cumulativeCount[b] - cumulativeCount[a]
            guard n > 0 else { return 0 }
            let s = cumulativeSum[b] - cumulativeSum[a]
            return s * s / n
        }
        var best = -1.0, bestPair = (1, 2)
        for i in 1..<(bins - 1) {
            for j in (i + 1)..<bins {
                let v = term(0, i) + term(i, j) + term(j, bins)
                if v > best { best = v; bestPair = (i, j) }
            }
        }
        return (lo + Float(bestPair.0) / scale, lo + Float(bestPair.1) / scale)
    }

    /// Otsu's threshold over 256 bins spanning the values' range.
    static func otsu(_ values: [Float]) -> Float {
        guard let lo = values.min(), let hi = values.max(), hi > lo else { return values.first ?? 0 }
        let bins = 256
        var histogram = [Double](repeating: 0, count: bins)
        let scale = Float(bins - 1) / (hi - lo)
        for v in values { histogram[Int((v - lo) * scale)] += 1 }
        let total = Double(values.count)
        var sumAll = 0.0
        for (i, n) in histogram.enumerated() { sumAll += Double(i) * n }
        var weightBelow = 0.0, sumBelow = 0.0, bestVariance = -1.0, bestBin = 0
        for (i, n) in histogram.enumerated() {
            weightBelow += n
            sumBelow += Double(i) * n
            let weightAbove = total - weightBelow
            guard weightBelow > 0, weightAbove > 0 else { continue }
            let meanBelow = sumBelow / weightBelow, meanAbove = (sumAll - sumBelow) / weightAbove
            let variance = weightBelow * weightAbove * (meanBelow - meanAbove) * (meanBelow - meanAbove)
            if variance > bestVariance { bestVariance = variance; bestBin = i }
        }
        return lo + (Float(bestBin) + 1) / scale
    }
}

/// The first steps of lung-field segmentation, shared by both methods: the working
/// image area-averaged to the mask spacing and smoothed, and outside air (dark
/// components reaching a band along the border) with each pixel's distance from it.
struct LungFieldGrid {
    let image: FloatImage
    let spacingMM: Double
    var width: Int { image.width }
    var height: Int { image.height }
    /// Border band, px: dark components reaching it are outside air.
    let band: Int
    /// The darkest mode's upper threshold (outside air below it).
    let airThreshold: Float
    /// Distance from outside air, mm.
    let fromAirMM: [Float]
    /// At least the chest-wall margin from outside air.
    let body: [Bool]

    /// `exposedFieldBand`: measure the border band from the exposed field (the classifier
    /// method) rather than from the image edge (the threshold method, unchanged).
    init(working: FloatImage, workingSpacingMM: Double, parameters p: PipelineDefinition.LungFieldParameters,
         exposedFieldBand: Bool) {
        let factor = max(1, p.maskSpacingMM / workingSpacingMM)
        var coarse = Resampling.areaAverage(working, factorX: factor, factorY: factor)
        let spacing = workingSpacingMM * Double(working.width) / Double(coarse.width)
        let sigma = p.smoothingMM / spacing
        if sigma > 0.3 {
            let g = GaussianKernel(sigma: sigma)
            coarse = SeparableConvolution(threads: 1).apply(coarse, terms: [SeparableTerm(horizontal: g, vertical: g)])
        }
        image = coarse
        spacingMM = spacing
        let w = coarse.width, h = coarse.height
        let values = coarse.values
        let band = max(1, Int((0.04 * Double(min(w, h))).rounded()))
        self.band = band
        // Outside air: pixels below the whole image's Otsu threshold that reach the
        // border band. Everything else is "body", and lungs are the dark part of it.
        // The darkest mode: Otsu splits the image, then Otsu again splits its dark
        // class (outside air from lung, which carries overlying tissue).
        let firstSplit = LungField.otsu(values)
        let darkClass = values.filter { $0 < firstSplit }
        let airThreshold = darkClass.count > 100 ? LungField.otsu(darkClass) : firstSplit
        self.airThreshold = airThreshold
        // Opened first (disc of `chestWall` radius), so a dark lung joined to the
        // outside air through a thin, blurred chest wall is not taken for air.
        let darkest = values.map { $0 < airThreshold }
        let opened = Morphology.open(darkest, width: w, height: h, radius: p.chestWallMM / spacing / 2)
        let (airLabels, airComponents) = Morphology.label(opened, width: w, height: h)
        // Measured from the exposed field, rows and columns that are uniformly bright
        // (collimated, unexposed) do not count as border, so air inside a collimation
        // edge is still outside air.
        let field = exposedFieldBand ? LungFieldGrid.exposedField(coarse) : (x0: 0, x1: w - 1, y0: 0, y1: h - 1)
        let outside = Set(airComponents.filter {
            $0.minX < field.x0 + band || $0.maxX > field.x1 - band || $0.maxY > field.y1 - band
                || $0.minY < field.y0 + band && $0.area > w * h / 50
        }.map(\.label))
        var air = [Bool](repeating: false, count: w * h)
        for i in 0..<(w * h) where outside.contains(airLabels[i]) { air[i] = true }
        // The blurred skin line between air and body is as dark as lung: keep a
        // chest-wall margin away from outside air so lungs do not leak into it.
        let wall = Float(p.chestWallMM / spacing)
        let fromAir = Morphology.distance(to: air, width: w, height: h)
        body = fromAir.map { $0 > wall }
        fromAirMM = fromAir.map { $0 * Float(spacing) }
    }

    /// Bounds of the exposed field: the outermost columns and rows that are not
    /// uniformly bright (median ≥ 0.9 and 10th–90th percentile spread ≤ 0.1 of the
    /// image's 1st–99th percentile range).
    static func exposedField(_ image: FloatImage) -> (x0: Int, x1: Int, y0: Int, y1: Int) {
        let w = image.width, h = image.height, v = image.values
        let lo = Selection.percentile(v, 1), hi = Selection.percentile(v, 99)
        let span = max(hi - lo, 1e-6)
        func exposed(_ line: [Float]) -> Bool {
            let n = line.map { ($0 - lo) / span }
            return Selection.median(n) < 0.9 || Selection.percentile(n, 90) - Selection.percentile(n, 10) > 0.1
        }
        let columns = (0..<w).filter { x in exposed((0..<h).map { v[$0 * w + x] }) }
        let rows = (0..<h).filter { y in exposed(Array(v[(y * w)..<(y * w + w)])) }
        guard let x0 = columns.first, let x1 = columns.last, let y0 = rows.first, let y1 = rows.last else {
            return (0, w - 1, 0, h - 1)
        }
        return (x0, x1, y0, y1)
    }
}

/// Binary morphology on small row-major grids.
enum Morphology {
    struct Component {
        var label: Int32
        var area: Int
        var centroidX: Double
        var centroidY: Double
        var touchesLeft = false, touchesRight = false, touchesTop = false, touchesBottom = false
        var minX = Int.max, maxX = Int.min, minY = Int.max, maxY = Int.min
    }

    /// 4-connected components of `set`; labels are 1-based (0 = background).
    static func label(_ set: [Bool], width w: Int, height h: Int) -> ([Int32], [Component]) {
        var labels = [Int32](repeating: 0, count: w * h)
        var components: [Component] = []
        var stack: [Int] = []
        for start in 0..<(w * h) where set[start] && labels[start] == 0 {
            let label = Int32(components.count + 1)
            var c = Component(label: label, area: 0, centroidX: 0, centroidY: 0)
            labels[start] = label
            stack.append(start)
            while let i = stack.popLast() {
                let x = i % w, y = i / w
                c.area += 1
                c.centroidX += Double(x)
                c.centroidY += Double(y)
                c.minX = min(c.minX, x); c.maxX = max(c.maxX, x)
                c.minY = min(c.minY, y); c.maxY = max(c.maxY, y)
                if x == 0 { c.touchesLeft = true }
                if x == w - 1 { c.touchesRight = true }
                if y == 0 { c.touchesTop = true }
                if y == h - 1 { c.touchesBottom = true }
                for (nx, ny) in [(x - 1, y), (x + 1, y), (x, y - 1), (x, y + 1)]
                where nx >= 0 && ny >= 0 && nx < w && ny < h {
                    let j = ny * w + nx
                    if set[j] && labels[j] == 0 { labels[j] = label; stack.append(j) }
                }
            }
            c.centroidX /= Double(c.area)
            c.centroidY /= Double(c.area)
            components.append(c)
        }
        return (labels, components)
    }

    /// Approximate Euclidean distance (chamfer 1, √2) from each pixel to the nearest `true` pixel, px.
    static func distance(to set: [Bool], width w: Int, height h: Int) -> [Float] {
        let big = Float(w + h) * 2
        var d = set.map { $0 ? Float(0) : big }
        let diagonal: Float = 1.41421356
        // Two raster passes over the buffer without bounds checks (this runs for every closing
        // and opening). Each row first takes the previous row's three neighbours (independent
        // per pixel, so it vectorises), then runs along the row; `min` is exact and order-free,
        // so this equals the one-pixel-at-a-time chamfer pass.
        d.withUnsafeMutableBufferPointer { d in
            let d = d.baseAddress!
            for y in 0..<h {
                let row = d + y * w
                if y > 0 {
                    let above = row - w
                    for x in 0..<w {
                        var v = min(row[x], above[x] + 1)
                        if x > 0 { v = min(v, above[x - 1] + diagonal) }
                        if x < w - 1 { v = min(v, above[x + 1] + diagonal) }
                        row[x] = v
                    }
                }
                for x in 1..<max(1, w) { row[x] = min(row[x], row[x - 1] + 1) }
            }
            for y in stride(from: h - 1, through: 0, by: -1) {
                let row = d + y * w
                if y < h - 1 {
                    let below = row + w
                    for x in 0..<w {
                        var v = min(row[x], below[x] + 1)
                        if x < w - 1 { v = min(v, below[x + 1] + diagonal) }
                        if x > 0 { v = min(v, below[x - 1] + diagonal) }
                        row[x] = v
                    }
                }
                for x in stride(from: w - 2, through: 0, by: -1) { row[x] = min(row[x], row[x + 1] + 1) }
            }
        }
        return d
    }

    /// Closing by a disc of `radius` px: dilation then erosion, via distance maps.
    static func close(_ set: [Bool], width w: Int, height h: Int, radius: Double) -> [Bool] {
        guard radius >= 0.5 else { return set }
        let r = Float(radius)
        let dilated = distance(to: set, width: w, height: h).map { $0 <= r }
        return distance(to: dilated.map { !$0 }, width: w, height: h).map { $0 > r }
    }

    /// Opening by a disc of `radius` px: erosion then dilation, via distance maps.
    static func open(_ set: [Bool], width w: Int, height h: Int, radius: Double) -> [Bool] {
        guard radius >= 0.5 else { return set }
        let r = Float(radius)
        let eroded = distance(to: set.map { !$0 }, width: w, height: h).map { $0 > r }
        return distance(to: eroded, width: w, height: h).map { $0 <= r }
    }

    /// Fills background regions not connected to the image border.
    static func fillHoles(_ set: [Bool], width w: Int, height h: Int) -> [Bool] {
        let (labels, components) = label(set.map { !$0 }, width: w, height: h)
        let enclosed = Set(components.filter { !($0.touchesLeft || $0.touchesRight || $0.touchesTop || $0.touchesBottom) }.map(\.label))
        return (0..<(w * h)).map { set[$0] || enclosed.contains(labels[$0]) }
    }
}
