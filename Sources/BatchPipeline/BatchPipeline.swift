import Dispatch
import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO
import ScaleSpace

/// How a batch runs.
public struct BatchConfiguration: Sendable {
    public var pipeline: PipelineDefinition
    /// Decoder limits and raw geometry; `spacingOverride` is the command line's `--spacing`.
    public var decode: DecodeOptions
    /// Images decoded and detected at once (Dispatch workers). Default: the core count.
    public var jobs: Int
    /// Images between enumeration and output at once: the backpressure bound, and the
    /// size of the reorder buffer. Default `2 × jobs`.
    public var window: Int
    /// Recompute images whose result is already stored.
    public var force: Bool
    /// When set, a review picture of every image detected in this run (``BatchRunner/overlayStem(_:)``).
    public var overlayDirectory: String?

    public init(pipeline: PipelineDefinition, decode: DecodeOptions = DecodeOptions(),
                jobs: Int = ProcessInfo.processInfo.activeProcessorCount, window: Int? = nil, force: Bool = false,
                overlayDirectory: String? = nil) {
        self.pipeline = pipeline
        self.decode = decode
        self.jobs = max(1, jobs)
        self.window = max(1, window ?? 2 * max(1, jobs))
        self.force = force
        self.overlayDirectory = overlayDirectory
    }
}

/// What happened to one input.
public enum BatchItemStatus: String, Sendable, Equatable {
    /// Detected in this run.
    case computed
    /// Taken from the store (same content, pipeline and spacing).
    case resumed
    /// Not a usable image, or a manifest row that could not be used.
    case failed
}

/// One input's result, handed to the sink in enumeration order.
public struct BatchItemResult: Sendable {
    public var index: Int
    public var input: BatchInput
    public var record: DetectionRecord
    public var status: BatchItemStatus
}

/// Counts and timing of a finished batch.
public struct BatchSummary: Sendable, Equatable {
    public var total = 0
    public var computed = 0
    public var resumed = 0
    public var failed = 0
    public var detections = 0
    public var seconds = 0.0
    /// Largest number of images between enumeration and output at once (≤ `window`).
    public var peakInFlight = 0
    /// Largest number of decoded radiographs alive at once (≤ `jobs`).
    public var peakDecoded = 0

    public var succeeded: Int { computed + resumed }
    public var imagesPerSecond: Double { seconds > 0 ? Double(total) / seconds : 0 }
}

/// enumerate → read/decode → detect → persist, on Dispatch.
///
/// - The caller's thread enumerates and feeds inputs, waiting on a semaphore of
///   `window` slots, so at most `window` images are between enumeration and output:
///   memory does not grow with the number of files.
/// - A concurrent queue runs read/decode and detect back to back, at most `jobs` at
///   once (a second semaphore), so at most `jobs` decoded images exist. With
///   `jobs > 1` each detector uses one thread, and OpenBLAS always one thread per
///   call (`BLASThreadPolicy`): parallelism is across images.
/// - One serial queue persists: it owns the store's writes (one transaction per
///   image) and a reorder buffer that hands results to the sink in enumeration
///   order whatever order they finish in. A slot is released when its result
///   leaves the buffer, so the buffer holds at most `window` results.
public final class BatchRunner: @unchecked Sendable {
    // @unchecked: the mutable state below is touched only on `persistQueue`
    // (reorder buffer, counters) or under `statsLock` (peaks).
    public let configuration: BatchConfiguration
    let store: NoduleStore
    let run: RunHandle
    let detector: NoduleDetector
    let stamp: PipelineStamp
    /// The review pictures' score bands: the definition's measured operating points, when it has them.
    let overlayBands: OverlayBands

    let persistQueue = DispatchQueue(label: "nodulekit.batch.persist")
    let workQueue = DispatchQueue(label: "nodulekit.batch.work", attributes: .concurrent)
    var pending: [Int: BatchItemResult] = [:]
    var nextIndex = 0
    var summary = BatchSummary()
    let statsLock = NSLock()
    var inFlight = 0
    var decoded = 0
    var peakInFlight = 0
    var peakDecoded = 0
    /// Failpoint for the crash-safety test only: with `NODULEKIT_TEST_HALT_AFTER_STORED=N`
    /// in the environment, the persist stage stops for good after committing N images
    /// of this run, so the test can SIGKILL a run that is provably part-way through
    /// (a race against a fast machine otherwise). Unset in normal use.
    let haltAfterStored = ProcessInfo.processInfo.environment["NODULEKIT_TEST_HALT_AFTER_STORED"].flatMap(Int.init)
    var storedThisRun = 0

    public init(configuration: BatchConfiguration, store: NoduleStore, run: RunHandle) {
        self.configuration = configuration
        self.store = store
        self.run = run
        let threads = configuration.jobs > 1 ? 1 : SeparableConvolution.defaultThreads
        detector = NoduleDetector(pipeline: configuration.pipeline, threads: threads)
        stamp = detector.stamp  // computed once: the digest encodes the whole definition (a map's weights too)
        overlayBands = configuration.overlayDirectory == nil ? .fixed : OverlayBands(OperatingPoints.measured(for: stamp))
    }

    /// Runs every input; `sink` receives each result in input order on the persist queue.
    /// A failing file never stops the batch.
    public func run(_ inputs: [BatchInput], sink: @escaping @Sendable (BatchItemResult) -> Void) -> BatchSummary {
        let started = DispatchTime.now().uptimeNanoseconds
        let analysed: Set<AnalysisKey> = configuration.force ? [] : ((try? store.analysedKeys(pipelineDigest: stamp.digest)) ?? [])
        let window = DispatchSemaphore(value: configuration.window)
        let workers = DispatchSemaphore(value: configuration.jobs)
        let group = DispatchGroup()
        summary = BatchSummary(total: inputs.count)
        statsLock.withLock { peakInFlight = 0; peakDecoded = 0 }

        for (index, input) in inputs.enumerated() {
            window.wait()
            track(inFlight: +1)
            group.enter()
            workQueue.async {
                workers.wait()
                let result = self.process(input, index: index, analysed: analysed)
                workers.signal()
                self.persistQueue.async {
                    let stored = self.persist(result)
                    self.pending[index] = stored
                    while let ready = self.pending.removeValue(forKey: self.nextIndex) {
                        self.nextIndex += 1
                        self.count(ready)
                        sink(ready)
                        self.track(inFlight: -1)
                        window.signal()
                    }
                    group.leave()
                }
            }
        }
        group.wait()
        return persistQueue.sync {
            var out = summary
            out.seconds = Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            statsLock.withLock {
                out.peakInFlight = peakInFlight
                out.peakDecoded = peakDecoded
            }
            return out
        }
    }

    func track(inFlight delta: Int = 0, decoded decodedDelta: Int = 0) {
        statsLock.withLock {
            inFlight += delta
            decoded += decodedDelta
            peakInFlight = max(peakInFlight, inFlight)
            peakDecoded = max(peakDecoded, decoded)
        }
    }

    func count(_ item: BatchItemResult) {
        switch item.status {
        case .computed: summary.computed += 1
        case .resumed: summary.resumed += 1
        case .failed: summary.failed += 1
        }
        summary.detections += item.record.nodules.count
    }

    // MARK: Stages

    /// A worker's product: everything the persist stage needs, no pixels.
    struct Processed: Sendable {
        var index: Int
        var input: BatchInput
        var status: BatchItemStatus
        /// The record to emit (contract fields, identity, all warnings).
        var record: DetectionRecord
        /// Warnings that belong to the content (decoder notes, detector warnings): what the store keeps.
        var contentWarnings: [String]
        var key: AnalysisKey?
        var spacing: StoredSpacing?
        var byteCount: Int?
        var fileIdentity = FileIdentity()
    }

    /// read → hash → (resume look-up) → decode → detect.
    func process(_ input: BatchInput, index: Int, analysed: Set<AnalysisKey>) -> Processed {
        func failure(_ message: String, _ code: String, sha256: String? = nil) -> Processed {
            var record = DetectionRecord.failure(path: input.path, message: message, code: code, pipeline: stamp)
            record.imageSHA256 = sha256
            return Processed(index: index, input: input, status: .failed, record: record, contentWarnings: [])
        }
        if let problem = input.problem { return failure(problem.description, problem.code) }

        var options = configuration.decode
        options.computeDigest = false
        if let spacing = input.manifestSpacing { options.spacingOverride = spacing }
        let reader = RadiographReader(options: options)
        let bytes: [UInt8]
        do {
            bytes = try reader.readBytes(contentsOf: input.path)
        } catch let error as RadiographError {
            return failure(error.description, error.code)
        } catch {
            return failure("\(input.path): \(error)", "read.io-error")
        }
        let sha256 = RadiographReader.sha256(of: bytes)
        // The decode options that change results: a spacing from outside the file, and
        // polarity taken as stored (inference is the default and adds nothing to the key).
        let spacingKey = (options.spacingOverride.map { "\($0.row)x\($0.column)" } ?? "")
            + (options.infersPolarity ? "" : " polarity=stored")
        let key = AnalysisKey(sha256: sha256, pipelineDigest: stamp.digest, spacingKey: spacingKey)

        if analysed.contains(key), let stored = try? store.analysis(for: key) {
            let file = stored.fileIdentity
            let identity = input.resolve(
                filePatient: file.patientID.map { PatientIdentity(id: $0, issuer: file.patientIssuer) },
                fileDate: file.studyDate.flatMap { StudyDate($0) })
            var record = DetectionRecord(
                path: input.path, width: stored.width, height: stored.height,
                pixelSpacingMM: stored.spacing.map { ($0.rowMM + $0.columnMM) / 2 }, spacingSource: stored.spacingSource,
                imageSHA256: sha256, pipeline: stored.pipeline, nodules: stored.nodules, warnings: stored.warnings)
            Self.apply(identity, input: input, to: &record)
            return Processed(index: index, input: input, status: .resumed, record: record, contentWarnings: stored.warnings,
                             key: key, spacing: stored.spacing, byteCount: bytes.count, fileIdentity: file)
        }

        track(decoded: +1)
        defer { track(decoded: -1) }
        var radiograph: Radiograph
        do {
            radiograph = try reader.decode(bytes, path: input.path)
        } catch let error as RadiographError {
            return failure(error.description, error.code, sha256: sha256)
        } catch {
            return failure("\(input.path): \(error)", "decode.corrupt", sha256: sha256)
        }
        radiograph.source.sha256 = sha256
        let file = FileIdentity(patientID: radiograph.patient?.id, patientIssuer: radiograph.patient?.issuer,
                                studyDate: radiograph.studyDate?.description)
        let identity = input.resolve(filePatient: radiograph.patient, fileDate: radiograph.studyDate)
        let result = detector.detect(radiograph)
        var record = result.record(for: radiograph)
        let contentWarnings = record.warnings
        Self.apply(identity, input: input, to: &record)
        if let folder = configuration.overlayDirectory {
            // The detection stands; only its picture is missing, and the record says so (not the store).
            do { try Self.writeOverlay(result, stem: folder + "/" + Self.overlayStem(input.key), bands: overlayBands) } catch {
                record.warnings.append("overlay not written: \(error)")
            }
        }
        return Processed(index: index, input: input, status: .computed, record: record, contentWarnings: contentWarnings,
                         key: key, spacing: radiograph.pixelSpacing.map { StoredSpacing(rowMM: $0.row, columnMM: $0.column) },
                         byteCount: bytes.count, fileIdentity: file)
    }

    /// Where an input's review pictures go, relative to the overlay folder: its relative path (``BatchInput/key``)
    /// without the extension, so the folder mirrors the input's layout; a `.`, `..` or empty component becomes
    /// `_`, so nothing is written outside the folder.
    public static func overlayStem(_ key: String) -> String {
        let components = key.split(separator: "/", omittingEmptySubsequences: false).map { c in
            c.isEmpty || c == "." || c == ".." ? "_" : String(c)
        }
        let name = components.last ?? "_", dot = name.lastIndex(of: ".")
        let stem = dot.map { $0 == name.startIndex ? name : String(name[..<$0]) } ?? name
        return (components.dropLast() + [stem]).joined(separator: "/")
    }

    /// Writes the review pictures of `result` at `stem` (``DetectionOverlay/write(_:stem:bands:)``), creating its folder.
    static func writeOverlay(_ result: DetectionResult, stem: String, bands: OverlayBands) throws {
        try FileManager.default.createDirectory(atPath: (stem as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try DetectionOverlay.write(result, stem: stem, bands: bands)
    }

    /// Puts the resolved identity and the input's own remarks on a record.
    static func apply(_ identity: ResolvedIdentity, input: BatchInput, to record: inout DetectionRecord) {
        record.patientID = identity.patient?.id
        record.patientIssuer = identity.patient?.issuer
        record.studyDate = identity.studyDate?.description
        record.patientSource = identity.patientSource?.rawValue
        record.dateSource = identity.dateSource?.rawValue
        record.warnings += input.notes + identity.notes
    }

    /// The persist stage: one transaction per image. A store failure turns the item into a failure.
    func persist(_ item: Processed) -> BatchItemResult {
        var record = item.record
        var status = item.status
        do {
            switch item.status {
            case .computed, .resumed:
                var stored = record
                stored.warnings = item.contentWarnings
                try store.save(stored, key: item.key!, spacing: item.spacing, byteCount: item.byteCount,
                               fileIdentity: item.fileIdentity, run: run, replace: item.status == .computed)
                storedThisRun += 1
                if let halt = haltAfterStored, storedThisRun >= halt {
                    while true { sleep(3600) }  // the failpoint: wait to be killed
                }
            case .failed:
                try store.saveFailure(path: record.path, sha256: record.imageSHA256, pipelineDigest: stamp.digest,
                                      code: record.errorCode ?? "unknown", message: record.error ?? "", run: run)
            }
        } catch {
            record = DetectionRecord.failure(path: record.path, message: "\(record.path): could not be stored (\(error))",
                                             code: "store.write-failed", pipeline: stamp)
            status = .failed
        }
        return BatchItemResult(index: item.index, input: item.input, record: record, status: status)
    }
}
