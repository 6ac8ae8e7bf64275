import CJPEG

/// JPEG decoding through libjpeg-turbo (CJPEG). This file is the one place
/// that turns `cxr_jpeg_status` codes into Swift errors.
///
/// YCbCr files deliver their luma (Y) channel directly, which is the BT.601
/// luma of the encoded RGB without a round trip through clipped RGB. Files
/// stored as RGB or CMYK are converted with `Luma`.
enum JPEGCodec {
    static func decode(_ bytes: [UInt8], path: String, maxPixels: Int) throws -> DecodedPixels {
        var info = cxr_jpeg_info()
        var message = [CChar](repeating: 0, count: 256)

        let header = bytes.withUnsafeBufferPointer { data in
            cxr_jpeg_decode(data.baseAddress, data.count, UInt64(maxPixels), nil, 0, &info, &message, message.count)
        }
        guard header == Int32(CXR_JPEG_HEADER_ONLY.rawValue) else {
            throw error(status: header, info: info, message: message, path: path, maxPixels: maxPixels)
        }

        let width = Int(info.width), height = Int(info.height)
        let pixelCount = width * height
        let required = Int(info.required_bytes)
        var status: Int32 = 0
        let raw = [UInt8](unsafeUninitializedCapacity: required) { buffer, count in
            status = bytes.withUnsafeBufferPointer { data in
                cxr_jpeg_decode(data.baseAddress, data.count, UInt64(maxPixels),
                                buffer.baseAddress, buffer.count, &info, &message, message.count)
            }
            count = required
        }
        guard status == Int32(CXR_JPEG_OK.rawValue) else {
            throw error(status: status, info: info, message: message, path: path, maxPixels: maxPixels)
        }

        let samples: [UInt16] = raw.withUnsafeBytes { raw in
            switch UInt32(info.output) {
            case CXR_JPEG_OUTPUT_RGB.rawValue: Luma.rgb8ToGray(raw, pixelCount: pixelCount)
            case CXR_JPEG_OUTPUT_CMYK.rawValue: Luma.cmykToGray(raw, pixelCount: pixelCount, adobeInverted: info.saw_adobe != 0)
            default: Luma.widen(raw, pixelCount: pixelCount)
            }
        }

        var notes: [String] = []
        var spacing: PixelSpacing?
        if info.saw_jfif != 0, info.x_density > 0, info.y_density > 0, info.density_unit == 1 || info.density_unit == 2 {
            let mmPerUnit = info.density_unit == 1 ? 25.4 : 10.0
            let dpiX = info.density_unit == 1 ? Double(info.x_density) : Double(info.x_density) * 2.54
            let dpiY = info.density_unit == 1 ? Double(info.y_density) : Double(info.y_density) * 2.54
            if info.density_unit == 1 && PlaceholderResolution.isPlaceholder(dotsPerInch: dpiX)
                && PlaceholderResolution.isPlaceholder(dotsPerInch: dpiY) {
                notes.append("JFIF density is \(info.x_density) dpi, a software default; spacing treated as unknown")
            } else {
                spacing = PixelSpacing(row: mmPerUnit / Double(info.y_density),
                                       column: mmPerUnit / Double(info.x_density),
                                       source: .formatTag("JFIF density"))
            }
        }
        if info.benign_warnings > 0 {
            notes.append("libjpeg skipped \(info.benign_warnings) run(s) of extraneous bytes between markers")
        }
        return DecodedPixels(width: width, height: height, bitsStored: 8, samples: samples,
                             photometric: .monochrome2, pixelSpacing: spacing,
                             storedLayout: layout(info), notes: notes)
    }

    static func layout(_ info: cxr_jpeg_info) -> String {
        let space: String
        switch info.color_space {
        case 1: space = "gray"
        case 2: space = "RGB"
        case 3: space = "YCbCr"
        case 4: space = info.saw_adobe != 0 ? "CMYK (Adobe)" : "CMYK"
        case 5: space = "YCCK (Adobe)"
        default: space = "colour space \(info.color_space)"
        }
        let process = info.progressive != 0 ? "progressive" : "sequential"
        return "\(space) 8-bit \(process)\(info.arithmetic != 0 ? " arithmetic" : "")"
    }

    static func error(status: Int32, info: cxr_jpeg_info, message: [CChar], path: String, maxPixels: Int) -> RadiographError {
        let text = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let failure: DecodingFailure
        switch UInt32(status) {
        case CXR_JPEG_NOT_JPEG.rawValue: failure = .notAnImage
        case CXR_JPEG_TRUNCATED.rawValue: failure = .truncated(detail: text)
        case CXR_JPEG_TOO_LARGE.rawValue:
            failure = .tooLarge(width: Int(info.width), height: Int(info.height), limitPixels: maxPixels)
        case CXR_JPEG_UNSUPPORTED.rawValue: failure = .unsupported(detail: text)
        case CXR_JPEG_NO_MEMORY.rawValue: failure = .unsupported(detail: "out of memory: \(text)")
        default: failure = .corrupt(detail: text.isEmpty ? "libjpeg status \(status)" : text)
        }
        return .decode(path: path, format: .jpeg, failure)
    }
}
