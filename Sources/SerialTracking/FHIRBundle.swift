/// An HL7 FHIR R4 (4.0.1) `Bundle` of type `collection` for one patient:
///
/// - one `Observation` per measurement: category `imaging`; code LOINC 21889-1
///   "Size Tumor" with RadLex RID50149 "pulmonary nodule"; `valueQuantity` the
///   diameter (mean of long and short axis) in UCUM `mm`; components: LOINC
///   33728-7 (maximum dimension) when the long axis is known, and the position
///   and diameter uncertainty under the local code system; `focus` names the
///   nodule by its DICOM Tracking UID (112040).
/// - one `Observation` per track with two or more measurements for the volume
///   doubling time, under the local code system (no standard code exists), in
///   UCUM `d`. When the change is within measurement error there is no value:
///   `dataAbsentReason` is `as-text` and the note says why. The 95% interval
///   and growth rate are components (`referenceRange` means a normal range in
///   FHIR, so it is not used for a confidence interval).
/// - one `ServiceRequest` per track with a follow-up or a referral, with
///   `occurrenceDateTime` and `reasonReference` → the VDT observation (or the
///   measurement, for a nodule seen once).
///
/// The subject is referenced by identifier (no Patient resource):
/// ``patientIdentifierSystem(issuer:)`` turns the DICOM Issuer of Patient ID
/// into a URI. Resource ids are name-based UUIDs, so the same input gives the same bytes.
public enum FHIRBundle {
    /// The local code system for what no standard code covers (documented in the README).
    public static let codeSystem = "urn:nodulekit:fhir:codesystem:serial-tracking"
    static let loinc = "http://loinc.org", radlex = "http://radlex.org", ucum = "http://unitsofmeasure.org"
    static let dicomUIDSystem = "urn:dicom:uid"

    /// Local codes: code → display.
    public static let localCodes: [(code: String, display: String)] = [
        ("volume-doubling-time", "Pulmonary nodule volume doubling time"),
        ("vdt-ci95-lower", "Volume doubling time, lower bound of the 95% interval"),
        ("vdt-ci95-upper", "Volume doubling time, upper bound of the 95% interval"),
        ("vdt-ci95-unbounded", "The 95% interval on the growth rate includes no growth"),
        ("growth-rate", "Growth rate of ln(volume)"),
        ("volume-ratio", "Fitted volume ratio, last to first exam"),
        ("position-x", "Nodule centre, x from the image's left edge"),
        ("position-y", "Nodule centre, y from the image's top edge"),
        ("diameter-sd", "1-sigma diameter uncertainty"),
        ("growing", "Growing"), ("stable", "Stable"), ("shrinking", "Shrinking"),
        ("indeterminate", "Indeterminate"), ("new", "New"), ("resolved", "Resolved"),
    ]

    /// A URI for Identifier.system from a DICOM Issuer of Patient ID: an OID
    /// becomes `urn:oid:…`, a URI stays as it is, anything else becomes
    /// `urn:nodulekit:issuer:` + the percent-encoded issuer (empty: `urn:nodulekit:issuer:unknown`).
    public static func patientIdentifierSystem(issuer: String) -> String {
        let trimmed = issuer.trimmingSpaces
        if trimmed.isEmpty { return "urn:nodulekit:issuer:unknown" }
        if trimmed.first!.isNumber, trimmed.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == ".") }) { return "urn:oid:" + trimmed }
        if trimmed.hasPrefix("urn:") || trimmed.hasPrefix("http://") || trimmed.hasPrefix("https://") { return trimmed }
        var encoded = ""
        for byte in trimmed.utf8 {
            let c = Character(Unicode.Scalar(byte))
            if byte < 0x80, c.isLetter || c.isNumber || "-._~".contains(c) { encoded.append(c) } else {
                let hex = String(byte, radix: 16, uppercase: true)
                encoded += "%" + (hex.count == 1 ? "0" : "") + hex
            }
        }
        return "urn:nodulekit:issuer:" + encoded
    }

    /// The bundle as pretty-printed JSON.
    public static func json(_ p: PatientTracks) -> String { bundle(p).serialized(indent: 2) + "\n" }

    static func uuid(_ name: String) -> String { TrackIdentity(hashing: name).uuidString }

    static func coding(_ system: String, _ code: String, _ display: String? = nil) -> JSONValue {
        var m: [(String, JSONValue)] = [("system", .string(system)), ("code", .string(code))]
        if let display { m.append(("display", .string(display))) }
        return .object(m)
    }

    static func local(_ code: String) -> JSONValue {
        .object([("coding", .array([coding(codeSystem, code, localCodes.first { $0.code == code }?.display)]))])
    }

    static func quantity(_ value: Double, _ unit: String, decimals: Int) -> JSONValue {
        .object([("value", .number(value, decimals: decimals)), ("unit", .string(unit)), ("system", .string(ucum)), ("code", .string(unit))])
    }

    static let imagingCategory: JSONValue = .array([.object([("coding", .array([
        coding("http://terminology.hl7.org/CodeSystem/observation-category", "imaging", "Imaging"),
    ]))])])

    public static func bundle(_ p: PatientTracks) -> JSONValue {
        let patientKey = "\(p.patient.issuer)\u{1F}\(p.patient.patientID)"
        let subject: JSONValue = .object([("identifier", .object([
            ("system", .string(patientIdentifierSystem(issuer: p.patient.issuer))), ("value", .string(p.patient.patientID)),
        ]))])
        let latest = p.exams.last?.studyDate
        var entries: [JSONValue] = []
        func entry(_ id: String, _ resource: [(String, JSONValue)]) {
            entries.append(.object([("fullUrl", .string("urn:uuid:" + id)), ("resource", .object(resource))]))
        }
        for t in p.tracks {
            let focus: JSONValue = .array([.object([
                ("identifier", .object([("system", .string(dicomUIDSystem)), ("value", .string("urn:oid:" + t.identity.dicomUID))])),
                ("display", .string("\(t.trackingIdentifier) (Tracking UID)")),
            ])])
            var measurementIDs: [String] = []
            for o in t.observations {
                let id = uuid("measurement\u{1F}\(patientKey)\u{1F}\(t.identity.uuidString)\u{1F}\(o.examID)")
                measurementIDs.append(id)
                var components: [JSONValue] = []
                if let long = o.nodule.longAxisMM {
                    components.append(.object([
                        ("code", .object([("coding", .array([coding(loinc, "33728-7", "Size.maximum dimension in Tumor")]))])),
                        ("valueQuantity", quantity(long, "mm", decimals: 2)),
                    ]))
                }
                components.append(.object([("code", local("position-x")), ("valueQuantity", quantity(o.nodule.xMM, "mm", decimals: 2))]))
                components.append(.object([("code", local("position-y")), ("valueQuantity", quantity(o.nodule.yMM, "mm", decimals: 2))]))
                components.append(.object([("code", local("diameter-sd")), ("valueQuantity", quantity(o.diameterSigmaMM, "mm", decimals: 2))]))
                var note = "Exam \(o.examID); diameter = mean of long and short axis."
                if let ref = o.nodule.sourceReference { note += " Source: \(ref)." }
                if !o.registrationReliable { note += " Registration of this exam was unreliable; position not registered." }
                entry(id, [
                    ("resourceType", .string("Observation")),
                    ("id", .string(id)),
                    ("status", .string("final")),
                    ("category", imagingCategory),
                    ("code", .object([
                        ("coding", .array([coding(loinc, "21889-1", "Size Tumor"), coding(radlex, "RID50149", "pulmonary nodule")])),
                        ("text", .string("Pulmonary nodule size")),
                    ])),
                    ("subject", subject),
                    ("focus", focus),
                    ("effectiveDateTime", .string(o.studyDate.description)),
                    ("valueQuantity", quantity(o.nodule.diameterMM, "mm", decimals: 2)),
                    ("note", .array([.object([("text", .string(note))])])),
                    ("component", .array(components)),
                ])
            }
            var reasonID = measurementIDs.last
            if let g = t.growth, t.observations.count >= 2 {
                let id = uuid("vdt\u{1F}\(patientKey)\u{1F}\(t.identity.uuidString)")
                reasonID = id
                var resource: [(String, JSONValue)] = [
                    ("resourceType", .string("Observation")),
                    ("id", .string(id)),
                    ("status", .string("final")),
                    ("category", imagingCategory),
                    ("code", .object([("coding", .array([coding(codeSystem, "volume-doubling-time", "Pulmonary nodule volume doubling time")])),
                                      ("text", .string("Volume doubling time"))])),
                    ("subject", subject),
                    ("focus", focus),
                    ("effectivePeriod", .object([("start", .string(t.observations.first!.studyDate.description)),
                                                 ("end", .string(t.observations.last!.studyDate.description))])),
                ]
                if let vdt = g.doublingTimeDays {
                    resource.append(("valueQuantity", quantity(vdt, "d", decimals: 1)))
                } else {
                    resource.append(("dataAbsentReason", .object([
                        ("coding", .array([coding("http://terminology.hl7.org/CodeSystem/data-absent-reason", "as-text", "As Text")])),
                        ("text", .string("No VDT stated: the change is within measurement error or below the 25% volume threshold (status \(t.status.rawValue))")),
                    ])))
                }
                resource.append(("interpretation", .array([local(t.status.rawValue)])))
                var note = "Status \(t.status.rawValue): change counts only beyond measurement error and at least 25% in volume (NELSON)."
                if let r = t.followUp?.reason { note += " " + r }
                if !t.warnings.isEmpty { note += " Warnings: " + t.warnings.joined(separator: "; ") }
                resource.append(("note", .array([.object([("text", .string(note))])])))
                resource.append(("derivedFrom", .array(measurementIDs.map { .object([("reference", .string("urn:uuid:" + $0))]) })))
                var components: [JSONValue] = [
                    .object([("code", local("growth-rate")), ("valueQuantity", quantity(g.growthRatePerDay, "/d", decimals: 7))]),
                    .object([("code", local("volume-ratio")), ("valueQuantity", quantity(g.volumeRatio, "1", decimals: 4))]),
                ]
                let b = g.doublingTimeCI95.bounds
                if let lo = b.lower { components.append(.object([("code", local("vdt-ci95-lower")), ("valueQuantity", quantity(lo, "d", decimals: 1))])) }
                if let hi = b.upper { components.append(.object([("code", local("vdt-ci95-upper")), ("valueQuantity", quantity(hi, "d", decimals: 1))])) }
                if case .unbounded = g.doublingTimeCI95 { components.append(.object([("code", local("vdt-ci95-unbounded")), ("valueBoolean", .bool(true))])) }
                resource.append(("component", .array(components)))
                entry(id, resource)
            }
            if let f = t.followUp, f.action != .none, let reasonID {
                let id = uuid("followup\u{1F}\(patientKey)\u{1F}\(t.identity.uuidString)")
                var resource: [(String, JSONValue)] = [
                    ("resourceType", .string("ServiceRequest")),
                    ("id", .string(id)),
                    ("status", .string("active")),
                    ("intent", .string("proposal")),
                    ("category", .array([.object([("coding", .array([coding("http://snomed.info/sct", "363679005", "Imaging")]))])])),
                    ("code", .object([("text", .string(f.action == .refer ? "Referral for chest CT and specialist review"
                                                                           : "Follow-up chest radiograph"))])),
                    ("subject", subject),
                ]
                if let date = f.nextFollowUpDate { resource.append(("occurrenceDateTime", .string(date.description))) }
                if let latest { resource.append(("authoredOn", .string(latest.description))) }
                resource.append(("reasonReference", .array([.object([("reference", .string("urn:uuid:" + reasonID))])])))
                resource.append(("note", .array([.object([("text", .string("\(f.reason). Policy \(f.policyName) \(f.policyVersion), category \(f.category). CT-derived thresholds: decision support only on radiographs."))])])))
                entry(id, resource)
            }
        }
        var bundle: [(String, JSONValue)] = [
            ("resourceType", .string("Bundle")),
            ("id", .string(uuid("bundle\u{1F}\(patientKey)"))),
            ("type", .string("collection")),
        ]
        if !entries.isEmpty { bundle.append(("entry", .array(entries))) }  // FHIR JSON forbids empty arrays
        return .object(bundle)
    }
}

extension String {
    fileprivate var trimmingSpaces: String {
        var s = Substring(self)
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
