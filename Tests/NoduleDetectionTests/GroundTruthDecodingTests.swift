import Foundation
import NoduleDetection
import Testing

/// `nodules evaluate` reads truth files written by other generators: a nodule's `id` may be a
/// string, an integer, or absent; any other type is an error, not a silent nil.
@Suite struct GroundTruthDecodingTests {
    static func decode(id: String) throws -> GroundTruth {
        let json = """
        {"images": [{"path": "images/a.png", "pixel_spacing_mm": 0.175,
          "nodules": [{\(id) "x": 10.5, "y": 20.25, "diameter_mm": 12.0, "on_rib": true}]}]}
        """
        return try JSONDecoder().decode(GroundTruth.self, from: Data(json.utf8))
    }

    @Test("a nodule id may be a string, an integer or absent", arguments: [
        (#""id": "N1","#, "N1" as String?), (#""id": 7,"#, "7"), ("", nil), (#""id": null,"#, nil),
    ])
    func nodulesID(_ field: String, expected: String?) throws {
        let nodule = try #require(try Self.decode(id: field).images.first?.nodules.first)
        #expect(nodule.id == expected)
        #expect(nodule.x == 10.5 && nodule.y == 20.25 && nodule.diameterMM == 12 && nodule.onRib == true)
    }

    @Test func anIDOfAnotherTypeIsAnError() {
        #expect(throws: DecodingError.self) { try Self.decode(id: #""id": true,"#) }
        #expect(throws: DecodingError.self) { try Self.decode(id: #""id": 1.5,"#) }
    }
}

/// `nodules evaluate` reads the JSRT database's clinical data files as ground truth: records as
/// the database ships them (tab-separated, ages sometimes "?", and in some copies one record run
/// onto the end of the previous one), and the exact error for a record it cannot read.
@Suite struct JSRTClinicalDataTests {
    /// Three nodule records in CLNDAT_EN.txt's layout; the third follows the second's diagnosis
    /// without a line break, as in some copies of the file.
    static let clndat = "JPCLN001.IMG\t5\t15\t53\tmale\t1634\t692\tmalignant\tl.upper lobe\tlung cancer\t\n"
        + "JPCLN002.IMG\t1\t30\t?\tfemale\t1614\t1090\tbenign\tl.upper lobe(S5)\tpulmonary hematoma"
        + "JPCLN003.IMG\t3\t8\t63\tfemale\t1303.5\t447\tmalignant\tr.lower lobe\tlung cancer\r\n"
    static let cnndat = "JPCNN001.IMG\t37\tmale\tnon-nodule\nJPCNN002.IMG\t44\tfemale\tnon-nodule\n"

    @Test func noduleRecordsBecomeOneNoduleEachAtJSRTGeometry() throws {
        let truth = try #require(try GroundTruth.jsrtClinicalData(Self.clndat))
        #expect(truth.images.map(\.path) == ["JPCLN001.IMG", "JPCLN002.IMG", "JPCLN003.IMG"])
        #expect(truth.images.allSatisfy { $0.width == 2048 && $0.height == 2048 && $0.pixelSpacingMM == 0.175 })
        let nodules = truth.images.map { $0.nodules.first! }
        #expect(truth.images.allSatisfy { $0.nodules.count == 1 })
        #expect(nodules.map(\.x) == [1634, 1614, 1303.5] && nodules.map(\.y) == [692, 1090, 447])
        #expect(nodules.map(\.diameterMM) == [15, 30, 8] && nodules.map(\.subtlety) == [5, 1, 3])
        #expect(nodules.allSatisfy { $0.onRib == nil })
    }

    @Test func nonNoduleRecordsBecomeImagesWithoutNodules() throws {
        let truth = try #require(try GroundTruth.jsrtClinicalData(Self.cnndat))
        #expect(truth.images.map(\.path) == ["JPCNN001.IMG", "JPCNN002.IMG"] && truth.images.allSatisfy(\.nodules.isEmpty))
        // Commas between fields (a spreadsheet's export) read the same.
        let commas = try #require(try GroundTruth.jsrtClinicalData("JPCLN001.IMG, 5, 15, 53, male, 1634, 692, malignant"))
        #expect(commas.images.first?.nodules.first?.x == 1634 && commas.images.first?.nodules.first?.diameterMM == 15)
    }

    @Test("a record that cannot be read is named, with the field", arguments: [
        ("JPCLN007.IMG\t5\t15\t53\tmale\t16x4\t692\tmalignant", GroundTruthError.jsrtRecord(name: "JPCLN007.IMG", field: "x")),
        ("JPCLN007.IMG\t5\t15\t53\tmale\t1634", GroundTruthError.jsrtRecord(name: "JPCLN007.IMG", field: "y")),
        ("JPCLN007.IMG\t7\t15\t53\tmale\t1634\t692", GroundTruthError.jsrtRecord(name: "JPCLN007.IMG", field: "subtlety")),
        ("JPCLN007.IMG\t2\t0\t53\tmale\t1634\t692", GroundTruthError.jsrtRecord(name: "JPCLN007.IMG", field: "size")),
        ("JPCNN001.IMG 37 male\nJPCNN001.IMG 37 male", GroundTruthError.duplicateImage("JPCNN001.IMG")),
    ])
    func unreadableRecords(_ text: String, expected: GroundTruthError) {
        #expect(throws: expected) { _ = try GroundTruth.jsrtClinicalData(text) }
    }

    @Test func filesAreRecognisedByContent() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("nodulekit-jsrt-\(getpid())").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try Data(Self.clndat.utf8).write(to: URL(fileURLWithPath: dir + "/CLNDAT_EN.txt"))
        try Data(#"{"images": [{"path": "a.png", "pixel_spacing_mm": 0.2, "nodules": []}]}"#.utf8)
            .write(to: URL(fileURLWithPath: dir + "/truth.json"))
        try Data("patient,date\n".utf8).write(to: URL(fileURLWithPath: dir + "/other.csv"))
        let jsrt = try GroundTruth.read(contentsOf: dir + "/CLNDAT_EN.txt")
        let json = try GroundTruth.read(contentsOf: dir + "/truth.json")
        #expect(jsrt.images.count == 3 && json.images.map(\.path) == ["a.png"])
        #expect((jsrt.images + json.images).allSatisfy { $0.folder == dir })
        #expect(throws: GroundTruthError.unreadable(path: dir + "/missing.txt")) { _ = try GroundTruth.read(contentsOf: dir + "/missing.txt") }
        do {
            _ = try GroundTruth.read(contentsOf: dir + "/other.csv")
            Issue.record("a CSV without JSRT names was read as truth")
        } catch let GroundTruthError.unrecognised(path, _) {
            #expect(path == dir + "/other.csv")
        }
        // The same file twice is one image listed twice.
        #expect(throws: GroundTruthError.duplicateImage("JPCLN001.IMG")) { _ = try GroundTruth.concatenating([jsrt, jsrt]) }
        #expect(try GroundTruth.concatenating([jsrt, json]).images.count == 4)
    }
}

/// Evaluating against JSRT's truth: records are found by file name wherever they are and
/// whatever their extension, a resized copy's coordinates are scaled to the 2048² original, the
/// images without a nodule count their false positives, and sensitivity is given by subtlety.
@Suite struct JSRTEvaluationTests {
    static func record(_ path: String, side: Int, width: Int? = nil, _ candidates: [(x: Double, y: Double, px: Double, score: Double)]) throws
        -> DetectionRecord {
        let nodules = candidates.map { #"{"x": \#($0.x), "y": \#($0.y), "diameter_px": \#($0.px), "score": \#($0.score), "features": {}}"# }
        return try JSONDecoder().decode(DetectionRecord.self, from: Data("""
            {"path": "\(path)", "width": \(width ?? side), "height": \(side), "pixel_spacing_mm": null, "spacing_source": "unknown",
             "nodules": [\(nodules.joined(separator: ", "))], "error": null}
            """.utf8))
    }

    @Test func recordsOfResizedCopiesAreFoundAndScaled() throws {
        let truth = try GroundTruth.concatenating([
            try #require(try GroundTruth.jsrtClinicalData(JSRTClinicalDataTests.clndat)),
            try #require(try GroundTruth.jsrtClinicalData(JSRTClinicalDataTests.cnndat)),
        ])
        let records = [
            // 1024² PNG copies: JPCLN001's nodule (1634, 692) is at (817, 346); 10 px there are 3.5 mm.
            try Self.record("/converted/jpcln001.png", side: 1024, [(818, 347, 40, 0.9), (100, 100, 10, 0.2)]),
            // JPCLN002 found as the raw file; its nodule missed, a false positive at 0.8.
            try Self.record("/jsrt/JPCLN002.IMG", side: 2048, [(300, 300, 20, 0.8)]),
            // JPCLN003: 8 mm nodule at (1303.5, 447); hit at 0.7 within 4 mm (22.9 px).
            try Self.record("/jsrt/JPCLN003.IMG", side: 2048, [(1310, 460, 45, 0.7)]),
            try Self.record("/jsrt/JPCNN001.IMG", side: 2048, [(500, 500, 20, 0.85)]),
            // JPCNN002 has no record: counted, with no candidates.
        ]
        let e = FROCEvaluation(truth: truth, truthFolder: "/nowhere", records: records)
        #expect(e.images == 5 && e.nodules == 3 && e.missingImages == ["JPCNN002.IMG"])
        // In score order: hit (0.9), FP 0.85, FP 0.8, hit 0.7, FP 0.2. Two FPs over five images are
        // 0.4 FP/image, so both hits count from 0.5 FP/image on; the third FP (0.6 FP/image) adds none.
        let sensitivities: [Double] = e.froc.map(\.sensitivity)
        #expect(sensitivities.allSatisfy { abs($0 - 2.0 / 3) < 1e-12 }, "\(sensitivities)")
        let rates: [Double] = e.curve.map(\.falsePositivesPerImage)
        #expect(rates == [0, 0, 0.2, 0.4, 0.4, 0.6])
        let hits = e.operatingHits.map { ($0.image, $0.measuredDiameterMM!) }
        #expect(hits.map(\.0) == ["JPCLN001.IMG", "JPCLN003.IMG"])
        // 40 px of the 1024² copy are 80 px of the original: 14 mm (true 15).
        #expect(abs(hits[0].1 - 14) < 1e-9 && abs(hits[1].1 - 45 * 0.175) < 1e-9)
        let bands = Dictionary(uniqueKeysWithValues: e.bands.map { ($0.name, $0) })
        #expect(bands["subtlety 5"]?.hits == 1 && bands["subtlety 1"]?.hits == 0 && bands["subtlety 3"]?.hits == 1)
        #expect(bands["subtlety 2"]?.nodules == 0 && e.table.contains("subtlety 5"))
    }

    @Test func aCopyOfAnotherAspectIsNotScaledAndAnAmbiguousNameIsNotGuessed() throws {
        let truth = try #require(try GroundTruth.jsrtClinicalData("JPCLN001.IMG\t5\t15\t53\tmale\t1634\t692\tmalignant"))
        // A crop (1024 wide, 2048 high): coordinates are taken as they are, so (817, 692) misses.
        let cropped = FROCEvaluation(truth: truth, truthFolder: "/", records: [try Self.record("/c/JPCLN001.png", side: 2048, width: 1024,
                                                                                                [(817, 692, 40, 0.9)])])
        #expect(cropped.operatingHits.isEmpty)
        // Two records of that name in different folders and formats: neither is chosen.
        let twice = FROCEvaluation(truth: truth, truthFolder: "/", records: [
            try Self.record("/a/JPCLN001.png", side: 2048, [(1634, 692, 40, 0.9)]),
            try Self.record("/b/JPCLN001.dcm", side: 2048, [(1634, 692, 40, 0.9)]),
        ])
        #expect(twice.missingImages == ["JPCLN001.IMG"] && twice.operatingHits.isEmpty)
    }
}

/// `nodules evaluate` reads a CSV truth table (the samples' `truth.csv`, a reader's own
/// annotations): columns by name, images without nodules, the spacing from the records when the
/// table has none, and the exact error for a row it cannot use.
@Suite struct CSVTruthTests {
    static let table = """
        Image,nodule,x_px,y_px,diameter_mm,on_rib
        "cases/a one.png",A,100,120.5,12,true
        cases/a one.png,B,300,80,8,0
        cases/b.png,,,,,
        cases/c.png,C,50,60,20,
        """

    @Test func rowsBecomeImagesAndNodules() throws {
        let truth = try #require(try GroundTruth.csvTable(Self.table))
        #expect(truth.images.map(\.path) == ["cases/a one.png", "cases/b.png", "cases/c.png"])
        #expect(truth.images.map(\.nodules.count) == [2, 0, 1] && truth.images.allSatisfy { $0.pixelSpacingMM == nil })
        let a = truth.images[0].nodules
        #expect(a.map(\.id) == ["A", "B"] && a.map(\.x) == [100, 300] && a.map(\.y) == [120.5, 80] && a.map(\.diameterMM) == [12, 8])
        #expect(a.map(\.onRib) == [true, false] && truth.images[2].nodules[0].onRib == nil)
        // Other column names and a spacing column; a header without the columns is not such a table.
        let other = try #require(try GroundTruth.csvTable("path,x,y,diameter_mm,pixel_spacing_mm\nq.png,1,2,10,0.2\n"))
        #expect(other.images.first?.pixelSpacingMM == 0.2 && other.images.first?.nodules.first?.id == nil)
        #expect(try GroundTruth.csvTable("patient_id,study_date,path\nP,2024-01-01,a.png\n") == nil)
        #expect(try GroundTruth.csvTable("JPCLN001.IMG\t5\t15\t53\tmale\t1634\t692") == nil)
    }

    @Test("a row that cannot be used is named by its line", arguments: [
        ("image,x,y,diameter_mm\na.png,1,2,\n", 2, "x, y and diameter_mm must be numbers"),
        ("image,x,y,diameter_mm\na.png,1,2,10\n,3,4,5\n", 3, "no image"),
        ("image,x,y,diameter_mm,pixel_spacing_mm\na.png,1,2,10,0.2\na.png,5,5,10,0.3\n", 3, "another pixel spacing"),
        ("image,x,y,diameter_mm,pixel_spacing_mm\na.png,1,2,10,abc\n", 2, "is not a spacing in mm"),
    ])
    func unusableRows(_ text: String, line: Int, reason: String) {
        do {
            _ = try GroundTruth.csvTable(text)
            Issue.record("read without an error")
        } catch let GroundTruthError.csvRow(found, why) {
            #expect(found == line && why.contains(reason), "\(found): \(why)")
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func theSpacingComesFromTheRecordWhenTheTableHasNone() throws {
        let truth = try #require(try GroundTruth.csvTable(Self.table))
        func record(_ path: String, spacing: Double?, _ candidates: [(Double, Double, Double)]) throws -> DetectionRecord {
            let nodules = candidates.map { #"{"x": \#($0.0), "y": \#($0.1), "diameter_px": 20, "score": \#($0.2), "features": {}}"# }
            return try JSONDecoder().decode(DetectionRecord.self, from: Data("""
                {"path": "\(path)", "width": 400, "height": 400, "pixel_spacing_mm": \(spacing.map { "\($0)" } ?? "null"),
                 "spacing_source": "test", "nodules": [\(nodules.joined(separator: ", "))], "error": null}
                """.utf8))
        }
        let records = [
            // 0.5 mm/px: A (12 mm, hit radius 6 mm = 12 px) is hit 10 px off; B missed; a false positive.
            try record("/data/cases/a one.png", spacing: 0.5, [(110, 120.5, 0.9), (200, 200, 0.5)]),
            try record("/data/cases/b.png", spacing: 0.5, [(10, 10, 0.8)]),
            // No spacing anywhere: left out, and said.
            try record("/data/cases/c.png", spacing: nil, [(50, 60, 0.95)]),
        ]
        let e = FROCEvaluation(truth: truth, truthFolder: "/data", records: records)
        #expect(e.images == 2 && e.nodules == 2 && e.imagesWithoutSpacing == ["cases/c.png"] && e.missingImages.isEmpty)
        #expect(e.operatingHits.map(\.image) == ["cases/a one.png"] && e.operatingHits.first?.measuredDiameterMM == 10)
        #expect(abs((e.operatingHits.first?.offsetFraction ?? 0) - 5.0 / 6) < 1e-12)
        #expect(e.table.contains("left out, no pixel spacing: cases/c.png"))
        // With every spacing known, nothing is left out and the key is absent from the JSON.
        let json = String(decoding: try JSONEncoder().encode(FROCEvaluation(truth: truth, truthFolder: "/data", records: Array(records.prefix(2)))),
                          as: UTF8.self)
        #expect(!json.contains("imagesWithoutSpacing"))
    }
}
