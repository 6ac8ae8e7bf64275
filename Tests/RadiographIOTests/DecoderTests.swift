import Foundation
import RadiographIO
import Testing
import TestSupport

/// Every fixture decodes to exactly (PNG, raw) or within ±1 (JPEG) of the
/// independent reference written by make_fixtures.py.
@Suite struct DecoderTests {
    static let manifest = FixtureManifest.shared

    func decode(_ image: FixtureManifest.Image) throws -> Radiograph {
        var options = DecodeOptions()
        if let raw = image.raw { options.raw = try RawGeometry(parsing: raw) }
        return try RadiographReader(options: options).read(contentsOf: Fixtures.path(image.name))
    }

    func expected(_ image: FixtureManifest.Image) throws -> NPYFile.Array<UInt16> {
        try NPYFile.loadUInt16(Fixtures.path(image.name + ".expected.npy"))
    }

    @Test("PNG pixels are exact for every colour type and bit depth", arguments: manifest.images(format: "png").map(\.name))
    func pngExact(name: String) throws {
        let image = Self.manifest.images.first { $0.name == name }!
        let radiograph = try decode(image)
        let reference = try expected(image)
        #expect(radiograph.source.format == .png)
        #expect(reference.shape == [radiograph.height, radiograph.width])
        #expect(radiograph.width == image.width && radiograph.height == image.height)
        #expect(radiograph.bitsStored == image.bitsStored)
        let mismatches = zip(radiograph.samples, reference.values).filter { $0 != $1 }.count
        #expect(mismatches == 0, "\(mismatches) of \(reference.values.count) samples differ")
    }

    @Test("JPEG pixels are within ±1 of Pillow/libjpeg", arguments: manifest.images(format: "jpeg").map(\.name))
    func jpegWithinOne(name: String) throws {
        let image = Self.manifest.images.first { $0.name == name }!
        let radiograph = try decode(image)
        let reference = try expected(image)
        #expect(radiograph.source.format == .jpeg)
        #expect(radiograph.width == image.width && radiograph.height == image.height)
        #expect(radiograph.bitsStored == 8)
        let worst = zip(radiograph.samples, reference.values).map { abs(Int($0) - Int($1)) }.max() ?? 0
        #expect(worst <= 1, "largest difference \(worst)")
    }

    @Test("Raw files decode exactly in both byte orders", arguments: manifest.images(format: "raw").map(\.name))
    func rawExact(name: String) throws {
        let image = Self.manifest.images.first { $0.name == name }!
        let radiograph = try decode(image)
        let reference = try expected(image)
        #expect(radiograph.source.format == .raw)
        #expect(radiograph.bitsStored == image.bitsStored)
        #expect(radiograph.samples == reference.values)
        #expect(radiograph.pixelSpacing == nil)
    }

    @Test("PNG text chunks keyed by DICOM keywords give patient and study date (tEXt, zTXt, iTXt)",
          arguments: manifest.images.filter { $0.patientID != nil }.map(\.name))
    func pngDICOMText(name: String) throws {
        let image = Self.manifest.images.first { $0.name == name }!
        let radiograph = try decode(image)
        #expect(radiograph.patient == PatientIdentity(id: image.patientID!, issuer: image.issuerOfPatientID))
        #expect(radiograph.studyDate == StudyDate(image.studyDate!))
        #expect(radiograph.notes.isEmpty)
    }

    @Test func unusablePNGTextIsNotedAndIgnored() throws {
        let radiograph = try decode(Self.manifest.images.first { $0.name == "gray16-bad-text.png" }!)
        #expect(radiograph.patient == nil && radiograph.studyDate == nil)
        #expect(radiograph.notes.contains("PNG text StudyDate '20241301' is not a valid date; ignored"))
        #expect(radiograph.notes.contains { $0.contains("longer than DICOM allows") })
    }

    @Test("Spacing comes from pHYs and JFIF density, with its source", arguments: manifest.images.filter { $0.spacingSource != nil }.map(\.name))
    func spacing(name: String) throws {
        let image = Self.manifest.images.first { $0.name == name }!
        let radiograph = try decode(image)
        if let spacing = image.spacing {
            let found = try #require(radiograph.pixelSpacing)
            #expect(Tolerance.approximatelyEqual(found.row, spacing[0], relative: 1e-9))
            #expect(Tolerance.approximatelyEqual(found.column, spacing[1], relative: 1e-9))
            #expect("\(found.source)" == image.spacingSource)
        } else {
            #expect(radiograph.pixelSpacing == nil)
        }
    }

    @Test func placeholderResolutionsAreNotSpacing() throws {
        for name in ["gray16-phys-72dpi.png", "gray-72dpi.jpg"] {
            let radiograph = try RadiographReader().read(contentsOf: Fixtures.path(name))
            #expect(radiograph.pixelSpacing == nil)
            #expect(radiograph.notes.contains { $0.contains("software default") }, "\(name): \(radiograph.notes)")
        }
    }

    @Test func jpegLayoutNamesProcessAndColourSpace() throws {
        let progressive = try RadiographReader().read(contentsOf: Fixtures.path("rgb-progressive.jpg"))
        #expect(progressive.source.storedLayout == "YCbCr 8-bit progressive")
        let cmyk = try RadiographReader().read(contentsOf: Fixtures.path("cmyk-adobe.jpg"))
        #expect(cmyk.source.storedLayout.hasPrefix("CMYK (Adobe)") || cmyk.source.storedLayout.hasPrefix("YCCK (Adobe)"))
    }

    @Test func sha256MatchesAnIndependentDigest() throws {
        // sha256sum of the empty-input test vector and of a fixture file, computed independently.
        let radiograph = try RadiographReader().read(contentsOf: Fixtures.path("gray8.png"))
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gray8.png"))))
        #expect(radiograph.source.byteCount == bytes.count)
        #expect(radiograph.source.sha256?.count == 64)
        let digest = try SpawnedProcess.run(executable: URL(fileURLWithPath: "/usr/bin/sha256sum"), [Fixtures.path("gray8.png")])
        #expect(digest.status == 0)
        let line = digest.standardOutput
        #expect(line.hasPrefix(try #require(radiograph.source.sha256)))
        let undigested = try RadiographReader(options: DecodeOptions(computeDigest: false)).read(contentsOf: Fixtures.path("gray8.png"))
        #expect(undigested.source.sha256 == nil)
    }

    @Test func statisticsAreComputedOverStoredSamples() throws {
        let radiograph = try decode(Self.manifest.images.first { $0.name == "gray16-sbit12-phys.png" }!)
        let reference = try expected(Self.manifest.images.first { $0.name == "gray16-sbit12-phys.png" }!)
        let stats = radiograph.statistics
        #expect(stats.minimum == reference.values.min())
        #expect(stats.maximum == reference.values.max())
        let mean = Double(reference.values.reduce(0) { $0 + Int($1) }) / Double(reference.values.count)
        #expect(Tolerance.approximatelyEqual(stats.mean, mean, relative: 1e-12))
    }

    @Test func spacingOverrideReplacesTheFileAndIsRecorded() throws {
        var options = DecodeOptions()
        options.spacingOverride = PixelSpacing(row: 0.143, column: 0.143, source: .commandLine)
        let radiograph = try RadiographReader(options: options).read(contentsOf: Fixtures.path("gray16-sbit12-phys.png"))
        #expect(radiograph.pixelSpacing == options.spacingOverride)
        #expect(radiograph.notes.contains { $0.contains("replaced") })
    }

    @Test func magicBytesWinOverExtension() throws {
        let dir = Fixtures.temporaryDirectory()
        let disguised = dir + "/actually-a-jpeg.png"
        try FileManager.default.copyItem(atPath: Fixtures.path("gray-baseline.jpg"), toPath: disguised)
        let radiograph = try RadiographReader().read(contentsOf: disguised)
        #expect(radiograph.source.format == .jpeg)
    }
}
