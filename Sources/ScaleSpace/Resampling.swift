#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Anti-aliased downsampling to a coarser pixel spacing, and octave pyramids.
public enum Resampling {
    /// Resamples by `factor` (> 1 shrinks): Gaussian anti-aliasing with
    /// σ = ½·√(factor² − 1) px (the blur that turns a unit-σ sampling kernel
    /// into one `factor` wide), then bilinear interpolation at the new pixel
    /// centres. Pixel centres map as x_in = (x_out + ½)·factor − ½, so the
    /// image's physical extent is preserved.
    public static func downsample(_ image: FloatImage, factor: Double,
                                  convolution: SeparableConvolution = SeparableConvolution()) -> FloatImage {
        precondition(factor >= 1 && factor.isFinite, "factor must be ≥ 1")
        let w = max(1, Int((Double(image.width) / factor).rounded()))
        let h = max(1, Int((Double(image.height) / factor).rounded()))
        let fx = Double(image.width) / Double(w), fy = Double(image.height) / Double(h)
        var smoothed = image
        let sigma = 0.5 * (factor * factor - 1).squareRoot()
        if sigma > 0.2 {
            let g = GaussianKernel(sigma: sigma)
            smoothed = convolution.apply(image, terms: [SeparableTerm(horizontal: g, vertical: g)])
        }
        var out = FloatImage(width: w, height: h)
        smoothed.withUnsafeStridedPointer { src, stride in
            out.withUnsafeMutableRows { row, y in
                let sy = min(max((Double(y) + 0.5) * fy - 0.5, 0), Double(image.height - 1))
                let y0 = Int(sy), y1 = min(y0 + 1, image.height - 1)
                let ty = Float(sy - Double(y0))
                for x in 0..<w {
                    let sx = min(max((Double(x) + 0.5) * fx - 0.5, 0), Double(image.width - 1))
                    let x0 = Int(sx), x1 = min(x0 + 1, image.width - 1)
                    let tx = Float(sx - Double(x0))
                    let top = src[y0 * stride + x0] * (1 - tx) + src[y0 * stride + x1] * tx
                    let bottom = src[y1 * stride + x0] * (1 - tx) + src[y1 * stride + x1] * tx
                    row[x] = top * (1 - ty) + bottom * ty
                }
            }
        }
        return out
    }

    /// Resamples from `spacing` to `targetSpacing` (both mm/px). Never upsamples.
    public static func toSpacing(_ image: FloatImage, spacing: Double, targetSpacing: Double,
                                 convolution: SeparableConvolution = SeparableConvolution()) -> FloatImage {
        precondition(spacing > 0 && targetSpacing > 0)
        let factor = targetSpacing / spacing
        return factor <= 1.0001 ? image : downsample(image, factor: factor, convolution: convolution)
    }

    /// An octave pyramid, the one the pyramid scale space (``ScaleResolution/pyramid(minimumLevelSigma:)``)
    /// computes its larger σ on: level 0 is `image`; each next level is the previous one
    /// blurred by a Gaussian of σ = 1.25 px and sampled every second px from (0, 0), so
    /// level o holds the image blurred by √(1.25²·(4^o − 1)/3) full-resolution px and its
    /// pixel x (y) sits at full-resolution pixel 2^o·x (2^o·y); sides are ⌈side / 2⌉.
    /// Stops before a side drops below `minimumSide` px.
    public static func octavePyramid(_ image: FloatImage, minimumSide: Int = 16,
                                     convolution: SeparableConvolution = SeparableConvolution()) -> [FloatImage] {
        var octaves = GaussianOctaves(image, convolution: convolution)
        var o = 0
        while (min(octaves.levels[o].width, octaves.levels[o].height) + 1) / 2 >= minimumSide {
            o += 1
            _ = octaves.level(o)
        }
        return octaves.levels
    }
}

extension Resampling {
    /// Area-averaging decimation by independent factors along x and y (≥ 1):
    /// each output pixel is the exact area-weighted mean of the input pixels its
    /// footprint covers, so pixel centres map as x_in = (x_out + ½)·factorX − ½.
    /// One horizontal and one vertical pass; no ringing, no negative weights.
    /// `threads` Dispatch workers share the output rows; the result is the same for any count.
    public static func areaAverage(_ image: FloatImage, factorX: Double, factorY: Double, threads: Int = 1) -> FloatImage {
        image.withUnsafeStridedPointer { src, stride in
            let source = SendableRows(base: UnsafeRawPointer(src))
            return areaAverage(width: image.width, height: image.height, factorX: factorX, factorY: factorY,
                               threads: threads) { y, _ in source.base.assumingMemoryBound(to: Float.self) + y * stride }
        }
    }

    /// The size, px, ``areaAverage(_:factorX:factorY:threads:)`` makes of a `width` × `height` image:
    /// each side divided by its factor and rounded, at least 1.
    public static func areaAverageSize(width: Int, height: Int, factorX: Double, factorY: Double) -> (width: Int, height: Int) {
        (max(1, Int((Double(width) / factorX).rounded())), max(1, Int((Double(height) / factorY).rounded())))
    }

    /// ``areaAverage(_:factorX:factorY:threads:)`` of 16-bit samples (row-major, `width` × `height`),
    /// each read as `Float(v)`, or `maximum − Float(v)` when `invert` — the same values and
    /// arithmetic as converting to a ``FloatImage`` first, without the full-size float copy.
    public static func areaAverage(_ samples: UnsafeBufferPointer<UInt16>, width: Int, height: Int, invert: Bool, maximum: Float,
                                   factorX: Double, factorY: Double, threads: Int = 1) -> FloatImage {
        precondition(samples.count == width * height, "samples must hold width × height values")
        let source = SendableRows(base: UnsafeRawPointer(samples.baseAddress!))
        return areaAverage(width: width, height: height, factorX: factorX, factorY: factorY, threads: threads) { y, scratch in
            let row = source.base.assumingMemoryBound(to: UInt16.self) + y * width
            for x in 0..<width { scratch[x] = invert ? maximum - Float(row[x]) : Float(row[x]) }
            return UnsafePointer(scratch.baseAddress!)
        }
    }

    /// The source's base address, read (never written) by the workers that share the output rows.
    private struct SendableRows: @unchecked Sendable {
        // @unchecked: the source is only read, and outlives the call that shares the work.
        let base: UnsafeRawPointer
    }

    /// The two passes over rows handed out by `row(y, scratch)` (a pointer to `width` floats,
    /// either into the source or into `scratch`, a `width`-float buffer it may fill), the output
    /// rows shared in bands among `threads` workers.
    private static func areaAverage(width: Int, height: Int, factorX: Double, factorY: Double, threads: Int,
                                    row: @Sendable (Int, UnsafeMutableBufferPointer<Float>) -> UnsafePointer<Float>) -> FloatImage {
        precondition(factorX >= 1 && factorY >= 1 && factorX.isFinite && factorY.isFinite, "factors must be ≥ 1")
        let (w, h) = areaAverageSize(width: width, height: height, factorX: factorX, factorY: factorY)
        let fx = Double(width) / Double(w), fy = Double(height) / Double(h)
        let columns = Footprints(outputs: w, inputs: width, factor: fx)
        let rows = Footprints(outputs: h, inputs: height, factor: fy)
        // Row by row: each input row is averaged horizontally once, into `line`, and added
        // (weighted) into the output rows whose footprint covers it, in input-row order, so
        // every sum is the same as from a whole w × height horizontal pass, without that image.
        // Footprints are contiguous and nondecreasing, so an input row shared by two output
        // rows is the last of one and the first of the next: one cached line serves both
        // (within a band; a band's first row computes its line afresh, to the same values).
        let span = columns.span
        var out = FloatImage(width: w, height: h)
        // About four bands of whole rows per worker (the last band may be shorter).
        let wanted = min(h, max(1, threads) * 4)
        let rowsPerBand = (h + wanted - 1) / wanted, bands = (h + rowsPerBand - 1) / rowsPerBand
        out.withUnsafeMutableStridedPointer { dst, dstStride in
            let destination = UnsafeSendablePointer(dst)
            withScratchPerWorker(bands, workers: threads, floats: width + w) { band, buffer in
                let scratch = UnsafeMutableBufferPointer(start: buffer, count: width)
                let line = buffer + width
                var lineRow = -1
                columns.first.withUnsafeBufferPointer { first in
                    columns.count.withUnsafeBufferPointer { count in
                        columns.taps.withUnsafeBufferPointer { taps in
                            func average(_ y: Int) {
                                let source = row(y, scratch)
                                for x in 0..<w {
                                    let s = source + first[x], t = taps.baseAddress! + x * span
                                    var sum: Float = 0
                                    // Spelled out for the usual 1–3 taps (the same sums in the same order).
                                    switch count[x] {
                                    case 1: sum += s[0] * t[0]
                                    case 2: sum += s[0] * t[0]; sum += s[1] * t[1]
                                    case 3: sum += s[0] * t[0]; sum += s[1] * t[1]; sum += s[2] * t[2]
                                    default: for k in 0..<count[x] { sum += s[k] * t[k] }
                                    }
                                    line[x] = sum
                                }
                                lineRow = y
                            }
                            for yOut in (band * rowsPerBand)..<min(h, (band + 1) * rowsPerBand) {
                                let out = destination.pointer + yOut * dstStride
                                for k in 0..<rows.count[yOut] {
                                    let y = rows.first[yOut] + k
                                    if y != lineRow { average(y) }
                                    let weight = rows.taps[yOut * rows.span + k]
                                    for x in 0..<w { out[x] += line[x] * weight }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    /// For each output pixel i, the input pixels it covers ([i·f, (i+1)·f) in edge coordinates)
    /// and their area weights, normalised to sum 1, stored flat: output i reads
    /// `taps[i·span ..< i·span + count[i]]` from input `first[i]` on.
    private struct Footprints {
        var first: [Int] = [], count: [Int] = []
        var taps: [Float] = []
        var span = 1

        init(outputs: Int, inputs: Int, factor: Double) {
            let weights = (0..<outputs).map { i -> [Float] in
                let a = Double(i) * factor, b = min(Double(inputs), Double(i + 1) * factor)
                let first = Int(a.rounded(.down)), last = min(inputs - 1, Int((b - 1e-9).rounded(.down)))
                self.first.append(first)
                return (first...max(first, last)).map { j in
                    Float(max(0, min(b, Double(j + 1)) - max(a, Double(j))) / (b - a))
                }
            }
            span = weights.map(\.count).max() ?? 1
            taps = [Float](repeating: 0, count: outputs * span)
            for (i, w) in weights.enumerated() {
                count.append(w.count)
                for (k, weight) in w.enumerated() { taps[i * span + k] = weight }
            }
        }
    }
}
