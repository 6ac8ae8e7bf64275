import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing
import TestSupport
import BatchPipeline
@testable import NoduleKitCLI
import NoduleDetection
import RadiographIO

private let root = Fixtures.repositoryRoot()
private let ioFixtures = root + "/Tests/RadiographIOTests/Fixtures"

/// `nodules detect` and `nodules evaluate`, spawned and in-process.
@Suite struct DetectCommandTests {
    private func objects(_ text: String) throws -> [[String: Any]] {
        try text.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
        }
    }

    @Test func jsonLinesFollowTheSchemaAndErrorsStayInline() throws {
        // The default definition with every candidate reported, so the check below is
        // about detection and measurement, not about the score model's ranking.
        let definition = root + "/Pipelines/cxr-nodules.json"
        var json = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: definition))) as? [String: Any])
        var candidates = try #require(json["candidates"] as? [String: Any])
        candidates["maximum_reported"] = 200
        json["candidates"] = candidates
        let wide = Fixtures.temporaryDirectory("detect-wide") + "/all-candidates.json"
        try JSONSerialization.data(withJSONObject: json).write(to: URL(fileURLWithPath: wide))
        let run = try SpawnedProcess.run("nodules", ["detect", "--pipeline", wide, root + "/Data/samples/PHANTOM-002/2026-03-02/pa.jpg",
                                                     ioFixtures + "/truncated.png"], currentDirectory: root)
        #expect(run.status == 1, "\(run.standardError)")
        let lines = try objects(run.standardOutput)
        #expect(lines.count == 2)
        // Every key the schema requires is present on both the good and the failed line.
        let schemaData = try Data(contentsOf: URL(fileURLWithPath: root + "/Pipelines/schemas/detection.schema.json"))
        let schema = try #require(try JSONSerialization.jsonObject(with: schemaData) as? [String: Any])
        let required = try #require(schema["required"] as? [String])
        for line in lines { for key in required { #expect(line[key] != nil, "missing \(key)") } }
        let good = lines[0]
        #expect(good["error"] is NSNull)
        #expect((good["pipeline"] as? [String: Any])?["name"] as? String == "cxr-nodules")
        #expect((good["pipeline"] as? [String: Any])?["digest"] as? String != nil)
        let nodules = try #require(good["nodules"] as? [[String: Any]])
        // The bundled phantom's nodule A, centre (720, 450) px, 16 mm, is found and
        // sized within 2.5 mm (ribs overlap it on this crude phantom).
        let hits = nodules.filter { n in
            guard let x = n["x"] as? Double, let y = n["y"] as? Double else { return false }
            return hypot(x - 720, y - 450) < 16
        }
        #expect(hits.count == 1, "candidates: \(nodules.map { ($0["x"] ?? 0, $0["y"] ?? 0) })")
        if let size = hits.first?["diameter_mm"] as? Double { #expect(abs(size - 16) <= 2.5, "sized \(size) mm") }
        let bad = lines[1]
        #expect(bad["error_code"] as? String == "decode.truncated")
        #expect((bad["nodules"] as? [Any])?.isEmpty == true)
        #expect(run.standardError.contains("2 images: 1 ok, 1 failed"))
    }

    @Test func inProcessWritesOutputAndOverlays() throws {
        let dir = Fixtures.temporaryDirectory("detect")
        var command = try Nodules.parseAsRoot(["detect", "--out", dir + "/r.jsonl", "--overlay", dir + "/ov",
                                               "--pipeline", root + "/Pipelines/cxr-nodules.json",
                                               root + "/Data/samples/PHANTOM-001/2026-01-12/pa.png"])
        try command.run()
        let text = try String(contentsOfFile: dir + "/r.jsonl", encoding: .utf8)
        #expect(try objects(text).count == 1)
        for name in ["000-pa.overlay.png", "000-pa.lungs.png"] {
            let bytes = try #require(FileManager.default.contents(atPath: dir + "/ov/" + name))
            #expect(bytes.starts(with: [0x89, 0x50, 0x4E, 0x47]), "\(name) is a PNG")
        }
    }

    /// An installed `nodules` (`make install`: PREFIX/bin/nodules, definitions in PREFIX/share/nodulekit/Pipelines)
    /// finds its default definition from any working directory; before the definitions are there it says where it
    /// looked.
    @Test func installedExecutableFindsItsDefinitionsUnderShare() throws {
        let prefix = Fixtures.temporaryDirectory("installed"), elsewhere = Fixtures.temporaryDirectory("elsewhere")
        let bin = prefix + "/bin", share = prefix + "/share/nodulekit/Pipelines"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        // Copied by cp, not in this process (see DICOMInfoCommandTests: ETXTBSY).
        let copy = try SpawnedProcess.run(executable: URL(fileURLWithPath: "/bin/cp"),
                                          [SpawnedProcess.productsDirectory.appendingPathComponent("nodules").path, bin])
        try #require(copy.status == 0, "\(copy.standardError)")
        let installed = URL(fileURLWithPath: bin + "/nodules")
        let image = root + "/Data/samples/PHANTOM-002/2026-03-02/pa.jpg"
        let environment = ["NODULEKIT_PIPELINES": ""]

        let before = try SpawnedProcess.run(executable: installed, ["detect", image], currentDirectory: elsewhere,
                                            environment: environment)
        #expect(before.status == 2)
        #expect(before.standardError.contains("pipeline 'cxr-nodules' not found") && before.standardError.contains((prefix as NSString).lastPathComponent + "/share/nodulekit/Pipelines"),
                "\(before.standardError)")

        try FileManager.default.createDirectory(atPath: share, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: root + "/Pipelines/cxr-nodules.json", toPath: share + "/cxr-nodules.json")
        let after = try SpawnedProcess.run(executable: installed, ["detect", image], currentDirectory: elsewhere,
                                           environment: environment)
        #expect(after.status == 0, "\(after.standardError)")
        let record = try #require(try objects(after.standardOutput).first)
        let version = try PipelineDefinition.load(root + "/Pipelines/cxr-nodules.json").version
        #expect((record["pipeline"] as? [String: Any])?["name"] as? String == "cxr-nodules", "\(record)")
        #expect((record["pipeline"] as? [String: Any])?["version"] as? String == version, "\(record)")
    }

    @Test func unknownPipelineIsAUsageError() throws {
        let run = try SpawnedProcess.run("nodules", ["detect", "--pipeline", "no-such", root + "/Data/samples/PHANTOM-002/2026-03-02/pa.jpg"])
        #expect(run.status == 2)
        #expect(run.standardError.contains("pipeline 'no-such' not found"))
    }

    @Test func evaluatePrintsFROCFromTruthAndResults() throws {
        let dir = Fixtures.temporaryDirectory("evaluate")
        let truth = """
        {"images": [{"path": "a.png", "pixel_spacing_mm": 0.5, "nodules": [{"x": 100, "y": 100, "diameter_mm": 12, "on_rib": true}]},
                    {"path": "b.png", "pixel_spacing_mm": 0.5, "nodules": []}]}
        """
        // a.png: a hit at score 0.9 (sized 13 mm) and a false positive at 0.8; b.png: a false positive at 0.7.
        let results = """
        {"path": "\(dir)/a.png", "width": 200, "height": 200, "pixel_spacing_mm": 0.5, "spacing_source": "x", "nodules": [{"x": 102, "y": 99, "diameter_px": 26, "diameter_mm": 13, "score": 0.9, "features": {}}, {"x": 20, "y": 20, "diameter_px": 10, "diameter_mm": 5, "score": 0.8, "features": {}}], "error": null}
        {"path": "\(dir)/b.png", "width": 200, "height": 200, "pixel_spacing_mm": 0.5, "spacing_source": "x", "nodules": [{"x": 50, "y": 50, "diameter_px": 10, "diameter_mm": 5, "score": 0.7, "features": {}}], "error": null}
        """
        try Data(truth.utf8).write(to: URL(fileURLWithPath: dir + "/truth.json"))
        try Data(results.utf8).write(to: URL(fileURLWithPath: dir + "/r.jsonl"))
        let run = try SpawnedProcess.run("nodules", ["evaluate", "--json", "--truth", dir + "/truth.json", "--results", dir + "/r.jsonl"])
        #expect(run.status == 0, "\(run.standardError)")
        let evaluation = try #require(try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [String: Any])
        let froc = try #require(evaluation["froc"] as? [[String: Any]])
        let sensitivities = froc.map { $0["sensitivity"] as? Double }
        // 0.5 FP/image allows 1 FP over 2 images: the hit (0.9) and one FP (0.8) → 1.0.
        #expect(sensitivities == [1.0, 1.0, 1.0, 1.0])
        let error = try #require(evaluation["diameterError"] as? [String: Any])
        #expect(error["medianAbsoluteMM"] as? Double == 1.0)
        // The hits themselves, for pooling sets: a.png's nodule, found at 0.9 and sized 13 mm.
        let hits = try #require(evaluation["operatingHits"] as? [[String: Any]])
        #expect(hits.count == 1)
        #expect(hits.first?["image"] as? String == "a.png" && hits.first?["nodule"] as? Int == 0)
        #expect(hits.first?["measuredDiameterMM"] as? Double == 13 && hits.first?["score"] as? Double == 0.9)
        #expect(hits.first?["trueDiameterMM"] as? Double == 12)
        // The whole curve: one point after each distinct score, from (0, 0).
        let curve = try #require(evaluation["curve"] as? [[String: Any]])
        #expect(curve.map { $0["falsePositivesPerImage"] as? Double } == [0, 0, 0.5, 1.0])
        #expect(curve.map { $0["sensitivity"] as? Double } == [0, 1, 1, 1])

        // --plot draws it, with --compare's results beside it (here a "peer" that finds nothing).
        let peer = """
        {"path": "\(dir)/a.png", "width": 200, "height": 200, "pixel_spacing_mm": null, "spacing_source": "unknown", "nodules": [{"x": 20, "y": 20, "diameter_px": 10, "score": 0.5, "features": {}}], "error": null}
        """
        try Data(peer.utf8).write(to: URL(fileURLWithPath: dir + "/peer.jsonl"))
        let plotted = try SpawnedProcess.run("nodules", ["evaluate", "--truth", dir + "/truth.json", "--results", dir + "/r.jsonl",
                                                         "--label", "ours", "--plot", dir + "/froc.svg", "--compare", "peer=" + dir + "/peer.jsonl"])
        #expect(plotted.status == 0, "\(plotted.standardError)")
        let svg = try Data(contentsOf: URL(fileURLWithPath: dir + "/froc.svg"))
        let elements = SVGElements()
        let parser = XMLParser(data: svg)
        parser.delegate = elements
        #expect(parser.parse(), "the SVG is well-formed XML")
        #expect(elements.counts["path"] == 2, "one curve per results file")
        #expect(elements.counts["circle"] == 8, "the four operating points of each")
        #expect(elements.text.contains("ours (2 images, 1 nodule)") && elements.text.contains("peer (2 images, 1 nodule)"))
        #expect(elements.text.contains("100 %") && elements.text.contains("0 %"))
        let misuse = try SpawnedProcess.run("nodules", ["evaluate", "--truth", dir + "/truth.json", "--results", dir + "/r.jsonl",
                                                        "--compare", "peer=" + dir + "/peer.jsonl"])
        #expect(misuse.status == 2 && misuse.standardError.contains("--plot"))
    }

    /// `nodules detect` over several files shows progress (here the terminal's bar, into a sink),
    /// keeps going past a file that fails, and writes that file's error even when quiet.
    @Test func detectShowsProgressAndKeepsGoingPastABadFile() throws {
        final class Sink: @unchecked Sendable { var text = "" }
        let definition = try PipelineDefinition.load(root + "/Pipelines/cxr-nodules.json")
        let detector = NoduleDetector(pipeline: definition, threads: 2)
        let files = [ioFixtures + "/truncated.png", root + "/Data/samples/PHANTOM-002/2026-03-02/pa.jpg"]
        let bar = Sink()
        var lines: [String] = []
        let failed = try Detect.detect(files, reader: RadiographReader(), detector: detector, overlay: nil,
                                       progress: ProgressReporter(mode: .bar) { bar.text += $0 }) { lines.append($1) }
        #expect(failed == 1 && lines.count == 2)
        #expect(lines[0].contains("\"error_code\":\"decode.") && lines[1].contains("\"error\":null"), "\(lines)")
        #expect(bar.text.contains("nodules: error:") && bar.text.contains(" 1/2 ") && bar.text.contains(" 2/2 100%"), "\(bar.text)")
        #expect(bar.text.contains("img/s") && bar.text.hasSuffix("\n"))
        let quiet = Sink()
        _ = try Detect.detect(files, reader: RadiographReader(), detector: detector, overlay: nil,
                              progress: ProgressReporter(mode: .quiet) { quiet.text += $0 }) { _, _ in }
        #expect(quiet.text.hasPrefix("nodules: error:") && !quiet.text.contains("img/s"), "\(quiet.text)")
    }

    /// The demo's last step: the bundled samples detected (the raw one with its geometry) and
    /// evaluated against their CSV truth, whose spacing column also covers the raw file.
    @Test func theSamplesAreEvaluatedAgainstTheirCSVTruth() throws {
        let dir = Fixtures.temporaryDirectory("evaluate-samples")
        let samples = ["PHANTOM-001/2026-01-12/pa.png", "PHANTOM-001/2026-05-04/pa.png", "PHANTOM-002/2026-03-02/pa.jpg",
                       "jsrt-style/PHANTOM-003.img"].map { "Data/samples/" + $0 }
        let detect = try SpawnedProcess.run("nodules", ["detect", "--raw", "1024x1024:u16be:12", "--out", dir + "/r.jsonl"] + samples,
                                            currentDirectory: root)
        #expect(detect.status == 0, "\(detect.standardError)")
        // The summary, with the raw file's warnings counted (its spacing is unknown).
        #expect(detect.standardError.contains("4 images: 4 ok, 0 failed\nwarnings on 1 image"), "\(detect.standardError)")
        #expect(detect.standardError.contains("1 × pixel spacing unknown: detection assumed # mm/px"))
        let run = try SpawnedProcess.run("nodules", ["evaluate", "--json", "--truth", "Data/samples/truth.csv", "--results", dir + "/r.jsonl"],
                                         currentDirectory: root)
        #expect(run.status == 0, "\(run.standardError)")
        let evaluation = try #require(try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [String: Any])
        #expect(evaluation["images"] as? Int == 4 && evaluation["nodules"] as? Int == 6)
        #expect((evaluation["missingImages"] as? [String])?.isEmpty == true && evaluation["imagesWithoutSpacing"] == nil)
        let hits = try #require(evaluation["operatingHits"] as? [[String: Any]])
        #expect(hits.count >= 2, "\(hits)")
        #expect(hits.contains { $0["image"] as? String == "PHANTOM-002/2026-03-02/pa.jpg" })
    }

    /// The JSRT route end to end: the bundled JSRT-layout raw phantom (1024², 0.35 mm/px, a 20 mm
    /// nodule at (330, 520)) stands in for a copy of JSRT image JPCLN001 at half its 2048² size,
    /// so its clinical-data record gives the centre in 2048² px, (660, 1040). The real detector
    /// finds it, `nodules evaluate` reads both clinical data files, matches the record by file
    /// name, scales its coordinates to the original, and reports the subtlety band.
    @Test func evaluateReadsJSRTClinicalData() throws {
        let dir = Fixtures.temporaryDirectory("evaluate-jsrt")
        try FileManager.default.createDirectory(atPath: dir + "/images", withIntermediateDirectories: true)
        try? FileManager.default.removeItem(atPath: dir + "/images/JPCLN001.IMG")
        try FileManager.default.copyItem(atPath: root + "/Data/samples/jsrt-style/PHANTOM-003.img", toPath: dir + "/images/JPCLN001.IMG")
        try Data("JPCLN001.IMG\t4\t20\t60\tmale\t660\t1040\tmalignant\tr.lower lobe\tlung cancer\n".utf8)
            .write(to: URL(fileURLWithPath: dir + "/CLNDAT_EN.txt"))
        try Data("JPCNN001.IMG\t44\tfemale\tnon-nodule\n".utf8).write(to: URL(fileURLWithPath: dir + "/CNNDAT_EN.TXT"))
        let detect = try SpawnedProcess.run("nodules", ["detect", "--raw", "1024x1024:u16be:12", "--spacing", "0.35",
                                                        dir + "/images/JPCLN001.IMG", "--out", dir + "/r.jsonl"], currentDirectory: root)
        #expect(detect.status == 0, "\(detect.standardError)")
        let run = try SpawnedProcess.run("nodules", ["evaluate", "--json", "--truth", dir + "/CLNDAT_EN.txt", "--truth", dir + "/CNNDAT_EN.TXT",
                                                     "--results", dir + "/r.jsonl"], currentDirectory: root)
        #expect(run.status == 0, "\(run.standardError)")
        let evaluation = try #require(try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [String: Any])
        #expect(evaluation["images"] as? Int == 2 && evaluation["nodules"] as? Int == 1)
        #expect(evaluation["missingImages"] as? [String] == ["JPCNN001.IMG"])
        let hits = try #require(evaluation["operatingHits"] as? [[String: Any]])
        #expect(hits.count == 1 && hits.first?["image"] as? String == "JPCLN001.IMG")
        let measured = try #require(hits.first?["measuredDiameterMM"] as? Double)
        #expect(abs(measured - 20) < 2, "sized \(measured) mm")
        let bands = try #require(evaluation["bands"] as? [[String: Any]])
        #expect(bands.contains { $0["name"] as? String == "subtlety 4" && $0["hits"] as? Int == 1 })

        // A file that is neither kind is a usage error that says so.
        try Data("image,x,y\n".utf8).write(to: URL(fileURLWithPath: dir + "/other.csv"))
        let wrong = try SpawnedProcess.run("nodules", ["evaluate", "--truth", dir + "/other.csv", "--results", dir + "/r.jsonl"])
        #expect(wrong.status == 2 && wrong.standardError.contains("is neither a truth file"), "\(wrong.standardError)")
        let none = try SpawnedProcess.run("nodules", ["evaluate", "--results", dir + "/r.jsonl"])
        #expect(none.status == 2 && none.standardError.contains("--truth"))
    }
}

/// Element counts and text of an XML document.
final class SVGElements: NSObject, XMLParserDelegate {
    var counts: [String: Int] = [:]
    var text = ""
    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        counts[name, default: 0] += 1
    }
    func parser(_ parser: XMLParser, foundCharacters string: String) { text += string + "|" }
}

/// `nodules lung-features` (hidden tooling for Pipelines/tools/fit_lung_model.py): the files it
/// writes hold exactly the features the lung field's classifier sees.
@Suite struct LungFeaturesCommandTests {
    @Test func writesTheClassifiersFeaturesOnTheMaskGrid() throws {
        let dir = Fixtures.temporaryDirectory("lung-features")
        let image = root + "/Data/phantom/ci/images/" + (try FileManager.default.contentsOfDirectory(atPath: root + "/Data/phantom/ci/images")
            .filter { $0.hasSuffix(".png") }.sorted().first ?? "")
        let stem = ((image as NSString).lastPathComponent as NSString).deletingPathExtension
        let run = try SpawnedProcess.run("nodules", ["lung-features", "--out", dir, image], currentDirectory: root)
        #expect(run.status == 0, "\(run.standardError)")
        let header = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(stem).lungfeatures.json"))) as? [String: Any])
        let width = try #require(header["width"] as? Int), height = try #require(header["height"] as? Int)
        #expect(header["features"] as? [String] == LungPixelFeatures.names)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(stem).lungfeatures.f32"))
        #expect(bytes.count == width * height * LungPixelFeatures.names.count * 4)
        // The same numbers as the library computes in-process.
        let pipeline = try PipelineDefinition.load(root + "/Pipelines/cxr-nodules.json")
        let radiograph = try RadiographReader().read(contentsOf: image)
        let normalised = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation, measureSpacingMM: pipeline.measurement.measureSpacingMM)
        let features = LungField.pixelFeatures(working: normalised.working, workingSpacingMM: normalised.workingSpacingMM, parameters: pipeline.lungField)
        #expect(features.width == width && features.height == height)
        let written = bytes.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
        #expect(written == features.values)
        // And the classifier on them gives the lung field's mask before its clean-up: most mask pixels are lung.
        let field = LungField(working: normalised.working, workingSpacingMM: normalised.workingSpacingMM, parameters: pipeline.lungField)
        let probability = try #require(pipeline.lungField.pixelClassifier).probabilities(features)
        let inMask = (0..<(width * height)).filter { field.mask[$0] != 0 }
        let agree = inMask.filter { probability[$0] > 0.5 }.count
        #expect(!inMask.isEmpty && Double(agree) >= 0.9 * Double(inMask.count), "\(agree)/\(inMask.count)")
    }
}
