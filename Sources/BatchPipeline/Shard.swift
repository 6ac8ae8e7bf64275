import Crypto

/// `--shard K/N`: a deterministic, stable 1/N of the inputs, chosen by a hash of
/// each input's relative path, so N independent jobs (a Slurm array, a Kubernetes
/// indexed job) split a folder with no coordinator. K counts from 0.
public struct Shard: Sendable, Equatable, CustomStringConvertible {
    public var index: Int
    public var count: Int

    public init?(index: Int, count: Int) {
        guard count >= 1, (0..<count).contains(index) else { return nil }
        self.index = index
        self.count = count
    }

    /// Parses `K/N` with 0 ≤ K < N.
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let k = Int(parts[0]), let n = Int(parts[1]) else { return nil }
        self.init(index: k, count: n)
    }

    /// The shard (0..<count) that owns `key`: the first 8 bytes of SHA-256(key) as a
    /// big-endian integer, modulo `count`. The same on every machine and run.
    public static func owner(of key: String, count: Int) -> Int {
        let digest = Array(SHA256.hash(data: Array(key.utf8)))
        let value = digest.prefix(8).reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Int(value % UInt64(count))
    }

    public func contains(_ input: BatchInput) -> Bool {
        Self.owner(of: input.key, count: count) == index
    }

    public var description: String { "\(index)/\(count)" }
}
