import CScaleSpaceKernels
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where each σ of a scale space is computed.
public enum ScaleResolution: Sendable, Equatable {
    /// Every σ at full resolution, exactly (SciPy-equivalent kernels).
    case exact
    /// Each σ at the coarsest octave of a Gaussian pyramid on which the
    /// remaining blur is still at least `minimumLevelSigma` px, then
    /// interpolated back to full resolution (Lanczos-3). Octave o holds the
    /// image blurred by b_o (√(1.25²·(4^o − 1)/3) full-resolution px, exactly
    /// Gaussian) and sampled every 2^o px, so the filter applied there is
    /// G(√(σ² − b_o²)/2^o). Accuracy against `.exact` is tested and reported.
    case pyramid(minimumLevelSigma: Double = 3)
}

/// A Gaussian octave pyramid built lazily for the pyramid resolution mode.
struct GaussianOctaves {
    /// Blur added before each halving, in the finer level's px. Aliasing at
    /// the finer level's Nyquist frequency is exp(−1.25²π²/2) ≈ 4.5e-4.
    static let halvingSigma = 1.25

    private(set) var levels: [FloatImage]
    let convolution: SeparableConvolution

    init(_ image: FloatImage, convolution: SeparableConvolution) {
        levels = [image]
        self.convolution = convolution
    }

    /// Accumulated blur of octave `o`, full-resolution px.
    static func blur(octave o: Int) -> Double {
        (halvingSigma * halvingSigma * (pow4(o) - 1) / 3).squareRoot()
    }

    static func pow4(_ o: Int) -> Double { Double(1 << (2 * o)) }

    /// The coarsest octave at which σ (full-resolution px) leaves at least `minimum` px of blur to apply.
    static func octave(for sigma: Double, minimumLevelSigma minimum: Double, maximumOctave: Int) -> Int {
        var best = 0
        var o = 1
        while o <= maximumOctave {
            let remaining = (sigma * sigma - blur(octave: o) * blur(octave: o)).squareRoot() / Double(1 << o)
            if !(remaining >= minimum) { break }
            best = o
            o += 1
        }
        return best
    }

    /// Octave `o`, computing coarser levels as needed.
    mutating func level(_ o: Int) -> FloatImage {
        while levels.count <= o {
            levels.append(Self.halve(levels.last!, convolution: convolution))
        }
        return levels[o]
    }

    /// Gaussian blur (σ = 1.25 px), then every second sample from (0, 0).
    static func halve(_ image: FloatImage, convolution: SeparableConvolution) -> FloatImage {
        let g = GaussianKernel(sigma: halvingSigma)
        let blurred = convolution.apply(image, terms: [SeparableTerm(horizontal: g, vertical: g)])
        let w = (image.width + 1) / 2, h = (image.height + 1) / 2
        var out = FloatImage(width: w, height: h)
        blurred.withUnsafeStridedPointer { src, stride in
            out.withUnsafeMutableRows { row, y in
                let line = src + 2 * y * stride
                for x in 0..<w { row[x] = line[2 * x] }
            }
        }
        return out
    }

    /// Interpolates an octave-`o` image back to `width × height` full-resolution px
    /// (full-resolution x ↔ level x / 2^o) with a separable Lanczos-3 kernel
    /// (6 taps, weights normalised to sum 1), reflected borders. Catmull-Rom was
    /// tried first and attenuated LoG responses by about 1 % at σ ≈ 4 level px.
    ///
    /// Writes every value of `out`. The factor is an integer, so there are only
    /// 2^o weight sets (phases), and the two passes are fused: output rows are
    /// cut into fixed bands; per band, each worker interpolates the few level
    /// rows the band needs to full width into its own buffer (in cache), then
    /// sums six of them per output row. The full-width intermediate image of a
    /// two-pass scheme (8 MB at octave 1 for 2048²) is never written, so the
    /// output is the only memory traffic. Results do not depend on the band a
    /// row falls in or on the thread count.
    static func upsample(_ level: FloatImage, octave o: Int, into out: inout FloatImage, threads: Int) {
        precondition(o > 0)
        let factor = 1 << o
        let width = out.width, height = out.height, lw = level.width, lh = level.height
        precondition((width + factor - 1) / factor <= lw && (height + factor - 1) / factor <= lh)
        let phases = InterpolationTaps.phaseWeights(factor: factor)
        let band = 64
        let bands = (height + band - 1) / band
        let levelRowsPerBand = (band - 1) / factor + 7
        let wideStride = FloatImage.paddedStride(width)
        // Per worker: the band's wide rows, one reflected level row (3 px margins), the transpose scratch.
        let scratchFloats = levelRowsPerBand * wideStride + (lw + 6 + 10) + 16 * factor
        let columns = (-3..<(lw + 3)).map { ReflectBorder.index($0, count: lw) }
        phases.withUnsafeBufferPointer { weights in
            level.withUnsafeStridedPointer { src, srcStride in
                out.withUnsafeMutableStridedPointer { dst, dstStride in
                    let source = UnsafeSendablePointer(UnsafeMutablePointer(mutating: src)), destination = UnsafeSendablePointer(dst)
                    let weight = UnsafeSendablePointer(UnsafeMutablePointer(mutating: weights.baseAddress!))
                    withScratchPerWorker(bands, workers: threads, floats: scratchFloats) { b, scratch in
                        let y0 = b * band, y1 = min(height, y0 + band)
                        let first = y0 / factor - 2, last = (y1 - 1) / factor + 3
                        let line = scratch + levelRowsPerBand * wideStride
                        let transpose = line + lw + 6 + 10
                        for j in first...last {
                            let row = source.pointer + ReflectBorder.index(j, count: lh) * srcStride
                            for (m, x) in columns.enumerated() { line[m] = row[x] }
                            cxr_ss_upsample_row(line + 3, Int32(factor), weight.pointer, scratch + (j - first) * wideStride,
                                                Int32(width), transpose)
                        }
                        for y in y0..<y1 {
                            cxr_ss_combine_rows(Int32(InterpolationTaps.taps), scratch + (y / factor - 2 - first) * wideStride, wideStride,
                                                weight.pointer + (y % factor) * InterpolationTaps.taps,
                                                destination.pointer + y * dstStride, Int32(width))
                        }
                    }
                }
            }
        }
    }
}

/// Lanczos-3 weights (normalised) and reflected source indices for each output position.
struct InterpolationTaps {
    static let taps = 6
    var index: [Int]
    var weight: [Float]

    init(count: Int, scale: Double, source n: Int) {
        index = []
        weight = []
        index.reserveCapacity(count * Self.taps)
        weight.reserveCapacity(count * Self.taps)
        for x in 0..<count {
            let u = Double(x) * scale
            let i = Int(u.rounded(.down))
            var w = [Double](repeating: 0, count: Self.taps)
            for k in 0..<Self.taps {
                let d = u - Double(i - 2 + k)
                w[k] = Self.lanczos3(d)
                index.append(ReflectBorder.index(i - 2 + k, count: n))
            }
            let sum = w.reduce(0, +)
            weight.append(contentsOf: w.map { Float($0 / sum) })
        }
    }

    /// The weights of the `factor` phases, phase p (output x ≡ p mod factor,
    /// level position ⌊x/factor⌋ + p/factor) at `6p ..< 6p + 6`, for level
    /// samples ⌊x/factor⌋ − 2 … ⌊x/factor⌋ + 3.
    static func phaseWeights(factor: Int) -> [Float] {
        InterpolationTaps(count: factor, scale: 1 / Double(factor), source: factor + 6).weight
    }

    static func lanczos3(_ x: Double) -> Double {
        if x == 0 { return 1 }
        if abs(x) >= 3 { return 0 }
        let px = Double.pi * x
        return 3 * sin(px) * sin(px / 3) / (px * px)
    }
}
