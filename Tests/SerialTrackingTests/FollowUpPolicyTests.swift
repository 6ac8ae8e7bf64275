import Foundation
@testable import SerialTracking
import Testing
import TestSupport

@Suite struct FollowUpPolicyTests {
    let surveillance = try! FollowUpPolicy.builtIn("radiograph-surveillance")
    let bands = try! FollowUpPolicy.builtIn("vdt-category")
    let day0 = CalendarDate(year: 2024, month: 3, day: 1)!

    static func growth(_ d1: Double, _ d2: Double, days: Double, sigma: Double = 0.2) -> GrowthEstimate {
        GrowthEstimate(points: [GrowthPoint(days: 0, diameterMM: d1, sigmaMM: sigma), GrowthPoint(days: days, diameterMM: d2, sigmaMM: sigma)])!
    }

    @Test func domainExample() {
        // D0 = 10 mm, δ = 2 mm: 316 d at VDT 400, 79 d at VDT 100.
        #expect(Int(FollowUpPolicy.timeToMeasurableChangeDays(vdtDays: 400, diameterMM: 10, deltaMM: 2).rounded()) == 316)
        #expect(Int(FollowUpPolicy.timeToMeasurableChangeDays(vdtDays: 100, diameterMM: 10, deltaMM: 2).rounded()) == 79)
    }

    @Test func growingUsesTheMeasurableChangeTime() throws {
        // VDT 100 d: 10 mm → 10·2^(Δt/300). Over 150 d: 14.142 mm.
        let g = Self.growth(10, 10 * pow(2, 150.0 / 300), days: 150)
        #expect(Tolerance.approximatelyEqual(try #require(g.doublingTimeDays), 100, relative: 1e-9))
        let d = surveillance.decide(status: .growing, growth: g, lastDiameterMM: 10, decisionDate: day0)
        // With last D = 10 mm: 79 d.
        #expect(d.action == .followUp && d.intervalDays == 79 && d.nextFollowUpDate == day0.adding(days: 79))
        #expect(d.reason.contains("79 d") && d.policyName == "radiograph-surveillance" && d.policyVersion == "1.0.0")
    }

    @Test func clampsToOneAndSixMonths() {
        // Very fast growth (VDT 20 d): t = 3·20·log2(1.2) = 15.8 d → 30 d.
        let fast = Self.growth(10, 10 * pow(2, 60.0 / 60), days: 60)
        let d1 = surveillance.decide(status: .growing, growth: fast, lastDiameterMM: 10, decisionDate: day0)
        #expect(d1.intervalDays == 30 && d1.reason.contains("clamped to the 30-day minimum"))
        // Slow growth (VDT 400 d, D 10 mm): 316 d → 183 d.
        let slow = Self.growth(10, 10 * pow(2, 400.0 / 1200), days: 400)
        let d2 = surveillance.decide(status: .growing, growth: slow, lastDiameterMM: 10, decisionDate: day0)
        #expect(d2.intervalDays == 183 && d2.reason.contains("clamped to the 183-day maximum"))
        #expect(d2.nextFollowUpDate == CalendarDate(year: 2024, month: 8, day: 31))
    }

    @Test func otherStatuses() {
        let stable = surveillance.decide(status: .stable, growth: Self.growth(10, 10.2, days: 90), lastDiameterMM: 10.2, decisionDate: day0)
        #expect(stable.intervalDays == 183 && stable.category == "stable")
        let shrinking = surveillance.decide(status: .shrinking, growth: Self.growth(15, 10, days: 90), lastDiameterMM: 10, decisionDate: day0)
        #expect(shrinking.intervalDays == 183 && shrinking.category == "shrinking")
        let new = surveillance.decide(status: .new, growth: nil, lastDiameterMM: 8, decisionDate: day0)
        #expect(new.intervalDays == 30 && new.nextFollowUpDate == CalendarDate(year: 2024, month: 3, day: 31))
        let resolved = surveillance.decide(status: .resolved, growth: nil, lastDiameterMM: 8, decisionDate: day0)
        #expect(resolved.action == .none && resolved.nextFollowUpDate == nil)
        // Indeterminate: the fastest plausible VDT (lower bound) sets the time.
        let noisy = Self.growth(8, 9, days: 90, sigma: 1)
        #expect(noisy.status == .indeterminate)
        let ind = surveillance.decide(status: .indeterminate, growth: noisy, lastDiameterMM: 9, decisionDate: day0)
        #expect(ind.action == .followUp && ind.reason.contains("fastest plausible"))
        let expected = FollowUpPolicy.timeToMeasurableChangeDays(vdtDays: noisy.doublingTimeCI95.bounds.lower!, diameterMM: 9, deltaMM: 2)
        #expect(ind.intervalDays == min(183, max(30, Int(expected.rounded()))))
    }

    @Test func vdtBands() {
        func decision(vdt: Double) -> FollowUpDecision {
            let g = Self.growth(10, 10 * pow(2, 600 / (3 * vdt)), days: 600, sigma: 0.05)
            #expect(g.status == .growing, "VDT \(vdt)")
            return bands.decide(status: .growing, growth: g, lastDiameterMM: 12, decisionDate: day0)
        }
        let a = decision(vdt: 250), b = decision(vdt: 500), c = decision(vdt: 700)
        #expect(a.category == "suspicious" && a.action == .refer && a.nextFollowUpDate == nil)
        #expect(b.category == "indeterminate" && b.action == .followUp && b.intervalDays == 183)
        #expect(c.category == "likely-benign" && c.action == FollowUpAction.none)
        #expect(decision(vdt: 399.5).category == "suspicious" && decision(vdt: 400.5).category == "indeterminate")
    }

    @Test func committedFilesEqualTheBuiltIns() throws {
        let dir = Fixtures.repositoryRoot() + "/Pipelines/policies"
        for name in FollowUpPolicy.builtInNames {
            let file = try FollowUpPolicy.load(path: "\(dir)/\(name).json")
            #expect(file == (try FollowUpPolicy.builtIn(name)))
            #expect(!file.source.isEmpty && !file.caveat.isEmpty && !file.version.isEmpty)
            #expect((try FollowUpPolicy.resolve(name, policiesDirectory: dir)) == file)
        }
    }

    @Test func errors() {
        #expect(throws: FollowUpPolicyError.notFound("/nonexistent.json")) { try FollowUpPolicy.resolve("/nonexistent.json") }
        #expect(throws: FollowUpPolicyError.self) { try FollowUpPolicy.decode(Data("{".utf8)) }
        var json = BuiltInPolicies.radiographSurveillance.replacingOccurrences(of: #""resolved": { "action": "none", "category": "resolved" }"#,
                                                                                with: #""resolved": { "action": "teleport" }"#)
        #expect(throws: FollowUpPolicyError.invalid("radiograph-surveillance: unknown action 'teleport'")) { try FollowUpPolicy.decode(Data(json.utf8)) }
        json = BuiltInPolicies.radiographSurveillance.replacingOccurrences(of: #""minimum_interval_days": 30"#, with: #""minimum_interval_days": 300"#)
        #expect(throws: FollowUpPolicyError.invalid("radiograph-surveillance: need 0 < minimum_interval_days ≤ maximum_interval_days")) {
            try FollowUpPolicy.decode(Data(json.utf8))
        }
    }

    @Test func calendarArithmetic() {
        #expect(CalendarDate("2024-02-29") != nil && CalendarDate("2023-02-29") == nil && CalendarDate("20240105") == CalendarDate(year: 2024, month: 1, day: 5))
        #expect(CalendarDate("2024-1-05") == nil)
        #expect(CalendarDate(year: 1970, month: 1, day: 1)!.daysSinceEpoch == 0)
        #expect(CalendarDate(year: 2000, month: 3, day: 1)!.daysSinceEpoch == 11017)
        var rng = SeededRandomNumberGenerator(seed: 5)
        for _ in 0..<500 {
            let z = Int.random(in: -200_000...200_000, using: &rng)
            let d = CalendarDate(daysSinceEpoch: z)
            #expect(d.daysSinceEpoch == z && CalendarDate(d.description) == d)
        }
    }
}

@Suite struct SerialTrackerTests {
    let patient = PatientKey(issuer: "NODULEKIT-TEST", patientID: "P001")

    func date(_ s: String) -> CalendarDate { CalendarDate(s)! }

    @Test func threeExamsWithRepositioningNewAndResolved() throws {
        // Truth in the reference frame: A grows with VDT 150 d, B is stable, C disappears, D appears on exam 3.
        let shift = SimilarityTransform(scale: 1.02, rotationDegrees: 2, aboutXMM: 180, yMM: 180, dxMM: 8, dyMM: -5)
        func observed(_ x: Double, _ y: Double, _ d: Double, through t: SimilarityTransform) -> MeasuredNodule {
            // The exam sees reference point p at t⁻¹(p).
            let p = t.inverse.apply(xMM: x, yMM: y)
            return MeasuredNodule(xMM: p.xMM, yMM: p.yMM, diameterMM: d, diameterUncertaintyMM: 0.2)
        }
        func dA(_ days: Double) -> Double { 9 * pow(2, days / (3 * 150)) }
        let registered = RegistrationResult(transform: shift, quality: 0.9, overlap: 1, issues: [])
        let exams = [
            ExamMeasurements(examID: "E2", studyDate: date("2024-04-30"), pixelSpacingMM: 0.5,
                             nodules: [observed(100, 120, dA(120), through: shift), observed(250, 200, 12.1, through: shift)],
                             registration: registered),
            ExamMeasurements(examID: "E1", studyDate: date("2024-01-01"), pixelSpacingMM: 0.5,
                             nodules: [MeasuredNodule(xMM: 100, yMM: 120, diameterMM: 9, diameterUncertaintyMM: 0.2),
                                       MeasuredNodule(xMM: 250, yMM: 200, diameterMM: 12, diameterUncertaintyMM: 0.2),
                                       MeasuredNodule(xMM: 60, yMM: 300, diameterMM: 7, diameterUncertaintyMM: 0.2)]),
            ExamMeasurements(examID: "E3", studyDate: date("2024-09-27"), pixelSpacingMM: 0.5,
                             nodules: [observed(101, 121, dA(270), through: shift), observed(249, 201, 11.9, through: shift),
                                       observed(300, 80, 6.5, through: shift)],
                             registration: registered),
        ]
        let tracker = SerialTracker(policy: try FollowUpPolicy.builtIn("radiograph-surveillance"))
        let result = tracker.track(patient: patient, exams: exams)
        #expect(result.exams.map(\.examID) == ["E1", "E2", "E3"])
        #expect(result.tracks.count == 4)
        func track(nearX x: Double, y: Double) throws -> NoduleTrack {
            try #require(result.tracks.first { abs($0.observations[0].referenceXMM - x) < 3 && abs($0.observations[0].referenceYMM - y) < 3 })
        }
        let a = try track(nearX: 100, y: 120), b = try track(nearX: 250, y: 200)
        let c = try track(nearX: 60, y: 300), d = try track(nearX: 300, y: 80)
        #expect(a.observations.map(\.examID) == ["E1", "E2", "E3"] && a.status == .growing)
        #expect(abs(try #require(a.growth?.doublingTimeDays) / 150 - 1) < 0.02)
        #expect(b.status == .stable && b.growth?.doublingTimeDays == nil)
        #expect(c.status == .resolved && c.followUp?.action == FollowUpAction.none)
        #expect(d.status == .new && d.followUp?.nextFollowUpDate == date("2024-10-27"))
        #expect(Set(result.tracks.map(\.identity)).count == 4)
        #expect(result.tracks.map(\.trackingIdentifier) == ["nodule 1", "nodule 2", "nodule 3", "nodule 4"])
        // Deterministic: same input, same output, whatever the input order.
        #expect(tracker.track(patient: patient, exams: exams.reversed()) == result)
    }

    @Test func unreliableRegistrationIsFlaggedNotSilentlyUsed() {
        let bad = RegistrationResult(transform: SimilarityTransform(translationXMM: 60), quality: 0.1, overlap: 0.9,
                                     issues: [.lowQuality(quality: 0.1, threshold: 0.4)])
        let exams = [
            ExamMeasurements(examID: "E1", studyDate: date("2024-01-01"), nodules: [MeasuredNodule(xMM: 100, yMM: 100, diameterMM: 10)]),
            ExamMeasurements(examID: "E2", studyDate: date("2024-03-01"), nodules: [MeasuredNodule(xMM: 102, yMM: 100, diameterMM: 10)],
                             registration: bad),
        ]
        let result = SerialTracker().track(patient: patient, exams: exams)
        #expect(result.exams[1].registrationUsed == false)
        #expect(result.tracks.count == 1)  // identity, not the bad +60 mm transform
        #expect(result.tracks[0].warnings.first?.contains("registration unreliable") == true)
        #expect(result.tracks[0].observations[1].registrationReliable == false)
        #expect(result.tracks[0].registrationQuality == 0.1)
    }

    @Test func singleExam() throws {
        let tracker = SerialTracker(policy: try FollowUpPolicy.builtIn("radiograph-surveillance"))
        let result = tracker.track(patient: patient, exams: [
            ExamMeasurements(examID: "E1", studyDate: date("2024-01-01"), nodules: [MeasuredNodule(xMM: 100, yMM: 100, diameterMM: 10)]),
        ])
        #expect(result.tracks.count == 1 && result.tracks[0].status == .new && result.tracks[0].growth == nil)
        #expect(result.tracks[0].followUp?.nextFollowUpDate == date("2024-01-31"))
        #expect(SerialTracker().track(patient: patient, exams: []).tracks.isEmpty)
    }
}
