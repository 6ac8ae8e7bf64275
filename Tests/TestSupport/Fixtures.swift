import Foundation

/// Locates fixture files committed beside a test file.
public enum Fixtures {
    /// The `Fixtures` folder next to the calling test file.
    public static func directory(filePath: String = #filePath) -> String {
        URL(fileURLWithPath: filePath).deletingLastPathComponent().appendingPathComponent("Fixtures").path
    }

    public static func path(_ name: String, filePath: String = #filePath) -> String {
        directory(filePath: filePath) + "/" + name
    }

    /// The repository root (the folder holding Package.swift).
    public static func repositoryRoot(filePath: String = #filePath) -> String {
        var url = URL(fileURLWithPath: filePath).deletingLastPathComponent()
        while url.path != "/" {
            if FileManager.default.fileExists(atPath: url.appendingPathComponent("Package.swift").path) { return url.path }
            url.deleteLastPathComponent()
        }
        fatalError("no Package.swift above \(filePath)")
    }

    /// A fresh, empty temporary folder inside this test process's scratch root, which is
    /// removed when the process exits normally (a crashed run leaves it for inspection).
    public static func temporaryDirectory(_ label: String = "nodulekit") -> String {
        let path = scratchRoot + "/\(label)-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// `$TMPDIR/nodulekit-tests-PID`, created once per test process with an exit hook that deletes it.
    public static let scratchRoot: String = {
        let root = NSTemporaryDirectory() + "/nodulekit-tests-\(getpid())"
        try? FileManager.default.removeItem(atPath: root)  // a reused PID from an earlier crashed run
        try! FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: Fixtures.scratchRoot) }
        return root
    }()
}

/// Reads NumPy `.npy` files (format 1.x/2.x, C order, little-endian) written by reference scripts.
public enum NPYFile {
    public enum Failure: Error, CustomStringConvertible {
        case malformed(String)
        public var description: String { switch self { case .malformed(let m): "malformed .npy: \(m)" } }
    }

    public struct Array<Element> {
        public var shape: [Int]
        public var values: [Element]
    }

    static func header(_ bytes: [UInt8]) throws -> (descr: String, shape: [Int], dataOffset: Int) {
        guard bytes.count > 10, bytes[0] == 0x93, Swift.Array(bytes[1..<6]) == Swift.Array("NUMPY".utf8) else {
            throw Failure.malformed("no magic")
        }
        let major = bytes[6]
        let (length, start): (Int, Int) = major == 1
            ? (Int(bytes[8]) | Int(bytes[9]) << 8, 10)
            : (Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24, 12)
        let text = String(decoding: bytes[start..<(start + length)], as: UTF8.self)
        guard let d = text.range(of: "'descr': '"), let dEnd = text[d.upperBound...].firstIndex(of: "'"),
              let s = text.range(of: "'shape': ("), let sEnd = text[s.upperBound...].firstIndex(of: ")") else {
            throw Failure.malformed(text)
        }
        if text.contains("'fortran_order': True") { throw Failure.malformed("Fortran order") }
        let shape = text[s.upperBound..<sEnd].split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return (String(text[d.upperBound..<dEnd]), shape, start + length)
    }

    public static func loadUInt16(_ path: String) throws -> Array<UInt16> {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let (descr, shape, offset) = try header(bytes)
        guard descr == "<u2" else { throw Failure.malformed("expected <u2, got \(descr)") }
        let n = shape.reduce(1, *)
        var values = [UInt16](repeating: 0, count: n)
        for i in 0..<n { values[i] = UInt16(bytes[offset + 2 * i]) | UInt16(bytes[offset + 2 * i + 1]) << 8 }
        return Array(shape: shape, values: values)
    }

    /// A little-endian float64 array (`<f8`), exactly.
    public static func loadFloat64(_ path: String) throws -> Array<Double> {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let (descr, shape, offset) = try header(bytes)
        guard descr == "<f8" else { throw Failure.malformed("expected <f8, got \(descr)") }
        let n = shape.reduce(1, *)
        var values = [Double](repeating: 0, count: n)
        for i in 0..<n {
            var bits: UInt64 = 0
            for b in 0..<8 { bits |= UInt64(bytes[offset + 8 * i + b]) << (8 * b) }
            values[i] = Double(bitPattern: bits)
        }
        return Array(shape: shape, values: values)
    }

    public static func loadFloat32(_ path: String) throws -> Array<Float> {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let (descr, shape, offset) = try header(bytes)
        let n = shape.reduce(1, *)
        var values = [Float](repeating: 0, count: n)
        switch descr {
        case "<f4":
            for i in 0..<n {
                let bits = UInt32(bytes[offset + 4 * i]) | UInt32(bytes[offset + 4 * i + 1]) << 8
                    | UInt32(bytes[offset + 4 * i + 2]) << 16 | UInt32(bytes[offset + 4 * i + 3]) << 24
                values[i] = Float(bitPattern: bits)
            }
        case "<f8":
            for i in 0..<n {
                var bits: UInt64 = 0
                for b in 0..<8 { bits |= UInt64(bytes[offset + 8 * i + b]) << (8 * b) }
                values[i] = Float(Double(bitPattern: bits))
            }
        default: throw Failure.malformed("expected <f4 or <f8, got \(descr)")
        }
        return Array(shape: shape, values: values)
    }
}
