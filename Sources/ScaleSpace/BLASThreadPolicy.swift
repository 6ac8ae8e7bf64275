import COpenBLAS
import Dispatch

/// The one place that decides OpenBLAS's thread count.
///
/// Its users are the `.blas` filter engine (`ToeplitzConvolution`, selected
/// through `ConvolutionEngine`) and `SGEMMRate`, which the LoG benchmark needs
/// for its compute floor.
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

    /// Applies the policy (idempotent, thread-safe). Every BLAS user in NoduleKit calls it first.
    public static func apply() {
        _ = applied
    }
}

/// Measures this machine's sgemm rate the way NoduleKit uses it: one OpenBLAS
/// thread per Dispatch worker, each multiplying its share of rows.
public enum SGEMMRate {
    /// GFLOP/s (2·n³ flops per n × n product), median of three timed runs after a warm-up.
    public static func measure(size n: Int = 2048, threads: Int = SeparableConvolution.defaultThreads) -> Double {
        BLASThreadPolicy.apply()
        let a = [Float](repeating: 1.0001, count: n * n), b = [Float](repeating: 0.9999, count: n * n)
        var c = [Float](repeating: 0, count: n * n)
        let workers = max(1, threads)
        var runs: [Double] = []
        for _ in 0..<4 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeMutableBufferPointer { pc in
                        let out = UnsafeSendablePointer(pc.baseAddress!)
                        let inA = UnsafeSendablePointer(UnsafeMutablePointer(mutating: pa.baseAddress!))
                        let inB = UnsafeSendablePointer(UnsafeMutablePointer(mutating: pb.baseAddress!))
                        DispatchQueue.concurrentPerform(iterations: workers) { t in
                            let lo = t * n / workers, hi = (t + 1) * n / workers
                            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(hi - lo), Int32(n), Int32(n), 1,
                                        inA.pointer + lo * n, Int32(n), inB.pointer, Int32(n), 0, out.pointer + lo * n, Int32(n))
                        }
                    }
                }
            }
            runs.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        let timed = runs.dropFirst().sorted()
        return 2 * Double(n) * Double(n) * Double(n) / timed[timed.count / 2] / 1e9
    }
}
