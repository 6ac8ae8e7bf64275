import Foundation
import RadiographIO
import Testing
import TestSupport

/// Corrupt and hostile inputs produce the exact error case, and the process survives.
@Suite struct ErrorHandlingTests {
    func load(_ name: String, raw: String? = nil, maxPixels: Int = DecodeOptions.defaultMaxPixels) throws -> Radiograph {
        var options = DecodeOptions(maxPixels: maxPixels)
        if let raw { options.raw = try RawGeometry(parsing: raw) }
        return try RadiographReader(options: options).read(contentsOf: Fixtures.path(name))
    }

    func failure(_ name: String, raw: String? = nil, maxPixels: Int = DecodeOptions.defaultMaxPixels) -> RadiographError? {
        do {
            _ = try load(name, raw: raw, maxPixels: maxPixels)
            return nil
        } catch let error as RadiographError {
            return error
        } catch {
            Issue.record("unexpected error type \(type(of: error)): \(error)")
            return nil
        }
    }

    @Test func manifestCodesMatch() {
        for (name, code) in FixtureManifest.shared.errors {
            let raw = name.hasPrefix("raw-") ? "40x30:u16be:12" : nil
            let error = failure(name, raw: raw)
            #expect(error?.code == code, "\(name): \(String(describing: error))")
            #expect(error?.path == Fixtures.path(name))
        }
    }

    @Test func zeroBytes() {
        #expect(failure("empty.png") == .decode(path: Fixtures.path("empty.png"), format: nil, .empty))
    }

    @Test func textRenamedAsPNG() {
        #expect(failure("text-renamed.png") == .decode(path: Fixtures.path("text-renamed.png"), format: nil, .notAnImage))
    }

    @Test func truncatedPNG() {
        guard case .decode(_, .png, .truncated)? = failure("truncated.png") else {
            Issue.record("expected a PNG truncation, got \(String(describing: failure("truncated.png")))")
            return
        }
    }

    @Test func pngCutInsideItsSignatureIsTruncated() {
        guard case .decode(_, .png, .truncated)? = failure("truncated-signature.png") else {
            Issue.record("got \(String(describing: failure("truncated-signature.png")))")
            return
        }
    }

    @Test func badCRC() {
        guard case .decode(_, .png, .badChecksum(let detail))? = failure("bad-crc.png") else {
            Issue.record("got \(String(describing: failure("bad-crc.png")))")
            return
        }
        #expect(detail.contains("IDAT"))
    }

    @Test func hugePNGHeaderIsRefusedBeforeAllocation() {
        #expect(failure("huge-100000x100000.png") == .decode(
            path: Fixtures.path("huge-100000x100000.png"), format: .png,
            .tooLarge(width: 100_000, height: 100_000, limitPixels: 100_000_000)))
    }

    @Test func hugeJPEGHeaderIsRefusedBeforeAllocation() {
        #expect(failure("huge-60000x60000.jpg") == .decode(
            path: Fixtures.path("huge-60000x60000.jpg"), format: .jpeg,
            .tooLarge(width: 60_000, height: 60_000, limitPixels: 100_000_000)))
    }

    @Test func pixelLimitIsConfigurable() {
        #expect(failure("gray16-sbit12-phys.png", maxPixels: 100) == .decode(
            path: Fixtures.path("gray16-sbit12-phys.png"), format: .png, .tooLarge(width: 37, height: 23, limitPixels: 100)))
        #expect(failure("jsrt-like-40x30.img", raw: "40x30:u16be:12", maxPixels: 1000) == .decode(
            path: Fixtures.path("jsrt-like-40x30.img"), format: .raw, .tooLarge(width: 40, height: 30, limitPixels: 1000)))
    }

    @Test func truncatedJPEG() {
        for name in ["truncated.jpg", "truncated-header.jpg"] {
            guard case .decode(_, .jpeg, .truncated)? = failure(name) else {
                Issue.record("\(name): got \(String(describing: failure(name)))")
                continue
            }
        }
    }

    @Test func rawSizeMismatch() {
        #expect(failure("raw-wrong-size.img", raw: "40x30:u16be:12") == .decode(
            path: Fixtures.path("raw-wrong-size.img"), format: .raw, .sizeMismatch(expectedBytes: 2400, actualBytes: 2398)))
    }

    @Test func rawWrongByteOrderIsCaughtByBitsStored() {
        guard case .decode(_, .raw, .corrupt(let detail))? = failure("raw-wrong-byte-order.img", raw: "40x30:u16be:12") else {
            Issue.record("expected corrupt")
            return
        }
        #expect(detail.contains("byte order"))
    }

    @Test func directoryPassedAsFile() {
        let dir = Fixtures.directory()
        #expect(throws: RadiographError.read(path: dir, .isDirectory)) {
            try RadiographReader().read(contentsOf: dir)
        }
    }

    @Test func missingFile() {
        let path = Fixtures.path("no-such-file.png")
        #expect(throws: RadiographError.read(path: path, .notFound)) {
            try RadiographReader().read(contentsOf: path)
        }
    }

    @Test func unknownBytesWithoutRawGeometryAreNotAnImage() {
        // A raw file is just numbers: without --raw it must be refused, not guessed.
        #expect(failure("jsrt-like-40x30.img") == .decode(path: Fixtures.path("jsrt-like-40x30.img"), format: nil, .notAnImage))
    }

    @Test func everyPrefixOfAValidPNGFailsCleanly() throws {
        // No prefix of a valid file may crash or yield an image.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("gray16-sbit12-phys.png"))))
        let reader = RadiographReader()
        for length in stride(from: 0, to: bytes.count, by: 7) {
            #expect(throws: RadiographError.self) { try reader.decode(Array(bytes[..<length]), path: "prefix-\(length)") }
        }
    }

    @Test func everyPrefixOfAValidJPEGFailsCleanly() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path("rgb-progressive.jpg"))))
        let reader = RadiographReader()
        for length in stride(from: 0, to: bytes.count - 2, by: 11) {
            #expect(throws: RadiographError.self) { try reader.decode(Array(bytes[..<length]), path: "prefix-\(length)") }
        }
    }

    @Test func randomByteFlipsNeverCrash() throws {
        var rng = SeededRandomNumberGenerator(seed: 42)
        let reader = RadiographReader()
        for name in ["gray16-sbit12-phys.png", "rgb-baseline.jpg", "palette4.png"] {
            let original = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Fixtures.path(name))))
            for _ in 0..<150 {
                var bytes = original
                for _ in 0..<Int.random(in: 1...4, using: &rng) {
                    let at = Int.random(in: 0..<bytes.count, using: &rng)
                    bytes[at] ^= UInt8.random(in: 1...255, using: &rng)
                }
                // Either a radiograph of the declared size or a typed error: never a crash.
                if let r = try? reader.decode(bytes, path: name) {
                    #expect(r.samples.count == r.width * r.height)
                }
            }
        }
    }
}
