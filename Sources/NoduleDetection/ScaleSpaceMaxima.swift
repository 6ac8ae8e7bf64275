import ScaleSpace
#if canImport(Glibc)
import Glibc
#endif

/// A blob found as a local maximum of the σ²-normalised LoG in (x, y, σ),
/// in working-image px.
public struct BlobCandidate: Sendable, Equatable {
    /// Sub-pixel centre, px of the image it was found on.
    public var x: Double
    public var y: Double
    /// Sub-scale σ, px.
    public var sigma: Double
    /// −σ²∇²G response at the maximum (bright blobs positive), normalised intensity.
    public var response: Double
    /// Hessian eigenvalue ratio λ_small/λ_large at (x, y, σ), 0 ridge … 1 round.
    public var blobness: Double

    public init(x: Double, y: Double, sigma: Double, response: Double, blobness: Double = 0) {
        self.x = x
        self.y = y
        self.sigma = sigma
        self.response = response
        self.blobness = blobness
    }

    /// Radius of the projected sphere (profile ∝ √(R² − ρ²)) whose σ²-normalised
    /// LoG peaks at this σ: R = (5/3)·σ, px (a flat disc would give √2·σ).
    public var radius: Double { sigma * BlobCandidate.sphereRadiusPerSigma }

    /// R/σ* for a projected sphere, found numerically (SciPy, R = 30 px): 1.67.
    public static let sphereRadiusPerSigma = 5.0 / 3.0
}

/// Scale-space maxima of −σ²∇²G over a geometric σ ladder.
///
/// Streams the scale space and holds three consecutive levels at a time, so
/// memory is three images plus the candidates, never the whole stack.
public enum ScaleSpaceMaxima {
    /// Finds maxima in the 3×3×3 (x, y, σ) neighbourhood (the end scales compare
    /// with their one neighbour), above `minimumResponse`, where `accept(x, y)`
    /// holds. Sub-pixel and sub-scale positions come from a parabola through the
    /// neighbours on each axis. Results are sorted by response, then position,
    /// so they are deterministic.
    /// `scaleBias` β weights level σ by (σ/σ₀)^β (Lindeberg's γ-normalisation
    /// with γ = 2 + β): β > 0 favours larger blobs over small bright dots.
    /// `filter` is `.log` (−σ²∇²G) or `.hessianDeterminant` (√ of σ⁴·det H where
    /// positive, so the response is in intensity units like the LoG's; it is
    /// near zero on ridges, and dark blobs are removed later by blobness).
    public static func find(in image: FloatImage, sigmas: [Double], minimumResponse: Float, scaleBias: Double = 0,
                            filter: ScaleSpaceFilter = .log,
                            scaleSpace: ScaleSpace? = nil,
                            accept: (Int, Int) -> Bool = { _, _ in true }) -> [BlobCandidate] {
        sorted(locatedMaxima(in: image, sigmas: sigmas, minimumResponse: minimumResponse, scaleBias: scaleBias,
                             filter: filter, scaleSpace: scaleSpace, accept: accept)).map(\.blob)
    }

    /// A maximum and the pixel of its level it was found at (what `accept` is asked about).
    public struct LocatedMaximum: Sendable {
        public var blob: BlobCandidate
        public var pixelX: Int
        public var pixelY: Int
    }

    /// ``find(in:sigmas:minimumResponse:scaleBias:filter:scaleSpace:accept:)``'s maxima with their
    /// pixels, in the order found. `accept` is one of the conditions every maximum must meet, so the
    /// maxima found with it are those found without it for which it holds: a caller may filter later.
    public static func locatedMaxima(in image: FloatImage, sigmas: [Double], minimumResponse: Float, scaleBias: Double = 0,
                                     filter: ScaleSpaceFilter = .log,
                                     scaleSpace: ScaleSpace? = nil,
                                     accept: (Int, Int) -> Bool = { _, _ in true }) -> [LocatedMaximum] {
        precondition(sigmas.count >= 2, "at least two scales")
        let space = scaleSpace ?? ScaleSpace(sigmas: sigmas, resolution: .exact)
        var found: [LocatedMaximum] = []
        let w = image.width, h = image.height
        func scan(_ current: FloatImage, below: FloatImage?, above: FloatImage?, sigmaIndex i: Int) {
            current.withUnsafeStridedPointer { c, cs in
                let floor = SIMD8<Float>(repeating: minimumResponse)
                for y in 1..<max(1, h - 1) {
                    let row = c + y * cs
                    var x = 1
                    while x < w - 1 {
                        // Eight columns at a time: only columns above the floor and above all 8
                        // neighbours in their own level go on to the scalar checks (the same
                        // comparisons, so the same maxima).
                        if x + 8 < w {
                            func load(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
                                UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
                            }
                            let p = row + x
                            let v = load(p)
                            var keep = (v .>= floor) .& .!(load(p - 1) .>= v) .& .!(load(p + 1) .>= v)
                            keep = keep .& .!(load(p - cs - 1) .>= v) .& .!(load(p - cs) .>= v) .& .!(load(p - cs + 1) .>= v)
                            keep = keep .& .!(load(p + cs - 1) .>= v) .& .!(load(p + cs) .>= v) .& .!(load(p + cs + 1) .>= v)
                            if any(keep) {
                                for lane in 0..<8 where keep[lane] { examine(x + lane) }
                            }
                            x += 8
                            continue
                        }
                        examine(x)
                        x += 1
                    }
                    func examine(_ x: Int) {
                        let v = row[x]
                        guard v >= minimumResponse else { return }
                        // The level's own 8 neighbours first (cheapest, and most often decisive),
                        // then the mask, then the neighbouring levels: all must hold, so the order
                        // changes only the time taken.
                        guard !(row[x - 1] >= v), !(row[x + 1] >= v),
                              !(row[x - 1 - cs] >= v), !(row[x - cs] >= v), !(row[x + 1 - cs] >= v),
                              !(row[x - 1 + cs] >= v), !(row[x + cs] >= v), !(row[x + 1 + cs] >= v),
                              accept(x, y) else { return }
                        var isMax = true
                        outer: for dy in -1...1 {
                            for dx in -1...1 {
                                if let b = below, b[x + dx, y + dy] >= v { isMax = false; break outer }
                                if let a = above, a[x + dx, y + dy] >= v { isMax = false; break outer }
                            }
                        }
                        guard isMax else { return }
                        var logSigma = log(sigmas[i])
                        if let b = below, let a = above {
                            let step = (log(sigmas[i + 1]) - log(sigmas[i - 1])) / 2
                            logSigma += step * parabola(b[x, y], v, a[x, y])
                        }
                        found.append(LocatedMaximum(
                            blob: BlobCandidate(x: Double(x) + parabola(row[x - 1], v, row[x + 1]),
                                                y: Double(y) + parabola(row[x - cs], v, row[x + cs]),
                                                sigma: exp(logSigma), response: Double(v)),
                            pixelX: x, pixelY: y))
                    }
                }
            }
        }
        // Levels arrive in σ order; level k − 1 is examined when level k arrives,
        // so at most three levels are held.
        var older: FloatImage?, previous: FloatImage?
        var index = 0
        space.stream(image, filter: filter) { level in
            var current = level.response
            let bias = Float(pow(level.sigma / sigmas[0], scaleBias))
            if filter == .hessianDeterminant {
                current.withUnsafeMutableRows { row, _ in for k in row.indices { row[k] = bias * max(row[k], 0).squareRoot() } }
            } else {
                current.withUnsafeMutableRows { row, _ in for k in row.indices { row[k] *= -bias } }
            }
            if let p = previous { scan(p, below: older, above: current, sigmaIndex: index - 1) }
            older = previous
            previous = current
            index += 1
        }
        if let p = previous { scan(p, below: older, above: nil, sigmaIndex: index - 1) }
        return found
    }

    /// Maxima sorted by response (highest first), then row, then column: a total order on distinct
    /// maxima, so the result does not depend on the order they were found in.
    public static func sorted(_ maxima: [LocatedMaximum]) -> [LocatedMaximum] {
        maxima.sorted { a, b in
            if a.blob.response != b.blob.response { return a.blob.response > b.blob.response }
            if a.blob.y != b.blob.y { return a.blob.y < b.blob.y }
            return a.blob.x < b.blob.x
        }
    }

    /// Offset of a parabola's vertex through (−1, a), (0, b), (1, c), clamped to ±½; 0 unless
    /// the parabola opens downwards (b a peak). Arithmetic in `F`, the result in Double.
    static func parabola<F: BinaryFloatingPoint>(_ a: F, _ b: F, _ c: F) -> Double {
        let denominator = Double(a - 2 * b + c)
        guard denominator < 0 else { return 0 }
        return min(0.5, max(-0.5, 0.5 * Double(a - c) / denominator))
    }
}
