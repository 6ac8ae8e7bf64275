import Foundation
import NoduleDetection
import RadiographIO
import SerialTracking

/// Errors writing a report.
public enum ReportError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)
    case image(path: String, reason: String)

    public var description: String {
        switch self {
        case let .cannotWrite(p, r): "cannot write \(p): \(r)"
        case let .image(p, r): "cannot encode \(p): \(r)"
        }
    }
}

/// What a report run wrote.
public struct ReportFiles: Sendable, Equatable {
    /// Relative to the output folder.
    public var index: String
    /// Patient page per patient, in index (urgency) order.
    public var patientPages: [(patient: PatientKey, page: String)]
    public var images: [String]

    public static func == (a: ReportFiles, b: ReportFiles) -> Bool {
        a.index == b.index && a.images == b.images && a.patientPages.map(\.patient) == b.patientPages.map(\.patient)
            && a.patientPages.map(\.page) == b.patientPages.map(\.page)
    }
}

/// Writes the self-contained static HTML report: `index.html`, one page per patient and
/// the PNG pictures beside them (relative links only; no scripts, fonts or network requests).
public struct ReportWriter: Sendable {
    /// The registration quality threshold, to state it next to each quality figure.
    public var registrationQualityThreshold: Double
    /// The follow-up policy used (named on every page), nil when none was applied.
    public var policy: FollowUpPolicy?
    /// The store the figures came from, as given (shown in the page footer).
    public var source: String
    /// The operating points measured for the pipeline whose detections are reported, when any
    /// (``OperatingPoints/measured(for:folders:)``): each detection score is then read against them,
    /// and `stable` and `resolved` tracks below the lowest-score point are folded (see ``patientPage``).
    public var operatingPoints: OperatingPoints?

    public init(registrationQualityThreshold: Double = ExamRegistration.Configuration().minimumQuality,
                policy: FollowUpPolicy?, source: String, operatingPoints: OperatingPoints? = nil) {
        self.registrationQualityThreshold = registrationQualityThreshold
        self.policy = policy
        self.source = source
        self.operatingPoints = operatingPoints
    }

    /// Writes the report for `patients` into `directory` (created if missing): ``Incremental`` with the
    /// patients added in the order given.
    @discardableResult
    public func write(_ patients: [PatientReview], to directory: String) throws -> ReportFiles {
        var report = try Incremental(self, directory: directory)
        for p in patients { try report.add(p) }
        return try report.finish()
    }

    /// A report written one patient at a time: ``add(_:)`` writes a patient's page and pictures at once and
    /// keeps only its index row, so a run holds one patient's images, not every patient's; ``finish()``
    /// writes the index, most urgent first. A patient's page is named after its key (`patient-ID.html`;
    /// `-2`, `-3`… for keys that clean to the same name, in the order added), whatever the others' urgency.
    public struct Incremental {
        let writer: ReportWriter
        let directory: String
        private var used = Set<String>()
        /// Per patient added: its review without pictures (for the urgency order), page, pictures and index row.
        private var added: [(review: PatientReview, page: String, images: [String], row: String)] = []

        public init(_ writer: ReportWriter, directory: String) throws {
            self.writer = writer
            self.directory = directory
            try ReportWriter.createDirectory(directory)
        }

        public mutating func add(_ p: PatientReview) throws {
            var slug = ReportWriter.slug(p.patient)
            var n = 2
            while used.contains(slug.lowercased()) { slug = ReportWriter.slug(p.patient) + "-\(n)"; n += 1 }
            used.insert(slug.lowercased())
            try ReportWriter.createDirectory(directory + "/" + slug)
            var images: [(name: String, raster: RGBRaster)] = []
            let html = writer.patientPage(p, slug: slug, images: &images)
            for image in images {
                let path = directory + "/" + image.name
                let bytes: [UInt8]
                do { bytes = try image.raster.pngData() } catch { throw ReportError.image(path: path, reason: "\(error)") }
                try ReportWriter.writeFile(path, Data(bytes))
            }
            try ReportWriter.writeFile(directory + "/" + slug + ".html", Data(html.utf8))
            added.append((p.withoutPictures, slug + ".html", images.map(\.name), writer.indexRow(p, slug: slug)))
        }

        /// Writes `index.html`; the files listed most urgent patient first.
        public func finish() throws -> ReportFiles {
            let ordered = added.sorted { PatientReview.urgencyOrder($0.review, $1.review) }
            try ReportWriter.writeFile(directory + "/index.html", Data(writer.indexPage(rows: ordered.map(\.row)).utf8))
            return ReportFiles(index: "index.html", patientPages: ordered.map { ($0.review.patient, $0.page) },
                               images: ordered.flatMap(\.images))
        }
    }

    // MARK: Pages

    /// The index's row for patient `p`, whose page is `slug`.html.
    func indexRow(_ p: PatientReview, slug: String) -> String {
        let statuses = Dictionary(grouping: p.tracks.tracks, by: \.status)
        let summary = GrowthStatus.allCases.compactMap { s in statuses[s].map { "\($0.count) \(s.rawValue)" } }.joined(separator: ", ")
        let vdtTrack = p.tracks.tracks.filter { ($0.growth?.doublingTimeDays ?? -1) > 0 }.min { $0.growth!.doublingTimeDays! < $1.growth!.doublingTimeDays! }
        let vdt = vdtTrack.map { "\(Report.days($0.growth!.doublingTimeDays!)) d <span class=\"muted\">(\(HTML.escape($0.trackingIdentifier)); 95% CI \(Self.interval($0.growth!.doublingTimeCI95)))</span>" } ?? "<span class=\"muted\">none stated</span>"
        let follow = Self.soonestFollowUpText(p)
        let warnings = Self.patientWarnings(p, threshold: registrationQualityThreshold).count
            + p.tracks.tracks.reduce(0) { $0 + trackWarnings($1, in: p).count }
        let dates = p.exams.map(\.studyDate)
        return """
        <tr data-patient="\(HTML.escape(p.patient.patientID))">
        <td><a href="\(HTML.escape(Self.hrefEncode(slug)).appending(".html"))">\(HTML.escape(p.patient.patientID))</a>\(p.patient.issuer.isEmpty ? "" : "<br><span class=\"muted\">issuer \(HTML.escape(p.patient.issuer))</span>")</td>
        <td>\(dates.count)\(dates.isEmpty ? "" : " <span class=\"muted\">(\(dates.first!) to \(dates.last!))</span>")</td>
        <td>\(p.tracks.tracks.count)\(summary.isEmpty ? "" : " <span class=\"muted\">(\(summary))</span>")</td>
        <td data-field="shortest-vdt-days">\(vdt)</td>
        <td data-field="soonest-followup">\(follow)</td>
        <td>\(warnings == 0 ? "none" : "<span class=\"warn-count\">⚠ \(warnings)</span>")</td>
        </tr>

        """
    }

    /// The index page over `rows` (most urgent first).
    func indexPage(rows: [String]) -> String {
        let count = rows.count, rows = rows.joined()
        let body = """
        <h1>Serial nodule review</h1>
        <p class="lead">\(count) patient\(count == 1 ? "" : "s"), most urgent first: shortest stated volume doubling time (VDT) first, then the soonest follow-up (a referral counts as due on the patient's latest exam). Patients with no stated VDT follow, by follow-up date. VDT = time for the nodule's volume to double, in days (d).</p>
        <table class="index">
        <thead><tr><th scope="col">patient</th><th scope="col">exams</th><th scope="col">tracked nodules</th><th scope="col">shortest VDT</th><th scope="col">next follow-up</th><th scope="col">warnings</th></tr></thead>
        <tbody>
        \(rows)</tbody>
        </table>
        \(policyParagraph)
        """
        return page(title: "Serial nodule review: index", body: body, back: false)
    }

    var policyParagraph: String {
        guard let policy else { return "<p class=\"muted\">No follow-up policy was applied.</p>" }
        return "<p class=\"policy\">Follow-up policy: <strong>\(HTML.escape(policy.name)) \(HTML.escape(policy.version))</strong>. \(HTML.escape(policy.description)) <em>\(HTML.escape(policy.caveat))</em></p>"
    }

    func patientPage(_ p: PatientReview, slug: String, images: inout [(name: String, raster: RGBRaster)]) -> String {
        // Which track each selected candidate joined, for labels on the thumbnails.
        struct Observed: Hashable { var examID: String; var nodule: MeasuredNodule }
        var trackOf: [Observed: (number: Int, track: NoduleTrack)] = [:]
        for (i, t) in p.tracks.tracks.enumerated() {
            for o in t.observations { trackOf[Observed(examID: o.examID, nodule: o.nodule)] = (i + 1, t) }
        }
        let origin = p.exams.first?.studyDate
        var body = "<h1>Patient \(HTML.escape(p.patient.patientID))\(p.patient.issuer.isEmpty ? "" : " <span class=\"muted\">(issuer \(HTML.escape(p.patient.issuer)))</span>")</h1>\n"
        let decision = p.exams.last.map { " Follow-up dates are counted from the latest exam, \($0.studyDate)." } ?? ""
        body += "<p class=\"lead\">\(p.exams.count) exam\(p.exams.count == 1 ? "" : "s"), \(p.tracks.tracks.count) tracked nodule\(p.tracks.tracks.count == 1 ? "" : "s"). Nodules are \(p.selectionRule) (pipeline \(HTML.escape(p.pipeline.name)) \(HTML.escape(p.pipeline.version))). Sizes are diameters in millimetres (mm), the mean of the long and short axes; volumes assume a sphere, V = πD³/6, in mm³.\(decision)</p>\n"
        let warnings = Self.patientWarnings(p, threshold: registrationQualityThreshold)
        if !warnings.isEmpty {
            body += "<div class=\"warnings\" role=\"note\"><h2>⚠ Check before relying on these figures</h2><ul>\(warnings.map { "<li>\(HTML.escape($0))</li>" }.joined())</ul></div>\n"
        }

        // Exam timeline.
        body += "<section class=\"timeline\"><h2>Exam timeline</h2>\n<p class=\"legend\">Green line: lung-field outline found by the pipeline. Circles: nodules given to the tracker, labelled with their track; colour by status: <span class=\"swatch growing\">growing</span> <span class=\"swatch new\">new</span> <span class=\"swatch indeterminate\">indeterminate</span> <span class=\"swatch stable\">stable</span> <span class=\"swatch shrinking\">shrinking</span> <span class=\"swatch resolved\">resolved</span>. Images are shown as processed (normalised, nodules bright), not for diagnostic reading.</p>\n<div class=\"exams\">\n"
        for (e, exam) in p.exams.enumerated() {
            var marks: [ReportImages.Mark] = []
            var described: [String] = []
            for (i, nodule) in zip(exam.selected, exam.nodules) {
                let c = exam.candidates[i]
                let track = trackOf[Observed(examID: exam.examID, nodule: nodule)]
                let label = track.map { "N\($0.number)" } ?? "?"
                let status = track?.track.status ?? .new
                marks.append(.init(xPx: c.x, yPx: c.y, diameterPx: c.diameterPx, label: label, colour: ReportImages.colour(status)))
                described.append("\(label) \(Self.mm(nodule.diameterMM)) mm \(status.rawValue)")
            }
            // Nodules measured again here at another exam's nodule follow the selected ones; they have
            // no stored detection, so their place comes from their mm position.
            let remeasured = exam.nodules.dropFirst(exam.selected.count)
            for nodule in remeasured {
                let track = trackOf[Observed(examID: exam.examID, nodule: nodule)]
                let label = track.map { "N\($0.number)" } ?? "?"
                let status = track?.track.status ?? .new
                let centre = exam.pixel(xMM: nodule.xMM, yMM: nodule.yMM)
                marks.append(.init(xPx: centre.x, yPx: centre.y,
                                   diameterPx: nodule.diameterMM / (exam.diameterScale?.factor ?? 1)
                                       / ((exam.spacingMM.row + exam.spacingMM.column) / 2),
                                   label: label, colour: ReportImages.colour(status)))
                described.append("\(label) \(Self.mm(nodule.diameterMM)) mm \(status.rawValue), measured again at another exam's nodule")
            }
            let name = "\(slug)/exam-\(e + 1)-\(exam.studyDate).png"
            var figure = "<figure class=\"exam\" data-exam=\"\(exam.studyDate)\">"
            if let image = exam.image {
                images.append((name, ReportImages.thumbnail(exam, image: image, marks: marks)))
                let alt = "Radiograph of \(exam.studyDate), processed, with the lung-field outline in green and \(marks.count) tracked nodule\(marks.count == 1 ? "" : "s") circled" + (described.isEmpty ? "" : ": " + described.joined(separator: "; "))
                figure += "<img src=\"\(HTML.escape(Self.hrefEncode(name)))\" alt=\"\(HTML.escape(alt))\" width=\"360\">"
            } else {
                figure += "<div class=\"missing\" role=\"img\" aria-label=\"no image available\">no image<br>\(HTML.escape(exam.imageProblem ?? ""))</div>"
            }
            let days = origin.map { $0.days(to: exam.studyDate) } ?? 0
            var caption = "<strong>\(exam.studyDate)</strong> <span class=\"muted\">(day \(days)\(exam.registration == nil ? ", reference" : ""))</span><br>"
            caption += "\(exam.nodules.count) nodule\(exam.nodules.count == 1 ? "" : "s") tracked"
                + (remeasured.isEmpty ? "" : " (\(remeasured.count) measured again at another exam's nodule)")
                + "; \(exam.candidates.count - exam.selected.count) lower-score candidate\(exam.candidates.count - exam.selected.count == 1 ? "" : "s") not shown<br>"
            caption += exam.spacingKnown
                ? "pixel spacing \(Report.number(exam.spacingMM.column, decimals: 3)) mm/px <span class=\"muted\">(\(HTML.escape(exam.spacingSource)))</span>"
                : "<span class=\"warn\">⚠ pixel spacing unknown: mm figures assume \(Report.number(exam.spacingMM.column, decimals: 3)) mm/px"
                    + (exam.diameterScale.map { "; \(HTML.escape($0.description))" } ?? "") + "</span>"
            if let lungs = exam.image?.lungs, lungs.source != .segmented {
                caption += "<br><span class=\"warn\">⚠ \(Self.lungFieldCaveat(lungs.source))</span>"
            }
            if let r = exam.registration {
                caption += "<br>" + (r.isReliable
                    ? "registration quality \(Report.number(r.quality, decimals: 2)) <span class=\"muted\">(threshold \(Report.number(registrationQualityThreshold, decimals: 2)); shift \(Report.number(hypot(r.transform.translationXMM, r.transform.translationYMM), decimals: 1)) mm, rotation \(Report.number(r.transform.rotationDegrees, decimals: 1))°, scale \(Report.number(r.transform.scale, decimals: 3)))</span>"
                    : "<span class=\"warn\">⚠ registration unreliable: \(HTML.escape(r.issues.map(\.description).joined(separator: "; ")))</span>")
            }
            if !exam.detectionWarnings.isEmpty {
                // Everything detection said about this image (decoding notes, spacing, lung field), folded.
                let count = exam.detectionWarnings.count
                caption += "<details class=\"detection-warnings\"><summary>⚠ \(count) detection warning\(count == 1 ? "" : "s")</summary><ul>"
                    + exam.detectionWarnings.map { "<li>\(HTML.escape($0))</li>" }.joined() + "</ul></details>"
            }
            figure += "<figcaption>\(caption)</figcaption></figure>\n"
            body += figure
        }
        body += "</div></section>\n"

        // Tracks.
        body += "<section class=\"tracks\"><h2>Tracked nodules</h2>\n"
        let order = Self.urgencyOrder(p.tracks.tracks)
        if !order.isEmpty {
            body += "<table class=\"summary\"><caption>Most urgent first: growing (shortest VDT first), indeterminate, new, stable, shrinking, resolved; then the soonest follow-up, then the highest detection score (the detector's strongest evidence that a track is a nodule, not anatomy).</caption>\n<thead><tr><th scope=\"col\">nodule</th><th scope=\"col\">status</th><th scope=\"col\">latest diameter</th><th scope=\"col\">VDT</th><th scope=\"col\">next follow-up</th><th scope=\"col\">detection score</th><th scope=\"col\">warnings</th></tr></thead><tbody>\n"
            for i in order {
                let t = p.tracks.tracks[i], last = t.observations.last!
                let vdt = t.growth?.doublingTimeDays.map { $0 > 0 ? "\(Report.days($0)) d" : "halving \(Report.days(-$0)) d" } ?? "—"
                let next: String = switch t.followUp?.action {
                case .followUp?: t.followUp?.nextFollowUpDate?.description ?? "—"
                case .refer?: "refer"
                case .none?, nil: "none"
                }
                let w = trackWarnings(t, in: p).count
                body += "<tr><td><a href=\"#track-\(i + 1)\"><span class=\"badge \(t.status.rawValue)\">N\(i + 1)</span></a></td><td>\(t.status.rawValue)</td><td>\(Self.mm(last.nodule.diameterMM)) mm <span class=\"muted\">(\(last.studyDate))</span></td><td>\(vdt)</td><td>\(next)</td><td data-field=\"detection-score\">\(Self.scoreText(t.detectionScore))\(scoreLevel(t.detectionScore).map { " <span class=\"muted\">(\($0))</span>" } ?? "")</td><td>\(w == 0 ? "" : "⚠ \(w)")</td></tr>\n"
            }
            body += "</tbody></table>\n"
        }
        if p.tracks.tracks.isEmpty {
            let best = p.exams.flatMap(\.candidates).map(\.score).max()
            body += "<p>No candidate met the selection rule (\(p.selectionRule)) on any exam\(best.map { "; the highest candidate score was \(Report.number($0, decimals: 2))" } ?? ""). Nothing is tracked.</p>\n"
        }
        let folded = order.filter { isFolded(p.tracks.tracks[$0]) }
        for i in order where !folded.contains(i) {
            body += trackSection(p.tracks.tracks[i], number: i + 1, in: p, slug: slug, images: &images)
        }
        if !folded.isEmpty, let floor = foldingScore {
            body += "<details class=\"folded-tracks\"><summary>\(folded.count) stable or resolved \(folded.count == 1 ? "track" : "tracks") (\(folded.map { "N\($0 + 1)" }.joined(separator: ", "))) with a detection score under \(Report.number(floor.score, decimals: 3)), the score at which the detector gave \(Self.rate(floor.falsePositivesPerImage)) false positives per image on phantoms: on the serial phantoms most such tracks follow anatomy (a rib crossing, an end-on vessel), not a nodule. Folded, not left out: open to review them.</summary>\n"
            for i in folded {
                body += trackSection(p.tracks.tracks[i], number: i + 1, in: p, slug: slug, images: &images)
            }
            body += "</details>\n"
        }
        body += "</section>\n"
        body += policyParagraph
        return page(title: "Patient \(p.patient.patientID): serial nodule review", body: body, back: true)
    }

    func trackSection(_ t: NoduleTrack, number: Int, in p: PatientReview, slug: String, images: inout [(name: String, raster: RGBRaster)]) -> String {
        let g = t.growth
        let first = t.observations.first!, last = t.observations.last!
        var s = "<article class=\"track\" id=\"track-\(number)\" data-track-id=\"\(t.identity.uuidString)\" data-status=\"\(t.status.rawValue)\">\n"
        s += "<h3><span class=\"badge \(t.status.rawValue)\">N\(number)</span> \(HTML.escape(t.trackingIdentifier)): <span class=\"status \(t.status.rawValue)\">\(t.status.rawValue)</span></h3>\n"
        s += "<table class=\"figures\"><tbody>\n"
        s += "<tr><th scope=\"row\">status</th><td data-field=\"status\">\(t.status.rawValue) <span class=\"muted\">— \(HTML.escape(Self.statusMeaning(t.status)))</span></td></tr>\n"
        s += "<tr><th scope=\"row\">diameter</th><td data-field=\"diameter\">\(t.observations.count == 1 ? "\(Self.mm(first.nodule.diameterMM)) mm on \(first.studyDate)" : "\(Self.mm(first.nodule.diameterMM)) mm (\(first.studyDate)) → \(Self.mm(last.nodule.diameterMM)) mm (\(last.studyDate))") <span class=\"muted\">(±\(Self.mm(1.96 * last.diameterSigmaMM)) mm, 95%, per measurement)</span></td></tr>\n"
        s += "<tr><th scope=\"row\">volume doubling time (VDT)</th><td data-field=\"vdt\"\(g?.doublingTimeDays.map { " data-vdt-days=\"\(Report.number($0, decimals: 1))\"" } ?? "")>\(Self.vdtText(t))</td></tr>\n"
        if let g {
            s += "<tr><th scope=\"row\">volume ratio, last ÷ first</th><td data-field=\"volume-ratio\">\(Report.number(g.volumeRatio, decimals: 2)) <span class=\"muted\">(95% CI \(Report.number(g.volumeRatioCI95.lowerBound, decimals: 2))–\(Report.number(g.volumeRatioCI95.upperBound, decimals: 2)); over \(Report.days(g.spanDays)) d, \(g.pointCount) exams)</span></td></tr>\n"
        }
        if let f = t.followUp {
            let next: String
            switch f.action {
            case .followUp: next = "<strong>\(f.nextFollowUpDate.map(\.description) ?? "—")</strong> <span class=\"muted\">(radiograph in \(f.intervalDays ?? 0) d)</span>"
            case .refer: next = "<strong>refer</strong> <span class=\"muted\">(no further radiograph date; referral proposed)</span>"
            case .none: next = "none <span class=\"muted\">(no further imaging for this nodule under the policy)</span>"
            }
            s += "<tr><th scope=\"row\">next follow-up</th><td data-field=\"followup\" data-followup-date=\"\(f.nextFollowUpDate.map(\.description) ?? "")\" data-followup-action=\"\(f.action.rawValue)\">\(next)</td></tr>\n"
            let category = f.category == t.status.rawValue ? "" : " <span class=\"muted\">(category: \(HTML.escape(f.category)))</span>"
            s += "<tr><th scope=\"row\">policy's reason</th><td data-field=\"reason\">\(HTML.escape(f.reason))\(category)</td></tr>\n"
        }
        s += "<tr><th scope=\"row\">detection score</th><td data-field=\"detection-score\">\(Self.scoreText(t.detectionScore)) <span class=\"muted\">(\(scoreLevel(t.detectionScore).map { $0 + "; " } ?? "")highest over this nodule's detections, 0–1, calibrated on phantoms only; anatomy such as a rib crossing persists between exams as a nodule does, and scores low)</span></td></tr>\n"
        s += "<tr><th scope=\"row\">registration quality</th><td>\(Report.number(t.registrationQuality, decimals: 2)) <span class=\"muted\">(lowest over this nodule's exams; 1 = reference; threshold \(Report.number(registrationQualityThreshold, decimals: 2)))</span></td></tr>\n"
        s += "</tbody></table>\n"
        let warnings = trackWarnings(t, in: p)
        if !warnings.isEmpty {
            s += "<div class=\"warnings\" role=\"note\"><ul>\(warnings.map { "<li>⚠ \(HTML.escape($0))</li>" }.joined())</ul></div>\n"
        }

        // Registered crops at every exam, one scale.
        let largest = t.observations.map(\.nodule.diameterMM).max()!
        let field = max(30, (2.5 * largest / 10).rounded(.up) * 10)
        let colour = ReportImages.colour(t.status)
        s += "<div class=\"crops\">\n"
        for (e, exam) in p.exams.enumerated() {
            let o = t.observations.first { $0.examID == exam.examID }
            let registration = exam.registration ?? .reference
            let registered = registration.isReliable
            var caption = "<strong>\(exam.studyDate)</strong><br>"
            if let o { caption += "D = \(Self.mm(o.nodule.diameterMM)) mm <span class=\"muted\">± \(Self.mm(1.96 * o.diameterSigmaMM))</span>" } else {
                caption += e < p.exams.firstIndex { $0.examID == first.examID }! ? "<span class=\"muted\">before first detection</span>" : "<span class=\"muted\">no tracked detection</span>"
            }
            if !registered { caption += "<br><span class=\"warn\">⚠ not registered</span>" }
            guard let image = exam.image else {
                s += "<figure class=\"crop\"><div class=\"missing\" role=\"img\" aria-label=\"no image for \(exam.studyDate)\">no image</div><figcaption>\(caption)</figcaption></figure>\n"
                continue
            }
            // Centre in the reference frame; the crop is sampled through the exam's registration
            // so every crop shows the same anatomy in the same orientation. An unregistered exam
            // is cropped around its own detection (or not at all when there is none).
            let centre = (x: o?.referenceXMM ?? last.referenceXMM, y: o?.referenceYMM ?? last.referenceYMM)
            let raster: RGBRaster
            if registered {
                let inverse = registration.transform.inverse
                raster = ReportImages.crop(image, fieldMM: field, diameterMM: o?.nodule.diameterMM, colour: colour) { dx, dy in
                    inverse.apply(xMM: centre.x + dx, yMM: centre.y + dy)
                }
            } else if let o {
                raster = ReportImages.crop(image, fieldMM: field, diameterMM: o.nodule.diameterMM, colour: colour) { dx, dy in
                    (o.nodule.xMM + dx, o.nodule.yMM + dy)
                }
            } else {
                s += "<figure class=\"crop\"><div class=\"missing\" role=\"img\" aria-label=\"no registered crop for \(exam.studyDate)\">unregistered exam: position unknown</div><figcaption>\(caption)</figcaption></figure>\n"
                continue
            }
            let name = "\(slug)/n\(number)-exam-\(e + 1)-\(exam.studyDate).png"
            images.append((name, raster))
            let alt = "N\(number) on \(exam.studyDate), \(Report.days(field)) mm square crop\(registered ? " aligned to the reference exam" : " (not registered)")" + (o.map { ", diameter \(Self.mm($0.nodule.diameterMM)) mm circled" } ?? ", no tracked detection: crosshair at the expected position") + "; scale bar 10 mm"
            s += "<figure class=\"crop\"><img src=\"\(HTML.escape(Self.hrefEncode(name)))\" alt=\"\(HTML.escape(alt))\" width=\"160\" height=\"160\"><figcaption>\(caption)</figcaption></figure>\n"
        }
        s += "<p class=\"muted crop-note\">Crops: \(Report.days(field)) × \(Report.days(field)) mm each, same scale (white bar = 10 mm), aligned to the reference exam (\(p.exams.first { $0.registration == nil }.map(\.studyDate.description) ?? "none")). Circle: measured diameter.</p></div>\n"

        // Growth charts.
        if let g, t.observations.count >= 2, let origin = p.exams.first?.studyDate {
            let points = t.observations.map { GrowthPoint(days: Double(origin.days(to: $0.studyDate)), diameterMM: $0.nodule.diameterMM, sigmaMM: $0.diameterSigmaMM) }
            var markers: [(Double, String)] = []
            if let d = t.followUp?.nextFollowUpDate { markers.append((Double(origin.days(to: d)), "follow-up \(d)")) }
            let series = GrowthChart.Series(days: points.map(\.days), dates: t.observations.map(\.studyDate), diameterMM: points.map(\.diameterMM),
                                            sigmaMM: points.map(\.sigmaMM), fit: GrowthFit(points: points, estimate: g), markers: markers, origin: origin)
            s += "<div class=\"charts\">\n"
            s += GrowthChart.diameterChart(series, title: "N\(number) diameter (mm) against time") + "\n"
            s += GrowthChart.volumeChart(series, title: "N\(number) volume (mm³, log scale) against time") + "\n"
            s += "<p class=\"muted chart-note\">Points: measurements with 95% error bars. Line: fitted exponential growth (a straight line on the log volume axis; its slope gives the VDT). Shaded: 95% confidence band of the fit.</p>\n"
            s += "</div>\n"
        } else {
            s += "<p class=\"muted\">Seen on one exam only: no growth chart.</p>\n"
        }
        s += "</article>\n"
        return s
    }

    // MARK: Text

    static func mm(_ v: Double) -> String { Report.number(v, decimals: 1) }

    /// Track indices, most urgent first: growing (shortest VDT first), indeterminate, new,
    /// stable, shrinking, resolved; then soonest follow-up; then highest detection score (none last);
    /// then the tracker's order.
    static func urgencyOrder(_ tracks: [NoduleTrack]) -> [Int] {
        let rank: [GrowthStatus: Int] = [.growing: 0, .indeterminate: 1, .new: 2, .stable: 3, .shrinking: 4, .resolved: 5]
        func key(_ i: Int) -> (Int, Double, Int, Double, Int) {
            let t = tracks[i]
            return (rank[t.status]!, t.growth?.doublingTimeDays.map(abs) ?? .infinity, t.followUp?.nextFollowUpDate?.daysSinceEpoch ?? Int.max,
                    -(t.detectionScore ?? -1), i)
        }
        return tracks.indices.sorted { key($0) < key($1) }
    }

    /// A detection score as the report prints it (two decimals), or a dash when there is none.
    static func scoreText(_ score: Double?) -> String { score.map { Report.number($0, decimals: 2) } ?? "—" }

    /// What `score` means against the measured operating points: the lowest false-positive rate whose
    /// score it reaches ("at the 0.5 FP/image level") or "under the 4 FP/image level"; nil without
    /// points or a score.
    func scoreLevel(_ score: Double?) -> String? {
        guard let score, let floor = foldingScore, let points = operatingPoints?.points else { return nil }
        if let reached = points.sorted(by: { $0.falsePositivesPerImage < $1.falsePositivesPerImage }).first(where: { score >= $0.score }) {
            return "at the \(Self.rate(reached.falsePositivesPerImage)) FP/image level on phantoms"
        }
        return "under the \(Self.rate(floor.falsePositivesPerImage)) FP/image level on phantoms"
    }

    /// A false-positive rate per image as the report prints it: whole numbers without decimals, others with one.
    static func rate(_ v: Double) -> String { v == v.rounded() ? String(Int(v)) : Report.number(v, decimals: 1) }

    /// The operating point below whose score `stable` and `resolved` tracks are folded: the one with
    /// the most false positives per image (the lowest score); nil without measured points.
    var foldingScore: OperatingPoints.Point? { operatingPoints?.points.max { $0.falsePositivesPerImage < $1.falsePositivesPerImage } }

    /// Whether track `t`'s section is folded: `stable` or `resolved`, with a detection score (or none)
    /// under ``foldingScore``. Never a growing, shrinking, indeterminate or new track, whatever its score.
    func isFolded(_ t: NoduleTrack) -> Bool {
        guard let floor = foldingScore, t.status == .stable || t.status == .resolved else { return false }
        return (t.detectionScore ?? 0) < floor.score
    }

    static func lungFieldCaveat(_ source: LungField.Source) -> String {
        switch source {
        case .segmented: "lung field segmented"
        case .mirrored: "lung field: only one lung was segmented; the other is its mirror image"
        case .prior: "lung field: not segmented; a generic central region stands in (the drawn outline is not this patient's lungs)"
        }
    }

    static func statusMeaning(_ s: GrowthStatus) -> String {
        switch s {
        case .growing: "volume increase of at least 25%, beyond measurement error"
        case .stable: "volume change below 25%"
        case .shrinking: "volume decrease of at least 20%, beyond measurement error"
        case .indeterminate: "apparent change of at least 25% but within measurement error"
        case .new: "seen on the latest exam only"
        case .resolved: "seen before, not found on the latest exam"
        }
    }

    static func interval(_ ci: DoublingTimeInterval) -> String {
        switch ci {
        case let .growing(l, u): "\(Report.days(l))–\(Report.days(u)) d"
        case let .shrinking(l, u): "halving \(Report.days(-u))–\(Report.days(-l)) d"
        case let .unbounded(g, sh):
            "includes no change" + ([g.map { "doubling in \(Report.days($0)) d or more" }, sh.map { "halving in \(Report.days(-$0)) d or more" }]
                .compactMap { $0 }.reduce("") { $0.isEmpty ? ": from " + $1 : $0 + " to " + $1 })
        }
    }

    static func vdtText(_ t: NoduleTrack) -> String {
        guard let g = t.growth else { return "<span class=\"muted\">not applicable: measured once</span>" }
        if let v = g.doublingTimeDays {
            if v > 0 { return "<strong>\(Report.days(v)) d</strong> <span class=\"muted\">(95% CI \(interval(g.doublingTimeCI95)))</span>" }
            return "shrinking: volume halving time <strong>\(Report.days(-v)) d</strong> <span class=\"muted\">(95% CI \(interval(g.doublingTimeCI95)))</span>"
        }
        switch t.status {
        case .stable: return "not stated: change below 25% in volume <span class=\"muted\">(95% interval \(interval(g.doublingTimeCI95)))</span>"
        case .indeterminate: return "<span class=\"warn\">not stated: change within measurement error</span> <span class=\"muted\">(95% interval \(interval(g.doublingTimeCI95)))</span>"
        default: return "not stated <span class=\"muted\">(95% interval \(interval(g.doublingTimeCI95)))</span>"
        }
    }

    static func soonestFollowUpText(_ p: PatientReview) -> String {
        guard let date = p.soonestFollowUp else { return "<span class=\"muted\">none</span>" }
        let refer = p.tracks.tracks.contains { $0.followUp?.action == .refer }
        let due = p.tracks.tracks.first { $0.followUp?.nextFollowUpDate == date }
        if refer && (due == nil || p.tracks.exams.last?.studyDate == date) { return "<strong>refer</strong> <span class=\"muted\">(proposed on \(date))</span>" }
        return "<strong>\(date)</strong>" + (due.map { " <span class=\"muted\">(\(HTML.escape($0.trackingIdentifier)))</span>" } ?? "")
    }

    static func patientWarnings(_ p: PatientReview, threshold: Double) -> [String] {
        var out = p.notes
        for e in p.exams {
            if !e.spacingKnown {
                let why = e.spacingSource == "unknown" ? "pixel spacing unknown"
                    : "pixel spacing (\(e.spacingSource)) not used: it makes the image implausibly large or small for a chest radiograph"
                let assumed = Report.number(e.spacingMM.column, decimals: 3)
                if let scale = e.diameterScale {
                    let meaning = scale.toStatedSpacing ? "so sizes are at the scale of an exam that states its spacing"
                        : "so growth between the exams does not depend on the assumption, but sizes are wrong by the ratio of the true "
                          + "spacing to the one assumed"
                    out.append("\(e.studyDate): \(why); positions in mm assume \(assumed) mm/px and \(scale.description), \(meaning).")
                } else {
                    out.append("\(e.studyDate): \(why); sizes in mm assume \(assumed) mm/px and are wrong by the ratio of the true spacing to that.")
                }
            } else if e.spacingSource.contains("detector-plane") {
                out.append("\(e.studyDate): pixel spacing is at the detector plane (no magnification correction); sizes read 5–15% too large.")
            } else if e.spacingSource.contains("film-plane") {
                out.append("\(e.studyDate): pixel spacing is a digitised film's (Nominal Scanned Pixel Spacing, at the film); sizes read 5–15% too large.")
            }
            if let problem = e.imageProblem { out.append("\(e.studyDate): \(problem).") }
            if let lungs = e.image?.lungs, lungs.source != .segmented {
                out.append("\(e.studyDate): \(lungFieldCaveat(lungs.source)); candidates near the lung border may be missed or spurious, and registration relies on that region.")
            }
            if let r = e.registration, !r.isReliable {
                out.append("\(e.studyDate): registration to the reference exam is unreliable (\(r.issues.map(\.description).joined(separator: "; "))); its nodules were linked in unregistered coordinates and may be mismatched.")
            }
        }
        if p.exams.count == 1 { out.append("Only one exam: nothing to compare against, so no growth can be measured.") }
        return out
    }

    func trackWarnings(_ t: NoduleTrack, in p: PatientReview) -> [String] {
        var out = t.warnings
        if t.status == .indeterminate {
            out.append("Change within measurement error: the apparent volume change is 25% or more, but its 95% interval includes no change, so no VDT is stated. Treat the size change as unconfirmed.")
        }
        let unknown = t.observations.filter { o in !(p.exam(o.examID)?.spacingKnown ?? true) }.map(\.studyDate.description)
        if !unknown.isEmpty {
            out.append("Pixel spacing unknown on \(unknown.joined(separator: ", ")): this nodule's mm sizes assume the pipeline's spacing.")
        }
        if let g = t.growth, t.status == .growing || t.status == .shrinking, g.pointCount == 2 {
            out.append("VDT from two exams only: a single mis-measurement changes it; confirm on the next exam.")
        }
        return out
    }

    // MARK: Page frame

    func page(title: String, body: String, back: Bool) -> String {
        """
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <meta name="generator" content="NoduleKit report">
        <title>\(HTML.escape(title))</title>
        <style>\(Self.css)</style>
        </head>
        <body>
        <header>
        <p class="disclaimer" role="note"><strong>Decision support only.</strong> \(HTML.escape(Report.disclaimer))</p>
        \(back ? "<nav><a href=\"index.html\">← all patients</a></nav>" : "")
        </header>
        <main>
        \(body)
        </main>
        <footer>
        <p class="disclaimer">\(HTML.escape(Report.disclaimer))</p>
        <p class="muted">Generated by NoduleKit from \(HTML.escape(source)). Self-contained: no scripts, no network requests.</p>
        </footer>
        </body>
        </html>

        """
    }

    static let css = """
    :root{color-scheme:light}
    body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1200px;padding:0 18px 24px;color:#1b1f24;background:#fff}
    h1{font-size:1.6em;margin:.6em 0 .2em}h2{font-size:1.25em;margin:1.2em 0 .4em;border-bottom:1px solid #d0d7de}h3{font-size:1.1em;margin:.2em 0 .5em}
    .disclaimer{background:#fff8e1;border:1px solid #e3b341;border-radius:4px;padding:6px 10px;font-size:.9em}
    .muted{color:#57606a}.lead{max-width:75em}
    .warn{color:#9a3b00;font-weight:600}.warn-count{color:#9a3b00;font-weight:600}
    .detection-warnings summary{cursor:pointer;color:#9a4a00}.detection-warnings ul{margin:.2em 0;padding-left:1.2em}
    .warnings{background:#fff1e6;border-left:4px solid #d1600f;padding:4px 12px;margin:8px 0}.warnings h2{border:0;font-size:1.05em;margin:.4em 0}.warnings ul{margin:.3em 0;padding-left:1.2em}
    table{border-collapse:collapse}th,td{text-align:left;vertical-align:top;padding:4px 10px;border-bottom:1px solid #e1e4e8}
    table.index{width:100%}table.index thead th{background:#f3f5f7}table.index td:first-child{white-space:nowrap}
    table.figures th{width:15em;font-weight:600;color:#30363d}
    table.summary{margin:6px 0 10px}table.summary caption{text-align:left;font-size:.85em;color:#57606a;padding-bottom:4px}table.summary thead th{background:#f3f5f7}
    .exams,.crops{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
    figure{margin:0}figure.exam{width:360px}figure.exam img{width:360px;height:auto;display:block;background:#000}
    figure.crop{width:160px}figure.crop img{display:block;background:#000}
    figcaption{font-size:.85em;margin-top:4px}
    .missing{width:160px;height:160px;display:flex;align-items:center;justify-content:center;text-align:center;background:#eee;color:#57606a;font-size:.85em}
    figure.exam .missing{width:360px;height:360px}
    .crop-note,.chart-note{flex-basis:100%;font-size:.85em;margin:2px 0}
    .track{border:1px solid #d0d7de;border-radius:6px;padding:10px 14px;margin:14px 0}
    .badge{display:inline-block;min-width:2.2em;text-align:center;border-radius:4px;padding:0 4px;color:#000;font-weight:700}
    .badge.growing,.swatch.growing{background:#ff4646}.badge.new,.swatch.new{background:#ff9628}.badge.indeterminate,.swatch.indeterminate{background:#ffdc28}
    .badge.stable,.swatch.stable{background:#5ab4ff}.badge.shrinking,.swatch.shrinking{background:#5adc82}.badge.resolved,.swatch.resolved{background:#bebebe}
    .swatch{padding:0 5px;border-radius:3px;color:#000}
    .status.growing{color:#b3261e;font-weight:700}.status.indeterminate{color:#8a6d00;font-weight:700}
    .charts{display:flex;flex-wrap:wrap;gap:16px;margin-top:10px}
    svg.chart{background:#fff;font-family:inherit}svg .plot{fill:#fafbfc;stroke:#8c959f}svg .grid{stroke:#e1e4e8}svg .axis{stroke:#57606a}
    svg .tick{font-size:10px;fill:#30363d}svg .label{font-size:11px;fill:#30363d}svg .chart-title{font-size:12px;font-weight:600;fill:#1b1f24}
    svg .band{fill:#0969da;fill-opacity:.15;stroke:none}svg .fit{fill:none;stroke:#0969da;stroke-width:2}
    svg .errorbar{stroke:#1b1f24;stroke-width:1.2}svg .point{fill:#d1242f;stroke:#fff;stroke-width:1}
    svg .marker{stroke:#8250df;stroke-dasharray:4 3}svg .marker-label{fill:#8250df}
    nav{margin:8px 0}a{color:#0969da}
    footer{margin-top:28px;border-top:1px solid #d0d7de;padding-top:8px}
    @media print{
      body{max-width:none;padding:0;font-size:11pt}nav{display:none}
      .track,figure,.warnings,svg{break-inside:avoid;page-break-inside:avoid}
      *{-webkit-print-color-adjust:exact;print-color-adjust:exact}
      a{color:inherit;text-decoration:none}
      @page{margin:14mm}
    }
    """

    // MARK: Files

    /// A file-system and URL safe name for a patient: ASCII letters, digits, `-`, `_`, `.`; others as `_`.
    static func slug(_ key: PatientKey) -> String {
        func clean(_ s: String) -> String {
            String(s.unicodeScalars.map { c -> Character in
                c.isASCII && (CharacterSet.alphanumerics.contains(c) || c == "-" || c == "_") ? Character(c) : "_"
            })
        }
        let id = clean(key.patientID)
        let base = key.issuer.isEmpty ? id : clean(key.issuer) + "_" + id
        return "patient-" + (base.isEmpty ? "unnamed" : base)
    }

    /// Slugs are already URL safe; this keeps relative links relative.
    static func hrefEncode(_ s: String) -> String { s }

    static func createDirectory(_ path: String) throws {
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw ReportError.cannotWrite(path: path, reason: (error as NSError).localizedDescription)
        }
    }

    static func writeFile(_ path: String, _ data: Data) throws {
        do { try data.write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw ReportError.cannotWrite(path: path, reason: (error as NSError).localizedDescription)
        }
    }
}
