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
    public init?(_ normalised: NormalisedRadiograph, network: NoduleHeatmapNetwork) {
        let factor = network.spacingMM / normalised.workingSpacingMM
        var input = factor > 1.0001
            ? Resampling.areaAverage(normalised.working, factorX: factor, factorY: factor)
            : normalised.working
        guard input.width >= Self.minimumSide && input.height >= Self.minimumSide else { return nil }
        input.withUnsafeMutableRows { row, _ in
            for i in row.indices { row[i] = min(max(row[i], 0), 1) }
        }
        probabilities = network.probabilities(input)
        spacingMM = max(network.spacingMM, normalised.workingSpacingMM)
        scale = (Double(normalised.inputWidth) / Double(input.width), Double(normalised.inputHeight) / Double(input.height))
    }

    /// A map as it stands (tests).
    init(probabilities: FloatImage, spacingMM: Double, scale: (x: Double, y: Double)) {
        self.probabilities = probabilities
        self.spacingMM = spacingMM
        self.scale = scale
    }

    /// The largest probability in the square of half-width `radius` (map px) around the
    /// input-pixel position (`x`, `y`); 0 when the square misses the map.
    public func peak(x: Double, y: Double, radius: Double) -> Double {
        let cx = (x + 0.5) / scale.x - 0.5, cy = (y + 0.5) / scale.y - 0.5
        let x0 = Int(max(0, cx - radius)), x1 = Int(min(Double(probabilities.width), cx + radius + 1))
        let y0 = Int(max(0, cy - radius)), y1 = Int(min(Double(probabilities.height), cy + radius + 1))
        guard x1 > x0, y1 > y0 else { return 0 }
        var best: Float = 0
        probabilities.withUnsafeStridedPointer { p, stride in
            for yy in y0..<y1 {
                for xx in x0..<x1 { best = max(best, p[yy * stride + xx]) }
            }
        }
        return Double(best)
    }
}
