import Foundation

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

    public var description: String {
        switch self {
        case let .unreadable(path): "cannot read \(path)"
        case let .unrecognised(path, reason):
            "\(path) is neither a truth file (truth.json: \(reason)) nor JSRT clinical data (CLNDAT_EN.txt, CNNDAT_EN.TXT)"
        case let .jsrtRecord(name, field): "JSRT record \(name): no valid \(field) (missing, not a number, or out of range)"
        case let .duplicateImage(path): "image \(path) is listed twice"
        }
    }
}

extension GroundTruth {
    /// JSRT's geometry: 2048 × 2048 px at 0.175 mm/px.
    public static let jsrtSide = 2048
    public static let jsrtSpacingMM = 0.175

    /// Reads a truth file, recognised by content: the phantom generators' `truth.json`, or the
    /// JSRT database's clinical data (``jsrtClinicalData(_:)``). Each image's
    /// ``Image/folder`` is the file's folder, so truths from several files can be concatenated.
    public static func read(contentsOf path: String) throws -> GroundTruth {
        guard let data = FileManager.default.contents(atPath: path) else { throw GroundTruthError.unreadable(path: path) }
        var truth: GroundTruth
        do {
            truth = try JSONDecoder().decode(GroundTruth.self, from: data)
        } catch let jsonError {
            guard let jsrt = try jsrtClinicalData(String(decoding: data, as: UTF8.self)) else {
                throw GroundTruthError.unrecognised(path: path, reason: "\(jsonError)")
            }
            truth = jsrt
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
