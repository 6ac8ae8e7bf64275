import RadiographIO
import Testing

@Suite struct RawGeometryTests {
    @Test func parsesTheJSRTConvention() throws {
        let g = try RawGeometry(parsing: "2048x2048:u16be:12")
        #expect(g.width == 2048 && g.height == 2048 && g.sampleType == .u16be && g.bitsStored == 12)
        #expect(g.byteCount == 2048 * 2048 * 2)
        #expect(g.photometric == nil)  // inferred from the image
        #expect(g.description == "2048x2048:u16be:12")
        #expect(try RawGeometry(parsing: "2048x2048:u16be:12:mono2").description == "2048x2048:u16be:12:mono2")
    }

    @Test func bitsDefaultToTheWordSizeAndPolarityIsOptional() throws {
        #expect(try RawGeometry(parsing: "10x20:u8").bitsStored == 8)
        let g = try RawGeometry(parsing: "10x20:u16le:mono1")
        #expect(g.bitsStored == 16 && g.photometric == .monochrome1 && g.width == 10 && g.height == 20)
    }

    @Test(arguments: ["2048:u16be", "2048x2048", "axb:u8", "10x10:u32", "10x10:u8:9", "0x10:u8", "10x10:u16be:twelve", "10x10:u8:8:mono1:x"])
    func rejectsMalformedGeometry(_ text: String) {
        #expect(throws: RawGeometryError.self) { try RawGeometry(parsing: text) }
    }

    @Test func studyDateParsesBothFormsAndCountsDays() throws {
        let a = try #require(StudyDate("2024-02-29"))
        let b = try #require(StudyDate("20250301"))
        #expect(b.daysSinceEpoch - a.daysSinceEpoch == 366)
        #expect(StudyDate("2023-02-29") == nil)
        #expect(StudyDate(year: 1970, month: 1, day: 1)!.daysSinceEpoch == 0)
        #expect(a.description == "2024-02-29")
    }
}
