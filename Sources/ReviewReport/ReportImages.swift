import NoduleDetection
import RadiographIO
import ScaleSpace
import SerialTracking

/// The PNG pictures of the report: exam thumbnails and registered nodule crops.
enum ReportImages {
    static func colour(_ status: GrowthStatus) -> RGBRaster.Colour {
        switch status {
        case .growing: .init(255, 70, 70)
        case .new: .init(255, 150, 40)
        case .indeterminate: .init(255, 220, 40)
        case .stable: .init(90, 180, 255)
        case .shrinking: .init(90, 220, 130)
        case .resolved: .init(190, 190, 190)
        }
    }

    struct Mark {
        var xPx: Double, yPx: Double, diameterPx: Double
        var label: String
        var colour: RGBRaster.Colour
    }

    /// The exam's normalised image at most `maximumSide` px, the lung-field outline in green,
    /// and each mark circled (input px) and labelled.
    static func thumbnail(_ exam: ExamReview, image: ExamImage, marks: [Mark], maximumSide: Int = 720) -> RGBRaster {
        var raster = DetectionOverlay.background(image.normalised, lungs: image.lungs, maximumSide: maximumSide)
        let display = (width: raster.width, height: raster.height)
        let kx = Double(display.width) / Double(exam.width), ky = Double(display.height) / Double(exam.height)
        for m in marks {
            let cx = (m.xPx + 0.5) * kx - 0.5, cy = (m.yPx + 0.5) * ky - 0.5
            let r = max(4, m.diameterPx / 2 * (kx + ky) / 2)
            raster.circle(cx: cx, cy: cy, r: r + 4, thickness: 3, m.colour)
            let textWidth = Double(m.label.count * 16)
            let tx = cx + r + 8 + textWidth < Double(display.width) ? Int(cx + r + 8) : Int(cx - r - 8 - textWidth)
            raster.text(m.label, x: tx, y: Int(cy) - 10, scale: 4, m.colour)
        }
        return raster
    }

    /// A square crop `fieldMM` wide, `side` px, in the reference exam's orientation:
    /// `map` takes an offset (mm, reference axes) from the crop centre to the exam's own mm
    /// coordinates. The measured outline (if any) is circled at `diameterMM`, and a 10 mm
    /// scale bar is drawn bottom left. Each crop is windowed to its own 1st–99th percentile,
    /// so exposure differences between exams do not masquerade as density change.
    static func crop(_ image: ExamImage, fieldMM: Double, side: Int = 192, diameterMM: Double?, colour: RGBRaster.Colour,
                     map: (Double, Double) -> (xMM: Double, yMM: Double)) -> RGBRaster {
        let mmPerPx = fieldMM / Double(side)
        var values = [Float?](repeating: nil, count: side * side)
        for y in 0..<side {
            for x in 0..<side {
                let dx = (Double(x) + 0.5) * mmPerPx - fieldMM / 2, dy = (Double(y) + 0.5) * mmPerPx - fieldMM / 2
                let p = map(dx, dy)
                values[y * side + x] = image.gray(xMM: p.xMM, yMM: p.yMM)
            }
        }
        let sorted = values.compactMap { $0 }.sorted()
        let lo = sorted.isEmpty ? 0 : sorted[sorted.count / 100], hi = sorted.isEmpty ? 1 : sorted[sorted.count * 99 / 100]
        let scale = 1 / max(hi - lo, 1e-3)
        var raster = RGBRaster(width: side, height: side) { x, y in
            values[y * side + x].map { ($0 - lo) * scale } ?? 0
        }
        let c = Double(side) / 2 - 0.5
        if let diameterMM {
            raster.circle(cx: c, cy: c, r: diameterMM / 2 / mmPerPx + 4, thickness: 2, colour)
        } else {
            // Not detected here: a cross-hair gap marks where the nodule would be.
            for d in 8..<16 {
                for (x, y) in [(c + Double(d), c), (c - Double(d), c), (c, c + Double(d)), (c, c - Double(d))] {
                    raster.set(Int(x.rounded()), Int(y.rounded()), colour)
                }
            }
        }
        // 10 mm scale bar with a dark halo.
        let bar = Int((10 / mmPerPx).rounded())
        for y in (side - 14)...(side - 9) {
            for x in 7...(10 + bar) { raster.set(x, y, .init(0, 0, 0)) }
        }
        for y in (side - 13)...(side - 10) {
            for x in 8...(8 + bar) { raster.set(x, y, .init(255, 255, 255)) }
        }
        return raster
    }
}
