import ScaleSpace
import Testing
import TestSupport

/// Both filter engines against the scalar reference on random images, sizes and σ.
@Suite struct ConvolutionPropertyTests {
    static func randomImage(_ rng: inout SeededRandomNumberGenerator, width: Int, height: Int) -> FloatImage {
        FloatImage(width: width, height: height) { _, _ in Float.random(in: 0...1000, using: &rng) }
    }

    /// Normwise relative error, max|got − want| / max|want|: elementwise ratios
    /// are meaningless at a derivative's zero crossings.
    static func relativeError(_ got: [Float], _ want: [Float]) -> Float {
        Tolerance.normwiseRelativeError(got, want)
    }

    @Test(arguments: ConvolutionEngine.allCases, [UInt64(1), 2, 3, 4, 5, 6, 7, 8])
    func gaussianDerivativesMatchScalarReference(engine: ConvolutionEngine, seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let width = Int.random(in: 5...140, using: &rng), height = Int.random(in: 5...140, using: &rng)
        let image = Self.randomImage(&rng, width: width, height: height)
        let sigma = Double.random(in: 0.6...12, using: &rng)
        let ox = Int.random(in: 0...2, using: &rng), oy = Int.random(in: 0...2, using: &rng)
        let term = SeparableTerm(horizontal: GaussianKernel(sigma: sigma, order: ox), vertical: GaussianKernel(sigma: sigma, order: oy))
        let got = SeparableConvolution(threads: 2, engine: engine).apply(image, terms: [term]).values
        let want = ScalarReference.apply(image, terms: [term])
        let error = Self.relativeError(got, want)
        #expect(error <= 1e-4, "\(engine) seed \(seed): \(width)×\(height) σ=\(sigma) order (\(ox),\(oy)) error \(error)")
    }

    @Test(arguments: ConvolutionEngine.allCases, [UInt64(11), 12, 13, 14])
    func multiTermFiltersMatchScalarReference(engine: ConvolutionEngine, seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let width = Int.random(in: 20...200, using: &rng), height = Int.random(in: 20...200, using: &rng)
        let image = Self.randomImage(&rng, width: width, height: height)
        let sigma = Double.random(in: 1...9, using: &rng)
        let space = ScaleSpace(sigmas: [sigma], threads: 2, engine: engine, dogRatio: 1.6)
        let s2 = Float(sigma * sigma)
        let log = ScalarReference.apply(image, terms: [
            SeparableTerm(horizontal: GaussianKernel(sigma: sigma, order: 2), vertical: GaussianKernel(sigma: sigma), weight: s2),
            SeparableTerm(horizontal: GaussianKernel(sigma: sigma), vertical: GaussianKernel(sigma: sigma, order: 2), weight: s2),
        ])
        #expect(Self.relativeError(space.filter(image, .log, sigma: sigma).values, log) <= 1e-4)
        let g1 = GaussianKernel(sigma: sigma), g2 = GaussianKernel(sigma: sigma * 1.6)
        let dog = ScalarReference.apply(image, terms: [
            SeparableTerm(horizontal: g2, vertical: g2, weight: Float(1 / 0.6)),
            SeparableTerm(horizontal: g1, vertical: g1, weight: -Float(1 / 0.6)),
        ])
        #expect(Self.relativeError(space.filter(image, .dog, sigma: sigma).values, dog) <= 1e-4)
    }

    /// Wide enough for several column tiles (interior tiles read rows in place,
    /// border tiles gather reflected columns) and tall enough for several strips.
    @Test(arguments: ConvolutionEngine.allCases, [UInt64(21), 22, 23])
    func tiledImagesMatchScalarReference(engine: ConvolutionEngine, seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let width = Int.random(in: 1030...1300, using: &rng), height = Int.random(in: 270...420, using: &rng)
        let image = Self.randomImage(&rng, width: width, height: height)
        let sigma = Double.random(in: 1.5...6, using: &rng)
        let terms = [
            SeparableTerm(horizontal: GaussianKernel(sigma: sigma, order: 2), vertical: GaussianKernel(sigma: sigma), weight: 3),
            SeparableTerm(horizontal: GaussianKernel(sigma: sigma, order: 1), vertical: GaussianKernel(sigma: sigma, order: 1), weight: -2),
            SeparableTerm(horizontal: GaussianKernel(sigma: 0.7 * sigma), vertical: GaussianKernel(sigma: 1.3 * sigma, order: 2)),
        ]
        let got = SeparableConvolution(threads: 2, engine: engine).apply(image, terms: terms).values
        let error = Self.relativeError(got, ScalarReference.apply(image, terms: terms))
        #expect(error <= 1e-4, "\(engine) seed \(seed): \(width)×\(height) σ=\(sigma) error \(error)")
    }

    @Test(arguments: ConvolutionEngine.allCases)
    func kernelsLargerThanTheImageReflectRepeatedly(engine: ConvolutionEngine) {
        var rng = SeededRandomNumberGenerator(seed: 99)
        let image = Self.randomImage(&rng, width: 7, height: 5)
        let g = GaussianKernel(sigma: 6)  // radius 24 ≫ 7
        let term = SeparableTerm(horizontal: g, vertical: g)
        let error = Self.relativeError(SeparableConvolution(threads: 1, engine: engine).apply(image, terms: [term]).values,
                                       ScalarReference.apply(image, terms: [term]))
        #expect(error <= 1e-4)
    }

    @Test(arguments: ConvolutionEngine.allCases)
    func resultsAreBitwiseIdenticalOnOneAndManyThreads(engine: ConvolutionEngine) {
        var rng = SeededRandomNumberGenerator(seed: 2026)
        let image = Self.randomImage(&rng, width: 700, height: 530)
        for filter in ScaleSpaceFilter.allCases {
            let one = ScaleSpace(sigmas: [1.5, 6, 17], threads: 1, engine: engine).stack(image, filter: filter)
            let many = ScaleSpace(sigmas: [1.5, 6, 17], threads: 4, engine: engine).stack(image, filter: filter)
            for (a, b) in zip(one, many) {
                #expect(a.response.isBitwiseIdentical(to: b.response), "\(engine) \(filter) σ=\(a.sigma)")
            }
        }
    }

    @Test func gaussianPreservesTheMeanOfAConstantImage() {
        let image = FloatImage(width: 64, height: 40) { _, _ in 321.5 }
        let out = ScaleSpace(sigmas: [5]).filter(image, .gaussian, sigma: 5)
        #expect(out.values.allSatisfy { abs($0 - 321.5) < 321.5 * 1e-5 })
        // The 4σ-truncated second-derivative kernel (as SciPy's) leaks about
        // 2·1.1e-3 of a constant through σ²∇²; nothing more.
        let log = ScaleSpace(sigmas: [5]).filter(image, .log, sigma: 5)
        #expect(log.values.allSatisfy { abs($0) < 321.5 * 3e-3 })
    }

    /// The engines differ only in float rounding (both sum the same taps over the same reflected samples).
    @Test func enginesAgree() {
        var rng = SeededRandomNumberGenerator(seed: 31)
        let image = Self.randomImage(&rng, width: 600, height: 333)
        for filter in ScaleSpaceFilter.allCases {
            let direct = ScaleSpace(sigmas: [1.2, 4, 11], threads: 2, engine: .direct).stack(image, filter: filter)
            let blas = ScaleSpace(sigmas: [1.2, 4, 11], threads: 2, engine: .blas).stack(image, filter: filter)
            for (a, b) in zip(direct, blas) {
                let error = Self.relativeError(b.response.values, a.response.values)
                #expect(error <= 1e-4, "\(filter) σ=\(a.sigma) error \(error)")
            }
        }
    }
}
