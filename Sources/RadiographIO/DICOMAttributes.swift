/// What a DICOM file says beyond pixels and spacing. Attached to
/// `Radiograph.dicom` for DICOM sources only.
///
/// Source: DICOM PS3.3 C.7.1.1 (Patient), C.7.2.1 (General Study), C.7.3.1
/// (General Series), C.8.11.3/C.8.11.7 (DX Image / DX Positioning), C.11.1
/// (Modality LUT).
public struct DICOMAttributes: Sendable, Equatable, Codable {
    public var transferSyntax: DICOMTransferSyntax
    /// Study Instance UID (0020,000D).
    public var studyInstanceUID: String?
    /// Series Instance UID (0020,000E).
    public var seriesInstanceUID: String?
    /// SOP Instance UID (0008,0018).
    public var sopInstanceUID: String?
    /// Modality (0008,0060), e.g. "CR", "DX".
    public var modality: String?
    /// View Position (0018,5101), e.g. "PA", "AP", "LL".
    public var viewPosition: String?
    /// Number of Frames (0028,0008); only frame 1 is decoded (see README).
    public var numberOfFrames: Int
    /// Bits Stored (0028,0101) and Pixel Representation (0028,0103) of the stored values.
    public var storedBits: Int
    public var storedSigned: Bool
    /// How samples relate to modality values (after Rescale or Modality LUT).
    public var modalityMapping: ModalityMapping

    public init(transferSyntax: DICOMTransferSyntax, studyInstanceUID: String? = nil, seriesInstanceUID: String? = nil,
                sopInstanceUID: String? = nil, modality: String? = nil, viewPosition: String? = nil,
                numberOfFrames: Int = 1, storedBits: Int, storedSigned: Bool, modalityMapping: ModalityMapping) {
        self.transferSyntax = transferSyntax
        self.studyInstanceUID = studyInstanceUID
        self.seriesInstanceUID = seriesInstanceUID
        self.sopInstanceUID = sopInstanceUID
        self.modality = modality
        self.viewPosition = viewPosition
        self.numberOfFrames = numberOfFrames
        self.storedBits = storedBits
        self.storedSigned = storedSigned
        self.modalityMapping = modalityMapping
    }

    /// `modality value = Double(sample) × scale + offset`, exactly.
    ///
    /// NoduleKit keeps samples lossless in `UInt16`: for Rescale Slope/Intercept
    /// the sample is the stored value shifted so the smallest *representable*
    /// stored value (from Bits Stored and Pixel Representation, not from the
    /// image's content) becomes 0 — so signed data becomes offset binary and the
    /// range still fits in `bitsStored` — and the slope and intercept are folded
    /// into `scale` and `offset`. A negative slope is folded as a flip, so
    /// samples always increase with the modality value. For a Modality LUT the
    /// sample is the LUT output (`scale` 1, `offset` 0).
    public struct ModalityMapping: Sendable, Equatable, Codable {
        public var scale: Double
        public var offset: Double
        public var kind: Kind

        public enum Kind: String, Sendable, Equatable, Codable {
            /// No Rescale tags and no LUT: identity rescale.
            case identity
            /// Rescale Slope (0028,1053) and Intercept (0028,1052).
            case rescale
            /// Modality LUT Sequence (0028,3000).
            case lookupTable = "lut"
        }

        public init(scale: Double, offset: Double, kind: Kind) {
            self.scale = scale
            self.offset = offset
            self.kind = kind
        }

        public func modalityValue(_ sample: UInt16) -> Double { Double(sample) * scale + offset }
    }
}

extension DICOMAttributes {
    /// Modality (0008,0060) values of a projection radiograph: computed (CR) and digital (DX)
    /// radiography, conventional film (RG), and OT, which digitised films often carry.
    public static let radiographModalities: Set<String> = ["CR", "DX", "RG", "OT"]
    /// View Position (0018,5101) values of a frontal chest radiograph (PS3.3 C.8.11.7: PA, AP;
    /// the others are lateral, decubitus and oblique views: LL, RL, LLD, RLD, LLO, RLO).
    public static let frontalViews: Set<String> = ["PA", "AP"]

    /// Modality and View Position, which say whether the file is a frontal projection radiograph.
    public var acquisition: DICOMAcquisition { DICOMAcquisition(modality: modality, viewPosition: viewPosition) }

    /// Warnings for a file that is not a frontal projection radiograph by its own tags
    /// (``DICOMAcquisition/notes``).
    public var acquisitionNotes: [String] { acquisition.notes }
}

/// Modality (0008,0060) and View Position (0018,5101) of a DICOM file: what says whether it is a
/// frontal projection radiograph. Read with the pixels (``DICOMAttributes/acquisition``) or from
/// the header alone (``RadiographReader/dicomAcquisition(of:)``), and judged by one rule.
public struct DICOMAcquisition: Sendable, Equatable {
    public var modality: String?
    public var viewPosition: String?

    public init(modality: String? = nil, viewPosition: String? = nil) {
        self.modality = modality
        self.viewPosition = viewPosition
    }

    /// Warnings for a file that is not a frontal projection radiograph by its own tags: its
    /// Modality is another (CT, MR, MG, …) or its View Position is not PA or AP. The lung field,
    /// the detector and its score are made for frontal chest radiographs; on anything else their
    /// results are not meaningful. An absent tag says nothing, and gives no warning.
    public var notes: [String] {
        var notes: [String] = []
        if let modality, !modality.isEmpty, !DICOMAttributes.radiographModalities.contains(modality.uppercased()) {
            notes.append("Modality '\(modality)' is not a projection radiograph (CR, DX, RG, or OT as digitised film carries): "
                         + "NoduleKit is made for frontal chest radiographs, and its results on this image are not meaningful")
        }
        if let view = viewPosition, !view.isEmpty, !DICOMAttributes.frontalViews.contains(view.uppercased()) {
            notes.append("View Position '\(view)' is not frontal (PA or AP): the lung field and the detector are made for frontal "
                         + "chest radiographs, and their results on this view are not meaningful")
        }
        return notes
    }
}
