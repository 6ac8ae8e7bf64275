import Foundation
import RadiographIO
import Testing
import TestSupport

private let fixtures = Fixtures.repositoryRoot() + "/Tests/RadiographIOTests/Fixtures"

@Suite struct ConvertCommandTests {
    @Test func rawToPNGKeepsSamplesAndSpacing() throws {
        let out = Fixtures.temporaryDirectory() + "/jsrt.png"
        let run = try SpawnedProcess.run("nodules", ["convert", "--raw", "40x30:u16be:12", "--spacing", "0.175",
                                                     "\(fixtures)/jsrt-like-40x30.img", out])
        #expect(run.status == 0, "\(run.standardError)")
        let back = try RadiographReader().read(contentsOf: out)
        let reference = try NPYFile.loadUInt16("\(fixtures)/jsrt-like-40x30.img.expected.npy")
        #expect(back.samples == reference.values)
        #expect(back.bitsStored == 12)
        #expect(abs((back.pixelSpacing?.row ?? 0) - 0.175) < 1e-4)
    }

    @Test func dicomToPNGKeepsPatientAndStudyDate() throws {
        let out = Fixtures.temporaryDirectory() + "/dicom.png"
        let run = try SpawnedProcess.run("nodules", ["convert", "\(fixtures)/dicom/explicit-le.dcm", out])
        #expect(run.status == 0, "\(run.standardError)")
        let back = try RadiographReader().read(contentsOf: out)
        #expect(back.patient == PatientIdentity(id: "PHANTOM-001", issuer: "NODULEKIT-TEST"))
        #expect(back.studyDate == StudyDate("2024-01-31"))
        #expect(back.samples == (try RadiographReader().read(contentsOf: "\(fixtures)/dicom/explicit-le.dcm")).samples)
    }

    @Test func jpegToNPY() throws {
        let out = Fixtures.temporaryDirectory() + "/g.npy"
        let run = try SpawnedProcess.run("nodules", ["convert", "\(fixtures)/gray-baseline.jpg", out])
        #expect(run.status == 0)
        let back = try NPYFile.loadUInt16(out)
        let reference = try NPYFile.loadUInt16("\(fixtures)/gray-baseline.jpg.expected.npy")
        #expect(back.shape == [48, 64])
        #expect(zip(back.values, reference.values).allSatisfy { abs(Int($0) - Int($1)) <= 1 })
    }

    @Test func corruptInputExitsOneAndWritesNothing() throws {
        let out = Fixtures.temporaryDirectory() + "/never.png"
        let run = try SpawnedProcess.run("nodules", ["convert", "\(fixtures)/truncated.jpg", out])
        #expect(run.status == 1)
        #expect(run.standardError.contains("truncated"))
        #expect(!FileManager.default.fileExists(atPath: out))
    }
}
