import CScaleSpaceKernels
import Synchronization
import Dispatch

/// One separable term of a filter: `weight · (vertical ∘ horizontal)(image)`.
/// The horizontal kernel runs along rows (x, columns), the vertical along columns (y, rows).
public struct SeparableTerm: Sendable, Hashable {
    public var horizontal: GaussianKernel
    public var vertical: GaussianKernel
    public var weight: Float

    public init(horizontal: GaussianKernel, vertical: GaussianKernel, weight: Float = 1) {
        self.horizontal = horizontal
        self.vertical = vertical
        self.weight = weight
    }
}

/// The implementation behind `SeparableConvolution`. Both engines take the
/// same kernels, reflect borders the same way (`ReflectBorder`), stream
/// (`ScaleSpace.stream` holds one level at a time with either) and give
/// bit-identical results on any thread count; they differ only in float
/// rounding (tests hold both to the scalar reference within 1e-4).
///
/// **Why `.direct` is the default: measured, both engines in one run**
/// (`Benchmarks/scale-space.sh 7`, 2026-11-25 14:10, loadavg 0.13 → 0.78;
/// 2048² float32, σ²-normalised LoG, 10 σ geometric 2…24, 2 Dispatch workers,
/// medians of 7; raw JSON `Benchmarks/recorded/2026-11-25-log-engines-*.json`):
///
/// | engine | exact stack | pyramid stack | σ = 2 (exact) | σ = 24 (exact) |
/// | --- | --- | --- | --- | --- |
/// | `.direct` | 114.7 ms | 36.1 ms | 3.5 ms | 31.9 ms |
/// | `.blas` | 251.3 ms | 117.2 ms | 15.8 ms | 44.5 ms |
///
/// (OpenCV 367.4 ms, SciPy 4208 ms in the same run; sgemm 251 GFLOP/s.)
/// `.direct` was faster at every one of the ten σ, by 4.5× at σ = 2 and
/// 1.4× at σ = 24, so no σ range is left where a per-σ switch would pick GEMM.
///
/// **Why sgemm loses here although its rate is high.**
/// - *Arithmetic.* A Toeplitz block of B outputs multiplies B + 2r inputs per
///   output where the kernel has 2r + 1 taps: the band's zeros are multiplied
///   too. At σ = 2 (r = 8, B = 32) that is 48/17 = 2.8× the useful
///   multiply-adds, at σ = 24 (r = 96, B = 48) 240/193 = 1.24×. LoG needs
///   four full passes on GEMM (g″⊗g and g⊗g″); the direct engine folds the
///   symmetric kernels (one multiply per tap pair) and runs g and g″ in one
///   horizontal sweep: 8.82 G multiply-adds for the exact stack, tile overlap
///   included, against the four passes' 12.68 G useful, which GEMM then
///   inflates by the band factor (Benchmarks/README.md). At σ = 24 GEMM's
///   own floor is 3.24 G useful × 1.24 at 251 GFLOP/s = 32 ms, already above
///   the direct engine's 31.9 ms measured.
/// - *Memory traffic.* Each GEMM pass goes through memory: the padded input
///   copy, two row-padded horizontal results, the vertical passes reading
///   them back and the second one reading and rewriting the output (β = 1):
///   counted from the code, 6 full-image reads and 5 writes (≈ 180 MB at
///   2048²) per σ, against the direct engine's one read and one write, its
///   intermediates staying in L2-sized tiles. At small σ this dominates:
///   σ = 2 needs 2.3 ms of useful sgemm arithmetic (6.4 ms with the band's
///   zeros) but took 15.8 ms. The pyramid keeps its small σ at full
///   resolution, where GEMM is worst, so `.blas` gains less from it
///   (251 → 117 ms) than `.direct` (115 → 36 ms).
///
/// `.blas` stays selectable (`--engine blas`) as the GEMM formulation issue 3
/// asks for, and as a cross-check of the direct kernels.
public enum ConvolutionEngine: String, Sendable, CaseIterable {
    /// Direct SIMD correlation with folded symmetric kernels, cache-blocked tiles (`CScaleSpaceKernels`).
    case direct
    /// OpenBLAS `cblas_sgemm` against banded Toeplitz blocks (`ToeplitzConvolution`).
    case blas

    /// The engine used unless a caller asks for another (chosen by measurement, above).
    public static let `default`: ConvolutionEngine = .direct
}

/// Separable convolution as direct, cache-blocked SIMD correlation with folded
/// symmetric kernels (C kernels in `CScaleSpaceKernels`, AVX-512/AVX2/baseline
/// chosen at load time).
///
/// `engine` picks the implementation: `.direct` (described here, the default)
/// or `.blas`, `cblas_sgemm` on banded Toeplitz blocks (`ToeplitzConvolution`).
/// `ConvolutionEngine` gives the measurements behind the default; sgemm also
/// runs OpenBLAS's AVX2 kernel, which leaves this CPU's AVX-512 units half idle.
///
/// **What the direct engine does.** Gaussian-derivative kernels are even (orders 0, 2) or odd
/// (order 1), so the correlation folds them: for each offset k it forms
/// x[i−k] + x[i+k] (or x[i+k] − x[i−k]) once and multiplies once, which halves
/// the multiplies; kernels of one radius on the same rows (LoG's g and g″,
/// the Hessian's g, g′, g″) share the folded sums, so their horizontal passes
/// cost little more than one. The image is cut into fixed tiles of
/// `stripRows` rows × ≤ `columnTile` columns; per tile the horizontal passes
/// of the rows the vertical kernels reach go into a per-worker buffer that
/// stays in L2, and the vertical pass sums every term of an output from there
/// and writes the output once. Nothing but the outputs is written to memory.
/// The vertical kernel walks a 64-column block down the tile (so its 2r + 2
/// rows stay in L1) and makes two output rows per step from the same loaded
/// rows; in isolation that took it from 0.51 to 0.11 cycles per pixel and tap
/// (two terms, r = 8…24) against rows-outside, one row at a time. The
/// horizontal kernel is held back by unaligned loads (0.16 cycles per pixel
/// and tap for LoG's two kernels, against ≈ 0.06 if the loads were aligned);
/// shifting aligned registers instead is the next step if it matters.
///
/// **Threads.** Dispatch workers take the next tile not yet taken. A value's arithmetic
/// depends only on its position and the kernels, never on the tile or the
/// worker that computes it (tiles overlap in rows they recompute, with the
/// same operations), so results are bit-for-bit identical on any number of threads.
///
/// **Borders** are half-sample symmetric reflection (`ReflectBorder`) for every
/// filter: rows are fetched through reflected row numbers, and tiles at the
/// left/right border gather their row segments through reflected column numbers.
public struct SeparableConvolution: Sendable {
    /// Dispatch workers used per pass.
    public var threads: Int
    /// Which implementation computes the passes (same results to float rounding, same borders).
    public var engine: ConvolutionEngine

    public init(threads: Int = SeparableConvolution.defaultThreads, engine: ConvolutionEngine = .default) {
        self.threads = max(1, threads)
        self.engine = engine
    }

    public static var defaultThreads: Int { max(1, sysconf_processors()) }

    /// Widest column tile, px (a tile's rows of horizontal results stay in L2).
    static let columnTile = 512

    /// Output rows per tile for a vertical radius. Each tile recomputes the
    /// horizontal pass on 2r extra rows, so tiles grow with r; 128 rows keeps
    /// that overhead at ≤ 1.4× up to r = 24 (the pyramid's largest full-resolution
    /// kernel) while two kernels' buffers ((128 + 2r) × 528 floats each, ≤ 0.75 MB)
    /// stay in the 1 MB L2.
    static func stripRows(verticalRadius r: Int) -> Int {
        max(128, 2 * r)
    }

    /// Applies each output's terms and returns one image per output, all the size of `image`.
    /// Horizontal passes shared between terms are computed once.
    public func apply(_ image: FloatImage, outputs: [[SeparableTerm]]) -> [FloatImage] {
        var results = outputs.map { _ in FloatImage(width: image.width, height: image.height, zeroed: false) }
        apply(image, outputs: outputs, into: &results)
        return results
    }

    /// Applies one filter made of `terms`.
    public func apply(_ image: FloatImage, terms: [SeparableTerm]) -> FloatImage {
        apply(image, outputs: [terms])[0]
    }

    /// As `apply(_:terms:)`, writing every value of `out` (the image's size).
    func apply(_ image: FloatImage, terms: [SeparableTerm], into out: inout FloatImage) {
        // Move the buffer into the array and back, so it stays uniquely referenced (no copy-on-write).
        var destinations = [out]
        out = FloatImage(width: 1, height: 1)
        apply(image, outputs: [terms], into: &destinations)
        out = destinations.removeLast()
    }

    /// As `apply(_:outputs:)`, writing every value of `destinations` (one per
    /// output, each the size of `image`), so a caller can reuse buffers.
    func apply(_ image: FloatImage, outputs: [[SeparableTerm]], into destinations: inout [FloatImage]) {
        precondition(destinations.count == outputs.count
                     && destinations.allSatisfy { $0.width == image.width && $0.height == image.height },
                     "one destination of the image's size per output")
        let plan = FilterPlan(outputs: outputs)
        switch engine {
        case .direct: applyDirect(image, plan: plan, into: &destinations)
        case .blas: ToeplitzConvolution(threads: threads).apply(image, plan: plan, into: &destinations)
        }
    }

    /// The `.direct` engine: tiles of horizontal results in per-worker buffers, outputs written once.
    func applyDirect(_ image: FloatImage, plan: FilterPlan, into destinations: inout [FloatImage]) {
        let w = image.width, h = image.height
        let rH = plan.horizontalRadius, rV = plan.verticalRadius
        let strip = Self.stripRows(verticalRadius: rV)
        let strips = (h + strip - 1) / strip
        let columnTiles = (w + Self.columnTile - 1) / Self.columnTile
        let tileWidth = (w + columnTiles - 1) / columnTiles
        // Row stride of the horizontal buffers: 16-float multiple, off powers of two.
        let bufferStride = FloatImage.paddedStride(tileWidth)
        let bufferRows = strip + 2 * rV
        let kernelFloats = bufferRows * bufferStride
        let scratchFloats = plan.kernelCount * kernelFloats + tileWidth + 2 * rH

        // Reflected column numbers for tiles whose row segment (± rH) leaves the image.
        let columnMaps: [[Int32]?] = (0..<columnTiles).map { c in
            let x0 = c * w / columnTiles, x1 = (c + 1) * w / columnTiles
            if x0 - rH >= 0 && x1 + rH <= w { return nil }
            return (0..<(x1 - x0 + 2 * rH)).map { Int32(ReflectBorder.index(x0 - rH + $0, count: w)) }
        }

        plan.withUnsafeArguments { args in
            image.withUnsafeStridedPointer { src, srcStride in
                FloatImage.withUnsafeMutableStridedPointers(&destinations) { dsts, dstStrides in
                    let source = UnsafeSendablePointer(UnsafeMutablePointer(mutating: src))
                    let targets = dsts.map(UnsafeSendablePointer.init)
                    withScratchPerWorker(strips * columnTiles, workers: threads, floats: scratchFloats) { tile, scratch in
                        let c = tile % columnTiles, s = tile / columnTiles
                        let x0 = c * w / columnTiles, x1 = (c + 1) * w / columnTiles
                        let y0 = s * strip, y1 = min(h, y0 + strip)
                        let rows = (y0 - rV..<y1 + rV).map { Int32(ReflectBorder.index($0, count: h)) }
                        let line = scratch + plan.kernelCount * kernelFloats
                        let buffers = (0..<plan.kernelCount).map { Optional(scratch + $0 * kernelFloats) }
                        // Horizontal: every kernel on every row the vertical kernels reach.
                        rows.withUnsafeBufferPointer { rowIndex in
                            buffers.withUnsafeBufferPointer { dst in
                                let correlate = { (map: UnsafePointer<Int32>?) in
                                    cxr_ss_correlate_rows(source.pointer, srcStride, rowIndex.baseAddress, Int32(rows.count),
                                                          Int32(x0), Int32(x1 - x0), Int32(rH), map, line,
                                                          Int32(args.groupCount), args.groupRadius, args.evenCount, args.oddCount,
                                                          args.horizontalTaps, dst.baseAddress, bufferStride)
                                }
                                if let map = columnMaps[c] {
                                    map.withUnsafeBufferPointer { correlate($0.baseAddress) }
                                } else {
                                    correlate(nil)
                                }
                            }
                        }
                        // Vertical: each output's terms summed from the buffers, written once.
                        for (o, range) in args.outputTerms.enumerated() {
                            let centers = range.map { t in
                                Optional(UnsafePointer(buffers[args.termKernel[t]]! + rV * bufferStride))
                            }
                            centers.withUnsafeBufferPointer { center in
                                cxr_ss_correlate_columns(Int32(range.count), center.baseAddress, bufferStride,
                                                         args.verticalRadius + range.lowerBound, args.verticalOdd + range.lowerBound,
                                                         args.verticalTaps + range.lowerBound,
                                                         targets[o].pointer + y0 * dstStrides[o] + x0, dstStrides[o],
                                                         Int32(x1 - x0), Int32(y1 - y0))
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The kernels of one `apply` call, laid out for the C kernels: distinct
/// horizontal kernels grouped by radius (even ones first in each group, so they
/// share folded sums), and per term its vertical kernel's taps pre-multiplied by
/// the term's weight.
struct FilterPlan {
    /// Horizontal kernels in group order; `termKernel[t]` indexes this list.
    let horizontal: [GaussianKernel]
    let groups: [(radius: Int, even: Int, odd: Int)]
    let termKernel: [Int]
    let terms: [SeparableTerm]
    /// Terms of output o: `outputTerms[o]` indexes `terms`.
    let outputTerms: [Range<Int>]

    init(outputs: [[SeparableTerm]]) {
        terms = outputs.flatMap { $0 }
        precondition(!terms.isEmpty, "no filter terms")
        var start = 0
        outputTerms = outputs.map { o in
            defer { start += o.count }
            return start..<(start + o.count)
        }
        let distinct = Set(terms.map(\.horizontal)).sorted { ($0.radius, $0.order % 2, $0.sigma, $0.order) < ($1.radius, $1.order % 2, $1.sigma, $1.order) }
        horizontal = distinct
        var groups: [(radius: Int, even: Int, odd: Int)] = []
        for k in distinct {
            if groups.last?.radius != k.radius { groups.append((k.radius, 0, 0)) }
            if k.order % 2 == 0 { groups[groups.count - 1].even += 1 } else { groups[groups.count - 1].odd += 1 }
        }
        self.groups = groups
        termKernel = terms.map { t in distinct.firstIndex(of: t.horizontal)! }
        // The C kernels keep per-kernel and per-term pointers in fixed arrays of 64.
        precondition(distinct.count <= 64 && outputs.allSatisfy { $0.count <= 64 }, "at most 64 kernels and 64 terms per output")
    }

    var kernelCount: Int { horizontal.count }
    var horizontalRadius: Int { horizontal.map(\.radius).max()! }
    var verticalRadius: Int { terms.map(\.vertical.radius).max()! }

    /// Taps for offsets 0 … +r (the kernel is even or odd about its centre).
    static func halfTaps(_ kernel: GaussianKernel, weight: Float = 1) -> [Float] {
        kernel.taps[kernel.radius...].map { $0 * weight }
    }

    /// Pointers into this plan's arrays, valid inside `withUnsafeArguments`.
    struct Arguments: @unchecked Sendable {
        // @unchecked: read-only views of arrays that outlive every use (the closure's scope).
        var groupCount: Int
        var groupRadius, evenCount, oddCount: UnsafePointer<Int32>
        var horizontalTaps: UnsafePointer<UnsafePointer<Float>?>
        var verticalRadius, verticalOdd: UnsafePointer<Int32>
        var verticalTaps: UnsafePointer<UnsafePointer<Float>?>
        var termKernel: [Int]
        var outputTerms: [Range<Int>]
    }

    func withUnsafeArguments<R>(_ body: (Arguments) -> R) -> R {
        let hTaps = horizontal.map { Self.halfTaps($0) }
        let vTaps = terms.map { Self.halfTaps($0.vertical, weight: $0.weight) }
        let hFlat = hTaps.flatMap { $0 }, vFlat = vTaps.flatMap { $0 }
        let hOffsets = hTaps.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        let vOffsets = vTaps.reduce(into: [0]) { $0.append($0.last! + $1.count) }
        let groupRadius = groups.map { Int32($0.radius) }, evenCount = groups.map { Int32($0.even) }
        let oddCount = groups.map { Int32($0.odd) }
        let verticalRadius = terms.map { Int32($0.vertical.radius) }
        let verticalOdd = terms.map { Int32($0.vertical.order % 2) }
        return hFlat.withUnsafeBufferPointer { hf in
            vFlat.withUnsafeBufferPointer { vf in
                let hPointers = hOffsets.dropLast().map { Optional(hf.baseAddress! + $0) }
                let vPointers = vOffsets.dropLast().map { Optional(vf.baseAddress! + $0) }
                return hPointers.withUnsafeBufferPointer { hp in
                    vPointers.withUnsafeBufferPointer { vp in
                        groupRadius.withUnsafeBufferPointer { gr in
                            evenCount.withUnsafeBufferPointer { ec in
                                oddCount.withUnsafeBufferPointer { oc in
                                    verticalRadius.withUnsafeBufferPointer { vr in
                                        verticalOdd.withUnsafeBufferPointer { vo in
                                            body(Arguments(groupCount: groups.count, groupRadius: gr.baseAddress!,
                                                           evenCount: ec.baseAddress!, oddCount: oc.baseAddress!,
                                                           horizontalTaps: hp.baseAddress!, verticalRadius: vr.baseAddress!,
                                                           verticalOdd: vo.baseAddress!, verticalTaps: vp.baseAddress!,
                                                           termKernel: termKernel, outputTerms: outputTerms))
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Runs `body(task)` for tasks 0..<count on at most `workers` Dispatch workers;
/// each worker takes the next task not yet taken, in order, until none is left, so a
/// worker that drew cheap tasks takes more of them. Which worker runs a task never
/// changes what the task computes.
public func performTasks(_ count: Int, workers: Int, _ body: @Sendable (Int) -> Void) {
    let workers = min(max(1, workers), count)
    if workers <= 1 {
        for task in 0..<count { body(task) }
        return
    }
    let queue = TaskQueue(count: count)
    DispatchQueue.concurrentPerform(iterations: workers) { _ in
        while let task = queue.take() { body(task) }
    }
}

/// `performTasks` with a scratch buffer of `floats` floats per worker (64-byte
/// aligned, contents unspecified), allocated once per worker, not per task.
public func withScratchPerWorker(_ count: Int, workers: Int, floats: Int,
                                 _ body: @Sendable (Int, UnsafeMutablePointer<Float>) -> Void) {
    let workers = min(max(1, workers), count)
    let queue = TaskQueue(count: count)
    @Sendable func run() {
        let scratch = FloatImage.Storage(count: floats, zeroed: false)
        while let task = queue.take() { body(task, scratch.base) }
        withExtendedLifetime(scratch) {}
    }
    if workers <= 1 {
        run()
    } else {
        DispatchQueue.concurrentPerform(iterations: workers) { _ in run() }
    }
}

/// Task indices 0..<count handed out once each, in order, to whichever worker asks.
final class TaskQueue: Sendable {
    private let next = Atomic<Int>(0)
    private let count: Int

    init(count: Int) {
        self.count = count
    }

    /// The next task not yet taken, or nil when all have been.
    func take() -> Int? {
        let task = next.add(1, ordering: .relaxed).oldValue
        return task < count ? task : nil
    }
}

/// A pointer handed to Dispatch workers that write disjoint tiles.
public struct UnsafeSendablePointer: @unchecked Sendable {
    // @unchecked: each worker reads shared input and writes only its own tile.
    public let pointer: UnsafeMutablePointer<Float>
    public init(_ pointer: UnsafeMutablePointer<Float>) { self.pointer = pointer }
}

#if canImport(Glibc)
import Glibc
func sysconf_processors() -> Int { Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))) }
#elseif canImport(Darwin)
import Darwin
func sysconf_processors() -> Int { Int(sysconf(_SC_NPROCESSORS_ONLN)) }
#endif
