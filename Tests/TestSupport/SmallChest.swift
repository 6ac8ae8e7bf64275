import Foundation
import RadiographIO

/// Small constructed chest radiographs for batch tests: a bright body, two dark
/// lungs and one bright round nodule whose place and size vary with `seed`, so
/// every seed gives different bytes. 12-bit samples, spacing in `pHYs`.
public struct SmallChest: Sendable {
    public var size: Int
    public var spacingMM: Double
    public var seed: UInt64

    public init(size: Int = 192, spacingMM: Double = 1.8, seed: UInt64 = 1) {
        self.size = size
        self.spacingMM = spacingMM
        self.seed = seed
    }

    public func radiograph() -> Radiograph {
        var rng = SeededRandomNumberGenerator(seed: seed)
        let n = Double(size)
        let lungs = [(x: 0.32 * n, y: 0.47 * n), (x: 0.68 * n, y: 0.47 * n)]
        let (a, b) = (0.16 * n, 0.32 * n)
        let lung = lungs[Int(rng.next() % 2)]
        let noduleX = lung.x + Double.random(in: -0.3...0.3, using: &rng) * a
        let noduleY = lung.y + Double.random(in: -0.4...0.4, using: &rng) * b
        let radius = Double.random(in: 10...18, using: &rng) / 2 / spacingMM  // 10–18 mm diameter
        var samples = [UInt16](repeating: 0, count: size * size)
        for y in 0..<size {
            for x in 0..<size {
                let fx = Double(x), fy = Double(y)
                var v = 2600.0 + 200 * fy / n
                var lungWeight = 0.0
                for l in lungs {
                    let r = (((fx - l.x) / a) * ((fx - l.x) / a) + ((fy - l.y) / b) * ((fy - l.y) / b)).squareRoot()
                    lungWeight = max(lungWeight, 1 / (1 + exp(-(1 - r) * a / 4)))
                }
                v -= 1400 * lungWeight
                let d2 = (fx - noduleX) * (fx - noduleX) + (fy - noduleY) * (fy - noduleY)
                if d2 < radius * radius { v += 500 * (1 - d2 / (radius * radius)).squareRoot() }
                v += Double(rng.next() % 21) - 10
                samples[y * size + x] = UInt16(min(max(v.rounded(), 0), 4095))
            }
        }
        return Radiograph(width: size, height: size, bitsStored: 12, samples: samples,
                          pixelSpacing: PixelSpacing(row: spacingMM, column: spacingMM, source: .commandLine),
                          source: SourceDescription(path: "small-chest.png", sha256: nil, format: .png, byteCount: 0,
                                                    storedLayout: "synthetic"))
    }

    /// Writes the radiograph as a 16-bit PNG at `path`, creating folders as needed.
    public func write(to path: String) throws {
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try RadiographWriter.write(radiograph(), to: path)
    }

    /// A folder `<root>/P<k>/<date>/<image>.png` of `count` images over a few patients and dates.
    public static func makeFolder(_ root: String, count: Int, size: Int = 192) throws -> [String] {
        var paths: [String] = []
        for i in 0..<count {
            let patient = "P\(i % 4)"
            let date = String(format: "2025-%02d-%02d", 1 + (i / 4) % 12, 1 + i % 28)
            let path = "\(root)/\(patient)/\(date)/img\(i).png"
            try SmallChest(size: size, seed: UInt64(i + 1)).write(to: path)
            paths.append(path)
        }
        return paths.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
    }
}
