import RadiographIO
import ScaleSpace

/// A radiograph brought to one convention: float intensities with nodules
/// bright (MONOCHROME2), robustly scaled so the body's lower/upper
/// percentiles map to 0 and 1, at two resolutions:
/// a *measurement* image (fine, for sizing) and a *working* image (coarse, for
/// detection). Coordinates map back to the input as
/// x_in = (x + ½)·scaleX − ½, where scale is input px per image px.
public struct NormalisedRadiograph: Sendable {
    /// Fine image for measurement, and its spacing (mm/px, isotropic).
    public var measurement: FloatImage
    public var measurementSpacingMM: Double
    /// Coarse image for detection, and its spacing (mm/px, isotropic).
    public var working: FloatImage
    public var workingSpacingMM: Double
    /// Input pixel spacing used (row, column), mm/px.
    public var inputSpacingMM: (row: Double, column: Double)
    /// `true` when the pipeline's assumed spacing was used: the input stated none, or one the
    /// pipeline rejects as implausible (`rejectedExtentMM`).
    public var spacingAssumed: Bool
    /// Width and height, mm, that the input's rejected spacing gave it (nil: not rejected).
    public var rejectedExtentMM: [Double]?
    /// Input width and height, px.
    public var inputWidth: Int
    public var inputHeight: Int
    /// Normalisation anchors in stored sample units (after polarity).
    public var lowerAnchor: Float
    public var upperAnchor: Float

    /// The measurement image lightly smoothed (Gaussian, σ = 1 px): what the
    /// sizing rays read (one pass serves every candidate).
    public func smoothedMeasurement(threads: Int = 1) -> FloatImage {
        let unit = GaussianKernel(sigma: 1)
        return SeparableConvolution(threads: threads).apply(measurement, terms: [SeparableTerm(horizontal: unit, vertical: unit)])
    }

    /// `threads` Dispatch workers share the resampling; the result is the same for any count.
    public init(_ radiograph: Radiograph, parameters p: PipelineDefinition.Normalisation,
                measureSpacingMM: Double, threads: Int = 1) {
        let inUse = p.spacingInUse(statedRowMM: radiograph.pixelSpacing?.row, statedColumnMM: radiograph.pixelSpacing?.column,
                                   width: radiograph.width, height: radiograph.height)
        spacingAssumed = inUse.isAssumed
        rejectedExtentMM = inUse.rejectedExtentMM
        let rowSpacing = inUse.rowMM
        let columnSpacing = inUse.columnMM
        inputSpacingMM = (rowSpacing, columnSpacing)
        inputWidth = radiograph.width
        inputHeight = radiograph.height

        // Polarity: MONOCHROME1 stores dense as low, so flip to nodules-bright.
        let maximum = Float(radiograph.maximumStoredValue)
        let invert = radiograph.photometric == .monochrome1
        // Fine image: no finer than the input, isotropic at max(input, requested),
        // averaged straight from the stored samples (no full-size float copy).
        let fine = max(measureSpacingMM, rowSpacing, columnSpacing)
        measurement = radiograph.samples.withUnsafeBufferPointer { s in
            Resampling.areaAverage(s, width: radiograph.width, height: radiograph.height, invert: invert, maximum: maximum,
                                   factorX: fine / columnSpacing, factorY: fine / rowSpacing, threads: threads)
        }
        measurementSpacingMM = fine
        let coarse = max(p.workingSpacingMM, fine)
        working = coarse / fine > 1.0001
            ? Resampling.areaAverage(measurement, factorX: coarse / fine, factorY: coarse / fine, threads: threads)
            : measurement
        workingSpacingMM = coarse

        // Robust anchors from the central 80 % of the working image (always body
        // on a chest radiograph), so collimation and outside air do not count.
        let (lo, hi) = NormalisedRadiograph.percentiles(working, lower: p.lowerPercentile, upper: p.upperPercentile)
        lowerAnchor = lo
        upperAnchor = hi
        let scale = 1 / max(hi - lo, 1e-6)
        for image in [\NormalisedRadiograph.measurement, \NormalisedRadiograph.working] {
            self[keyPath: image].withUnsafeMutableRows { row, _ in
                for i in row.indices { row[i] = (row[i] - lo) * scale }
            }
        }
    }

    /// Input px per measurement px, along x and y.
    public var measurementScale: (x: Double, y: Double) {
        (Double(inputWidth) / Double(measurement.width), Double(inputHeight) / Double(measurement.height))
    }

    /// A position in px of the measurement image as input px (pixel centres align).
    public func inputPosition(measurementX x: Double, y: Double) -> (x: Double, y: Double) {
        let scale = measurementScale
        return ((x + 0.5) * scale.x - 0.5, (y + 0.5) * scale.y - 0.5)
    }

    /// A position in input px as px of the measurement image (pixel centres align).
    public func measurementPosition(inputX x: Double, y: Double) -> (x: Double, y: Double) {
        let scale = measurementScale
        return ((x + 0.5) / scale.x - 0.5, (y + 0.5) / scale.y - 0.5)
    }

    /// Input px per working px, along x and y.
    public var workingScale: (x: Double, y: Double) {
        (Double(inputWidth) / Double(working.width), Double(inputHeight) / Double(working.height))
    }

    /// Percentiles (0–100) of the central 80 % of `image` (every pixel up to
    /// 250 000 samples, a regular subsample beyond), by selection.
    static func percentiles(_ image: FloatImage, lower: Double, upper: Double) -> (Float, Float) {
        let x0 = image.width / 10, x1 = max(x0 + 1, image.width - image.width / 10)
        let y0 = image.height / 10, y1 = max(y0 + 1, image.height - image.height / 10)
        let step = max(1, Int((Double((x1 - x0) * (y1 - y0)) / 250_000).squareRoot().rounded(.up)))
        var values: [Float] = []
        values.reserveCapacity(((x1 - x0) / step + 1) * ((y1 - y0) / step + 1))
        image.withUnsafeStridedPointer { p, rowStride in
            for y in stride(from: y0, to: y1, by: step) {
                for x in stride(from: x0, to: x1, by: step) { values.append(p[y * rowStride + x]) }
            }
        }
        func at(_ q: Double) -> Float {
            let i = Int((q / 100 * Double(values.count - 1)).rounded())
            return Selection.kth(&values, min(max(i, 0), values.count - 1))
        }
        return (at(lower), at(upper))
    }
}
