import COpenBLAS

/// The one place that decides OpenBLAS's thread count.
///
/// Policy: OpenBLAS runs **one thread per call**, process-wide, and NoduleKit
/// parallelises with Dispatch above it. Nested BLAS threads under Dispatch
/// workers measured 1.4–2.2× slower on 2 cores (shared/toolchain.md), and a
/// count toggled per call races between concurrent callers. The setting is
/// applied once, before the first sgemm, and never changed back.
public enum BLASThreadPolicy {
    /// Threads OpenBLAS currently uses inside one call.
    public static var current: Int { Int(openblas_get_num_threads()) }

    private static let applied: Bool = {
        openblas_set_num_threads(1)
        return true
    }()

    /// Applies the policy (idempotent, thread-safe). Called by every BLAS user in NoduleKit.
    public static func apply() {
        _ = applied
    }
}
