import Foundation
import TestSupport

/// The facts `Fixtures/make_fixtures.py` recorded about each fixture.
struct FixtureManifest {
    struct Image {
        var name: String
        var format: String
        var width: Int
        var height: Int
        var bitsStored: Int
        var spacing: [Double]?
        var spacingSource: String?
        var raw: String?
        /// Patient and study date the file's text chunks carry (PNG), when it has them.
        var patientID: String? = nil
        var issuerOfPatientID: String? = nil
        var studyDate: String? = nil
    }

    var images: [Image]
    var errors: [(name: String, code: String)]

    static let shared: FixtureManifest = {
        let url = URL(fileURLWithPath: Fixtures.path("manifest.json"))
        let object = try! JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
        let images = (object["images"] as! [String: [String: Any]]).map { name, facts in
            Image(name: name, format: facts["format"] as! String, width: facts["width"] as! Int,
                  height: facts["height"] as! Int, bitsStored: facts["bits_stored"] as! Int,
                  spacing: facts["spacing_mm"] as? [Double], spacingSource: facts["spacing_source"] as? String,
                  raw: facts["raw"] as? String, patientID: facts["patient_id"] as? String,
                  issuerOfPatientID: facts["issuer_of_patient_id"] as? String, studyDate: facts["study_date"] as? String)
        }.sorted { $0.name < $1.name }
        let errors = (object["errors"] as! [String: String]).map { (name: $0.key, code: $0.value) }.sorted { $0.name < $1.name }
        return FixtureManifest(images: images, errors: errors)
    }()

    func images(format: String) -> [Image] { images.filter { $0.format == format } }
}
