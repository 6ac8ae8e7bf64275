// LoG-stack benchmark: 2048² float32, 10 σ geometric 2…24, σ²-normalised LoG at full resolution.
// Usage: scale-space-bench [--image X.npy] [--repeats N] [--mode exact|pyramid] [--engine direct|blas] [--threads N]
// Prints one JSON object: the sgemm rate measured here, the stack's multiply-add count, medians.
import BenchmarkCommandLine
import Dispatch
import Foundation
import ScaleSpace

var repeats = 5
var imagePath: String?
var mode = "pyramid"
var threads = SeparableConvolution.defaultThreads
var engine = ConvolutionEngine.default
let commandLine = BenchmarkCommandLine(
    tool: "scale-space-bench",
    usage: "scale-space-bench [--image X.npy] [--repeats N] [--mode exact|pyramid] [--engine direct|blas] [--threads N]")
var args = CommandLine.arguments.dropFirst()
while let a = args.popFirst() {
    switch a {
    case "--repeats": repeats = commandLine.positiveInteger(args.popFirst(), for: a)
    case "--image": imagePath = commandLine.value(args.popFirst(), for: a, needs: "a file")
    case "--mode":
        guard let m = args.popFirst(), ["exact", "pyramid"].contains(m) else { commandLine.fail("--mode is exact or pyramid") }
        mode = m
    case "--threads": threads = commandLine.positiveInteger(args.popFirst(), for: a)
    case "--engine":
        guard let e = args.popFirst().flatMap(ConvolutionEngine.init(rawValue:)) else { commandLine.fail("--engine is direct or blas") }
        engine = e
    case "-h", "--help": commandLine.help()
    default: commandLine.fail("unknown argument \(a)")
    }
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

func seconds(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

/// Reads a 2-D `<f4` .npy.
func loadNPY(_ path: String) -> FloatImage {
    let bytes = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: path)))
    let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
    precondition(header.contains("'<f4'"), "expected float32")
    let shapeText = header[header.range(of: "(")!.upperBound..<header.range(of: ")")!.lowerBound]
    let shape = shapeText.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
    let values = bytes[(10 + headerLength)...].withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    return FloatImage(width: shape[1], height: shape[0], values: values)
}

let image: FloatImage
if let imagePath {
    image = loadNPY(imagePath)
} else {
    var state: UInt64 = 2026
    image = FloatImage(width: 2048, height: 2048) { x, y in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let noise = Float(state >> 40) / Float(1 << 24)
        return 1000 + 400 * sin(Float(x) / 40) * cos(Float(y) / 55) + 50 * noise
    }
}

let gflops = SGEMMRate.measure(size: 2048, threads: threads)

let sigmas = ScaleSpace.geometricSigmas(from: 2, to: 24, count: 10)
// Useful multiply-adds of the exact full-resolution stack: per σ, 4 separable passes
// (g'' then g, g then g'') of 2r+1 taps each, r = ⌊4σ + ½⌋, over every pixel.
let pixels = Double(image.width * image.height)
func madds(truncate: Double) -> Double {
    sigmas.reduce(0) { sum, s in sum + 4 * pixels * Double(2 * max(1, Int(truncate * s + 0.5)) + 1) }
}
let floor4 = 2 * madds(truncate: 4) / (gflops * 1e9)
let floor3 = 2 * madds(truncate: 3) / (gflops * 1e9)

let space = ScaleSpace(sigmas: sigmas, threads: threads, engine: engine,
                       resolution: mode == "exact" ? ScaleResolution.exact : ScaleResolution.pyramid())
var runs: [Double] = []
var perSigma: [[Double]] = sigmas.map { _ in [] }
var sink: Float = 0
for i in 0...repeats {
    var levelStart = DispatchTime.now().uptimeNanoseconds
    let t = seconds {
        space.stream(image, filter: .log) { level in
            let now = DispatchTime.now().uptimeNanoseconds
            if i > 0 { perSigma[level.index].append(Double(now - levelStart) / 1e9) }
            sink += level.response[1024, 1024]
            levelStart = DispatchTime.now().uptimeNanoseconds
        }
    }
    if i > 0 { runs.append(t) }  // first run is the warm-up
}
var usage = rusage()
getrusage(RUSAGE_SELF.rawValue == 0 ? 0 : 0, &usage)

let result: [String: Any] = [
    "workload": ["width": image.width, "height": image.height, "sigmas": sigmas, "filter": "log", "mode": mode, "threads": threads,
                 "engine": engine.rawValue],
    "sgemm_gflops": gflops,
    "madds_truncate4": madds(truncate: 4),
    "floor_s_truncate4": floor4,
    "floor_s_truncate3": floor3,
    "median_s": median(runs),
    "runs_s": runs,
    "per_sigma_median_s": perSigma.map(median),
    "peak_rss_mib": Double(usage.ru_maxrss) / 1024,
    "checksum": Double(sink),
]
print(String(decoding: try! JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
