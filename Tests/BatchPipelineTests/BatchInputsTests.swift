import Foundation
import RadiographIO
import Testing
import TestSupport
@testable import BatchPipeline

private func touch(_ path: String, _ text: String = "x") throws {
    try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
}

@Suite struct FolderInputTests {
    @Test func layoutGivesPatientAndDateAndOrderIsBytewise() throws {
        let root = Fixtures.temporaryDirectory("inputs")
        for p in ["B/2025-02-03/pa.png", "A/2025-01-31/z.png", "A/2025-01-31/a b.png", "Ünïcode/20250101/é.png",
                  "A/2025-02-30/bad.png", "loose.png", "A/notes/x.png", ".hidden/2025-01-01/x.png", "A/2025-01-31/.DS_Store"] {
            try touch(root + "/" + p)
        }
        let inputs = try BatchInputs.enumerate(root)
        #expect(inputs.map(\.key) == ["A/2025-01-31/a b.png", "A/2025-01-31/z.png", "A/2025-02-30/bad.png", "A/notes/x.png",
                                      "B/2025-02-03/pa.png", "loose.png", "Ünïcode/20250101/é.png"])
        #expect(inputs[0].path == root + "/A/2025-01-31/a b.png")
        #expect(inputs[0].folderPatientID == "A" && inputs[0].folderDate == StudyDate("2025-01-31"))
        #expect(inputs[2].folderDate == nil && inputs[2].folderPatientID == nil)
        #expect(inputs[2].notes.first?.contains("'2025-02-30' is not a valid date") == true)
        #expect(inputs[3].folderDate == nil && inputs[3].notes.isEmpty)
        #expect(inputs[5].folderPatientID == nil)
        #expect(inputs[6].folderPatientID == "Ünïcode" && inputs[6].folderDate == StudyDate("2025-01-01"))
    }

    @Test func fileNameDateGivesPatientAndDateWhenTheFoldersDoNot() throws {
        let root = Fixtures.temporaryDirectory("inputs")
        for p in ["P1/2025-01-31.png", "P1/pa_20250228.png", "P2_2024-12-01_pa.png", "2024-11-05.png", "images/P7_2025-03-01.png",
                  "IMG_120250131.png", "P3/20251301.png", "Q/2025-03-04/x_2020-01-01.png", "P4/scan-1899-01-01.png"] {
            try touch(root + "/" + p)
        }
        let byKey = Dictionary(uniqueKeysWithValues: try BatchInputs.enumerate(root).map { ($0.key, $0) })
        func layout(_ key: String) -> (String?, StudyDate?, MetadataSource) {
            let i = byKey[key]!
            return (i.folderPatientID, i.folderDate, i.layoutSource)
        }
        #expect(layout("P1/2025-01-31.png") == ("P1", StudyDate("2025-01-31"), .fileName))
        #expect(layout("P1/pa_20250228.png") == ("P1", StudyDate("2025-02-28"), .fileName))
        #expect(layout("P2_2024-12-01_pa.png") == ("P2", StudyDate("2024-12-01"), .fileName))
        #expect(layout("2024-11-05.png") == (nil, StudyDate("2024-11-05"), .fileName))
        // A prefix holding a digit is the patient ID, whatever folder the file is in.
        #expect(layout("images/P7_2025-03-01.png") == ("P7", StudyDate("2025-03-01"), .fileName))
        // Digits run on from another digit, an impossible month, a year before 1900: no date.
        #expect(layout("IMG_120250131.png") == (nil, nil, .folder))
        #expect(layout("P3/20251301.png") == (nil, nil, .folder))
        #expect(layout("P4/scan-1899-01-01.png") == (nil, nil, .folder))
        // The folder layout wins over a date in the name.
        #expect(layout("Q/2025-03-04/x_2020-01-01.png") == ("Q", StudyDate("2025-03-04"), .folder))
        let resolved = byKey["P2_2024-12-01_pa.png"]!.resolve(filePatient: nil, fileDate: nil)
        #expect(resolved.patientSource == .fileName && resolved.dateSource == .fileName)
        #expect(resolved.patient?.id == "P2" && resolved.studyDate == StudyDate("2024-12-01"))
        let overruled = byKey["P1/2025-01-31.png"]!.resolve(filePatient: nil, fileDate: StudyDate("2025-02-01"))
        #expect(overruled.dateSource == .file && overruled.notes == ["study_date 2025-02-01 from file overrides 2025-01-31 from filename"])
    }

    @Test func outputsAndExcludedGlobsAreSkipped() throws {
        let root = Fixtures.temporaryDirectory("inputs")
        for p in ["P/2025-01-01/a.png", "truth.csv", "out.jsonl", "store.sqlite-wal"] { try touch(root + "/" + p) }
        let inputs = try BatchInputs.enumerate(root, excluding: ["*.csv"], skipping: [root + "/out.jsonl", root + "/./store.sqlite-wal"])
        #expect(inputs.map(\.key) == ["P/2025-01-01/a.png"])
        #expect(throws: InputError.notFound(path: root + "/missing")) { try BatchInputs.enumerate(root + "/missing") }
    }
}

@Suite struct ManifestInputTests {
    @Test func quotedPathsSpacingAndRowProblems() throws {
        let root = Fixtures.temporaryDirectory("manifest")
        let manifest = root + "/sub/m.csv"
        try touch(manifest, """
        \u{FEFF}patient_id,study_date,path,pixel_spacing_mm\r
        P1,2025-01-02,"images/with space, and comma.png",0.2\r
        "P""2",,img/ü.png,\r
        P3,2025-13-01,img/c.png,\r
        P4,2025-01-05,img/d.png,abc\r
        P5,2025-01-06,,\r
        P6,2025-01-07\r
        \r
        P7,20250108,/abs/e.png,0.1x0.2\r
        P8, 2025-01-09 ,"multi
        line.png",
        """)
        let inputs = try BatchInputs.enumerate(manifest)
        #expect(inputs.count == 8)
        #expect(inputs[0].path == root + "/sub/images/with space, and comma.png")
        #expect(inputs[0].key == "images/with space, and comma.png")
        #expect(inputs[0].manifestPatientID == "P1" && inputs[0].manifestDate == StudyDate("2025-01-02"))
        #expect(inputs[0].manifestSpacing == PixelSpacing(row: 0.2, column: 0.2, source: .manifest))
        #expect(inputs[1].manifestPatientID == "P\"2" && inputs[1].manifestDate == nil && inputs[1].problem == nil)
        #expect(inputs[1].key == "img/ü.png")
        #expect(inputs[2].problem == .badDate(line: 4, value: "2025-13-01"))
        #expect(inputs[3].problem == .badSpacing(line: 5, value: "abc"))
        #expect(inputs[4].problem == .missingPath(line: 6))
        #expect(inputs[5].problem == .wrongFieldCount(line: 7, expected: 4, found: 2))
        #expect(inputs[6].problem == .badDate(line: 9, value: "20250108"))
        #expect(inputs[7].path == root + "/sub/multi\nline.png" && inputs[7].manifestDate == StudyDate("2025-01-09"))
        #expect(inputs[2].problem?.code == "manifest.bad-date")
    }

    @Test func missingColumnsAndUnclosedQuotesStopTheBatch() throws {
        let root = Fixtures.temporaryDirectory("manifest")
        try touch(root + "/a.csv", "patient,study_date,file\nP,2025-01-01,a.png\n")
        #expect(throws: InputError.manifestMissingColumns(path: root + "/a.csv", missing: ["patient_id", "path"])) {
            try BatchInputs.enumerate(root + "/a.csv")
        }
        try touch(root + "/b.csv", "patient_id,study_date,path\nP,2025-01-01,\"a.png\n")
        #expect(throws: InputError.manifestMalformed(path: root + "/b.csv", line: 2, reason: "a quoted field is not closed")) {
            try BatchInputs.enumerate(root + "/b.csv")
        }
        try touch(root + "/c.csv", "")
        #expect(throws: InputError.self) { try BatchInputs.enumerate(root + "/c.csv") }
    }
}

@Suite struct PrecedenceTests {
    func input(manifest: (String, String)? = nil, folder: (String, String)? = nil) -> BatchInput {
        var input = BatchInput(path: "p", key: "p")
        input.manifestPatientID = manifest?.0
        input.manifestDate = manifest.flatMap { StudyDate($0.1) }
        input.folderPatientID = folder?.0
        input.folderDate = folder.flatMap { StudyDate($0.1) }
        return input
    }

    @Test func manifestThenFileThenFolder() {
        let all = input(manifest: ("M", "2025-01-01"), folder: ("F", "2025-03-03"))
            .resolve(filePatient: PatientIdentity(id: "D", issuer: "HOSP"), fileDate: StudyDate("2025-02-02"))
        #expect(all.patient == PatientIdentity(id: "M") && all.patientSource == .manifest)
        #expect(all.studyDate == StudyDate("2025-01-01") && all.dateSource == .manifest)
        #expect(all.notes.count == 4)

        let fileOverFolder = input(folder: ("F", "2025-03-03")).resolve(filePatient: PatientIdentity(id: "D", issuer: "HOSP"), fileDate: nil)
        #expect(fileOverFolder.patient == PatientIdentity(id: "D", issuer: "HOSP") && fileOverFolder.patientSource == .file)
        #expect(fileOverFolder.studyDate == StudyDate("2025-03-03") && fileOverFolder.dateSource == .folder)

        let agreeing = input(manifest: ("D", ""), folder: ("D", "2025-03-03")).resolve(filePatient: PatientIdentity(id: "D", issuer: "HOSP"), fileDate: nil)
        #expect(agreeing.patient == PatientIdentity(id: "D", issuer: "HOSP") && agreeing.patientSource == .manifest)
        #expect(agreeing.notes.isEmpty)

        let none = input().resolve(filePatient: nil, fileDate: nil)
        #expect(none.patient == nil && none.patientSource == nil && none.studyDate == nil && none.dateSource == nil)
    }
}

@Suite struct ShardTests {
    @Test func parseAndPartition() {
        #expect(Shard("0/4") == Shard(index: 0, count: 4))
        #expect(Shard("4/4") == nil && Shard("-1/2") == nil && Shard("1") == nil && Shard("1/0") == nil)
        let keys = (0..<500).map { "P\($0 % 7)/2025-01-\(10 + $0 % 9)/img\($0).png" }
        var seen = Set<String>()
        for k in 0..<4 {
            let shard = Shard(index: k, count: 4)!
            let mine = keys.filter { shard.contains(BatchInput(path: "/any/root/" + $0, key: $0)) }
            #expect(mine.count > 80, "shard \(k) has \(mine.count) of 500")
            #expect(seen.isDisjoint(with: mine))
            seen.formUnion(mine)
        }
        #expect(seen.count == keys.count)
        // Stable across runs and machines: a fixed key has a fixed owner.
        #expect(Shard.owner(of: "P1/2025-01-01/pa.png", count: 1000) == Shard.owner(of: "P1/2025-01-01/pa.png", count: 1000))
    }
}

@Suite struct ProgressTests {
    @Test func barAndLinesCarryRateAndETA() {
        let bar = ProgressReporter.bar(done: 5, total: 20, failed: 1, elapsed: 2.5, width: 10)
        #expect(bar.hasPrefix("██░░░░░░░░ 5/20  25% 2.0 img/s ETA 8s 1 failed"))
        #expect(ProgressReporter.line(done: 10, total: 20, failed: 0, elapsed: 100)
                == "progress: 10/20 images, 0 failed, 0.1 images/s, elapsed 1m40s, ETA 1m40s")
        final class Sink: @unchecked Sendable { var text = "" }
        let sink = Sink()
        let quiet = ProgressReporter(mode: .quiet) { sink.text += $0 }
        quiet.update(done: 1, total: 2, failed: 0)
        quiet.message("x")
        #expect(sink.text.isEmpty)
        let live = ProgressReporter(mode: .bar) { sink.text += $0 }
        live.update(done: 2, total: 2, failed: 0)
        live.message("nodules: error: e")
        #expect(sink.text.hasPrefix("\r██") && sink.text.hasSuffix("\r\u{1B}[Knodules: error: e\n"))
        // An error is written even when quiet; other units count in their own words.
        sink.text = ""
        quiet.error("nodules: error: f")
        #expect(sink.text == "nodules: error: f\n")
        #expect(ProgressReporter.line(done: 3, total: 40, failed: 1, elapsed: 6, unit: .patients)
                == "progress: 3/40 patients, 1 failed, 0.5 patients/s, elapsed 6s, ETA 1m14s")
        #expect(ProgressReporter.bar(done: 3, total: 40, failed: 0, elapsed: 6, width: 4, unit: .patients).hasSuffix(" 0.5 patients/s ETA 1m14s"))
    }
}
