import ArgumentParser
import RadiographIO

/// Decoder options shared by every command that reads radiographs.
struct DecodeArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Geometry of headerless raw files: WIDTHxHEIGHT:TYPE[:BITS][:mono1|mono2], TYPE one of u8, u16le, u16be.",
        discussion: "JSRT .IMG files are 2048x2048:u16be:12. mono1: high values lucent; mono2: high values dense; neither: inferred from the anatomy (with a warning). Files whose leading bytes say PNG or JPEG are still decoded as such.",
        valueName: "geometry"))
    var raw: String?

    @Option(name: .long, help: ArgumentHelp(
        "Pixel spacing in mm, ROW or ROWxCOLUMN; replaces the file's own spacing and is recorded as from the command line.",
        valueName: "mm"))
    var spacing: String?

    @Option(name: .customLong("max-megapixels"), help: "Refuse images whose header declares more pixels than this (checked before allocating).")
    var maxMegapixels: Double = Double(DecodeOptions.defaultMaxPixels) / 1_000_000

    @Option(name: .customLong("dicom-timeout"), help: ArgumentHelp(
        "Seconds a DICOM file may take to decode in its worker process before the worker is killed and the file reported as timed out.",
        valueName: "seconds"))
    var dicomTimeout: Double = DICOMIsolation.defaultTimeoutSeconds

    @Option(name: .customLong("dicom-isolation"), help: ArgumentHelp(
        "worker (default): decode DICOM in a child process, so a GDCM abort or hang costs one file. in-process: trusted files only, for measuring.",
        valueName: "worker|in-process"))
    var dicomIsolation: String = "worker"

    @Option(name: .long, help: ArgumentHelp(
        "PNG and JPEG store no polarity. infer (default): an image whose anatomy clearly says inverted (mediastinum darker than the lungs) is read as MONOCHROME1, with a warning. stored: high values are always dense.",
        valueName: "infer|stored"))
    var polarity: String = "infer"

    func validate() throws {
        _ = try decodeOptions()
    }

    func decodeOptions() throws -> DecodeOptions {
        var options = DecodeOptions()
        guard maxMegapixels > 0, maxMegapixels.isFinite else { throw ValidationError("--max-megapixels must be positive") }
        options.maxPixels = Int(maxMegapixels * 1_000_000)
        if let raw {
            do { options.raw = try RawGeometry(parsing: raw) } catch { throw ValidationError("--raw: \(error)") }
        }
        if let spacing {
            options.spacingOverride = try Self.parseSpacing(spacing)
        }
        guard dicomTimeout > 0, dicomTimeout.isFinite else { throw ValidationError("--dicom-timeout must be a positive number of seconds") }
        options.infersPolarity = try Self.infersPolarity(polarity)
        switch dicomIsolation {
        case "worker": options.dicomIsolation = .worker(timeoutSeconds: dicomTimeout)
        case "in-process": options.dicomIsolation = .inProcess
        default: throw ValidationError("--dicom-isolation must be worker or in-process")
        }
        return options
    }

    /// `--polarity`: whether PNG/JPEG polarity is inferred (`infer`) or taken as stored (`stored`).
    static func infersPolarity(_ text: String) throws -> Bool {
        switch text {
        case "infer": return true
        case "stored": return false
        default: throw ValidationError("--polarity must be infer or stored")
        }
    }

    static func parseSpacing(_ text: String) throws -> PixelSpacing {
        let parts = text.lowercased().split(separator: "x").map { Double($0) }
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0 != nil && $0! > 0 && $0!.isFinite }) else {
            throw ValidationError("--spacing: '\(text)' is not ROW or ROWxCOLUMN in mm (positive numbers)")
        }
        let row = parts[0]!, column = parts.count == 2 ? parts[1]! : parts[0]!
        guard row < 10, column < 10 else {
            throw ValidationError("--spacing: \(text) mm per pixel is implausible for a radiograph; the unit is mm")
        }
        return PixelSpacing(row: row, column: column, source: .commandLine)
    }
}
