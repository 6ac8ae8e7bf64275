/// What a format decoder hands back before provenance is attached.
struct DecodedPixels {
    var width: Int
    var height: Int
    var bitsStored: Int
    var samples: [UInt16]
    var photometric: PhotometricInterpretation
    var pixelSpacing: PixelSpacing?
    var storedLayout: String
    var notes: [String] = []
    var patient: PatientIdentity? = nil
    var studyDate: StudyDate? = nil
    /// The anatomy's reading, when the decoder already made it (a raw file whose polarity it inferred).
    var anatomy: ChestPolarity.Reading? = nil
}

/// Colour-to-gray conversion used by every decoder.
///
/// ITU-R BT.601 luma, Y = 0.299 R + 0.587 G + 0.114 B, in 16-bit fixed point
/// with rounding: `(19595 R + 38470 G + 7471 B + 32768) >> 16`. The weights
/// sum to 65536, so gray stored as RGB (R = G = B) maps to itself exactly.
/// This is the same arithmetic as Pillow's `convert("L")`.
public enum Luma {
    @inlinable
    public static func bt601(_ r: UInt32, _ g: UInt32, _ b: UInt32) -> UInt32 {
        (19595 &* r &+ 38470 &* g &+ 7471 &* b &+ 32768) >> 16
    }

    /// CMYK → RGB as Pillow does it (ink values, 0 = no ink):
    /// `R = (255 − K) − (C·(255 − K))/255`, the division rounded as MULDIV255.
    @inlinable
    public static func cmykChannelToRGB(_ ink: UInt32, _ k: UInt32) -> UInt32 {
        let nk = 255 - k
        let t = ink * nk + 128
        return nk - (((t >> 8) + t) >> 8)
    }

    static func rgb8ToGray(_ rgb: UnsafeRawBufferPointer, pixelCount: Int) -> [UInt16] {
        let p = rgb.bindMemory(to: UInt8.self)
        return [UInt16](unsafeUninitializedCapacity: pixelCount) { out, count in
            for i in 0..<pixelCount {
                out[i] = UInt16(bt601(UInt32(p[3 * i]), UInt32(p[3 * i + 1]), UInt32(p[3 * i + 2])))
            }
            count = pixelCount
        }
    }

    static func rgb16ToGray(_ rgb: UnsafeRawBufferPointer, pixelCount: Int) -> [UInt16] {
        let p = rgb.bindMemory(to: UInt16.self)
        return [UInt16](unsafeUninitializedCapacity: pixelCount) { out, count in
            for i in 0..<pixelCount {
                out[i] = UInt16(bt601(UInt32(p[3 * i]), UInt32(p[3 * i + 1]), UInt32(p[3 * i + 2])))
            }
            count = pixelCount
        }
    }

    /// `adobeInverted`: the file stores 255 − ink (the Adobe convention, flagged by an APP14 marker).
    static func cmykToGray(_ cmyk: UnsafeRawBufferPointer, pixelCount: Int, adobeInverted: Bool) -> [UInt16] {
        let p = cmyk.bindMemory(to: UInt8.self)
        let flip: UInt32 = adobeInverted ? 255 : 0
        return [UInt16](unsafeUninitializedCapacity: pixelCount) { out, count in
            for i in 0..<pixelCount {
                let c = UInt32(p[4 * i]) ^ flip, m = UInt32(p[4 * i + 1]) ^ flip
                let y = UInt32(p[4 * i + 2]) ^ flip, k = UInt32(p[4 * i + 3]) ^ flip
                out[i] = UInt16(bt601(cmykChannelToRGB(c, k), cmykChannelToRGB(m, k), cmykChannelToRGB(y, k)))
            }
            count = pixelCount
        }
    }

    static func widen(_ bytes: UnsafeRawBufferPointer, pixelCount: Int) -> [UInt16] {
        let p = bytes.bindMemory(to: UInt8.self)
        return [UInt16](unsafeUninitializedCapacity: pixelCount) { out, count in
            for i in 0..<pixelCount { out[i] = UInt16(p[i]) }
            count = pixelCount
        }
    }
}

/// Resolution tags that image software writes by default, not from a detector:
/// 72 and 96 dots per inch. A spacing derived from them would be fiction.
enum PlaceholderResolution {
    static func isPlaceholder(dotsPerInch: Double) -> Bool {
        abs(dotsPerInch - 72) < 0.05 || abs(dotsPerInch - 96) < 0.05
    }
}
