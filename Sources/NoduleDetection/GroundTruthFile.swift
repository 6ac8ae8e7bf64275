import Foundation
import RadiographIO

/// Why a truth file cannot be used by `nodules evaluate`.
public enum GroundTruthError: Error, Equatable, CustomStringConvertible {
    /// The file cannot be read.
    case unreadable(path: String)
    /// Neither a truth JSON nor JSRT clinical data; `reason` says what the JSON decoder found.
    case unrecognised(path: String, reason: String)
    /// A JSRT record whose field cannot be used (`field`: subtlety, size, x or y): missing, not a
    /// number, or out of range (subtlety 1–5, size > 0).
    case jsrtRecord(name: String, field: String)
    /// The same image twice.
    case duplicateImage(String)
    /// A row of a CSV truth table that cannot be used (line number in the file, and why).
    case csvRow(line: Int, reason: String)

    public var description: String {
        switch self {
        case let .unreadable(path): "cannot read \(path)"
        case let .unrecognised(path, reason):
            "\(path) is neither a truth file (truth.json: \(reason)), a CSV truth table (image, x_px, y_px, diameter_mm) "
                + "nor JSRT clinical data (CLNDAT_EN.txt, CNNDAT_EN.TXT)"
        case let .jsrtRecord(name, field): "JSRT record \(name): no valid \(field) (missing, not a number, or out of range)"
        case let .duplicateImage(path): "image \(path) is listed twice"
        case let .csvRow(line, reason): "CSV truth, line \(line): \(reason)"
        }
    }
}

extension GroundTruth {
    /// JSRT's geometry: 2048 × 2048 px at 0.175 mm/px.
    public static let jsrtSide = 2048
    public static let jsrtSpacingMM = 0.175

    /// Reads a truth file, recognised by content: the phantom generators' `truth.json`, a CSV
    /// truth table (``csvTable(_:)``), or the JSRT database's clinical data
    /// (``jsrtClinicalData(_:)``). Each image's
    /// ``Image/folder`` is the file's folder, so truths from several files can be concatenated.
    public static func read(contentsOf path: String) throws -> GroundTruth {
        guard let data = FileManager.default.contents(atPath: path) else { throw GroundTruthError.unreadable(path: path) }
        var truth: GroundTruth
        do {
            truth = try JSONDecoder().decode(GroundTruth.self, from: data)
        } catch let jsonError {
            let text = String(decoding: data, as: UTF8.self)
            if let table = try csvTable(text) {
                truth = table
            } else if let jsrt = try jsrtClinicalData(text) {
                truth = jsrt
            } else {
                throw GroundTruthError.unrecognised(path: path, reason: "\(jsonError)")
            }
        }
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent().path
        for i in truth.images.indices where truth.images[i].folder == nil { truth.images[i].folder = folder }
        return truth
    }

    /// The images of several truths, in order; an image (resolved path) listed twice is an error.
    public static func concatenating(_ truths: [GroundTruth]) throws -> GroundTruth {
        var seen = Set<String>()
        var images: [Image] = []
        for image in truths.flatMap(\.images) {
            let key = image.path.hasPrefix("/") ? image.path : (image.folder ?? "") + "/" + image.path
            guard seen.insert(URL(fileURLWithPath: key).standardizedFileURL.path).inserted else {
                throw GroundTruthError.duplicateImage(image.path)
            }
            images.append(image)
        }
        return GroundTruth(images: images)
    }

    /// A truth table as CSV, one row per nodule, like `Data/samples/truth.csv` or a reader's own
    /// annotations. The header names the columns (any order, case ignored): the image (`image`
    /// or `path`, relative to the file's folder), the centre in px of that image (`x_px` or `x`,
    /// `y_px` or `y`) and `diameter_mm`; optionally `pixel_spacing_mm` (else each image's
    /// detection record gives it), `nodule` or `id`, and `on_rib` (true/false). A row whose x, y
    /// and diameter are all empty lists an image without nodules, so that its false positives
    /// count. Images keep the order of their first row.
    ///
    /// Returns nil when the text is not such a table (no header with those columns); throws
    /// ``GroundTruthError/csvRow(line:reason:)`` for a row that cannot be used, and for an
    /// image given two different spacings.
    public static func csvTable(_ text: String) throws -> GroundTruth? {
        guard let rows = try? CSVRecords.parse(text), let header = rows.first else { return nil }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ options: String...) -> Int? { options.lazy.compactMap { names.firstIndex(of: $0) }.first }
        guard let imageColumn = column("image", "path"), let xColumn = column("x_px", "x"), let yColumn = column("y_px", "y"),
              let diameterColumn = column("diameter_mm") else { return nil }
        let spacingColumn = column("pixel_spacing_mm"), idColumn = column("nodule", "id"), ribColumn = column("on_rib")
        var images: [Image] = []
        var index: [String: Int] = [:]
        for row in rows.dropFirst() {
            func field(_ i: Int?) -> String {
                guard let i, i < row.fields.count else { return "" }
                return row.fields[i].trimmingCharacters(in: .whitespaces)
            }
            let path = field(imageColumn)
            guard !path.isEmpty else { throw GroundTruthError.csvRow(line: row.line, reason: "no image") }
            var spacing: Double?
            if !field(spacingColumn).isEmpty {
                guard let value = Double(field(spacingColumn)), value > 0, value < 10 else {
                    throw GroundTruthError.csvRow(line: row.line, reason: "pixel_spacing_mm '\(field(spacingColumn))' is not a spacing in mm")
                }
                spacing = value
            }
            if index[path] == nil {
                index[path] = images.count
                images.append(Image(path: path, width: nil, height: nil, pixelSpacingMM: spacing, nodules: []))
            } else if let spacing, images[index[path]!].pixelSpacingMM != spacing {
                throw GroundTruthError.csvRow(line: row.line, reason: "\(path) was given another pixel spacing before")
            }
            let values = [field(xColumn), field(yColumn), field(diameterColumn)]
            if values.allSatisfy(\.isEmpty) { continue }
            let numbers = values.map { Double($0) }
            guard let x = numbers[0], let y = numbers[1], let d = numbers[2], x.isFinite, y.isFinite, d > 0, d.isFinite else {
                throw GroundTruthError.csvRow(line: row.line, reason: "x, y and diameter_mm must be numbers (a diameter > 0), or all empty")
            }
            let rib = field(ribColumn).lowercased()
            let onRib: Bool? = rib == "true" || rib == "1" ? true : rib == "false" || rib == "0" ? false : nil
            let id = field(idColumn)
            images[index[path]!].nodules.append(Nodule(id: id.isEmpty ? nil : id, x: x, y: y, diameterMM: d, onRib: onRib))
        }
        return GroundTruth(images: images)
    }

    /// The JSRT Standard Digital Image Database's clinical data: `CLNDAT_EN.txt`, one record per
    /// image with a nodule (file name, subtlety 1–5, size in mm, age, sex, x and y in px of the
    /// 2048 × 2048 image, malignancy, location, diagnosis), and `CNNDAT_EN.TXT`, the images
    /// without one. Fields are separated by tabs (commas and spaces are accepted too); a record
    /// starts at its file name (`JPCLN001.IMG`, `JPCNN001.IMG`), wherever that is, because
    /// some copies of the file lose the line break between records. Each nodule becomes a
    /// truth nodule of `size` mm at (x, y); spacing 0.175 mm/px.
    ///
    /// Returns nil when the text holds no JSRT file name; throws ``GroundTruthError`` for a
    /// nodule record whose subtlety, size, x or y cannot be used, or a repeated name.
    public static func jsrtClinicalData(_ text: String) throws -> GroundTruth? {
        let names = text.matches(of: /(?i)JP(CLN|CNN)\d{3}\.IMG/)
        guard !names.isEmpty else { return nil }
        var images: [Image] = []
        var seen = Set<String>()
        for (k, match) in names.enumerated() {
            let name = String(match.output.0)
            guard seen.insert(name.uppercased()).inserted else { throw GroundTruthError.duplicateImage(name) }
            var image = Image(path: name, width: jsrtSide, height: jsrtSide, pixelSpacingMM: jsrtSpacingMM, nodules: [])
            if match.output.1.uppercased() == "CLN" {
                let end = k + 1 < names.count ? names[k + 1].range.lowerBound : text.endIndex
                let fields = text[match.range.upperBound..<end]
                    .split(whereSeparator: { $0.isWhitespace || $0 == "," }).map(String.init)
                func number(_ index: Int, _ field: String) throws -> Double {
                    guard index < fields.count, let value = Double(fields[index]), value.isFinite else {
                        throw GroundTruthError.jsrtRecord(name: name, field: field)
                    }
                    return value
                }
                let subtlety = try number(0, "subtlety"), size = try number(1, "size")
                let x = try number(4, "x"), y = try number(5, "y")
                guard subtlety == subtlety.rounded(), (1...5).contains(subtlety) else {
                    throw GroundTruthError.jsrtRecord(name: name, field: "subtlety")
                }
                guard size > 0 else { throw GroundTruthError.jsrtRecord(name: name, field: "size") }
                image.nodules = [Nodule(id: "1", x: x, y: y, diameterMM: size, onRib: nil, subtlety: Int(subtlety))]
            }
            images.append(image)
        }
        return GroundTruth(images: images)
    }
}
