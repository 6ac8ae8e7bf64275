import ScaleSpace
import Testing
import TestSupport

@Suite struct ResamplingTests {
    /// Averaging stored 16-bit samples directly gives bit-for-bit what converting them to a
    /// FloatImage (inverted or not) and averaging that gives, for random sizes and factors.
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
            }
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
