// Times NoduleKit detection (normalise + lung field + candidates + measure + score),
// decode excluded: each file is decoded once, then detected REPEATS times.
// Usage: detect-bench [--repeats N] [--threads T] [--pipeline FILE] FILE...
// Prints one JSON object: per-file medians and per-stage medians (seconds): normalise, and the
// nodule map (NoduleHeatmap: resampling + network, over the region the detector would take) when the
// pipeline has one (null otherwise).
import BenchmarkCommandLine
import Foundation
import NoduleDetection
import RadiographIO
import ScaleSpace

var repeats = 7
var threads = ProcessInfo.processInfo.activeProcessorCount
var pipelinePath = "../Pipelines/cxr-nodules.json"
var files: [String] = []
let commandLine = BenchmarkCommandLine(
    tool: "detect-bench", usage: "detect-bench [--repeats N] [--threads T] [--pipeline FILE] FILE...")
var arguments = CommandLine.arguments.dropFirst()
while let a = arguments.popFirst() {
    switch a {
    case "--repeats": repeats = commandLine.positiveInteger(arguments.popFirst(), for: a)
    case "--threads": threads = commandLine.positiveInteger(arguments.popFirst(), for: a)
    case "--pipeline": pipelinePath = commandLine.value(arguments.popFirst(), for: a, needs: "a file")
    case "-h", "--help": commandLine.help()
    case let option where option.hasPrefix("-"): commandLine.fail("unknown option \(option)")
    default: files.append(a)
    }
}
if files.isEmpty { commandLine.fail("no files given") }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? .nan : s.count % 2 == 1 ? s[s.count / 2] : 0.5 * (s[s.count / 2 - 1] + s[s.count / 2])
}
func seconds(_ body: () -> Void) -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
}

let pipeline = try PipelineDefinition.decode(path: pipelinePath)
let detector = NoduleDetector(pipeline: pipeline, threads: threads)
let reader = RadiographReader(options: DecodeOptions(computeDigest: false))
var perFile: [String: Any] = [:]
var allTotals: [Double] = []
var normaliseTimes: [Double] = []
var mapTimes: [Double] = []
for file in files {
    let radiograph = try reader.read(contentsOf: file)
    let first = detector.detect(radiograph)  // warm-up
    // The map as the detector makes it: over the region its `context_mm` asks for, if any, around
    // the candidates it reads the map for. Those are the candidates before the map (the map moves some
    // and cuts the list): the definition without its map, reporting every measured candidate when the
    // map scores them all (`scores_measured`).
    var mapRegion: NoduleHeatmap.Region?
    if let h = pipeline.heatmap, let grid = NoduleHeatmap.Grid(first.normalised, network: h.network) {
        var beforeMap = pipeline
        beforeMap.heatmap = nil
        if h.scoresMeasured == true { beforeMap.candidates.maximumReported = pipeline.candidates.maximumCandidates }
        let read = NoduleDetector(pipeline: beforeMap, threads: threads).detect(radiograph).candidates
        mapRegion = grid.region(for: read, heatmap: h, maximumDiameterMM: pipeline.candidates.maximumDiameterMM)
    }
    var totals: [Double] = []
    var normalise: [Double] = []
    var map: [Double] = []
    var candidates = 0
    for _ in 0..<repeats {
        totals.append(seconds { candidates = detector.detect(radiograph).candidates.count })
        var normalised: NormalisedRadiograph?
        normalise.append(seconds {
            normalised = NormalisedRadiograph(radiograph, parameters: pipeline.normalisation,
                                              measureSpacingMM: pipeline.measurement.measureSpacingMM, threads: threads)
        })
        if let h = pipeline.heatmap, let normalised {
            map.append(seconds {
                _ = NoduleHeatmap(normalised, network: h.network, threads: threads, region: mapRegion,
                                  mirrorAveraged: h.mirrorAveraged == true, ensemble: h.ensemble ?? [],
                                  rescaledPasses: h.rescaledPasses ?? [])
            })
        }
    }
    if !map.isEmpty { mapTimes.append(median(map)) }
    allTotals.append(median(totals))
    normaliseTimes.append(median(normalise))
    perFile[file] = ["width": radiograph.width, "height": radiograph.height, "median_s": median(totals),
                     "normalise_median_s": median(normalise), "map_median_s": map.isEmpty ? NSNull() : median(map) as Any,
                     "candidates": candidates, "runs_s": totals]
}
let summary: [String: Any] = ["repeats": repeats, "threads": threads, "pipeline": pipeline.stamp.digest,
                              "median_of_file_medians_s": median(allTotals),
                              "normalise_median_of_medians_s": median(normaliseTimes),
                              "map_median_of_medians_s": mapTimes.isEmpty ? NSNull() : median(mapTimes) as Any, "files": perFile]
print(String(decoding: try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys]), as: UTF8.self))
