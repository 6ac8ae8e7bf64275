@testable import SerialTracking
import Testing
import TestSupport

@Suite struct HungarianTests {
    /// Exhaustive search over partial injective assignments: most allowed pairs, then least cost.
    static func bruteForce(_ cost: [[Double]]) -> (cost: Double, pairs: Int) {
        let n = cost.count, m = cost.first?.count ?? 0
        var best = (cost: Double.infinity, pairs: -1)
        var used = [Bool](repeating: false, count: m)
        func go(_ i: Int, _ c: Double, _ k: Int) {
            if i == n {
                if k > best.pairs || (k == best.pairs && c < best.cost) { best = (c, k) }
                return
            }
            go(i + 1, c, k)
            for j in 0..<m where !used[j] && cost[i][j].isFinite {
                used[j] = true
                go(i + 1, c + cost[i][j], k + 1)
                used[j] = false
            }
        }
        go(0, 0, 0)
        return best
    }

    @Test(arguments: 1...12)
    func matchesBruteForceOnRandomMatrices(seed: Int) {
        var rng = SeededRandomNumberGenerator(seed: UInt64(seed))
        for _ in 0..<40 {
            let n = Int.random(in: 1...6, using: &rng), m = Int.random(in: 1...6, using: &rng)
            let forbidden = Double.random(in: 0...0.5, using: &rng)
            let cost = (0..<n).map { _ in
                (0..<m).map { _ in Double.random(in: 0...1, using: &rng) < forbidden ? Double.infinity : Double.random(in: -5...20, using: &rng) }
            }
            let got = HungarianAssignment.solve(cost)
            // A valid partial injection using allowed pairs only.
            let columns = got.compactMap { $0 }
            #expect(Set(columns).count == columns.count, "seed \(seed): column used twice in \(got)")
            #expect(got.enumerated().allSatisfy { i, j in j.map { cost[i][$0].isFinite } ?? true })
            let total = HungarianAssignment.total(cost, got), want = Self.bruteForce(cost)
            #expect(total.pairs == want.pairs, "seed \(seed): \(cost) → \(got)")
            #expect(abs(total.cost - want.cost) <= 1e-9 * max(1, abs(want.cost)), "seed \(seed): cost \(total.cost) vs \(want.cost) for \(cost)")
        }
    }

    @Test func greedyWouldBeWrong() {
        // Greedy takes (0,0) = 1 first and is forced into (1,1) = 10: total 11. Optimal is 2 + 3 = 5.
        let cost: [[Double]] = [[1, 2], [3, 10]]
        #expect(HungarianAssignment.solve(cost) == [1, 0])
    }

    @Test func emptyAndDegenerate() {
        #expect(HungarianAssignment.solve([]) == [])
        #expect(HungarianAssignment.solve([[], []]) == [nil, nil])
        #expect(HungarianAssignment.solve([[.infinity]]) == [nil])
        #expect(HungarianAssignment.solve([[3], [1], [2]]) == [nil, 0, nil])
    }
}

@Suite struct NoduleMatcherTests {
    let matcher = NoduleMatcher()

    @Test func gates() {
        let a = MatchCandidate(xMM: 100, yMM: 100, diameterMM: 8)
        #expect(matcher.gateMM(a, a) == 10)
        #expect(matcher.cost(a, MatchCandidate(xMM: 109, yMM: 100, diameterMM: 8)) != nil)
        #expect(matcher.cost(a, MatchCandidate(xMM: 111, yMM: 100, diameterMM: 8)) == nil)
        // A 24 mm nodule may move 18 mm.
        let big = MatchCandidate(xMM: 100, yMM: 100, diameterMM: 24)
        #expect(matcher.gateMM(big, big) == 18)
        #expect(matcher.cost(big, MatchCandidate(xMM: 117, yMM: 100, diameterMM: 24)) != nil)
        // Size plausibility: 8 → 21 mm (ratio 2.6) is rejected even at the same place.
        #expect(matcher.cost(a, MatchCandidate(xMM: 100, yMM: 100, diameterMM: 21)) == nil)
        #expect(matcher.cost(a, MatchCandidate(xMM: 100, yMM: 100, diameterMM: 19)) != nil)
    }

    @Test func ambiguousPairIsResolvedGlobally() {
        // Two nodules 9 mm apart; both moved 6 mm right. Nearest-neighbour from the
        // first prior grabs the second current (4 mm away, vs 6): wrong for both.
        let prior = [MatchCandidate(xMM: 100, yMM: 100, diameterMM: 10), MatchCandidate(xMM: 109, yMM: 100, diameterMM: 10)]
        let current = [MatchCandidate(xMM: 106, yMM: 100, diameterMM: 10), MatchCandidate(xMM: 115, yMM: 100, diameterMM: 10)]
        #expect(matcher.match(prior: prior, current: current) == [0, 1])
    }

    @Test func sizeBreaksADistanceTie() {
        let prior = [MatchCandidate(xMM: 100, yMM: 100, diameterMM: 6), MatchCandidate(xMM: 100, yMM: 110, diameterMM: 14)]
        let current = [MatchCandidate(xMM: 100, yMM: 105, diameterMM: 15), MatchCandidate(xMM: 100, yMM: 104, diameterMM: 6.5)]
        #expect(matcher.match(prior: prior, current: current) == [1, 0])
    }

    @Test func newAndResolved() {
        let prior = [MatchCandidate(xMM: 50, yMM: 50, diameterMM: 10), MatchCandidate(xMM: 200, yMM: 50, diameterMM: 10)]
        let current = [MatchCandidate(xMM: 52, yMM: 51, diameterMM: 11), MatchCandidate(xMM: 120, yMM: 200, diameterMM: 7)]
        #expect(matcher.match(prior: prior, current: current) == [0, nil])
        #expect(matcher.match(prior: [], current: current) == [])
        #expect(matcher.match(prior: prior, current: []) == [nil, nil])
    }
}

@Suite struct TrackIdentityTests {
    @Test func deterministicAndWellFormed() {
        let p = PatientKey(issuer: "HOSP", patientID: "P1")
        let a = TrackIdentity(patient: p, firstExamID: "E1", xMM: 101.23, yMM: 55.5)
        let b = TrackIdentity(patient: p, firstExamID: "E1", xMM: 101.24, yMM: 55.5)
        #expect(a == b)  // same 0.1 mm cell
        #expect(a != TrackIdentity(patient: p, firstExamID: "E2", xMM: 101.23, yMM: 55.5))
        #expect(a != TrackIdentity(patient: PatientKey(issuer: "OTHER", patientID: "P1"), firstExamID: "E1", xMM: 101.23, yMM: 55.5))
        let uuid = a.uuidString
        #expect(uuid.count == 36 && Array(uuid)[14] == "8" && "89ab".contains(Array(uuid)[19]))
        let uid = a.dicomUID
        #expect(uid.hasPrefix("2.25.") && uid.count <= 64 && uid.dropFirst(5).allSatisfy(\.isNumber) && !uid.dropFirst(5).hasPrefix("0"))
    }

    @Test func decimalConversion() {
        let one = TrackIdentity(hashing: "x")
        // Cross-check the 128-bit decimal against Double's approximation.
        let approx = Double(one.high) * 18_446_744_073_709_551_616.0 + Double(one.low)
        let digits = one.dicomUID.dropFirst(5)
        #expect(abs(Double(String(digits))! / approx - 1) < 1e-12)
    }
}
