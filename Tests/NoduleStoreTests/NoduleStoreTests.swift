import Foundation
import NoduleDetection
import NoduleStore
import Testing
import TestSupport

private let stamp = PipelineStamp(name: "cxr-nodules", version: "0.1.0", digest: "d1")

private func candidate(_ i: Int) -> NoduleCandidate {
    NoduleCandidate(x: 10.5 + Double(i), y: 20.25, diameterPx: 8, diameterMM: 1.0 / 3.0 + Double(i), score: 0.9 - 0.1 * Double(i),
                    features: NoduleFeatures(contrast: 0.1, contrastToNoise: 3, blobness: 0.7, logResponse: 0.2,
                                             scaleDiameterMM: 9, circularity: 0.9, longAxisMM: 10, shortAxisMM: 9,
                                             lungDepthMM: 12, insideLung: 1))
}

private func record(_ path: String, sha: String, patient: String?, date: String?, nodules: Int) -> DetectionRecord {
    var r = DetectionRecord(path: path, patientID: patient, studyDate: date, width: 100, height: 80, pixelSpacingMM: 0.5,
                            spacingSource: "tag:PNG pHYs", imageSHA256: sha, pipeline: stamp,
                            nodules: (0..<nodules).map(candidate), warnings: ["w"])
    r.patientSource = patient == nil ? nil : "folder"
    r.dateSource = date == nil ? nil : "folder"
    return r
}

private func key(_ sha: String) -> AnalysisKey { AnalysisKey(sha256: sha, pipelineDigest: "d1", spacingKey: "") }

private func fill(_ store: NoduleStore, _ items: [(String, String, String?, String?, Int)], run: RunHandle) throws {
    for (path, sha, patient, date, n) in items {
        try store.save(record(path, sha: sha, patient: patient, date: date, nodules: n), key: key(sha),
                       spacing: StoredSpacing(rowMM: 0.5, columnMM: 0.5), byteCount: 1000, run: run, replace: true)
    }
}

private func newRun(_ store: NoduleStore) throws -> RunHandle {
    try store.beginRun(RunDescription(pipeline: stamp, parameters: "{}", toolVersion: "test", input: "in"))
}

@Suite struct NoduleStoreTests {
    let folder = Fixtures.temporaryDirectory("store")

    @Test func migrationsApplyOnceAndReopenKeepsData() throws {
        let path = folder + "/a.sqlite"
        let store = try NoduleStore(path: path)
        #expect(try store.appliedMigrations().count == 1)
        try fill(store, [("a.png", "s1", "P1", "2025-01-01", 2)], run: try newRun(store))
        let reopened = try NoduleStore(path: path)
        #expect(try reopened.appliedMigrations().count == 1)
        #expect(try reopened.counts()["detections"] == 2)
    }

    @Test func savingTwiceNeverDuplicates() throws {
        let store = try NoduleStore(path: folder + "/b.sqlite")
        let run = try newRun(store)
        let items: [(String, String, String?, String?, Int)] = [("a.png", "s1", "P1", "2025-01-01", 2), ("b.png", "s2", "P1", "2025-02-01", 1)]
        try fill(store, items, run: run)
        let once = try store.counts()
        try fill(store, items, run: run)
        try fill(store, items, run: try newRun(store))
        var twice = try store.counts()
        #expect(twice["runs"] == 2)
        twice["runs"] = once["runs"]
        #expect(once == twice)
        #expect(once["patients"] == 1 && once["studies"] == 2 && once["images"] == 2 && once["detections"] == 3)
    }

    @Test func storedAnalysisRoundTripsExactly() throws {
        let store = try NoduleStore(path: folder + "/c.sqlite")
        let original = record("a.png", sha: "s1", patient: nil, date: nil, nodules: 3)
        try store.save(original, key: key("s1"), spacing: StoredSpacing(rowMM: 0.5, columnMM: 0.5), byteCount: 10,
                       fileIdentity: FileIdentity(patientID: "F", studyDate: "2024-12-31"), run: try newRun(store), replace: true)
        let stored = try #require(try store.analysis(for: key("s1")))
        #expect(stored.nodules == original.nodules)
        #expect(stored.warnings == ["w"])
        #expect(stored.fileIdentity == FileIdentity(patientID: "F", studyDate: "2024-12-31"))
        #expect(try store.analysedKeys(pipelineDigest: "d1") == [key("s1")])
        #expect(try store.analysis(for: AnalysisKey(sha256: "s1", pipelineDigest: "other", spacingKey: "")) == nil)
    }

    @Test func errorsAreUpsertedAndClearedBySuccess() throws {
        let store = try NoduleStore(path: folder + "/d.sqlite")
        let run = try newRun(store)
        try store.saveFailure(path: "a.png", sha256: nil, pipelineDigest: "d1", code: "read.not-found", message: "m1", run: run)
        try store.saveFailure(path: "a.png", sha256: "s1", pipelineDigest: "d1", code: "decode.truncated", message: "m2", run: run)
        #expect(try store.errors(pipelineDigest: "d1").map(\.code) == ["decode.truncated"])
        try fill(store, [("a.png", "s1", nil, nil, 1)], run: run)
        #expect(try store.errors(pipelineDigest: "d1").isEmpty)
    }

    @Test func detectionsGroupedByPatientAndDate() throws {
        let store = try NoduleStore(path: folder + "/e.sqlite")
        try fill(store, [("b2.png", "s3", "P2", "2025-03-01", 1), ("a2.png", "s2", "P1", "2025-05-01", 2),
                         ("a1.png", "s1", "P1", "2025-01-01", 1), ("a1b.png", "s4", "P1", "2025-01-01", 0),
                         ("x.png", "s5", nil, nil, 1)], run: try newRun(store))
        let history = try store.detectionsByPatient(pipelineDigest: "d1")
        #expect(history.map(\.patientID) == ["P1", "P2"])
        #expect(history[0].studies.map(\.date) == ["2025-01-01", "2025-05-01"])
        #expect(history[0].studies[0].images.map(\.path) == ["a1.png", "a1b.png"])
        #expect(history[0].studies[1].images[0].detections == [candidate(0), candidate(1)])
        #expect(history[1].studies.count == 1)
        // Each image carries its record's warnings, for the report.
        #expect(history.flatMap(\.studies).flatMap(\.images).allSatisfy { $0.warnings == ["w"] })
    }

    @Test func mergeIsIdempotentAndEqualsOneStore() throws {
        let all: [(String, String, String?, String?, Int)] = (0..<12).map {
            ("img\($0).png", "s\($0)", "P\($0 % 3)", "2025-0\(1 + $0 % 4)-01", $0 % 3)
        }
        let whole = try NoduleStore(path: folder + "/whole.sqlite")
        try fill(whole, all, run: try newRun(whole))
        try whole.saveFailure(path: "bad.png", sha256: nil, pipelineDigest: "d1", code: "decode.empty", message: "m", run: try newRun(whole))

        var shards: [String] = []
        for k in 0..<3 {
            let path = folder + "/shard\(k).sqlite"
            let shard = try NoduleStore(path: path)
            try fill(shard, all.enumerated().filter { $0.offset % 3 == k }.map(\.element), run: try newRun(shard))
            if k == 1 { try shard.saveFailure(path: "bad.png", sha256: nil, pipelineDigest: "d1", code: "decode.empty", message: "m", run: try newRun(shard)) }
            shards.append(path)
        }
        // One shard also failed an image another shard succeeded on: the success wins.
        let s0 = try NoduleStore(path: shards[0])
        try s0.saveFailure(path: "img1.png", sha256: nil, pipelineDigest: "d1", code: "read.io-error", message: "m", run: try newRun(s0))

        let merged = try NoduleStore(path: folder + "/merged.sqlite")
        for path in shards { try merged.merge(from: path) }
        let first = try merged.counts()
        for path in shards.reversed() {
            let again = try merged.merge(from: path)
            #expect(again.images == 0 && again.analyses == 0 && again.detections == 0 && again.errors == 0 && again.runs == 0)
        }
        #expect(try merged.counts() == first)
        var expected = try whole.counts()
        expected["runs"] = first["runs"]
        #expect(first == expected)
        #expect(try merged.detectionsByPatient(pipelineDigest: "d1") == (try whole.detectionsByPatient(pipelineDigest: "d1")))
        #expect(try merged.errors(pipelineDigest: "d1").map(\.path) == ["bad.png"])
        #expect(throws: StoreError.mergeIntoItself(path: folder + "/merged.sqlite")) { try merged.merge(from: folder + "/merged.sqlite") }
    }
}
