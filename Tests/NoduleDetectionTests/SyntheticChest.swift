import Foundation
import RadiographIO
import ScaleSpace
import TestSupport

/// Constructed test images with exactly known content (no generator quirks):
/// a bright body, two dark elliptical lungs, optional projected-sphere nodules
/// and ridges, optional Gaussian noise. Values are 12-bit, MONOCHROME2.
struct SyntheticChest {
    var width = 1000
    var height = 1000
    var spacingMM = 0.35
    /// Lung ellipses (centre x, y, semi-axes a, b), px.
    var lungs: [(x: Double, y: Double, a: Double, b: Double)] = [(320, 470, 165, 320), (680, 470, 165, 320)]
    /// Projected spheres: centre px, diameter mm, peak contrast (12-bit units).
    var nodules: [(x: Double, y: Double, diameterMM: Double, contrast: Double)] = []
    /// Straight ridges: centre point, direction angle (rad), Gaussian width σ px,
    /// height, and half-length px (the ends taper over 20 px).
    var ridges: [(x: Double, y: Double, angle: Double, sigma: Double, height: Double, halfLength: Double)] = []
    var noiseSD = 0.0
    var seed: UInt64 = 1

    func lungContains(_ x: Double, _ y: Double) -> Bool {
        lungs.contains { l in
            let u = (x - l.x) / l.a, v = (y - l.y) / l.b
            return u * u + v * v <= 1
        }
    }

    func values() -> [Double] {
        var rng = SeededRandomNumberGenerator(seed: seed)
        var out = [Double](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let fx = Double(x), fy = Double(y)
                // Body 2600, lungs 1200 with a soft 6 px edge, a gentle vertical gradient.
                var v = 2600.0 + 200 * fy / Double(height)
                var lungWeight = 0.0
                for l in lungs {
                    let u = (fx - l.x) / l.a, w = (fy - l.y) / l.b
                    let r = (u * u + w * w).squareRoot()
                    let edge = (1 - r) * min(l.a, l.b) / 6
                    lungWeight = max(lungWeight, 1 / (1 + exp(-edge)))
                }
                v -= 1400 * lungWeight
                for n in nodules {
                    let radius = n.diameterMM / 2 / spacingMM
                    let d2 = (fx - n.x) * (fx - n.x) + (fy - n.y) * (fy - n.y)
                    if d2 < radius * radius { v += n.contrast * (1 - d2 / (radius * radius)).squareRoot() }
                }
                for r in ridges {
                    let distance = abs(-(fx - r.x) * sin(r.angle) + (fy - r.y) * cos(r.angle))
                    let along = abs((fx - r.x) * cos(r.angle) + (fy - r.y) * sin(r.angle))
                    let taper = 1 / (1 + exp((along - r.halfLength) / 20))
                    v += r.height * taper * exp(-distance * distance / (2 * r.sigma * r.sigma))
                }
                if noiseSD > 0 {
                    // Box–Muller.
                    let u1 = max(Double.random(in: 0..<1, using: &rng), 1e-12), u2 = Double.random(in: 0..<1, using: &rng)
                    v += noiseSD * (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
                }
                out[y * width + x] = v
            }
        }
        return out
    }

    func radiograph() -> Radiograph {
        let samples = values().map { UInt16(min(max($0.rounded(), 0), 4095)) }
        return Radiograph(width: width, height: height, bitsStored: 12, samples: samples,
                          pixelSpacing: PixelSpacing(row: spacingMM, column: spacingMM, source: .commandLine),
                          source: SourceDescription(path: "synthetic.png", sha256: nil, format: .png,
                                                    byteCount: 0, storedLayout: "synthetic"))
    }
}
