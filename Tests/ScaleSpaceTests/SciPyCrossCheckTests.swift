import Foundation
import ScaleSpace
import Testing
import TestSupport

/// Agreement with scipy.ndimage on the committed fixtures (see Fixtures/README.md).
@Suite struct SciPyCrossCheckTests {
    static func load(_ name: String) throws -> FloatImage {
        let a = try NPYFile.loadFloat32(Fixtures.path(name))
        return FloatImage(width: a.shape[1], height: a.shape[0], values: a.values)
    }

    /// Max relative error over pixels at least `margin` px from every border,
    /// with a floor at 1e-3 of the reference's largest magnitude.
    static func interiorError(_ got: FloatImage, _ want: FloatImage, margin: Int) -> Float {
        let scale = want.values.map(abs).max() ?? 1
        var worst: Float = 0
        for y in margin..<(want.height - margin) {
            for x in margin..<(want.width - margin) {
                worst = max(worst, abs(got[x, y] - want[x, y]) / max(abs(want[x, y]), scale * 1e-3))
            }
        }
        return worst
    }

    static let cases: [(input: String, sigma: Double)] = ["a", "b"].flatMap { i in [1.0, 2.5, 4.0].map { (i, $0) } }

    @Test(arguments: ConvolutionEngine.allCases, cases.map { "\($0.input) \($0.sigma)" })
    func gaussianAndLoGMatchSciPy(engine: ConvolutionEngine, _ label: String) throws {
        let parts = label.split(separator: " ")
        let input = String(parts[0]), sigma = Double(parts[1])!
        let image = try Self.load("input-\(input).npy")
        let space = ScaleSpace(sigmas: [sigma], threads: 2, engine: engine)
        let margin = Int(4 * sigma + 0.5)
        let gaussian = try Self.load("\(input)-gaussian-s\(sigma).npy")
        #expect(Self.interiorError(space.filter(image, .gaussian, sigma: sigma), gaussian, margin: margin) <= 1e-3)
        let log = try Self.load("\(input)-log-s\(sigma).npy")
        #expect(Self.interiorError(space.filter(image, .log, sigma: sigma), log, margin: margin) <= 1e-3)
        // Both use reflect borders, so the whole image agrees too.
        #expect(Self.interiorError(space.filter(image, .gaussian, sigma: sigma), gaussian, margin: 0) <= 1e-3)
    }

    @Test(arguments: ConvolutionEngine.allCases, ["a", "b"])
    func derivativesAndDoGMatchSciPy(engine: ConvolutionEngine, _ input: String) throws {
        let image = try Self.load("input-\(input).npy")
        let space = ScaleSpace(sigmas: [2.5], threads: 2, engine: engine, dogRatio: 1.6)
        for (oy, ox) in [(0, 1), (1, 0), (0, 2), (2, 0), (1, 1)] {
            let want = try Self.load("\(input)-d-s2.5-o\(oy)\(ox).npy")
            let got = space.derivative(image, sigma: 2.5, orderX: ox, orderY: oy)
            #expect(Self.interiorError(got, want, margin: 10) <= 1e-3, "\(engine) order y\(oy) x\(ox)")
        }
        // SciPy's fixture is G(1.6σ) − G(σ); ours divides by (k − 1).
        let dog = try Self.load("\(input)-dog-s2.5-k1.6.npy")
        let got = space.filter(image, .dog, sigma: 2.5)
        let scaled = FloatImage(width: got.width, height: got.height) { x, y in got[x, y] * 0.6 }
        #expect(Self.interiorError(scaled, dog, margin: 16) <= 1e-3)
    }

    @Test func hessianDeterminantIsPositiveOnABlobAndNegativeOnARidge() {
        let blob = FloatImage(width: 81, height: 81) { x, y in
            let d2 = Float((x - 40) * (x - 40) + (y - 40) * (y - 40))
            return 100 * exp(-d2 / (2 * 36))
        }
        let ridge = FloatImage(width: 81, height: 81) { x, _ in 100 * exp(-Float((x - 40) * (x - 40)) / (2 * 9)) }
        let space = ScaleSpace(sigmas: [6])
        #expect(space.filter(blob, .hessianDeterminant, sigma: 6)[40, 40] > 0)
        // On the ridge only the truncated kernel's small DC leak (≈ 2e-3) remains.
        #expect(abs(space.filter(ridge, .hessianDeterminant, sigma: 6)[40, 40]) < 1e-2 * space.filter(blob, .hessianDeterminant, sigma: 6)[40, 40])
        let (small, large) = space.hessian(ridge, sigma: 6).eigenvalues
        #expect(small[40, 40] < 0 && abs(large[40, 40]) < 1e-2 * abs(small[40, 40]))
    }

    @Test func normalisedLoGPeaksNearSigmaEqualsRadiusOverRootTwo() {
        // A uniform disc of radius 14 px: the σ²-normalised LoG extremum is at σ ≈ r/√2 ≈ 9.9 px.
        let disc = FloatImage(width: 121, height: 121) { x, y in (x - 60) * (x - 60) + (y - 60) * (y - 60) <= 196 ? 100 : 0 }
        let sigmas = ScaleSpace.geometricSigmas(from: 4, to: 20, count: 25)
        let space = ScaleSpace(sigmas: sigmas)
        let responses = space.stack(disc, filter: .log).map { -$0.response[60, 60] }
        let best = sigmas[responses.indices.max { responses[$0] < responses[$1] }!]
        #expect(abs(best - 14 / 2.0.squareRoot()) < 1.0, "peak at σ=\(best)")
    }

    @Test func geometricSigmasSpanTheRange() {
        let s = ScaleSpace.geometricSigmas(from: 2, to: 24, count: 10)
        #expect(s.count == 10 && s.first == 2 && s.last == 24)
        for i in 1..<9 { #expect(Tolerance.approximatelyEqual(s[i] / s[i - 1], s[i + 1] / s[i], relative: 1e-12)) }
    }
}
