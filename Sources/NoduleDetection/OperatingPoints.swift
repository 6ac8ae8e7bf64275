import Foundation
import RadiographIO

/// Scores at which one exact pipeline definition reached given false-positive rates on phantoms with
/// known truth: a calibration measured after the definition was fixed, so it lives beside it
/// (`Pipelines/operating-points/NAME.json`) and applies only to the definition whose digest it names.
/// A changed definition (another digest) finds none and falls back to ``OverlayBands/fixed``.
public struct OperatingPoints: Codable, Sendable, Equatable {
    /// One measured point: candidates scoring at least `score` gave `falsePositivesPerImage` (FP/image).
    public struct Point: Codable, Sendable, Equatable {
        public var falsePositivesPerImage: Double
        public var score: Double

        enum CodingKeys: String, CodingKey {
            case falsePositivesPerImage = "false_positives_per_image"
            case score
        }
    }

    /// The definition's name and its ``PipelineStamp/digest``.
    public var pipeline: String
    public var digest: String
    /// What the points were measured on, and with which command.
    public var measuredOn: String
    public var points: [Point]

    enum CodingKeys: String, CodingKey {
        case pipeline, digest
        case measuredOn = "measured_on"
        case points
    }

    /// The score of the point at `falsePositivesPerImage`, if measured.
    public func score(atFalsePositivesPerImage rate: Double) -> Double? {
        points.first { abs($0.falsePositivesPerImage - rate) < 1e-9 }?.score
    }

    /// The operating points measured for exactly the definition stamped `stamp`: the first
    /// `operating-points/NAME.json` in ``PipelineDefinition/searchFolders()`` whose digest is the stamp's,
    /// else nil (none measured, or measured for another version of the definition). A file that does not
    /// decode counts as none: these only colour review pictures, and never change a detection.
    public static func measured(for stamp: PipelineStamp, folders: [String] = PipelineDefinition.searchFolders()) -> OperatingPoints? {
        for folder in folders {
            let path = folder + "/operating-points/" + stamp.name + ".json"
            guard let data = FileManager.default.contents(atPath: path),
                  let points = try? JSONDecoder().decode(OperatingPoints.self, from: data) else { continue }
            if points.digest == stamp.digest && points.pipeline == stamp.name { return points }
        }
        return nil
    }
}

/// The score bands a review picture colours candidates by: red at or above `red`, yellow at or above
/// `yellow`, blue below, and a legend line saying what the bands are.
public struct OverlayBands: Sendable, Equatable {
    public var red: Double
    public var yellow: Double
    /// Drawn along the picture's bottom edge; nil for none.
    public var legend: String?

    /// Without measured operating points: red ≥ 0.5, yellow ≥ 0.2.
    public static let fixed = OverlayBands(red: 0.5, yellow: 0.2, legend: nil)

    public init(red: Double, yellow: Double, legend: String?) {
        self.red = red
        self.yellow = yellow
        self.legend = legend
    }

    /// Red from the 0.5 FP/image point, yellow from the 2 FP/image point, with a legend naming both;
    /// ``fixed`` when either point is missing.
    public init(_ points: OperatingPoints?) {
        guard let points, let red = points.score(atFalsePositivesPerImage: 0.5),
              let yellow = points.score(atFalsePositivesPerImage: 2), yellow <= red else {
            self = .fixed
            return
        }
        self.init(red: red, yellow: yellow,
                  legend: String(format: "RED >= %.3g (0.5 FP/IMAGE), YELLOW >= %.3g (2 FP/IMAGE) ON PHANTOMS", red, yellow))
    }

    /// The colour of a candidate scoring `score`.
    func colour(_ score: Double) -> RGBRaster.Colour {
        score >= red ? .init(255, 60, 60) : score >= yellow ? .init(255, 210, 40) : .init(80, 140, 255)
    }
}
