import ScaleSpace
#if canImport(Glibc)
import Glibc
#endif

/// The Gaussian Hessian at one point and scale, by direct summation over a
/// window of radius ⌈3σ⌉ (reflective border, as every filter here). Used per
/// candidate, so its cost scales with the number of candidates, not the image.
enum LocalHessian {
    /// (Gxx, Gyy, Gxy) at (x, y) rounded to the nearest pixel, σ in px.
    static func at(_ image: FloatImage, x: Double, y: Double, sigma: Double) -> (xx: Double, yy: Double, xy: Double) {
        let cx = Int(x.rounded()), cy = Int(y.rounded())
        let r = Int((3 * sigma).rounded(.up))
        var g0 = [Double](repeating: 0, count: 2 * r + 1), g1 = g0, g2 = g0
        let s2 = sigma * sigma
        for k in -r...r {
            let t = Double(k)
            let g = exp(-t * t / (2 * s2)) / ((2 * Double.pi).squareRoot() * sigma)
            g0[k + r] = g
            g1[k + r] = -t / s2 * g
            g2[k + r] = (t * t - s2) / (s2 * s2) * g
        }
        var xx = 0.0, yy = 0.0, xy = 0.0
        for j in -r...r {
            let yy0 = ReflectBorder.index(cy + j, count: image.height)
            var rowG0 = 0.0, rowG1 = 0.0, rowG2 = 0.0
            for i in -r...r {
                let v = Double(image[ReflectBorder.index(cx + i, count: image.width), yy0])
                rowG0 += v * g0[i + r]
                rowG1 += v * g1[i + r]
                rowG2 += v * g2[i + r]
            }
            xx += rowG2 * g0[j + r]
            yy += rowG0 * g2[j + r]
            xy += rowG1 * g1[j + r]
        }
        return (xx, yy, xy)
    }

    /// λ_small/λ_large for a bright blob (both eigenvalues negative): 1 for a
    /// round blob, → 0 for a ridge, 0 for saddles and dark blobs.
    static func blobness(_ h: (xx: Double, yy: Double, xy: Double)) -> Double {
        let mean = (h.xx + h.yy) / 2
        let d = (((h.xx - h.yy) / 2) * ((h.xx - h.yy) / 2) + h.xy * h.xy).squareRoot()
        let strong = mean - d, weak = mean + d  // strong ≤ weak
        guard strong < 0, weak < 0 else { return 0 }
        return weak / strong
    }
}
