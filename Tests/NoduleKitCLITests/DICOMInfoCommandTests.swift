import Foundation
import Testing
import TestSupport

private let fixtures = Fixtures.repositoryRoot() + "/Tests/RadiographIOTests/Fixtures/dicom"

/// `nodules info` on DICOM, spawned as a real binary (which itself spawns the worker).
@Suite struct DICOMInfoCommandTests {
    @Test func showsDICOMMetadataWithNoFlags() throws {
        let run = try SpawnedProcess.run("nodules", ["info", "\(fixtures)/spacing-ips-ermf.dcm"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("DICOM Explicit VR Little Endian"))
        #expect(run.standardOutput.contains("0.16 × 0.128 mm (dicom:ImagerPixelSpacing/ERMF(1.25))"))
        #expect(run.standardOutput.contains("PHANTOM-001 (issuer NODULEKIT-TEST)"))
        #expect(run.standardOutput.contains("2024-01-31"))
        #expect(run.standardOutput.contains("DX, view PA"))
    }

    @Test func jsonCarriesErrorsPerFileAndTheBatchContinues() throws {
        let files = ["truncated-rle-50pct.dcm", "explicit-le.dcm", "htj2k.dcm"].map { "\(fixtures)/\($0)" }
        let run = try SpawnedProcess.run("nodules", ["info", "--json", "--dicom-timeout", "5"] + files)
        #expect(run.status == 1)
        let lines = run.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(lines[0].contains("\"code\":\"decode.truncated\""))
        #expect(lines[1].contains("\"ok\":true") && lines[1].contains("\"patient_issuer\":\"NODULEKIT-TEST\""))
        #expect(lines[2].contains("\"code\":\"decode.unsupported-transfer-syntax\"") && lines[2].contains("1.2.840.10008.1.2.4.201"))
    }

    /// Built alone (`swift build --product nodules`), `nodules` has no `nodules-dicom-worker` beside it and
    /// must still decode DICOM: it runs itself as the worker. A copy in a folder of its own stands in for that
    /// build (without the fallback the valid file fails with "decoder worker unavailable"); the truncated file
    /// is still reported as truncated.
    @Test func decodesDICOMWithNoWorkerExecutableBesideIt() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("nodules-alone-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let alone = folder.appendingPathComponent("nodules")
        // Copied by cp, not in this process: a file this process has open for writing can leak into a child another
        // test forks meanwhile, and executing it then fails with ETXTBSY.
        let copy = try SpawnedProcess.run(executable: URL(fileURLWithPath: "/bin/cp"),
                                          [SpawnedProcess.productsDirectory.appendingPathComponent("nodules").path, alone.path])
        try #require(copy.status == 0, "\(copy.standardError)")
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("nodules-dicom-worker").path))

        let files = ["explicit-le.dcm", "truncated-rle-50pct.dcm"].map { "\(fixtures)/\($0)" }
        let run = try SpawnedProcess.run(executable: alone, ["info", "--json", "--dicom-timeout", "5"] + files,
                                         environment: ["NODULEKIT_DICOM_WORKER": ""])
        #expect(run.status == 1, "\(run.standardError)")
        let lines = run.standardOutput.split(separator: "\n").map(String.init)
        #expect(lines.count == 2)
        #expect(lines.first?.contains("\"ok\":true") == true && lines.first?.contains("\"patient_issuer\":\"NODULEKIT-TEST\"") == true,
                "\(lines)")
        #expect(lines.last?.contains("\"code\":\"decode.truncated\"") == true, "\(lines)")
    }
}
