/// Who the exams belong to. Serial tracking keys on (issuer, patient ID):
/// DICOM Issuer of Patient ID (0010,0021) and Patient ID (0010,0020).
public struct PatientKey: Hashable, Comparable, Sendable {
    /// Issuer of Patient ID (0010,0021); empty when unknown.
    public var issuer: String
    /// Patient ID (0010,0020).
    public var patientID: String

    public init(issuer: String = "", patientID: String) {
        self.issuer = issuer
        self.patientID = patientID
    }

    public static func < (a: PatientKey, b: PatientKey) -> Bool { (a.issuer, a.patientID) < (b.issuer, b.patientID) }
}

/// One nodule as measured on one exam: position and size in millimetres.
///
/// Coordinates are in the exam's own image plane, in mm from the top-left
/// corner of the image (x to the right, y down), at the exam's pixel spacing.
/// They are mapped into the reference exam's frame by the exam's
/// ``RegistrationResult`` before matching.
public struct MeasuredNodule: Hashable, Sendable {
    /// Centre, mm from the left edge.
    public var xMM: Double
    /// Centre, mm from the top edge.
    public var yMM: Double
    /// Diameter, mm: the mean of the long axis and the perpendicular short axis.
    public var diameterMM: Double
    /// 1-σ uncertainty of the sizing fit itself, mm, when the detector reports one.
    public var diameterUncertaintyMM: Double?
    /// Long axis, mm, when the detector reports it (FHIR: LOINC 33728-7, maximum dimension).
    public var longAxisMM: Double?
    /// Free-form reference back to the measurement (e.g. a store row id or file path).
    public var sourceReference: String?
    /// Where the diameter comes from, when the caller says (written as the observation's `sizing`).
    public var sizing: NoduleSizing?
    /// Centre in px of the exam's own image (column, row; the centre of pixel 0 is 0.0), when the caller knows it
    /// (written as the observation's `x` and `y`, as in the detection records).
    public var xPx: Double?
    public var yPx: Double?
    /// The detector's 0–1 score of the detection this nodule is, when it is one (unitless; nil for a
    /// nodule measured again where nothing was detected, or when the caller did not say).
    public var detectionScore: Double?

    public init(xMM: Double, yMM: Double, diameterMM: Double, diameterUncertaintyMM: Double? = nil,
                longAxisMM: Double? = nil, sourceReference: String? = nil, sizing: NoduleSizing? = nil,
                xPx: Double? = nil, yPx: Double? = nil, detectionScore: Double? = nil) {
        precondition(diameterMM > 0 && diameterMM.isFinite, "a diameter is a positive number of mm")
        self.xMM = xMM
        self.yMM = yMM
        self.diameterMM = diameterMM
        self.diameterUncertaintyMM = diameterUncertaintyMM
        self.longAxisMM = longAxisMM
        self.sourceReference = sourceReference
        self.sizing = sizing
        self.xPx = xPx
        self.yPx = yPx
        self.detectionScore = detectionScore
    }
}

/// How a followed nodule's diameter on one exam was obtained.
public enum NoduleSizing: String, Hashable, Sendable, CaseIterable {
    /// The detector's own measurement of a detection it reported on this exam.
    case detection
    /// Measured at the registered place of another exam's nodule, where no detection was followed.
    case measuredAgain = "measured-again"
    /// Measured again from the track's common start size (`--remeasure-tracks`).
    case commonStart = "common-start"
}

/// All nodules measured on one exam, independent of how they were detected or stored.
public struct ExamMeasurements: Hashable, Sendable {
    /// Unique within the patient (e.g. Study Instance UID).
    public var examID: String
    /// Study Date (0008,0020).
    public var studyDate: CalendarDate
    /// Pixel spacing at which the diameters were measured, mm/px; nil when unknown.
    public var pixelSpacingMM: Double?
    public var nodules: [MeasuredNodule]
    /// Maps this exam's mm coordinates into the reference exam's frame. nil means
    /// the coordinates are already in the reference frame (the reference exam itself,
    /// or measurements registered upstream).
    public var registration: RegistrationResult?

    public init(examID: String, studyDate: CalendarDate, pixelSpacingMM: Double? = nil,
                nodules: [MeasuredNodule], registration: RegistrationResult? = nil) {
        self.examID = examID
        self.studyDate = studyDate
        self.pixelSpacingMM = pixelSpacingMM
        self.nodules = nodules
        self.registration = registration
    }
}

/// The per-measurement diameter uncertainty model.
///
/// σ_D = max(floor, √(σ_fit² + (k · spacing)²)), mm, where σ_fit is the sizing
/// fit's own 1-σ (``MeasuredNodule/diameterUncertaintyMM``) and `spacing` the
/// pixel spacing at which the diameter was measured: each of the two edges that
/// define a diameter is located to about ±½ px, so k = 1 px by default. When
/// neither is known, ``defaultSigmaMM`` applies. On the log-volume scale
/// (V ∝ D³), σ_lnV = 3 · σ_D / D (first-order propagation).
public struct DiameterUncertaintyModel: Hashable, Sendable, Codable {
    /// k, in pixels of the measurement spacing.
    public var pixelsPerEdgePair: Double
    /// σ_D when neither the fit nor the spacing is known, mm.
    public var defaultSigmaMM: Double
    /// Lower bound on σ_D, mm (no radiograph measurement is better than this).
    public var floorMM: Double

    public init(pixelsPerEdgePair: Double = 1, defaultSigmaMM: Double = 1.0, floorMM: Double = 0.2) {
        self.pixelsPerEdgePair = pixelsPerEdgePair
        self.defaultSigmaMM = defaultSigmaMM
        self.floorMM = floorMM
    }

    /// σ_D, mm, for one measurement.
    public func sigmaMM(fitSigmaMM: Double?, pixelSpacingMM: Double?) -> Double {
        if fitSigmaMM == nil && pixelSpacingMM == nil { return max(floorMM, defaultSigmaMM) }
        let fit = fitSigmaMM ?? 0
        let grid = (pixelSpacingMM ?? 0) * pixelsPerEdgePair
        return max(floorMM, (fit * fit + grid * grid).squareRoot())
    }
}
