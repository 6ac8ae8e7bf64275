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

    /// Big-endian 12-bit words, every value v written as 4095 − v.
    static func inverted(_ bytes: [UInt8]) -> [UInt8] {
        var out = bytes
        for i in stride(from: 0, to: bytes.count, by: 2) {
            let v = 4095 - (UInt16(bytes[i]) << 8 | UInt16(bytes[i + 1]))
            out[i] = UInt8(v >> 8)
            out[i + 1] = UInt8(v & 0xFF)
        }
        return out
    }

    /// The sample with every 12-bit value v written as 4095 − v.
    func invertedCopy() throws -> String {
        let path = Fixtures.temporaryDirectory("polarity") + "/inverted.img"
        try Data(Self.inverted(try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.sample))))).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// A chest turned by 90° is read as it is, with a warning; upright, inverted or not, without.
    @Test func aTurnedChestIsFlagged() throws {
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: Self.sample)))
        let side = 1024
        var turned = bytes
        for y in 0..<side {
            for x in 0..<side {  // transpose: (x, y) ← (y, x)
                turned[2 * (y * side + x)] = bytes[2 * (x * side + y)]
                turned[2 * (y * side + x) + 1] = bytes[2 * (x * side + y) + 1]
            }
        }
        let path = Fixtures.temporaryDirectory("rotation") + "/turned.img"
        try Data(turned).write(to: URL(fileURLWithPath: path))
        let note = "the image looks turned by 90°"
        let read90 = try read(path, "1024x1024:u16be:12")
        #expect(read90.notes.contains { $0.hasPrefix(note) }, "\(read90.notes)")
        // Its polarity is read across the image, so it is still right.
        #expect(read90.photometric == .monochrome2)
        #expect(!(try read(Self.sample, "1024x1024:u16be:12").notes.contains { $0.hasPrefix(note) }))
        #expect(!(try read(try invertedCopy(), "1024x1024:u16be:12").notes.contains { $0.hasPrefix(note) }))
        // Turned and stored lucent-high (stated MONOCHROME1, or inferred): still seen as turned.
        let invertedPath = Fixtures.temporaryDirectory("rotation") + "/turned-inverted.img"
        try Data(Self.inverted(turned)).write(to: URL(fileURLWithPath: invertedPath))
        #expect(try read(invertedPath, "1024x1024:u16be:12:mono1").notes.contains { $0.hasPrefix(note) })
        let inferred = try read(invertedPath, "1024x1024:u16be:12")
        #expect(inferred.photometric == .monochrome1 && inferred.notes.contains { $0.hasPrefix(note) })
    }

    /// The same chest padded with its own air, 15 % above and 10 % either side (a loose collimation;
    /// `make_framing_set.py --variant loose`) or 20 % on the left only (`--variant offcentre`), read
    /// alone and through the PNG reader. The fixture is evaluation phantom ph-0042
    /// (`make_phantoms.py --count 60 --seed 2026`) at 1/8 scale in 8 bits: before the reading trimmed
    /// empty borders, either padded copy was taken for turned by 90° and inverted (loose: down +0.18,
    /// across −0.61), and the detector ran on a negative.
    @Test(arguments: [(top: 0.15, left: 0.10, right: 0.10), (top: 0.0, left: 0.20, right: 0.0)])
    func aLooselyFramedChestIsReadAsTheSameChest(padding: (top: Double, left: Double, right: Double)) throws {
        let chest = try RadiographReader().read(contentsOf: Fixtures.path("chest-phantom-326x265.png"))
        let (width, height) = (chest.width, chest.height)
        let upright = try #require(ChestPolarity.read(chest.samples, width: width, height: height))
        #expect(!upright.isTurned && upright.inferred?.photometric == .monochrome2)
        let air = chest.samples.sorted()[chest.samples.count / 200]
        let top = Int(padding.top * Double(height)), left = Int(padding.left * Double(width)), right = Int(padding.right * Double(width))
        let paddedWidth = width + left + right, paddedHeight = height + top
        var padded = [UInt16](repeating: air, count: paddedWidth * paddedHeight)
        for y in 0..<height {
            for x in 0..<width { padded[(y + top) * paddedWidth + x + left] = chest.samples[y * width + x] }
        }
        let framed = try #require(ChestPolarity.read(padded, width: paddedWidth, height: paddedHeight))
        #expect(!framed.isTurned, "down \(framed.down), across \(framed.across)")
        #expect(framed.inferred?.photometric == .monochrome2)
        #expect(abs(framed.down - upright.down) < 0.05 && abs(framed.across - upright.across) < 0.05,
                "upright \(upright), padded \(framed)")
        // Inverted, it is read inverted; turned by 90°, it is still seen as turned.
        let inverted = try #require(ChestPolarity.read(padded.map { 255 - $0 }, width: paddedWidth, height: paddedHeight))
        #expect(!inverted.isTurned && inverted.inferred?.photometric == .monochrome1)
        var turned = [UInt16](repeating: 0, count: padded.count)
        for y in 0..<paddedHeight {
            for x in 0..<paddedWidth { turned[x * paddedHeight + y] = padded[y * paddedWidth + x] }
        }
        #expect(try #require(ChestPolarity.read(turned, width: paddedHeight, height: paddedWidth)).isTurned)
        // Through the reader, as a PNG: dense-high, no inversion, no rotation warning.
        let path = Fixtures.temporaryDirectory("loose") + "/framed.png"
        try RadiographWriter.write(Radiograph(width: paddedWidth, height: paddedHeight, bitsStored: 8, samples: padded,
                                              source: chest.source), to: path)
        let read = try RadiographReader().read(contentsOf: path)
        #expect(read.photometric == .monochrome2)
        #expect(!read.notes.contains { $0.contains("turned") || $0.contains("MONOCHROME1") }, "\(read.notes)")
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

/// PNG and JPEG store no polarity either: an image saved inverted (MONOCHROME1 data
/// written without conversion, bone dark) is recognised from the anatomy, read as
/// MONOCHROME1 with a note, and detected like the original. `infersPolarity = false`
/// (`--polarity stored`) takes the samples as they are.
@Suite("PNG polarity inferred from anatomy")
struct PNGPolarityTests {
    /// The raw sample written as a 16-bit PNG, as is and with every value v as 4095 − v.
    func pngCopies() throws -> (original: String, inverted: String) {
        let raw = try RadiographReader(options: DecodeOptions(raw: try RawGeometry(parsing: "1024x1024:u16be:12:mono2"),
                                                               spacingOverride: PixelSpacing(row: 0.35, column: 0.35, source: .commandLine)))
            .read(contentsOf: RawPolarityTests.sample)
        let folder = Fixtures.temporaryDirectory("png-polarity")
        var inverted = raw
        inverted.samples = raw.samples.map { 4095 - $0 }
        let paths = (original: folder + "/original.png", inverted: folder + "/inverted.png")
        try RadiographWriter.write(raw, to: paths.original)
        try RadiographWriter.write(inverted, to: paths.inverted)
        return paths
    }

    @Test func invertedPNGIsReadAsMonochrome1() throws {
        let paths = try pngCopies()
        let original = try RadiographReader().read(contentsOf: paths.original)
        #expect(original.photometric == .monochrome2)
        #expect(!original.notes.contains { $0.contains("polarity") })
        let inverted = try RadiographReader().read(contentsOf: paths.inverted)
        #expect(inverted.photometric == .monochrome1)
        #expect(inverted.notes.contains { $0.contains("PNG stores no polarity") && $0.contains("MONOCHROME1") })
        var stored = DecodeOptions()
        stored.infersPolarity = false
        let asStored = try RadiographReader(options: stored).read(contentsOf: paths.inverted)
        #expect(asStored.photometric == .monochrome2)
        #expect(asStored.notes.isEmpty)
        #expect(asStored.samples == inverted.samples)
        // The sample JPEG, a chest the right way round, is read as it is stored, without a note.
        let jpeg = try RadiographReader().read(contentsOf: Fixtures.repositoryRoot() + "/Data/samples/PHANTOM-002/2026-03-02/pa.jpg")
        #expect(jpeg.photometric == .monochrome2)
        #expect(!jpeg.notes.contains { $0.contains("polarity") })
    }

    @Test func invertedPNGGivesTheSameDetections() throws {
        let paths = try pngCopies()
        let pipeline = try PipelineDefinition.decode(path: Fixtures.repositoryRoot() + "/Pipelines/cxr-nodules.json")
        let detector = NoduleDetector(pipeline: pipeline)
        let a = detector.detect(try RadiographReader().read(contentsOf: paths.original)).candidates
        let b = detector.detect(try RadiographReader().read(contentsOf: paths.inverted)).candidates
        #expect(!a.isEmpty)
        #expect(a.count == b.count)
        for (p, q) in zip(a, b) {
            #expect(abs(p.x - q.x) < 0.01 && abs(p.y - q.y) < 0.01 && abs(p.diameterPx - q.diameterPx) < 0.01
                    && abs(p.score - q.score) < 1e-4, "\(p) vs \(q)")
        }
        // Sample truth (Data/samples/truth.csv): nodule A at (330, 520) px, 20 mm.
        let top = try #require(b.first)
        #expect(((top.x - 330) * (top.x - 330) + (top.y - 520) * (top.y - 520)).squareRoot() < 20)
    }

    /// The histogram order statistics give exactly what sorting gave (the measure is
    /// unchanged from the sort-based version): random images, some chest-like.
    @Test func polarityMeasureMatchesSortedOrderStatistics() {
        var rng = SeededRandomNumberGenerator(seed: 2026)
        for trial in 0..<24 {
            let width = Int.random(in: 64...700, using: &rng), height = Int.random(in: 64...700, using: &rng)
            let centre = UInt16.random(in: 0...4095, using: &rng), side = UInt16.random(in: 0...4095, using: &rng)
            let noise = UInt16.random(in: 0...800, using: &rng)
            var samples = [UInt16](repeating: 0, count: width * height)
            for y in 0..<height {
                for x in 0..<width {
                    let base = abs(Double(x) / Double(width) - 0.5) < 0.1 ? centre : side
                    samples[y * width + x] = UInt16(min(4095, Int(base) + Int.random(in: 0...Int(noise), using: &rng)))
                }
            }
            let expected = Self.sortedReference(samples, width: width, height: height)
            let measured = ChestPolarity.infer(samples, width: width, height: height)
            #expect(measured?.photometric == expected?.photometric, "trial \(trial)")
            #expect(measured?.contrast == expected?.contrast, "trial \(trial)")
        }
    }

    /// The measure written plainly, with sorts and without the histogram (``ChestPolarity`` documents it):
    /// the empty borders trimmed on the grid of every `step`-th sample, then the bands within the box.
    static func sortedReference(_ samples: [UInt16], width: Int, height: Int) -> (photometric: PhotometricInterpretation, contrast: Double)? {
        let step = max(1, min(width, height) / 512)
        var all: [UInt16] = []
        for y in stride(from: 0, to: height, by: step) { for x in stride(from: 0, to: width, by: step) { all.append(samples[y * width + x]) } }
        all.sort()
        let low = Double(all[all.count / 100]), high = Double(all[all.count * 99 / 100])
        guard high > low else { return nil }
        let grid = (rows: Array(stride(from: 0, to: height, by: step)), columns: Array(stride(from: 0, to: width, by: step)))
        var rows = 0..<grid.rows.count, columns = 0..<grid.columns.count
        func isEmpty(_ v: [UInt16]) -> Bool {
            let s = v.sorted()
            return Double(s[s.count * 95 / 100]) - Double(s[s.count * 5 / 100]) < ChestPolarity.emptyBorderSpread * (high - low)
        }
        func row(_ r: Int) -> [UInt16] { columns.map { samples[grid.rows[r] * width + grid.columns[$0]] } }
        func column(_ c: Int) -> [UInt16] { rows.map { samples[grid.rows[$0] * width + grid.columns[c]] } }
        let rowLimit = Int(ChestPolarity.maximumBorderTrim * Double(grid.rows.count))
        let columnLimit = Int(ChestPolarity.maximumBorderTrim * Double(grid.columns.count))
        var before = (rows: 0..<0, columns: 0..<0)
        while before != (rows, columns) {
            before = (rows, columns)
            while rows.lowerBound < rowLimit, isEmpty(row(rows.lowerBound)) { rows = rows.dropFirst() }
            while grid.rows.count - rows.upperBound < rowLimit, isEmpty(row(rows.upperBound - 1)) { rows = rows.dropLast() }
            while columns.lowerBound < columnLimit, isEmpty(column(columns.lowerBound)) { columns = columns.dropFirst() }
            while grid.columns.count - columns.upperBound < columnLimit, isEmpty(column(columns.upperBound - 1)) { columns = columns.dropLast() }
        }
        let x0 = columns.lowerBound * step, y0 = rows.lowerBound * step
        let boxWidth = min(width, columns.upperBound * step) - x0, boxHeight = min(height, rows.upperBound * step) - y0
        guard boxWidth >= ChestPolarity.minimumSide, boxHeight >= ChestPolarity.minimumSide else { return nil }
        func band(_ lo: Double, _ hi: Double) -> [UInt16] {
            var values: [UInt16] = []
            for y in stride(from: y0 + Int(0.35 * Double(boxHeight)), to: y0 + Int(0.75 * Double(boxHeight)), by: step) {
                for x in stride(from: x0 + Int(lo * Double(boxWidth)), to: x0 + Int(hi * Double(boxWidth)), by: step) {
                    values.append(samples[y * width + x])
                }
            }
            return values
        }
        func median(_ v: [UInt16]) -> Double { v.isEmpty ? 0 : Double(v.sorted()[v.count / 2]) }
        let contrast = (median(band(0.42, 0.58)) - median(band(0.15, 0.32) + band(0.68, 0.85))) / (high - low)
        guard abs(contrast) >= ChestPolarity.decisionThreshold else { return nil }
        return (contrast > 0 ? .monochrome2 : .monochrome1, contrast)
    }
}
