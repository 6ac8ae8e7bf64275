import ScaleSpace

/// The lung fields of a radiograph as a binary mask on a coarse grid, with a
/// signed distance to its border. Classical and weight-free: smoothing, an
/// Otsu threshold, dark components that do not touch the lateral or lower
/// image border (outside air does), one lung per side of the midline,
/// morphological closing (reabsorbs rib gaps and nodules on the lung edge)
/// and hole filling. If a side finds no lung, the threshold is relaxed.
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
    /// Number of lungs found by segmentation (0, 1 or 2).
    public let lungCount: Int
    /// How the mask was made.
    public let source: Source

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
        let factor = max(1, p.maskSpacingMM / workingSpacingMM)
        var coarse = Resampling.areaAverage(working, factorX: factor, factorY: factor)
        let spacing = workingSpacingMM * Double(working.width) / Double(coarse.width)
        let sigma = p.smoothingMM / spacing
        if sigma > 0.3 {
            let g = GaussianKernel(sigma: sigma)
            coarse = SeparableConvolution(threads: 1).apply(coarse, terms: [SeparableTerm(horizontal: g, vertical: g)])
        }
        let w = coarse.width, h = coarse.height
        let values = coarse.values
        width = w
        height = h
        spacingMM = spacing

        let minimumArea = p.minimumLungAreaMM2 / (spacing * spacing)
        let closing = p.closingRadiusMM / spacing
        var threshold = LungField.otsu(values)
        var best: (mask: [UInt8], count: Int) = (Array(repeating: 0, count: w * h), 0)
        for _ in 0..<5 {
            let found = LungField.segment(values, width: w, height: h, threshold: threshold,
                                          minimumArea: minimumArea, closingRadius: closing)
            if found.count > best.count { best = found }
            if best.count == 2 { break }
            threshold *= 0.92  // relax toward darker: separates lungs from outside air
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
            for y in (h / 8)..<(h * 3 / 4) {
                for x in (w / 8)..<(w * 7 / 8) where abs(x - w / 2) > w / 20 { final[y * w + x] = 1 }
            }
            source = .prior
        }
        mask = final
        lungCount = best.count
        self.source = source
        let inside = Morphology.distance(to: final.map { $0 == 0 }, width: w, height: h)
        let outside = Morphology.distance(to: final.map { $0 != 0 }, width: w, height: h)
        signedDistanceMM = (0..<(w * h)).map { i in Float(spacing) * (final[i] != 0 ? inside[i] : -outside[i]) }
    }

    /// Signed distance to the border at a point given in mask px (bilinear), mm.
    public func depthMM(x: Double, y: Double) -> Double {
        let cx = min(max(x, 0), Double(width - 1)), cy = min(max(y, 0), Double(height - 1))
        let x0 = Int(cx), y0 = Int(cy), x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let tx = Float(cx - Double(x0)), ty = Float(cy - Double(y0))
        let d = signedDistanceMM
        let top = d[y0 * width + x0] * (1 - tx) + d[y0 * width + x1] * tx
        let bottom = d[y1 * width + x0] * (1 - tx) + d[y1 * width + x1] * tx
        return Double(top * (1 - ty) + bottom * ty)
    }

    /// Whether the mask is set at a point given in mask px (nearest).
    public func contains(x: Double, y: Double) -> Bool {
        let ix = Int(x.rounded()), iy = Int(y.rounded())
        guard ix >= 0, iy >= 0, ix < width, iy < height else { return false }
        return mask[iy * width + ix] != 0
    }

    /// Fraction of the mask area, 0–1.
    public var areaFraction: Double {
        Double(mask.reduce(0) { $0 + Int($1) }) / Double(max(1, mask.count))
    }

    static func segment(_ values: [Float], width w: Int, height h: Int, threshold: Float,
                        minimumArea: Double, closingRadius: Double) -> (mask: [UInt8], count: Int) {
        let dark = values.map { $0 < threshold }
        let (labels, components) = Morphology.label(dark, width: w, height: h)
        var sides: [[Bool]] = [Array(repeating: false, count: w * h), Array(repeating: false, count: w * h)]
        for c in components {
            guard !c.touchesLeft, !c.touchesRight, !c.touchesBottom,
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
            guard let largest = parts.max(by: { $0.area < $1.area }), Double(largest.area) >= minimumArea else { continue }
            for i in 0..<(w * h) where labels2[i] == largest.label { mask[i] = 1 }
            count += 1
        }
        return (mask, count)
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

/// Binary morphology on small row-major grids.
enum Morphology {
    struct Component {
        var label: Int32
        var area: Int
        var centroidX: Double
        var centroidY: Double
        var touchesLeft = false, touchesRight = false, touchesTop = false, touchesBottom = false
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
        for y in 0..<h {
            for x in 0..<w {
                var v = d[y * w + x]
                if x > 0 { v = min(v, d[y * w + x - 1] + 1) }
                if y > 0 {
                    v = min(v, d[(y - 1) * w + x] + 1)
                    if x > 0 { v = min(v, d[(y - 1) * w + x - 1] + diagonal) }
                    if x < w - 1 { v = min(v, d[(y - 1) * w + x + 1] + diagonal) }
                }
                d[y * w + x] = v
            }
        }
        for y in stride(from: h - 1, through: 0, by: -1) {
            for x in stride(from: w - 1, through: 0, by: -1) {
                var v = d[y * w + x]
                if x < w - 1 { v = min(v, d[y * w + x + 1] + 1) }
                if y < h - 1 {
                    v = min(v, d[(y + 1) * w + x] + 1)
                    if x < w - 1 { v = min(v, d[(y + 1) * w + x + 1] + diagonal) }
                    if x > 0 { v = min(v, d[(y + 1) * w + x - 1] + diagonal) }
                }
                d[y * w + x] = v
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

    /// Fills background regions not connected to the image border.
    static func fillHoles(_ set: [Bool], width w: Int, height h: Int) -> [Bool] {
        let (labels, components) = label(set.map { !$0 }, width: w, height: h)
        let enclosed = Set(components.filter { !($0.touchesLeft || $0.touchesRight || $0.touchesTop || $0.touchesBottom) }.map(\.label))
        return (0..<(w * h)).map { set[$0] || enclosed.contains(labels[$0]) }
    }
}
