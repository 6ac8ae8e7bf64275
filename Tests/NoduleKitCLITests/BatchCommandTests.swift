import Foundation
import BatchPipeline
import GRDB
import NoduleStore
import RadiographIO
import Testing
import TestSupport
@testable import NoduleKitCLI
#if canImport(Glibc)
import Glibc
#endif

private let pipelines = Fixtures.repositoryRoot() + "/Pipelines"
private let environment = ["NODULEKIT_PIPELINES": pipelines]

/// 20 small chests in the `<patient>/<date>/<image>` layout, made once.
private let chests: String = {
    let root = Fixtures.temporaryDirectory("cli-batch") + "/in"
    _ = try! SmallChest.makeFolder(root, count: 20, size: 256)
    return root
}()

private func lines(_ path: String) throws -> [String] {
    try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n").map(String.init)
}

private func batch(_ arguments: [String]) throws -> SpawnedProcess {
    try SpawnedProcess.run("nodules", ["batch"] + arguments, environment: environment)
}

/// `nodules batch` and `nodules merge`, spawned as real binaries.
@Suite(.serialized) struct BatchCommandTests {
    @Test func allGoodExitsZeroWithSummaryJSONLinesCSVAndStore() throws {
        let out = Fixtures.temporaryDirectory("cli-batch")
        let run = try batch([chests, "--out", out + "/r.jsonl", "--db", out + "/s.sqlite", "--csv", out + "/r.csv", "--jobs", "2"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardError.contains("batch: 20 images in"))
        #expect(run.standardError.contains("20 ok (20 computed, 0 resumed), 0 failed"))
        #expect(run.standardError.contains("results: \(out)/r.jsonl"))
        let records = try lines(out + "/r.jsonl").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.count == 20)
        let paths = records.map { $0["path"] as! String }
        #expect(paths == paths.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) })
        #expect(records.allSatisfy { $0["error"] is NSNull && $0["patient_source"] as? String == "folder" })
        let detections = records.reduce(0) { $0 + ($1["nodules"] as! [Any]).count }
        let csv = try lines(out + "/r.csv")
        #expect(csv.first?.hasPrefix("path,patient_id,study_date,image_sha256") == true)
        #expect(csv.count == detections + 1)
        #expect(try NoduleStore(path: out + "/s.sqlite").counts()["detections"] == detections)
        #expect(!FileManager.default.fileExists(atPath: out + "/r.jsonl.partial"))
    }

    /// `--overlay DIR` draws every image detected in this run, mirroring the input's layout, even with DIR inside
    /// the input folder: a rerun reads none of the pictures as inputs (it resumes the same 20 images) and draws
    /// none again, since nothing is detected.
    @Test func overlaysMirrorTheLayoutAndAreNeverInputs() throws {
        let root = Fixtures.temporaryDirectory("cli-batch-overlay")
        let input = root + "/in", out = root + "/out"
        try FileManager.default.copyItem(atPath: chests, toPath: input)
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let overlays = input + "/review"
        let first = try batch([input, "--out", out + "/r.jsonl", "--db", out + "/s.sqlite", "--overlay", overlays, "--jobs", "2"])
        #expect(first.status == 0, "\(first.standardError)")
        #expect(first.standardError.contains("20 ok (20 computed, 0 resumed), 0 failed"), "\(first.standardError)")
        #expect(first.standardError.contains("review pictures: \(overlays)/ (of the 20 images detected in this run)"), "\(first.standardError)")
        let records = try lines(out + "/r.jsonl").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.count == 20)
        for record in records {
            let path = record["path"] as! String
            let key = String(path.dropFirst(input.count + 1))
            let stem = overlays + "/" + (key as NSString).deletingPathExtension
            for suffix in [".overlay.png", ".lungs.png"] {
                let bytes = FileManager.default.contents(atPath: stem + suffix)
                #expect(bytes?.starts(with: [0x89, 0x50, 0x4E, 0x47]) == true, "\(stem + suffix)")
            }
            #expect(!((record["warnings"] as? [String]) ?? []).contains { $0.contains("overlay") })
        }
        let pictures = try FileManager.default.subpathsOfDirectory(atPath: overlays).filter { $0.hasSuffix(".png") }
        #expect(pictures.count == 40)

        let again = try batch([input, "--out", out + "/r2.jsonl", "--db", out + "/s.sqlite", "--overlay", overlays])
        #expect(again.status == 0, "\(again.standardError)")
        #expect(again.standardError.contains("20 ok (0 computed, 20 resumed), 0 failed"), "\(again.standardError)")
        #expect(try FileManager.default.subpathsOfDirectory(atPath: overlays).filter { $0.hasSuffix(".png") }.count == 40)
    }

    /// An overlay stem never leaves the overlay folder and keeps the input's folders.
    @Test func overlayStemsStayInsideTheirFolder() {
        #expect(BatchRunner.overlayStem("PH-0001/2026-01-12/pa.png") == "PH-0001/2026-01-12/pa")
        #expect(BatchRunner.overlayStem("../up/x.dcm") == "_/up/x")
        #expect(BatchRunner.overlayStem("a/./b/.hidden") == "a/_/b/.hidden")
        #expect(BatchRunner.overlayStem("plain") == "plain")
        #expect(BatchRunner.overlayStem("archive.tar.gz") == "archive.tar")
    }

    /// Patient and date from the file name, and from PNG text chunks (the file's own
    /// metadata), which outranks the name and is noted when they disagree.
    @Test func fileNameAndPNGTextGivePatientAndDate() throws {
        let root = Fixtures.temporaryDirectory("cli-batch")
        try SmallChest(seed: 3).write(to: root + "/in/P7_2025-01-05_pa.png")
        try SmallChest(seed: 4).write(to: root + "/in/P7_20250305_pa.png")
        var tagged = SmallChest(seed: 6).radiograph()
        tagged.patient = PatientIdentity(id: "Q9", issuer: "HOSP")
        tagged.studyDate = StudyDate("2024-12-24")
        try RadiographWriter.write(tagged, to: root + "/in/P8_2025-01-01.png")
        let run = try batch([root + "/in", "--out", root + "/r.jsonl", "--db", root + "/s.sqlite"])
        #expect(run.status == 0, "\(run.standardError)")
        let records = try lines(root + "/r.jsonl").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        func fields(_ r: [String: Any]) -> [String?] {
            ["patient_id", "study_date", "patient_source", "date_source"].map { r[$0] as? String }
        }
        #expect(records.map(fields) == [["P7", "2025-01-05", "filename", "filename"], ["P7", "2025-03-05", "filename", "filename"],
                                        ["Q9", "2024-12-24", "file", "file"]])
        let warnings = records[2]["warnings"] as? [String] ?? []
        #expect(warnings.contains("patient_id 'Q9' from file overrides 'P8' from filename"), "\(warnings)")
        #expect(warnings.contains("study_date 2024-12-24 from file overrides 2025-01-01 from filename"), "\(warnings)")
        // The summary counts the run's warnings by kind.
        #expect(run.standardError.contains("× patient_id '…' from file overrides '…' from filename"), "\(run.standardError)")
        #expect(run.standardError.contains("× study_date #-#-# from file overrides #-#-# from filename"), "\(run.standardError)")
    }

    @Test func failedFilesExitOneAndAreReportedInline() throws {
        let root = Fixtures.temporaryDirectory("cli-batch")
        try SmallChest(seed: 5).write(to: root + "/in/P/2025-01-01/good.png")
        try Data("patient_id,study_date,path\n".utf8).write(to: URL(fileURLWithPath: root + "/in/readme.csv"))
        try Data([0x89, 0x50, 0x4E, 0x47]).write(to: URL(fileURLWithPath: root + "/in/P/2025-01-01/short.png"))
        let run = try batch([root + "/in", "--out", root + "/r.jsonl", "--db", root + "/s.sqlite"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("1 ok (1 computed, 0 resumed), 2 failed"))
        #expect(run.standardError.contains("readme.csv: not an image"))
        let records = try lines(root + "/r.jsonl").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(records.map { $0["error_code"] as? String } == [nil, "decode.truncated", "decode.not-an-image"])
        let quiet = try batch([root + "/in", "--out", root + "/r.jsonl", "--db", root + "/s.sqlite", "--quiet", "--exclude", "*.csv"])
        #expect(quiet.status == 1 && quiet.standardError.isEmpty)
    }

    @Test(arguments: [["--shard", "3/3"], ["--jobs", "0"], ["--shard", "x"]])
    func usageErrorsExitTwo(extra: [String]) throws {
        let out = Fixtures.temporaryDirectory("cli-batch")
        let run = try batch([chests, "--out", out + "/r.jsonl", "--db", out + "/s.sqlite"] + extra)
        #expect(run.status == 2, "\(run.standardError)")
    }

    @Test func unusableInputOrPipelineExitsTwo() throws {
        let out = Fixtures.temporaryDirectory("cli-batch")
        let missing = try batch([out + "/nope", "--out", out + "/r.jsonl", "--db", out + "/s.sqlite"])
        #expect(missing.status == 2 && missing.standardError.contains("no such file or folder"))
        let pipeline = try batch([chests, "--out", out + "/r.jsonl", "--db", out + "/s.sqlite", "--pipeline", "no-such-pipeline"])
        #expect(pipeline.status == 2 && pipeline.standardError.contains("not found"))
    }

    /// Kill -9 mid-run, rerun: complete results, no duplicates, nothing lost, in the store and in the JSON Lines.
    @Test func sigkillMidRunThenRerunGivesCompleteResults() throws {
        let out = Fixtures.temporaryDirectory("cli-batch")
        // Reference: one uninterrupted run.
        let reference = try batch([chests, "--out", out + "/ref.jsonl", "--db", out + "/ref.sqlite", "--jobs", "2", "--quiet"])
        #expect(reference.status == 0)

        // The failpoint stops the run after 5 committed images, so the kill below always
        // lands part-way through however fast the machine is.
        let process = try ChildProcess(executable: SpawnedProcess.productsDirectory.appendingPathComponent("nodules").path,
                                       ["batch", chests, "--out", out + "/r.jsonl", "--db", out + "/s.sqlite", "--jobs", "1", "--quiet"],
                                       environment: environment.merging(["NODULEKIT_TEST_HALT_AFTER_STORED": "5"]) { $1 },
                                       standardOutput: .discarded, standardError: .discarded)
        var storedAtKill = 0
        let deadline = Date().addingTimeInterval(120)
        // Polled read-only: opening a NoduleStore migrates (a write), which could contend with the
        // batch creating the same new store.
        var readOnly = Configuration()
        readOnly.readonly = true
        func storedSoFar() -> Int? {
            guard FileManager.default.fileExists(atPath: out + "/s.sqlite") else { return nil }
            return try? DatabaseQueue(path: out + "/s.sqlite", configuration: readOnly).read { db in
                try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM analyses")
            }
        }
        while process.isRunning, Date() < deadline {
            if let n = storedSoFar(), n >= 4 {
                process.send(SIGKILL)
                storedAtKill = n
                break
            }
            usleep(10_000)
        }
        let ended = try process.wait()
        #expect(ended.signalled && ended.status == SIGKILL)
        #expect((4..<20).contains(storedAtKill), "killed after \(storedAtKill) images")
        #expect(!FileManager.default.fileExists(atPath: out + "/r.jsonl"), "the JSON Lines appear only when a run completes")
        let stored = try NoduleStore(path: out + "/s.sqlite").counts()["analyses"] ?? 0
        #expect(stored >= storedAtKill && stored < 20)

        let rerun = try batch([chests, "--out", out + "/r.jsonl", "--db", out + "/s.sqlite", "--jobs", "2"])
        #expect(rerun.status == 0, "\(rerun.standardError)")
        #expect(rerun.standardError.contains("20 ok (\(20 - stored) computed, \(stored) resumed), 0 failed"))

        // The JSON Lines: complete, in order, no duplicates, identical to the uninterrupted run.
        let result = try lines(out + "/r.jsonl")
        #expect(result.count == 20)
        #expect(result == (try lines(out + "/ref.jsonl")))
        // The store: every image once, the same detections as the uninterrupted run.
        let store = try NoduleStore(path: out + "/s.sqlite")
        var counts = try store.counts()
        var expected = try NoduleStore(path: out + "/ref.sqlite").counts()
        #expect(counts["images"] == 20 && counts["analyses"] == 20 && counts["image_errors"] == 0)
        #expect(try store.runs().map(\.status) == ["interrupted", "completed"])
        counts["runs"] = nil
        expected["runs"] = nil
        #expect(counts == expected)
        let digest = try #require(try store.pipelineDigests().first?.digest)
        #expect(try store.detectionsByPatient(pipelineDigest: digest)
                == (try NoduleStore(path: out + "/ref.sqlite").detectionsByPatient(pipelineDigest: digest)))
    }

    /// Shard union = whole: three shards merged equal one unsharded run; merging again adds nothing.
    @Test func shardsMergedEqualTheWhole() throws {
        let out = Fixtures.temporaryDirectory("cli-batch")
        #expect(try batch([chests, "--out", out + "/whole.jsonl", "--db", out + "/whole.sqlite", "--quiet"]).status == 0)
        var shardLines: [String] = []
        for k in 0..<3 {
            let run = try batch([chests, "--out", out + "/s\(k).jsonl", "--db", out + "/s\(k).sqlite", "--shard", "\(k)/3"])
            #expect(run.status == 0)
            #expect(run.standardError.contains("batch (shard \(k)/3)"))
            shardLines += try lines(out + "/s\(k).jsonl")
        }
        let whole = try lines(out + "/whole.jsonl")
        #expect(shardLines.count == 20 && Set(shardLines) == Set(whole))

        let shards = (0..<3).map { out + "/s\($0).sqlite" }
        let merge = try SpawnedProcess.run("nodules", ["merge", out + "/merged.sqlite"] + shards)
        #expect(merge.status == 0, "\(merge.standardError)")
        let again = try SpawnedProcess.run("nodules", ["merge", out + "/merged.sqlite"] + shards)
        #expect(again.status == 0)
        #expect(again.standardError.contains("+0 images, +0 analyses, +0 detections, +0 errors, +0 runs"))
        let merged = try NoduleStore(path: out + "/merged.sqlite"), reference = try NoduleStore(path: out + "/whole.sqlite")
        var a = try merged.counts(), b = try reference.counts()
        #expect(a["runs"] == 3)
        a["runs"] = nil
        b["runs"] = nil
        #expect(a == b)
        let digest = try #require(try reference.pipelineDigests().first?.digest)
        #expect(try merged.detectionsByPatient(pipelineDigest: digest) == (try reference.detectionsByPatient(pipelineDigest: digest)))
        #expect(try SpawnedProcess.run("nodules", ["merge", out + "/merged.sqlite", out + "/missing.sqlite"]).status == 1)
    }
}

/// The batch summary's warning tally: kinds by text with numbers and quoted values blanked,
/// counted once per image, commonest first.
@Suite struct WarningTallyTests {
    @Test func warningsAreCountedByKindOncePerImage() {
        var tally = WarningTally()
        tally.add(["View Position 'LL' is not frontal (PA or AP): the lung field …", "pixel spacing unknown: detection assumed 0.175 mm/px"])
        tally.add(["View Position 'RL' is not frontal (PA or AP): the lung field …", "View Position 'RL' is not frontal (PA or AP): the lung field …"])
        tally.add([])
        tally.add(["pixel spacing 1.4 mm/px is coarser than the working spacing 0.7 mm/px"])
        #expect(tally.imagesWithWarnings == 3)
        #expect(tally.images == ["View Position '…' is not frontal (PA or AP): the lung field …": 2,
                                 "pixel spacing unknown: detection assumed # mm/px": 1,
                                 "pixel spacing # mm/px is coarser than the working spacing # mm/px": 1])
        let summary = tally.summary(limit: 2)
        #expect(summary.hasPrefix("warnings on 3 images (each is in its record's \"warnings\"):\n"
                                  + "  2 × View Position '…' is not frontal (PA or AP): the lung field …\n"))
        #expect(summary.hasSuffix("  and 1 other kind\n"))
        #expect(WarningTally().summary().isEmpty)
        #expect(WarningTally.kind(String(repeating: "a", count: 200)).count == 110)
        #expect(WarningTally.kind("inferred MONOCHROME2 from 3 bands") == "inferred MONOCHROME2 from # bands")
    }
}

@Suite struct BatchParsingTests {
    @Test func batchOptionsParseInProcess() throws {
        let command = try Nodules.parseAsRoot(["batch", "in", "--out", "o.jsonl", "--db", "s.sqlite", "--jobs", "3", "--shard", "1/4",
                                               "--force", "--quiet", "--pipeline", "p.json", "--csv", "o.csv", "--spacing", "0.2"])
        let batch = try #require(command as? Batch)
        #expect(batch.jobs == 3 && batch.shard == "1/4" && batch.force && batch.quiet && batch.csv == "o.csv")
        #expect(try batch.decode.decodeOptions().spacingOverride?.row == 0.2)
        #expect(throws: (any Error).self) { try Nodules.parseAsRoot(["batch", "in", "--out", "o.jsonl"]) }
    }
}
