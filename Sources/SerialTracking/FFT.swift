#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A plain iterative radix-2 complex FFT (internal; registration only).
/// Lengths must be powers of two. Unnormalised in both directions.
struct FFT {
    let n: Int
    private let cosTable: [Double]
    private let sinTable: [Double]
    private let bitReversed: [Int]

    init(length n: Int) {
        precondition(n > 0 && n & (n - 1) == 0, "FFT length must be a power of two")
        self.n = n
        cosTable = (0..<max(1, n / 2)).map { cos(2 * .pi * Double($0) / Double(n)) }
        sinTable = (0..<max(1, n / 2)).map { sin(2 * .pi * Double($0) / Double(n)) }
        var bits = 0
        while 1 << bits < n { bits += 1 }
        bitReversed = (0..<n).map { i in
            var r = 0, v = i
            for _ in 0..<bits { r = (r << 1) | (v & 1); v >>= 1 }
            return r
        }
    }

    static func nextPowerOfTwo(_ v: Int) -> Int {
        var n = 1
        while n < v { n <<= 1 }
        return n
    }

    /// In place over the `n` contiguous elements at `re` and `im`. `inverse` uses e^{+i…}.
    func transform(_ re: UnsafeMutablePointer<Double>, _ im: UnsafeMutablePointer<Double>, inverse: Bool) {
        for i in 0..<n {
            let j = bitReversed[i]
            if j > i {
                swap(&re[i], &re[j])
                swap(&im[i], &im[j])
            }
        }
        let sign: Double = inverse ? 1 : -1
        var size = 2
        cosTable.withUnsafeBufferPointer { ct in
            sinTable.withUnsafeBufferPointer { st in
                while size <= n {
                    let half = size / 2, step = n / size
                    var start = 0
                    while start < n {
                        for k in 0..<half {
                            let wr = ct[k * step], wi = sign * st[k * step]
                            let p = start + k, q = start + k + half
                            let tr = re[q] * wr - im[q] * wi
                            let ti = re[q] * wi + im[q] * wr
                            re[q] = re[p] - tr
                            im[q] = im[p] - ti
                            re[p] += tr
                            im[p] += ti
                        }
                        start += size
                    }
                    size <<= 1
                }
            }
        }
    }
}

/// A 2-D complex array of power-of-two size with row-then-column FFTs.
struct ComplexGrid {
    let width: Int
    let height: Int
    var re: [Double]
    var im: [Double]

    init(width: Int, height: Int) {
        self.width = width
        self.height = height
        re = [Double](repeating: 0, count: width * height)
        im = [Double](repeating: 0, count: width * height)
    }

    mutating func fft2(inverse: Bool) {
        let rows = FFT(length: width), cols = FFT(length: height)
        let w = width, h = height
        // Each column is copied out, transformed contiguously and copied back (a column in place would be a
        // cache miss on every element).
        var columnRe = [Double](repeating: 0, count: h), columnIm = [Double](repeating: 0, count: h)
        re.withUnsafeMutableBufferPointer { r in
            im.withUnsafeMutableBufferPointer { i in
                for y in 0..<h { rows.transform(r.baseAddress! + y * w, i.baseAddress! + y * w, inverse: inverse) }
                columnRe.withUnsafeMutableBufferPointer { cr in
                    columnIm.withUnsafeMutableBufferPointer { ci in
                        for x in 0..<w {
                            for y in 0..<h { cr[y] = r[y * w + x]; ci[y] = i[y * w + x] }
                            cols.transform(cr.baseAddress!, ci.baseAddress!, inverse: inverse)
                            for y in 0..<h { r[y * w + x] = cr[y]; i[y * w + x] = ci[y] }
                        }
                    }
                }
            }
        }
    }
}
