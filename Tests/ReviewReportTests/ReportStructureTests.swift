import ExamSeries
import Foundation
import NoduleStore
import ReviewReport
import SerialTracking
import Testing
import TestSupport

/// The generated HTML, checked structurally against the store and the tracker.
@Suite struct ReportStructureTests {
    let fixture: PhantomReport

    init() throws { fixture = try PhantomReport.shared.get() }

    @Test func everyPageHasTheDisclaimerAndNoExternalReference() throws {
        let pages = try fixture.pages()
        #expect(pages.contains("index.html"))
        #expect(pages.count == 3, "index + one page per phantom patient: \(pages)")
        for name in pages {
            let html = try fixture.read(name)
            #expect(html.contains(Report.disclaimer), "\(name) lacks the disclaimer")
            #expect(!html.contains("<script"), "\(name) has a script")
            #expect(!html.contains("<link"), "\(name) links a resource")
            #expect(!html.contains("@import") && !html.contains("url("), "\(name) loads CSS resources")
            #expect(!html.contains("http://") && !html.contains("https://"), "\(name) names a network URL")
            for value in attributeValues("src", in: html) + attributeValues("href", in: html) {
                #expect(!value.hasPrefix("//") && !value.contains("://") && !value.hasPrefix("/") && !value.contains("//"), "\(name): \(value)")
                // Every reference resolves: a fragment to an element of the page, a file to one written beside it.
                if value.hasPrefix("#") {
                    #expect(html.contains("id=\"\(value.dropFirst())\""), "\(name): no element \(value)")
                } else {
                    let file = String(value.prefix { $0 != "#" })
                    #expect(FileManager.default.fileExists(atPath: fixture.report + "/" + file), "\(name): \(value) missing")
                }
            }
            for img in openingTags("img", in: html) {
                let alt = attributeValues("alt", in: " " + img.dropFirst(4))
                #expect(alt.count == 1 && alt[0].count > 20, "\(name): image without real alt text: \(img)")
            }
            for svg in openingTags("svg", in: html) {
                #expect(svg.contains("role=\"img\"") && svg.contains("aria-label=\""), "\(name): unlabelled chart")
            }
        }
    }

    /// Nodules measured again at another exam's nodule are drawn and counted on their exam too.
    @Test func remeasuredNodulesAreShownOnTheirExam() throws {
        var shown = 0
        for review in try fixture.reviews() {
            let html = try fixture.read("patient-\(review.patient.patientID).html")
            for exam in review.exams where exam.nodules.count > exam.selected.count {
                let k = exam.nodules.count - exam.selected.count
                #expect(html.contains("\(exam.nodules.count) nodules tracked (\(k) measured again at another exam&#39;s nodule)")
                        || html.contains("\(exam.nodules.count) nodules tracked (\(k) measured again at another exam's nodule)"))
                #expect(html.contains("measured again at another exam"))
                shown += k
            }
        }
        try #require(shown > 0, "the serial phantoms have a nodule measured again")
    }

    @Test func everyTrackAppearsWithTheTrackersNumbers() throws {
        let reviews = try fixture.reviews()
        #expect(reviews.map(\.patient.patientID) == ["PH-0001", "PH-0002"])
        var seen = 0
        for review in reviews {
            let html = try fixture.read("patient-\(review.patient.patientID).html")
            #expect(openingTags("article", in: html).count == review.tracks.tracks.count)
            for t in review.tracks.tracks {
                seen += 1
                let article = try #require(section(of: html, trackID: t.identity.uuidString), "track \(t.trackingIdentifier) missing")
                #expect(article.contains("data-status=\"\(t.status.rawValue)\""))
                if let vdt = t.growth?.doublingTimeDays {
                    #expect(article.contains("data-vdt-days=\"\(Report.number(vdt, decimals: 1))\""))
                    #expect(article.contains("<strong>\(Report.days(abs(vdt))) d</strong>"))
                } else {
                    #expect(!article.contains("data-vdt-days"))
                }
                if let f = t.followUp {
                    #expect(article.contains("data-followup-action=\"\(f.action.rawValue)\""))
                    #expect(article.contains("data-followup-date=\"\(f.nextFollowUpDate?.description ?? "")\""))
                    #expect(article.contains(f.reason.replacingOccurrences(of: "'", with: "&#39;")))
                }
                // One crop per exam, and each measured diameter as the store holds it.
                #expect(openingTags("figure class=\"crop\"", in: article).count == review.exams.count)
                for o in t.observations {
                    #expect(article.contains("D = \(Report.number(o.nodule.diameterMM, decimals: 1)) mm"))
                }
                if t.observations.count >= 2 {
                    #expect(openingTags("svg", in: article).count == 2)
                    #expect(article.contains("diameter (mm)") && article.contains("volume (mm³, log scale)"))
                    #expect(article.contains("class=\"band\"") && article.contains("class=\"fit\""))
                }
            }
        }
        #expect(seen > 0)
    }

    @Test func diametersOnThePageAreTheStoredOnes() throws {
        let store = try NoduleStore(path: fixture.store)
        let digest = try #require(try store.pipelineDigests().first?.digest)
        for history in try store.detectionsByPatient(pipelineDigest: digest) {
            let html = try fixture.read("patient-\(history.patientID).html")
            for study in history.studies {
                for image in study.images {
                    // What the report's selection follows (top 3, a part of a larger nodule counted as it).
                    let tracked = NoduleSelection(top: 4, minimumScore: 0).select(image.detections).map(\.candidate)
                    #expect(!tracked.isEmpty)
                    for d in tracked {
                        let mm = try #require(d.diameterMM, "the phantoms carry pixel spacing")
                        #expect(html.contains("D = \(Report.number(mm, decimals: 1)) mm"), "\(study.date ?? "?"): \(mm) mm not on the page")
                    }
                }
            }
        }
    }

    @Test func indexListsEveryPatientByUrgency() throws {
        let reviews = try fixture.reviews().sorted(by: PatientReview.urgencyOrder)
        let index = try fixture.read("index.html")
        let listed = attributeValues("data-patient", in: index)
        #expect(listed == reviews.map(\.patient.patientID))
        for r in reviews { #expect(index.contains("href=\"patient-\(r.patient.patientID).html\"")) }
        // The phantom truth: PH-0002 carries the faster grower (VDT 279 d against 439 d).
        #expect(listed.first == "PH-0002")
    }

    @Test func trackerJSONAgreesWithThePage() throws {
        // The report and `TrackReport.json` come from the same tracker output.
        for review in try fixture.reviews() {
            let json = TrackReport.json([review.tracks])
            let html = try fixture.read("patient-\(review.patient.patientID).html")
            for t in review.tracks.tracks {
                #expect(json.contains(t.identity.uuidString))
                #expect(html.contains(t.identity.uuidString))
            }
        }
    }

    /// `nodules report` and `nodules track --format json`, run as the real binary on the same
    /// store with the same options, show the same tracks: ids, statuses and VDTs.
    @Test func reportShowsTheTracksOfNodulesTrack() throws {
        let run = try SpawnedProcess.run("nodules", ["track", "--db", fixture.store, "--format", "json", "--quiet"] + PhantomReport.reportOptions,
                                         environment: PhantomReport.environment)
        #expect(run.status == 0, "\(run.standardError)")
        let patients = try #require(try JSONSerialization.jsonObject(with: Data(run.standardOutput.utf8)) as? [[String: Any]])
        #expect(patients.count == 2)
        var compared = 0
        for patient in patients {
            let id = try #require(patient["patient_id"] as? String)
            let html = try fixture.read("patient-\(id).html")
            let tracks = try #require(patient["tracks"] as? [[String: Any]])
            let ids = tracks.compactMap { $0["track_id"] as? String }
            #expect(Set(attributeValues("data-track-id", in: html)) == Set(ids) && ids.count == tracks.count, "\(id)")
            for t in tracks {
                let trackID = try #require(t["track_id"] as? String)
                let article = try #require(section(of: html, trackID: trackID), "\(id): track \(trackID) not in the report")
                #expect(article.contains("data-status=\"\(try #require(t["status"] as? String))\""), "\(id) \(trackID)")
                // The track's detection score, read against the definition's measured operating points.
                let score = try #require(t["detection_score"] as? Double, "\(id) \(trackID)")
                let cell = try #require(article.components(separatedBy: "data-field=\"detection-score\">").dropFirst().first)
                let printed = try #require(Double(cell.prefix { $0 != " " && $0 != "<" }), "\(cell.prefix(40))")
                #expect(abs(printed - score) <= 0.0051, "\(id) \(trackID): \(printed) against \(score)")
                #expect(cell.contains("FP/image level on phantoms"), "\(cell.prefix(120))")
                let shown = attributeValues("data-vdt-days", in: article).compactMap(Double.init)
                if let vdt = t["doubling_time_days"] as? Double {
                    #expect(shown.count == 1 && abs(shown[0] - vdt) < 1e-9, "\(id) \(trackID): VDT \(vdt) d, report \(shown)")
                } else {
                    #expect(shown.isEmpty, "\(id) \(trackID): no VDT from track, report \(shown)")
                }
                compared += 1
            }
        }
        #expect(compared > 0)
    }

    func section(of html: String, trackID: String) -> String? {
        guard let start = html.range(of: "data-track-id=\"\(trackID)\"") else { return nil }
        let rest = html[start.lowerBound...]
        guard let end = rest.range(of: "</article>") else { return nil }
        return String(rest[..<end.upperBound])
    }
}

extension String {
    fileprivate func replacingOccurrences(of a: String, with b: String) -> String {
        components(separatedBy: a).joined(separator: b)
    }
}
