import Foundation
import NoduleStore
import Testing
import TestSupport
@testable import NoduleKitCLI

private let root = Fixtures.repositoryRoot()
private let environment = ["NODULEKIT_PIPELINES": root + "/Pipelines"]

/// A DICOM serial study end to end: `make_dicom_series.py` (in `.build/dicom-venv`, made by
/// scripts/dicom-venv.sh from `make test`) turns the committed phantom series PH-0002 into DX
/// files in one flat folder (patient, issuer and date only in the tags; explicit LE, JPEG 2000
/// lossless and RLE), plus a decoy with the same Patient ID under another issuer. The real
/// `nodules batch` and `nodules track --format json` run on it as spawned binaries.
/// A missing venv is a failure, never a skip.
@Suite struct DICOMSeriesCommandTests {
    @Test func serialDICOMStudyThroughBatchAndTrack() throws {
        let python = ProcessInfo.processInfo.environment["NODULEKIT_DICOM_PYTHON"] ?? root + "/.build/dicom-venv/bin/python"
        #expect(FileManager.default.isExecutableFile(atPath: python),
                "pydicom venv missing at \(python): run `make test` or scripts/dicom-venv.sh (or set NODULEKIT_DICOM_PYTHON)")
        guard FileManager.default.isExecutableFile(atPath: python) else { return }
        let dir = Fixtures.temporaryDirectory("dicom-series")
        let folder = dir + "/incoming"
        let maker = try SpawnedProcess.run(executable: URL(fileURLWithPath: python),
                                           [URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/make_dicom_series.py", root, folder])
        try #require(maker.status == 0, "make_dicom_series.py failed: \(maker.standardError)")
        let summary = try #require(try JSONSerialization.jsonObject(with: Data(maker.standardOutput.utf8)) as? [String: Any])
        let dates = try #require(summary["dates"] as? [String])
        #expect(dates == ["2024-05-02", "2024-07-27", "2024-10-24"])

        let batch = try SpawnedProcess.run("nodules", ["batch", folder, "--out", dir + "/r.jsonl", "--db", dir + "/s.sqlite",
                                                       "--jobs", "2", "--quiet"], environment: environment)
        #expect(batch.status == 0, "\(batch.standardError)")

        // The store: two patients keyed by (issuer, ID), the same ID under two issuers.
        let store = try NoduleStore(path: dir + "/s.sqlite")
        let digests = try store.pipelineDigests()
        try #require(digests.count == 1, "\(digests)")
        let histories = try store.detectionsByPatient(pipelineDigest: digests[0].digest)
        #expect(histories.map { "\($0.issuer ?? "")|\($0.patientID)" } == ["NODULEKIT-PHANTOM|PH-0002", "OTHER-HOSPITAL|PH-0002"])
        if let main = histories.first(where: { $0.issuer == "NODULEKIT-PHANTOM" }) {
            #expect(main.studies.map { $0.date ?? "" } == dates)
            #expect(main.studies.map(\.images.count) == [1, 2, 1], "the second study holds the frontal and the lateral view")
            #expect(main.studies.allSatisfy { $0.images[0].spacingSource.contains("PixelSpacing") }, "\(main.studies.map { $0.images[0].spacingSource })")
        }

        // Every result line took patient, issuer and date from the file (a flat folder offers nothing else).
        let lines = try String(contentsOfFile: dir + "/r.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 5)
        // The lateral view is analysed (nothing is lost) and its record says what it is.
        let lateral = try #require(lines.first { $0.contains("image-l.dcm") })
        #expect(lateral.contains("View Position 'LL' is not frontal"), "\(lateral)")
        #expect(lines.filter { $0.contains("is not frontal") }.count == 1)

        let track = try SpawnedProcess.run("nodules", ["track", "--db", dir + "/s.sqlite", "--format", "json"], environment: environment)
        #expect(track.status == 0, "\(track.standardError)")
        let patients = try #require(try JSONSerialization.jsonObject(with: Data(track.standardOutput.utf8)) as? [[String: Any]])
        let tracked = patients.filter { ($0["issuer"] as? String) == "NODULEKIT-PHANTOM" && ($0["patient_id"] as? String) == "PH-0002" }
        try #require(tracked.count == 1, "\(patients.map { ($0["issuer"] ?? "", $0["patient_id"] ?? "") })")
        let exams = try #require(tracked[0]["exams"] as? [[String: Any]])
        // Three exams, not four: the lateral view is left out of tracking, and standard error says so.
        #expect(exams.compactMap { $0["study_date"] as? String } == dates)
        #expect(track.standardError.contains("image-l.dcm: not a frontal chest radiograph by its DICOM tags (Modality 'DX', "
                                             + "View Position 'LL'); left out of tracking"), "\(track.standardError)")
        #expect(patients.count == 2)
        let decoy = patients.first { ($0["issuer"] as? String) == "OTHER-HOSPITAL" }
        #expect((decoy?["exams"] as? [[String: Any]])?.count == 1)
    }
}
