/// Order statistics without sorting everything (Hoare's quickselect, median-of-three pivot).
enum Selection {
    /// The element that would be at index `k` of `values` sorted ascending.
    /// Reorders `values`. O(n) on average.
    static func kth<T: Comparable>(_ values: inout [T], _ k: Int) -> T {
        precondition(!values.isEmpty && k >= 0 && k < values.count)
        return values.withUnsafeMutableBufferPointer { values in
            var lo = 0, hi = values.count - 1
            while lo < hi {
                let mid = lo + (hi - lo) / 2
                // Median of three as the pivot.
                if values[mid] < values[lo] { values.swapAt(mid, lo) }
                if values[hi] < values[lo] { values.swapAt(hi, lo) }
                if values[hi] < values[mid] { values.swapAt(hi, mid) }
                let pivot = values[mid]
                var i = lo, j = hi
                while i <= j {
                    while values[i] < pivot { i += 1 }
                    while pivot < values[j] { j -= 1 }
                    if i <= j { values.swapAt(i, j); i += 1; j -= 1 }
                }
                if k <= j { hi = j } else if k >= i { lo = i } else { return values[k] }
            }
            return values[k]
        }
    }

    /// The `q`-th percentile (0–100, nearest rank on index ⌊q/100·(n − 1) + ½⌋), without changing `values`.
    static func percentile<T: Comparable>(_ values: [T], _ q: Double) -> T {
        var copy = values
        let k = Int((q / 100 * Double(copy.count - 1)).rounded())
        return kth(&copy, min(max(k, 0), copy.count - 1))
    }

    /// The median (upper median for even counts), without changing `values`.
    static func median<T: Comparable>(_ values: [T]) -> T {
        var copy = values
        return kth(&copy, copy.count / 2)
    }
}

/// Small dense linear systems (the background plane, the sphere fit's normal equations).
enum LinearSystem {
    /// Solves m·x = b by Gauss–Jordan elimination with partial pivoting; `nil` when
    /// a pivot's magnitude is at or below `pivotTolerance` (singular or nearly so).
    static func solve(_ m: [[Double]], _ b: [Double], pivotTolerance: Double) -> [Double]? {
        let n = b.count
        precondition(m.count == n && m.allSatisfy { $0.count == n }, "m must be n × n")
        guard n > 0 else { return [] }
        // Row-major in one scratch block (m's rows, then b): no per-row arrays to copy or check.
        return withUnsafeTemporaryAllocation(of: Double.self, capacity: n * n + n) { scratch -> [Double]? in
            let a = scratch.baseAddress!, y = a + n * n
            for r in 0..<n {
                for c in 0..<n { a[r * n + c] = m[r][c] }
                y[r] = b[r]
            }
            for col in 0..<n {
                // The first row of largest magnitude in the column (as `max(by:)` picks).
                var pivot = col
                for r in (col + 1)..<n where abs(a[pivot * n + col]) < abs(a[r * n + col]) { pivot = r }
                guard abs(a[pivot * n + col]) > pivotTolerance else { return nil }
                if pivot != col {
                    for c in 0..<n { (a[col * n + c], a[pivot * n + c]) = (a[pivot * n + c], a[col * n + c]) }
                    (y[col], y[pivot]) = (y[pivot], y[col])
                }
                for r in 0..<n where r != col {
                    let f = a[r * n + col] / a[col * n + col]
                    if f == 0 { continue }
                    for c in col..<n { a[r * n + c] -= f * a[col * n + c] }
                    y[r] -= f * y[col]
                }
            }
            return (0..<n).map { y[$0] / a[$0 * n + $0] }
        }
    }
}
