import Foundation
import RadiographIO
import Testing
import TestSupport

@Suite struct WriterTests {
    @Test func png16RoundTripKeepsSamplesSpacingAndBits() throws {
        let source = try RadiographReader(options: DecodeOptions(raw: try RawGeometry(parsing: "40x30:u16be:12"),
                                                                 spacingOverride: PixelSpacing(row: 0.175, column: 0.15, source: .commandLine)))
            .read(contentsOf: Fixtures.path("jsrt-like-40x30.img"))
        let out = Fixtures.temporaryDirectory() + "/out.png"
        try RadiographWriter.write(source, to: out)
        let back = try RadiographReader().read(contentsOf: out)
        #expect(back.samples == source.samples)
        #expect(back.width == 40 && back.height == 30)
        #expect(back.bitsStored == 12)
        let spacing = try #require(back.pixelSpacing)
        // pHYs stores whole pixels per metre: 1000/0.175 = 5714.29 → 5714.
        #expect(abs(spacing.row - 0.175) < 1e-4 && abs(spacing.column - 0.15) < 1e-4)
        #expect(spacing.source == .formatTag("PNG pHYs"))
    }

    @Test func png16RoundTripKeepsPatientAndStudyDate() throws {
        var source = try RadiographReader().read(contentsOf: Fixtures.path("gray16-phys-aniso.png"))
        source.patient = PatientIdentity(id: "Müller^7", issuer: "HOSP-A")
        source.studyDate = StudyDate("2025-02-28")
        let back = try RadiographReader().decode(try RadiographWriter.encode(source, as: .png16), path: "mem.png")
        #expect(back.patient == source.patient && back.studyDate == source.studyDate)
        #expect(back.samples == source.samples)
        // Without them, no text chunks are written and nothing is read back.
        source.patient = nil
        source.studyDate = nil
        let plain = try RadiographReader().decode(try RadiographWriter.encode(source, as: .png16), path: "plain.png")
        #expect(plain.patient == nil && plain.studyDate == nil)
    }

    @Test func npyHeaderIsAlignedAndShapeIsRowsByColumns() throws {
        let source = try RadiographReader().read(contentsOf: Fixtures.path("gray16-phys-aniso.png"))
        let bytes = try RadiographWriter.encode(source, as: .npy)
        let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
        #expect((10 + headerLength) % 64 == 0)
        let out = Fixtures.temporaryDirectory() + "/out.npy"
        try RadiographWriter.write(source, to: out)
        let back = try NPYFile.loadUInt16(out)
        #expect(back.shape == [source.height, source.width])
        #expect(back.values == source.samples)
    }

    @Test func unknownDestinationExtensionIsRefused() {
        #expect(throws: EncodingError.self) { try RadiographWriter.Destination(path: "out.tiff") }
    }
}
