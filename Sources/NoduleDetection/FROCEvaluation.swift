import Foundation

/// Ground truth for a set of images (the phantom generator's `truth.json`).
public struct GroundTruth: Codable, Sendable {
    public struct Image: Codable, Sendable {
        /// Path relative to the truth file's folder.
        public var path: String
        /// Size of the image the truth's coordinates refer to, px (when known; a record of
        /// another size is scaled to it, see ``FROCEvaluation``).
        public var width: Int?
        public var height: Int?
        /// mm/px; nil: the matching detection record's (an image with neither is left out of the evaluation).
        public var pixelSpacingMM: Double?
        public var nodules: [Nodule]
        /// The folder a relative ``path`` resolves against: the truth file's, set by
        /// ``GroundTruth/read(contentsOf:)`` (nil: the evaluation's `truthFolder`). Not coded.
        public var folder: String? = nil

        enum CodingKeys: String, CodingKey {
            case path, width, height, nodules
            case pixelSpacingMM = "pixel_spacing_mm"
        }
    }

    public struct Nodule: Codable, Sendable {
        public var id: String?
        /// Centre column and row, px.
        public var x: Double
        public var y: Double
        /// True diameter, mm.
        public var diameterMM: Double
        public var onRib: Bool?
        /// JSRT's degree of subtlety, 1 (extremely subtle) to 5 (obvious); nil for phantoms.
        public var subtlety: Int? = nil

        enum CodingKeys: String, CodingKey {
            case id, x, y, subtlety
            case diameterMM = "diameter_mm"
            case onRib = "on_rib"
        }
    }

    public var images: [Image]
}

extension GroundTruth.Nodule {
    /// The evaluation's hit radius, mm: a candidate within max(true radius, 4 mm) of the
    /// true centre hits this nodule.
    public var hitRadiusMM: Double { max(diameterMM / 2, FROCEvaluation.minimumHitRadiusMM) }

    /// `id` may be a string or an integer (truth files from other generators number their
    /// nodules); any other type is an error. In an extension, so the memberwise initialiser stays.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let number = try? c.decodeIfPresent(Int.self, forKey: .id) {
            id = String(number)
        } else {
            id = try c.decodeIfPresent(String.self, forKey: .id)
        }
        x = try c.decode(Double.self, forKey: .x)
        y = try c.decode(Double.self, forKey: .y)
        diameterMM = try c.decode(Double.self, forKey: .diameterMM)
        onRib = try c.decodeIfPresent(Bool.self, forKey: .onRib)
        subtlety = try c.decodeIfPresent(Int.self, forKey: .subtlety)
    }
}

/// Free-response ROC evaluation of detection records against ground truth.
///
/// Hit rule (documented in the README): a candidate hits a true nodule when its
/// centre lies within max(true radius, 4 mm) of the true centre. Candidates are
/// taken in descending score over all images; each may hit the nearest
/// not-yet-hit nodule it reaches (one true positive per nodule); a candidate
/// that reaches only already-hit nodules is neither a true nor a false
/// positive; any other candidate is a false positive.
public struct FROCEvaluation: Sendable {
    /// Minimum hit radius, mm.
    public static let minimumHitRadiusMM = 4.0
    /// A hit is centred when within this fraction of its hit radius of the true centre.
    public static let centredOffsetFraction = 0.5

    public struct Point: Codable, Sendable, Equatable {
        public var falsePositivesPerImage: Double
        public var sensitivity: Double
        /// Score threshold reaching this point (candidates with score ≥ it count).
        public var threshold: Double?
    }

    public struct Band: Codable, Sendable, Equatable {
        public var name: String
        public var nodules: Int
        public var hits: Int
        public var sensitivity: Double?
    }

    /// A true nodule found at the 2 FP/image operating point, with the diameter the hitting
    /// candidate reported (what ``diameterError`` summarises; pooling sets needs them one by one).
    public struct Hit: Codable, Sendable, Equatable {
        /// The truth image's path, as in the truth file.
        public var image: String
        /// Index of the nodule in that image's truth list.
        public var nodule: Int
        public var trueDiameterMM: Double
        /// The hitting candidate's diameter, mm (px × truth spacing when it reported none).
        public var measuredDiameterMM: Double?
        public var score: Double
        /// The hitting candidate's distance from the true centre over the hit radius
        /// (max(true radius, 4 mm)): 0 at the centre, 1 at the edge of what counts as a hit.
        public var offsetFraction: Double?

        /// Whether the hit lies within half the hit radius: a hit further out on a large nodule
        /// may be another structure inside its outline that the hit rule credits. A hit without
        /// an offset (decoded from JSON written before it existed) counts as centred.
        public var isCentred: Bool { (offsetFraction ?? 0) <= FROCEvaluation.centredOffsetFraction }
    }

    public struct DiameterError: Codable, Sendable, Equatable {
        public var hits: Int
        /// |measured − true|, mm.
        public var medianAbsoluteMM: Double?
        public var p90AbsoluteMM: Double?
        /// Mean signed error (measured − true), mm.
        public var meanSignedMM: Double?
    }

    public var images: Int
    public var nodules: Int
    /// Images in the truth with no record in the results (counted with no candidates).
    public var missingImages: [String]
    /// Images left out because neither the truth nor their record gives a pixel spacing (nil: none).
    public var imagesWithoutSpacing: [String]?
    /// Sensitivity at 0.5, 1, 2 and 4 false positives per image.
    public var froc: [Point]
    /// At the 2 FP/image operating point.
    public var bands: [Band]
    public var diameterError: DiameterError
    /// Every hit at the 2 FP/image operating point, in descending score.
    public var operatingHits: [Hit]
    /// The score threshold of the 2 FP/image operating point.
    public var operatingThreshold: Double?
    /// The whole curve up to ``curveLimit`` FP/image: one point after each distinct score,
    /// in descending score (FP/image and sensitivity never decrease along it).
    public var curve: [Point]
    /// How far ``curve`` goes, false positives per image.
    public static let curveLimit = 8.0

    struct Event {
        var score: Double
        var image: Int
        var nodule: Int?  // nil: false positive
        var diameterMM: Double?
        var offsetFraction: Double?
    }

    /// Evaluates `records` against `truth`. A truth image's record is, in order: the one whose
    /// standardised absolute path is the truth path resolved against the image's
    /// ``GroundTruth/Image/folder`` (else `truthFolder`); the first whose path ends with the
    /// truth path; the only one whose file name without extension is the truth's, ignoring
    /// case (JSRT's `JPCLN001.IMG` is found as `…/jpcln001.png` too). When the truth gives the
    /// image's size and the record's differs with the same aspect (within 1 %: a resized copy),
    /// the record's coordinates and px diameters are scaled to the truth's image.
    public init(truth: GroundTruth, truthFolder: String, records: [DetectionRecord],
                rates: [Double] = [0.5, 1, 2, 4]) {
        func standard(_ p: String, relativeTo base: String) -> String {
            let absolute = p.hasPrefix("/") ? p : base + "/" + p
            return URL(fileURLWithPath: absolute).standardizedFileURL.resolvingSymlinksInPath().path
        }
        func stem(_ p: String) -> String {
            URL(fileURLWithPath: p).deletingPathExtension().lastPathComponent.lowercased()
        }
        let cwd = FileManager.default.currentDirectoryPath
        // Each record's standardised path, once (it resolves symlinks on the file system).
        let recordPaths = records.map { standard($0.path, relativeTo: cwd) }
        var byPath: [String: DetectionRecord] = [:]
        var byStem: [String: [DetectionRecord]] = [:]
        for (r, path) in zip(records, recordPaths) {
            byPath[path] = r
            byStem[stem(r.path), default: []].append(r)
        }
        // Each truth image's record, scale and spacing (mm per truth px: the truth's, else the
        // record's); an image with a record but neither spacing is left out, and listed.
        var usable: [GroundTruth.Image] = []
        var matched: [(record: DetectionRecord, sx: Double, sy: Double)?] = []
        var unmeasured: [String] = []
        for var image in truth.images {
            let key = standard(image.path, relativeTo: image.folder ?? truthFolder)
            var record = byPath[key]
            if record == nil {
                let suffix = "/" + image.path
                record = zip(records, recordPaths).first { $0.1.hasSuffix(suffix) }?.0
            }
            if record == nil, let same = byStem[stem(image.path)], same.count == 1 { record = same[0] }
            guard let record else { usable.append(image); matched.append(nil); continue }
            var sx = 1.0, sy = 1.0
            if let w = image.width, let h = image.height, record.width > 0, record.height > 0,
               w != record.width || h != record.height {
                let fx = Double(w) / Double(record.width), fy = Double(h) / Double(record.height)
                // Only a copy of the same picture (aspect within 1 %); a crop cannot be mapped.
                if abs(fx - fy) <= 0.01 * max(fx, fy) { (sx, sy) = (fx, fy) }
            }
            if image.pixelSpacingMM == nil { image.pixelSpacingMM = record.pixelSpacingMM.map { $0 / ((sx + sy) / 2) } }
            guard image.pixelSpacingMM != nil else { unmeasured.append(image.path); continue }
            usable.append(image)
            matched.append((record, sx, sy))
        }
        imagesWithoutSpacing = unmeasured.isEmpty ? nil : unmeasured
        images = usable.count
        nodules = usable.reduce(0) { $0 + $1.nodules.count }
        var missing: [String] = []
        // All candidate events, with the nodule each would hit decided greedily in score order.
        var candidates: [(score: Double, image: Int, x: Double, y: Double, diameterMM: Double?)] = []
        for (i, image) in usable.enumerated() {
            guard let (record, sx, sy) = matched[i], let spacing = image.pixelSpacingMM else { missing.append(image.path); continue }
            for c in record.nodules {
                let d = c.diameterMM ?? c.diameterPx * (sx + sy) / 2 * spacing
                // Pixel centres at integers in both images: x ↦ (x + ½)·sx − ½ (as it is when not scaled).
                let scaled = sx != 1 || sy != 1
                candidates.append((c.score, i, scaled ? (c.x + 0.5) * sx - 0.5 : c.x, scaled ? (c.y + 0.5) * sy - 0.5 : c.y, d))
            }
        }
        missingImages = missing
        candidates.sort { $0.score != $1.score ? $0.score > $1.score : ($0.image, $0.y, $0.x) < ($1.image, $1.y, $1.x) }
        var hit = Set<[Int]>()
        var events: [Event] = []
        for c in candidates {
            let image = usable[c.image]
            var best: (index: Int, distance: Double)?
            var reachesHit = false
            for (k, n) in image.nodules.enumerated() {
                let distanceMM = hypot(c.x - n.x, c.y - n.y) * image.pixelSpacingMM!
                guard distanceMM <= n.hitRadiusMM else { continue }
                if hit.contains([c.image, k]) { reachesHit = true; continue }
                if best == nil || distanceMM < best!.distance { best = (k, distanceMM) }
            }
            if let best {
                hit.insert([c.image, best.index])
                events.append(Event(score: c.score, image: c.image, nodule: best.index, diameterMM: c.diameterMM,
                                    offsetFraction: best.distance / image.nodules[best.index].hitRadiusMM))
            } else if !reachesHit {
                events.append(Event(score: c.score, image: c.image, nodule: nil, diameterMM: nil))
            }
        }
        // Sweep: after each distinct score, (FP/image, sensitivity) and how many events it takes
        // in; FP/image never decreases along it, so the point of a rate is the last step within it.
        let n = max(1, nodules), m = Double(max(1, images))
        var sweep = [(point: Point(falsePositivesPerImage: 0, sensitivity: 0, threshold: nil), cut: 0)]
        var tp = 0, fp = 0, i = 0
        while i < events.count {
            var j = i
            while j < events.count && events[j].score == events[i].score {
                if events[j].nodule != nil { tp += 1 } else { fp += 1 }
                j += 1
            }
            sweep.append((Point(falsePositivesPerImage: Double(fp) / m, sensitivity: Double(tp) / Double(n), threshold: events[i].score), j))
            i = j
        }
        func point(rate: Double) -> (Point, Int) {
            let step = sweep.last { $0.point.falsePositivesPerImage <= rate } ?? sweep[0]
            return (Point(falsePositivesPerImage: rate, sensitivity: step.point.sensitivity, threshold: step.point.threshold), step.cut)
        }
        froc = rates.map { point(rate: $0).0 }
        curve = sweep.map(\.point).filter { $0.falsePositivesPerImage <= FROCEvaluation.curveLimit }
        let (operating, cut) = point(rate: 2)
        operatingThreshold = operating.threshold
        let hitsAtOperating = events.prefix(cut).filter { $0.nodule != nil }
        var hitSet = Set<[Int]>()
        for e in hitsAtOperating { hitSet.insert([e.image, e.nodule!]) }
        func band(_ name: String, _ include: (GroundTruth.Nodule) -> Bool) -> Band {
            var total = 0, found = 0
            for (i, image) in usable.enumerated() {
                for (k, nodule) in image.nodules.enumerated() where include(nodule) {
                    total += 1
                    if hitSet.contains([i, k]) { found += 1 }
                }
            }
            return Band(name: name, nodules: total, hits: found, sensitivity: total > 0 ? Double(found) / Double(total) : nil)
        }
        bands = [
            band("all") { _ in true },
            band("<6 mm") { $0.diameterMM < 6 },
            band("6-10 mm") { $0.diameterMM >= 6 && $0.diameterMM < 10 },
            band("<10 mm") { $0.diameterMM < 10 },
            band(">=10 mm") { $0.diameterMM >= 10 },
            band("10-20 mm") { $0.diameterMM >= 10 && $0.diameterMM <= 20 },
            band(">20 mm") { $0.diameterMM > 20 },
            band("on rib") { $0.onRib == true },
            band("off rib") { $0.onRib == false },
        ]
        // JSRT's subtlety grades, when the truth has them.
        if usable.contains(where: { $0.nodules.contains { $0.subtlety != nil } }) {
            bands += (1...5).map { (grade: Int) in band("subtlety \(grade)") { $0.subtlety == grade } }
        }
        operatingHits = hitsAtOperating.map { e in
            Hit(image: usable[e.image].path, nodule: e.nodule!,
                trueDiameterMM: usable[e.image].nodules[e.nodule!].diameterMM, measuredDiameterMM: e.diameterMM, score: e.score,
                offsetFraction: e.offsetFraction)
        }
        var errors: [Double] = [], signed: [Double] = []
        for hit in operatingHits {
            guard let d = hit.measuredDiameterMM else { continue }
            errors.append(abs(d - hit.trueDiameterMM))
            signed.append(d - hit.trueDiameterMM)
        }
        errors.sort()
        func quantile(_ q: Double) -> Double? {
            errors.isEmpty ? nil : errors[min(errors.count - 1, Int((q * Double(errors.count - 1)).rounded()))]
        }
        diameterError = DiameterError(hits: errors.count, medianAbsoluteMM: quantile(0.5), p90AbsoluteMM: quantile(0.9),
                                      meanSignedMM: signed.isEmpty ? nil : signed.reduce(0, +) / Double(signed.count))
    }

    /// A plain-text table.
    public var table: String {
        func pct(_ v: Double?) -> String { v.map { String(format: "%5.1f%%", $0 * 100) } ?? "    —" }
        func mm(_ v: Double?) -> String { v.map { String(format: "%.2f mm", $0) } ?? "—" }
        var lines = ["images \(images)  nodules \(nodules)" + (missingImages.isEmpty ? "" : "  (no record for \(missingImages.count) image(s))")
                     + (imagesWithoutSpacing.map { "  (left out, no pixel spacing: \($0.joined(separator: ", ")))" } ?? ""),
                     "FROC (sensitivity at mean false positives per image):"]
        // Each point's score threshold, so a reader can pick an operating point for `nodules detect`'s scores.
        for p in froc {
            lines.append(String(format: "  %4.1f FP/image  ", p.falsePositivesPerImage) + pct(p.sensitivity)
                         + (p.threshold.map { String(format: "   at score ≥ %.3g", $0) } ?? ""))
        }
        lines.append("Sensitivity at 2 FP/image, by band:")
        for b in bands where b.nodules > 0 {
            lines.append("  " + b.name.padding(toLength: 10, withPad: " ", startingAt: 0) + " \(pct(b.sensitivity))  (\(b.hits)/\(b.nodules))")
        }
        lines.append("Diameter error of hits at 2 FP/image (n=\(diameterError.hits)): median \(mm(diameterError.medianAbsoluteMM)), "
                     + "90th percentile \(mm(diameterError.p90AbsoluteMM)), mean signed \(mm(diameterError.meanSignedMM))")
        let centred = operatingHits.filter(\.isCentred).count
        lines.append("Hits at 2 FP/image within half the hit radius of the true centre: \(centred)/\(operatingHits.count) "
                     + "(one further out on a large nodule may be another structure inside it)")
        return lines.joined(separator: "\n")
    }
}

extension FROCEvaluation: Codable {}
