import Foundation
import NoduleDetection
@testable import ReviewReport
import Testing
import TestSupport

/// The FROC picture's operating-point labels, placed where a reader cannot take them for
/// something else.
@Suite struct FROCChartTests {
    /// One nodule on one of two images; `candidates` are (image, x, y, score).
    static func evaluation(_ candidates: [(String, Double, Double, Double)]) throws -> FROCEvaluation {
        try FROCFixture.evaluation(truth: """
            {"images": [{"path": "a.png", "pixel_spacing_mm": 0.5, "nodules": [{"x": 100, "y": 100, "diameter_mm": 10}]},
                        {"path": "b.png", "pixel_spacing_mm": 0.5, "nodules": []}]}
            """, images: ["a.png", "b.png"], spacingMM: 0.5, diameterPx: 20, candidates: candidates, folder: "/nodulekit-froc-chart")
    }

    @Test("a 0 % or 100 % curve labels its points inside the plot, never on the tick labels or the title")
    func labelsStayInsideThePlot() throws {
        let perfect = try Self.evaluation([("a.png", 100, 100, 0.9)])
        let blind = try Self.evaluation([("a.png", 20, 20, 0.5)])
        #expect(perfect.froc.map(\.sensitivity) == [1, 1, 1, 1])
        #expect(blind.froc.map(\.sensitivity) == [0, 0, 0, 0])
        // Both orders: each curve takes the above and the below side once.
        for curves in [[("ours", perfect), ("peer", blind)], [("peer", blind), ("ours", perfect)]] {
            let svg = FROCChart.svg(curves.map { (label: $0.0, evaluation: $0.1) }, title: "t")
            // Point labels are the only text with a fill colour.
            let pattern = try Regex(##"<text x="[-0-9.]+" y="([-0-9.]+)" fill="#[0-9a-f]{6}">([0-9.]+ %)</text>"##,
                                    as: (Substring, Substring, Substring).self)
            let matches = svg.matches(of: pattern)
            #expect(matches.count == 8, "four operating points per curve")
            let plotTop = FROCChart.top, plotBottom = FROCChart.height - FROCChart.bottom
            let tickBaseline = plotBottom + 15
            for match in matches {
                let y = try #require(Double(match.output.1))
                let text = match.output.2
                #expect(y > plotTop + 8 && y < plotBottom, "label \(text) at y \(y), plot \(plotTop)–\(plotBottom)")
                #expect(abs(y - tickBaseline) > 10, "label \(text) on the tick labels' baseline")
            }
        }
    }
}
