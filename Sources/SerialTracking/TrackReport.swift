/// Writers for tracking results: JSON, CSV and an HL7 FHIR R4 `Bundle`.
/// All output is deterministic: stable ordering, name-based ids, fixed rounding
/// (positions and diameters 0.01 mm, days 0.1 d, rates 1e-7 per day, detection scores 1e-4).
public enum TrackReport {
    // MARK: JSON

    /// A JSON array with one object per patient (see `Sources/SerialTracking/README.md` for the fields).
    public static func json(_ patients: [PatientTracks]) -> String {
        JSONValue.array(patients.sorted { $0.patient < $1.patient }.map(jsonValue)).serialized(indent: 2) + "\n"
    }

    static func mm(_ v: Double?) -> JSONValue { .number(v, decimals: 2) }
    static func px(_ v: Double?) -> JSONValue { .number(v, decimals: 2) }
    static func days(_ v: Double?) -> JSONValue { .number(v, decimals: 1) }
    static func score(_ v: Double?) -> JSONValue { .number(v, decimals: 4) }

    static func jsonValue(_ p: PatientTracks) -> JSONValue {
        .object([
            ("patient_id", .string(p.patient.patientID)),
            ("issuer", .string(p.patient.issuer)),
            ("exams", .array(p.exams.map { e in
                .object([
                    ("exam_id", .string(e.examID)),
                    ("study_date", .string(e.studyDate.description)),
                    ("registration", registrationJSON(e.registration, used: e.registrationUsed)),
                ])
            })),
            ("tracks", .array(p.tracks.map(trackJSON))),
        ])
    }

    static func registrationJSON(_ r: RegistrationResult, used: Bool) -> JSONValue {
        .object([
            ("reliable", .bool(r.isReliable)),
            ("used", .bool(used)),
            ("quality", .number(r.quality, decimals: 3)),
            ("overlap", .number(r.overlap, decimals: 3)),
            ("scale", .number(r.transform.scale, decimals: 5)),
            ("rotation_deg", .number(r.transform.rotationDegrees, decimals: 3)),
            ("translation_x_mm", mm(r.transform.translationXMM)),
            ("translation_y_mm", mm(r.transform.translationYMM)),
            ("issues", .array(r.issues.map { .string($0.description) })),
        ])
    }

    static func trackJSON(_ t: NoduleTrack) -> JSONValue {
        let g = t.growth
        let ci: JSONValue = g.map { g in
            let b = g.doublingTimeCI95.bounds
            return .array([days(b.lower), days(b.upper)])
        } ?? .null
        let followUp = t.followUp
        return .object([
            ("track_id", .string(t.identity.uuidString)),
            ("tracking_uid", .string(t.identity.dicomUID)),
            ("tracking_identifier", .string(t.trackingIdentifier)),
            ("observations", .array(t.observations.map { o in
                .object([
                    ("exam_id", .string(o.examID)),
                    ("study_date", .string(o.studyDate.description)),
                    ("path", .string(o.nodule.sourceReference)),
                    ("x", px(o.nodule.xPx)),
                    ("y", px(o.nodule.yPx)),
                    ("x_mm", mm(o.nodule.xMM)),
                    ("y_mm", mm(o.nodule.yMM)),
                    ("reference_x_mm", mm(o.referenceXMM)),
                    ("reference_y_mm", mm(o.referenceYMM)),
                    ("diameter_mm", mm(o.nodule.diameterMM)),
                    ("diameter_sd_mm", mm(o.diameterSigmaMM)),
                    ("sizing", .string(o.nodule.sizing?.rawValue)),
                    ("registration_reliable", .bool(o.registrationReliable)),
                    ("detection_score", score(o.nodule.detectionScore)),
                ])
            })),
            ("detection_score", score(t.detectionScore)),
            ("status", .string(t.status.rawValue)),
            ("doubling_time_days", days(g?.doublingTimeDays)),
            ("doubling_time_ci_days", ci),
            ("doubling_time_ci_unbounded", g.map { g in if case .unbounded = g.doublingTimeCI95 { .bool(true) } else { .bool(false) } } ?? .null),
            ("growth_rate_per_day", .number(g?.growthRatePerDay, decimals: 7)),
            ("growth_rate_sd_per_day", .number(g?.growthRateStandardError, decimals: 7)),
            ("volume_ratio", .number(g?.volumeRatio, decimals: 4)),
            ("next_followup_date", .string(followUp?.nextFollowUpDate?.description)),
            ("followup_action", .string(followUp?.action.rawValue)),
            ("category", .string(followUp?.category)),
            ("reason", .string(followUp?.reason)),
            ("policy", followUp.map { .object([("name", .string($0.policyName)), ("version", .string($0.policyVersion))]) } ?? .null),
            ("registration_quality", .number(t.registrationQuality, decimals: 3)),
            ("warnings", .array(t.warnings.map { .string($0) })),
        ])
    }

    // MARK: CSV

    /// The CSV header, one row per track × observation (RFC 4180 quoting).
    public static let csvHeader = ["issuer", "patient_id", "track_id", "tracking_identifier", "exam_id", "study_date", "path",
                                   "x_mm", "y_mm", "reference_x_mm", "reference_y_mm", "diameter_mm", "diameter_sd_mm",
                                   "registration_reliable", "status", "doubling_time_days", "doubling_time_ci_lower_days",
                                   "doubling_time_ci_upper_days", "next_followup_date", "followup_action", "category",
                                   "policy", "policy_version", "registration_quality", "reason", "sizing", "x", "y",
                                   "detection_score", "track_detection_score"]

    public static func csv(_ patients: [PatientTracks]) -> String {
        func field(_ v: JSONValue) -> String {
            switch v {
            case .null: ""
            case let .string(s): quote(s)
            default: v.serialized()
            }
        }
        var lines = [csvHeader.joined(separator: ",")]
        for p in patients.sorted(by: { $0.patient < $1.patient }) {
            for t in p.tracks {
                let b = t.growth?.doublingTimeCI95.bounds
                for o in t.observations {
                    let row: [JSONValue] = [
                        .string(p.patient.issuer), .string(p.patient.patientID), .string(t.identity.uuidString), .string(t.trackingIdentifier),
                        .string(o.examID), .string(o.studyDate.description), .string(o.nodule.sourceReference),
                        mm(o.nodule.xMM), mm(o.nodule.yMM), mm(o.referenceXMM), mm(o.referenceYMM), mm(o.nodule.diameterMM), mm(o.diameterSigmaMM),
                        .bool(o.registrationReliable), .string(t.status.rawValue), days(t.growth?.doublingTimeDays), days(b?.lower), days(b?.upper),
                        .string(t.followUp?.nextFollowUpDate?.description), .string(t.followUp?.action.rawValue), .string(t.followUp?.category),
                        .string(t.followUp?.policyName), .string(t.followUp?.policyVersion), .number(t.registrationQuality, decimals: 3),
                        .string(t.followUp?.reason), .string(o.nodule.sizing?.rawValue),
                        px(o.nodule.xPx), px(o.nodule.yPx), score(o.nodule.detectionScore), score(t.detectionScore),
                    ]
                    lines.append(row.map(field).joined(separator: ","))
                }
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    static func quote(_ s: String) -> String {
        guard s.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return s }
        return "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

extension String {
    fileprivate func replacingOccurrences(of target: String, with replacement: String) -> String {
        split(separator: Character(target), omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
