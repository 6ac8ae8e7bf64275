// Times RadiographIO decoding of the files given on the command line.
// Usage: decode-bench --repeats N FILE...   → one JSON object on stdout (seconds).
import BenchmarkCommandLine
import Foundation
import RadiographIO

var repeats = 15
var files: [String] = []
let commandLine = BenchmarkCommandLine(tool: "decode-bench", usage: "decode-bench --repeats N FILE...")
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    switch a {
    case "--repeats": repeats = commandLine.positiveInteger(arguments.popFirst(), for: a)
    case "-h", "--help": commandLine.help()
    case let option where option.hasPrefix("-"): commandLine.fail("unknown option \(option)")
    default: files.append(a)
    }
}
if files.isEmpty { commandLine.fail("no files given") }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}

func time(repeats: Int, _ body: () throws -> Void) rethrows -> [Double] {
    try body()  // warm-up
    var runs: [Double] = []
    for _ in 0..<repeats {
        let t0 = DispatchTime.now().uptimeNanoseconds
        try body()
        runs.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }
    return runs
}

var results: [String: Any] = [:]
for file in files {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: file)))
    let hashed = RadiographReader()
    let plain = RadiographReader(options: DecodeOptions(computeDigest: false))
    var variants: [String: Any] = [:]
    let check = try plain.read(contentsOf: file)
    for (name, body) in [
        ("nodulekit-file", { _ = try plain.read(contentsOf: file) }),
        ("nodulekit-bytes", { _ = try plain.decode(bytes, path: file) }),
        ("nodulekit-file+sha256", { _ = try hashed.read(contentsOf: file) }),
    ] as [(String, () throws -> Void)] {
        let runs = try time(repeats: repeats, body)
        variants[name] = ["median_s": median(runs), "runs_s": runs]
    }
    results[file] = ["variants": variants, "width": check.width, "height": check.height,
                     "bits_stored": check.bitsStored, "layout": check.source.storedLayout,
                     "max_sample": Int(check.statistics.maximum)]
}
let data = try JSONSerialization.data(withJSONObject: ["repeats": repeats, "files": results], options: [.sortedKeys])
print(String(decoding: data, as: UTF8.self))
