import Foundation
import RadiographIO

/// Where a patient ID or study date came from. Precedence, highest first:
/// `manifest` > `file` (tags in the image: DICOM, PNG text chunks) > `folder` (the
/// `<patient>/<YYYY-MM-DD>/<image>` layout) > `filename` (a date in the image's
/// file name, the patient from its folder or the name's prefix).
public enum MetadataSource: String, Sendable, Codable, Equatable {
    case manifest
    case file
    case folder
    case fileName = "filename"
}

/// One file to process, with what the manifest and the folder layout say about it.
public struct BatchInput: Sendable, Equatable {
    /// The path opened and reported (`path` in the output).
    public var path: String
    /// Path relative to the input folder or the manifest's folder: the sort and shard key.
    public var key: String
    /// Patient ID, study date and spacing from a manifest row.
    public var manifestPatientID: String?
    public var manifestDate: StudyDate?
    public var manifestSpacing: PixelSpacing?
    /// Patient and date from the path: the folder layout or, failing that, the file name
    /// (``layoutSource`` says which).
    public var folderPatientID: String?
    public var folderDate: StudyDate?
    /// `.folder` or `.fileName`: which path rule gave ``folderPatientID`` and ``folderDate``.
    public var layoutSource: MetadataSource = .folder
    /// A manifest row that cannot be used; the file is reported with this error and not read.
    public var problem: InputProblem?
    /// Remarks about the input (e.g. a date folder that is not a valid date).
    public var notes: [String] = []

    public init(path: String, key: String) {
        self.path = path
        self.key = key
    }
}

/// Why one manifest row cannot be used. Reported as that row's error, never fatal.
public enum InputProblem: Sendable, Equatable, CustomStringConvertible {
    case badDate(line: Int, value: String)
    case badSpacing(line: Int, value: String)
    case missingPath(line: Int)
    case wrongFieldCount(line: Int, expected: Int, found: Int)

    public var code: String {
        switch self {
        case .badDate: "manifest.bad-date"
        case .badSpacing: "manifest.bad-spacing"
        case .missingPath: "manifest.missing-path"
        case .wrongFieldCount: "manifest.field-count"
        }
    }

    public var description: String {
        switch self {
        case .badDate(let line, let value): "manifest line \(line): study_date '\(value)' is not a valid YYYY-MM-DD date"
        case .badSpacing(let line, let value): "manifest line \(line): pixel_spacing_mm '\(value)' is not ROW or ROWxCOLUMN in mm (0 < mm < 10)"
        case .missingPath(let line): "manifest line \(line): empty path"
        case .wrongFieldCount(let line, let expected, let found): "manifest line \(line): \(found) fields, the header has \(expected)"
        }
    }
}

/// Why the input as a whole cannot be used (the batch does not start).
public enum InputError: Error, Equatable, Sendable, CustomStringConvertible {
    case notFound(path: String)
    case unreadable(path: String, reason: String)
    case manifestMissingColumns(path: String, missing: [String])
    case manifestMalformed(path: String, line: Int, reason: String)

    public var description: String {
        switch self {
        case .notFound(let path): "\(path): no such file or folder"
        case .unreadable(let path, let reason): "\(path): cannot read (\(reason))"
        case .manifestMissingColumns(let path, let missing):
            "\(path): manifest header lacks \(missing.joined(separator: ", ")) (expected patient_id,study_date,path[,pixel_spacing_mm])"
        case .manifestMalformed(let path, let line, let reason): "\(path): line \(line): \(reason)"
        }
    }
}

/// Patient and date after precedence, with the source that won.
public struct ResolvedIdentity: Sendable, Equatable {
    public var patient: PatientIdentity?
    public var patientSource: MetadataSource?
    public var studyDate: StudyDate?
    public var dateSource: MetadataSource?
    /// Disagreements between sources, for the record's warnings.
    public var notes: [String] = []
}

extension BatchInput {
    /// Applies the precedence manifest > file > folder to the patient and the date
    /// separately, and notes every source that was overruled with a different value.
    public func resolve(filePatient: PatientIdentity?, fileDate: StudyDate?) -> ResolvedIdentity {
        var out = ResolvedIdentity()
        let patients: [(MetadataSource, PatientIdentity?)] = [
            (.manifest, manifestPatientID.map { PatientIdentity(id: $0) }), (.file, filePatient),
            (layoutSource, folderPatientID.map { PatientIdentity(id: $0) }),
        ]
        if let (source, winner) = patients.first(where: { $0.1 != nil }), let winner {
            out.patient = winner
            out.patientSource = source
            // A manifest ID with no issuer keeps the file's issuer when the IDs agree.
            if source == .manifest, let filePatient, filePatient.id == winner.id { out.patient?.issuer = filePatient.issuer }
            for (other, value) in patients where other != source {
                if let value, value.id != winner.id {
                    out.notes.append("patient_id '\(winner.id)' from \(source.rawValue) overrides '\(value.id)' from \(other.rawValue)")
                }
            }
        }
        let dates: [(MetadataSource, StudyDate?)] = [(.manifest, manifestDate), (.file, fileDate), (layoutSource, folderDate)]
        if let (source, winner) = dates.first(where: { $0.1 != nil }), let winner {
            out.studyDate = winner
            out.dateSource = source
            for (other, value) in dates where other != source {
                if let value, value != winner {
                    out.notes.append("study_date \(winner) from \(source.rawValue) overrides \(value) from \(other.rawValue)")
                }
            }
        }
        return out
    }
}

/// Turns a folder or a manifest into the ordered list of `BatchInput`.
public enum BatchInputs {
    /// Enumerates `input`: a folder (scanned recursively, sorted by relative path
    /// bytewise) or a manifest CSV (in row order).
    ///
    /// Hidden files and folders (leading `.`) are skipped, and so are `skipping`
    /// paths (the batch's own outputs), files under a `skippingFolders` folder (its
    /// overlay pictures) and relative paths or names matching an `excluding` glob (fnmatch).
    public static func enumerate(_ input: String, excluding: [String] = [], skipping: Set<String> = [],
                                 skippingFolders: [String] = []) throws -> [BatchInput] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: input, isDirectory: &isDirectory) else { throw InputError.notFound(path: input) }
        let skip = Set(skipping.map(canonical))
        let skipUnder = skippingFolders.map { canonical($0) + "/" }
        let all = isDirectory.boolValue ? try folder(input) : try manifest(input)
        return all.filter { item in
            let name = (item.key as NSString).lastPathComponent
            if excluding.contains(where: { fnmatch($0, item.key, 0) == 0 || fnmatch($0, name, 0) == 0 }) { return false }
            let path = canonical(item.path)
            return !skip.contains(path) && !skipUnder.contains { path.hasPrefix($0) }
        }
    }

    static func canonical(_ path: String) -> String {
        URL(fileURLWithPath: path).standardizedFileURL.path
    }

    // MARK: Folder

    /// All regular files under `root` (following file symlinks, not folder symlinks),
    /// bytewise-sorted by relative path, with patient and date from the layout.
    public static func folder(_ root: String) throws -> [BatchInput] {
        var keys: [String] = []
        try walk(root: root, relative: "", into: &keys)
        keys.sort { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return keys.map { key in
            var input = BatchInput(path: base.isEmpty ? "/" + key : base + "/" + key, key: key)
            applyLayout(to: &input)
            return input
        }
    }

    static func walk(root: String, relative: String, into keys: inout [String]) throws {
        let folder = relative.isEmpty ? root : root + "/" + relative
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: folder)
        } catch {
            throw InputError.unreadable(path: folder, reason: (error as NSError).localizedDescription)
        }
        for name in names where !name.hasPrefix(".") {
            let child = relative.isEmpty ? name : relative + "/" + name
            var info = stat()
            guard lstat(root + "/" + child, &info) == 0 else { continue }
            switch info.st_mode & S_IFMT {
            case S_IFDIR: try walk(root: root, relative: child, into: &keys)
            case S_IFREG: keys.append(child)
            case S_IFLNK:
                var target = stat()
                if stat(root + "/" + child, &target) == 0, (target.st_mode & S_IFMT) == S_IFREG { keys.append(child) }
            default: break
            }
        }
    }

    /// Patient and study date from the relative path, first rule that applies:
    /// 1. `…/<patient>/<date>/<image>`: the image's folder names the study date
    ///    (`YYYY-MM-DD` or `YYYYMMDD`) and its parent the patient (`folder`).
    /// 2. A date token in the file name, e.g. `<patient>/2025-01-31.png`,
    ///    `<patient>/pa_20250131.png`, `<patient>_2025-01-31_pa.png` (`filename`): the patient
    ///    is the name's text before the date when that text holds a digit (patient IDs do:
    ///    `P001`, `PD-0002`) or the file is at the top level, else the image's folder (so
    ///    `PH-0001/pa_2025-01-31.png` is PH-0001, and `images/P7_2025-01-31.png` is P7).
    ///    See ``fileNameDate(_:)`` for what counts as a date token.
    static func applyLayout(to input: inout BatchInput) {
        let parts = input.key.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        if parts.count >= 3 {
            let dateFolder = parts[parts.count - 2]
            if let date = StudyDate(dateFolder) {
                input.folderDate = date
                input.folderPatientID = parts[parts.count - 3]
                return
            } else if looksLikeDate(dateFolder) {
                input.notes.append("folder '\(dateFolder)' is not a valid date; patient and date not taken from the folder layout")
                return
            }
        }
        guard let name = parts.last, let (date, prefix) = fileNameDate(name) else { return }
        let prefixIsAnID = prefix.contains(where: \.isASCIIDigit)
        let patient = parts.count >= 2 && !prefixIsAnID ? parts[parts.count - 2] : prefix
        input.folderDate = date
        input.folderPatientID = patient.isEmpty ? nil : patient
        input.layoutSource = .fileName
    }

    /// The study date in a file name and the text before it (separators trimmed): the first
    /// `YYYY-MM-DD` or `YYYYMMDD` token of the name without its extension that is a real date
    /// in 1900–2199 and stands alone, i.e. is bounded by the name's ends or by `_`, `-`, `.`,
    /// space or a letter, never by another digit (`IMG_120250131` has none).
    static func fileNameDate(_ name: String) -> (date: StudyDate, prefix: String)? {
        let stem = Array((name as NSString).deletingPathExtension)
        for start in stem.indices where stem[start].isASCIIDigit && (start == 0 || !stem[start - 1].isASCIIDigit) {
            for length in [10, 8] where start + length <= stem.count {
                let token = stem[start..<(start + length)]
                let end = start + length
                guard end == stem.count || !stem[end].isASCIIDigit else { continue }
                guard let date = StudyDate(String(token)), (1900...2199).contains(date.year) else { continue }
                let prefix = String(stem[..<start]).trimmingCharacters(in: CharacterSet(charactersIn: "_-. "))
                return (date, prefix)
            }
        }
        return nil
    }

    static func looksLikeDate(_ text: String) -> Bool {
        let shape = text.map { $0.isASCIIDigit ? "9" : String($0) }.joined()
        return shape == "9999-99-99" || shape == "99999999"
    }

    // MARK: Manifest

    /// Rows of a manifest CSV with the header `patient_id,study_date,path[,pixel_spacing_mm]`
    /// (any column order, extra columns ignored; RFC 4180 quoting; UTF-8, optional BOM).
    /// Paths are relative to the manifest's folder unless absolute.
    public static func manifest(_ path: String) throws -> [BatchInput] {
        guard let data = FileManager.default.contents(atPath: path) else { throw InputError.unreadable(path: path, reason: "cannot read the manifest") }
        guard let text = String(data: data, encoding: .utf8) else {
            throw InputError.manifestMalformed(path: path, line: 1, reason: "not UTF-8 text")
        }
        let rows: [(line: Int, fields: [String])]
        do {
            rows = try CSVRecords.parse(text)
        } catch let CSVRecords.Failure.unterminatedQuote(line) {
            throw InputError.manifestMalformed(path: path, line: line, reason: "a quoted field is not closed")
        }
        guard let header = rows.first else { throw InputError.manifestMissingColumns(path: path, missing: ["patient_id", "study_date", "path"]) }
        let names = header.fields.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        func column(_ name: String) -> Int? { names.firstIndex(of: name) }
        let missing = ["patient_id", "study_date", "path"].filter { column($0) == nil }
        guard missing.isEmpty, let patientColumn = column("patient_id"), let dateColumn = column("study_date"),
              let pathColumn = column("path") else {
            throw InputError.manifestMissingColumns(path: path, missing: missing)
        }
        let spacingColumn = column("pixel_spacing_mm")
        // The manifest's folder exactly as the caller spelled it (no normalisation).
        let folder = path.lastIndex(of: "/").map { $0 == path.startIndex ? "/" : String(path[..<$0]) } ?? ""

        var inputs: [BatchInput] = []
        for row in rows.dropFirst() {
            let fields = row.fields
            if fields.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { continue }
            func field(_ i: Int?) -> String? {
                guard let i, i < fields.count else { return nil }
                let value = fields[i].trimmingCharacters(in: .whitespaces)
                return value.isEmpty ? nil : value
            }
            let relative = fields.indices.contains(pathColumn) ? fields[pathColumn] : ""
            let key = relative.isEmpty ? "\((path as NSString).lastPathComponent):line \(row.line)" : relative
            let opened = relative.hasPrefix("/") ? relative
                : (folder.isEmpty ? relative : (folder.hasSuffix("/") ? folder : folder + "/") + relative)
            var input = BatchInput(path: relative.isEmpty ? key : opened, key: key)
            input.manifestPatientID = field(patientColumn)
            if fields.count != names.count {
                input.problem = .wrongFieldCount(line: row.line, expected: names.count, found: fields.count)
            } else if relative.isEmpty {
                input.problem = .missingPath(line: row.line)
            } else if let dateText = field(dateColumn), StudyDate(dateText) == nil || dateText.count != 10 {
                input.problem = .badDate(line: row.line, value: dateText)
            } else if let spacingText = field(spacingColumn), parseSpacing(spacingText) == nil {
                input.problem = .badSpacing(line: row.line, value: spacingText)
            }
            if input.problem == nil {
                input.manifestDate = field(dateColumn).flatMap { StudyDate($0) }
                input.manifestSpacing = field(spacingColumn).flatMap(parseSpacing)
            }
            inputs.append(input)
        }
        return inputs
    }

    /// `ROW` or `ROWxCOLUMN`, mm, each in (0, 10).
    static func parseSpacing(_ text: String) -> PixelSpacing? {
        let parts = text.lowercased().split(separator: "x", omittingEmptySubsequences: false).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil && $0! > 0 && $0! < 10 }) else { return nil }
        return PixelSpacing(row: parts[0]!, column: parts.count == 2 ? parts[1]! : parts[0]!, source: .manifest)
    }
}

private extension Character {
    /// 0–9 only (`isNumber` alone also accepts other scripts' digits and fractions).
    var isASCIIDigit: Bool { isASCII && isNumber }
}
