/// Order statistics without sorting everything (Hoare's quickselect, median-of-three pivot).
enum Selection {
    /// The element that would be at index `k` of `values` sorted ascending.
    /// Reorders `values`. O(n) on average.
    static func kth<T: Comparable>(_ values: inout [T], _ k: Int) -> T {
        precondition(!values.isEmpty && k >= 0 && k < values.count)
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

    /// The median (upper median for even counts), without changing `values`.
    static func median<T: Comparable>(_ values: [T]) -> T {
        var copy = values
        return kth(&copy, copy.count / 2)
    }
}
