// swift-tools-version: 6.0
// NoduleKit — chest radiograph nodule feature pipeline.
import PackageDescription

let package = Package(
    name: "NoduleKit",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "nodules", targets: ["nodules"]),
        .executable(name: "nodules-dicom-worker", targets: ["nodules-dicom-worker"]),
        .library(name: "RadiographIO", targets: ["RadiographIO"]),
        .library(name: "ScaleSpace", targets: ["ScaleSpace"]),
        .library(name: "NoduleDetection", targets: ["NoduleDetection"]),
        .library(name: "SerialTracking", targets: ["SerialTracking"]),
        .library(name: "ExamSeries", targets: ["ExamSeries"]),
        .library(name: "NoduleStore", targets: ["NoduleStore"]),
        .library(name: "BatchPipeline", targets: ["BatchPipeline"]),
        .library(name: "ReviewReport", targets: ["ReviewReport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-numerics", from: "1.1.1"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
    ],
    targets: [
        // MARK: Foreign-library shims (internal, one per library)
        .target(
            name: "CPNG",
            linkerSettings: [.linkedLibrary("png16"), .linkedLibrary("z")]
        ),
        // The row filters of RadiographIO's grayscale PNG pixel path (our C, not a foreign
        // library's); optimised in debug builds too.
        .target(
            name: "CPNGRowFilters",
            cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]
        ),
        // libdeflate: whole-buffer inflate and CRC-32 for that pixel path.
        .systemLibrary(
            name: "CLibdeflate",
            pkgConfig: "libdeflate",
            providers: [.apt(["libdeflate-dev"])]
        ),
        .target(
            name: "CJPEG",
            linkerSettings: [.linkedLibrary("jpeg")]
        ),
        // GDCM (Debian libgdcm-dev) has no pkg-config file: headers are included as
        // <gdcm-3.0/…>, libraries linked by name; the codecs come in through MSFF.
        .target(
            name: "CGDCM",
            linkerSettings: [.linkedLibrary("gdcmMSFF"), .linkedLibrary("gdcmDSED"), .linkedLibrary("gdcmCommon")]
        ),
        // The filter engine's SIMD inner loops (C, one build per instruction set, chosen at load time).
        // Optimised in debug builds too, like the Swift pixel kernels below.
        .target(
            name: "CScaleSpaceKernels",
            exclude: ["README.md"],
            cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]
        ),
        .systemLibrary(
            name: "COpenBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // zlib, to walk a deflated DICOM data set's header before GDCM sees the file.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),

        // MARK: The data's path: decode → filter → …
        .target(
            name: "RadiographIO",
            dependencies: [
                "CPNG", "CPNGRowFilters", "CLibdeflate", "CJPEG", "CGDCM", "CZlib",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        .target(
            name: "ScaleSpace",
            dependencies: ["COpenBLAS", "CScaleSpaceKernels"]
        ),

        .target(
            name: "NoduleDetection",
            dependencies: [
                "RadiographIO", "ScaleSpace",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // MARK: Serial exams: registration, matching, growth, follow-up, reports
        .target(
            name: "SerialTracking",
            dependencies: ["ScaleSpace"],
            exclude: ["README.md"]
        ),

        // MARK: Results store and the batch driver
        .target(
            name: "NoduleStore",
            dependencies: [
                "NoduleDetection",
                .product(name: "GRDB", package: "GRDB.swift"),
            ]
        ),
        .target(
            name: "BatchPipeline",
            dependencies: [
                "RadiographIO", "ScaleSpace", "NoduleDetection", "NoduleStore",
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),

        // MARK: Tracker input from the store: nodule selection, sizing uncertainty, registration from the images
        .target(
            name: "ExamSeries",
            dependencies: ["RadiographIO", "ScaleSpace", "NoduleDetection", "NoduleStore", "SerialTracking"]
        ),

        // MARK: Clinician-facing review report (static HTML)
        .target(
            name: "ReviewReport",
            dependencies: ["RadiographIO", "ScaleSpace", "NoduleDetection", "NoduleStore", "SerialTracking", "ExamSeries"]
        ),

        // MARK: Command line
        .target(
            name: "NoduleKitCLI",
            dependencies: [
                "RadiographIO", "ScaleSpace", "NoduleDetection", "NoduleStore", "BatchPipeline",
                "SerialTracking", "ExamSeries", "ReviewReport",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .executableTarget(
            name: "nodules",
            dependencies: ["NoduleKitCLI", "RadiographIO"]
        ),
        // Decodes DICOM for a parent process (RadiographIO/DICOMWorkerPool), so a GDCM abort or hang costs one file.
        .executableTarget(
            name: "nodules-dicom-worker",
            dependencies: ["RadiographIO"]
        ),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "RadiographIO",
                "NoduleDetection",
                .product(name: "Numerics", package: "swift-numerics"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "RadiographIOTests",
            dependencies: ["RadiographIO", "TestSupport", "nodules-dicom-worker"],
            exclude: ["Fixtures", "pydicom_wheel_reference.py"]
        ),
        .testTarget(
            name: "ScaleSpaceTests",
            dependencies: ["ScaleSpace", "TestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "NoduleDetectionTests",
            dependencies: ["NoduleDetection", "TestSupport"],
            exclude: ["Fixtures"]
        ),
        .testTarget(
            name: "SerialTrackingTests",
            dependencies: ["SerialTracking", "ScaleSpace", "TestSupport"],
            exclude: ["validate_fhir_r4.py"]
        ),
        .testTarget(
            name: "NoduleStoreTests",
            dependencies: ["NoduleStore", "TestSupport"]
        ),
        .testTarget(
            name: "BatchPipelineTests",
            dependencies: ["BatchPipeline", "NoduleStore", "TestSupport"]
        ),
        .testTarget(
            name: "ReviewReportTests",
            dependencies: ["ReviewReport", "ExamSeries", "RadiographIO", "NoduleStore", "SerialTracking", "NoduleDetection", "TestSupport", "nodules"]
        ),
        .testTarget(
            name: "NoduleKitCLITests",
            dependencies: ["NoduleKitCLI", "ExamSeries", "NoduleStore", "nodules", "nodules-dicom-worker", "TestSupport",
                           .product(name: "GRDB", package: "GRDB.swift")],
            exclude: ["make_dicom_series.py"]
        ),
    ],
    cxxLanguageStandard: .cxx17
)

// Package-wide settings, applied in one place.
for target in package.targets where target.type != .system {
    guard target.name.first != "C" || target.name == "NoduleKitCLI" else { continue }
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    // The pixel kernels are optimised even in debug builds: the test suite runs the
    // real detector and tracker on phantom radiographs, and unoptimised pixel loops
    // are an order of magnitude slower. (-O after SwiftPM's -Onone wins.)
    if ["ScaleSpace", "NoduleDetection", "SerialTracking"].contains(target.name) {
        settings.append(.unsafeFlags(["-O"], .when(configuration: .debug)))
    }
    target.swiftSettings = settings
}
