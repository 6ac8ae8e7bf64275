import RadiographIO
import ScaleSpace

/// A review picture of one detection: the normalised radiograph (nodules
/// bright), the lung-field outline in green, and each reported candidate
/// circled at its measured diameter and labelled `#rank diameter score`.
/// Circles are red for score ≥ 0.5, yellow for 0.2–0.5, blue below.
public enum DetectionOverlay {
    /// Renders at most `maximumSide` px on the longer side.
    public static func render(_ result: DetectionResult, maximumSide: Int = 1024) -> RGBRaster {
        var raster = background(result.normalised, lungs: result.lungField, maximumSide: maximumSide)
        let display = (width: raster.width, height: raster.height)
        // Candidates: input px → display px.
        let n = result.normalised
        let toDisplay = (x: Double(display.width) / Double(n.inputWidth), y: Double(display.height) / Double(n.inputHeight))
        for (rank, c) in result.candidates.enumerated().reversed() {
            let colour: RGBRaster.Colour = c.score >= 0.5 ? .init(255, 60, 60) : c.score >= 0.2 ? .init(255, 210, 40) : .init(80, 140, 255)
            let cx = (c.x + 0.5) * toDisplay.x - 0.5, cy = (c.y + 0.5) * toDisplay.y - 0.5
            let r = max(3, c.diameterPx / 2 * (toDisplay.x + toDisplay.y) / 2)
            raster.circle(cx: cx, cy: cy, r: r + 2, thickness: 2, colour)
            let size = c.diameterMM.map { String(format1($0)) + "MM" } ?? String(format1(c.diameterPx)) + "PX"
            raster.text("#\(rank + 1) \(size) \(format2(c.score))", x: Int(cx + r + 5), y: Int(cy) - 5, scale: 2, colour)
        }
        return raster
    }

    /// The normalised radiograph (nodules bright) at most `maximumSide` px on its
    /// longer side, with the lung-field outline (mask pixels with an unset
    /// 4-neighbour) in green: the base of every review picture.
    public static func background(_ normalised: NormalisedRadiograph, lungs: LungField, maximumSide: Int) -> RGBRaster {
        let image = normalised.measurement
        let factor = max(1, Double(max(image.width, image.height)) / Double(maximumSide))
        let display = factor > 1.0001 ? Resampling.areaAverage(image, factorX: factor, factorY: factor) : image
        var raster = RGBRaster(width: display.width, height: display.height) { x, y in display[x, y] }
        let sx = Double(lungs.width) / Double(display.width), sy = Double(lungs.height) / Double(display.height)
        func inside(_ x: Int, _ y: Int) -> Bool {
            lungs.contains(x: (Double(x) + 0.5) * sx - 0.5, y: (Double(y) + 0.5) * sy - 0.5)
        }
        for y in 0..<display.height {
            for x in 0..<display.width where inside(x, y) {
                if !inside(x - 1, y) || !inside(x + 1, y) || !inside(x, y - 1) || !inside(x, y + 1) {
                    raster.set(x, y, .init(40, 220, 90))
                }
            }
        }
        return raster
    }

    static func format1(_ v: Double) -> String {
        let t = (v * 10).rounded() / 10
        return t == t.rounded() ? "\(Int(t)).0" : "\(t)"
    }

    static func format2(_ v: Double) -> String {
        let hundredths = Int((v * 100).rounded())
        return "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100)"
    }

    /// The lung mask as 8-bit gray (255 inside), on the mask grid.
    public static func maskPNG(_ field: LungField) throws -> [UInt8] {
        try RGBRaster(width: field.width, height: field.height) { x, y in field.mask[y * field.width + x] != 0 ? 1 : 0 }.pngData()
    }
}
