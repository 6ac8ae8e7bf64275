import Testing
@testable import NoduleDetection

/// The review picture's labels stay readable: each lies beside its circle, inside the picture,
/// and clear of the labels of better-ranked candidates.
@Suite struct OverlayLabelTests {
    typealias Box = (x: Int, y: Int, w: Int, h: Int)

    static func overlaps(_ a: Box, _ b: Box) -> Bool {
        a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h
    }

    @Test func labelsOfNeighboursDoNotOverlap() {
        // Three candidates a few px apart: the first label goes right, the next ones elsewhere.
        let circles = [(cx: 300.0, cy: 300.0, r: 20.0), (cx: 310.0, cy: 305.0, r: 12.0), (cx: 295.0, cy: 312.0, r: 15.0)]
        let size = DetectionOverlay.textSize("#10 12.5MM 0.05", scale: 2)
        #expect(size.width == 15 * 8 - 2 && size.height == 10)
        let places = DetectionOverlay.labelPlaces(circles: circles, sizes: Array(repeating: size, count: 3), width: 1024, height: 1024)
        let boxes = places.map { Box($0.x, $0.y, size.width, size.height) }
        #expect(places[0].x == 300 + 20 + 4 && places[0].y == 300 - 5)
        for i in boxes.indices { for j in boxes.indices where j > i { #expect(!Self.overlaps(boxes[i], boxes[j]), "\(i) and \(j)") } }
        // Each sits beside its own circle: within its radius plus the label's size.
        for (c, p) in zip(circles, places) {
            let nearest = (x: min(max(c.cx, Double(p.x)), Double(p.x + size.width)), y: min(max(c.cy, Double(p.y)), Double(p.y + size.height)))
            #expect(((nearest.x - c.cx) * (nearest.x - c.cx) + (nearest.y - c.cy) * (nearest.y - c.cy)).squareRoot() <= c.r + 6)
        }
    }

    @Test func aLabelAtThePicturesEdgeGoesInside() {
        let size = (width: 100, height: 10)
        // At the right edge: placed on the left of the circle. In a corner with no room at all: moved inside.
        let places = DetectionOverlay.labelPlaces(circles: [(cx: 990, cy: 60, r: 10), (cx: 5, cy: 3, r: 60)],
                                                  sizes: [size, size], width: 1024, height: 120)
        #expect(places[0].x == 990 - 10 - 4 - 100 && places[0].y == 55)
        #expect(places[1].x >= 1 && places[1].x + 100 < 1024 && places[1].y >= 1 && places[1].y + 10 < 120)
    }

    @Test func labelsNameTheMapsProposals() {
        var c = NoduleCandidate(x: 10, y: 10, diameterPx: 60, diameterMM: 12.34, score: 0.456,
                                features: .blobStage(logResponse: 0.1, blobness: 0.8, scaleDiameterMM: 12, lungDepthMM: 20))
        #expect(DetectionOverlay.label(c, rank: 2) == "#3 12.3MM 0.46")
        c.features.mapProposal = 1
        #expect(DetectionOverlay.label(c, rank: 0) == "#1 MAP 12.3MM 0.46")
        c.diameterMM = nil
        #expect(DetectionOverlay.label(c, rank: 0) == "#1 MAP 60.0PX 0.46")
    }
}
