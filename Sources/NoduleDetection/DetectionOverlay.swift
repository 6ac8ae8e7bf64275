import RadiographIO
import ScaleSpace

/// A review picture of one detection: the normalised radiograph (nodules
/// bright), the lung-field outline in green, and each reported candidate
/// circled at its measured diameter and labelled `#rank diameter score`, with `MAP`
/// after the rank for a candidate the learned map proposed (`features.map_proposal`).
/// Circles are coloured by score (``OverlayBands``): at the definition's measured operating points when
/// `Pipelines/operating-points/NAME.json` has them for its digest (red from the 0.5 FP/image point, yellow from
/// the 2 FP/image point, named in a legend along the bottom edge), else red ≥ 0.5, yellow 0.2–0.5; blue below.
public enum DetectionOverlay {
    /// Renders at most `maximumSide` px on the longer side.
    public static func render(_ result: DetectionResult, bands: OverlayBands = .fixed, maximumSide: Int = 1024) -> RGBRaster {
        var raster = background(result.normalised, lungs: result.lungField, maximumSide: maximumSide)
        let display = (width: raster.width, height: raster.height)
        // Candidates: input px → display px.
        let n = result.normalised
        let toDisplay = (x: Double(display.width) / Double(n.inputWidth), y: Double(display.height) / Double(n.inputHeight))
        let marks = result.candidates.enumerated().map { rank, c in
            let colour = bands.colour(c.score)
            return (cx: (c.x + 0.5) * toDisplay.x - 0.5, cy: (c.y + 0.5) * toDisplay.y - 0.5,
                    r: max(3, c.diameterPx / 2 * (toDisplay.x + toDisplay.y) / 2) + 2, colour: colour,
                    label: label(c, rank: rank))
        }
        // Circles from the last rank to the first, so the best are drawn on top; then the labels.
        for m in marks.reversed() { raster.circle(cx: m.cx, cy: m.cy, r: m.r, thickness: 2, m.colour) }
        let places = labelPlaces(circles: marks.map { ($0.cx, $0.cy, $0.r) },
                                 sizes: marks.map { textSize($0.label, scale: labelScale) }, width: display.width, height: display.height)
        for (m, place) in zip(marks, places) { raster.text(m.label, x: place.x, y: place.y, scale: labelScale, m.colour) }
        if let legend = bands.legend {
            let size = textSize(legend, scale: 2)
            raster.text(legend, x: 4, y: display.height - size.height - 4, scale: 2, .init(230, 230, 230))
        }
        return raster
    }

    static let labelScale = 2

    /// `#rank diameter score` (rank from 0), with ` MAP` after the rank for a candidate the map proposed.
    static func label(_ c: NoduleCandidate, rank: Int) -> String {
        let size = c.diameterMM.map { String(format1($0)) + "MM" } ?? String(format1(c.diameterPx)) + "PX"
        return "#\(rank + 1)\(c.features.mapProposal == 1 ? " MAP" : "") \(size) \(format2(c.score))"
    }

    /// Size of `text` in ``RGBRaster/text(_:x:y:scale:_:)``'s 3×5 font, px (without its 1 px halo).
    static func textSize(_ text: String, scale: Int) -> (width: Int, height: Int) {
        (max(0, text.count * 4 * scale - scale), 5 * scale)
    }

    /// Top-left corners for the labels of circles (centre and radius, display px), placed in
    /// order (the best-ranked first): beside the circle on the right, else on the left, else
    /// above, else below, the first that lies inside the picture and clear (by 2 px) of every
    /// label placed before it; when none is, on the right, moved inside the picture.
    static func labelPlaces(circles: [(cx: Double, cy: Double, r: Double)], sizes: [(width: Int, height: Int)],
                            width: Int, height: Int) -> [(x: Int, y: Int)] {
        var placed: [(x: Int, y: Int, w: Int, h: Int)] = []
        var places: [(x: Int, y: Int)] = []
        for (c, size) in zip(circles, sizes) {
            let (w, h) = size
            let cx = Int(c.cx.rounded()), cy = Int(c.cy.rounded()), r = Int(c.r.rounded())
            let options = [(cx + r + 4, cy - h / 2), (cx - r - 4 - w, cy - h / 2), (cx - w / 2, cy - r - 4 - h), (cx - w / 2, cy + r + 4)]
            func inside(_ p: (Int, Int)) -> Bool { p.0 >= 1 && p.1 >= 1 && p.0 + w < width && p.1 + h < height }
            func clear(_ p: (Int, Int)) -> Bool {
                !placed.contains { p.0 < $0.x + $0.w + 2 && $0.x < p.0 + w + 2 && p.1 < $0.y + $0.h + 2 && $0.y < p.1 + h + 2 }
            }
            let chosen = options.first { inside($0) && clear($0) }
                ?? (min(max(1, options[0].0), max(1, width - w - 1)), min(max(1, options[0].1), max(1, height - h - 1)))
            placed.append((chosen.0, chosen.1, w, h))
            places.append((chosen.0, chosen.1))
        }
        return places
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

    /// Writes `STEM.overlay.png` (``render(_:bands:maximumSide:)``) and `STEM.lungs.png` (``maskPNG(_:)``), each atomically,
    /// for `nodules detect --overlay` and `nodules batch --overlay`. The overlay is compressed at zlib level 1: over a
    /// 200-image batch the pictures' cost fell from about 105 to 42 ms of CPU per image, for files about a quarter larger.
    public static func write(_ result: DetectionResult, stem: String, bands: OverlayBands = .fixed) throws {
        try AtomicFile.write(try render(result, bands: bands).pngData(compressionLevel: 1), to: stem + ".overlay.png")
        try AtomicFile.write(try maskPNG(result.lungField), to: stem + ".lungs.png")
    }
}
