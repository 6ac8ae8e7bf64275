import ScaleSpace

/// A small double-precision image at a known spacing (internal to registration).
/// Pixel (i, j) has its centre at ((i + ½)·spacing, (j + ½)·spacing) mm.
struct Plane {
    let width: Int
    let height: Int
    /// mm/px along x and y (downsampling by a non-integer factor rounds the
    /// sizes, so the two can differ slightly; the physical extent is exact).
    let spacingX: Double
    let spacingY: Double
    var data: [Double]

    init(width: Int, height: Int, spacingX: Double, spacingY: Double, data: [Double]) {
        precondition(data.count == width * height)
        self.width = width
        self.height = height
        self.spacingX = spacingX
        self.spacingY = spacingY
        self.data = data
    }

    init(_ image: FloatImage, spacingX: Double, spacingY: Double) {
        self.init(width: image.width, height: image.height, spacingX: spacingX, spacingY: spacingY, data: image.values.map(Double.init))
    }

    var widthMM: Double { Double(width) * spacingX }
    var heightMM: Double { Double(height) * spacingY }

    /// A zero plane of the same geometry.
    func zeros() -> Plane { Plane(width: width, height: height, spacingX: spacingX, spacingY: spacingY, data: [Double](repeating: 0, count: data.count)) }

    /// Centre of pixel (x, y), mm.
    @inline(__always) func centre(_ x: Int, _ y: Int) -> (Double, Double) { ((Double(x) + 0.5) * spacingX, (Double(y) + 0.5) * spacingY) }

    var floatImage: FloatImage { FloatImage(width: width, height: height, values: data.map(Float.init)) }

    subscript(x: Int, y: Int) -> Double {
        get { data[y * width + x] }
        set { data[y * width + x] = newValue }
    }

    /// Bilinear value at a point in mm; nil outside the pixel-centre hull.
    func sample(xMM: Double, yMM: Double) -> Double? {
        let px = xMM / spacingX - 0.5, py = yMM / spacingY - 0.5
        guard px >= 0, py >= 0, px <= Double(width - 1), py <= Double(height - 1) else { return nil }
        let x0 = min(Int(px), width - 2 < 0 ? 0 : width - 2), y0 = min(Int(py), height - 2 < 0 ? 0 : height - 2)
        let x1 = min(x0 + 1, width - 1), y1 = min(y0 + 1, height - 1)
        let tx = px - Double(x0), ty = py - Double(y0)
        let top = data[y0 * width + x0] * (1 - tx) + data[y0 * width + x1] * tx
        let bottom = data[y1 * width + x0] * (1 - tx) + data[y1 * width + x1] * tx
        return top * (1 - ty) + bottom * ty
    }

    /// Central-difference gradient, per mm (one-sided at the borders).
    func gradient() -> (gx: Plane, gy: Plane) {
        var gx = zeros(), gy = zeros()
        for y in 0..<height {
            for x in 0..<width {
                let xl = max(0, x - 1), xr = min(width - 1, x + 1)
                let yu = max(0, y - 1), yd = min(height - 1, y + 1)
                gx[x, y] = xr > xl ? (self[xr, y] - self[xl, y]) / (Double(xr - xl) * spacingX) : 0
                gy[x, y] = yd > yu ? (self[x, yd] - self[x, yu]) / (Double(yd - yu) * spacingY) : 0
            }
        }
        return (gx, gy)
    }

    /// Gaussian blur with σ in px (reflecting borders), via ScaleSpace.
    func blurred(sigmaPx: Double) -> Plane {
        guard sigmaPx > 0.2 else { return self }
        let g = GaussianKernel(sigma: sigmaPx)
        let out = SeparableConvolution(threads: 1).apply(floatImage, terms: [SeparableTerm(horizontal: g, vertical: g)])
        return Plane(out, spacingX: spacingX, spacingY: spacingY)
    }

    /// Gaussian σ `fine` minus Gaussian σ `coarse` (px): structures between the two scales.
    func bandPassed(_ fine: Double, _ coarse: Double) -> Plane {
        var out = blurred(sigmaPx: fine)
        let wide = blurred(sigmaPx: coarse)
        for i in out.data.indices { out.data[i] -= wide.data[i] }
        return out
    }

    /// Coarser by `factor` (anti-aliased), via ScaleSpace.
    func downsampled(factor: Double) -> Plane {
        guard factor > 1.0001 else { return self }
        let out = Resampling.downsample(floatImage, factor: factor, convolution: SeparableConvolution(threads: 1))
        return Plane(out, spacingX: spacingX * Double(width) / Double(out.width),
                     spacingY: spacingY * Double(height) / Double(out.height))
    }
}
