import Foundation
@testable import SerialTracking
import Testing
import TestSupport

/// A patient with one track of each kind, shared by the report tests.
enum ReportScenario {
    static let patient = PatientKey(issuer: "NODULEKIT TEST", patientID: "P-042")

    static func tracks(policy: String) throws -> PatientTracks {
        func date(_ s: String) -> CalendarDate { CalendarDate(s)! }
        let reliable = RegistrationResult(transform: SimilarityTransform(scale: 1.01, rotationDegrees: 1, aboutXMM: 150, yMM: 150, dxMM: 3, dyMM: -2),
                                          quality: 0.93, overlap: 0.98, issues: [])
        let unreliable = RegistrationResult(transform: .identity, quality: 0.12, overlap: 0.95, issues: [.lowQuality(quality: 0.12, threshold: 0.4)])
        func at(_ x: Double, _ y: Double, _ d: Double, _ r: RegistrationResult, path: String) -> MeasuredNodule {
            let p = r.transform.inverse.apply(xMM: x, yMM: y)
            return MeasuredNodule(xMM: p.xMM, yMM: p.yMM, diameterMM: d, diameterUncertaintyMM: 0.25, longAxisMM: d * 1.1, sourceReference: path)
        }
        let exams = [
            ExamMeasurements(examID: "1.2.826.0.1.3680043.8.498.1", studyDate: date("2023-01-10"), pixelSpacingMM: 0.5, nodules: [
                at(90, 120, 10, .reference, path: "P-042/2023-01-10/pa.png"),     // growing, VDT 120 d
                at(220, 140, 12, .reference, path: "P-042/2023-01-10/pa.png"),    // stable
                at(150, 260, 8, .reference, path: "P-042/2023-01-10/pa.png"),     // resolved
                at(60, 60, 7, .reference, path: "P-042/2023-01-10/pa.png"),       // indeterminate (noisy, "a,b" path)
            ]),
            ExamMeasurements(examID: "1.2.826.0.1.3680043.8.498.2", studyDate: date("2023-05-10"), pixelSpacingMM: 0.5, nodules: [
                at(90, 120, 10 * pow(2, 120.0 / 360), reliable, path: "P-042/2023-05-10/pa.png"),
                at(220, 140, 12.2, reliable, path: "P-042/2023-05-10/pa.png"),
                at(150, 260, 8.1, reliable, path: "P-042/2023-05-10/pa.png"),
                at(60, 60, 7.7, reliable, path: "P-042/2023-05-10/pa,b \"q\".png"),
            ], registration: reliable),
            ExamMeasurements(examID: "1.2.826.0.1.3680043.8.498.3", studyDate: date("2023-09-07"), pixelSpacingMM: 0.5, nodules: [
                at(90, 120, 10 * pow(2, 240.0 / 360), .reference, path: "P-042/2023-09-07/pa.png"),
                at(220, 140, 11.9, .reference, path: "P-042/2023-09-07/pa.png"),
                MeasuredNodule(xMM: 60, yMM: 60, diameterMM: 8.6, diameterUncertaintyMM: 1.2),
                MeasuredNodule(xMM: 250, yMM: 250, diameterMM: 6.5),  // new
            ], registration: unreliable),
        ]
        return SerialTracker(policy: try FollowUpPolicy.builtIn(policy)).track(patient: patient, exams: exams)
    }
}

@Suite struct ReportTests {
    @Test func scenarioHasEveryStatus() throws {
        let t = try ReportScenario.tracks(policy: "radiograph-surveillance")
        #expect(Set(t.tracks.map(\.status)) == [.growing, .stable, .resolved, .indeterminate, .new], "\(t.tracks.map(\.status))")
    }

    @Test func jsonReport() throws {
        let t = try ReportScenario.tracks(policy: "radiograph-surveillance")
        let text = TrackReport.json([t])
        #expect(text == TrackReport.json([try ReportScenario.tracks(policy: "radiograph-surveillance")]))  // deterministic
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]])
        #expect(parsed.count == 1 && parsed[0]["patient_id"] as? String == "P-042")
        let tracks = try #require(parsed[0]["tracks"] as? [[String: Any]])
        #expect(tracks.count == 5)
        let growing = try #require(tracks.first { $0["status"] as? String == "growing" })
        let vdt = try #require(growing["doubling_time_days"] as? Double)
        #expect(abs(vdt - 120) < 2)
        let ci = try #require(growing["doubling_time_ci_days"] as? [Double])
        #expect(ci.count == 2 && ci[0] < vdt && vdt < ci[1])
        #expect(growing["next_followup_date"] as? String != nil && (growing["reason"] as? String)?.contains("log2") == true)
        #expect((growing["policy"] as? [String: String]) == ["name": "radiograph-surveillance", "version": "1.0.0"])
        let indeterminate = try #require(tracks.first { $0["status"] as? String == "indeterminate" })
        #expect(indeterminate["doubling_time_days"] is NSNull)
        #expect(indeterminate["doubling_time_ci_unbounded"] as? Bool == true)
        #expect((indeterminate["warnings"] as? [String])?.first?.contains("registration unreliable") == true)
        let resolved = try #require(tracks.first { $0["status"] as? String == "resolved" })
        #expect(resolved["next_followup_date"] is NSNull)
        #expect(TrackReport.json([]) == "[]\n")
    }

    @Test func csvReport() throws {
        let t = try ReportScenario.tracks(policy: "radiograph-surveillance")
        let text = TrackReport.csv([t])
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(lines.first.map(String.init) == TrackReport.csvHeader.joined(separator: ","))
        #expect(lines.count == 1 + t.tracks.map(\.observations.count).reduce(0, +))
        #expect(text.contains("\"P-042/2023-05-10/pa,b \"\"q\"\".png\""))
        #expect(TrackReport.quote("plain") == "plain")
    }

    @Test func patientIdentifierSystem() {
        #expect(FHIRBundle.patientIdentifierSystem(issuer: "1.2.3.4") == "urn:oid:1.2.3.4")
        #expect(FHIRBundle.patientIdentifierSystem(issuer: "https://hospital.example/mrn") == "https://hospital.example/mrn")
        #expect(FHIRBundle.patientIdentifierSystem(issuer: "St Mary's ") == "urn:nodulekit:issuer:St%20Mary%27s")
        #expect(FHIRBundle.patientIdentifierSystem(issuer: "") == "urn:nodulekit:issuer:unknown")
    }
}

/// The FHIR output validated by an independent validator: fhir.resources 6.4.0
/// (strict FHIR 4.0.1) in `.build/fhir-venv`, which `make test` creates through
/// `scripts/fhir-venv.sh`. A missing validator is a failure, never a skip.
@Suite struct FHIRValidationTests {
    static var python: String {
        ProcessInfo.processInfo.environment["NODULEKIT_FHIR_PYTHON"] ?? Fixtures.repositoryRoot() + "/.build/fhir-venv/bin/python"
    }

    static func validate(_ paths: [String]) throws -> (status: Int32, output: String) {
        let run = try SpawnedProcess.run(executable: URL(fileURLWithPath: python),
                                         [Fixtures.path("../validate_fhir_r4.py").replacingOccurrences(of: "/Fixtures/../", with: "/")] + paths)
        return (run.status, run.standardOutput + run.standardError)
    }

    @Test func bundlesValidateAsFHIRR4() throws {
        #expect(FileManager.default.isExecutableFile(atPath: Self.python),
                "FHIR validator missing at \(Self.python): run `make test` or scripts/fhir-venv.sh (or set NODULEKIT_FHIR_PYTHON)")
        guard FileManager.default.isExecutableFile(atPath: Self.python) else { return }
        let dir = Fixtures.temporaryDirectory("fhir")
        var paths: [String] = []
        for policy in FollowUpPolicy.builtInNames {
            let t = try ReportScenario.tracks(policy: policy)
            let text = FHIRBundle.json(t)
            #expect(text == FHIRBundle.json(try ReportScenario.tracks(policy: policy)))  // deterministic
            let path = "\(dir)/\(policy).json"
            try text.write(toFile: path, atomically: true, encoding: .utf8)
            paths.append(path)
        }
        let empty = PatientTracks(patient: PatientKey(patientID: "EMPTY"), exams: [], tracks: [])
        try FHIRBundle.json(empty).write(toFile: "\(dir)/empty.json", atomically: true, encoding: .utf8)
        paths.append("\(dir)/empty.json")
        let result = try Self.validate(paths)
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.components(separatedBy: "valid FHIR 4.0.1 Bundle").count - 1 == paths.count, "\(result.output)")

        // Negative control: the validator must reject a broken bundle.
        let broken = try String(contentsOfFile: paths[0], encoding: .utf8).replacingOccurrences(of: "\"status\": \"final\",", with: "")
        try broken.write(toFile: "\(dir)/broken.json", atomically: true, encoding: .utf8)
        let rejected = try Self.validate(["\(dir)/broken.json"])
        #expect(rejected.status == 1 && rejected.output.contains("status"), "\(rejected.output)")
    }

    @Test func bundleContents() throws {
        let t = try ReportScenario.tracks(policy: "vdt-category")
        let data = Data(FHIRBundle.json(t).utf8)
        let bundle = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        #expect(bundle["type"] as? String == "collection")
        let resources = try #require(bundle["entry"] as? [[String: Any]]).compactMap { $0["resource"] as? [String: Any] }
        let observations = resources.filter { $0["resourceType"] as? String == "Observation" }
        let requests = resources.filter { $0["resourceType"] as? String == "ServiceRequest" }
        let measurementCount = t.tracks.map(\.observations.count).reduce(0, +)
        let vdtCount = t.tracks.filter { $0.observations.count >= 2 }.count
        #expect(observations.count == measurementCount + vdtCount)
        let text = String(decoding: data, as: UTF8.self)
        for needle in ["\"RID50149\"", "\"21889-1\"", "\"33728-7\"", "\"volume-doubling-time\"", "\"code\": \"d\"", "\"code\": \"mm\"",
                       "\"urn:nodulekit:issuer:NODULEKIT%20TEST\"", "\"urn:oid:2.25."] {
            #expect(text.contains(needle), "missing \(needle)")
        }
        // The growing track (VDT 120 d) is suspicious under vdt-category: a referral whose reason is the VDT observation.
        let refer = try #require(requests.first { (($0["code"] as? [String: Any])?["text"] as? String)?.contains("Referral") == true })
        let reason = try #require(((refer["reasonReference"] as? [[String: Any]])?.first?["reference"]) as? String)
        let entries = try #require(bundle["entry"] as? [[String: Any]])
        let vdtObservation = try #require(entries.first { $0["fullUrl"] as? String == reason }?["resource"] as? [String: Any])
        #expect(((vdtObservation["valueQuantity"] as? [String: Any])?["code"]) as? String == "d")
        // Follow-up requests carry a date.
        #expect(requests.contains { $0["occurrenceDateTime"] as? String != nil })
    }
}
