#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A 2-D float32 image: 64-byte aligned rows with a padded stride, and views
/// that share storage without copying (copy-on-write on mutation).
///
/// Unsafe pointers are only lent inside `with…` closures.
public struct FloatImage: @unchecked Sendable {
    // @unchecked: `storage` is only mutated through `makeUnique()`, so a
    // shared buffer is never written while another value can read it.

    /// Columns, px.
    public private(set) var width: Int
    /// Rows, px.
    public private(set) var height: Int
    /// Distance between row starts, in floats (≥ width).
    public private(set) var rowStride: Int
    @usableFromInline var offset: Int
    @usableFromInline var storage: Storage

    /// A zero-filled image. The row stride is padded to a multiple of 16
    /// floats and kept off power-of-two lengths, which alias in cache.
    public init(width: Int, height: Int) {
        self.init(width: width, height: height, zeroed: true)
    }

    /// An image whose values are unspecified until written: only for buffers a
    /// filter pass overwrites completely (saves clearing tens of MB per σ).
    init(width: Int, height: Int, zeroed: Bool) {
        precondition(width > 0 && height > 0, "an image has at least one pixel")
        self.width = width
        self.height = height
        rowStride = FloatImage.paddedStride(width)
        offset = 0
        storage = Storage(count: rowStride * height, zeroed: zeroed)
    }

    /// An image from row-major values (`values.count == width * height`).
    public init(width: Int, height: Int, values: [Float]) {
        precondition(values.count == width * height, "values must hold width × height floats")
        self.init(width: width, height: height)
        values.withUnsafeBufferPointer { src in
            withUnsafeMutableRows { row, y in
                row.baseAddress!.update(from: src.baseAddress! + y * width, count: width)
            }
        }
    }

    /// An image filled by `value(x, y)`.
    public init(width: Int, height: Int, _ value: (Int, Int) -> Float) {
        self.init(width: width, height: height)
        withUnsafeMutableRows { row, y in
            for x in 0..<width { row[x] = value(x, y) }
        }
    }

    static func paddedStride(_ width: Int) -> Int {
        var stride = (width + 15) / 16 * 16
        if stride >= 512 && stride & (stride - 1) == 0 { stride += 16 }
        return stride
    }

    /// A view of a sub-rectangle sharing this image's storage (no copy).
    public func view(x: Int, y: Int, width: Int, height: Int) -> FloatImage {
        precondition(x >= 0 && y >= 0 && width > 0 && height > 0 && x + width <= self.width && y + height <= self.height,
                     "view outside the image")
        var v = self
        v.offset = offset + y * rowStride + x
        v.width = width
        v.height = height
        return v
    }

    /// The value at column `x`, row `y`. Inlinable: the detector reads single
    /// pixels in its per-candidate loops from other modules, where a call per
    /// read cost about 5 % of a batch's CPU.
    @inlinable
    public subscript(x: Int, y: Int) -> Float {
        get {
            precondition(x >= 0 && x < width && y >= 0 && y < height)
            return storage.base[offset + y * rowStride + x]
        }
        set {
            precondition(x >= 0 && x < width && y >= 0 && y < height)
            makeUnique()
            storage.base[offset + y * rowStride + x] = newValue
        }
    }

    /// Row-major values without stride padding.
    public var values: [Float] {
        var out = [Float]()
        out.reserveCapacity(width * height)
        withUnsafeRows { row, _ in out.append(contentsOf: row) }
        return out
    }

    /// Lends each row in turn (y = 0, 1, …).
    public func withUnsafeRows(_ body: (UnsafeBufferPointer<Float>, Int) throws -> Void) rethrows {
        for y in 0..<height {
            try body(UnsafeBufferPointer(start: storage.base + offset + y * rowStride, count: width), y)
        }
    }

    /// Lends each row in turn for writing.
    public mutating func withUnsafeMutableRows(_ body: (UnsafeMutableBufferPointer<Float>, Int) throws -> Void) rethrows {
        makeUnique()
        for y in 0..<height {
            try body(UnsafeMutableBufferPointer(start: storage.base + offset + y * rowStride, count: width), y)
        }
    }

    /// Lends the first element and the row stride (floats) for strided reading.
    public func withUnsafeStridedPointer<R>(_ body: (UnsafePointer<Float>, _ rowStride: Int) throws -> R) rethrows -> R {
        try withExtendedLifetime(storage) { try body(UnsafePointer(storage.base + offset), rowStride) }
    }

    /// Lends the first element and the row stride (floats) for strided writing.
    public mutating func withUnsafeMutableStridedPointer<R>(_ body: (UnsafeMutablePointer<Float>, _ rowStride: Int) throws -> R) rethrows -> R {
        makeUnique()
        return try withExtendedLifetime(storage) { try body(storage.base + offset, rowStride) }
    }

    /// Lends every image's first element and row stride for writing at once
    /// (the filter engine writes several outputs from one pass over its input).
    static func withUnsafeMutableStridedPointers<R>(_ images: inout [FloatImage],
                                                    _ body: ([UnsafeMutablePointer<Float>], [Int]) throws -> R) rethrows -> R {
        for i in images.indices { images[i].makeUnique() }
        let bases = images.map { $0.storage.base + $0.offset }
        return try withExtendedLifetime(images) { try body(bases, images.map(\.rowStride)) }
    }

    /// True when no other value shares this image's storage, so writing it
    /// cannot be observed elsewhere (used to recycle a streamed level's buffer).
    mutating func isUniquelyReferenced() -> Bool {
        isKnownUniquelyReferenced(&storage)
    }

    @usableFromInline
    mutating func makeUnique() {
        if isKnownUniquelyReferenced(&storage) { return }
        let stride = FloatImage.paddedStride(width)
        let fresh = Storage(count: stride * height, zeroed: false)
        let src = storage.base + offset
        for y in 0..<height {
            (fresh.base + y * stride).update(from: src + y * rowStride, count: width)
        }
        storage = fresh
        offset = 0
        rowStride = stride
    }

    /// Minimum and maximum value.
    public var range: ClosedRange<Float> {
        var lo = Float.infinity, hi = -Float.infinity
        withUnsafeRows { row, _ in for v in row { lo = min(lo, v); hi = max(hi, v) } }
        return lo...hi
    }

    /// 64-byte aligned heap storage.
    @usableFromInline
    final class Storage {
        @usableFromInline let base: UnsafeMutablePointer<Float>
        let count: Int

        init(count: Int, zeroed: Bool = true) {
            let bytes = max(1, count) * MemoryLayout<Float>.stride
            var fresh: UnsafeMutableRawPointer?
            guard posix_memalign(&fresh, 64, bytes) == 0, let raw = fresh else { fatalError("out of memory allocating \(bytes) bytes") }
            if zeroed { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }
            base = raw.bindMemory(to: Float.self, capacity: max(1, count))
            self.count = count
        }

        deinit { free(base) }
    }
}

extension FloatImage: Equatable {
    /// Equal when sizes and every value compare equal (stride and padding ignored).
    public static func == (a: FloatImage, b: FloatImage) -> Bool {
        a.width == b.width && a.height == b.height && a.values == b.values
    }

    /// Bit-for-bit identity of every value: the determinism criterion.
    public func isBitwiseIdentical(to other: FloatImage) -> Bool {
        width == other.width && height == other.height
            && zip(values, other.values).allSatisfy { $0.bitPattern == $1.bitPattern }
    }
}
