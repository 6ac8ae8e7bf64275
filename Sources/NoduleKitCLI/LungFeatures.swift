import ArgumentParser
import Foundation
import NoduleDetection
import RadiographIO

/// `nodules lung-features IMAGE... --out DIR`: writes the lung-field pixel
/// classifier's features, computed by the product's own code, for fitting the
/// classifier offline (`Pipelines/tools/fit_lung_model.py`). Tooling, so hidden from help.
struct LungFeatures: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "lung-features",
        abstract: "Write the lung-field pixel classifier's features per image (for fitting it).",
        discussion: """
        For each IMAGE, writes DIR/STEM.lungfeatures.f32 (float32, little-endian, pixel-major: \
        height × width × features) and DIR/STEM.lungfeatures.json (width, height, spacing_mm, \
        feature names). The grid is the lung-field mask grid of the chosen pipeline.
        """,
        shouldDisplay: false
    )

    @OptionGroup var decode: DecodeArguments

    @Option(name: .long, help: ArgumentHelp("Pipeline definition (its normalisation and lung_field grid are used).", valueName: "name|file"))
    var pipeline: String = PipelineDefinition.defaultName

    @Option(name: .long, help: ArgumentHelp("Output folder.", valueName: "dir"))
    var out: String

    @Argument(help: "Radiograph files.")
    var images: [String]

    func run() throws {
        let definition: PipelineDefinition
        do { definition = try PipelineDefinition.load(pipeline) } catch let error as PipelineError {
            throw ValidationError("--pipeline: \(error)")
        }
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let reader = RadiographReader(options: try decode.decodeOptions())
        var failures = 0
        for path in images {
            do {
                let radiograph = try reader.read(contentsOf: path)
                let normalised = NormalisedRadiograph(radiograph, parameters: definition.normalisation,
                                                      measureSpacingMM: definition.measurement.measureSpacingMM)
                let features = LungField.pixelFeatures(working: normalised.working, workingSpacingMM: normalised.workingSpacingMM,
                                                       parameters: definition.lungField)
                let stem = ((path as NSString).lastPathComponent as NSString).deletingPathExtension
                let data = features.values.withUnsafeBytes { Array($0) }
                try AtomicFile.write(data, to: "\(out)/\(stem).lungfeatures.f32")
                let header: [String: Any] = ["width": features.width, "height": features.height, "spacing_mm": features.spacingMM,
                                             "features": LungPixelFeatures.names, "image": path]
                try AtomicFile.write(Array(try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])),
                                     to: "\(out)/\(stem).lungfeatures.json")
            } catch {
                failures += 1
                FileHandle.standardError.write(Data("\(path): \(error)\n".utf8))
            }
        }
        if failures > 0 { throw ExitCode(1) }
    }
}
