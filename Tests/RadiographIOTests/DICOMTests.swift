import Foundation
@testable import RadiographIO
import Testing
import TestSupport

#if canImport(Glibc)
import Glibc
#endif

/// The facts `Fixtures/dicom/make_dicom_fixtures.py` recorded for each DICOM fixture.
struct DICOMFixture: Sendable, CustomStringConvertible {
    var name: String
    var expect: String
    var detail: String?
    var tolerance: Double
    var bitsStored: Int?
    var photometric: String?
    var spacing: [Double]?
    var spacingSource: String?
    var hasSpacingFact: Bool
    var patient: String?
    var issuer: String?
    var hasIssuerFact: Bool
    var studyDate: String?
    var modality: String?
    var view: String?
    var frames: Int

    var description: String { name }
    var path: String { Fixtures.path("dicom/" + name) }

    static let all: [DICOMFixture] = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dicom/manifest.json")))
        let json = try! JSONSerialization.jsonObject(with: data) as! [String: [String: Any]]
        return json.keys.sorted().map { name in
            let f = json[name]!
            return DICOMFixture(
                name: name, expect: f["expect"] as! String, detail: f["detail"] as? String,
                tolerance: (f["tolerance"] as? Double) ?? 0, bitsStored: f["bitsStored"] as? Int,
                photometric: f["photometric"] as? String, spacing: f["spacing"] as? [Double],
                spacingSource: f["spacingSource"] as? String, hasSpacingFact: f.keys.contains("spacing"),
                patient: f["patient"] as? String, issuer: f["issuer"] as? String, hasIssuerFact: f.keys.contains("issuer"),
                studyDate: f["studyDate"] as? String, modality: f["modality"] as? String, view: f["view"] as? String,
                frames: (f["frames"] as? Int) ?? 1)
        }
    }()

    static var decodable: [DICOMFixture] { all.filter { $0.expect == "ok" } }
    static var rejected: [DICOMFixture] { all.filter { $0.expect != "ok" } }
}

/// DICOM through GDCM, in the worker process (the default) and in process,
/// against pydicom's `apply_modality_lut(pixel_array)` references.
@Suite struct DICOMDecodeTests {
    @Test("Pixels after the modality transform match pydicom", arguments: DICOMFixture.decodable)
    func pixelsMatchPydicom(_ fixture: DICOMFixture) throws {
        let radiograph = try RadiographReader().read(contentsOf: fixture.path)
        let reference = try NPYFile.loadFloat32(fixture.path + ".expected.npy")
        #expect(radiograph.source.format == .dicom)
        #expect(reference.shape == [radiograph.height, radiograph.width])
        let dicom = try #require(radiograph.dicom)
        var worst = 0.0
        for (sample, expected) in zip(radiograph.samples, reference.values) {
            worst = max(worst, abs(dicom.modalityMapping.modalityValue(sample) - Double(expected)))
        }
        #expect(worst <= fixture.tolerance, "largest difference \(worst) (tolerance \(fixture.tolerance))")
        if let bits = fixture.bitsStored { #expect(radiograph.bitsStored == bits) }
        #expect(radiograph.samples.allSatisfy { $0 <= radiograph.maximumStoredValue })
        if let photometric = fixture.photometric { #expect(radiograph.photometric.rawValue == photometric) }
        #expect(dicom.numberOfFrames == fixture.frames)
        if fixture.frames > 1 { #expect(radiograph.notes.contains { $0.contains("only frame 1 decoded") }) }
    }

    @Test("Spacing, identity, date, modality and view", arguments: DICOMFixture.decodable.filter { !$0.name.hasPrefix("pydicom-") })
    func metadata(_ fixture: DICOMFixture) throws {
        let radiograph = try RadiographReader().read(contentsOf: fixture.path)
        if fixture.hasSpacingFact {
            if let spacing = fixture.spacing {
                let found = try #require(radiograph.pixelSpacing)
                #expect(Tolerance.approximatelyEqual(found.row, spacing[0], relative: 1e-9))
                #expect(Tolerance.approximatelyEqual(found.column, spacing[1], relative: 1e-9))
                #expect("\(found.source)" == fixture.spacingSource)
                // A spacing at the detector or the film (no magnification correction) is flagged.
                #expect(radiograph.notes.contains { $0.contains("objects measure about 5–15 % too large") }
                        == (fixture.spacingSource?.hasSuffix("-plane)") == true), "\(radiograph.notes)")
            } else {
                #expect(radiograph.pixelSpacing == nil)
            }
        }
        #expect(radiograph.patient?.id == fixture.patient)
        if fixture.hasIssuerFact { #expect(radiograph.patient?.issuer == fixture.issuer) }
        #expect(radiograph.studyDate?.description == fixture.studyDate)
        #expect(radiograph.dicom?.modality == fixture.modality)
        #expect(radiograph.dicom?.viewPosition == fixture.view)
        #expect(radiograph.dicom?.studyInstanceUID == "1.2.826.0.1.3680043.8.498.1000002")
        #expect(radiograph.dicom?.sopInstanceUID?.isEmpty == false)  // pydicom's RLE encoder issues a new one
    }

    @Test("Rejected files fail with the exact error", arguments: DICOMFixture.rejected)
    func rejected(_ fixture: DICOMFixture) throws {
        let error = try #require(throws: RadiographError.self) { try RadiographReader().read(contentsOf: fixture.path) }
        #expect(error.code == fixture.expect, "\(error)")
        if let detail = fixture.detail { #expect(error.description.contains(detail), "\(error)") }
        if case .decode(_, let format, _) = error { #expect(format == .dicom) }
    }

    @Test("In-process GDCM gives the same radiograph as the worker", arguments: DICOMFixture.decodable)
    func inProcessMatchesWorker(_ fixture: DICOMFixture) throws {
        var options = DecodeOptions()
        options.dicomIsolation = .inProcess
        let inProcess = try RadiographReader(options: options).read(contentsOf: fixture.path)
        let worker = try RadiographReader().read(contentsOf: fixture.path)
        #expect(inProcess == worker)
    }

    @Test func signedDataIsSignExtendedFromBitsStoredAndShiftedToOffsetBinary() throws {
        let radiograph = try RadiographReader().read(contentsOf: Fixtures.path("dicom/signed-13bit-upper-bits-set.dcm"))
        let mapping = try #require(radiograph.dicom?.modalityMapping)
        #expect(mapping.offset == -4096)
        #expect(mapping.scale == 1)
        #expect(radiograph.dicom?.storedSigned == true)
        #expect(radiograph.statistics.minimum < 4096)  // negative values exist and map below the midpoint
    }

    /// PS3.5 §8.1.1: with High Bit 15 and Bits Stored 12 a value is bits 4–15 of its word (bits 0–3 are
    /// noise here). `make_high_bit_fixtures.py` writes the standard's values beside each file; pydicom, which
    /// reads the low bits, is not the reference for these.
    @Test("Values above the low bits are read where the standard puts them (native LE and BE), in a worker and in process")
    func highBitAboveBitsStoredIsReadFromTheWordsTopBits() throws {
        for name in ["hb15-explicit-le", "hb15-implicit-le", "hb15-explicit-be"] {
            let expected = try NPYFile.loadUInt16(Fixtures.path("dicom/\(name).stored.npy"))
            #expect(expected.shape == [48, 64])
            var inProcess = DecodeOptions()
            inProcess.dicomIsolation = .inProcess
            for options in [DecodeOptions(), inProcess] {
                let radiograph = try RadiographReader(options: options).read(contentsOf: Fixtures.path("dicom/\(name).dcm"))
                #expect(radiograph.samples == expected.values, "\(name), \(options.dicomIsolation)")
                #expect(radiograph.bitsStored == 12)
            }
        }
    }

    /// Through GDCM (a deflated data set's pixels) such words arrive with the bits above Bits Stored dropped:
    /// refused, not misread.
    @Test func highBitAboveBitsStoredInADeflatedDataSetIsRefused() throws {
        let path = Fixtures.path("dicom/hb15-deflated.dcm")
        #expect {
            try RadiographReader().read(contentsOf: path)
        } throws: { error in
            guard case .decode(_, .dicom, .unsupported(let detail)) = error as? RadiographError else { return false }
            return detail.contains("High Bit 15 with Bits Stored 12")
        }
    }

    @Test func negativeSlopeKeepsSamplesIncreasingWithModalityValue() throws {
        let radiograph = try RadiographReader().read(contentsOf: Fixtures.path("dicom/rescale-negative-slope.dcm"))
        let plain = try RadiographReader().read(contentsOf: Fixtures.path("dicom/explicit-le.dcm"))
        #expect(radiograph.samples == plain.samples.map { 4095 - $0 })
        #expect(radiograph.notes.contains { $0.contains("negative Rescale Slope") })
    }

    @Test func monochrome1IsRecordedNotInverted() throws {
        let mono1 = try RadiographReader().read(contentsOf: Fixtures.path("dicom/monochrome1.dcm"))
        let mono2 = try RadiographReader().read(contentsOf: Fixtures.path("dicom/explicit-le.dcm"))
        #expect(mono1.photometric == .monochrome1)
        #expect(mono1.samples == mono2.samples)
    }

    @Test func maxPixelsIsCheckedBeforeDecoding() throws {
        let error = try #require(throws: RadiographError.self) {
            try RadiographReader(options: DecodeOptions(maxPixels: 100)).read(contentsOf: Fixtures.path("dicom/rle.dcm"))
        }
        #expect(error == .decode(path: Fixtures.path("dicom/rle.dcm"), format: .dicom, .tooLarge(width: 64, height: 48, limitPixels: 100)))
    }
}

/// A DICOM file that is not a frontal projection radiograph by its own tags says so in its
/// notes (and so in the detection record's warnings); a frontal DX says nothing.
@Suite struct DICOMAcquisitionNotesTests {
    static func attributes(_ modality: String?, _ view: String?) -> DICOMAttributes {
        DICOMAttributes(transferSyntax: .explicitLittleEndian, modality: modality, viewPosition: view, storedBits: 12, storedSigned: false,
                        modalityMapping: .init(scale: 1, offset: 0, kind: .identity))
    }

    @Test("which tags warn", arguments: [
        ("DX", "PA", 0), ("CR", "AP", 0), ("DX", nil, 0), (nil, nil, 0), ("OT", "PA", 0), ("RG", "ap", 0),
        ("DX", "LL", 1), ("CR", "RLD", 1), ("CT", nil, 1), ("MG", "PA", 1), ("MR", "LL", 2),
    ] as [(String?, String?, Int)])
    func warnings(_ modality: String?, _ view: String?, _ count: Int) {
        let notes = Self.attributes(modality, view).acquisitionNotes
        #expect(notes.count == count, "\(notes)")
        if let view, count > 0, !DICOMAttributes.frontalViews.contains(view.uppercased()) {
            #expect(notes.contains { $0.hasPrefix("View Position '\(view)' is not frontal") })
        }
        if let modality, let note = notes.first(where: { $0.hasPrefix("Modality '\(modality)'") }) {
            // The note names every modality that is accepted.
            #expect(DICOMAttributes.radiographModalities.allSatisfy { note.contains($0) }, "\(note)")
        }
    }

    /// The header alone gives the Modality and View Position the decode gives (a deflated data
    /// set's once inflated: `deflated-lateral.dcm`).
    @Test("header and decode agree", arguments: DICOMFixture.decodable)
    func headerAgreesWithDecode(_ fixture: DICOMFixture) throws {
        let reader = RadiographReader()
        let bytes = try reader.readBytes(contentsOf: fixture.path)
        let decoded = try #require(try reader.decode(bytes, path: fixture.path).dicom)
        let header = try #require(RadiographReader.dicomAcquisition(of: bytes))
        #expect(header == decoded.acquisition)
        #expect(header.notes == decoded.acquisitionNotes)
        #expect(header.viewPosition == fixture.view)
    }

    /// A deflated data set is walked once inflated, up to a bound: beyond it the walk leaves Pixel
    /// Data to GDCM (no error, no measurement) but keeps the header's tags.
    @Test func aDeflatedDataSetIsInflatedWithinABound() throws {
        let bytes = try RadiographReader().readBytes(contentsOf: Fixtures.path("dicom/deflated-lateral.dcm"))
        let whole = try DICOMPreflight.scan(bytes)
        #expect(whole.pixelData == .init(declaredBytes: 64 * 48 * 2, fragments: 0, rows: 48, columns: 64, frames: 1))
        var acquisition = DICOMAcquisition()
        let bounded = try DICOMPreflight.scan(bytes, maxInflatedBytes: 2048, acquisition: &acquisition)
        #expect(bounded.pixelData == nil)
        #expect(acquisition == DICOMAcquisition(modality: "DX", viewPosition: "LL"))
        // The stream's first block header made invalid (BTYPE 11, reserved): zlib's own error, before GDCM.
        // It starts after the File Meta Information: 132 + 12 bytes of (0002,0000) + its value (UL at 140).
        var damaged = bytes
        let metaLength = (0..<4).reduce(0) { $0 | Int(bytes[140 + $1]) << (8 * $1) }
        damaged[144 + metaLength] = 0x07
        let error = try #require(throws: DecodingFailure.self) { try DICOMPreflight.scan(damaged) }
        #expect("\(error)".contains("deflated data set"), "\(error)")
    }

    /// A lateral view is known from its header even when its pixels cannot be decoded, and
    /// the tags before a truncation are still read; bytes that are not DICOM give nil.
    @Test func aViewIsKnownFromTheHeaderAlone() throws {
        let reader = RadiographReader()
        let lateral = try reader.readBytes(contentsOf: Fixtures.path("dicom/lateral-cut-codestream.dcm"))
        let header = try #require(RadiographReader.dicomAcquisition(of: lateral))
        #expect(header == DICOMAcquisition(modality: "DX", viewPosition: "LL"))
        #expect(header.notes.count == 1 && header.notes[0].hasPrefix("View Position 'LL' is not frontal"), "\(header.notes)")
        #expect(throws: RadiographError.self) { try reader.decode(lateral, path: "lateral-cut-codestream.dcm") }
        let truncated = try reader.readBytes(contentsOf: Fixtures.path("dicom/truncated-rle-50pct.dcm"))
        #expect(RadiographReader.dicomAcquisition(of: truncated) == DICOMAcquisition(modality: "DX", viewPosition: "PA"))
        #expect(RadiographReader.dicomAcquisition(of: try reader.readBytes(contentsOf: Fixtures.path("gray16.png"))) == nil)
    }

    /// A DICOM file's stated polarity is used, but anatomy that says the opposite is flagged.
    @Test func anatomyAgainstTheStatedPolarityIsFlagged() {
        // 200 × 200: a bright central band (the mediastinum, dense-high) between dark lateral bands.
        let side = 200
        let samples = (0..<(side * side)).map { i -> UInt16 in
            let x = Double(i % side) / Double(side)
            return x >= 0.42 && x <= 0.58 ? 3000 : (x >= 0.15 && x <= 0.32) || (x >= 0.68 && x <= 0.85) ? 1000 : 2000
        }
        #expect(ChestPolarity.read(samples, width: side, height: side)?.disagreement(stated: .monochrome2) == nil)
        let doubt = ChestPolarity.read(samples, width: side, height: side)?.disagreement(stated: .monochrome1)
        #expect(doubt?.hasPrefix("Photometric Interpretation says MONOCHROME1, but the anatomy looks inverted") == true, "\(doubt ?? "")")
        // The same picture stored lucent-high is right as MONOCHROME1, and flagged as MONOCHROME2.
        let inverted = samples.map { 4095 - $0 }
        #expect(ChestPolarity.read(inverted, width: side, height: side)?.disagreement(stated: .monochrome1) == nil)
        #expect(ChestPolarity.read(inverted, width: side, height: side)?.disagreement(stated: .monochrome2) != nil)
        // No anatomy to judge by: nothing said.
        #expect(ChestPolarity.read([UInt16](repeating: 7, count: side * side), width: side, height: side)?.disagreement(stated: .monochrome1) == nil)
    }

    @Test func anInversePresentationLUTOnMonochrome2IsReadAsDisplayed() throws {
        let inverse = try RadiographReader().read(contentsOf: Fixtures.path("dicom/presentation-lut-inverse.dcm"))
        #expect(inverse.photometric == .monochrome1)
        #expect(inverse.notes.contains { $0.hasPrefix("Presentation LUT Shape INVERSE on MONOCHROME2 data: read as MONOCHROME1") })
        // The same pixels without the tag (the file it was made from) stay MONOCHROME2.
        let plain = try RadiographReader().read(contentsOf: Fixtures.path("dicom/explicit-le.dcm"))
        #expect(plain.photometric == .monochrome2 && plain.samples == inverse.samples)
        #expect(!plain.notes.contains { $0.contains("Presentation LUT") })
    }

    @Test func aCTSliceIsDecodedWithAWarningAndAFrontalDXWithout() throws {
        let ct = try RadiographReader().read(contentsOf: Fixtures.path("dicom/pydicom-CT_small.dcm"))
        #expect(ct.dicom?.modality == "CT")
        #expect(ct.notes.contains { $0.hasPrefix("Modality 'CT' is not a projection radiograph") }, "\(ct.notes)")
        let dx = try RadiographReader().read(contentsOf: Fixtures.path("dicom/explicit-le.dcm"))
        #expect(dx.dicom?.modality == "DX" && dx.dicom?.viewPosition == "PA")
        #expect(!dx.notes.contains { $0.contains("projection radiograph") || $0.contains("not frontal") }, "\(dx.notes)")
    }
}

@Suite struct DICOMSniffingTests {
    @Test func preambleAndPreamblelessFilesAreDICOM() throws {
        for name in ["explicit-le.dcm", "no-preamble-implicit.dcm", "pydicom-MR_small_bigendian.dcm"] {
            let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dicom/" + name))))
            #expect(FormatSniffer.sniff(bytes) == .supported(.dicom), "\(name)")
        }
        #expect(FormatSniffer.sniff([UInt8](repeating: 0, count: 200)) == .unknown)
        #expect(FormatSniffer.sniff([0x08, 0x00, 0x05, 0x00] + [UInt8](repeating: 0x41, count: 20)) == .unknown)
    }

    @Test func unsupportedTransferSyntaxIsRefusedBeforeGDCM() throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dicom/htj2k.dcm"))))
        #expect(throws: DecodingFailure.unsupportedTransferSyntax(uid: "1.2.840.10008.1.2.4.201")) { try DICOMPreflight.scan(bytes) }
    }
}

/// A worker that aborts, hangs or is killed costs one request; the pool replaces it.
@Suite struct DICOMWorkerIsolationTests {
    let sample = [UInt8](try! Data(contentsOf: URL(fileURLWithPath: Fixtures.path("dicom/jpeg-lossless-sv1.dcm"))))

    func decodesFine(_ pool: DICOMWorkerPool) throws {
        let image = try pool.decode(sample, maxPixels: 1 << 20, timeoutSeconds: 20)
        #expect(image.rows == 48 && image.columns == 64)
    }

    @Test func abortingWorkerIsReportedAndReplaced() throws {
        let pool = DICOMWorkerPool(size: 1)
        defer { pool.shutdown() }
        try decodesFine(pool)
        #expect(throws: DecodingFailure.self) { _ = try pool.request(.abortForTesting, payload: [], timeoutSeconds: 20) }
        do {
            _ = try pool.request(.abortForTesting, payload: [], timeoutSeconds: 20)
        } catch let failure as DecodingFailure {
            guard case .workerCrashed(let detail) = failure else { Issue.record("got \(failure)"); return }
            #expect(detail.contains("SIGABRT"), "\(detail)")
        }
        try decodesFine(pool)
        #expect(pool.workersStarted == 3)
    }

    @Test func hangingWorkerTimesOutAndIsReplaced() throws {
        let pool = DICOMWorkerPool(size: 1)
        defer { pool.shutdown() }
        let start = Date()
        #expect(throws: DecodingFailure.timedOut(seconds: 0.5)) { _ = try pool.request(.hangForTesting, payload: [], timeoutSeconds: 0.5) }
        #expect(Date().timeIntervalSince(start) < 10)
        try decodesFine(pool)
        #expect(pool.workersStarted == 2)
    }

    @Test func workerKilledMidRequestIsReportedAndReplaced() throws {
        let pool = DICOMWorkerPool(size: 1)
        defer { pool.shutdown() }
        try decodesFine(pool)
        let victim = try #require(pool.idleWorkerPIDs.first)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.3) { kill(victim, SIGKILL) }
        #expect(throws: DecodingFailure.workerCrashed(detail: "killed by SIGKILL")) {
            _ = try pool.request(.hangForTesting, payload: [], timeoutSeconds: 20)
        }
        try decodesFine(pool)
        #expect(!pool.idleWorkerPIDs.contains(victim))
    }

    @Test func workerKilledWhileIdleIsReplacedTransparently() throws {
        let pool = DICOMWorkerPool(size: 1)
        defer { pool.shutdown() }
        try decodesFine(pool)
        let victim = try #require(pool.idleWorkerPIDs.first)
        kill(victim, SIGKILL)
        usleep(100_000)
        try decodesFine(pool)
        #expect(pool.workersStarted == 2)
    }

    /// Linux's parent-death signal follows the *thread* that spawned a child, not the process
    /// (prctl(2)), so a worker started from a Dispatch thread that later retires must not be
    /// tied to that thread: it has to keep serving the pool's other threads.
    @Test func workerOutlivesTheThreadThatStartedIt() throws {
        let pool = DICOMWorkerPool(size: 1)
        defer { pool.shutdown() }
        let first = ThreadOutcome()
        let thread = Thread { first.set(Result { try self.decodesFine(pool) }) }
        thread.start()
        try #require(first.wait(seconds: 30), "the spawning thread did not finish")
        try first.get()
        let worker = try #require(pool.idleWorkerPIDs.first)
        usleep(300_000) // the spawning thread has exited by now
        try decodesFine(pool)
        #expect(pool.workersStarted == 1)
        #expect(pool.idleWorkerPIDs == [worker])
    }

    /// A worker whose parent process dies (here a shell killed with SIGKILL) exits by itself
    /// within a second or two, even while something else still holds its input open, so a
    /// worker stuck inside GDCM never outlives the batch.
    @Test func orphanedWorkerExitsOnItsOwn() throws {
        let shell = Process()
        shell.executableURL = URL(fileURLWithPath: "/bin/sh")
        // `sleep` holds the worker's input open after the shell is gone, so end of input cannot be what stops it.
        shell.arguments = ["-c", "sleep 30 | \"$0\" --serve & echo $!; wait", DICOMWorkerPool.workerCommand().path]
        let out = Pipe()
        shell.standardOutput = out
        try shell.run()
        var line = [UInt8]()
        while let byte = try out.fileHandleForReading.read(upToCount: 1)?.first, byte != UInt8(ascii: "\n") { line.append(byte) }
        let worker = try #require(pid_t(String(decoding: line, as: UTF8.self)))
        usleep(200_000)
        #expect(ChildProcess.isAlive(worker))
        let holders = Self.children(of: shell.processIdentifier).filter { $0 != worker } // the sleep
        kill(shell.processIdentifier, SIGKILL)
        var waited = 0.0
        while ChildProcess.isAlive(worker) && waited < 10 { usleep(50_000); waited += 0.05 }
        #expect(!ChildProcess.isAlive(worker), "worker \(worker) still running \(waited) s after its parent died")
        for pid in holders + [worker] { kill(pid, SIGKILL) }
        shell.waitUntilExit()
    }

    /// Process ids whose parent is `parent` (from /proc/*/stat).
    static func children(of parent: pid_t) -> [pid_t] {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return entries.compactMap { name -> pid_t? in
            guard let pid = pid_t(name),
                  let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")") else { return nil }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && pid_t(fields[1]) == parent ? pid : nil
        }
    }

    @Test func missingWorkerExecutableIsAClearError() throws {
        let pool = DICOMWorkerPool(size: 1, executable: "/nonexistent/nodules-dicom-worker")
        #expect(throws: DecodingFailure.self) { try decodesFine(pool) }
        do {
            try decodesFine(pool)
        } catch let failure as DecodingFailure {
            #expect(failure.kind == "worker-unavailable")
        }
    }

    @Test func batchContinuesAfterAFailedFile() throws {
        let files = ["truncated-rle-50pct.dcm", "explicit-le.dcm", "cut-codestream-j2k-lossless.dcm", "rle.dcm"]
        var codes: [String] = []
        for name in files {
            do {
                _ = try RadiographReader().read(contentsOf: Fixtures.path("dicom/" + name))
                codes.append("ok")
            } catch let error as RadiographError {
                codes.append(error.code)
            }
        }
        #expect(codes == ["decode.truncated", "ok", "decode.corrupt", "ok"])
    }
}

/// The result of work run on a `Thread`, handed back to the test.
final class ThreadOutcome: @unchecked Sendable {
    // `result` is written once by the worker thread before `done` is signalled and read only after waiting on it.
    private var result: Result<Void, any Error> = .success(())
    private let done = DispatchSemaphore(value: 0)

    func set(_ value: Result<Void, any Error>) {
        result = value
        done.signal()
    }

    func wait(seconds: Double) -> Bool { done.wait(timeout: .now() + seconds) == .success }
    func get() throws { try result.get() }
}
