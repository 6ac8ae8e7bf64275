import ScaleSpace

/// The plain scalar convolution that the filter engine is checked against.
/// Used in tests only: direct loops, reflected borders, double accumulation.
enum ScalarReference {
    static func correlateRows(_ image: FloatImage, _ kernel: GaussianKernel) -> [Double] {
        let w = image.width, h = image.height, r = kernel.radius
        var out = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var sum = 0.0
                for k in 0..<kernel.length {
                    sum += Double(kernel.taps[k]) * Double(image[ReflectBorder.index(x + k - r, count: w), y])
                }
                out[y * w + x] = sum
            }
        }
        return out
    }

    static func correlateColumns(_ values: [Double], width w: Int, height h: Int, _ kernel: GaussianKernel) -> [Double] {
        let r = kernel.radius
        var out = [Double](repeating: 0, count: w * h)
        for y in 0..<h {
            for x in 0..<w {
                var sum = 0.0
                for k in 0..<kernel.length {
                    sum += Double(kernel.taps[k]) * values[ReflectBorder.index(y + k - r, count: h) * w + x]
                }
                out[y * w + x] = sum
            }
        }
        return out
    }

    /// Σ weight · (vertical ∘ horizontal)(image), row-major.
    static func apply(_ image: FloatImage, terms: [SeparableTerm]) -> [Float] {
        var total = [Double](repeating: 0, count: image.width * image.height)
        for term in terms {
            let rows = correlateRows(image, term.horizontal)
            let both = correlateColumns(rows, width: image.width, height: image.height, term.vertical)
            for i in total.indices { total[i] += Double(term.weight) * both[i] }
        }
        return total.map { Float($0) }
    }
}
