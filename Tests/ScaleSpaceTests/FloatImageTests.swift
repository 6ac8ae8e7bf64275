import Foundation
import ScaleSpace
import Testing
import TestSupport

@Suite struct FloatImageTests {
    @Test func stridesArePaddedAwayFromPowersOfTwo() {
        #expect(FloatImage(width: 2048, height: 2).rowStride == 2064)
        #expect(FloatImage(width: 37, height: 2).rowStride == 48)
    }

    @Test func viewsShareStorageUntilWrittenThenCopy() {
        var base = FloatImage(width: 10, height: 8) { x, y in Float(y * 10 + x) }
        var view = base.view(x: 2, y: 3, width: 4, height: 2)
        #expect(view[0, 0] == 32 && view[3, 1] == 45)
        view[0, 0] = -1
        #expect(base[2, 3] == 32, "writing a view must not change the original")
        base[9, 7] = 5
        #expect(view[0, 0] == -1)
    }

    @Test func downsamplingHalvesAndKeepsTheMean() {
        var rng = SeededRandomNumberGenerator(seed: 5)
        let image = FloatImage(width: 200, height: 120) { _, _ in Float.random(in: 0...10, using: &rng) }
        let half = Resampling.downsample(image, factor: 2)
        #expect(half.width == 100 && half.height == 60)
        let mean = { (i: FloatImage) in i.values.reduce(0, +) / Float(i.values.count) }
        #expect(abs(mean(half) - mean(image)) < 0.05)
        let pyramid = Resampling.octavePyramid(image, minimumSide: 16)
        #expect(pyramid.map(\.width) == [200, 100, 50])
        let spaced = Resampling.toSpacing(image, spacing: 0.175, targetSpacing: 0.7)
        #expect(spaced.width == 50 && spaced.height == 30)
    }

    @Test func downsamplingKeepsABlobCentred() {
        let image = FloatImage(width: 400, height: 400) { x, y in
            let d2 = Float((x - 150) * (x - 150) + (y - 250) * (y - 250))
            return Float(exp(Double(-d2 / 800)))
        }
        let small = Resampling.downsample(image, factor: 4)
        var best = (0, 0), value: Float = -1
        for y in 0..<small.height { for x in 0..<small.width where small[x, y] > value { value = small[x, y]; best = (x, y) } }
        // Centre 150 px → (150 + 0.5)/4 − 0.5 = 37.1.
        #expect(best.0 == 37 && best.1 == 62)
    }

    /// The octave pyramid's convention, the pyramid scale space's: level o's pixel x sits at
    /// full-resolution 2^o·x, and holds the image blurred by b_o = √(1.25²·(4^o − 1)/3) px.
    /// Measured on a Gaussian blob (σ = 6 px at (150.3, 249.6)) by its centroid and variance.
    @Test func theOctavePyramidSamplesFromTheOriginAndAddsTheDocumentedBlur() {
        let s0 = 6.0, cx = 150.3, cy = 249.6
        let image = FloatImage(width: 401, height: 380) { x, y in
            let d2 = (Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)
            return Float(exp(-d2 / (2 * s0 * s0)))
        }
        let pyramid = Resampling.octavePyramid(image, minimumSide: 40)
        #expect(pyramid.map(\.width) == [401, 201, 101, 51] && pyramid.map(\.height) == [380, 190, 95, 48])
        for (o, level) in pyramid.enumerated() {
            var m0 = 0.0, mx = 0.0, my = 0.0, mxx = 0.0
            for y in 0..<level.height {
                for x in 0..<level.width {
                    let v = Double(level[x, y])
                    m0 += v; mx += v * Double(x); my += v * Double(y); mxx += v * Double(x) * Double(x)
                }
            }
            let f = Double(1 << o)
            let x = mx / m0, y = my / m0, variance = mxx / m0 - x * x
            let blur2 = 1.25 * 1.25 * (f * f - 1) / 3
            #expect(abs(x * f - cx) < 0.02 && abs(y * f - cy) < 0.02, "level \(o): centre (\(x * f), \(y * f)) full-res px")
            #expect(abs(variance * f * f - (s0 * s0 + blur2)) < 0.02 * (s0 * s0 + blur2), "level \(o): variance \(variance * f * f)")
        }
    }
}

@Suite struct BLASThreadPolicyTests {
    /// Filtering no longer calls BLAS (direct SIMD correlation); the sgemm-rate
    /// measurement the benchmark's compute floor uses is the remaining BLAS user.
    @Test func openBLASRunsSingleThreadedOnceAnSGEMMRuns() {
        _ = SGEMMRate.measure(size: 64, threads: 1)
        #expect(BLASThreadPolicy.current == 1)
    }
}
