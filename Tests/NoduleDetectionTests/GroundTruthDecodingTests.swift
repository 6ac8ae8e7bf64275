import Foundation
import NoduleDetection
import Testing

/// `nodules evaluate` reads truth files written by other generators: a nodule's `id` may be a
/// string, an integer, or absent; any other type is an error, not a silent nil.
@Suite struct GroundTruthDecodingTests {
    static func decode(id: String) throws -> GroundTruth {
        let json = """
        {"images": [{"path": "images/a.png", "pixel_spacing_mm": 0.175,
          "nodules": [{\(id) "x": 10.5, "y": 20.25, "diameter_mm": 12.0, "on_rib": true}]}]}
        """
        return try JSONDecoder().decode(GroundTruth.self, from: Data(json.utf8))
    }

    @Test("a nodule id may be a string, an integer or absent", arguments: [
        (#""id": "N1","#, "N1" as String?), (#""id": 7,"#, "7"), ("", nil), (#""id": null,"#, nil),
    ])
    func nodulesID(_ field: String, expected: String?) throws {
        let nodule = try #require(try Self.decode(id: field).images.first?.nodules.first)
        #expect(nodule.id == expected)
        #expect(nodule.x == 10.5 && nodule.y == 20.25 && nodule.diameterMM == 12 && nodule.onRib == true)
    }

    @Test func anIDOfAnotherTypeIsAnError() {
        #expect(throws: DecodingError.self) { try Self.decode(id: #""id": true,"#) }
        #expect(throws: DecodingError.self) { try Self.decode(id: #""id": 1.5,"#) }
    }
}
