/// An 8-bit RGB picture for review (overlays, thumbnails): not a radiograph,
/// never fed back into measurement.
public struct RGBRaster: Sendable, Equatable {
    public let width: Int
    public let height: Int
    /// Interleaved RGB, row-major, `width * height * 3` bytes.
    public var pixels: [UInt8]

    public struct Colour: Sendable, Equatable {
        public var r: UInt8, g: UInt8, b: UInt8
        public init(_ r: UInt8, _ g: UInt8, _ b: UInt8) { self.r = r; self.g = g; self.b = b }
    }

    /// A raster from gray values 0–1 (clamped).
    public init(width: Int, height: Int, gray: (Int, Int) -> Float) {
        precondition(width > 0 && height > 0)
        self.width = width
        self.height = height
        pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let v = UInt8(min(max(gray(x, y), 0), 1) * 255 + 0.5)
                let i = (y * width + x) * 3
                pixels[i] = v; pixels[i + 1] = v; pixels[i + 2] = v
            }
        }
    }

    public mutating func set(_ x: Int, _ y: Int, _ c: Colour) {
        guard x >= 0, y >= 0, x < width, y < height else { return }
        let i = (y * width + x) * 3
        pixels[i] = c.r; pixels[i + 1] = c.g; pixels[i + 2] = c.b
    }

    /// A circle outline of radius `r` px, `thickness` px wide.
    public mutating func circle(cx: Double, cy: Double, r: Double, thickness: Double = 1.5, _ c: Colour) {
        let outer = r + thickness / 2, inner = max(0, r - thickness / 2)
        for y in Int((cy - outer).rounded(.down))...Int((cy + outer).rounded(.up)) {
            for x in Int((cx - outer).rounded(.down))...Int((cx + outer).rounded(.up)) {
                let d = ((Double(x) - cx) * (Double(x) - cx) + (Double(y) - cy) * (Double(y) - cy)).squareRoot()
                if d >= inner && d <= outer { set(x, y, c) }
            }
        }
    }

    /// Text in a 3×5 bitmap font scaled by `scale`, with a dark halo for legibility.
    /// Supports digits, `.`, `-`, `#`, space and the letters in `RGBRaster.glyphs`.
    public mutating func text(_ string: String, x: Int, y: Int, scale: Int = 2, _ c: Colour) {
        for pass in 0..<2 {
            var pen = x
            for ch in string.uppercased() {
                let rows = RGBRaster.glyphs[ch] ?? RGBRaster.glyphs["?"]!
                for (ry, bits) in rows.enumerated() {
                    for rx in 0..<3 where bits & (1 << (2 - rx)) != 0 {
                        for sy in 0..<scale {
                            for sx in 0..<scale {
                                let px = pen + rx * scale + sx, py = y + ry * scale + sy
                                if pass == 0 {
                                    for (dx, dy) in [(-1, 0), (1, 0), (0, -1), (0, 1)] { set(px + dx, py + dy, Colour(0, 0, 0)) }
                                } else {
                                    set(px, py, c)
                                }
                            }
                        }
                    }
                }
                pen += 4 * scale
            }
        }
    }

    /// PNG bytes.
    /// `compressionLevel`: zlib's 0–9 (6, its default, unless given; the per-image review pictures use 1).
    public func pngData(compressionLevel: Int = 6) throws -> [UInt8] {
        try PNGCodec.encodeRGB8(pixels, width: width, height: height, compressionLevel: compressionLevel)
    }

    /// 3×5 glyphs, one row per element, bit 2 = left column.
    static let glyphs: [Character: [UInt8]] = [
        "0": [7, 5, 5, 5, 7], "1": [2, 6, 2, 2, 7], "2": [7, 1, 7, 4, 7], "3": [7, 1, 7, 1, 7],
        "4": [5, 5, 7, 1, 1], "5": [7, 4, 7, 1, 7], "6": [7, 4, 7, 5, 7], "7": [7, 1, 1, 1, 1],
        "8": [7, 5, 7, 5, 7], "9": [7, 5, 7, 1, 7], ".": [0, 0, 0, 0, 2], "-": [0, 0, 7, 0, 0],
        "#": [5, 7, 5, 7, 5], " ": [0, 0, 0, 0, 0], "?": [7, 1, 3, 0, 2], "%": [5, 1, 2, 4, 5],
        "M": [5, 7, 7, 5, 5], "P": [6, 5, 6, 4, 4], "X": [5, 5, 2, 5, 5], "S": [7, 4, 7, 1, 7],
        "N": [6, 5, 5, 5, 5], "O": [7, 5, 5, 5, 7], "D": [6, 5, 5, 5, 6], "U": [5, 5, 5, 5, 7],
        "L": [4, 4, 4, 4, 7], "G": [7, 4, 5, 5, 7], "A": [2, 5, 7, 5, 5], "C": [7, 4, 4, 4, 7],
        "E": [7, 4, 6, 4, 7], "R": [6, 5, 6, 5, 5], "T": [7, 2, 2, 2, 2], "I": [7, 2, 2, 2, 7],
        "K": [5, 5, 6, 5, 5], "W": [5, 5, 7, 7, 5], "=": [0, 7, 0, 7, 0], ":": [0, 2, 0, 2, 0],
        "F": [7, 4, 6, 4, 4], "Y": [5, 5, 2, 2, 2], "H": [5, 5, 7, 5, 5], "B": [6, 5, 6, 5, 6],
        "/": [1, 1, 2, 4, 4], "(": [1, 2, 2, 2, 1], ")": [4, 2, 2, 2, 4], ">": [4, 2, 1, 2, 4], ",": [0, 0, 0, 2, 4],
    ]
}
