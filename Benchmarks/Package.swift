// swift-tools-version: 6.1
// NoduleKit benchmarks: a nested package so the main package and CI never build it.
// Run through the scripts in this folder, which also run the Python peers in the same run.
import PackageDescription

let package = Package(
    name: "NoduleKitBenchmarks",
    dependencies: [
        .package(path: "../"),
    ],
    targets: [
        .executableTarget(
            name: "decode-bench",
            dependencies: [.product(name: "RadiographIO", package: "main")],
            path: "Sources/decode-bench"
        ),
        .executableTarget(
            name: "detect-bench",
            dependencies: [
                .product(name: "RadiographIO", package: "main"),
                .product(name: "NoduleDetection", package: "main"),
                .product(name: "ScaleSpace", package: "main"),
            ],
            path: "Sources/detect-bench"
        ),
        .executableTarget(
            name: "scale-space-bench",
            dependencies: [.product(name: "ScaleSpace", package: "main")],
            path: "Sources/scale-space-bench"
        ),
    ]
)
