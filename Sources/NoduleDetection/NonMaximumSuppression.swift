/// Greedy non-maximum suppression of circular detections, with memory bounded
/// by the number of detections (a hash grid of kept centres), never by image
/// size × scales.
///
/// Detections are visited by descending score (ties: lower index first, so the
/// result is deterministic); one is kept unless its centre lies closer than
/// `overlap` × the *smaller* of the two radii to a centre already kept — the
/// two then describe one object. (With the larger radius, a high-scoring big
/// false positive such as a rib crossing would swallow every nodule it covers.)
public enum NonMaximumSuppression {
    /// One detection: centre and radius in any consistent unit, and a score.
    public struct Detection: Sendable, Equatable {
        public var x: Double
        public var y: Double
        public var radius: Double
        public var score: Double
        public init(x: Double, y: Double, radius: Double, score: Double) {
            self.x = x
            self.y = y
            self.radius = radius
            self.score = score
        }
    }

    /// Indices of the detections kept, in descending score order.
    public static func keep(_ detections: [Detection], overlap: Double) -> [Int] {
        precondition(overlap > 0, "overlap must be positive")
        let order = detections.indices.sorted { a, b in
            detections[a].score != detections[b].score ? detections[a].score > detections[b].score : a < b
        }
        guard let largest = detections.map(\.radius).max(), largest > 0 else { return order }
        let cell = max(largest * overlap, 1e-9)
        var grid: [SIMD2<Int>: [Int]] = [:]
        var kept: [Int] = []
        for i in order {
            let d = detections[i]
            let cx = Int((d.x / cell).rounded(.down)), cy = Int((d.y / cell).rounded(.down))
            var suppressed = false
            search: for gy in (cy - 1)...(cy + 1) {
                for gx in (cx - 1)...(cx + 1) {
                    for k in grid[SIMD2(gx, gy), default: []] {
                        let o = detections[k]
                        let limit = overlap * min(o.radius, d.radius)
                        let dx = o.x - d.x, dy = o.y - d.y
                        if dx * dx + dy * dy < limit * limit { suppressed = true; break search }
                    }
                }
            }
            if !suppressed {
                kept.append(i)
                grid[SIMD2(cx, cy), default: []].append(i)
            }
        }
        return kept
    }

    /// The kept detections themselves, in descending score order.
    public static func suppress(_ detections: [Detection], overlap: Double) -> [Detection] {
        keep(detections, overlap: overlap).map { detections[$0] }
    }
}
