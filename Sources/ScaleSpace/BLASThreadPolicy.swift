import COpenBLAS

/// The one place that sets OpenBLAS's thread count.
///
/// Under a Dispatch fan-out across images each worker must run BLAS on one
/// thread: nested BLAS threads under Dispatch workers measured 1.4–2.2×
/// slower on 2 cores (shared/toolchain.md). A single-image path may use more.
public enum BLASThreadPolicy {
    /// Threads OpenBLAS currently uses for one call.
    public static var current: Int { Int(openblas_get_num_threads()) }

    /// Sets the number of threads OpenBLAS uses inside one BLAS call.
    public static func set(threads: Int) {
        openblas_set_num_threads(Int32(max(1, threads)))
    }

    /// Runs `body` with OpenBLAS on a single thread, restoring the previous count.
    public static func singleThreaded<R>(_ body: () throws -> R) rethrows -> R {
        let previous = current
        set(threads: 1)
        defer { set(threads: previous) }
        return try body()
    }
}
