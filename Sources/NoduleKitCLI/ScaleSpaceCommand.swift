import ArgumentParser
import Dispatch
import Foundation
import RadiographIO
import ScaleSpace

/// `nodules scale-space IMAGE`: compute a Gaussian scale-space stack, time it, optionally save it.
struct ScaleSpaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale-space",
        abstract: "Compute a Gaussian scale-space stack (Gaussian, LoG, DoG, Hessian determinant) for inspection and benchmarking.",
        discussion: """
        Without --out, computes the stack and prints per-scale and total times. With --out DIR, writes each \
        scale as a float32 .npy at full resolution (rows × columns, as the input), named scale-00.npy, \
        scale-01.npy, … in σ order, plus sigmas.json. Stored samples are filtered as they are (no polarity change).
        """
    )

    @OptionGroup var decode: DecodeArguments

    @Option(name: .long, help: "gaussian, log (σ²-normalised), dog, or hessian-det (σ⁴-normalised).")
    var filter: String = "log"

    @Option(name: .long, help: ArgumentHelp("σ in px as MIN:MAX:COUNT, spaced geometrically.", valueName: "min:max:count"))
    var sigmas: String = "2:24:10"

    @Option(name: .long, help: "Folder to write scale-NN.npy files into (created if missing).")
    var out: String?

    @Option(name: .long, help: ArgumentHelp(
        "exact: every σ at full resolution with SciPy-equivalent kernels. pyramid: large σ on a Gaussian pyramid, interpolated back (faster; see README).",
        valueName: "exact|pyramid"))
    var resolution: String = "exact"

    @Option(name: .long, help: ArgumentHelp(
        "direct: SIMD correlation (default, faster here). blas: OpenBLAS sgemm on banded Toeplitz blocks, one BLAS thread per worker.",
        valueName: "direct|blas"))
    var engine: String = ConvolutionEngine.default.rawValue

    @Option(name: .long, help: "Dispatch workers (default: all cores).")
    var threads: Int = SeparableConvolution.defaultThreads

    @Argument(help: "Radiograph to filter.")
    var image: String

    func validate() throws {
        guard ScaleSpaceFilter(rawValue: filter) != nil else {
            throw ValidationError("--filter must be one of \(ScaleSpaceFilter.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        _ = try parsedSigmas()
        guard resolution == "exact" || resolution == "pyramid" else { throw ValidationError("--resolution must be exact or pyramid") }
        guard ConvolutionEngine(rawValue: engine) != nil else { throw ValidationError("--engine must be direct or blas") }
        guard threads >= 1 else { throw ValidationError("--threads must be at least 1") }
    }

    func parsedSigmas() throws -> [Double] {
        let parts = sigmas.split(separator: ":").map(String.init)
        guard parts.count == 3, let lo = Double(parts[0]), let hi = Double(parts[1]), let n = Int(parts[2]),
              lo > 0, hi >= lo, n >= 1, n <= 256, lo.isFinite, hi.isFinite else {
            throw ValidationError("--sigmas must be MIN:MAX:COUNT with 0 < MIN ≤ MAX and 1 ≤ COUNT ≤ 256, got '\(sigmas)'")
        }
        return ScaleSpace.geometricSigmas(from: lo, to: hi, count: n)
    }

    func run() throws {
        let radiograph: Radiograph
        do {
            radiograph = try RadiographReader(options: try decode.decodeOptions()).read(contentsOf: image)
        } catch {
            StandardError.write("nodules: error: \(error)\n")
            throw ExitCode.failure
        }
        let input = FloatImage(width: radiograph.width, height: radiograph.height,
                               values: radiograph.samples.map { Float($0) })
        let space = ScaleSpace(sigmas: try parsedSigmas(), threads: threads, engine: ConvolutionEngine(rawValue: engine)!,
                               resolution: resolution == "pyramid" ? .pyramid() : .exact)
        let kind = ScaleSpaceFilter(rawValue: filter)!
        if let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        }

        print("\(image): \(radiograph.width)×\(radiograph.height), filter \(kind.rawValue), \(space.sigmas.count) scales, \(resolution), \(engine) engine, \(threads) thread(s)")
        var total: UInt64 = 0
        var written: [String] = []
        var start = DispatchTime.now().uptimeNanoseconds
        try space.stream(input, filter: kind) { level in
            let elapsed = DispatchTime.now().uptimeNanoseconds - start
            total += elapsed
            print(String(format: "  scale %02d  σ = %7.3f px  %8.1f ms", level.index, level.sigma, Double(elapsed) / 1e6))
            if let out {
                let name = String(format: "scale-%02d.npy", level.index)
                try AtomicFile.write(NPY.encode(level.response.values, shape: [level.response.height, level.response.width]),
                                     to: out + "/" + name)
                written.append(name)
            }
            start = DispatchTime.now().uptimeNanoseconds
        }
        print(String(format: "  total %.1f ms (filtering only%@)", Double(total) / 1e6, out == nil ? "" : ", file writes excluded"))
        if let out {
            let meta: [String: Any] = ["filter": kind.rawValue, "sigmas_px": space.sigmas, "files": written,
                                       "source": image, "truncate": space.truncate, "resolution": resolution, "border": "reflect (half-sample symmetric)"]
            let data = try JSONSerialization.data(withJSONObject: meta, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write([UInt8](data), to: out + "/sigmas.json")
        }
    }
}
