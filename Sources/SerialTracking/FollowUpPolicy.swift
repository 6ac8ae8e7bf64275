import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// What a policy asks for next.
public enum FollowUpAction: String, Hashable, Sendable, Codable {
    /// Another exam on ``FollowUpDecision/nextFollowUpDate``.
    case followUp = "follow-up"
    /// Referral (CT, specialist review) rather than another radiograph.
    case refer
    /// No further imaging for this nodule under this policy.
    case none
}

/// The policy's answer for one track.
public struct FollowUpDecision: Hashable, Sendable {
    public var action: FollowUpAction
    /// nil unless ``action`` is `.followUp`.
    public var nextFollowUpDate: CalendarDate?
    /// Days from the decision date (the patient's latest exam) to the next exam.
    public var intervalDays: Int?
    /// Policy category, e.g. "growing", "suspicious", "likely-benign".
    public var category: String
    /// One human-readable sentence giving the rule and numbers that decided.
    public var reason: String
    public var policyName: String
    public var policyVersion: String
}

/// Policy errors, by phase.
public enum FollowUpPolicyError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The named policy is neither built in nor a readable file.
    case notFound(String)
    /// The JSON does not decode as a policy.
    case malformed(path: String, message: String)
    /// It decodes but is inconsistent (e.g. a missing rule or band).
    case invalid(String)

    public var description: String {
        switch self {
        case let .notFound(n): "no follow-up policy named or at '\(n)'"
        case let .malformed(p, m): "malformed follow-up policy \(p): \(m)"
        case let .invalid(m): "invalid follow-up policy: \(m)"
        }
    }
}

/// A follow-up policy, loaded from JSON (see `Pipelines/policies/`).
///
/// Two are built in, identical to the committed files:
/// - `radiograph-surveillance` (the seed's clinical rule): the next radiograph
///   falls when a measurable change δ is expected, t = 3·VDT·log2(1 + δ/D)
///   (the time for diameter D to grow by δ at doubling time VDT), clamped to
///   30–183 days (1–6 months). Indeterminate tracks use the fastest plausible
///   growth (the lower 95% VDT bound), so a real change would already be measurable.
/// - `vdt-category` (NELSON/BTS bands): VDT < 400 d suspicious → refer;
///   400–600 d → continue follow-up; > 600 d → likely benign.
///
/// Both derive from CT practice; on radiographs they are decision support only.
public struct FollowUpPolicy: Hashable, Sendable, Codable {
    public struct Rule: Hashable, Sendable, Codable {
        /// "measurable-change", "interval", "vdt-band", "refer" or "none".
        public var action: String
        /// For "interval".
        public var days: Int?
        /// For "measurable-change": "estimate" (the VDT) or "fastest-plausible" (lower 95% bound).
        public var vdt: String?
        public var category: String?
    }

    public struct Band: Hashable, Sendable, Codable {
        /// Upper end (exclusive) in days; nil for the last, open band.
        public var belowDays: Double?
        public var category: String
        /// "refer", "follow-up" or "none".
        public var action: String
        public var intervalDays: Int?
        public var reason: String

        enum CodingKeys: String, CodingKey {
            case belowDays = "below_days", category, action, intervalDays = "interval_days", reason
        }
    }

    public var name: String
    public var version: String
    public var description: String
    public var source: String
    public var caveat: String
    /// δ, mm.
    public var measurableChangeMM: Double?
    public var minimumIntervalDays: Int
    public var maximumIntervalDays: Int
    public var bands: [Band]?
    /// Keyed by ``GrowthStatus`` raw value; every status must have one.
    public var rules: [String: Rule]

    enum CodingKeys: String, CodingKey {
        case name, version, description, source, caveat, bands, rules
        case measurableChangeMM = "measurable_change_mm"
        case minimumIntervalDays = "minimum_interval_days"
        case maximumIntervalDays = "maximum_interval_days"
    }

    // MARK: Loading

    /// Decodes and validates a policy.
    public static func decode(_ data: Data, path: String = "<data>") throws(FollowUpPolicyError) -> FollowUpPolicy {
        let policy: FollowUpPolicy
        do { policy = try JSONDecoder().decode(FollowUpPolicy.self, from: data) } catch {
            throw .malformed(path: path, message: String(describing: error))
        }
        try policy.validate()
        return policy
    }

    /// Loads a policy file.
    public static func load(path: String) throws(FollowUpPolicyError) -> FollowUpPolicy {
        guard let data = FileManager.default.contents(atPath: path) else { throw .notFound(path) }
        return try decode(data, path: path)
    }

    /// The built-in policies by name.
    public static let builtInNames = ["radiograph-surveillance", "vdt-category"]

    /// A built-in policy (the same JSON as `Pipelines/policies/NAME.json`).
    public static func builtIn(_ name: String) throws(FollowUpPolicyError) -> FollowUpPolicy {
        switch name {
        case "radiograph-surveillance": return try decode(Data(BuiltInPolicies.radiographSurveillance.utf8), path: name)
        case "vdt-category": return try decode(Data(BuiltInPolicies.vdtCategory.utf8), path: name)
        default: throw .notFound(name)
        }
    }

    /// `--policy NAME|FILE`: a built-in name, else `directory/NAME.json`, else a file path.
    public static func resolve(_ nameOrPath: String, policiesDirectory: String? = nil) throws(FollowUpPolicyError) -> FollowUpPolicy {
        if builtInNames.contains(nameOrPath) { return try builtIn(nameOrPath) }
        if let policiesDirectory, FileManager.default.fileExists(atPath: policiesDirectory + "/" + nameOrPath + ".json") {
            return try load(path: policiesDirectory + "/" + nameOrPath + ".json")
        }
        return try load(path: nameOrPath)
    }

    func validate() throws(FollowUpPolicyError) {
        guard minimumIntervalDays > 0, maximumIntervalDays >= minimumIntervalDays else {
            throw .invalid("\(name): need 0 < minimum_interval_days ≤ maximum_interval_days")
        }
        for status in GrowthStatus.allCases {
            guard let rule = rules[status.rawValue] else { throw .invalid("\(name): no rule for status '\(status.rawValue)'") }
            switch rule.action {
            case "measurable-change":
                guard let d = measurableChangeMM, d > 0 else { throw .invalid("\(name): measurable-change needs measurable_change_mm > 0") }
                guard rule.vdt == "estimate" || rule.vdt == "fastest-plausible" else {
                    throw .invalid("\(name): rule '\(status.rawValue)' needs vdt 'estimate' or 'fastest-plausible'")
                }
            case "interval":
                guard let d = rule.days, d > 0 else { throw .invalid("\(name): rule '\(status.rawValue)' needs days > 0") }
            case "vdt-band":
                guard let bands, !bands.isEmpty, bands.last?.belowDays == nil else {
                    throw .invalid("\(name): vdt-band needs bands ending in an open band")
                }
            case "refer", "none": break
            default: throw .invalid("\(name): unknown action '\(rule.action)'")
            }
        }
        for band in bands ?? [] where !["refer", "follow-up", "none"].contains(band.action) || (band.action == "follow-up" && band.intervalDays == nil) {
            throw .invalid("\(name): band '\(band.category)' has action '\(band.action)' without what it needs")
        }
    }

    // MARK: Deciding

    /// Time (days) for diameter `diameterMM` to grow by `deltaMM` at doubling time
    /// `vdtDays`: t = 3·VDT·log2(1 + δ/D). E.g. D = 10, δ = 2: 316 d at VDT 400, 79 d at VDT 100.
    public static func timeToMeasurableChangeDays(vdtDays: Double, diameterMM: Double, deltaMM: Double) -> Double {
        3 * vdtDays * log2(1 + deltaMM / diameterMM)
    }

    /// The decision for a track of `status` whose last diameter is `lastDiameterMM`,
    /// decided on `decisionDate` (the patient's latest exam).
    public func decide(status: GrowthStatus, growth: GrowthEstimate?, lastDiameterMM: Double, decisionDate: CalendarDate) -> FollowUpDecision {
        let rule = rules[status.rawValue] ?? Rule(action: "none", days: nil, vdt: nil, category: nil)
        let category = rule.category ?? status.rawValue
        func make(_ action: FollowUpAction, _ days: Int?, _ category: String, _ reason: String) -> FollowUpDecision {
            FollowUpDecision(action: action, nextFollowUpDate: days.map { decisionDate.adding(days: $0) }, intervalDays: days,
                             category: category, reason: reason, policyName: name, policyVersion: version)
        }
        func clamp(_ t: Double) -> (Int, String) {
            let raw = Int(t.rounded())
            if t < Double(minimumIntervalDays) { return (minimumIntervalDays, "\(raw) d, clamped to the \(minimumIntervalDays)-day minimum") }
            if t > Double(maximumIntervalDays) || !t.isFinite { return (maximumIntervalDays, "\(t.isFinite ? "\(raw) d" : "never"), clamped to the \(maximumIntervalDays)-day maximum") }
            return (raw, "\(raw) d")
        }
        let label = "\(status.rawValue)"
        switch rule.action {
        case "interval":
            let d = min(max(rule.days!, minimumIntervalDays), maximumIntervalDays)
            return make(.followUp, d, category, "\(label): fixed interval of \(d) d under \(name) \(version)")
        case "refer":
            return make(.refer, nil, category, "\(label): refer under \(name) \(version)")
        case "none":
            return make(.none, nil, category, "\(label): no further imaging for this nodule under \(name) \(version)")
        case "measurable-change":
            let delta = measurableChangeMM ?? 2
            var vdt: Double?
            var which = "VDT"
            if rule.vdt == "fastest-plausible" {
                which = "fastest plausible VDT (lower 95% bound)"
                if let g = growth?.doublingTimeCI95.bounds.lower, g > 0 { vdt = g }
            } else if let v = growth?.doublingTimeDays, v > 0 {
                vdt = v
            }
            guard let vdt else {
                return make(.followUp, minimumIntervalDays, category,
                             "\(label): no positive \(which) available, shortest interval \(minimumIntervalDays) d under \(name) \(version)")
            }
            let t = Self.timeToMeasurableChangeDays(vdtDays: vdt, diameterMM: lastDiameterMM, deltaMM: delta)
            let (d, text) = clamp(t)
            let f = { (v: Double) in String((v * 10).rounded() / 10) }
            return make(.followUp, d, category,
                        "\(label): \(delta) mm change expected after 3·\(f(vdt))·log2(1 + \(f(delta))/\(f(lastDiameterMM))) = \(text) (\(which)) under \(name) \(version)")
        case "vdt-band":
            guard let vdt = growth?.doublingTimeDays, vdt > 0, let bands else {
                return make(.followUp, minimumIntervalDays, category, "\(label): no confident VDT for the bands; shortest interval under \(name) \(version)")
            }
            let band = bands.first { b in b.belowDays.map { vdt < $0 } ?? true }!
            let action = FollowUpAction(rawValue: band.action) ?? .none
            let days = action == .followUp ? band.intervalDays.map { min(max($0, minimumIntervalDays), maximumIntervalDays) } : nil
            return make(action, days, band.category, "\(band.reason) (VDT \(Int(vdt.rounded())) d) under \(name) \(version)")
        default:
            return make(.none, nil, category, "\(label): unknown action '\(rule.action)'")
        }
    }
}
