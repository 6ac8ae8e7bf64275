import Crypto
import Foundation

/// Every parameter of detection, as a named, versioned definition loaded from
/// `Pipelines/NAME.json`. Results carry its `stamp` so runs can be reproduced
/// and compared; the stamp's digest changes whenever any parameter does.
public struct PipelineDefinition: Codable, Sendable, Equatable {
    public var name: String
    /// Semantic version of the definition (bump on any parameter change).
    public var version: String
    public var description: String
    public var normalisation: Normalisation
    public var lungField: LungFieldParameters
    public var candidates: CandidateParameters
    public var measurement: MeasurementParameters
    public var score: ScoreModel
    /// A learned nodule-likelihood map that scores the candidates again (`cxr-nodules` from 0.17.0,
    /// `cxr-nodules-heatmap`; nil: the score model alone, as in `cxr-nodules-classical`).
    public var heatmap: Heatmap?

    /// ``heatmap``: the network and how its map makes a candidate's score.
    public struct Heatmap: Codable, Sendable, Equatable {
        /// `replace`: the score is the map's largest probability near the candidate's centre;
        /// `geometric-mean`: √(that × the score model's probability), or with ``mapWeight`` w,
        /// that^w × the probability^(1 − w).
        public var combine: String
        /// From `cxr-nodules` 0.27.0: the map's weight w, 0–1, in the `geometric-mean` combination
        /// (peak^w · probability^(1 − w)); absent, ½ (the square root of the product).
        public var mapWeight: Double?
        /// Half-width of the square searched around the centre, as a fraction of the measured radius.
        public var windowFraction: Double
        /// Smallest half-width of that square, map px.
        public var minimumWindowPx: Double
        /// The network (`nodulekit-unet-1`, batch norm folded), with what it was fitted on.
        public var network: NoduleHeatmapNetwork
        /// From `cxr-nodules-heatmap` 0.3.0: sizing from the map. A reported candidate whose diameter
        /// differs from the map blob's (equivalent circle of the connected region above half the map's
        /// peak near it) by more than this |ln ratio| is measured again starting from the blob's size;
        /// that diameter is reported if it is within the ratio of the blob's, else the blob's own.
        /// Absent (earlier definitions): sizes are the measurement's alone.
        public var resizeLogRatio: Double?
        /// Opt-in (session 36; no shipped definition sets it): the map's size where the measurement took a
        /// part of the nodule (``MapSizing``). Absent: the measured size stands. On the eight held-out sets
        /// `{"log_ratio": 0.25, "minimum_diameter_mm": 16}` brings the hits' size error from 1.28 / 7.85 to
        /// 1.23 / 6.31 mm (median / p90) but gives the tracker 29 confidently wrong statuses against 23 (README).
        public var mapSizing: MapSizing?

        /// ``Heatmap/mapSizing``: a reported candidate whose diameter is smaller than its map blob's
        /// (``NoduleFeatures/mapDiameterMM``: the equivalent circle of the connected region above half the
        /// map's peak near it, at the map's spacing) by more than ``logRatio``, where the blob is at least
        /// ``minimumDiameterMM`` across and the candidate's centre lies within half the blob's radius of the
        /// blob's centroid, reports the blob's diameter (within the candidate size range) at its own centre.
        /// Applied last, after the map's scoring, re-sizing and proposals, so which candidates are reported,
        /// where and with what score is unchanged; the features stay the measurement's.
        public struct MapSizing: Codable, Sendable, Equatable {
            /// ln(blob diameter / measured diameter) beyond which the blob's is reported, (0, 3].
            public var logRatio: Double
            /// Smallest blob diameter, mm, that sizes a candidate: the map (2 mm/px, blurred by the network)
            /// runs large on small nodules.
            public var minimumDiameterMM: Double

            public init(logRatio: Double, minimumDiameterMM: Double) {
                self.logRatio = logRatio
                self.minimumDiameterMM = minimumDiameterMM
            }

            enum CodingKeys: String, CodingKey {
                case logRatio = "log_ratio"
                case minimumDiameterMM = "minimum_diameter_mm"
            }
        }
        /// From `cxr-nodules` 0.17.0: the network runs only over the bounding box of the squares the
        /// map is read in around the reported candidates, widened by this much context each side, mm,
        /// its sides multiples of 8 px (``NoduleHeatmap/Grid/region(covering:contextPx:)``). The map
        /// there differs slightly from the whole image's: through the zero padding at the box's edges
        /// (which the network saw at its training crops' edges), and because on a side that is not a
        /// multiple of 8 px the network's upsampling ratio is not exactly 2. Absent: the whole image.
        public var contextMM: Double?
        /// From `cxr-nodules` 0.18.0: `true`, the map scores every measured candidate (up to
        /// `candidates.maximum_candidates`, after the measured outlines' suppression) and the
        /// `candidates.maximum_reported` best by the combined score are reported; absent or `false`,
        /// the score model picks the reported ones and the map only orders them again.
        public var scoresMeasured: Bool?
        /// With ``resizeLogRatio``: `true`, a candidate whose size disagrees with its map blob's is
        /// measured again from the blob's centroid (not from its own centre) and the blob's size, and
        /// where that measurement agrees with the blob's size within the ratio, the candidate moves to the
        /// measured centre and takes its size (a part of a larger nodule becomes the nodule); otherwise
        /// it stays as measured. Candidates that then coincide are suppressed as the measured ones are.
        public var resizeRecentres: Bool?
        /// With ``resizeRecentres``: `true` moves a *part* (a candidate smaller than its map blob) whose measurement
        /// from the blob does not confirm the blob's size to the blob's border
        /// (``NoduleMeasurement/border(_:x:y:radius:parameters:spacingMM:)``, as ``Proposals/edgeSizing`` sizes
        /// proposals) where the border confirms the blob's size and the part's measured circle lies inside the
        /// border's (centre distance + part radius ≤ ``NoduleCandidate/partRadiusSlack`` (1.25) × border radius).
        /// A candidate larger than its blob is never moved this way. From `cxr-nodules` 0.26.0. Absent or `false`:
        /// it stays as measured.
        public var resizeBorder: Bool?
        /// From `cxr-nodules` 0.19.0: `true`, the map is the mean of the network's probabilities on the
        /// image and on its left–right mirror image (mirrored back), a test-time augmentation that costs
        /// a second pass of the network; absent or `false`, one pass.
        public var mirrorAveraged: Bool?
        /// From `cxr-nodules` 0.22.0: the map also proposes candidates of its own, where the scale-space
        /// candidates left a nodule-like region of the map unclaimed (``Proposals``), looked for wherever the
        /// network runs: the whole image (0.22.0), or with ``contextMM`` the reported candidates' box plus
        /// that context (0.23.0). Absent: the map only scores the measured candidates.
        public var proposals: Proposals?
        /// From `cxr-nodules` 0.25.0: further networks of ``network``'s format, spacing and normalisation
        /// (trained alike on other seeds). The map is the mean of every network's probabilities (each
        /// mirror-averaged with ``mirrorAveraged``), ``network``'s first: an ensemble, one more pass (two
        /// with ``mirrorAveraged``) per network. Absent: ``network`` alone.
        public var ensemble: [NoduleHeatmapNetwork]?
        /// From `cxr-nodules` 0.28.0: a test-time augmentation over scale. Each pass runs every network
        /// (mirror-averaged as the map's own pass, unless ``RescaledPass/mirrorAveraged`` says otherwise) on the whole working image
        /// area-averaged to the networks' spacing × `spacing_factor` (a finer factor shows a nodule larger
        /// than the map's own pass does), resamples its probabilities bilinearly onto the map's grid and
        /// mixes them in: map = (1 − Σ weight) · map + Σ weight · pass. Absent: the map's own pass alone.
        public var rescaledPasses: [RescaledPass]?

        /// One pass of ``Heatmap/rescaledPasses``.
        public struct RescaledPass: Codable, Sendable, Equatable {
            /// The pass's spacing over the networks' spacing (0.8: 1.6 mm/px for 2.0 mm/px networks).
            public var spacingFactor: Double
            /// Its share of the map, 0–1 (the shares of all passes sum to less than 1).
            public var weight: Double
            /// `false`: the pass runs each network once, unmirrored, whatever ``Heatmap/mirrorAveraged`` says (half
            /// the cost). Absent: as the map's own pass.
            public var mirrorAveraged: Bool?
            /// `true`: the pass runs only over the part of its image under the map's region (with ``Heatmap/contextMM``,
            /// the candidates' box plus that context; one pass pixel wider each side, its sides multiples of 8 px), as
            /// the map's own pass does (from `cxr-nodules` 0.28.1). Absent or `false`: over the whole image (0.28.0).
            public var withinMapRegion: Bool?

            public init(spacingFactor: Double, weight: Double, mirrorAveraged: Bool? = nil, withinMapRegion: Bool? = nil) {
                self.spacingFactor = spacingFactor
                self.weight = weight
                self.mirrorAveraged = mirrorAveraged
                self.withinMapRegion = withinMapRegion
            }

            enum CodingKeys: String, CodingKey {
                case spacingFactor = "spacing_factor"
                case weight
                case mirrorAveraged = "mirror_averaged"
                case withinMapRegion = "within_map_region"
            }
        }

        /// ``Heatmap/proposals``: which of the map's local maxima become candidates. Each is measured from
        /// its map blob and takes the measured centre and size where they confirm the blob's size within
        /// ``Heatmap/resizeLogRatio`` (0.6 when that is absent), else the blob's centroid and size.
        public struct Proposals: Codable, Sendable, Equatable {
            /// Smallest map value, 0–1, at a local maximum (the largest in its 5 × 5 map px) to propose.
            public var minimumPeak: Double
            /// The feature score, 0–1, a proposal's score is combined with (``Heatmap/score(peak:probability:)``):
            /// it was not picked by the score model, so it has no probability of its own.
            public var featureScore: Double
            /// A proposal lies farther than this, mm, and than the other's radius, from every reported
            /// candidate's centre and every stronger proposal's.
            public var separationMM: Double
            /// Proposals per image at most, the highest map values first.
            public var maximum: Int
            /// `true`: a reported candidate smaller than the maximum's map blob by more than the confirmation
            /// ratio (a part the re-centring left as it was) does not claim the maximum, so the blob can still
            /// be proposed as the whole nodule. Absent or `false`: every reported candidate within the
            /// separation claims it.
            public var partsDoNotClaim: Bool?
            /// `true`: a proposal whose measurement does not confirm its blob's size takes the centre and size of
            /// the blob's border (``NoduleMeasurement/border(_:x:y:radius:parameters:spacingMM:)``) where that
            /// size confirms it. Absent or `false`: it takes the blob's centroid and size.
            public var edgeSizing: Bool?

            public init(minimumPeak: Double, featureScore: Double, separationMM: Double, maximum: Int) {
                self.minimumPeak = minimumPeak
                self.featureScore = featureScore
                self.separationMM = separationMM
                self.maximum = maximum
            }

            enum CodingKeys: String, CodingKey {
                case minimumPeak = "minimum_peak"
                case featureScore = "feature_score"
                case separationMM = "separation_mm"
                case maximum
                case partsDoNotClaim = "parts_do_not_claim"
                case edgeSizing = "edge_sizing"
            }
        }

        enum CodingKeys: String, CodingKey {
            case combine
            case mapWeight = "map_weight"
            case windowFraction = "window_fraction"
            case minimumWindowPx = "minimum_window_px"
            case network
            case resizeLogRatio = "resize_log_ratio"
            case mapSizing = "map_sizing"
            case contextMM = "context_mm"
            case scoresMeasured = "scores_measured"
            case resizeRecentres = "resize_recentres"
            case resizeBorder = "resize_border"
            case mirrorAveraged = "mirror_averaged"
            case proposals
            case ensemble
            case rescaledPasses = "rescaled_passes"
        }

        /// A candidate's score from the map's `peak` near it and the score model's `probability`.
        public func score(peak: Double, probability: Double) -> Double {
            guard combine == "geometric-mean" else { return peak }
            guard let w = mapWeight else { return (peak * probability).squareRoot() }
            return pow(peak, w) * pow(probability, 1 - w)
        }
    }

    /// Intensity normalisation and working resolution.
    public struct Normalisation: Codable, Sendable, Equatable {
        /// Pixel spacing detection works at, mm/px (the image is area-averaged down to it).
        public var workingSpacingMM: Double
        /// What stands in for a file's missing spacing. Exactly one of the JSON keys
        /// `assumed_spacing_mm` and `assumed_image_extent_mm` names it; a definition with neither
        /// or both is not decoded (there is no built-in fallback).
        public var spacingAssumption: SpacingAssumption
        /// From 0.16.0: the extent, mm, that a stated spacing must give each side of the image
        /// (`[lower, upper]`); outside it the spacing is taken for wrong (a unit error, a default
        /// such as DICOM's 1\\1 on a secondary capture) and the assumed one is used instead, with no
        /// mm figures reported. Absent (definitions before 0.16.0): every stated spacing is used.
        public var plausibleImageExtentMM: [Double]?
        /// Lower and upper body-intensity percentiles mapped to 0 and 1.
        public var lowerPercentile: Double
        public var upperPercentile: Double

        enum CodingKeys: String, CodingKey {
            case workingSpacingMM = "working_spacing_mm"
            case assumedSpacingMM = "assumed_spacing_mm"
            case assumedImageExtentMM = "assumed_image_extent_mm"
            case plausibleImageExtentMM = "plausible_image_extent_mm"
            case lowerPercentile = "lower_percentile"
            case upperPercentile = "upper_percentile"
        }

        public init(workingSpacingMM: Double, spacingAssumption: SpacingAssumption, plausibleImageExtentMM: [Double]?,
                    lowerPercentile: Double, upperPercentile: Double) {
            self.workingSpacingMM = workingSpacingMM
            self.spacingAssumption = spacingAssumption
            self.plausibleImageExtentMM = plausibleImageExtentMM
            self.lowerPercentile = lowerPercentile
            self.upperPercentile = upperPercentile
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            workingSpacingMM = try c.decode(Double.self, forKey: .workingSpacingMM)
            switch (try c.decodeIfPresent(Double.self, forKey: .assumedSpacingMM),
                    try c.decodeIfPresent(Double.self, forKey: .assumedImageExtentMM)) {
            case (let spacing?, nil): spacingAssumption = .fixedSpacing(mm: spacing)
            case (nil, let extent?): spacingAssumption = .imageExtent(mm: extent)
            default:
                throw DecodingError.dataCorrupted(.init(
                    codingPath: c.codingPath,
                    debugDescription: "normalisation needs exactly one of assumed_spacing_mm and assumed_image_extent_mm"))
            }
            plausibleImageExtentMM = try c.decodeIfPresent([Double].self, forKey: .plausibleImageExtentMM)
            lowerPercentile = try c.decode(Double.self, forKey: .lowerPercentile)
            upperPercentile = try c.decode(Double.self, forKey: .upperPercentile)
        }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(workingSpacingMM, forKey: .workingSpacingMM)
            switch spacingAssumption {
            case .fixedSpacing(let mm): try c.encode(mm, forKey: .assumedSpacingMM)
            case .imageExtent(let mm): try c.encode(mm, forKey: .assumedImageExtentMM)
            }
            try c.encodeIfPresent(plausibleImageExtentMM, forKey: .plausibleImageExtentMM)
            try c.encode(lowerPercentile, forKey: .lowerPercentile)
            try c.encode(upperPercentile, forKey: .upperPercentile)
        }

        /// The spacing that stands in for a file's missing one, mm/px (square pixels; the
        /// output flags it): the image extent over √(width·height), or the fixed spacing.
        public func assumedSpacing(width: Int, height: Int) -> Double {
            switch spacingAssumption {
            case .fixedSpacing(let mm): mm
            case .imageExtent(let mm): mm / max(1, (Double(width) * Double(height)).squareRoot())
            }
        }

        /// The spacing an image is analysed at, from the one it states (mm/px, row and column; nil
        /// when none): that one, unless it is missing or makes a side span outside
        /// `plausibleImageExtentMM`, in which case the assumed spacing.
        public func spacingInUse(statedRowMM: Double?, statedColumnMM: Double?, width: Int, height: Int) -> SpacingInUse {
            let assumed = assumedSpacing(width: width, height: height)
            guard let row = statedRowMM, let column = statedColumnMM else {
                return SpacingInUse(rowMM: assumed, columnMM: assumed, isAssumed: true, rejectedExtentMM: nil)
            }
            let extent = (width: Double(width) * column, height: Double(height) * row)
            if let range = plausibleImageExtentMM, range.count == 2,
               !(range[0]...range[1]).contains(extent.width) || !(range[0]...range[1]).contains(extent.height) {
                return SpacingInUse(rowMM: assumed, columnMM: assumed, isAssumed: true, rejectedExtentMM: [extent.width, extent.height])
            }
            return SpacingInUse(rowMM: row, columnMM: column, isAssumed: false, rejectedExtentMM: nil)
        }

        /// The stand-in spacing and how it was chosen, for warnings: "0.175 mm/px", or "0.376 mm/px
        /// (the image taken to span 385 mm, the geometric mean of its sides)" for 1024 × 1024 px.
        public func assumedSpacingDescription(width: Int, height: Int) -> String {
            let spacing = assumedSpacing(width: width, height: height)
            guard case .imageExtent(let extent) = spacingAssumption else { return "\(spacing) mm/px" }
            return "\(NoduleDetector.rounded(spacing, 3)) mm/px (the image taken to span \(NoduleDetector.rounded(extent, 1)) mm, "
                + "the geometric mean of its sides)"
        }
    }

    /// What stands in for a file's missing pixel spacing.
    public enum SpacingAssumption: Sendable, Equatable {
        /// This spacing, mm/px, whatever the image's size (`assumed_spacing_mm`; pipelines before 0.16.0).
        case fixedSpacing(mm: Double)
        /// The image spans this many mm as the geometric mean of its width and height
        /// (`assumed_image_extent_mm`; from 0.16.0: a 35 × 43 cm detector spans 388 mm), so a
        /// resized copy is taken for the chest it shows, not for 0.175 mm/px.
        case imageExtent(mm: Double)
    }

    /// The spacing an image is analysed at (``Normalisation/spacingInUse(statedRowMM:statedColumnMM:width:height:)``).
    public struct SpacingInUse: Sendable, Equatable {
        /// mm/px between rows and between columns.
        public var rowMM: Double
        public var columnMM: Double
        /// `true` when the assumed spacing stands in (none stated, or the stated one rejected):
        /// sizes are then reported in px only.
        public var isAssumed: Bool
        /// Width and height, mm, that a rejected stated spacing gave the image (nil: not rejected).
        public var rejectedExtentMM: [Double]?

        public init(rowMM: Double, columnMM: Double, isAssumed: Bool, rejectedExtentMM: [Double]?) {
            self.rowMM = rowMM
            self.columnMM = columnMM
            self.isAssumed = isAssumed
            self.rejectedExtentMM = rejectedExtentMM
        }
    }

    /// Classical lung-field segmentation.
    public struct LungFieldParameters: Codable, Sendable, Equatable {
        /// Resolution the mask is computed at, mm/px.
        public var maskSpacingMM: Double
        /// Smoothing before thresholding, mm (Gaussian σ).
        public var smoothingMM: Double
        /// Morphological closing radius that reabsorbs bright nodules at the lung edge, mm.
        public var closingRadiusMM: Double
        /// Smallest plausible single-lung area, mm².
        public var minimumLungAreaMM2: Double
        /// Candidates whose centre lies further than this outside the mask are dropped, mm.
        public var marginMM: Double
        /// Lungs are kept at least this far from outside air (the chest wall), mm.
        public var chestWallMM: Double
        /// When present, lungs are the pixels this classifier calls lung (see
        /// ``LungPixelClassifier``); otherwise the threshold method (Otsu levels,
        /// morphology, apex growth) is used, as in pipeline versions before 0.6.
        public var pixelClassifier: LungPixelClassifier?
        /// When present (`cxr-nodules-lungnet`), lungs are where this network's lung probability
        /// exceeds ½: a U-Net of the map's format (``NoduleHeatmapNetwork``) at its own spacing
        /// (4 mm/px), fed the normalised working image area-averaged and clipped to 0–1, trained on
        /// truth lung masks. It takes precedence over ``pixelClassifier``.
        public var network: NoduleHeatmapNetwork?

        enum CodingKeys: String, CodingKey {
            case maskSpacingMM = "mask_spacing_mm"
            case smoothingMM = "smoothing_mm"
            case closingRadiusMM = "closing_radius_mm"
            case minimumLungAreaMM2 = "minimum_lung_area_mm2"
            case marginMM = "margin_mm"
            case chestWallMM = "chest_wall_mm"
            case pixelClassifier = "pixel_classifier"
            case network
        }
    }

    /// Scale-space candidate generation.
    public struct CandidateParameters: Codable, Sendable, Equatable {
        /// Physical size range searched, mm (diameter).
        public var minimumDiameterMM: Double
        public var maximumDiameterMM: Double
        /// Number of scales, spaced geometrically.
        public var scales: Int
        /// Smallest σ²-normalised LoG response kept (normalised intensity units).
        public var minimumResponse: Double
        /// Blob detector: `log` (σ²-normalised LoG, default) or `hessian-determinant`.
        public var detector: String?
        /// β in the (σ/σ₀)^β weighting of LoG levels (0: plain σ²-normalisation).
        public var scaleBias: Double?
        /// Where the scale space is computed: `exact` (every σ at working resolution,
        /// when absent) or `pyramid` (σ whose remaining blur is ≥ 3 px on a coarser octave,
        /// interpolated back; see `ScaleResolution`; `cxr-nodules` from 0.20.0).
        public var scaleSpaceResolution: String?
        /// Smallest Hessian blobness (λ_small/λ_large) kept; ridges score near 0.
        public var minimumBlobness: Double
        /// Non-maximum suppression: two candidates overlap when their centres are
        /// closer than this fraction of the larger radius.
        public var suppressionOverlap: Double
        /// At most this many candidates are measured per image: the first by `prerank`
        /// when the definition has one, else by response.
        public var maximumCandidates: Int
        /// Optional model that ranks scale-space maxima before measurement, over the
        /// features known at that stage (``NoduleFeatures/blobStageNames``: response,
        /// blobness, scale, lung depth at the maximum). Without it maxima are ranked by
        /// response, which favours bright anatomy over faint nodules.
        public var prerank: ScoreModel?
        /// At most this many candidates are reported per image (highest score first).
        public var maximumReported: Int

        enum CodingKeys: String, CodingKey {
            case minimumDiameterMM = "minimum_diameter_mm"
            case maximumDiameterMM = "maximum_diameter_mm"
            case scales
            case minimumResponse = "minimum_response"
            case minimumBlobness = "minimum_blobness"
            case scaleBias = "scale_bias"
            case detector
            case scaleSpaceResolution = "scale_space_resolution"
            case suppressionOverlap = "suppression_overlap"
            case maximumCandidates = "maximum_candidates"
            case maximumReported = "maximum_reported"
            case prerank
        }
    }

    /// Local segmentation and sizing.
    public struct MeasurementParameters: Codable, Sendable, Equatable {
        /// Spacing the nodule is measured at, mm/px (never finer than the input).
        public var measureSpacingMM: Double
        /// Number of rays cast from the centre.
        public var rays: Int
        /// Contour level as a fraction of the nodule's peak contrast.
        public var contourFraction: Double
        /// Inner and outer radius of the background annulus, × the scale radius.
        public var backgroundInner: Double
        public var backgroundOuter: Double
        /// Where the projected-sphere fit starts: `long-axis` (0.8.0–0.9.0: the rays' long
        /// axis, since rays crossing rib edges stop early and cut the short axis),
        /// `mean-axis` (earlier pipelines and the default: the mean of long and short axis), or
        /// `best-of-both` (from 0.10.0: from each, keeping the accepted fit with the lower
        /// robust residual; a ray leaking along a rib lengthens the long axis, and a window
        /// grown with it can hold the fit on the wrong structure).
        public var sphereFitStart: String?
        /// How the reported diameter is taken (optional; the shipped definition uses `edge` from 0.14.0):
        /// `sphere-fit` (the default when absent: the rays' shape at the projected-sphere fit's scale) or
        /// `edge` (each ray's steepest descent, see ``NoduleMeasurement/edgeDiameter``, plus
        /// ``edgeOffsetMM`` per side; the sphere-fit size stays where the edge cannot be found
        /// or differs by more than ``edgeAgreement``, see ``reportedDiameter(_:spacingMM:)``).
        /// Either way the score's features are the sphere-fit ones.
        public var diameterMethod: String?
        /// With `edge`: mm added to each edge radius, for the steepest descent lying inside the
        /// true edge by the image's blur and the measurement smoothing (see the README).
        public var edgeOffsetMM: Double?
        /// Sizing of the reported candidates (optional; from 0.15.0): after scoring, a reported
        /// candidate whose edge and sphere-fit sizes disagree (``needsSizingRefit(_:spacingMM:)``) is
        /// measured again with one more projected-sphere fit, started at this multiple of the
        /// long-axis radius (e.g. 1.4), and the fits of all starts are compared by their robust
        /// residual on one common window (``SphereProfileFit/spread(_:parameters:x:y:window:)``)
        /// instead of each on its own. A fit started inside a large nodule (the scale space's
        /// radius is often small on one whose profile processing has flattened) stays small,
        /// since its own window hardly reaches background. The score's features are not
        /// changed; see ``refittedDiameter(_:refit:spacingMM:)`` for which size is reported.
        public var sizingRefitStart: Double?

        enum CodingKeys: String, CodingKey {
            case measureSpacingMM = "measure_spacing_mm"
            case rays
            case contourFraction = "contour_fraction"
            case backgroundInner = "background_inner"
            case backgroundOuter = "background_outer"
            case sphereFitStart = "sphere_fit_start"
            case diameterMethod = "diameter_method"
            case edgeOffsetMM = "edge_offset_mm"
            case sizingRefitStart = "sizing_refit_start"
        }

        /// The reported diameter of `m`, px of the measurement image (spacing `spacingMM`, mm/px).
        /// With `edge`, the edge size when it lies within a factor ``edgeAgreement`` of the
        /// sphere-fit size; further apart, one of the two has failed (rays leaving along a rib
        /// edge, a lobe taken for the whole) and the sphere-fit size, which the detector has
        /// always reported, stays.
        public func reportedDiameter(_ m: NoduleMeasurement, spacingMM: Double) -> Double {
            guard diameterMethod == "edge", let sized = agreeingEdgeDiameter(m, spacingMM: spacingMM) else { return m.diameter }
            return sized
        }

        /// `m`'s edge diameter plus ``edgeOffsetMM`` per side (px), when it lies within a factor
        /// ``edgeAgreement`` of `m`'s sphere-fit diameter; nil otherwise or without an edge outline.
        func agreeingEdgeDiameter(_ m: NoduleMeasurement, spacingMM: Double) -> Double? {
            offsetEdgeDiameter(m, spacingMM: spacingMM).flatMap { Self.agree($0, m.diameter) ? $0 : nil }
        }

        /// `m`'s edge diameter plus ``edgeOffsetMM`` per side, px; nil without an edge outline.
        func offsetEdgeDiameter(_ m: NoduleMeasurement, spacingMM: Double) -> Double? {
            m.edgeDiameter.map { $0 + 2 * (edgeOffsetMM ?? 0) / spacingMM }
        }

        /// Whether two sizes lie within a factor ``edgeAgreement`` of each other.
        static func agree(_ a: Double, _ b: Double) -> Bool { a * edgeAgreement >= b && a <= edgeAgreement * b }

        /// Largest ratio between the edge and the sphere-fit size for the edge size to be reported.
        public static let edgeAgreement = 1.25

        /// Whether `m` is sized again with ``sizingRefitStart``: its edge outline was found, but
        /// disagrees with its sphere fit by more than ``edgeAgreement``, so one of the two failed.
        /// (Found small by the scale space, a large nodule's sphere fit often stays at its start,
        /// its window hardly reaching background, while its edge lies further out.)
        public func needsSizingRefit(_ m: NoduleMeasurement, spacingMM: Double) -> Bool {
            sizingRefitStart != nil && diameterMethod == "edge" && m.edgeDiameter != nil
                && agreeingEdgeDiameter(m, spacingMM: spacingMM) == nil
        }

        /// The reported diameter (px of the measurement image, spacing `spacingMM` mm/px) of
        /// `standard`, given `refit`, the same candidate measured again with ``sizingRefitStart``
        /// when ``needsSizingRefit(_:spacingMM:)``: `refit`'s reported size when `standard`'s own edge
        /// size agrees with `refit`'s sphere fit (``edgeAgreement``), so the wider fit and the edge
        /// confirm each other; otherwise `standard`'s (``reportedDiameter(_:spacingMM:)``).
        public func refittedDiameter(_ standard: NoduleMeasurement, refit: NoduleMeasurement?, spacingMM: Double) -> Double {
            guard let refit, needsSizingRefit(standard, spacingMM: spacingMM),
                  let edge = offsetEdgeDiameter(standard, spacingMM: spacingMM) else {
                return reportedDiameter(standard, spacingMM: spacingMM)
            }
            return reportedDiameter(Self.agree(edge, refit.diameter) ? refit : standard, spacingMM: spacingMM)
        }

        /// Whether the sphere fit starts from the long axis.
        var sphereFitStartsFromLongAxis: Bool { sphereFitStart == "long-axis" }
        /// Whether the sphere fit runs from both the long and the mean axis (`best-of-both`).
        var sphereFitStartsFromBothAxes: Bool { sphereFitStart == "best-of-both" }
    }

    /// A model over named, standardised features zᵢ: kind `logistic`,
    /// p = 1 / (1 + e^−(b + Σ wᵢ·zᵢ + Σ qᵢ·zᵢ²)); kind `perceptron` adds one hidden layer of
    /// ReLU units to that logit (``HiddenLayer``).
    public struct ScoreModel: Codable, Sendable, Equatable {
        public var kind: String
        public var intercept: Double
        /// Weight per feature name (see `NoduleFeatures.named`); features are
        /// standardised as (f − mean) / scale before weighting.
        public var weights: [String: Double]
        public var means: [String: Double]
        public var scales: [String: Double]
        /// Optional weights on the *squared* standardised feature, for features whose
        /// nodule range is a band (e.g. `density`: faint noise below, end-on vessels above).
        public var quadraticWeights: [String: Double]?
        /// Per-feature transform applied before standardising: `log` (natural log,
        /// floored at 1e-4), `clamp40` (clamped to ±40) or `identity` (default).
        public var transforms: [String: String]?
        /// Kind `perceptron` only: one hidden layer of ReLU units on the standardised
        /// features, feeding the logistic output alongside `weights`.
        public var hidden: HiddenLayer?
        /// How and on what data the model was fitted.
        public var fittedOn: String

        public init(kind: String, intercept: Double, weights: [String: Double], means: [String: Double], scales: [String: Double],
                    quadraticWeights: [String: Double]? = nil, transforms: [String: String]? = nil, hidden: HiddenLayer? = nil,
                    fittedOn: String) {
            self.kind = kind
            self.intercept = intercept
            self.weights = weights
            self.means = means
            self.scales = scales
            self.quadraticWeights = quadraticWeights
            self.transforms = transforms
            self.hidden = hidden
            self.fittedOn = fittedOn
        }

        /// Hidden ReLU units: unit u computes max(0, bias[u] + Σₖ weights[u][k]·z(inputs[k]))
        /// from the standardised (transformed) features z, and adds outputWeights[u] times
        /// that to the output's logit.
        public struct HiddenLayer: Codable, Sendable, Equatable {
            /// Feature names, in input order.
            public var inputs: [String]
            /// One row of `inputs.count` weights per unit.
            public var weights: [[Double]]
            public var bias: [Double]
            public var outputWeights: [Double]

            public init(inputs: [String], weights: [[Double]], bias: [Double], outputWeights: [Double]) {
                self.inputs = inputs
                self.weights = weights
                self.bias = bias
                self.outputWeights = outputWeights
            }

            enum CodingKeys: String, CodingKey {
                case inputs, weights, bias
                case outputWeights = "output_weights"
            }

            /// Whether the sizes agree and every input is a known feature.
            var isConsistent: Bool {
                let known = Set(NoduleFeatures.names)
                return !weights.isEmpty && inputs.allSatisfy(known.contains) && weights.allSatisfy { $0.count == inputs.count }
                    && bias.count == weights.count && outputWeights.count == weights.count
            }
        }

        enum CodingKeys: String, CodingKey {
            case kind, intercept, weights, means, scales, transforms, hidden
            case quadraticWeights = "quadratic_weights"
            case fittedOn = "fitted_on"
        }

        /// The checks every model gets, wherever it sits in the definition (`key`: `score`,
        /// `candidates.prerank`): kind and hidden layer agree, the layer's sizes and names are
        /// right, weights name known features, transforms are known.
        func validate(as key: String, _ require: (Bool, String) throws -> Void) throws {
            try require(kind == "logistic" && hidden == nil || kind == "perceptron" && hidden != nil,
                        "\(key).kind must be \"logistic\" (no hidden layer) or \"perceptron\" (with \(key).hidden)")
            if let hidden {
                try require(hidden.isConsistent, "\(key).hidden: inputs must be known features, with one weight per input and a bias and output weight per unit")
            }
            let known = Set(NoduleFeatures.names)
            for name in weights.keys { try require(known.contains(name), "\(key).weights: unknown feature '\(name)'") }
            for name in (quadraticWeights ?? [:]).keys { try require(known.contains(name), "\(key).quadratic_weights: unknown feature '\(name)'") }
            for t in (transforms ?? [:]).values {
                try require(["log", "clamp40", "identity"].contains(t), "\(key).transforms: unknown transform '\(t)'")
            }
        }

        static func transformed(_ value: Double, _ transform: String?) -> Double {
            switch transform {
            case "log": log(max(value, 1e-4))
            case "clamp40": min(max(value, -40), 40)
            default: value
            }
        }

        /// The calibrated likelihood 0–1 for a candidate's features.
        public func probability(_ features: NoduleFeatures) -> Double {
            let named = features.named
            var z = intercept
            func standardised(_ name: String) -> Double {
                let f = Self.transformed(named[name] ?? 0, transforms?[name])
                let s = scales[name] ?? 1
                return (f - (means[name] ?? 0)) / (s == 0 ? 1 : s)
            }
            // Sorted: Dictionary order changes per process, and so would the last bit of the sum.
            for name in weights.keys.sorted() { z += weights[name]! * standardised(name) }
            let quadratic = quadraticWeights ?? [:]
            for name in quadratic.keys.sorted() {
                let v = standardised(name)
                z += quadratic[name]! * v * v
            }
            if let hidden {
                let input = hidden.inputs.map(standardised)
                for u in hidden.weights.indices {
                    var a = hidden.bias[u]
                    for k in input.indices { a += hidden.weights[u][k] * input[k] }
                    z += hidden.outputWeights[u] * max(0, a)
                }
            }
            return 1 / (1 + exp(-z))
        }
    }

    enum CodingKeys: String, CodingKey {
        case name, version, description, normalisation
        case lungField = "lung_field"
        case candidates, measurement, score, heatmap
    }

    /// Name, version and digest of the canonical (sorted-key) JSON.
    public var stamp: PipelineStamp {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(self)) ?? Data()
        let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
        return PipelineStamp(name: name, version: version, digest: digest)
    }

    /// Checks that parameters are in range; throws `PipelineError.invalid` naming the first bad one.
    public func validate() throws {
        func require(_ ok: Bool, _ what: String) throws { if !ok { throw PipelineError.invalid(name: name, reason: what) } }
        try require(normalisation.workingSpacingMM > 0 && normalisation.workingSpacingMM < 5, "normalisation.working_spacing_mm must be in (0, 5)")
        switch normalisation.spacingAssumption {
        case .fixedSpacing(let spacing):
            try require(spacing > 0 && spacing < 5, "normalisation.assumed_spacing_mm must be in (0, 5)")
        case .imageExtent(let extent):
            try require(extent >= 50 && extent <= 1000, "normalisation.assumed_image_extent_mm must be in [50, 1000]")
        }
        if let range = normalisation.plausibleImageExtentMM {
            try require(range.count == 2 && range[0] > 0 && range[0] < range[1],
                        "normalisation.plausible_image_extent_mm must be [lower, upper] with 0 < lower < upper")
        }
        try require(0 <= normalisation.lowerPercentile && normalisation.lowerPercentile < normalisation.upperPercentile
                    && normalisation.upperPercentile <= 100, "normalisation percentiles must satisfy 0 ≤ lower < upper ≤ 100")
        try require(candidates.minimumDiameterMM > 0 && candidates.minimumDiameterMM < candidates.maximumDiameterMM,
                    "candidates: 0 < minimum_diameter_mm < maximum_diameter_mm")
        try require(["log", "hessian-determinant"].contains(candidates.detector ?? "log"),
                    "candidates.detector must be \"log\" or \"hessian-determinant\"")
        try require(["exact", "pyramid"].contains(candidates.scaleSpaceResolution ?? "exact"),
                    "candidates.scale_space_resolution must be \"exact\" or \"pyramid\"")
        try require(candidates.scales >= 3 && candidates.scales <= 64, "candidates.scales must be 3…64")
        try require(candidates.maximumCandidates > 0 && candidates.maximumReported > 0, "candidate limits must be positive")
        try require(measurement.rays >= 8 && measurement.rays <= 360, "measurement.rays must be 8…360")
        try require(measurement.contourFraction > 0.05 && measurement.contourFraction < 0.95, "measurement.contour_fraction must be in (0.05, 0.95)")
        try require(measurement.backgroundInner >= 1 && measurement.backgroundOuter > measurement.backgroundInner,
                    "measurement: 1 ≤ background_inner < background_outer")
        try require(["long-axis", "mean-axis", "best-of-both"].contains(measurement.sphereFitStart ?? "mean-axis"),
                    "measurement.sphere_fit_start must be \"long-axis\", \"mean-axis\" or \"best-of-both\"")
        try require(["sphere-fit", "edge"].contains(measurement.diameterMethod ?? "sphere-fit"),
                    "measurement.diameter_method must be \"sphere-fit\" or \"edge\"")
        try require((0..<3).contains(measurement.edgeOffsetMM ?? 0), "measurement.edge_offset_mm must be in [0, 3)")
        try require(measurement.sizingRefitStart.map { $0 > 1 && $0 <= 3 } ?? true, "measurement.sizing_refit_start must be in (1, 3]")
        try require(lungField.maskSpacingMM > 0 && lungField.smoothingMM >= 0, "lung_field spacing and smoothing must be positive")
        if let network = lungField.network {
            try require(network.spacingMM >= 1 && network.spacingMM <= 8, "lung_field.network.spacing_mm must be in [1, 8]")
        }
        if let classifier = lungField.pixelClassifier {
            try require(classifier.isConsistent,
                        "lung_field.pixel_classifier: features must be \(LungPixelFeatures.names) with matching means, scales (> 0) and layer sizes")
        }
        try score.validate(as: "score", require)
        if let heatmap {
            try require(["replace", "geometric-mean"].contains(heatmap.combine),
                        "heatmap.combine must be \"replace\" or \"geometric-mean\"")
            try require(heatmap.mapWeight.map { (0...1).contains($0) } ?? true, "heatmap.map_weight must be in [0, 1]")
            try require(heatmap.windowFraction > 0 && heatmap.windowFraction <= 2, "heatmap.window_fraction must be in (0, 2]")
            try require(heatmap.minimumWindowPx >= 0 && heatmap.minimumWindowPx <= 16, "heatmap.minimum_window_px must be in [0, 16]")
            if let m = heatmap.mapSizing {
                try require(m.logRatio > 0 && m.logRatio <= 3, "heatmap.map_sizing.log_ratio must be in (0, 3]")
                try require(m.minimumDiameterMM >= 0 && m.minimumDiameterMM.isFinite,
                            "heatmap.map_sizing.minimum_diameter_mm must be a finite number ≥ 0")
            }
            if let r = heatmap.resizeLogRatio {
                try require(r > 0 && r <= 3, "heatmap.resize_log_ratio must be in (0, 3]")
            }
            if heatmap.resizeRecentres == true {
                try require(heatmap.resizeLogRatio != nil, "heatmap.resize_recentres needs heatmap.resize_log_ratio")
            }
            if heatmap.resizeBorder == true {
                try require(heatmap.resizeRecentres == true, "heatmap.resize_border needs heatmap.resize_recentres")
            }
            if let q = heatmap.proposals {
                try require(q.minimumPeak > 0 && q.minimumPeak <= 1, "heatmap.proposals.minimum_peak must be in (0, 1]")
                try require(q.featureScore > 0 && q.featureScore <= 1, "heatmap.proposals.feature_score must be in (0, 1]")
                try require(q.separationMM >= 0 && q.separationMM <= 100, "heatmap.proposals.separation_mm must be in [0, 100]")
                try require((1...50).contains(q.maximum), "heatmap.proposals.maximum must be in 1...50")
            }
            if let c = heatmap.contextMM {
                try require(c >= 0 && c <= 1000, "heatmap.context_mm must be in [0, 1000]")
            }
            try require(heatmap.network.spacingMM >= normalisation.workingSpacingMM,
                        "heatmap.network.spacing_mm must not be finer than normalisation.working_spacing_mm")
            if let ensemble = heatmap.ensemble {
                try require((1...7).contains(ensemble.count), "heatmap.ensemble must hold 1 to 7 networks")
                try require(ensemble.allSatisfy { $0.spacingMM == heatmap.network.spacingMM && $0.normalisation == heatmap.network.normalisation },
                            "heatmap.ensemble's networks must have heatmap.network's spacing_mm and normalisation")
            }
            if let passes = heatmap.rescaledPasses {
                try require((1...3).contains(passes.count), "heatmap.rescaled_passes must hold 1 to 3 passes")
                try require(passes.allSatisfy { $0.spacingFactor >= 0.5 && $0.spacingFactor <= 2 && $0.spacingFactor != 1 },
                            "heatmap.rescaled_passes' spacing_factor must be in [0.5, 2] and not 1")
                try require(passes.allSatisfy { heatmap.network.spacingMM * $0.spacingFactor >= normalisation.workingSpacingMM },
                            "heatmap.rescaled_passes must not be finer than normalisation.working_spacing_mm")
                try require(passes.allSatisfy { $0.weight > 0 } && passes.map(\.weight).reduce(0, +) < 1,
                            "heatmap.rescaled_passes' weights must be positive and sum to less than 1")
            }
        }
        if let prerank = candidates.prerank {
            try prerank.validate(as: "candidates.prerank", require)
            let used = Set(prerank.weights.keys).union((prerank.quadraticWeights ?? [:]).keys).union(prerank.hidden?.inputs ?? [])
            try require(used.isSubset(of: Set(NoduleFeatures.blobStageNames)),
                        "candidates.prerank may use only features known before measurement: \(NoduleFeatures.blobStageNames.joined(separator: ", "))")
        }
    }
}

/// Why a pipeline definition could not be used.
public enum PipelineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// No definition of that name in any searched folder.
    case notFound(name: String, searched: [String])
    /// The file is not valid JSON for a definition.
    case malformed(path: String, reason: String)
    /// A parameter is out of range.
    case invalid(name: String, reason: String)

    public var description: String {
        switch self {
        case .notFound(let name, let searched):
            "pipeline '\(name)' not found; looked in: \(searched.joined(separator: ", "))"
        case .malformed(let path, let reason): "\(path): not a pipeline definition (\(reason))"
        case .invalid(let name, let reason): "pipeline '\(name)': \(reason)"
        }
    }
}

extension PipelineDefinition {
    /// The default pipeline's name.
    public static let defaultName = "cxr-nodules"

    /// Loads `reference`: a path to a `.json` file, or a NAME looked up as
    /// `NAME.json` in, in order: `$NODULEKIT_PIPELINES`, `./Pipelines`, and for
    /// each ancestor of the running executable its `Pipelines` folder (which finds
    /// the repository's definitions from `.build/…/nodules`) and its
    /// `share/nodulekit/Pipelines` (an installed `PREFIX/bin/nodules` finds
    /// `PREFIX/share/nodulekit/Pipelines`, where `make install` puts them).
    public static func load(_ reference: String) throws -> PipelineDefinition {
        let fm = FileManager.default
        if reference.hasSuffix(".json") || reference.contains("/") {
            return try decode(path: reference)
        }
        let searched = searchFolders()
        for folder in searched {
            let candidate = folder + "/" + reference + ".json"
            if fm.fileExists(atPath: candidate) { return try decode(path: candidate) }
        }
        throw PipelineError.notFound(name: reference, searched: searched)
    }

    /// Folders searched for pipeline names, in order.
    public static func searchFolders() -> [String] {
        var folders: [String] = []
        if let env = ProcessInfo.processInfo.environment["NODULEKIT_PIPELINES"], !env.isEmpty { folders.append(env) }
        folders.append(FileManager.default.currentDirectoryPath + "/Pipelines")
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            for _ in 0..<6 {
                folders.append(dir.appendingPathComponent("Pipelines").path)
                folders.append(dir.appendingPathComponent("share/nodulekit/Pipelines").path)
                let parent = dir.deletingLastPathComponent()
                if parent.path == dir.path { break }
                dir = parent
            }
        }
        var seen = Set<String>()
        return folders.filter { seen.insert($0).inserted }
    }

    /// Decodes and validates the definition at `path`.
    public static func decode(path: String) throws -> PipelineDefinition {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError.notFound(name: path, searched: [path])
        }
        let definition: PipelineDefinition
        do {
            definition = try JSONDecoder().decode(PipelineDefinition.self, from: data)
        } catch let error as DecodingError {
            throw PipelineError.malformed(path: path, reason: Self.describe(error))
        }
        try definition.validate()
        return definition
    }

    static func describe(_ error: DecodingError) -> String {
        func at(_ path: [any CodingKey]) -> String { path.map(\.stringValue).joined(separator: ".") }
        switch error {
        case .keyNotFound(let key, let ctx): return "missing key '\(at(ctx.codingPath + [key]))'"
        case .typeMismatch(_, let ctx), .valueNotFound(_, let ctx): return "wrong type at '\(at(ctx.codingPath))'"
        case .dataCorrupted(let ctx): return ctx.debugDescription
        @unknown default: return "\(error)"
        }
    }
}
