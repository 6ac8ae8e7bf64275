import CGDCM

/// What GDCM hands back for one file, before any pixel semantics are applied:
/// the image's layout, selected raw element values and the first frame's
/// stored values. A plain value, so it can cross the worker pipe.
struct GDCMImage: Equatable, Sendable {
    var rows: Int
    var columns: Int
    var frames: Int
    var bitsAllocated: Int
    var bitsStored: Int
    var highBit: Int
    var pixelRepresentation: Int
    var samplesPerPixel: Int
    var photometric: String
    var transferSyntaxUID: String
    /// Raw value bytes of the elements in `GDCMBridge.wantedElements` that are present, keyed by tag.
    var elements: [UInt32: [UInt8]]
    /// Modality LUT (descriptor and data), when the file has one.
    var modalityLUT: ModalityLUT?
    /// The first frame, host byte order, `rows × columns × samples × bitsAllocated/8` bytes; empty when
    /// ``frameOmitted``.
    var frame: [UInt8]
    /// Native Pixel Data (not deflated) that GDCM was asked not to deliver: the caller takes the frame from
    /// the file's own bytes (``DICOMPreflight/PixelData/valueOffset``), in host order.
    var frameOmitted = false

    struct ModalityLUT: Equatable, Sendable {
        var firstMapped: Int
        var bits: Int
        var data: [UInt16]
    }
}

/// In-process calls into CGDCM. This file is the one place that turns
/// `cxr_dcm_status` codes into `DecodingFailure`s. Used directly only inside
/// the worker process (or when the caller chose `.inProcess` isolation).
enum GDCMBridge {
    /// Top-level elements copied out of every file (tag = group << 16 | element).
    static let wantedElements: [UInt32] = [
        Tag.specificCharacterSet, Tag.imageType, Tag.sopInstanceUID, Tag.studyDate, Tag.modality,
        Tag.patientID, Tag.issuerOfPatientID, Tag.estimatedMagnification, Tag.imagerPixelSpacing, Tag.viewPosition,
        Tag.studyInstanceUID, Tag.seriesInstanceUID, Tag.photometricInterpretation, Tag.pixelSpacing,
        Tag.rescaleIntercept, Tag.rescaleSlope, Tag.rescaleType, Tag.numberOfFrames, Tag.presentationLUTShape,
        Tag.nominalScannedPixelSpacing,
    ]

    enum Tag {
        static let specificCharacterSet: UInt32 = 0x0008_0005
        static let imageType: UInt32 = 0x0008_0008
        static let sopInstanceUID: UInt32 = 0x0008_0018
        static let studyDate: UInt32 = 0x0008_0020
        static let modality: UInt32 = 0x0008_0060
        static let patientID: UInt32 = 0x0010_0020
        static let issuerOfPatientID: UInt32 = 0x0010_0021
        static let estimatedMagnification: UInt32 = 0x0018_1114
        static let imagerPixelSpacing: UInt32 = 0x0018_1164
        static let nominalScannedPixelSpacing: UInt32 = 0x0018_2010
        static let viewPosition: UInt32 = 0x0018_5101
        static let studyInstanceUID: UInt32 = 0x0020_000D
        static let seriesInstanceUID: UInt32 = 0x0020_000E
        static let numberOfFrames: UInt32 = 0x0028_0008
        static let photometricInterpretation: UInt32 = 0x0028_0004
        static let pixelSpacing: UInt32 = 0x0028_0030
        static let rescaleIntercept: UInt32 = 0x0028_1052
        static let rescaleSlope: UInt32 = 0x0028_1053
        static let presentationLUTShape: UInt32 = 0x2050_0020
        static let rescaleType: UInt32 = 0x0028_1054
    }

    /// Silence GDCM's stderr traces (once per process).
    static let quiet: Void = { cxr_dcm_quiet() }()

    /// Parses and decodes `bytes` with GDCM in this process. A damaged file can
    /// abort the process inside GDCM: call this only from the worker, or for trusted input.
    /// `nativeFrame` false: for native Pixel Data in the file itself (explicit or implicit VR little endian,
    /// explicit VR big endian), the frame is left out (``GDCMImage/frameOmitted``); every other field is GDCM's.
    static func decode(_ bytes: [UInt8], maxPixels: Int, nativeFrame: Bool = true) throws -> GDCMImage {
        _ = quiet
        var message = [CChar](repeating: 0, count: 512)
        func text() -> String { String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) }

        var handle: OpaquePointer?
        let opened = bytes.withUnsafeBufferPointer { cxr_dcm_open($0.baseAddress, $0.count, &handle, &message, message.count) }
        guard opened == Int32(CXR_DCM_OK.rawValue), let handle else { throw failure(opened, text()) }
        defer { cxr_dcm_close(handle) }
        // `bytes` must outlive the handle: the handle reads them in place.
        return try withExtendedLifetime(bytes) { () throws -> GDCMImage in
            var info = cxr_dcm_info()
            let status = cxr_dcm_info_get(handle, &info, &message, message.count)
            guard status == Int32(CXR_DCM_OK.rawValue) else { throw failure(status, text()) }
            let uid = withUnsafeBytes(of: info.transfer_syntax) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard DICOMTransferSyntax(uid: uid) != nil else { throw DecodingFailure.unsupportedTransferSyntax(uid: uid) }
            let photometric = withUnsafeBytes(of: info.photometric) { DICOMText.trimmed(ascii: $0.prefix { $0 != 0 }) }
            let rows = Int(info.rows), columns = Int(info.columns)
            guard rows > 0, columns > 0 else { throw DecodingFailure.corrupt(detail: "image has \(rows) rows and \(columns) columns") }
            guard rows * columns <= maxPixels else { throw DecodingFailure.tooLarge(width: columns, height: rows, limitPixels: maxPixels) }

            var elements: [UInt32: [UInt8]] = [:]
            for tag in wantedElements {
                var length = 0
                let probe = cxr_dcm_element(handle, UInt16(tag >> 16), UInt16(tag & 0xFFFF), nil, 0, &length)
                guard probe == Int32(CXR_DCM_OK.rawValue) || probe == Int32(CXR_DCM_BUFFER_TOO_SMALL.rawValue) else { continue }
                var value = [UInt8](repeating: 0, count: length)
                let got = value.withUnsafeMutableBufferPointer {
                    cxr_dcm_element(handle, UInt16(tag >> 16), UInt16(tag & 0xFFFF), $0.baseAddress, $0.count, &length)
                }
                if got == Int32(CXR_DCM_OK.rawValue) { elements[tag] = value }
            }

            var lut: GDCMImage.ModalityLUT?
            if info.has_modality_lut != 0 {
                var data = [UInt16](repeating: 0, count: Int(info.modality_lut_entries))
                let got = data.withUnsafeMutableBufferPointer { cxr_dcm_modality_lut(handle, $0.baseAddress, $0.count) }
                if got == Int32(CXR_DCM_OK.rawValue) {
                    lut = .init(firstMapped: Int(info.modality_lut_first_mapped), bits: Int(info.modality_lut_bits), data: data)
                }
            }

            let frameBytes = Int(info.frame_bytes)
            let syntax = DICOMTransferSyntax(uid: uid)
            let omitted = !nativeFrame && info.encapsulated == 0 && info.pixel_data_bytes >= info.frame_bytes
                && (syntax == .explicitLittleEndian || syntax == .implicitLittleEndian || syntax == .explicitBigEndian)
            var decodeStatus: Int32 = 0
            let frame = omitted ? [] : [UInt8](unsafeUninitializedCapacity: frameBytes) { buffer, count in
                decodeStatus = cxr_dcm_decode_first_frame(handle, buffer.baseAddress, buffer.count, &message, message.count)
                count = frameBytes
            }
            guard decodeStatus == Int32(CXR_DCM_OK.rawValue) else { throw failure(decodeStatus, text()) }
            // Follow the header's Bits Stored / High Bit when valid, as pydicom does; GDCM's
            // values follow the codestream (a JPEG 2000 stream may say 16 under a 12-bit header).
            var bitsStored = Int(info.bits_stored), highBit = Int(info.high_bit)
            let headerBits = Int(info.header_bits_stored), headerHigh = Int(info.header_high_bit)
            if (1...Int(info.bits_allocated)).contains(headerBits), headerHigh < Int(info.bits_allocated), headerHigh + 1 >= headerBits {
                bitsStored = headerBits
                highBit = headerHigh
            }
            return GDCMImage(rows: rows, columns: columns, frames: Int(info.frames),
                             bitsAllocated: Int(info.bits_allocated), bitsStored: bitsStored,
                             highBit: highBit, pixelRepresentation: Int(info.pixel_representation),
                             samplesPerPixel: Int(info.samples_per_pixel), photometric: photometric,
                             transferSyntaxUID: uid, elements: elements, modalityLUT: lut, frame: frame, frameOmitted: omitted)
        }
    }

    static func failure(_ status: Int32, _ message: String) -> DecodingFailure {
        switch UInt32(status) {
        case CXR_DCM_NO_PIXEL_DATA.rawValue: .missingPixelData
        case CXR_DCM_UNSUPPORTED_TRANSFER_SYNTAX.rawValue: .unsupportedTransferSyntax(uid: message)
        case CXR_DCM_UNSUPPORTED_LAYOUT.rawValue: .unsupported(detail: message)
        case CXR_DCM_PIXEL_DATA_SHORT.rawValue: .truncated(detail: message)
        case CXR_DCM_NO_MEMORY.rawValue: .unsupported(detail: "out of memory: \(message)")
        default: .corrupt(detail: message.isEmpty ? "GDCM status \(status)" : message)
        }
    }
}
