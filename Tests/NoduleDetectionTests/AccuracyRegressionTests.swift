import Foundation
import NoduleDetection
import RadiographIO
import Testing
import TestSupport

/// Accuracy regression on the committed reduced-size phantoms (`Data/phantom/ci`,
/// 8 images, 18 nodules, 0.40–0.48 mm/px, deliberately harsh: median CNR ≈ 6).
///
/// Thresholds sit a little below what pipeline 0.9.0 measured on this set (0.10.0, whose
/// sphere fit keeps the better of two starts, measures 5/18 at 4 FP/image, 9/18 with a
/// reported candidate and a median error of 0.78 mm over 3 hits):
/// sensitivity 3/18 at 4 FP/image (4/18 with 0.8.0, 0.7.0 and 0.5.0, 5/18 with
/// 0.6.0); 7/18 nodules with a reported candidate within the hit radius (8 with
/// 0.8.0, 7 with 0.7.0); and the evaluation's own diameter error of its hits at
/// 2 FP/image, median 0.75 mm over 3 hits (the same with 0.8.0; 0.78 mm with
/// 0.7.0), at these coarse 0.4–0.48 mm/px. 0.9.0's pre-rank measures a different
/// 80 candidates: it lost one nodule here and gained 1–3 at 1–4 FP/image on each
/// of two full-size sets of 60 (201 nodules; README), which is where it was
/// judged. The thresholds keep one nodule of margin because the dispatched
/// filter kernels may differ in the last bits between CPUs (README).
/// (Until 0.7.0 the sizing check took the candidate *closest to the centre* of
/// every nodule with one: on these harsh phantoms that is often a lobe or part,
/// so the figure said more about which part lies nearest the centre than about
/// sizing, and it grew whenever another nodule was found through a part. 0.8.0
/// finds one more that way; that statistic went from 2.9 to 9.3 mm while the
/// hits' sizing improved.) 0.17.0 (the learned map re-ranks the reported candidates) measures
/// 2/2/3/6 of 18 at 0.5/1/2/4 FP/image against 0.16.0's 2/3/3/3, the same 3 hits' sizes
/// (`Benchmarks/recorded/2026-12-06-session26.txt`, section 4). 0.18.0 (parts re-centred on the
/// map's blobs) measures 2/2/4/6 of 18, 4 hits at 2 FP/image with a median error of 0.25 mm
/// (`Benchmarks/recorded/2026-12-06-session27.txt`); 0.19.0 (the map averaged with its mirror
/// image's) 3/3/4/5 of 18, the same 4 hits and median error (`Benchmarks/recorded/2026-12-06-session28.txt`);
/// 0.20.0 (larger σ on a pyramid) 3/3/4/5 of 18, 4 hits at a median error of 0.31 mm; 0.21.0
/// (the map trained for 80 epochs) 3/4/5/6 of 18, 5 hits at 0.31 mm
/// (`Benchmarks/recorded/2026-12-06-session29.txt`); 0.22.0 (the map proposes candidates of its own)
/// 3/4/6/6 of 18, 6 hits at 0.64 mm; 0.23.0 (the map over the candidates plus 30 mm again)
/// 4/5/6/7 of 18, 6 hits at 0.72 mm (`Benchmarks/recorded/2026-12-06-session30.txt`); 0.24.0 (the map
/// trained for 160 epochs; no proposal reaches 0.5 on these eight) 2/2/5/8 of 18, 5 hits at 0.31 mm,
/// 11 of 18 with a reported candidate (`Benchmarks/recorded/2026-12-06-session31.txt`; the same with session 32's
/// 0.24.0); 0.25.0 (the map of two networks) 3/3/4/9 of 18, 4 hits at 0.31 mm, 11 of 18 with a reported candidate
/// (`Benchmarks/recorded/2026-12-06-session32.txt`); 0.26.0 (parts moved onto their blob's border) the same,
/// 3/3/4/9 of 18, 4 hits at 0.31 mm, 11 of 18 (`Benchmarks/recorded/2026-12-06-session33.txt`); 0.27.0 (the
/// map scores every measured candidate, weighted 0.8) 3/3/5/6 of 18, 5 hits at 0.31 mm, 12 of 18
/// (`Benchmarks/recorded/2026-12-07-session35.txt`); 0.28.0 (half the map at 1.6 mm/px) 3/4/5/7 of 18, 5 hits
/// at 0.26 mm, 12 of 18 with a reported candidate (`Benchmarks/recorded/2026-12-07-session43.txt`).
/// A regression fails CI. The headline accuracy is
/// measured on the full-size evaluation set and reported in the README, not here.
@Suite("Accuracy regression (CI phantoms)")
struct AccuracyRegressionTests {
    @Test func phantomFROCAndSizing() throws {
        let root = Fixtures.repositoryRoot()
        let folder = root + "/Data/phantom/ci"
        let truth = try JSONDecoder().decode(GroundTruth.self, from: Data(contentsOf: URL(fileURLWithPath: folder + "/truth.json")))
        let pipeline = try PipelineDefinition.decode(path: root + "/Pipelines/cxr-nodules.json")
        let detector = NoduleDetector(pipeline: pipeline)
        let reader = RadiographReader()
        let records = try truth.images.map { image in
            let radiograph = try reader.read(contentsOf: folder + "/" + image.path)
            return detector.detect(radiograph).record(for: radiograph)
        }
        let evaluation = FROCEvaluation(truth: truth, truthFolder: folder, records: records)
        #expect(evaluation.missingImages.isEmpty)
        let atFour = try #require(evaluation.froc.first { $0.falsePositivesPerImage == 4 })
        #expect(atFour.sensitivity >= 2.0 / 18, "sensitivity at 4 FP/image \(atFour.sensitivity)")

        // Every nodule with any reported candidate within the hit radius.
        var found = 0
        for (image, record) in zip(truth.images, records) {
            for nodule in image.nodules where record.nodules.contains(where: {
                hypot($0.x - nodule.x, $0.y - nodule.y) * (image.pixelSpacingMM ?? .nan) <= nodule.hitRadiusMM
            }) {
                found += 1
            }
        }
        #expect(found >= 6, "nodules with a reported candidate: \(found)/18")
        // The diameter error of the hits at 2 FP/image, as `nodules evaluate` reports it.
        let sizing = evaluation.diameterError
        #expect(sizing.hits >= 2, "hits at 2 FP/image: \(sizing.hits)")
        let median = try #require(sizing.medianAbsoluteMM, "the phantoms carry pixel spacing")
        #expect(median <= 1.5, "median |diameter error| of hits \(median) mm over \(sizing.hits)")
    }
}
