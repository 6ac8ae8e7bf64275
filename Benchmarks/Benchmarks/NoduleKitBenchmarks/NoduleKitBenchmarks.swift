// ordo-one/benchmark suite: wall clock, CPU, allocations and peak resident memory of one
// radiograph through the stages the batch pipeline runs per file: decoding (with and without the
// content digest), detection (on every core, and on one as each `nodules batch` worker runs it) and,
// for scale, normalisation alone. Run through `Benchmarks/ordo.sh`, which makes the inputs, times the
// peers in the same run and records the table; `swift package benchmark` alone reads the inputs from
// NODULEKIT_BENCH_PNG (a 2048² 16-bit PNG) and NODULEKIT_BENCH_PHANTOM (a phantom radiograph).
// A missing or unreadable input skips its benchmarks with a message, never measures something else.
import Benchmark
import Foundation
import NoduleDetection
import RadiographIO
import ScaleSpace

/// The file named by `variable`, if it exists; otherwise a message on standard error and nil.
private func input(_ variable: String) -> String? {
    guard let path = ProcessInfo.processInfo.environment[variable], FileManager.default.fileExists(atPath: path) else {
        FileHandle.standardError.write(Data("skipped: \(variable) names no file (Benchmarks/ordo.sh sets it)\n".utf8))
        return nil
    }
    return path
}

/// The pipeline definition: NODULEKIT_BENCH_PIPELINE, else the repository's default.
private func pipeline() throws -> PipelineDefinition {
    let path = ProcessInfo.processInfo.environment["NODULEKIT_BENCH_PIPELINE"] ?? "../Pipelines/cxr-nodules.json"
    return try PipelineDefinition.decode(path: path)
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .cpuTotal, .throughput, .mallocCountTotal, .peakMemoryResident],
        warmupIterations: 2,
        maxDuration: .seconds(20),
        maxIterations: 30
    )
    let threads = ProcessInfo.processInfo.activeProcessorCount

    if let png = input("NODULEKIT_BENCH_PNG") {
        let reader = RadiographReader(options: DecodeOptions(computeDigest: false))
        Benchmark("decode: 2048² 16-bit PNG, digest off") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try reader.read(contentsOf: png)) }
        }
        let hashing = RadiographReader()
        Benchmark("decode: 2048² 16-bit PNG + SHA-256") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(try hashing.read(contentsOf: png)) }
        }
    }

    if let phantom = input("NODULEKIT_BENCH_PHANTOM") {
        // Decoded once outside the measurement: these time what `nodules batch` does after decoding.
        let radiograph: Radiograph, definition: PipelineDefinition
        do {
            radiograph = try RadiographReader(options: DecodeOptions(computeDigest: false)).read(contentsOf: phantom)
            definition = try pipeline()
        } catch {
            FileHandle.standardError.write(Data("skipped the detection benchmarks: \(error)\n".utf8))
            return
        }
        let detector = NoduleDetector(pipeline: definition, threads: threads)
        Benchmark("detect: normalise + lung field + candidates + measure + map (\(threads) threads)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(detector.detect(radiograph).candidates.count) }
        }
        let single = NoduleDetector(pipeline: definition, threads: 1)
        Benchmark("detect: the same on 1 thread (as each of `nodules batch --jobs N`'s workers)") { benchmark in
            for _ in benchmark.scaledIterations { blackHole(single.detect(radiograph).candidates.count) }
        }
        Benchmark("normalise: working image at \(definition.normalisation.workingSpacingMM) mm/px") { benchmark in
            for _ in benchmark.scaledIterations {
                blackHole(NormalisedRadiograph(radiograph, parameters: definition.normalisation,
                                               measureSpacingMM: definition.measurement.measureSpacingMM,
                                               threads: threads))
            }
        }
    }
}
