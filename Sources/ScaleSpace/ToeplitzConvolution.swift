import COpenBLAS

/// The `.blas` engine of `SeparableConvolution`: every pass is one OpenBLAS
/// `cblas_sgemm` per tile against a banded Toeplitz block.
///
/// **Why banded Toeplitz blocks.** A 1-D correlation of every row with a
/// (2r+1)-tap kernel, restricted to B output columns, is the product of the
/// image's column slab (H × (B+2r)) with a B × (B+2r) banded Toeplitz matrix.
/// The vertical pass is the same product from the left. Interior slabs are
/// plain strided sub-matrices of a padded buffer, so no im2col copy is made
/// and sgemm streams the image once per block. The cost is the band's zeros:
/// sgemm does (B+2r)/(2r+1) times the useful multiply-adds. Measured on the
/// 2-core development machine for σ = 2, 6 and 24 on 2048² (four passes each),
/// B = max(32, ≈r/2) beat B ≈ r, B ≈ 2r and B = max(64, r) at large σ and tied
/// at small σ: sgemm stays efficient on these thin matrices, so less band
/// overhead wins. Horizontal tiles of 512 rows beat 128 and 256 (less packing
/// per call). Batching several σ into one GEMM was not taken because the shared
/// slab must then be as wide as the largest kernel, which wastes more than it
/// saves for a geometric σ list; im2col with a GEMV per kernel is memory-bound.
///
/// **Threads.** Work is cut into fixed tiles that do not depend on the thread
/// count; Dispatch workers take the next tile not yet taken and OpenBLAS runs one thread
/// inside each (`BLASThreadPolicy`; nested BLAS threads were slower). Every
/// output value is therefore produced by the same sgemm call on any number of
/// threads, and results are bit-for-bit identical.
///
/// **Borders** are half-sample symmetric reflection (`ReflectBorder`): the
/// input is copied once per call with reflected columns, and each horizontal
/// result gets reflected rows for the vertical pass.
struct ToeplitzConvolution {
    let threads: Int

    /// Rows per horizontal tile and columns per vertical tile (fixed; see "Threads").
    static let rowTile = 512
    static let columnTile = 512

    /// Toeplitz block width for a kernel radius, px.
    static func blockWidth(radius r: Int) -> Int {
        max(32, (r / 2 + 15) / 16 * 16)
    }

    /// Writes every value of `destinations` (one per output, each the image's size).
    /// Horizontal passes shared between terms are computed once.
    func apply(_ image: FloatImage, plan: FilterPlan, into destinations: inout [FloatImage]) {
        let padded = PaddedColumns(image, margin: plan.horizontalRadius)
        let maxV = plan.verticalRadius
        // Horizontal passes, one per distinct kernel, each with room for vertical reflection.
        let horizontalResults = plan.horizontal.map { horizontal(padded, kernel: $0, margin: maxV) }
        for (o, range) in plan.outputTerms.enumerated() {
            // Every value is written by the first (β = 0) vertical pass.
            for t in range {
                let term = plan.terms[t]
                vertical(horizontalResults[plan.termKernel[t]], kernel: term.vertical, weight: term.weight,
                         accumulate: t > range.lowerBound, into: &destinations[o])
            }
        }
    }

    /// An image copied with `margin` reflected columns on each side.
    struct PaddedColumns {
        var buffer: FloatImage
        let margin: Int
        let width: Int
        let height: Int

        init(_ image: FloatImage, margin: Int) {
            self.margin = margin
            width = image.width
            height = image.height
            var buffer = FloatImage(width: image.width + 2 * margin, height: image.height, zeroed: false)
            let w = image.width
            let left = (0..<margin).map { ReflectBorder.index($0 - margin, count: w) }
            let right = (0..<margin).map { ReflectBorder.index(w + $0, count: w) }
            image.withUnsafeStridedPointer { src, srcStride in
                buffer.withUnsafeMutableStridedPointer { dst, dstStride in
                    for y in 0..<image.height {
                        let s = src + y * srcStride, d = dst + y * dstStride
                        (d + margin).update(from: s, count: w)
                        for x in 0..<margin {
                            d[x] = s[left[x]]
                            d[margin + w + x] = s[right[x]]
                        }
                    }
                }
            }
            self.buffer = buffer
        }
    }

    /// A horizontal-pass result with `margin` reflected rows above and below.
    struct RowPadded {
        var buffer: FloatImage
        let margin: Int
        let height: Int
    }

    func horizontal(_ padded: PaddedColumns, kernel: GaussianKernel, margin: Int) -> RowPadded {
        let w = padded.width, h = padded.height, r = kernel.radius
        let block = Self.blockWidth(radius: r)
        let toeplitz = Toeplitz(kernel: kernel, block: block)
        // Rows margin..<margin+h are written by sgemm (β = 0), the margins by reflection below.
        var out = FloatImage(width: w, height: h + 2 * margin, zeroed: false)
        let rowTiles = (h + Self.rowTile - 1) / Self.rowTile
        let columnBlocks = (w + block - 1) / block
        padded.buffer.withUnsafeStridedPointer { src, srcStride in
            out.withUnsafeMutableStridedPointer { dst, dstStride in
                let source = UnsafeSendablePointer(UnsafeMutablePointer(mutating: src))
                let destination = UnsafeSendablePointer(dst)
                parallelTiles(rowTiles * columnBlocks) { tile in
                    let y0 = (tile / columnBlocks) * Self.rowTile, x0 = (tile % columnBlocks) * block
                    let rows = min(Self.rowTile, h - y0), cols = min(block, w - x0)
                    toeplitz.withTransposed { t, ldt in
                        // C (rows × cols) = A (rows × (cols+2r)) · Tᵀ, A a strided slab of the padded input.
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                    Int32(rows), Int32(cols), Int32(cols + 2 * r), 1,
                                    source.pointer + y0 * srcStride + (padded.margin - r) + x0, Int32(srcStride),
                                    t, Int32(ldt), 0,
                                    destination.pointer + (margin + y0) * dstStride + x0, Int32(dstStride))
                    }
                }
                // Reflected rows for the vertical pass.
                for m in 0..<margin {
                    let above = ReflectBorder.index(-1 - m, count: h), below = ReflectBorder.index(h + m, count: h)
                    (dst + (margin - 1 - m) * dstStride).update(from: dst + (margin + above) * dstStride, count: w)
                    (dst + (margin + h + m) * dstStride).update(from: dst + (margin + below) * dstStride, count: w)
                }
            }
        }
        return RowPadded(buffer: out, margin: margin, height: h)
    }

    func vertical(_ input: RowPadded, kernel: GaussianKernel, weight: Float, accumulate: Bool, into out: inout FloatImage) {
        let w = out.width, h = out.height, r = kernel.radius
        precondition(input.margin >= r && input.height == h)
        let block = Self.blockWidth(radius: r)
        let toeplitz = Toeplitz(kernel: kernel, block: block)
        let rowBlocks = (h + block - 1) / block
        let columnTiles = (w + Self.columnTile - 1) / Self.columnTile
        input.buffer.withUnsafeStridedPointer { src, srcStride in
            out.withUnsafeMutableStridedPointer { dst, dstStride in
                let source = UnsafeSendablePointer(UnsafeMutablePointer(mutating: src))
                let destination = UnsafeSendablePointer(dst)
                parallelTiles(rowBlocks * columnTiles) { tile in
                    let y0 = (tile / columnTiles) * block, x0 = (tile % columnTiles) * Self.columnTile
                    let rows = min(block, h - y0), cols = min(Self.columnTile, w - x0)
                    toeplitz.withMatrix { t, ldt in
                        // C (rows × cols) = T (rows × (rows+2r)) · B, B a strided slab of the row-padded input.
                        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans,
                                    Int32(rows), Int32(cols), Int32(rows + 2 * r), weight,
                                    t, Int32(ldt),
                                    source.pointer + (input.margin - r + y0) * srcStride + x0, Int32(srcStride),
                                    accumulate ? 1 : 0,
                                    destination.pointer + y0 * dstStride + x0, Int32(dstStride))
                    }
                }
            }
        }
    }

    /// Runs `body(tile)` for tiles 0..<count on `threads` Dispatch workers,
    /// each with OpenBLAS single-threaded, each worker taking the next tile not yet taken.
    func parallelTiles(_ count: Int, _ body: @Sendable (Int) -> Void) {
        BLASThreadPolicy.apply()
        performTasks(count, workers: threads, body)
    }
}

/// The banded Toeplitz matrix of a kernel for a block of B outputs:
/// B × (B + 2r), row j holding the taps at columns j … j + 2r.
struct Toeplitz: Sendable {
    let block: Int
    let columns: Int
    let values: [Float]
    /// The transpose, (B + 2r) × B row-major, for the horizontal pass.
    let transposed: [Float]

    init(kernel: GaussianKernel, block: Int) {
        self.block = block
        columns = block + 2 * kernel.radius
        var values = [Float](repeating: 0, count: block * columns)
        var transposed = [Float](repeating: 0, count: block * columns)
        for j in 0..<block {
            for (k, tap) in kernel.taps.enumerated() {
                values[j * columns + j + k] = tap
                transposed[(j + k) * block + j] = tap
            }
        }
        self.values = values
        self.transposed = transposed
    }

    /// Lends Tᵀ ((B + 2r) × B, row-major) and its leading dimension B. For a
    /// shorter final block b, the top-left (b + 2r) × b corner is its Tᵀ.
    func withTransposed<R>(_ body: (UnsafePointer<Float>, Int) -> R) -> R {
        transposed.withUnsafeBufferPointer { body($0.baseAddress!, block) }
    }

    /// Lends the matrix (row-major) and its leading dimension. The top-left
    /// b × (b + 2r) corner is the matrix for a shorter final block.
    func withMatrix<R>(_ body: (UnsafePointer<Float>, Int) -> R) -> R {
        values.withUnsafeBufferPointer { body($0.baseAddress!, columns) }
    }
}
