import Foundation
import Testing
import TestSupport
@testable import NoduleKitCLI

private let fixtures = Fixtures.repositoryRoot() + "/Tests/RadiographIOTests/Fixtures"

/// `nodules info`, spawned as a real binary: output, JSON, exit codes.
@Suite struct InfoCommandTests {
    @Test func oneGoodFileExitsZeroWithAllFields() throws {
        let run = try SpawnedProcess.run("nodules", ["info", "\(fixtures)/gray16-sbit12-phys.png"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("PNG gray 16-bit interlaced"))
        #expect(run.standardOutput.contains("37 × 23 px, 12 bits stored, MONOCHROME2"))
        #expect(run.standardOutput.contains("0.175 × 0.175 mm (tag:PNG pHYs)"))
        #expect(run.standardOutput.contains("min "))
    }

    @Test func jsonLinesOneObjectPerFileWithErrorsInline() throws {
        let files = ["gray16-sbit12-phys.png", "truncated.png", "gray-145dpi.jpg", "empty.png"].map { "\(fixtures)/\($0)" }
        let run = try SpawnedProcess.run("nodules", ["info", "--json"] + files)
        #expect(run.status == 1)
        let lines = run.standardOutput.split(separator: "\n")
        #expect(lines.count == 4)
        let objects = try lines.map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        #expect(objects.map { $0["path"] as? String } == files)
        #expect(objects.map { $0["ok"] as? Bool } == [true, false, true, false])
        #expect(objects[0]["bits_stored"] as? Int == 12)
        #expect(objects[0]["spacing_source"] as? String == "tag:PNG pHYs")
        #expect((objects[1]["error"] as? [String: Any])?["code"] as? String == "decode.truncated")
        #expect((objects[3]["error"] as? [String: Any])?["code"] as? String == "decode.empty")
        let spacing = objects[2]["pixel_spacing_mm"] as? [String: Double]
        #expect(abs((spacing?["row"] ?? 0) - 25.4 / 145) < 1e-12)
        #expect(run.standardError.contains("4 files: 2 ok, 2 failed"))
    }

    @Test func failuresAreReportedAndTheRestStillProcessed() throws {
        let run = try SpawnedProcess.run("nodules", ["info", "\(fixtures)/bad-crc.png", fixtures, "\(fixtures)/rgb8.png"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("bad-crc.png: PNG: bad checksum"))
        #expect(run.standardError.contains("is a directory"))
        #expect(run.standardOutput.contains("rgb8.png"))
    }

    @Test func rawNeedsGeometryAndSpacingIsRecordedAsCommandLine() throws {
        let path = "\(fixtures)/jsrt-like-40x30.img"
        let refused = try SpawnedProcess.run("nodules", ["info", path])
        #expect(refused.status == 1)
        #expect(refused.standardError.contains("not an image"))
        let run = try SpawnedProcess.run("nodules", ["info", "--json", "--raw", "40x30:u16be:12", "--spacing", "0.175", path])
        #expect(run.status == 0)
        let object = try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as! [String: Any]
        #expect(object["format"] as? String == "raw")
        #expect(object["spacing_source"] as? String == "command-line")
        #expect(object["width"] as? Int == 40 && object["height"] as? Int == 30)
    }

    @Test(arguments: [["info"], ["info", "--raw", "2048x2048:u32", "x.img"], ["info", "--spacing", "-1", "x.png"], ["info", "--bogus", "x.png"], ["frobnicate"]])
    func usageErrorsExitTwo(arguments: [String]) throws {
        let run = try SpawnedProcess.run("nodules", arguments)
        #expect(run.status == 2, "\(arguments): \(run.standardError)")
        #expect(!run.standardError.isEmpty)
    }

    @Test func helpAndVersionExitZero() throws {
        let help = try SpawnedProcess.run("nodules", ["--help"])
        #expect(help.status == 0)
        #expect(help.standardOutput.contains("does not diagnose"))
        let version = try SpawnedProcess.run("nodules", ["--version"])
        #expect(version.status == 0)
        #expect(version.standardOutput.contains(NoduleKitVersion.string))
    }
}

/// The same commands parsed in-process.
@Suite struct InProcessParsingTests {
    @Test func infoParsesDecodeOptions() throws {
        let command = try Nodules.parseAsRoot(["info", "--raw", "2048x2048:u16be:12", "--spacing", "0.175x0.2", "--max-megapixels", "5", "a.img"])
        let info = try #require(command as? Info)
        let options = try info.decode.decodeOptions()
        #expect(options.raw?.bitsStored == 12)
        #expect(options.spacingOverride?.row == 0.175 && options.spacingOverride?.column == 0.2)
        #expect(options.spacingOverride?.source == .commandLine)
        #expect(options.maxPixels == 5_000_000)
        #expect(info.files == ["a.img"])
    }

    @Test func polarityOption() throws {
        let inferred = try #require(try Nodules.parseAsRoot(["info", "a.png"]) as? Info)
        #expect(try inferred.decode.decodeOptions().infersPolarity)
        let stored = try #require(try Nodules.parseAsRoot(["info", "--polarity", "stored", "a.png"]) as? Info)
        #expect(try !stored.decode.decodeOptions().infersPolarity)
        #expect(Nodules.run(arguments: ["info", "--polarity", "mono1", "x.png"]) == 2)
        // track and report read the images again, and take the same choice.
        #expect(throws: (any Error).self) { try Nodules.parseAsRoot(["track", "--db", "s.sqlite", "--polarity", "mono1"]) }
        #expect(throws: (any Error).self) { try Nodules.parseAsRoot(["report", "--db", "s.sqlite", "--all", "--out", "r", "--polarity", "x"]) }
        _ = try Nodules.parseAsRoot(["track", "--db", "s.sqlite", "--polarity", "stored"])
    }

    @Test func convertRejectsUnknownExtensionAtParseTime() {
        #expect(throws: (any Error).self) { try Nodules.parseAsRoot(["convert", "a.png", "b.tiff"]) }
    }

    @Test func runMapsUsageErrorsToTwo() {
        #expect(Nodules.run(arguments: ["info", "--spacing", "abc", "x.png"]) == 2)
    }
}
