import CZlib
import Foundation
@testable import RadiographIO
import Testing
import TestSupport

/// The grayscale pixel path (libdeflate and the row-filter kernel) gives libpng's samples for
/// every file it takes, and leaves every file it should not take to libpng, whose errors stay
/// exactly what they were.
@Suite struct PNGPixelPathTests {
    /// A PNG written here, byte by byte (ISO/IEC 15948): grayscale rows filtered with the
    /// given filter type per row, the zlib stream cut into IDAT chunks of `idatSize` bytes.
    static func png(samples: [UInt16], width: Int, height: Int, bitDepth: Int, filters: [UInt8],
                    idatSize: Int = 1 << 16, afterImage: [(String, [UInt8])] = [], end: Bool = true) -> [UInt8] {
        let bpp = bitDepth / 8, rowBytes = width * bpp
        var raw: [UInt8] = []
        var previous = [UInt8](repeating: 0, count: rowBytes)
        for y in 0..<height {
            var row: [UInt8] = []
            for x in 0..<width {
                let v = samples[y * width + x]
                if bitDepth == 16 { row += [UInt8(v >> 8), UInt8(v & 0xFF)] } else { row.append(UInt8(v)) }
            }
            let type = filters[y % filters.count]
            raw.append(type)
            for i in 0..<rowBytes {
                let a = i >= bpp ? Int(row[i - bpp]) : 0, b = Int(previous[i]), c = i >= bpp ? Int(previous[i - bpp]) : 0
                let predictor: Int
                switch type {
                case 1: predictor = a
                case 2: predictor = b
                case 3: predictor = (a + b) / 2
                case 4:
                    let p = a + b - c, pa = abs(p - a), pb = abs(p - b), pc = abs(p - c)
                    predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                default: predictor = 0
                }
                raw.append(UInt8(truncatingIfNeeded: Int(row[i]) - predictor))
            }
            previous = row
        }
        let stream = zlibStream(raw)
        var file = signatureAndHeader(width: width, height: height, bitDepth: bitDepth)
        for start in stride(from: 0, to: stream.count, by: idatSize) {
            file += chunk("IDAT", Array(stream[start..<min(stream.count, start + idatSize)]))
        }
        for (type, data) in afterImage { file += chunk(type, data) }
        if end { file += chunk("IEND", []) }
        return file
    }

    /// `data` as a zlib stream (zlib's compress2, level 6).
    static func zlibStream(_ data: [UInt8]) -> [UInt8] {
        var bound = compressBound(uLong(data.count))
        var stream = [UInt8](repeating: 0, count: Int(bound))
        #expect(compress2(&stream, &bound, data, uLong(data.count), 6) == Z_OK)
        return Array(stream.prefix(Int(bound)))
    }

    /// One chunk: length, type, data, CRC-32 of type and data.
    static func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        let body = Array(type.utf8) + data
        let crc = UInt32(body.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) })
        return be32(UInt32(data.count)) + body + be32(crc)
    }

    /// The PNG signature and a grayscale, non-interlaced IHDR.
    static func signatureAndHeader(width: Int, height: Int, bitDepth: Int) -> [UInt8] {
        [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]
            + chunk("IHDR", be32(UInt32(width)) + be32(UInt32(height)) + [UInt8(bitDepth), 0, 0, 0, 0])
    }

    /// The same samples, or the same error, with the pixel path as with libpng alone.
    static func expectSameAsLibpngAlone(_ file: [UInt8], _ name: String) {
        let withPath = Result { try PNGCodec.decode(file, path: name, maxPixels: 1 << 26) }
        let libpngAlone = Result { try PNGCodec.decode(file, path: name, maxPixels: 1 << 26, pixelPath: false) }
        switch (withPath, libpngAlone) {
        case let (.success(a), .success(b)):
            #expect(a.samples == b.samples && a.pixelSpacing == b.pixelSpacing && a.bitsStored == b.bitsStored, "\(name)")
        case let (.failure(a), .failure(b)): #expect("\(a)" == "\(b)", "\(name)")
        default: Issue.record("\(name): \(withPath) against libpng alone \(libpngAlone)")
        }
    }

    static func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8(v >> 16 & 0xFF), UInt8(v >> 8 & 0xFF), UInt8(v & 0xFF)] }

    static func randomImage(width: Int, height: Int, bitDepth: Int, rng: inout SeededRandomNumberGenerator) -> [UInt16] {
        // A smooth ramp with noise, so the filters' predictions matter, and full-range jumps.
        (0..<(width * height)).map { i in
            let smooth = (i % width) * 37 + (i / width) * 11 + Int.random(in: 0..<64, using: &rng)
            let value = Int.random(in: 0..<8, using: &rng) == 0 ? Int.random(in: 0..<(1 << bitDepth), using: &rng) : smooth
            return UInt16(value & ((1 << bitDepth) - 1))
        }
    }

    func libpng(_ file: [UInt8]) throws -> [UInt16] {
        try PNGCodec.decode(file, path: "t.png", maxPixels: 1 << 26, pixelPath: false).samples
    }

    @Test(arguments: [8, 16])
    func everyFilterTypeGivesLibpngsSamples(bitDepth: Int) throws {
        var rng = SeededRandomNumberGenerator(seed: 41)
        // Heights of 16 rows and more also go through the Paeth wavefront (16 rows at once).
        for (width, height) in [(1, 1), (2, 3), (7, 5), (64, 9), (301, 17), (1, 40), (3, 33), (19, 16), (130, 47)] {
            // Also an image of four levels, where the Paeth predictor's ties (and their order) decide.
            let levels = (0..<(width * height)).map { _ in UInt16.random(in: 0..<4, using: &rng) * (bitDepth == 16 ? 257 : 1) }
            for samples in [Self.randomImage(width: width, height: height, bitDepth: bitDepth, rng: &rng), levels] {
            for filters: [UInt8] in [[0], [1], [2], [3], [4], [4, 3, 2, 1, 0]] {
                for idatSize in [7, 1 << 16] {
                    let file = Self.png(samples: samples, width: width, height: height, bitDepth: bitDepth,
                                        filters: filters, idatSize: idatSize)
                    let fast = try #require(PNGPixelPath.decode(file, width: width, height: height, bitDepth: bitDepth),
                                            "\(width)x\(height) \(bitDepth)-bit filters \(filters): not taken")
                    #expect(fast == samples, "\(width)x\(height) \(bitDepth)-bit filters \(filters) IDAT \(idatSize)")
                    #expect(try libpng(file) == samples)
                    #expect(try PNGCodec.decode(file, path: "t.png", maxPixels: 1 << 26).samples == samples)
                }
            }
            }
        }
    }

    @Test func anAncillaryChunkAfterTheImageIsTaken() throws {
        var rng = SeededRandomNumberGenerator(seed: 7)
        let samples = Self.randomImage(width: 40, height: 6, bitDepth: 16, rng: &rng)
        let file = Self.png(samples: samples, width: 40, height: 6, bitDepth: 16, filters: [4],
                            afterImage: [("tEXt", Array("Comment\0after".utf8))])
        #expect(PNGPixelPath.decode(file, width: 40, height: 6, bitDepth: 16) == samples)
    }

    /// Files the path must leave to libpng, and what libpng then says (the same as without the path).
    @Test func malformedFilesAreLeftToLibpng() throws {
        var rng = SeededRandomNumberGenerator(seed: 9)
        let samples = Self.randomImage(width: 30, height: 8, bitDepth: 16, rng: &rng)
        let good = Self.png(samples: samples, width: 30, height: 8, bitDepth: 16, filters: [4, 1])
        let idat = try #require(good.indices.first { Array(good[$0..<$0 + 4]) == Array("IDAT".utf8) })

        var badCRC = good
        badCRC[idat + 6] ^= 0x01
        let truncated = Array(good.dropLast(20))
        let noEnd = Self.png(samples: samples, width: 30, height: 8, bitDepth: 16, filters: [4], end: false)
        let criticalAfter = Self.png(samples: samples, width: 30, height: 8, bitDepth: 16, filters: [4],
                                     afterImage: [("ABCD", [1])])
        for (name, file) in [("bad IDAT CRC", badCRC), ("truncated", truncated), ("no IEND", noEnd),
                             ("critical chunk after IDAT", criticalAfter)] {
            #expect(PNGPixelPath.decode(file, width: 30, height: 8, bitDepth: 16) == nil, "\(name): taken")
            Self.expectSameAsLibpngAlone(file, name)
        }
        if case .failure(let error) = Result(catching: { try PNGCodec.decode(badCRC, path: "t.png", maxPixels: 1 << 26) }),
           case .decode(_, _, let failure) = error as? RadiographError {
            #expect({ if case .badChecksum = failure { true } else { false } }(), "\(failure)")
        } else {
            Issue.record("a bad IDAT CRC decoded")
        }
    }

    @Test func aFilterTypeAbove4IsLeftToLibpng() throws {
        // Unfiltered rows (type 0), except row 5 whose stored type byte is 7.
        var rng = SeededRandomNumberGenerator(seed: 3)
        let width = 12, height = 8
        let samples = Self.randomImage(width: width, height: height, bitDepth: 8, rng: &rng)
        var raw: [UInt8] = []
        for y in 0..<height { raw.append(y == 5 ? 7 : 0); raw += samples[(y * width)..<((y + 1) * width)].map { UInt8($0) } }
        let file = Self.signatureAndHeader(width: width, height: height, bitDepth: 8)
            + Self.chunk("IDAT", Self.zlibStream(raw)) + Self.chunk("IEND", [])
        #expect(PNGPixelPath.decode(file, width: width, height: height, bitDepth: 8) == nil)
        #expect(throws: RadiographError.self) { try PNGCodec.decode(file, path: "t.png", maxPixels: 1 << 26) }
        #expect(throws: RadiographError.self) { try PNGCodec.decode(file, path: "t.png", maxPixels: 1 << 26, pixelPath: false) }
    }

    @Test func onlyNonInterlacedEightAndSixteenBitGrayIsTaken() {
        #expect(PNGPixelPath.accepts(bitDepth: 16, colourType: 0, interlaced: false))
        #expect(PNGPixelPath.accepts(bitDepth: 8, colourType: 0, interlaced: false))
        #expect(!PNGPixelPath.accepts(bitDepth: 16, colourType: 0, interlaced: true))
        #expect(!PNGPixelPath.accepts(bitDepth: 4, colourType: 0, interlaced: false))
        #expect(!PNGPixelPath.accepts(bitDepth: 8, colourType: 2, interlaced: false))
        #expect(!PNGPixelPath.accepts(bitDepth: 16, colourType: 4, interlaced: false))
    }

    /// Every PNG fixture of the repository's tests decodes to the same samples with the path as with libpng alone.
    @Test func theFixturesDecodeAsWithLibpngAlone() throws {
        let folder = URL(fileURLWithPath: Fixtures.path("empty.png")).deletingLastPathComponent()
        let names = try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".png") }.sorted()
        #expect(names.count >= 10)
        var taken = 0
        for name in names {
            let file = try [UInt8](Data(contentsOf: folder.appendingPathComponent(name)))
            Self.expectSameAsLibpngAlone(file, name)
            if let a = try? PNGCodec.decode(file, path: name, maxPixels: 1 << 26) {
                let depth = a.storedLayout == "gray 16-bit" ? 16 : a.storedLayout == "gray 8-bit" ? 8 : 0
                taken += depth > 0 && PNGPixelPath.decode(file, width: a.width, height: a.height, bitDepth: depth) != nil ? 1 : 0
            }
        }
        #expect(taken >= 3, "the path took \(taken) fixtures")
    }
}
