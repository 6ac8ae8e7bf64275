// swift-tools-version: 6.1
// NoduleKit benchmarks: a nested package so the main package and CI never build it.
// Run through the scripts in this folder, which also run the Python peers in the same run.
import PackageDescription

let package = Package(
    name: "NoduleKitBenchmarks",
    dependencies: [
        .package(path: "../"),
        // ordo-one/benchmark: allocations and peak memory beside time (`swift package benchmark`, Benchmarks/ordo.sh).
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.0", traits: ["MallocInterposer"]),
    ],
    targets: [
        .target(name: "BenchmarkCommandLine", path: "Sources/BenchmarkCommandLine"),
        .executableTarget(
            name: "decode-bench",
            dependencies: ["BenchmarkCommandLine", .product(name: "RadiographIO", package: "main")],
            path: "Sources/decode-bench"
        ),
        .executableTarget(
            name: "detect-bench",
            dependencies: [
                "BenchmarkCommandLine",
                .product(name: "RadiographIO", package: "main"),
                .product(name: "NoduleDetection", package: "main"),
                .product(name: "ScaleSpace", package: "main"),
            ],
            path: "Sources/detect-bench"
        ),
        .executableTarget(
            name: "scale-space-bench",
            dependencies: ["BenchmarkCommandLine", .product(name: "ScaleSpace", package: "main")],
            path: "Sources/scale-space-bench"
        ),
        .executableTarget(
            name: "NoduleKitBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "RadiographIO", package: "main"),
                .product(name: "NoduleDetection", package: "main"),
                .product(name: "ScaleSpace", package: "main"),
            ],
            path: "Benchmarks/NoduleKitBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ]
)
