import ArgumentParser
import Foundation
import RadiographIO

/// `nodules info FILE...`: what each file holds, one report per file.
struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Describe radiographs: format, size, bit depth, spacing and its source, sample statistics.",
        discussion: "Exit status: 0 when every file decoded, 1 when any failed (each is reported and the rest are still processed), 2 for a usage error."
    )

    @OptionGroup var decode: DecodeArguments

    @Flag(name: .long, help: "One JSON object per file, one per line (JSON Lines).")
    var json = false

    @Argument(help: "Radiograph files (DICOM, PNG, JPEG, or raw with --raw).")
    var files: [String]

    func validate() throws {
        if files.isEmpty { throw ValidationError("give at least one file") }
    }

    func run() throws {
        let reader = RadiographReader(options: try decode.decodeOptions())
        var failures = 0
        for path in files {
            let report: InfoReport
            do {
                report = InfoReport(try reader.read(contentsOf: path))
            } catch let error as RadiographError {
                failures += 1
                report = InfoReport(error)
                if !json { StandardError.write("nodules: error: \(error)\n") }
            }
            if json { print(report.jsonLine()) } else if report.ok { print(report.text()) }
        }
        if files.count > 1 || failures > 0 {
            StandardError.write("\(files.count) file\(files.count == 1 ? "" : "s"): \(files.count - failures) ok, \(failures) failed\n")
        }
        if failures > 0 { throw ExitCode.failure }
    }
}

/// One file's `info` result, as text or as a JSON object.
struct InfoReport: Encodable {
    struct Spacing: Encodable { var row: Double; var column: Double }
    struct Failure: Encodable { var code: String; var message: String }

    var path: String
    var ok: Bool
    var format: String?
    var layout: String?
    var width: Int?
    var height: Int?
    var bitsStored: Int?
    var photometric: String?
    var pixelSpacingMM: Spacing?
    var spacingSource: String?
    var patientID: String?
    var patientIssuer: String?
    var studyDate: String?
    var dicom: DICOMAttributes?
    var min: Int?
    var max: Int?
    var mean: Double?
    var sha256: String?
    var notes: [String]?
    var error: Failure?

    enum CodingKeys: String, CodingKey {
        case path, ok, format, layout, width, height
        case bitsStored = "bits_stored", photometric
        case pixelSpacingMM = "pixel_spacing_mm", spacingSource = "spacing_source"
        case patientID = "patient_id", patientIssuer = "patient_issuer", studyDate = "study_date", dicom
        case min, max, mean, sha256, notes, error
    }

    init(_ r: Radiograph) {
        let stats = r.statistics
        path = r.source.path
        ok = true
        format = r.source.format.rawValue
        layout = r.source.storedLayout
        width = r.width
        height = r.height
        bitsStored = r.bitsStored
        photometric = r.photometric.rawValue
        pixelSpacingMM = r.pixelSpacing.map { Spacing(row: $0.row, column: $0.column) }
        spacingSource = r.pixelSpacing.map { "\($0.source)" } ?? "unknown"
        patientID = r.patient?.id
        patientIssuer = r.patient?.issuer
        dicom = r.dicom
        studyDate = r.studyDate?.description
        min = Int(stats.minimum)
        max = Int(stats.maximum)
        mean = (stats.mean * 1000).rounded() / 1000
        sha256 = r.source.sha256
        notes = r.notes
    }

    init(_ e: RadiographError) {
        path = e.path
        ok = false
        if case .decode(_, let f, _) = e { format = f?.rawValue }
        error = Failure(code: e.code, message: e.description)
    }

    func jsonLine() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain value types cannot fail.
        return String(decoding: try! encoder.encode(self), as: UTF8.self)
    }

    func text() -> String {
        let spacingText: String
        if let s = pixelSpacingMM {
            spacingText = "\(Self.mm(s.row)) × \(Self.mm(s.column)) mm (\(spacingSource ?? ""))"
        } else {
            spacingText = "unknown"
        }
        var lines = [
            "\(path)",
            "  format      \(format?.uppercased() ?? "?") \(layout ?? "")",
            "  size        \(width ?? 0) × \(height ?? 0) px, \(bitsStored ?? 0) bits stored, \(photometric ?? "")",
            "  spacing     \(spacingText)",
            "  samples     min \(min ?? 0), max \(max ?? 0), mean \(String(format: "%.1f", mean ?? 0))",
        ]
        if let patientID { lines.append("  patient     \(patientID)\(patientIssuer.map { " (issuer \($0))" } ?? " (no issuer)")") }
        if let studyDate { lines.append("  study date  \(studyDate)") }
        if let d = dicom {
            lines.append("  modality    \(d.modality ?? "?"), view \(d.viewPosition ?? "?")\(d.numberOfFrames > 1 ? ", \(d.numberOfFrames) frames" : "")")
            lines.append("  transfer    \(d.transferSyntax.name) (\(d.transferSyntax.uid))")
            let m = d.modalityMapping
            lines.append("  mapping     modality value = sample × \(Self.mm(m.scale)) + \(Self.mm(m.offset)) (\(m.kind.rawValue))")
            if let uid = d.studyInstanceUID { lines.append("  study UID   \(uid)") }
            if let uid = d.sopInstanceUID { lines.append("  SOP UID     \(uid)") }
        }
        lines.append("  sha256      \(sha256 ?? "")")
        for note in notes ?? [] { lines.append("  note        \(note)") }
        return lines.joined(separator: "\n")
    }

    static func mm(_ v: Double) -> String { String(format: "%.4g", v) }
}
