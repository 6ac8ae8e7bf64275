import Foundation
@testable import SerialTracking
import Testing
import TestSupport

@Suite struct GrowthTests {
    @Test func schwartzHandComputed() {
        // 10 → 12.6 mm over 100 days: 100·ln2/(3·ln1.26) = 100·0.693147/(3·0.231112) = 99.97 d.
        #expect(abs(GrowthEstimate.doublingTimeDays(intervalDays: 100, diameter1MM: 10, diameter2MM: 12.6) - 99.9727) < 1e-3)
        // 8 → 10 mm over 180 days: 180·0.693147/(3·0.223144) = 186.37 d.
        #expect(abs(GrowthEstimate.doublingTimeDays(intervalDays: 180, diameter1MM: 8, diameter2MM: 10) - 186.375) < 1e-2)
        #expect(GrowthEstimate.doublingTimeDays(intervalDays: 90, diameter1MM: 10, diameter2MM: 10) == .infinity)
        #expect(GrowthEstimate.doublingTimeDays(intervalDays: 90, diameter1MM: 10, diameter2MM: 8) < 0)
    }

    @Test func twoExamEstimateMatchesSchwartzAndItsInterval() throws {
        let g = try #require(GrowthEstimate(points: [GrowthPoint(days: 0, diameterMM: 10, sigmaMM: 0.3),
                                                      GrowthPoint(days: 200, diameterMM: 14, sigmaMM: 0.3)]))
        let want = GrowthEstimate.doublingTimeDays(intervalDays: 200, diameter1MM: 10, diameter2MM: 14)
        #expect(g.status == .growing)
        #expect(Tolerance.approximatelyEqual(try #require(g.doublingTimeDays), want, relative: 1e-12))
        // σ_k = √((0.09)² + (0.3·3/14)²)/200; bounds = ln2/(k ± 1.96σ_k).
        let k = 3 * log(1.4) / 200, sk = ((0.9 / 10) * (0.9 / 10) + (0.9 / 14) * (0.9 / 14)).squareRoot() / 200
        guard case let .growing(lo, hi) = g.doublingTimeCI95 else { Issue.record("\(g.doublingTimeCI95)"); return }
        #expect(Tolerance.approximatelyEqual(lo, log(2) / (k + 1.959963984540054 * sk), relative: 1e-9))
        #expect(Tolerance.approximatelyEqual(hi, log(2) / (k - 1.959963984540054 * sk), relative: 1e-9))
        #expect(lo < want && want < hi)
    }

    @Test func exactExponentialGrowthIsRecoveredFromManyExams() throws {
        for truth in [45.0, 120, 400, 900] {
            let points = [0.0, 60, 150, 240, 330].map { t in
                GrowthPoint(days: t, diameterMM: 8 * pow(2, t / (3 * truth)), sigmaMM: 0.5)
            }
            let g = try #require(GrowthEstimate(points: points))
            #expect(Tolerance.approximatelyEqual(g.fragileDoublingTimeDays, truth, relative: 1e-9), "VDT \(truth)")
            #expect(g.doublingTimeCI95.contains(truth))
        }
    }

    @Test func changeWithinErrorGivesNoVDT() throws {
        // 8.0 → 8.6 mm: +24% volume (below 25%) → stable, no VDT.
        let small = try #require(GrowthEstimate(points: [GrowthPoint(days: 0, diameterMM: 8, sigmaMM: 0.2),
                                                          GrowthPoint(days: 90, diameterMM: 8.6, sigmaMM: 0.2)]))
        #expect(small.status == .stable && small.doublingTimeDays == nil)
        // 8 → 9 mm (+42%) but σ_D = 1 mm: beyond 25% yet within error → indeterminate, no VDT, interval unbounded.
        let noisy = try #require(GrowthEstimate(points: [GrowthPoint(days: 0, diameterMM: 8, sigmaMM: 1),
                                                          GrowthPoint(days: 90, diameterMM: 9, sigmaMM: 1)]))
        #expect(noisy.status == .indeterminate && noisy.doublingTimeDays == nil)
        guard case let .unbounded(g, s) = noisy.doublingTimeCI95 else { Issue.record("\(noisy.doublingTimeCI95)"); return }
        #expect(g != nil && s != nil)
        #expect(noisy.doublingTimeCI95.contains(.infinity) && noisy.doublingTimeCI95.contains(-500))
        #expect(noisy.doublingTimeCI95.bounds.upper == nil)
        // Same-day exams: indeterminate.
        let sameDay = try #require(GrowthEstimate(points: [GrowthPoint(days: 5, diameterMM: 8, sigmaMM: 0.2),
                                                            GrowthPoint(days: 5, diameterMM: 12, sigmaMM: 0.2)]))
        #expect(sameDay.status == .indeterminate)
        #expect(GrowthEstimate(points: [GrowthPoint(days: 0, diameterMM: 8, sigmaMM: 1)]) == nil)
    }

    @Test func shrinkingIsAHalvingTime() throws {
        let g = try #require(GrowthEstimate(points: [GrowthPoint(days: 0, diameterMM: 15, sigmaMM: 0.3),
                                                      GrowthPoint(days: 120, diameterMM: 10, sigmaMM: 0.3)]))
        #expect(g.status == .shrinking)
        #expect(try #require(g.doublingTimeDays) < 0)
        guard case let .shrinking(lo, hi) = g.doublingTimeCI95 else { Issue.record("\(g.doublingTimeCI95)"); return }
        #expect(lo < hi && hi < 0)
    }

    static func gaussian(_ rng: inout SeededRandomNumberGenerator) -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    /// Monte Carlo: with diameter noise σ_D, the 95% interval covers the true VDT
    /// about 95% of the time (binomial σ over 2000 trials ≈ 0.5%; accept 93–97.5%,
    /// a little wider above for the conservative χ² inflation with ≥ 3 exams).
    @Test(arguments: [(2, UInt64(101)), (3, 102), (5, 103)])
    func intervalCoverage(exams: Int, seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let trials = 2000
        var covered = 0
        for _ in 0..<trials {
            let truth = Double.random(in: 60...400, using: &rng)
            let d0 = Double.random(in: 8...20, using: &rng)
            let sigma = Double.random(in: 0.2...0.6, using: &rng)
            let times = (0..<exams).map { Double($0) * Double.random(in: 60...240, using: &rng) }
            let points = times.map { t in
                GrowthPoint(days: t, diameterMM: d0 * pow(2, t / (3 * truth)) + sigma * Self.gaussian(&rng), sigmaMM: sigma)
            }
            if let g = GrowthEstimate(points: points), g.doublingTimeCI95.contains(truth) { covered += 1 }
        }
        let coverage = Double(covered) / Double(trials)
        #expect(coverage >= 0.93 && coverage <= 0.975, "\(exams) exams: coverage \(coverage)")
    }

    @Test func uncertaintyModel() {
        let m = DiameterUncertaintyModel()
        #expect(m.sigmaMM(fitSigmaMM: nil, pixelSpacingMM: nil) == 1.0)
        #expect(abs(m.sigmaMM(fitSigmaMM: 0.3, pixelSpacingMM: 0.4) - 0.5) < 1e-12)
        #expect(m.sigmaMM(fitSigmaMM: 0.01, pixelSpacingMM: nil) == 0.2)  // floor
    }
}
