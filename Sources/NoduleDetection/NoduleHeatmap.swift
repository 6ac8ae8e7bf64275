import ScaleSpace

/// A radiograph's nodule probability map from a ``NoduleHeatmapNetwork``, and how
/// it scores a candidate: the map's largest value near the candidate's centre.
///
/// The network's input is the normalised working image (body 1st–99th percentile → 0–1)
/// area-averaged to the network's spacing and clipped to 0–1, as it was trained
/// (`Benchmarks/analysis/fcn_probe.py`).
public struct NoduleHeatmap: Sendable {
    /// Probability 0–1 per map pixel of ``region``, at ``spacingMM``: `probabilities[x − region.x.lowerBound,
    /// y − region.y.lowerBound]` is the map at (x, y) of the whole map grid.
    public let probabilities: FloatImage
    /// The part of the whole map grid (map px) the network was run over: all of it, or the part a
    /// pipeline's `context_mm` asks for (``Grid/region(covering:contextPx:)``).
    public let region: Region
    /// The whole map grid the region lies on.
    public let grid: Grid
    /// The map's pixel spacing, mm/px (the network's, or the working image's when that is coarser).
    public var spacingMM: Double { grid.spacingMM }
    /// Input px per map px, along x and y.
    public var scale: (x: Double, y: Double) { grid.scale }

    /// The smallest map side the network accepts, px (three 2 × 2 poolings).
    public static let minimumSide = 8

    /// A rectangle of the whole map grid, map px.
    public struct Region: Sendable, Equatable {
        public var x: Range<Int>
        public var y: Range<Int>

        public init(x: Range<Int>, y: Range<Int>) {
            self.x = x
            self.y = y
        }
    }

    /// The whole map grid of a radiograph at a network's spacing: its size and how it maps to input px.
    public struct Grid: Sendable {
        /// The whole map, px.
        public let width: Int, height: Int
        /// Input px per map px, along x and y.
        public let scale: (x: Double, y: Double)
        /// Input px per map px, the mean of x and y: a blob's diameter in input px is its map diameter times this.
        public var inputPerMapPx: Double { (scale.x + scale.y) / 2 }
        /// The map's pixel spacing, mm/px (the network's, or the working image's when that is coarser).
        public let spacingMM: Double
        /// The factor the working image is area-averaged by (1 when it is at least as coarse as the network's spacing).
        let factor: Double

        /// nil when the image at the network's spacing is narrower than ``NoduleHeatmap/minimumSide`` px.
        public init?(_ normalised: NormalisedRadiograph, network: NoduleHeatmapNetwork) {
            let factor = network.spacingMM / normalised.workingSpacingMM
            self.factor = factor > 1.0001 ? factor : 1
            let size = self.factor > 1
                ? Resampling.areaAverageSize(width: normalised.working.width, height: normalised.working.height,
                                             factorX: factor, factorY: factor)
                : (normalised.working.width, normalised.working.height)
            guard size.0 >= NoduleHeatmap.minimumSide && size.1 >= NoduleHeatmap.minimumSide else { return nil }
            width = size.0
            height = size.1
            spacingMM = max(network.spacingMM, normalised.workingSpacingMM)
            scale = (Double(normalised.inputWidth) / Double(width), Double(normalised.inputHeight) / Double(height))
        }

        /// A grid as it stands (tests).
        init(width: Int, height: Int, scale: (x: Double, y: Double), spacingMM: Double) {
            self.width = width
            self.height = height
            self.scale = scale
            self.spacingMM = spacingMM
            factor = 1
        }

        /// The map position, map px, of input position (`x`, `y`) (pixel centres matched).
        public func mapPosition(x: Double, y: Double) -> (x: Double, y: Double) {
            ((x + 0.5) / scale.x - 0.5, (y + 0.5) / scale.y - 0.5)
        }

        /// The input position, input px, of map position (`x`, `y`) (map px): ``mapPosition(x:y:)`` undone.
        public func inputPosition(x: Double, y: Double) -> (x: Double, y: Double) {
            ((x + 0.5) * scale.x - 0.5, (y + 0.5) * scale.y - 0.5)
        }

        /// All of the grid.
        public var whole: Region { Region(x: 0..<width, y: 0..<height) }

        /// The map px of the square of half-width `radius` (map px) around input position (`x`, `y`),
        /// clipped to `bounds`; nil when nothing of it is left.
        public func square(x: Double, y: Double, radius: Double, within bounds: Region) -> Region? {
            let c = mapPosition(x: x, y: y)
            let x0 = Int(max(Double(bounds.x.lowerBound), c.x - radius)), x1 = Int(min(Double(bounds.x.upperBound), c.x + radius + 1))
            let y0 = Int(max(Double(bounds.y.lowerBound), c.y - radius)), y1 = Int(min(Double(bounds.y.upperBound), c.y + radius + 1))
            guard x1 > x0, y1 > y0 else { return nil }
            return Region(x: x0..<x1, y: y0..<y1)
        }

        /// The squares the map is read in (centre in input px, half-width in map px, as
        /// ``NoduleHeatmap/peakLocation(x:y:radius:)`` reads them), bounded together and widened by
        /// `contextPx` map px each side. Each side's length is a multiple of 8 px (at least 8), so the
        /// network's three 2 × 2 poolings halve it exactly and its upsamplings double it exactly, as on
        /// its square training crops; it starts at a multiple of 8 unless that would run past the grid,
        /// where it ends at the grid's edge instead. A side longer than the grid's is the grid's.
        /// nil when no square meets the grid.
        public func region(covering squares: [(x: Double, y: Double, radius: Double)], contextPx: Int) -> Region? {
            var x0 = Int.max, x1 = Int.min, y0 = Int.max, y1 = Int.min
            for s in squares {
                guard let clipped = square(x: s.x, y: s.y, radius: s.radius, within: whole) else { continue }
                x0 = min(x0, clipped.x.lowerBound)
                x1 = max(x1, clipped.x.upperBound)
                y0 = min(y0, clipped.y.lowerBound)
                y1 = max(y1, clipped.y.upperBound)
            }
            guard x1 > x0, y1 > y0 else { return nil }
            return Region(x: Self.span(x0 - contextPx, x1 + contextPx, width), y: Self.span(y0 - contextPx, y1 + contextPx, height))
        }

        /// `lower..<upper` clipped to `0..<size`, its start rounded down to a multiple of 8 and its length up
        /// to one (moved back to end at `size` where it would run past it); the whole `0..<size` when that
        /// length is not shorter.
        static func span(_ lower: Int, _ upper: Int, _ size: Int) -> Range<Int> {
            let start = max(0, lower) / 8 * 8, end = min(size, upper)
            let length = (end - start + 7) / 8 * 8
            guard length < size else { return 0..<size }
            return start + length <= size ? start..<(start + length) : (size - length)..<size
        }

        /// Map px around a located peak that sizing from the map (`resize_log_ratio`) searches for its
        /// blob: half the largest diameter the pipeline searches (`maximumDiameterMM`) × 1.25.
        public func blobSearchRadius(maximumDiameterMM: Double) -> Int {
            Int((maximumDiameterMM * 1.25 / 2 / spacingMM).rounded(.up))
        }

        /// The region the detector runs the network of `heatmap` over for its reported `candidates`:
        /// nil (the whole grid) without `context_mm`; else ``region(covering:contextPx:)`` of the squares
        /// the map is read in (``NoduleHeatmap/windowRadius(_:windowFraction:minimumWindowPx:scaleX:)``),
        /// with `context_mm` in map px, or, when sizing from the map, the blob search
        /// (``blobSearchRadius(maximumDiameterMM:)``) where that is wider, so that every blob lies inside.
        public func region(for candidates: [NoduleCandidate], heatmap h: PipelineDefinition.Heatmap,
                           maximumDiameterMM: Double) -> Region? {
            guard let context = h.contextMM else { return nil }
            let contextPx = Int((context / spacingMM).rounded(.up))
            let blobSearch = h.resizeLogRatio == nil ? 0 : blobSearchRadius(maximumDiameterMM: maximumDiameterMM)
            return region(covering: candidates.map {
                ($0.x, $0.y, NoduleHeatmap.windowRadius($0, windowFraction: h.windowFraction, minimumWindowPx: h.minimumWindowPx,
                                                        scaleX: scale.x))
            }, contextPx: max(contextPx, blobSearch))
        }
    }

    /// The whole map, or the network run over `region` alone (map px of ``Grid``). nil when the
    /// image at the network's spacing is narrower than ``minimumSide`` px. `threads` Dispatch
    /// workers share the network's work; the map is the same for any count. `mirrorAveraged`: the
    /// mean of the network's probabilities on the input and on its left–right mirror image, mirrored
    /// back (``PipelineDefinition/Heatmap/mirrorAveraged``). `ensemble`, `rescaledPasses`: see
    /// ``init(_:network:grid:threads:region:mirrorAveraged:ensemble:rescaledPasses:)``.
    public init?(_ normalised: NormalisedRadiograph, network: NoduleHeatmapNetwork, threads: Int = 1,
                 region: Region? = nil, mirrorAveraged: Bool = false, ensemble: [NoduleHeatmapNetwork] = [],
                 rescaledPasses: [PipelineDefinition.Heatmap.RescaledPass] = []) {
        guard let grid = Grid(normalised, network: network) else { return nil }
        self.init(normalised, network: network, grid: grid, threads: threads, region: region, mirrorAveraged: mirrorAveraged,
                  ensemble: ensemble, rescaledPasses: rescaledPasses)
    }

    /// As ``init(_:network:threads:region:mirrorAveraged:ensemble:rescaledPasses:)``, with the grid already worked out.
    /// `ensemble`: further networks of `network`'s spacing (``PipelineDefinition/Heatmap/ensemble``);
    /// the map is the mean of every network's probabilities, `network`'s first. `rescaledPasses`: the
    /// same at other spacings, mixed in (``PipelineDefinition/Heatmap/rescaledPasses``, ``mixing(_:into:gridSize:region:)``).
    public init(_ normalised: NormalisedRadiograph, network: NoduleHeatmapNetwork, grid: Grid, threads: Int = 1,
                region: Region? = nil, mirrorAveraged: Bool = false, ensemble: [NoduleHeatmapNetwork] = [],
                rescaledPasses: [PipelineDefinition.Heatmap.RescaledPass] = []) {
        let whole = grid.factor > 1
            ? Resampling.areaAverage(normalised.working, factorX: grid.factor, factorY: grid.factor, threads: threads)
            : normalised.working
        precondition(whole.width == grid.width && whole.height == grid.height)
        let region = region ?? grid.whole
        precondition(region.x.lowerBound >= 0 && region.x.upperBound <= grid.width && region.x.count >= Self.minimumSide
                     && region.y.lowerBound >= 0 && region.y.upperBound <= grid.height && region.y.count >= Self.minimumSide,
                     "the region must lie on the grid and be at least minimumSide px a side")
        let input = Self.networkInput(whole, region: region)
        var probabilities = Self.probabilities(input, networks: [network] + ensemble, threads: threads, mirrorAveraged: mirrorAveraged)
        if !rescaledPasses.isEmpty {
            let passes = rescaledPasses.map { pass -> RescaledMap in
                // The working image at the networks' spacing × the pass's factor (never finer than the working image).
                let factor = max(1, grid.factor * pass.spacingFactor)
                let rescaled = Resampling.areaAverage(normalised.working, factorX: factor, factorY: factor, threads: threads)
                // The whole of it, or (`within_map_region`) the part under the map's region, one pass pixel
                // wider each side for the bilinear reading, its sides multiples of 8 as the region's are.
                var passRegion = Region(x: 0..<rescaled.width, y: 0..<rescaled.height)
                if pass.withinMapRegion == true {
                    let sx = Double(rescaled.width) / Double(whole.width), sy = Double(rescaled.height) / Double(whole.height)
                    passRegion = Region(
                        x: Grid.span(Int((Double(region.x.lowerBound) * sx).rounded(.down)) - 1,
                                     Int((Double(region.x.upperBound) * sx).rounded(.up)) + 1, rescaled.width),
                        y: Grid.span(Int((Double(region.y.lowerBound) * sy).rounded(.down)) - 1,
                                     Int((Double(region.y.upperBound) * sy).rounded(.up)) + 1, rescaled.height))
                }
                return RescaledMap(weight: Float(pass.weight),
                                   probabilities: Self.probabilities(Self.networkInput(rescaled, region: passRegion), networks: [network] + ensemble, threads: threads,
                                                                     mirrorAveraged: pass.mirrorAveraged ?? mirrorAveraged),
                                   region: passRegion, gridSize: (rescaled.width, rescaled.height))
            }
            probabilities = Self.mixing(passes, into: probabilities, gridSize: (whole.width, whole.height), region: region)
        }
        self.probabilities = probabilities
        self.region = region
        self.grid = grid
    }

    /// The networks' input: `region` of `image` (an area-averaged working image) clipped to 0–1, as they were trained.
    static func networkInput(_ image: FloatImage, region: Region) -> FloatImage {
        var input = FloatImage(width: region.x.count, height: region.y.count,
                               values: image.view(x: region.x.lowerBound, y: region.y.lowerBound,
                                                  width: region.x.count, height: region.y.count).values)
        input.withUnsafeMutableRows { row, _ in
            for i in row.indices { row[i] = min(max(row[i], 0), 1) }
        }
        return input
    }

    /// One pass of ``PipelineDefinition/Heatmap/rescaledPasses``: its weight, and its probabilities over
    /// `region` of its own grid of `gridSize` px, which divides the same image as the map's grid.
    struct RescaledMap {
        var weight: Float
        var probabilities: FloatImage
        var region: Region
        var gridSize: (width: Int, height: Int)
    }

    /// `map` (``region`` of a grid of `gridSize` map px) mixed with `passes`: each pass read bilinearly at
    /// the map pixel's centre (pixel centres matched between the grids; clamped to the pixels the pass
    /// has), map = (1 − Σ weight) · map + Σ weight · pass, the passes in order.
    static func mixing(_ passes: [RescaledMap], into map: FloatImage, gridSize: (width: Int, height: Int), region: Region) -> FloatImage {
        var mixed = map
        let keep = 1 - passes.map(\.weight).reduce(0, +)
        mixed.withUnsafeMutableRows { row, y in
            for i in row.indices {
                var value = keep * row[i]
                for pass in passes {
                    let p = pass.probabilities
                    // Map px → the pass's grid px, then into the part of it the pass covers.
                    let u = min(max((Double(region.x.lowerBound + i) + 0.5) * Double(pass.gridSize.width) / Double(gridSize.width) - 0.5
                                    - Double(pass.region.x.lowerBound), 0), Double(p.width - 1))
                    let v = min(max((Double(region.y.lowerBound + y) + 0.5) * Double(pass.gridSize.height) / Double(gridSize.height) - 0.5
                                    - Double(pass.region.y.lowerBound), 0), Double(p.height - 1))
                    let x0 = Int(u), y0 = Int(v), x1 = min(x0 + 1, p.width - 1), y1 = min(y0 + 1, p.height - 1)
                    let a = Float(u - Double(x0)), b = Float(v - Double(y0))
                    value += pass.weight * ((1 - b) * ((1 - a) * p[x0, y0] + a * p[x1, y0]) + b * ((1 - a) * p[x0, y1] + a * p[x1, y1]))
                }
                row[i] = value
            }
        }
        return mixed
    }

    /// The mean of `networks`' probabilities on `input`, each with `mirrorAveraged` also on `input`'s
    /// left–right mirror image, mirrored back: the passes summed in order (a network, then its mirror
    /// pass; the networks in their order) and divided by their count, the same for any `threads`. The
    /// passes run side by side, each on its share of the threads: the network's row bands share two
    /// threads less well (about 1.3 × one thread's speed on a 2 mm/px region) than two whole passes do.
    static func probabilities(_ input: FloatImage, networks: [NoduleHeatmapNetwork], threads: Int,
                              mirrorAveraged: Bool) -> FloatImage {
        let perNetwork = mirrorAveraged ? 2 : 1
        let count = networks.count * perNetwork
        guard count > 1 else { return networks[0].probabilities(input, threads: threads) }
        let passes = SlotArray<FloatImage>(count: count)
        let perPass = max(1, threads / count)
        performTasks(count, workers: threads) { pass in
            let network = networks[pass / perNetwork]
            passes[pass] = pass % perNetwork == 0 ? network.probabilities(input, threads: perPass)
                : mirroredLeftRight(network.probabilities(mirroredLeftRight(input), threads: perPass))
        }
        var mean = passes[0]!
        let others = (1..<count).map { passes[$0]! }
        mean.withUnsafeMutableRows { row, y in
            for x in row.indices {
                var sum = row[x]
                for other in others { sum += other[x, y] }
                row[x] = sum / Float(count)
            }
        }
        return mean
    }

    /// `image` with each row reversed (x → width − 1 − x).
    static func mirroredLeftRight(_ image: FloatImage) -> FloatImage {
        FloatImage(width: image.width, height: image.height) { x, y in image[image.width - 1 - x, y] }
    }

    /// A map as it stands (tests), covering `region` (the whole map when nil).
    init(probabilities: FloatImage, spacingMM: Double, scale: (x: Double, y: Double), region: Region? = nil) {
        self.probabilities = probabilities
        self.region = region ?? Region(x: 0..<probabilities.width, y: 0..<probabilities.height)
        precondition(self.region.x.count == probabilities.width && self.region.y.count == probabilities.height)
        grid = Grid(width: self.region.x.upperBound, height: self.region.y.upperBound, scale: scale, spacingMM: spacingMM)
    }

    /// The map's peak near a reported candidate: ``peakLocation(x:y:radius:)`` in the square of
    /// half-width `windowFraction` × its reported radius, at least `minimumWindowPx` map px
    /// (``PipelineDefinition/Heatmap``'s window).
    public func peakLocation(near candidate: NoduleCandidate, windowFraction: Double,
                             minimumWindowPx: Double) -> (value: Double, x: Int, y: Int)? {
        peakLocation(x: candidate.x, y: candidate.y,
                     radius: Self.windowRadius(candidate, windowFraction: windowFraction, minimumWindowPx: minimumWindowPx,
                                               scaleX: scale.x))
    }

    /// Half-width, map px, of the square ``peakLocation(near:windowFraction:minimumWindowPx:)`` searches:
    /// `windowFraction` × the candidate's reported radius, at least `minimumWindowPx`.
    public static func windowRadius(_ candidate: NoduleCandidate, windowFraction: Double, minimumWindowPx: Double,
                                    scaleX: Double) -> Double {
        max(minimumWindowPx, windowFraction * candidate.diameterPx / 2 / scaleX)
    }

    /// The largest probability in the square of half-width `radius` (map px) around the
    /// input-pixel position (`x`, `y`), and where it lies (map px of the whole grid; the first in
    /// row order among equals); nil when the square misses the map's ``region``.
    public func peakLocation(x: Double, y: Double, radius: Double) -> (value: Double, x: Int, y: Int)? {
        guard let square = grid.square(x: x, y: y, radius: radius, within: region) else { return nil }
        let ox = region.x.lowerBound, oy = region.y.lowerBound
        var best: Float = -1, bx = square.x.lowerBound, by = square.y.lowerBound
        probabilities.withUnsafeStridedPointer { p, stride in
            for yy in square.y {
                for xx in square.x where p[(yy - oy) * stride + xx - ox] > best {
                    best = p[(yy - oy) * stride + xx - ox]
                    bx = xx
                    by = yy
                }
            }
        }
        return (Double(max(best, 0)), bx, by)
    }

    /// The map's local maxima of at least `minimum`: values no smaller than any other within
    /// `radius` map px (a (2·radius + 1)² square, clipped at the map's ``region``), highest first,
    /// equal values in row order; positions in map px of the whole grid. A plateau gives each of its
    /// points (callers keep maxima apart by distance).
    public func localMaxima(minimum: Double, radius: Int = 2) -> [(value: Double, x: Int, y: Int)] {
        let w = probabilities.width, h = probabilities.height
        let ox = region.x.lowerBound, oy = region.y.lowerBound
        var found: [(value: Double, x: Int, y: Int)] = []
        probabilities.withUnsafeStridedPointer { p, stride in
            for y in 0..<h {
                for x in 0..<w {
                    let v = p[y * stride + x]
                    guard Double(v) >= minimum else { continue }
                    var isMaximum = true
                    scan: for yy in max(0, y - radius)...min(h - 1, y + radius) {
                        for xx in max(0, x - radius)...min(w - 1, x + radius) where p[yy * stride + xx] > v {
                            isMaximum = false
                            break scan
                        }
                    }
                    if isMaximum { found.append((Double(v), x + ox, y + oy)) }
                }
            }
        }
        // Stable: row order among equal values.
        return found.enumerated().sorted { ($0.element.value, -$0.offset) > ($1.element.value, -$1.offset) }.map(\.element)
    }

    /// Equivalent-circle diameter, map px, of the map blob at (`x`, `y`) (map px of the whole grid):
    /// the 4-connected region where the map exceeds half its value there, searched within
    /// `maximumRadius` map px and the map's ``region``; 0 off the region.
    public func blobDiameter(x: Int, y: Int, maximumRadius: Int) -> Double {
        blob(x: x, y: y, maximumRadius: maximumRadius)?.diameter ?? 0
    }

    /// The map blob at (`x`, `y`) as ``blobDiameter(x:y:maximumRadius:)`` finds it: its
    /// equivalent-circle diameter and its centroid, map px of the whole grid; nil off the region.
    public func blob(x: Int, y: Int, maximumRadius: Int) -> (diameter: Double, x: Double, y: Double)? {
        guard region.x.contains(x), region.y.contains(y) else { return nil }
        let ox = region.x.lowerBound, oy = region.y.lowerBound
        let w = probabilities.width, h = probabilities.height
        let px = x - ox, py = y - oy
        let x0 = max(0, px - maximumRadius), x1 = min(w - 1, px + maximumRadius)
        let y0 = max(0, py - maximumRadius), y1 = min(h - 1, py + maximumRadius)
        let bw = x1 - x0 + 1
        var seen = [Bool](repeating: false, count: bw * (y1 - y0 + 1))
        var area = 0, sumX = 0, sumY = 0
        probabilities.withUnsafeStridedPointer { p, stride in
            let threshold = p[py * stride + px] / 2
            var stack = [(px, py)]
            seen[(py - y0) * bw + (px - x0)] = true
            while let (cx, cy) = stack.popLast() {
                area += 1
                sumX += cx
                sumY += cy
                for (nx, ny) in [(cx - 1, cy), (cx + 1, cy), (cx, cy - 1), (cx, cy + 1)]
                where nx >= x0 && nx <= x1 && ny >= y0 && ny <= y1 {
                    let i = (ny - y0) * bw + (nx - x0)
                    if !seen[i] && p[ny * stride + nx] > threshold {
                        seen[i] = true
                        stack.append((nx, ny))
                    }
                }
            }
        }
        return (2 * (Double(area) / Double.pi).squareRoot(),
                Double(sumX) / Double(area) + Double(ox), Double(sumY) / Double(area) + Double(oy))
    }
}
