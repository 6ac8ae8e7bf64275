/// How DICOM pixel data reaches GDCM.
public enum DICOMIsolation: Sendable, Equatable {
    /// In a `nodules-dicom-worker` child process, killed after `timeoutSeconds`
    /// (the default, for untrusted files: a GDCM abort or hang costs one file).
    case worker(timeoutSeconds: Double)
    /// In this process. Only for trusted files and for measuring the isolation's cost:
    /// a GDCM assertion on a damaged file aborts the whole process.
    case inProcess

    public static let defaultTimeoutSeconds = 20.0
    public static let `default` = DICOMIsolation.worker(timeoutSeconds: defaultTimeoutSeconds)
}

/// DICOM decoding: structural preflight (this process) → GDCM (worker or in
/// process) → pixel semantics and metadata (this process).
enum DICOMCodec {
    static func decode(_ bytes: [UInt8], path: String, options: DecodeOptions) throws -> (DecodedPixels, DICOMAttributes) {
        func fail(_ failure: DecodingFailure) -> RadiographError { .decode(path: path, format: .dicom, failure) }
        let preflight: DICOMPreflight
        do {
            preflight = try DICOMPreflight.scan(bytes, maxInflatedBytes: DICOMPreflight.maxInflatedBytes(maxPixels: options.maxPixels))
        } catch let error as DecodingFailure { throw fail(error) }
        if let p = preflight.pixelData, let rows = p.rows, let columns = p.columns, rows * columns > options.maxPixels {
            throw fail(.tooLarge(width: columns, height: rows, limitPixels: options.maxPixels))
        }

        // Native Pixel Data the walk located in the file (not in a deflated stream): GDCM reads the attributes
        // but need not copy the frame out (and a worker need not send megabytes back); it is taken from `bytes` below.
        let nativeValueOffset = preflight.pixelData?.valueOffset
        var image: GDCMImage
        do {
            switch options.dicomIsolation {
            case .inProcess:
                image = try GDCMBridge.decode(bytes, maxPixels: options.maxPixels, nativeFrame: nativeValueOffset == nil)
            case .worker(let timeout):
                image = try DICOMWorkerPool.shared.decode(bytes, maxPixels: options.maxPixels, timeoutSeconds: timeout,
                                                          nativeFrame: nativeValueOffset == nil)
            }
        } catch let error as DecodingFailure {
            throw fail(error)
        }
        if image.frameOmitted {
            let frameBytes = image.rows * image.columns * image.samplesPerPixel * (image.bitsAllocated / 8)
            guard let start = nativeValueOffset, let declared = preflight.pixelData?.declaredBytes, frameBytes <= declared,
                  start + frameBytes <= bytes.count else {
                throw fail(.corrupt(detail: "Pixel Data holds fewer bytes than GDCM's \(image.rows) × \(image.columns) image needs"))
            }
            image.frame = Array(bytes[start..<(start + frameBytes)])
            if preflight.transferSyntaxUID == DICOMTransferSyntax.explicitBigEndian.uid && image.bitsAllocated == 16 {
                image.frame.withUnsafeMutableBytes { raw in  // to host (little-endian) order, as GDCM delivers it
                    for i in 0..<(frameBytes / 2) {
                        raw.storeBytes(of: UInt16(bigEndian: raw.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self)),
                                       toByteOffset: 2 * i, as: UInt16.self)
                    }
                }
            }
        }
        do { return try interpret(image, preflight: preflight) } catch let error as DecodingFailure { throw fail(error) }
    }

    /// Pixel semantics and metadata from GDCM's raw output.
    static func interpret(_ image: GDCMImage, preflight: DICOMPreflight) throws -> (DecodedPixels, DICOMAttributes) {
        guard let syntax = DICOMTransferSyntax(uid: image.transferSyntaxUID) else {
            throw DecodingFailure.unsupportedTransferSyntax(uid: image.transferSyntaxUID)
        }
        let charset = image.elements[GDCMBridge.Tag.specificCharacterSet].map { DICOMText.trimmed(ascii: $0) }
        func text(_ tag: UInt32) -> String? { image.elements[tag].flatMap { DICOMText.decode($0, characterSet: charset) } }
        func ascii(_ tag: UInt32) -> String? { image.elements[tag].flatMap { DICOMText.nonEmpty(ascii: $0) } }
        func numbers(_ tag: UInt32) -> [Double]? {
            guard let s = ascii(tag) else { return nil }
            let values = s.split(separator: "\\").map { Double(DICOMText.trim(String($0))) }
            return values.allSatisfy { $0 != nil && $0!.isFinite } ? values.map { $0! } : nil
        }

        var notes: [String] = []
        let photometricText = ascii(GDCMBridge.Tag.photometricInterpretation) ?? image.photometric
        var photometric: PhotometricInterpretation
        switch photometricText {
        case "MONOCHROME1": photometric = .monochrome1
        case "MONOCHROME2": photometric = .monochrome2
        default:
            throw DecodingFailure.unsupported(detail: "Photometric Interpretation \(photometricText.isEmpty ? "(missing)" : photometricText) with \(image.samplesPerPixel) sample(s) per pixel; radiographs are MONOCHROME1/2")
        }
        // Presentation LUT Shape (2050,0020) INVERSE on MONOCHROME2 data (some CR systems): the image
        // is displayed inverted, high values lucent, so it is read as MONOCHROME1. (On MONOCHROME1,
        // INVERSE is the standard pairing for DX and changes nothing.)
        if photometric == .monochrome2, ascii(GDCMBridge.Tag.presentationLUTShape)?.uppercased() == "INVERSE" {
            photometric = .monochrome1
            notes.append("Presentation LUT Shape INVERSE on MONOCHROME2 data: read as MONOCHROME1 (high values lucent), as it is displayed")
        }
        guard image.samplesPerPixel == 1 else {
            throw DecodingFailure.unsupported(detail: "\(image.samplesPerPixel) samples per pixel; radiographs have 1")
        }
        guard image.bitsAllocated == 8 || image.bitsAllocated == 16 else {
            throw DecodingFailure.unsupported(detail: "Bits Allocated \(image.bitsAllocated); only 8 and 16 are supported")
        }
        let bitsStored = image.bitsStored, highBit = image.highBit
        guard (1...image.bitsAllocated).contains(bitsStored), highBit < image.bitsAllocated, highBit + 1 >= bitsStored else {
            throw DecodingFailure.corrupt(detail: "Bits Stored \(bitsStored) and High Bit \(highBit) do not fit Bits Allocated \(image.bitsAllocated)")
        }
        let pixelCount = image.rows * image.columns
        let bytesPer = image.bitsAllocated / 8
        guard image.frame.count >= pixelCount * bytesPer else {
            throw DecodingFailure.truncated(detail: "decoder returned \(image.frame.count) bytes for \(pixelCount) pixels")
        }
        if image.frames > 1 {
            notes.append("multi-frame (\(image.frames) frames): only frame 1 decoded")
        }

        // Stored values: bits [highBit − bitsStored + 1, highBit], sign-extended from Bits Stored when signed
        // (GDCM does not sign-extend e.g. 13-bit signed data).
        let signed = image.pixelRepresentation == 1
        let shift = highBit + 1 - bitsStored
        let mask = (1 << bitsStored) - 1
        let lowest = signed ? -(1 << (bitsStored - 1)) : 0
        let highest = signed ? (1 << (bitsStored - 1)) - 1 : mask
        let encapsulated = syntax.isEncapsulated
        // Native values above the low bits (High Bit > Bits Stored − 1) reach us intact only from the file's own
        // bytes (``GDCMImage/frameOmitted``; not for a deflated data set): GDCM keeps the low Bits Stored bits.
        if !encapsulated && shift > 0 && !image.frameOmitted {
            throw DecodingFailure.unsupported(detail: "High Bit \(highBit) with Bits Stored \(bitsStored) (values above the low bits) in transfer syntax \(syntax.name)")
        }

        // Modality transform, folded into a lossless UInt16 sample + linear mapping (see DICOMAttributes.ModalityMapping),
        // chosen before the pass over the pixels so that each stored value becomes its sample at once.
        enum SampleMap {
            case lookupTable(data: [UInt16], firstMapped: Int, mask: UInt16)
            case fromLowest   // stored − lowest (rescale slope > 0, or none)
            case fromHighest  // highest − stored (negative slope: flipped)
        }
        let sampleMap: SampleMap
        let outputBits: Int
        let mapping: DICOMAttributes.ModalityMapping
        var mappingNote: String?  // noted after the pass, after any clamping note
        if let lut = image.modalityLUT, !lut.data.isEmpty {
            let bits = (1...16).contains(lut.bits) ? lut.bits : 16
            sampleMap = .lookupTable(data: lut.data, firstMapped: lut.firstMapped, mask: UInt16(truncatingIfNeeded: (1 << bits) - 1))
            outputBits = bits
            mapping = .init(scale: 1, offset: 0, kind: .lookupTable)
            if image.elements[GDCMBridge.Tag.rescaleSlope] != nil { mappingNote = "Modality LUT used; Rescale Slope/Intercept ignored" }
        } else {
            let slope = numbers(GDCMBridge.Tag.rescaleSlope)?.first ?? 1
            let intercept = numbers(GDCMBridge.Tag.rescaleIntercept)?.first ?? 0
            let hasRescale = image.elements[GDCMBridge.Tag.rescaleSlope] != nil || image.elements[GDCMBridge.Tag.rescaleIntercept] != nil
            guard slope != 0 else { throw DecodingFailure.corrupt(detail: "Rescale Slope is 0") }
            if slope > 0 {
                sampleMap = .fromLowest
                mapping = .init(scale: slope, offset: Double(lowest) * slope + intercept, kind: hasRescale ? .rescale : .identity)
            } else {
                sampleMap = .fromHighest
                mapping = .init(scale: -slope, offset: Double(highest) * slope + intercept, kind: .rescale)
                mappingNote = "negative Rescale Slope \(slope): samples flipped so they increase with the modality value"
            }
            outputBits = bitsStored
        }

        // One pass: the stored value of each pixel, then its sample.
        var clamped = 0
        let samples: [UInt16] = image.frame.withUnsafeBytes { raw in
            [UInt16](unsafeUninitializedCapacity: pixelCount) { out, count in
                // Native data: mask (bits above High Bit may hold overlays) and sign-extend. Codec output
                // (encapsulated) has no overlay bits but may overshoot the range when lossy: read it as a
                // 16-bit signed word (bitsStored < 16), sign-extend when it is not yet, and clamp.
                func stored(_ i: Int) -> Int {
                    let word = bytesPer == 2 ? Int(raw.load(fromByteOffset: 2 * i, as: UInt16.self)) : Int(raw[i])
                    var v: Int
                    if encapsulated && shift == 0 {
                        v = bytesPer == 2 && bitsStored < 16 ? Int(Int16(truncatingIfNeeded: word)) : word
                        if signed && v > highest && v <= mask { v -= 1 << bitsStored }
                        if v < lowest || v > highest {
                            v = min(max(v, lowest), highest)
                            clamped += 1
                        }
                    } else {
                        v = (word >> shift) & mask
                        if signed && v > highest { v -= 1 << bitsStored }
                    }
                    return v
                }
                switch sampleMap {
                case let .lookupTable(data, firstMapped, lutMask):
                    let last = data.count - 1
                    data.withUnsafeBufferPointer { table in
                        for i in 0..<pixelCount { out[i] = table[min(max(stored(i) - firstMapped, 0), last)] & lutMask }
                    }
                case .fromLowest:
                    for i in 0..<pixelCount { out[i] = UInt16(truncatingIfNeeded: stored(i) - lowest) }
                case .fromHighest:
                    for i in 0..<pixelCount { out[i] = UInt16(truncatingIfNeeded: highest - stored(i)) }
                }
                count = pixelCount
            }
        }
        if clamped > 0 { notes.append("\(clamped) decoded value(s) outside the \(bitsStored)-bit range clamped (codec overshoot)") }
        if let mappingNote { notes.append(mappingNote) }

        // Spacing precedence (shared/domain.md): Pixel Spacing, then Imager Pixel Spacing ÷ ERMF,
        // then Imager Pixel Spacing at the detector plane, then a digitised film's Nominal Scanned
        // Pixel Spacing (at the film), then unknown.
        func plausible(_ v: [Double]?) -> (Double, Double)? {
            guard let v, v.count >= 1 else { return nil }
            let row = v[0], column = v.count >= 2 ? v[1] : v[0]
            return row > 0 && column > 0 && row < 10 && column < 10 ? (row, column) : nil
        }
        var spacing: PixelSpacing?
        let ps = numbers(GDCMBridge.Tag.pixelSpacing), ips = numbers(GDCMBridge.Tag.imagerPixelSpacing)
        if ps != nil && plausible(ps) == nil { notes.append("Pixel Spacing '\(ascii(GDCMBridge.Tag.pixelSpacing) ?? "")' ignored (not two positive mm values below 10)") }
        if let (r, c) = plausible(ps) {
            spacing = PixelSpacing(row: r, column: c, source: .dicomPixelSpacing)
        } else if let (r, c) = plausible(ips) {
            if let m = numbers(GDCMBridge.Tag.estimatedMagnification)?.first, m >= 1, m < 10 {
                spacing = PixelSpacing(row: r / m, column: c / m, source: .dicomImagerPixelSpacingCorrected(magnification: m))
            } else {
                spacing = PixelSpacing(row: r, column: c, source: .dicomImagerPixelSpacingDetector)
                notes.append("spacing is Imager Pixel Spacing at the detector plane (no magnification factor): objects measure about 5–15 % too large")
            }
        } else if let (r, c) = plausible(numbers(GDCMBridge.Tag.nominalScannedPixelSpacing)) {
            spacing = PixelSpacing(row: r, column: c, source: .dicomNominalScannedPixelSpacing)
            notes.append("spacing is Nominal Scanned Pixel Spacing (a digitised film, at the film): objects measure about 5–15 % too large")
        }

        var patient: PatientIdentity?
        if let id = text(GDCMBridge.Tag.patientID) {
            patient = PatientIdentity(id: id, issuer: text(GDCMBridge.Tag.issuerOfPatientID))
        }
        let dateText = ascii(GDCMBridge.Tag.studyDate)
        let studyDate = dateText.flatMap { StudyDate($0) }
        if let dateText, studyDate == nil { notes.append("Study Date '\(dateText)' is not a valid YYYYMMDD date; ignored") }
        if syntax.isLossy { notes.append("lossy transfer syntax (\(syntax.name)): pixels may differ from the acquisition") }
        if preflight.transferSyntaxInferred { notes.append("no File Meta Information; transfer syntax taken as \(syntax.name)") }

        let attributes = DICOMAttributes(
            transferSyntax: syntax, studyInstanceUID: ascii(GDCMBridge.Tag.studyInstanceUID),
            seriesInstanceUID: ascii(GDCMBridge.Tag.seriesInstanceUID), sopInstanceUID: ascii(GDCMBridge.Tag.sopInstanceUID),
            modality: ascii(GDCMBridge.Tag.modality), viewPosition: ascii(GDCMBridge.Tag.viewPosition),
            numberOfFrames: image.frames, storedBits: bitsStored, storedSigned: signed, modalityMapping: mapping)
        notes += attributes.acquisitionNotes
        var decoded = DecodedPixels(
            width: image.columns, height: image.rows, bitsStored: outputBits, samples: samples,
            photometric: photometric, pixelSpacing: spacing,
            storedLayout: "\(syntax.name), \(signed ? "signed" : "unsigned") \(bitsStored)/\(image.bitsAllocated)-bit",
            notes: notes)
        decoded.patient = patient
        decoded.studyDate = studyDate
        return (decoded, attributes)
    }
}
