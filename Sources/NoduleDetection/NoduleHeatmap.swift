import ScaleSpace

/// A radiograph's nodule probability map from a ``NoduleHeatmapNetwork``, and how
/// it scores a candidate: the map's largest value near the candidate's centre.
///
/// The network's input is the normalised working image (body 1st–99th percentile → 0–1)
/// area-averaged to the network's spacing and clipped to 0–1, as it was trained
/// (`Benchmarks/analysis/fcn_probe.py`).
public struct NoduleHeatmap: Sendable {
    /// Probability 0–1 per map pixel, at ``spacingMM``.
    public let probabilities: FloatImage
    /// The map's pixel spacing, mm/px (the network's, or the working image's when that is coarser).
    public let spacingMM: Double
    /// Input px per map px, along x and y.
    public let scale: (x: Double, y: Double)

    /// The smallest map side the network accepts, px (three 2 × 2 poolings).
    public static let minimumSide = 8

    /// nil when the image at the network's spacing is narrower than ``minimumSide`` px.
    /// `threads` Dispatch workers share the network's work; the map is the same for any count.
    public init?(_ normalised: NormalisedRadiograph, network: NoduleHeatmapNetwork, threads: Int = 1) {
        let factor = network.spacingMM / normalised.workingSpacingMM
        var input = factor > 1.0001
            ? Resampling.areaAverage(normalised.working, factorX: factor, factorY: factor)
            : normalised.working
        guard input.width >= Self.minimumSide && input.height >= Self.minimumSide else { return nil }
        input.withUnsafeMutableRows { row, _ in
            for i in row.indices { row[i] = min(max(row[i], 0), 1) }
        }
        probabilities = network.probabilities(input, threads: threads)
        spacingMM = max(network.spacingMM, normalised.workingSpacingMM)
        scale = (Double(normalised.inputWidth) / Double(input.width), Double(normalised.inputHeight) / Double(input.height))
    }

    /// A map as it stands (tests).
    init(probabilities: FloatImage, spacingMM: Double, scale: (x: Double, y: Double)) {
        self.probabilities = probabilities
        self.spacingMM = spacingMM
        self.scale = scale
    }

    /// The map's peak near a reported candidate: ``peakLocation(x:y:radius:)`` in the square of
    /// half-width `windowFraction` × its reported radius, at least `minimumWindowPx` map px
    /// (``PipelineDefinition/Heatmap``'s window).
    public func peakLocation(near candidate: NoduleCandidate, windowFraction: Double,
                             minimumWindowPx: Double) -> (value: Double, x: Int, y: Int)? {
        peakLocation(x: candidate.x, y: candidate.y,
                     radius: max(minimumWindowPx, windowFraction * candidate.diameterPx / 2 / scale.x))
    }

    /// The largest probability in the square of half-width `radius` (map px) around the
    /// input-pixel position (`x`, `y`), and where it lies (map px; the first in row order
    /// among equals); nil when the square misses the map.
    public func peakLocation(x: Double, y: Double, radius: Double) -> (value: Double, x: Int, y: Int)? {
        let cx = (x + 0.5) / scale.x - 0.5, cy = (y + 0.5) / scale.y - 0.5
        let x0 = Int(max(0, cx - radius)), x1 = Int(min(Double(probabilities.width), cx + radius + 1))
        let y0 = Int(max(0, cy - radius)), y1 = Int(min(Double(probabilities.height), cy + radius + 1))
        guard x1 > x0, y1 > y0 else { return nil }
        var best: Float = -1, bx = x0, by = y0
        probabilities.withUnsafeStridedPointer { p, stride in
            for yy in y0..<y1 {
                for xx in x0..<x1 where p[yy * stride + xx] > best {
                    best = p[yy * stride + xx]
                    bx = xx
                    by = yy
                }
            }
        }
        return (Double(max(best, 0)), bx, by)
    }

    /// Equivalent-circle diameter, map px, of the map blob at (`x`, `y`) (map px): the 4-connected
    /// region where the map exceeds half its value there, searched within `maximumRadius` map px.
    public func blobDiameter(x: Int, y: Int, maximumRadius: Int) -> Double {
        let w = probabilities.width, h = probabilities.height
        guard x >= 0, x < w, y >= 0, y < h else { return 0 }
        let x0 = max(0, x - maximumRadius), x1 = min(w - 1, x + maximumRadius)
        let y0 = max(0, y - maximumRadius), y1 = min(h - 1, y + maximumRadius)
        let bw = x1 - x0 + 1
        var seen = [Bool](repeating: false, count: bw * (y1 - y0 + 1))
        var area = 0
        probabilities.withUnsafeStridedPointer { p, stride in
            let threshold = p[y * stride + x] / 2
            var stack = [(x, y)]
            seen[(y - y0) * bw + (x - x0)] = true
            while let (cx, cy) = stack.popLast() {
                area += 1
                for (nx, ny) in [(cx - 1, cy), (cx + 1, cy), (cx, cy - 1), (cx, cy + 1)]
                where nx >= x0 && nx <= x1 && ny >= y0 && ny <= y1 {
                    let i = (ny - y0) * bw + (nx - x0)
                    if !seen[i] && p[ny * stride + nx] > threshold {
                        seen[i] = true
                        stack.append((nx, ny))
                    }
                }
            }
        }
        return 2 * (Double(area) / Double.pi).squareRoot()
    }
}
