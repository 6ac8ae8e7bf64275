import ExamSeries
import RadiographIO
import Foundation
import NoduleDetection
@testable import ReviewReport
import SerialTracking
import Testing
import TestSupport

/// Warnings wherever the figures are fragile, on constructed exams (no images needed).
@Suite struct ReportWarningTests {
    static func candidate(x: Double, y: Double, diameterPx: Double, diameterMM: Double?) -> NoduleCandidate {
        NoduleCandidate(x: x, y: y, diameterPx: diameterPx, diameterMM: diameterMM, score: 0.9,
                        features: NoduleFeatures(contrast: 1, contrastToNoise: 5, blobness: 0.9, logResponse: 1, scaleDiameterMM: 10,
                                                 circularity: 0.9, longAxisMM: 10, shortAxisMM: 9, lungDepthMM: 10, insideLung: 1))
    }

    /// `c` as the tracker sees it at 0.2 mm/px (mm from the top-left corner).
    static func measured(_ c: NoduleCandidate, path: String) -> MeasuredNodule {
        MeasuredNodule(xMM: (c.x + 0.5) * 0.2, yMM: (c.y + 0.5) * 0.2, diameterMM: c.diameterMM ?? c.diameterPx * 0.2,
                       longAxisMM: c.features.longAxisMM, sourceReference: path)
    }

    /// Two exams: the second has no pixel spacing and a registration below the quality threshold;
    /// the apparent growth (10 → 11.5 mm) is within its 1 mm measurement error.
    static func fragilePatient() -> PatientReview {
        let a = CalendarDate("2024-01-10")!, b = CalendarDate("2024-04-10")!
        var first = ExamReview(examID: "2024-01-10", studyDate: a, path: "a.png", width: 1000, height: 1000, spacingMM: (0.2, 0.2),
                               spacingKnown: true, spacingSource: "tag:PNG pHYs",
                               candidates: [candidate(x: 500, y: 400, diameterPx: 50, diameterMM: 10)], selected: [0],
                               nodules: [measured(candidate(x: 500, y: 400, diameterPx: 50, diameterMM: 10), path: "a.png")])
        first.detectionWarnings = ["lossy transfer syntax (JPEG <baseline>): pixels may differ from the acquisition"]
        let poor = RegistrationResult(transform: .identity, quality: 0.21, overlap: 0.9, issues: [.lowQuality(quality: 0.21, threshold: 0.4)])
        let second = ExamReview(examID: "2024-04-10", studyDate: b, path: "b.png", width: 1000, height: 1000, spacingMM: (0.2, 0.2),
                                spacingKnown: false, spacingSource: "unknown",
                                candidates: [candidate(x: 502, y: 401, diameterPx: 57.5, diameterMM: nil)], selected: [0],
                                nodules: [measured(candidate(x: 502, y: 401, diameterPx: 57.5, diameterMM: nil), path: "b.png")],
                                imageProblem: "image not readable (test)", registration: poor)
        let exams = [first, second]
        let measurements = exams.map { e in
            ExamMeasurements(examID: e.examID, studyDate: e.studyDate, pixelSpacingMM: e.spacingKnown ? 0.2 : nil,
                             nodules: e.nodules, registration: e.registration)
        }
        let tracks = SerialTracker(policy: try! FollowUpPolicy.builtIn("radiograph-surveillance"))
            .track(patient: PatientKey(issuer: "urn:test", patientID: "FRAGILE 1"), exams: measurements)
        return PatientReview(patient: tracks.patient, exams: exams, tracks: tracks, notes: [], selection: NoduleSelection(top: 5, minimumScore: 0.5),
                             pipeline: PipelineStamp(name: "test", version: "0", digest: "0"))
    }

    /// An exam read at an assumed spacing whose diameters the tracker took at another exam's scale
    /// says so, and what that means for sizes and growth; without a scale the caveat is the plain one.
    @Test func anAssumedSpacingsDiameterScaleIsExplained() throws {
        var patient = Self.fragilePatient()
        patient.exams[1].spacingSource = "unknown"
        let plain = "2024-04-10: pixel spacing unknown; sizes in mm assume 0.200 mm/px and are wrong by the ratio of the true spacing to that."
        #expect(ReportWriter.patientWarnings(patient, threshold: 0.4).contains(plain))
        patient.exams[1].diameterScale = .init(factor: 0.8669, toStatedSpacing: false)
        var warnings = ReportWriter.patientWarnings(patient, threshold: 0.4)
        #expect(warnings.contains("2024-04-10: pixel spacing unknown; positions in mm assume 0.200 mm/px and diameters are taken at the "
                                  + "reference exam's scale (× 0.867, through the registration), so growth between the exams does not "
                                  + "depend on the assumption, but sizes are wrong by the ratio of the true spacing to the one assumed."),
                "\(warnings)")
        #expect(!warnings.contains(plain))
        patient.exams[1].diameterScale = .init(factor: 1.12, toStatedSpacing: true)
        warnings = ReportWriter.patientWarnings(patient, threshold: 0.4)
        #expect(warnings.contains("2024-04-10: pixel spacing unknown; positions in mm assume 0.200 mm/px and diameters are taken at the "
                                  + "stated spacing's scale (× 1.12, through the registration), so sizes are at the scale of an exam "
                                  + "that states its spacing."), "\(warnings)")
        // The exam's caption says it too.
        let out = Fixtures.temporaryDirectory("report-diameter-scale")
        let files = try ReportWriter(policy: try FollowUpPolicy.builtIn("radiograph-surveillance"), source: "test.sqlite").write([patient], to: out)
        let html = try String(contentsOfFile: out + "/" + files.patientPages[0].page, encoding: .utf8)
        #expect(html.contains("⚠ pixel spacing unknown: mm figures assume 0.200 mm/px; diameters are taken at the stated spacing"), "\(html)")
    }

    @Test func spacingCaveatsSayWhereTheSpacingCameFrom() {
        var patient = Self.fragilePatient()
        patient.exams[0].spacingSource = "dicom:NominalScannedPixelSpacing(film-plane)"
        patient.exams[1].spacingSource = "tag:PNG pHYs"  // stated, but not used (spacingKnown false)
        let warnings = ReportWriter.patientWarnings(patient, threshold: 0.4)
        #expect(warnings.contains("2024-01-10: pixel spacing is a digitised film's (Nominal Scanned Pixel Spacing, at the film); "
                                  + "sizes read 5–15% too large."), "\(warnings)")
        #expect(warnings.contains("2024-04-10: pixel spacing (tag:PNG pHYs) not used: it makes the image implausibly large or small "
                                  + "for a chest radiograph; sizes in mm assume 0.200 mm/px and are wrong by the ratio of the true "
                                  + "spacing to that."), "\(warnings)")
        #expect(!warnings.contains { $0.contains("pixel spacing unknown") })
    }

    /// `nodules report` writes each patient as it is tracked (``ReportWriter/Incremental``): a page's name comes
    /// from its key and the order added, not from the other patients' urgency, and the index is still sorted.
    @Test func incrementalReportNamesPagesInTheOrderAddedAndSortsTheIndex() throws {
        let a = Self.fragilePatient()  // urn:test / FRAGILE-1
        var b = Self.fragilePatient()
        b.patient = PatientKey(issuer: "urn:test", patientID: "FRAGILE/1")  // cleans to the same page name
        #expect(PatientReview.urgencyOrder(a, b), "equal urgency: the key decides, and FRAGILE-1 sorts first")
        let writer = ReportWriter(policy: try FollowUpPolicy.builtIn("radiograph-surveillance"), source: "test.sqlite")
        let out = Fixtures.temporaryDirectory("report-incremental")
        var report = try ReportWriter.Incremental(writer, directory: out)
        try report.add(b)  // added first: it takes the plain name
        try report.add(a)
        let files = try report.finish()
        #expect(files.patientPages.map(\.patient) == [a.patient, b.patient], "most urgent first")
        #expect(files.patientPages.map(\.page) == ["patient-urn_test_FRAGILE_1-2.html", "patient-urn_test_FRAGILE_1.html"])
        let index = try String(contentsOfFile: out + "/index.html", encoding: .utf8)
        let rowA = try #require(index.range(of: "href=\"patient-urn_test_FRAGILE_1-2.html\"")),
            rowB = try #require(index.range(of: "href=\"patient-urn_test_FRAGILE_1.html\""))
        #expect(rowA.lowerBound < rowB.lowerBound)
        #expect(index.contains("2 patients, most urgent first"))
        // write(_:to:) is the same thing with the patients added in the order given.
        let again = Fixtures.temporaryDirectory("report-incremental-write")
        #expect(try writer.write([b, a], to: again) == files)
        #expect(try String(contentsOfFile: again + "/index.html", encoding: .utf8) == index)
    }

    @Test func fragileFiguresAreFlagged() throws {
        let patient = Self.fragilePatient()
        let track = try #require(patient.tracks.tracks.first)
        #expect(patient.tracks.tracks.count == 1)
        #expect(track.status == .indeterminate)
        let out = Fixtures.temporaryDirectory("report-warnings")
        let files = try ReportWriter(policy: try FollowUpPolicy.builtIn("radiograph-surveillance"), source: "test.sqlite").write([patient], to: out)
        #expect(files.patientPages.map(\.page) == ["patient-urn_test_FRAGILE_1.html"])
        let html = try String(contentsOfFile: out + "/" + files.patientPages[0].page, encoding: .utf8)
        #expect(html.contains("pixel spacing unknown"))
        #expect(html.contains("registration to the reference exam is unreliable (quality 0.21 below 0.4)"))
        #expect(html.contains("⚠ registration unreliable"))
        #expect(html.contains("Change within measurement error"))
        #expect(html.contains("not stated: change within measurement error"))
        #expect(!html.contains("data-vdt-days"), "no VDT is stated from a change within error")
        #expect(html.contains("image not readable (test)"))
        // The first exam's detection warning, folded under its picture and escaped.
        #expect(html.contains("<summary>⚠ 1 detection warning</summary><ul><li>lossy transfer syntax (JPEG &lt;baseline&gt;): pixels may differ"))
        #expect(html.components(separatedBy: "detection warning").count == 2, "only the exam with one says so")
        #expect(html.contains(Report.disclaimer))
        // The unreadable exam has no picture, but the page says so instead of a broken image.
        for src in attributeValues("src", in: html) { #expect(FileManager.default.fileExists(atPath: out + "/" + src)) }
        #expect(html.contains("aria-label=\"no image for 2024-04-10\""))
    }

    @Test func urgencyOrdersByShortestVDTThenFollowUp() {
        func patient(_ id: String, vdt: Double?, followUp: String?) -> PatientReview {
            var p = Self.fragilePatient()
            p.patient = PatientKey(patientID: id)
            p.tracks.patient = p.patient
            // Replace the growth figures the order depends on.
            p.tracks.tracks[0].growth = vdt.map { v in
                GrowthEstimate(points: [GrowthPoint(days: 0, diameterMM: 10, sigmaMM: 0.01),
                                        GrowthPoint(days: 3 * v, diameterMM: 20, sigmaMM: 0.01)])!
            }
            p.tracks.tracks[0].status = vdt == nil ? .stable : .growing
            p.tracks.tracks[0].followUp?.action = followUp == nil ? .none : .followUp
            p.tracks.tracks[0].followUp?.nextFollowUpDate = followUp.flatMap(CalendarDate.init)
            return p
        }
        let patients = [patient("slow", vdt: 600, followUp: "2024-05-01"), patient("none-late", vdt: nil, followUp: "2024-09-01"),
                        patient("fast", vdt: 100, followUp: "2024-06-01"), patient("none-soon", vdt: nil, followUp: "2024-05-15"),
                        patient("nothing", vdt: nil, followUp: nil)]
        #expect(patients.sorted(by: PatientReview.urgencyOrder).map(\.patient.patientID) == ["fast", "slow", "none-soon", "none-late", "nothing"])
    }

    /// Tracks alike in status, VDT and follow-up are listed highest detection score first (a track
    /// without one last, then the tracker's order), and the page shows each track's score.
    @Test func tracksAlikeInUrgencyAreOrderedByDetectionScore() throws {
        var p = Self.fragilePatient()
        let base = p.tracks.tracks[0]
        p.tracks.tracks = [0.12, nil, 0.61, 0.3, 0.61].map { score in
            var t = base
            t.observations = t.observations.map { o in
                var o = o
                o.nodule.detectionScore = score
                return o
            }
            return t
        }
        #expect(p.tracks.tracks.map(\.detectionScore) == [0.12, nil, 0.61, 0.3, 0.61])
        #expect(ReportWriter.urgencyOrder(p.tracks.tracks) == [2, 4, 3, 0, 1])
        // The highest observation's score is the track's.
        p.tracks.tracks[1].observations[1].nodule.detectionScore = 0.7
        #expect(p.tracks.tracks[1].detectionScore == 0.7 && ReportWriter.urgencyOrder(p.tracks.tracks) == [1, 2, 4, 3, 0])
        // Status still comes first: a growing track leads whatever its score.
        p.tracks.tracks[0].status = .growing
        #expect(ReportWriter.urgencyOrder(p.tracks.tracks).first == 0)
        var images: [(name: String, raster: RGBRaster)] = []
        let html = ReportWriter(policy: try FollowUpPolicy.builtIn("radiograph-surveillance"), source: "test.sqlite")
            .patientPage(p, slug: "p", images: &images)
        let cells = html.components(separatedBy: "<td data-field=\"detection-score\">").dropFirst().map { $0.prefix { $0 != "<" && $0 != " " } }
        #expect(cells.prefix(5) == ["0.12", "0.70", "0.61", "0.61", "0.30"], "\(cells)")
    }

    /// With measured operating points, each score says which level it reaches, and `stable` or
    /// `resolved` tracks under the lowest-score point are folded into one closed section, listed
    /// still in the summary table; other statuses never fold. Without points, nothing folds.
    @Test func lowScoreStableTracksAreFoldedNotLeftOut() throws {
        let points = try JSONDecoder().decode(OperatingPoints.self, from: Data("""
            {"pipeline": "test", "digest": "0", "measured_on": "a test", "points": [
             {"false_positives_per_image": 0.5, "score": 0.4}, {"false_positives_per_image": 1, "score": 0.3},
             {"false_positives_per_image": 4, "score": 0.1}]}
            """.utf8))
        var p = Self.fragilePatient()
        let base = p.tracks.tracks[0]
        let cases: [(GrowthStatus, Double?)] = [(.stable, 0.05), (.growing, 0.01), (.stable, 0.5), (.resolved, nil), (.indeterminate, 0.02), (.stable, 0.15)]
        p.tracks.tracks = cases.map { status, score in
            var t = base
            t.status = status
            t.observations = t.observations.map { o in
                var o = o
                o.nodule.detectionScore = score
                return o
            }
            return t
        }
        func page(_ writer: ReportWriter) -> String {
            var images: [(name: String, raster: RGBRaster)] = []
            return writer.patientPage(p, slug: "p", images: &images)
        }
        let policy = try FollowUpPolicy.builtIn("radiograph-surveillance")
        let html = page(ReportWriter(policy: policy, source: "test.sqlite", operatingPoints: points))
        let parts = html.components(separatedBy: "<details class=\"folded-tracks\">")
        #expect(parts.count == 2, "one folded section")
        let folded = try #require(parts.last?.components(separatedBy: "</details>").first)
        let foldedIDs = Set(folded.components(separatedBy: "<article class=\"track\" id=\"track-").dropFirst().map { $0.prefix { $0 != "\"" } })
        #expect(foldedIDs == ["1", "4"], "\(foldedIDs)")  // the stable 0.05 and the resolved one without a score
        #expect(folded.contains("2 stable or resolved tracks (N1, N4) with a detection score under 0.1"), "\(folded.prefix(300))")
        // Every track is still in the summary table and has its section on the page (each shows the score once).
        #expect(html.components(separatedBy: "<td data-field=\"detection-score\">").count - 1 == 2 * cases.count)
        #expect(html.components(separatedBy: "<article class=\"track\"").count - 1 == cases.count)
        #expect(html.contains("0.50 <span class=\"muted\">(at the 0.5 FP/image level on phantoms)</span>"))
        #expect(html.contains("0.15 <span class=\"muted\">(at the 4 FP/image level on phantoms)</span>"))
        #expect(html.contains("0.01 <span class=\"muted\">(under the 4 FP/image level on phantoms)</span>"))
        // Without measured points: nothing folded, no levels.
        let plain = page(ReportWriter(policy: policy, source: "test.sqlite"))
        #expect(!plain.contains("folded-tracks") && !plain.contains("FP/image level"))
        #expect(plain.components(separatedBy: "<article class=\"track\"").count - 1 == cases.count)
    }

    @Test func growthFitPassesThroughTwoPointsAndItsBandWidensAwayFromTheData() throws {
        let points = [GrowthPoint(days: 0, diameterMM: 10, sigmaMM: 0.3), GrowthPoint(days: 200, diameterMM: 13, sigmaMM: 0.3)]
        let estimate = try #require(GrowthEstimate(points: points))
        let fit = try #require(GrowthFit(points: points, estimate: estimate))
        #expect(close(fit.logVolume(atDays: 0), GrowthFit.logVolume(diameterMM: 10), 1e-12))
        #expect(close(fit.logVolume(atDays: 200), GrowthFit.logVolume(diameterMM: 13), 1e-12))
        // The fitted line's doubling time is the estimate's VDT.
        let vdt = log(2) / ((fit.logVolume(atDays: 200) - fit.logVolume(atDays: 0)) / 200)
        #expect(close(vdt, estimate.fragileDoublingTimeDays, 1e-9))
        // At a measured point the band's half-width is z·σ_lnV of that point (two points: exact).
        let b0 = fit.band(atDays: 0)
        #expect(close(((b0.upper - b0.lower) / 2), 1.959_963_984_540_054 * 3 * 0.3 / 10, 1e-9))
        let mid = fit.band(atDays: 100), far = fit.band(atDays: 400)
        #expect(mid.upper - mid.lower < b0.upper - b0.lower)
        #expect(far.upper - far.lower > b0.upper - b0.lower)
    }
}

private func close(_ a: Double, _ b: Double, _ relative: Double) -> Bool { abs(a - b) <= relative * max(abs(a), abs(b)) }
