import RadiographIO

/// One line of `nodules detect` / `nodules batch` JSON Lines output: the
/// stable, documented detection contract (`Pipelines/schemas/detection.schema.json`).
///
/// Coordinates are in pixels of the *input* image: `x` is the column, `y` the
/// row, pixel centres at integer coordinates. Lengths ending in `_mm` are
/// millimetres and are `null` when the pixel spacing is unknown.
public struct DetectionRecord: Codable, Sendable, Equatable {
    public var path: String
    public var patientID: String?
    /// Issuer of the patient ID (DICOM 0010,0021), when known.
    public var patientIssuer: String?
    /// `YYYY-MM-DD`.
    public var studyDate: String?
    /// Columns, px (0 when the image could not be decoded).
    public var width: Int
    /// Rows, px.
    public var height: Int
    /// Mean of row and column spacing, mm/px; `null` when unknown.
    public var pixelSpacingMM: Double?
    /// Where the spacing came from (`tag:PNG pHYs`, `manifest`, `command-line`, …) or `unknown`.
    public var spacingSource: String
    /// Lower-case hex SHA-256 of the file's bytes.
    public var imageSHA256: String?
    /// The pipeline definition that produced this record.
    public var pipeline: PipelineStamp?
    /// Candidates, highest score first.
    public var nodules: [NoduleCandidate]
    /// Remarks a reviewer should see (assumed spacing, small lung field, …).
    public var warnings: [String]
    /// `null` on success; otherwise a one-line message naming the file.
    public var error: String?
    /// Stable machine-readable error code (e.g. `decode.truncated`), `null` on success.
    public var errorCode: String?
    /// Optional extra (written only when set, by `nodules batch`): which source gave
    /// `patient_id` — `manifest`, `file` or `folder`.
    public var patientSource: String?
    /// Optional extra (written only when set, by `nodules batch`): which source gave `study_date`.
    public var dateSource: String?

    public init(path: String, patientID: String? = nil, patientIssuer: String? = nil, studyDate: String? = nil,
                width: Int, height: Int, pixelSpacingMM: Double?, spacingSource: String,
                imageSHA256: String? = nil, pipeline: PipelineStamp? = nil, nodules: [NoduleCandidate] = [],
                warnings: [String] = [], error: String? = nil, errorCode: String? = nil) {
        self.path = path
        self.patientID = patientID
        self.patientIssuer = patientIssuer
        self.studyDate = studyDate
        self.width = width
        self.height = height
        self.pixelSpacingMM = pixelSpacingMM
        self.spacingSource = spacingSource
        self.imageSHA256 = imageSHA256
        self.pipeline = pipeline
        self.nodules = nodules
        self.warnings = warnings
        self.error = error
        self.errorCode = errorCode
    }

    /// A record for a file that failed before or during detection.
    public static func failure(path: String, message: String, code: String?, pipeline: PipelineStamp?) -> DetectionRecord {
        DetectionRecord(path: path, width: 0, height: 0, pixelSpacingMM: nil, spacingSource: "unknown",
                        pipeline: pipeline, error: message, errorCode: code)
    }

    enum CodingKeys: String, CodingKey {
        case path
        case patientID = "patient_id"
        case patientIssuer = "patient_issuer"
        case studyDate = "study_date"
        case width, height
        case pixelSpacingMM = "pixel_spacing_mm"
        case spacingSource = "spacing_source"
        case imageSHA256 = "image_sha256"
        case pipeline, nodules, warnings, error
        case errorCode = "error_code"
        case patientSource = "patient_source"
        case dateSource = "date_source"
    }

    // Explicit so that `null` fields are written rather than omitted: the contract lists them.
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(path, forKey: .path)
        try c.encode(patientID, forKey: .patientID)
        try c.encodeIfPresent(patientIssuer, forKey: .patientIssuer)
        try c.encode(studyDate, forKey: .studyDate)
        try c.encode(width, forKey: .width)
        try c.encode(height, forKey: .height)
        try c.encode(pixelSpacingMM, forKey: .pixelSpacingMM)
        try c.encode(spacingSource, forKey: .spacingSource)
        try c.encode(imageSHA256, forKey: .imageSHA256)
        try c.encode(pipeline, forKey: .pipeline)
        try c.encode(nodules, forKey: .nodules)
        try c.encode(warnings, forKey: .warnings)
        try c.encode(error, forKey: .error)
        try c.encode(errorCode, forKey: .errorCode)
        try c.encodeIfPresent(patientSource, forKey: .patientSource)
        try c.encodeIfPresent(dateSource, forKey: .dateSource)
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        path = try c.decode(String.self, forKey: .path)
        patientID = try c.decodeIfPresent(String.self, forKey: .patientID)
        patientIssuer = try c.decodeIfPresent(String.self, forKey: .patientIssuer)
        studyDate = try c.decodeIfPresent(String.self, forKey: .studyDate)
        width = try c.decode(Int.self, forKey: .width)
        height = try c.decode(Int.self, forKey: .height)
        pixelSpacingMM = try c.decodeIfPresent(Double.self, forKey: .pixelSpacingMM)
        spacingSource = try c.decodeIfPresent(String.self, forKey: .spacingSource) ?? "unknown"
        imageSHA256 = try c.decodeIfPresent(String.self, forKey: .imageSHA256)
        pipeline = try c.decodeIfPresent(PipelineStamp.self, forKey: .pipeline)
        nodules = try c.decodeIfPresent([NoduleCandidate].self, forKey: .nodules) ?? []
        warnings = try c.decodeIfPresent([String].self, forKey: .warnings) ?? []
        error = try c.decodeIfPresent(String.self, forKey: .error)
        errorCode = try c.decodeIfPresent(String.self, forKey: .errorCode)
        patientSource = try c.decodeIfPresent(String.self, forKey: .patientSource)
        dateSource = try c.decodeIfPresent(String.self, forKey: .dateSource)
    }
}

/// Which pipeline definition produced a result: enough to reproduce it.
public struct PipelineStamp: Codable, Sendable, Equatable, Hashable {
    public var name: String
    public var version: String
    /// SHA-256 of the definition's canonical JSON: changes whenever any parameter does.
    public var digest: String

    public init(name: String, version: String, digest: String) {
        self.name = name
        self.version = version
        self.digest = digest
    }
}

/// A detected nodule candidate, measured.
public struct NoduleCandidate: Codable, Sendable, Equatable {
    /// A smaller circle is a *part* of a larger one (radius R) when centre distance + its radius ≤ this × R: the
    /// slack for an outline that is not a circle. The tracker's `NoduleSelection` (ExamSeries) and the detector's
    /// `heatmap.resize_border` tell parts from wholes by it.
    public static let partRadiusSlack = 1.25

    /// Centre column, px of the input image (sub-pixel).
    public var x: Double
    /// Centre row, px of the input image (sub-pixel).
    public var y: Double
    /// Diameter (mean of long and perpendicular short axis), px of the input image.
    public var diameterPx: Double
    /// The same diameter in mm; `null` when the spacing is unknown.
    public var diameterMM: Double?
    /// Calibrated likelihood 0–1 that this is a nodule (see the pipeline's score model).
    public var score: Double
    /// The named features the score was computed from.
    public var features: NoduleFeatures

    public init(x: Double, y: Double, diameterPx: Double, diameterMM: Double?, score: Double, features: NoduleFeatures) {
        self.x = x
        self.y = y
        self.diameterPx = diameterPx
        self.diameterMM = diameterMM
        self.score = score
        self.features = features
    }

    enum CodingKeys: String, CodingKey {
        case x, y
        case diameterPx = "diameter_px"
        case diameterMM = "diameter_mm"
        case score, features
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(x, forKey: .x)
        try c.encode(y, forKey: .y)
        try c.encode(diameterPx, forKey: .diameterPx)
        try c.encode(diameterMM, forKey: .diameterMM)
        try c.encode(score, forKey: .score)
        try c.encode(features, forKey: .features)
    }
}

/// Named features of a candidate, written out beside the score.
///
/// Lengths are mm at the working resolution (px-equivalents when the spacing is
/// assumed); intensities are in normalised units (body 1st–99th percentile → 0–1).
public struct NoduleFeatures: Codable, Sendable, Equatable {
    /// Mean nodule intensity above the local background, normalised units.
    public var contrast: Double
    /// Contrast divided by the local background's noise (robust SD).
    public var contrastToNoise: Double
    /// Hessian eigenvalue ratio λ_small/λ_large at the detection scale: 1 round blob, 0 ridge.
    public var blobness: Double
    /// σ²-normalised LoG response at the detection scale (bright blob positive).
    public var logResponse: Double
    /// Blob diameter implied by the detection scale, 2√2·σ, mm.
    public var scaleDiameterMM: Double
    /// Short axis ÷ long axis of the measured outline, 0–1.
    public var circularity: Double
    /// Long axis of the measured outline, mm.
    public var longAxisMM: Double
    /// Short axis perpendicular to the long axis, mm.
    public var shortAxisMM: Double
    /// Distance from the centre to the lung-field border, mm (negative outside the mask).
    public var lungDepthMM: Double
    /// Fraction of the nodule's outline inside the lung field, 0–1.
    public var insideLung: Double
    /// Local background level under the nodule, normalised intensity (lung is dark).
    public var background: Double
    /// Background gradient magnitude, normalised intensity per mm (strong near the heart and diaphragm borders).
    public var backgroundGradient: Double
    /// Correlation of the mean radial profile with a projected sphere's, −1…1.
    public var sphereFit: Double
    /// Fraction of rays that found no edge within the search radius, 0–1.
    public var openRays: Double
    /// Contrast per mm of diameter, normalised units/mm. A sphere's contrast grows
    /// with its chord, so nodules fall in a band: end-on vessels (long along the beam)
    /// lie above it, faint noise blobs below.
    public var density: Double { contrast / max(sphereFitDiameterMM, 0.1) }
    /// The measured outline's size, the mean of ``longAxisMM`` and ``shortAxisMM``, mm: the
    /// reported diameter with `diameter_method: sphere-fit`, and the size the edge is checked against.
    public var sphereFitDiameterMM: Double { 0.5 * (longAxisMM + shortAxisMM) }

    /// Convergence index: mean cosine between gradients and the direction to the centre, −1…1.
    public var convergence: Double
    /// Robust residual of the projected-sphere fit relative to its amplitude (1 if the fit failed).
    public var fitResidual: Double
    /// The pipeline's nodule-likelihood map near the centre, 0–1 (``NoduleHeatmap/peakLocation(near:windowFraction:minimumWindowPx:)``);
    /// nil when the pipeline has no map. Not a score-model input.
    public var heatmap: Double?
    /// 1 for a candidate the map proposed (``PipelineDefinition/Heatmap/proposals``): its score is made
    /// from the map and a fixed feature score, not from the score model; nil otherwise. Not a score-model input.
    public var mapProposal: Double?
    /// Equivalent-circle diameter of the map's blob at the candidate, mm (``NoduleHeatmap/blob(x:y:maximumRadius:)``:
    /// where the map exceeds half its peak, at the map's spacing); nil without a map or a blob. Not a score-model input.
    public var mapDiameterMM: Double?

    /// Features known at a scale-space maximum, before measurement: what
    /// ``PipelineDefinition/CandidateParameters/prerank`` may use.
    public static let blobStageNames = ["log_response", "blobness", "scale_diameter_mm", "lung_depth_mm"]

    /// A maximum's blob-stage features (``blobStageNames``); the measured ones are left at
    /// their defaults and must not be read.
    public static func blobStage(logResponse: Double, blobness: Double, scaleDiameterMM: Double, lungDepthMM: Double) -> NoduleFeatures {
        NoduleFeatures(contrast: 0, contrastToNoise: 0, blobness: blobness, logResponse: logResponse,
                       scaleDiameterMM: scaleDiameterMM, circularity: 0, longAxisMM: 0, shortAxisMM: 0,
                       lungDepthMM: lungDepthMM, insideLung: 0)
    }

    public init(contrast: Double, contrastToNoise: Double, blobness: Double, logResponse: Double,
                scaleDiameterMM: Double, circularity: Double, longAxisMM: Double, shortAxisMM: Double,
                lungDepthMM: Double, insideLung: Double, background: Double = 0, backgroundGradient: Double = 0,
                sphereFit: Double = 0, openRays: Double = 0, convergence: Double = 0, fitResidual: Double = 1,
                heatmap: Double? = nil, mapProposal: Double? = nil, mapDiameterMM: Double? = nil) {
        self.heatmap = heatmap
        self.mapProposal = mapProposal
        self.mapDiameterMM = mapDiameterMM
        self.convergence = convergence
        self.fitResidual = fitResidual
        self.background = background
        self.backgroundGradient = backgroundGradient
        self.sphereFit = sphereFit
        self.openRays = openRays
        self.contrast = contrast
        self.contrastToNoise = contrastToNoise
        self.blobness = blobness
        self.logResponse = logResponse
        self.scaleDiameterMM = scaleDiameterMM
        self.circularity = circularity
        self.longAxisMM = longAxisMM
        self.shortAxisMM = shortAxisMM
        self.lungDepthMM = lungDepthMM
        self.insideLung = insideLung
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case contrast
        case contrastToNoise = "contrast_to_noise"
        case blobness
        case logResponse = "log_response"
        case scaleDiameterMM = "scale_diameter_mm"
        case circularity
        case longAxisMM = "long_axis_mm"
        case shortAxisMM = "short_axis_mm"
        case lungDepthMM = "lung_depth_mm"
        case insideLung = "inside_lung"
        case background
        case backgroundGradient = "background_gradient"
        case sphereFit = "sphere_fit"
        case openRays = "open_rays"
        case density
        case convergence
        case fitResidual = "fit_residual"
        case heatmap
        case mapProposal = "map_proposal"
        case mapDiameterMM = "map_diameter_mm"
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(contrast, forKey: .contrast)
        try c.encode(contrastToNoise, forKey: .contrastToNoise)
        try c.encode(blobness, forKey: .blobness)
        try c.encode(logResponse, forKey: .logResponse)
        try c.encode(scaleDiameterMM, forKey: .scaleDiameterMM)
        try c.encode(circularity, forKey: .circularity)
        try c.encode(longAxisMM, forKey: .longAxisMM)
        try c.encode(shortAxisMM, forKey: .shortAxisMM)
        try c.encode(lungDepthMM, forKey: .lungDepthMM)
        try c.encode(insideLung, forKey: .insideLung)
        try c.encode(background, forKey: .background)
        try c.encode(backgroundGradient, forKey: .backgroundGradient)
        try c.encode(sphereFit, forKey: .sphereFit)
        try c.encode(openRays, forKey: .openRays)
        try c.encode(density, forKey: .density)
        try c.encode(convergence, forKey: .convergence)
        try c.encode(fitResidual, forKey: .fitResidual)
        try c.encodeIfPresent(heatmap, forKey: .heatmap)
        try c.encodeIfPresent(mapProposal, forKey: .mapProposal)
        try c.encodeIfPresent(mapDiameterMM, forKey: .mapDiameterMM)
    }

    /// Lenient: a missing feature reads as 0, so results from peers that
    /// write `"features": {}` can still be evaluated.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        func value(_ key: CodingKeys) throws -> Double { try c.decodeIfPresent(Double.self, forKey: key) ?? 0 }
        self.init(contrast: try value(.contrast), contrastToNoise: try value(.contrastToNoise),
                  blobness: try value(.blobness), logResponse: try value(.logResponse),
                  scaleDiameterMM: try value(.scaleDiameterMM), circularity: try value(.circularity),
                  longAxisMM: try value(.longAxisMM), shortAxisMM: try value(.shortAxisMM),
                  lungDepthMM: try value(.lungDepthMM), insideLung: try value(.insideLung),
                  background: try value(.background), backgroundGradient: try value(.backgroundGradient),
                  sphereFit: try value(.sphereFit), openRays: try value(.openRays),
                  convergence: try value(.convergence), fitResidual: try c.decodeIfPresent(Double.self, forKey: .fitResidual) ?? 1,
                  heatmap: try c.decodeIfPresent(Double.self, forKey: .heatmap),
                  mapProposal: try c.decodeIfPresent(Double.self, forKey: .mapProposal),
                  mapDiameterMM: try c.decodeIfPresent(Double.self, forKey: .mapDiameterMM))
    }

    /// The map's figures about a candidate, recorded but never a score-model input.
    static let mapKeys: Set<CodingKeys> = [.heatmap, .mapProposal, .mapDiameterMM]

    /// The JSON names of the features a score model may use (not ``mapKeys``).
    public static let names = CodingKeys.allCases.filter { !mapKeys.contains($0) }.map(\.rawValue)

    /// Feature values by their JSON names, for the score model.
    public var named: [String: Double] {
        ["contrast": contrast, "contrast_to_noise": contrastToNoise, "blobness": blobness,
         "log_response": logResponse, "scale_diameter_mm": scaleDiameterMM, "circularity": circularity,
         "long_axis_mm": longAxisMM, "short_axis_mm": shortAxisMM, "lung_depth_mm": lungDepthMM,
         "inside_lung": insideLung, "background": background, "background_gradient": backgroundGradient,
         "sphere_fit": sphereFit, "open_rays": openRays, "density": density,
         "convergence": convergence, "fit_residual": fitResidual]
    }
}
