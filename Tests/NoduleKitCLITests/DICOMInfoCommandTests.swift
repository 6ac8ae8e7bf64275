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
}
