import Foundation
import Testing
import TestSupport

private let root = Fixtures.repositoryRoot()
private let environment = ["NODULEKIT_PIPELINES": root + "/Pipelines"]
private let series = root + "/Data/phantom/series"
private let prior = series + "/PH-0002/2024-05-02/pa.png"
private let current = series + "/PH-0002/2024-10-24/pa.png"

private func nodules(_ arguments: [String]) throws -> SpawnedProcess {
    try SpawnedProcess.run("nodules", arguments, environment: environment)
}

/// One truth nodule of one PH-0002 exam: centre in that exam's own mm (from the image corner).
private func truthNodule(date: String, id: String) throws -> (x: Double, y: Double, diameter: Double) {
    let data = try Data(contentsOf: URL(fileURLWithPath: series + "/truth.json"))
    let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
    let image = try #require((json["images"] as! [[String: Any]]).first {
        $0["patient_id"] as? String == "PH-0002" && $0["study_date"] as? String == date
    })
    let spacing = image["pixel_spacing_mm"] as! Double
    let n = try #require((image["nodules"] as! [[String: Any]]).first { $0["id"] as? String == id })
    return (((n["x"] as! Double) + 0.5) * spacing, ((n["y"] as! Double) + 0.5) * spacing, n["diameter_mm"] as! Double)
}

/// `nodules compare`, spawned as the real binary on two committed serial phantoms of PH-0002.
@Suite(.serialized) struct CompareCommandTests {
    /// What the detector finds on these two exams (checked when this was written, pipeline cxr-nodules 0.5.0, as in
    /// TrackCommandTests): N3 (14.6 mm, stable, lobulated, on a rib) on both, within 1 mm of its centre; N2 is
    /// not on the prior exam (it is new) and is not among the current exam's candidates.
    @Test func comparesTwoExamsLikeTrack() throws {
        let run = try nodules(["compare", prior, current, "--prior-date", "2024-05-02", "--current-date", "2024-10-24"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("compare: "))
        #expect(run.standardError.contains("current registered to prior"), "\(run.standardError)")
        let patients = try #require(try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [[String: Any]])
        #expect(patients.count == 1)
        let patient = try #require(patients.first)
        #expect(patient["patient_id"] as? String == "unknown")  // a PNG carries no patient ID
        let exams = try #require(patient["exams"] as? [[String: Any]])
        #expect(exams.map { $0["study_date"] as? String } == ["2024-05-02", "2024-10-24"])
        let registration = try #require(exams[1]["registration"] as? [String: Any])
        #expect(registration["reliable"] as? Bool == true && registration["used"] as? Bool == true, "\(registration)")

        // Every key the schema requires on every track and observation, and only the two dates.
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/Pipelines/schemas/tracks.schema.json"))) as? [String: Any])
        let defs = schema["$defs"] as! [String: [String: Any]]
        for key in defs["patient"]!["required"] as! [String] { #expect(patient[key] != nil, "patient lacks \(key)") }
        let tracks = try #require(patient["tracks"] as? [[String: Any]])
        #expect(!tracks.isEmpty)
        for t in tracks {
            for key in defs["track"]!["required"] as! [String] { #expect(t[key] != nil, "track lacks \(key)") }
            for o in t["observations"] as! [[String: Any]] {
                for key in defs["observation"]!["required"] as! [String] { #expect(o[key] != nil, "observation lacks \(key)") }
                #expect(["2024-05-02", "2024-10-24"].contains(o["study_date"] as? String))
                #expect([prior, current].contains(o["path"] as? String))
            }
            let status = t["status"] as! String
            #expect((t["doubling_time_days"] is Double) == ["growing", "shrinking"].contains(status))
        }

        // N3 (stable in truth) is matched across the two exams: one track holds an observation within
        // max(radius, 4 mm) of its centre on each exam, and that track is stable with no VDT stated.
        var owners: [Set<Int>] = []
        for date in ["2024-05-02", "2024-10-24"] {
            let n = try truthNodule(date: date, id: "N3")
            var hits = Set<Int>()
            for (k, t) in tracks.enumerated() {
                for o in t["observations"] as! [[String: Any]] where o["study_date"] as? String == date {
                    if hypot(o["x_mm"] as! Double - n.x, o["y_mm"] as! Double - n.y) <= max(n.diameter / 2, 4) { hits.insert(k) }
                }
            }
            owners.append(hits)
        }
        let shared = owners[0].intersection(owners[1])
        #expect(shared.count == 1, "N3 matched into one track across both exams: prior \(owners[0]), current \(owners[1])")
        if let t = shared.first {
            #expect((tracks[t]["observations"] as! [[String: Any]]).count == 2)
            #expect(tracks[t]["status"] as? String == "stable")
            #expect(tracks[t]["doubling_time_days"] is NSNull)
        }

        // Deterministic, and the other formats and options work.
        let again = try nodules(["compare", prior, current, "--prior-date", "2024-05-02", "--current-date", "2024-10-24", "--quiet"])
        #expect(again.status == 0 && again.standardError.isEmpty, "\(again.standardError)")
        #expect(again.standardOutput == run.standardOutput)
        let csv = try nodules(["compare", prior, current, "--prior-date", "2024-05-02", "--current-date", "2024-10-24",
                               "--format", "csv", "--quiet", "--policy", "vdt-category", "--patient", "PH-0002"])
        #expect(csv.status == 0)
        let observations = tracks.reduce(0) { $0 + ($1["observations"] as! [Any]).count }
        let rows = csv.standardOutput.split(separator: "\n")
        #expect(rows.count == observations + 1)
        #expect(rows.dropFirst().allSatisfy { $0.hasPrefix(",PH-0002,") })
        #expect(csv.standardOutput.contains("vdt-category"))
        let fhir = try nodules(["compare", prior, current, "--prior-date", "2024-05-02", "--current-date", "2024-10-24",
                                "--format", "fhir", "--quiet"])
        #expect(fhir.status == 0)
        let lines = fhir.standardOutput.split(separator: "\n")
        #expect(lines.count == 1)
        let bundle = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(bundle["resourceType"] as? String == "Bundle")
    }

    @Test func usageErrorsExitTwo() throws {
        let dates = ["--prior-date", "2024-05-02", "--current-date", "2024-10-24"]
        for (arguments, message) in [
            ([prior, current, "--prior-date", "2024-13-40", "--current-date", "2024-10-24"], "--prior-date"),
            ([prior, current, "--prior-date", "2024-05-02", "--current-date", "yesterday"], "--current-date"),
            ([prior, current, "--prior-date", "2024-10-24", "--current-date", "2024-05-02"], "must be after"),
            ([prior, current, "--current-date", "2024-10-24"], "--prior-date"),
            ([prior, series + "/PH-0002/missing.png"] + dates, "no such file"),
            ([series + "/nope.png", current] + dates, "no such file"),
            ([prior, series + "/PH-0002"] + dates, "no such file"),
            ([prior, current, "--format", "xml"] + dates, "--format"),
            ([prior, current, "--policy", "no-such-policy"] + dates, "--policy"),
        ] {
            let run = try nodules(["compare"] + arguments)
            #expect(run.status == 2, "\(arguments): \(run.status) \(run.standardError)")
            #expect(run.standardError.contains(message), "\(arguments): \(run.standardError)")
            #expect(run.standardOutput.isEmpty)
        }
    }

    @Test func anUndecodableImageExitsOne() throws {
        let dir = Fixtures.temporaryDirectory("cli-compare")
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/bad.png"))
        let run = try nodules(["compare", prior, dir + "/bad.png", "--prior-date", "2024-05-02", "--current-date", "2024-10-24"])
        #expect(run.status == 1, "\(run.standardError)")
        #expect(run.standardError.contains("bad.png"))
        #expect(run.standardOutput.isEmpty)
    }
}
