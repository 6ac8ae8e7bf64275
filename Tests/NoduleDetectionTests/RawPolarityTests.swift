import Foundation
import NoduleDetection
import RadiographIO
import Testing
import TestSupport

/// A headerless raw file does not state its polarity; the reader infers it from the
/// anatomy (``ChestPolarity``), so a lucent-high archive (stored as 4095 − v) gives the
/// same detections as the dense-high original.
@Suite("Raw polarity inferred from anatomy")
struct RawPolarityTests {
    static let sample = Fixtures.repositoryRoot() + "/Data/samples/jsrt-style/PHANTOM-003.img"

    func read(_ path: String, _ geometry: String) throws -> Radiograph {
        try RadiographReader(options: DecodeOptions(raw: try RawGeometry(parsing: geometry),
                                                    spacingOverride: PixelSpacing(row: 0.35, column: 0.35, source: .commandLine)))
            .read(contentsOf: path)
    }

    /// The sample with every 12-bit value v written as 4095 − v.
    func invertedCopy() throws -> String {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.sample)))
        var out = bytes
        for i in stride(from: 0, to: bytes.count, by: 2) {
            let v = 4095 - (UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
            out[i] = UInt8(v >> 8)
            out[i + 1] = UInt8(v & 0xFF)
        }
        let path = Fixtures.temporaryDirectory("polarity") + "/inverted.img"
        try Data(out).write(to: URL(fileURLWithPath: path))
        return path
    }

    @Test func inferredPolarityAndNotes() throws {
        let original = try read(Self.sample, "1024x1024:u16be:12")
        #expect(original.photometric == .monochrome2)
        #expect(original.notes.contains { $0.contains("inferred MONOCHROME2") })
        let inverted = try read(try invertedCopy(), "1024x1024:u16be:12")
        #expect(inverted.photometric == .monochrome1)
        #expect(inverted.notes.contains { $0.contains("inferred MONOCHROME1") })
        // A stated polarity is taken as given, without inference or note.
        let stated = try read(try invertedCopy(), "1024x1024:u16be:12:mono2")
        #expect(stated.photometric == .monochrome2)
        #expect(!stated.notes.contains { $0.contains("polarity") })
        // Too small to hold anatomy: the default, with a note saying it was not inferred.
        let tiny = Fixtures.repositoryRoot() + "/Tests/RadiographIOTests/Fixtures/jsrt-like-40x30.img"
        let small = try read(tiny, "40x30:u16be:12")
        #expect(small.photometric == .monochrome2)
        #expect(small.notes.contains { $0.contains("not clear from the image") })
    }

    @Test func invertedArchiveGivesTheSameDetections() throws {
        let pipeline = try PipelineDefinition.decode(path: Fixtures.repositoryRoot() + "/Pipelines/cxr-nodules.json")
        let detector = NoduleDetector(pipeline: pipeline)
        let a = detector.detect(try read(Self.sample, "1024x1024:u16be:12")).candidates
        let b = detector.detect(try read(try invertedCopy(), "1024x1024:u16be:12")).candidates
        #expect(!a.isEmpty)
        #expect(a == b)
        // Sample truth (Data/samples/truth.csv): nodule A at (330, 520) px, 20 mm; the top candidate is on it.
        let top = try #require(a.first)
        #expect(((top.x - 330) * (top.x - 330) + (top.y - 520) * (top.y - 520)).squareRoot() < 20)
    }
}
