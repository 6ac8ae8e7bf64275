import ArgumentParser
import RadiographIO

/// `nodules convert IN OUT`: export any decodable radiograph as 16-bit PNG or `.npy`.
struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a radiograph as a 16-bit grayscale PNG (pHYs carries the spacing) or a NumPy .npy, chosen by OUT's extension.",
        discussion: "Samples are written as stored: no windowing, no polarity change. A PNG keeps the spacing (pHYs), the bits stored (sBIT), and the patient ID and study date, when the input has them, as text chunks keyed PatientID, IssuerOfPatientID and StudyDate. Exit status 0 on success, 1 on a decode or write failure, 2 for a usage error."
    )

    @OptionGroup var decode: DecodeArguments

    @Argument(help: "Input radiograph.")
    var input: String

    @Argument(help: "Output path ending in .png or .npy.")
    var output: String

    func validate() throws {
        do { _ = try RadiographWriter.Destination(path: output) } catch { throw ValidationError("\(error)") }
    }

    func run() throws {
        let reader = RadiographReader(options: try decode.decodeOptions())
        do {
            let radiograph = try reader.read(contentsOf: input)
            try RadiographWriter.write(radiograph, to: output)
        } catch {
            StandardError.write("nodules: error: \(error)\n")
            throw ExitCode.failure
        }
    }
}
