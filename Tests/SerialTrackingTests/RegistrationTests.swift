import Foundation
import ScaleSpace
@testable import SerialTracking
import Testing
import TestSupport

/// A smooth synthetic "chest": random Gaussian blobs plus two elliptical lung
/// fields with soft edges, defined continuously in mm so an exam can be
/// rendered exactly under any transform.
struct SyntheticScene {
    struct Blob { var x, y, sigma, amplitude: Double }
    var blobs: [Blob]
    /// Fine texture (vessels, trabeculae stand-in): value noise on a lattice of this pitch, mm.
    var texturePitchMM = 5.0, textureAmplitude = 0.6, textureSeed: UInt64
    /// Lung fields: centres (x) and semi-axes, mm.
    var lungCentresX = (85.0, 215.0), lungCentreY = 150.0, lungSemiAxes = (60.0, 100.0)

    init(seed: UInt64, blobCount: Int = 60, extentMM: Double = 300) {
        var rng = SeededRandomNumberGenerator(seed: seed)
        textureSeed = seed &* 0x9E37_79B9
        blobs = (0..<blobCount).map { _ in
            Blob(x: Double.random(in: 0...extentMM, using: &rng), y: Double.random(in: 0...extentMM, using: &rng),
                 sigma: Double.random(in: 4...18, using: &rng), amplitude: Double.random(in: -1...1, using: &rng))
        }
    }

    func lung(_ x: Double, _ y: Double) -> Double {
        func ellipse(_ cx: Double, _ cy: Double) -> Double {
            let u = (x - cx) / lungSemiAxes.0, v = (y - cy) / lungSemiAxes.1
            return 1 / (1 + exp(((u * u + v * v).squareRoot() - 1) * 20))
        }
        return max(ellipse(lungCentresX.0, lungCentreY), ellipse(lungCentresX.1, lungCentreY))
    }

    /// Smoothly interpolated lattice noise in [−1, 1], continuous in (x, y).
    func texture(_ x: Double, _ y: Double) -> Double {
        func lattice(_ i: Int, _ j: Int) -> Double {
            var g = SeededRandomNumberGenerator(seed: textureSeed ^ (UInt64(bitPattern: Int64(i)) &* 0x1F1F_1F1F) ^ (UInt64(bitPattern: Int64(j)) &* 0x5151_5151_5151))
            return Double(g.next() >> 11) / Double(1 << 52) * 2 - 1
        }
        let u = x / texturePitchMM, v = y / texturePitchMM
        let i = Int(u.rounded(.down)), j = Int(v.rounded(.down))
        var tx = u - Double(i), ty = v - Double(j)
        tx = tx * tx * (3 - 2 * tx); ty = ty * ty * (3 - 2 * ty)
        let top = lattice(i, j) * (1 - tx) + lattice(i + 1, j) * tx
        let bottom = lattice(i, j + 1) * (1 - tx) + lattice(i + 1, j + 1) * tx
        return top * (1 - ty) + bottom * ty
    }

    func value(_ x: Double, _ y: Double) -> Double {
        var v = 1.5 * lung(x, y) + textureAmplitude * texture(x, y)
        for b in blobs {
            let dx = x - b.x, dy = y - b.y
            v += b.amplitude * exp(-(dx * dx + dy * dy) / (2 * b.sigma * b.sigma))
        }
        return v
    }

    /// The image of the scene seen through `examToScene`: pixel centre p (exam mm) shows scene(T(p)).
    func render(width: Int, height: Int, spacingMM: Double, examToScene: SimilarityTransform = .identity) -> FloatImage {
        FloatImage(width: width, height: height) { x, y in
            let p = examToScene.apply(xMM: (Double(x) + 0.5) * spacingMM, yMM: (Double(y) + 0.5) * spacingMM)
            return Float(value(p.xMM, p.yMM))
        }
    }

    func lungMask(width: Int, height: Int, spacingMM: Double) -> FloatImage {
        FloatImage(width: width, height: height) { x, y in
            lung((Double(x) + 0.5) * spacingMM, (Double(y) + 0.5) * spacingMM) > 0.5 ? 1 : 0
        }
    }
}

@Suite struct RegistrationTests {
    static let spacing = 1.0, side = 300

    func check(seed: UInt64, scale: Double, degrees: Double, dx: Double, dy: Double, mask: Bool) {
        let scene = SyntheticScene(seed: seed)
        let truth = SimilarityTransform(scale: scale, rotationDegrees: degrees, aboutXMM: 150, yMM: 150, dxMM: dx, dyMM: dy)
        let reference = scene.render(width: Self.side, height: Self.side, spacingMM: Self.spacing)
        // A different exposure (gain, offset) and independent noise on the follow-up exam.
        var rng = SeededRandomNumberGenerator(seed: seed &+ 1000)
        var exam = scene.render(width: Self.side, height: Self.side, spacingMM: Self.spacing, examToScene: truth)
        exam.withUnsafeMutableRows { row, _ in
            for x in row.indices { row[x] = 0.8 * row[x] + 0.3 + 0.08 * Float(Self.gaussian(&rng)) }
        }
        let refMask = mask ? scene.lungMask(width: Self.side, height: Self.side, spacingMM: Self.spacing) : nil
        let result = ExamRegistration().register(exam: exam, reference: reference, referenceMask: refMask, spacingMM: Self.spacing)
        let t = result.transform
        let error = t.maximumDisplacementMM(from: truth, widthMM: 300, heightMM: 300)
        #expect(result.isReliable, "seed \(seed): \(result.issues)")
        #expect(error <= 1.0, "seed \(seed): got \(t), want \(truth), max displacement \(error) mm")
        #expect(abs(t.rotationDegrees - truth.rotationDegrees) <= 0.5, "seed \(seed): rotation \(t.rotationDegrees) vs \(degrees)")
        #expect(abs(t.scale / truth.scale - 1) <= 0.01, "seed \(seed): scale \(t.scale) vs \(scale)")
        #expect(result.quality >= 0.8, "seed \(seed): quality \(result.quality)")
    }

    /// A repositioning drawn within the target range (±3 % scale, ±3°, ±12 mm), and the reference and
    /// exam images of `scene` under it.
    static func repositionedExam(of scene: SyntheticScene, using rng: inout SeededRandomNumberGenerator)
        -> (truth: SimilarityTransform, reference: FloatImage, exam: FloatImage) {
        let truth = SimilarityTransform(scale: Double.random(in: 0.97...1.03, using: &rng), rotationDegrees: Double.random(in: -3...3, using: &rng),
                                        aboutXMM: 150, yMM: 150, dxMM: Double.random(in: -12...12, using: &rng), dyMM: Double.random(in: -12...12, using: &rng))
        return (truth, scene.render(width: side, height: side, spacingMM: spacing),
                scene.render(width: side, height: side, spacingMM: spacing, examToScene: truth))
    }

    static func gaussian(_ rng: inout SeededRandomNumberGenerator) -> Double {
        let u = Double.random(in: Double.ulpOfOne..<1, using: &rng), v = Double.random(in: 0..<1, using: &rng)
        return (-2 * log(u)).squareRoot() * cos(2 * .pi * v)
    }

    @Test func recoversAKnownRepositioning() {
        check(seed: 1, scale: 1.03, degrees: 3, dx: 12, dy: -9, mask: true)
    }

    @Test(arguments: [UInt64(2), 3, 4])
    func recoversRandomRepositioningWithinTheTargetRange(seed: UInt64) {
        var rng = SeededRandomNumberGenerator(seed: seed &* 7919)
        check(seed: seed, scale: Double.random(in: 0.97...1.03, using: &rng), degrees: Double.random(in: -3...3, using: &rng),
              dx: Double.random(in: -12...12, using: &rng), dy: Double.random(in: -12...12, using: &rng), mask: seed % 2 == 0)
    }

    /// The follow-up exam's imaging chain differs at large scales (a heel-effect ramp and a broad
    /// dynamic-range-compression bump, fixed to the detector, not the patient), which the gain and
    /// bias of the photometric model cannot absorb: the band-passed final refinement must not be
    /// pulled by it.
    @Test(arguments: [UInt64(21), 22, 23])
    func largeScaleExposureDifferencesDoNotBias(seed: UInt64) {
        let scene = SyntheticScene(seed: seed)
        var rng = SeededRandomNumberGenerator(seed: seed &* 104_729)
        var (truth, reference, exam) = Self.repositionedExam(of: scene, using: &rng)
        let bump = (x: Double.random(in: 80...220, using: &rng), y: Double.random(in: 80...220, using: &rng))
        exam.withUnsafeMutableRows { row, y in
            for x in row.indices {
                let u = Double(x) * Self.spacing, v = Double(y) * Self.spacing
                let field = 1.2 * v / 300 - 0.4 * u / 300
                    + 1.5 * exp(-((u - bump.x) * (u - bump.x) + (v - bump.y) * (v - bump.y)) / (2 * 70 * 70))
                row[x] = 0.8 * row[x] + Float(field) + 0.08 * Float(Self.gaussian(&rng))
            }
        }
        let mask = scene.lungMask(width: Self.side, height: Self.side, spacingMM: Self.spacing)
        let result = ExamRegistration().register(exam: exam, reference: reference, referenceMask: mask, spacingMM: Self.spacing)
        let error = result.transform.maximumDisplacementMM(from: truth, widthMM: 300, heightMM: 300)
        // Measured 0.02–0.06 mm; without the band-passed step (bandPassSigmaPx = nil) 0.20–0.84 mm.
        #expect(result.isReliable, "seed \(seed): \(result.issues)")
        #expect(error <= 0.25, "seed \(seed): got \(result.transform), want \(truth), max displacement \(error) mm")
    }

    /// The follow-up exam differs from the reference as F's serial phantoms do: collimated
    /// differently (a band of the image at the detector's floor), with a side marker that the
    /// reference lacks and a strong exposure difference. The band-passed step alone from the
    /// coarse start is what holds it; the intensity steps can pull away.
    @Test(arguments: [UInt64(31), 32, 33, 34])
    func collimationAndMarkerDifferencesAreRegistered(seed: UInt64) {
        let scene = SyntheticScene(seed: seed)
        var rng = SeededRandomNumberGenerator(seed: seed &* 15_485_863)
        var (truth, reference, exam) = Self.repositionedExam(of: scene, using: &rng)
        let band = Int.random(in: 45...75, using: &rng), leftSide = Bool.random(using: &rng)
        let marker = (x: Int.random(in: 200...260, using: &rng), y: Int.random(in: 20...60, using: &rng))
        exam.withUnsafeMutableRows { row, y in
            for x in row.indices {
                let collimated = leftSide ? x < band : x >= Self.side - band
                let onMarker = abs(x - marker.x) < 12 && abs(y - marker.y) < 15
                let v = Double(y) * Self.spacing
                row[x] = collimated ? -1.5 : onMarker ? 6 : 2.2 * row[x] - 1.0 + Float(1.5 * v / 300) + 0.08 * Float(Self.gaussian(&rng))
            }
        }
        let mask = scene.lungMask(width: Self.side, height: Self.side, spacingMM: Self.spacing)
        let result = ExamRegistration().register(exam: exam, reference: reference, referenceMask: mask, spacingMM: Self.spacing)
        let error = result.transform.maximumDisplacementMM(from: truth, widthMM: 300, heightMM: 300)
        #expect(result.isReliable, "seed \(seed): \(result.issues)")
        #expect(error <= 1.0, "seed \(seed): got \(result.transform), want \(truth), max displacement \(error) mm")
    }

    @Test func identicalImagesGiveTheIdentity() {
        let scene = SyntheticScene(seed: 5)
        let image = scene.render(width: 200, height: 240, spacingMM: 1.5)
        let result = ExamRegistration().register(exam: image, reference: image, spacingMM: 1.5)
        #expect(result.isReliable)
        #expect(result.transform.maximumDisplacementMM(from: .identity, widthMM: 300, heightMM: 360) < 0.3, "\(result.transform)")
    }

    @Test func unrelatedImagesAreFlaggedUnreliable() {
        let a = SyntheticScene(seed: 10).render(width: Self.side, height: Self.side, spacingMM: Self.spacing)
        var rng = SeededRandomNumberGenerator(seed: 11)
        let noise = FloatImage(width: Self.side, height: Self.side) { _, _ in Float.random(in: 0...1, using: &rng) }
        // Another "patient": different fine structure and differently shaped lung fields.
        var otherPatient = SyntheticScene(seed: 12)
        otherPatient.lungCentresX = (80, 222)
        otherPatient.lungCentreY = 160
        otherPatient.lungSemiAxes = (68, 112)
        let b = otherPatient.render(width: Self.side, height: Self.side, spacingMM: Self.spacing)
        for other in [b, noise] {
            let result = ExamRegistration().register(exam: other, reference: a, spacingMM: Self.spacing)
            #expect(!result.isReliable, "quality \(result.quality), transform \(result.transform)")
            #expect(result.issues.contains { if case .lowQuality = $0 { true } else { false } })
        }
    }

    @Test func constantImageIsInsufficient() {
        let flat = FloatImage(width: 100, height: 100) { _, _ in 7 }
        let result = ExamRegistration().register(exam: flat, reference: flat, spacingMM: 1)
        #expect(result.issues == [.insufficientImage("constant intensity")])
    }

    @Test func transformAlgebra() {
        let t = SimilarityTransform(scale: 1.02, rotationDegrees: -2.5, aboutXMM: 100, yMM: 80, dxMM: 4, dyMM: -7)
        let p = t.apply(xMM: 33, yMM: 210)
        let back = t.inverse.apply(xMM: p.xMM, yMM: p.yMM)
        #expect(abs(back.xMM - 33) < 1e-9 && abs(back.yMM - 210) < 1e-9)
        let c = t.apply(xMM: 100, yMM: 80)
        #expect(abs(c.xMM - 104) < 1e-9 && abs(c.yMM - 73) < 1e-9)
        let id = t.composed(after: t.inverse)
        #expect(id.maximumDisplacementMM(from: .identity, widthMM: 300, heightMM: 300) < 1e-9)
    }

    @Test func phaseCorrelationSignConvention() {
        let scene = SyntheticScene(seed: 3)
        let a = Plane(scene.render(width: 64, height: 64, spacingMM: 2), spacingX: 2, spacingY: 2)
        // moved(y) = a(y − v) with v = (6, −4) mm: render the scene shifted.
        let b = Plane(scene.render(width: 64, height: 64, spacingMM: 2, examToScene: SimilarityTransform(translationXMM: -6, translationYMM: 4)),
                      spacingX: 2, spacingY: 2)
        let (vx, vy, peak) = PhaseCorrelation.shift(from: a, to: b, window: ExamRegistration.hann(like: a))
        #expect(abs(vx - 6) < 0.5 && abs(vy + 4) < 0.5, "v = (\(vx), \(vy)), peak \(peak)")
    }
}
