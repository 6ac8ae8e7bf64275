#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import NoduleDetection

/// A standalone SVG of FROC curves: sensitivity (0–100 %) against mean false positives
/// per image on a log axis from ⅛ to 8, one step curve per evaluation, with the operating
/// points of ``FROCEvaluation/froc`` (0.5, 1, 2, 4 FP/image) marked and labelled. No
/// scripts, no external references, text as real SVG text.
public enum FROCChart {
    static let width = 560.0, height = 380.0
    static let left = 58.0, right = 18.0, top = 34.0, bottom = 52.0
    static let lowest = 0.125
    /// Curve colours, in order (the first for the first evaluation); cycled beyond.
    static let colours = ["#1f5fbf", "#c0392b", "#27864a", "#8e44ad", "#b8860b"]

    /// The chart for `curves` (label, evaluation), drawn in that order, under `title`.
    public static func svg(_ curves: [(label: String, evaluation: FROCEvaluation)], title: String) -> String {
        let plotWidth = width - left - right, plotHeight = height - top - bottom
        let logLow = log(lowest), logHigh = log(FROCEvaluation.curveLimit)
        func x(_ rate: Double) -> Double { left + plotWidth * (log(max(rate, lowest)) - logLow) / (logHigh - logLow) }
        func y(_ sensitivity: Double) -> Double { top + plotHeight * (1 - sensitivity) }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 \(f(width)) \(f(height))" width="\(f(width))" height="\(f(height))" \
        font-family="sans-serif" font-size="11" role="img" aria-label="\(HTML.escape(title))">
        <title>\(HTML.escape(title))</title>
        <rect x="0" y="0" width="\(f(width))" height="\(f(height))" fill="white"/>
        <text x="\(f(left))" y="\(f(top - 14))" font-size="13" font-weight="bold">\(HTML.escape(title))</text>
        <rect x="\(f(left))" y="\(f(top))" width="\(f(plotWidth))" height="\(f(plotHeight))" fill="none" stroke="#999"/>

        """
        for tick in stride(from: 0.0, through: 1.0001, by: 0.2) {
            let py = y(tick)
            svg += "<line x1=\"\(f(left))\" x2=\"\(f(width - right))\" y1=\"\(f(py))\" y2=\"\(f(py))\" stroke=\"#e4e4e4\"/>"
            svg += "<text x=\"\(f(left - 6))\" y=\"\(f(py + 4))\" text-anchor=\"end\">\(Int((tick * 100).rounded())) %</text>\n"
        }
        for (rate, label) in [(0.125, "⅛"), (0.25, "¼"), (0.5, "½"), (1.0, "1"), (2.0, "2"), (4.0, "4"), (8.0, "8")] {
            let px = x(rate)
            svg += "<line x1=\"\(f(px))\" x2=\"\(f(px))\" y1=\"\(f(top))\" y2=\"\(f(height - bottom))\" stroke=\"#e4e4e4\"/>"
            svg += "<text x=\"\(f(px))\" y=\"\(f(height - bottom + 15))\" text-anchor=\"middle\">\(label)</text>\n"
        }
        svg += "<text x=\"\(f(left + plotWidth / 2))\" y=\"\(f(height - 12))\" text-anchor=\"middle\">false positives per image (log scale)</text>\n"
        svg += "<text x=\"14\" y=\"\(f(top + plotHeight / 2))\" text-anchor=\"middle\" transform=\"rotate(-90 14 \(f(top + plotHeight / 2)))\">sensitivity</text>\n"
        for (index, entry) in curves.enumerated() {
            let colour = colours[index % colours.count]
            // A step curve: sensitivity holds until the next threshold adds false positives.
            var path = "M\(f(x(0))),\(f(y(0)))"
            var previous = (rate: 0.0, sensitivity: 0.0)
            for p in entry.evaluation.curve {
                if p.falsePositivesPerImage > previous.rate { path += " L\(f(x(p.falsePositivesPerImage))),\(f(y(previous.sensitivity)))" }
                path += " L\(f(x(p.falsePositivesPerImage))),\(f(y(p.sensitivity)))"
                previous = (p.falsePositivesPerImage, p.sensitivity)
            }
            path += " L\(f(x(FROCEvaluation.curveLimit))),\(f(y(previous.sensitivity)))"
            svg += "<path d=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
            for p in entry.evaluation.froc {
                let px = x(p.falsePositivesPerImage), py = y(p.sensitivity)
                svg += "<circle cx=\"\(f(px))\" cy=\"\(f(py))\" r=\"3.5\" fill=\"\(colour)\"/>"
                svg += "<text x=\"\(f(px + 5))\" y=\"\(f(labelY(index: index, pointY: py)))\" fill=\"\(colour)\">\(percent(p.sensitivity))</text>\n"
            }
            let ly = top + 16 + 16 * Double(index)
            let e = entry.evaluation
            svg += "<line x1=\"\(f(left + 10))\" x2=\"\(f(left + 30))\" y1=\"\(f(ly - 4))\" y2=\"\(f(ly - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"/>"
            svg += "<text x=\"\(f(left + 36))\" y=\"\(f(ly))\">\(HTML.escape(entry.label)) (\(e.images) image\(e.images == 1 ? "" : "s"), \(e.nodules) nodule\(e.nodules == 1 ? "" : "s"))</text>\n"
        }
        return svg + "</svg>\n"
    }

    /// Baseline of the label of curve `index`'s point at `pointY`. Alternate curves label above
    /// and below their points, so close curves stay readable; a label that would leave the plot
    /// (a 0 % point's label over the FP/image tick labels, a 100 % point's over the title) goes
    /// to the other side.
    static func labelY(index: Int, pointY py: Double) -> Double {
        let above = py - 6 - 12 * Double(index / 2), below = py + 15 + 12 * Double(index / 2)
        let highest = top + 11, lowest = height - bottom - 3
        let preferred = index % 2 == 0 ? above : below
        if preferred > lowest { return above }
        if preferred < highest { return below }
        return preferred
    }

    static func percent(_ v: Double) -> String {
        let scaled = (v * 1000).rounded() / 10
        return scaled == scaled.rounded() ? "\(Int(scaled)) %" : "\(scaled) %"
    }

    /// SVG coordinates to 0.1 px, as the growth charts write them.
    static func f(_ v: Double) -> String { GrowthChart.f(v) }
}
