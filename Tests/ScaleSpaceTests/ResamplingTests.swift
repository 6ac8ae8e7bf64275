import ScaleSpace
import Testing
import TestSupport

@Suite struct ResamplingTests {
    /// Averaging stored 16-bit samples directly gives bit-for-bit what converting them to a
    /// FloatImage (inverted or not) and averaging that gives, for random sizes and factors,
    /// with one worker or several.
    @Test func samplesAndFloatImagePathsAreIdentical() {
        var rng = SeededRandomNumberGenerator(seed: 20261125)
        for _ in 0..<12 {
            let width = Int.random(in: 7...90, using: &rng), height = Int.random(in: 7...90, using: &rng)
            let samples = (0..<(width * height)).map { _ in UInt16.random(in: 0...4095, using: &rng) }
            let factorX = Double.random(in: 1...4, using: &rng), factorY = Double.random(in: 1...4, using: &rng)
            for invert in [false, true] {
                let image = FloatImage(width: width, height: height) { x, y in
                    let v = Float(samples[y * width + x])
                    return invert ? 4095 - v : v
                }
                let expected = Resampling.areaAverage(image, factorX: factorX, factorY: factorY)
                let direct = samples.withUnsafeBufferPointer {
                    Resampling.areaAverage($0, width: width, height: height, invert: invert, maximum: 4095,
                                           factorX: factorX, factorY: factorY)
                }
                #expect(direct.isBitwiseIdentical(to: expected))
                #expect(direct.width == max(1, Int((Double(width) / factorX).rounded())))
                // Output rows shared among workers in bands: the same image for any count.
                for threads in [2, 3, 8] {
                    #expect(Resampling.areaAverage(image, factorX: factorX, factorY: factorY, threads: threads)
                        .isBitwiseIdentical(to: expected), "\(threads) threads, Float path")
                    let shared = samples.withUnsafeBufferPointer {
                        Resampling.areaAverage($0, width: width, height: height, invert: invert, maximum: 4095,
                                               factorX: factorX, factorY: factorY, threads: threads)
                    }
                    #expect(shared.isBitwiseIdentical(to: expected), "\(threads) threads, 16-bit path")
                }
            }
        }
    }

    /// Each output pixel is the area-weighted mean of the input pixels its footprint covers
    /// ([i·f, (i+1)·f) along each axis), against an exact double-precision integral, for
    /// random sizes and non-integer factors (footprints of varying tap counts).
    @Test func areaAverageIsTheFootprintMean() {
        var rng = SeededRandomNumberGenerator(seed: 20261204)
        for _ in 0..<10 {
            let width = Int.random(in: 5...70, using: &rng), height = Int.random(in: 5...70, using: &rng)
            let image = FloatImage(width: width, height: height) { _, _ in Float.random(in: 0...1000, using: &rng) }
            let factorX = Double.random(in: 1...3.7, using: &rng), factorY = Double.random(in: 1...3.7, using: &rng)
            let out = Resampling.areaAverage(image, factorX: factorX, factorY: factorY)
            let fx = Double(width) / Double(out.width), fy = Double(height) / Double(out.height)
            func overlap(_ i: Int, _ j: Int, _ f: Double, _ n: Int) -> Double {
                max(0, min(Double(j + 1), min(Double(n), Double(i + 1) * f)) - max(Double(j), Double(i) * f))
            }
            var worst = 0.0
            for oy in 0..<out.height {
                for ox in 0..<out.width {
                    var sum = 0.0, area = 0.0
                    for y in 0..<height {
                        let wy = overlap(oy, y, fy, height)
                        guard wy > 0 else { continue }
                        for x in 0..<width {
                            let wx = overlap(ox, x, fx, width)
                            sum += wx * wy * Double(image[x, y])
                            area += wx * wy
                        }
                    }
                    worst = max(worst, abs(Double(out[ox, oy]) - sum / area))
                }
            }
            #expect(worst < 1e-3, "\(width)×\(height) by \(factorX)×\(factorY): worst error \(worst)")
        }
    }

    /// The area mean preserves a constant image and the mean of a 2× block.
    @Test func areaMeansOfKnownImages() {
        let samples: [UInt16] = [0, 4, 8, 12, 2, 6, 10, 14]  // 4 × 2
        let out = samples.withUnsafeBufferPointer {
            Resampling.areaAverage($0, width: 4, height: 2, invert: false, maximum: 15, factorX: 2, factorY: 2)
        }
        #expect(out.width == 2 && out.height == 1)
        #expect(abs(out[0, 0] - 3) < 1e-6 && abs(out[1, 0] - 11) < 1e-6)
    }
}
