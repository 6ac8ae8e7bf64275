import ArgumentParser
import BatchPipeline
import ExamSeries
import Foundation
import NoduleDetection
import NoduleStore
import RadiographIO
import SerialTracking

/// Which stored detections are followed as nodules: `--top`, `--min-score`,
/// `--no-corroboration`, `--no-remeasure` (``NoduleSelection``), for `nodules track`, `report` and `compare`.
struct SelectionArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Nodules per exam: the N highest-scoring detections.", valueName: "n"))
    var top: Int = NoduleSelection.defaultTop

    @Option(name: .customLong("min-score"), help: ArgumentHelp("Nodules per exam: only detections with score ≥ P.", valueName: "p"))
    var minScore: Double = 0

    @Flag(name: .customLong("no-corroboration"),
          help: "Follow only each exam's own top detections; by default a lower-ranked detection is followed too when another exam's nodule lies at the same registered place.")
    var noCorroboration = false

    @Flag(name: .customLong("no-remeasure"),
          help: "Do not measure a nodule again at its registered place on the patient's other exams where no detection is followed there.")
    var noRemeasure = false

    @Flag(name: .customLong("remeasure-tracks"),
          help: "Measure each tracked nodule again on every exam of its track from one common start size (the track's median), so its exams are sized alike.")
    var remeasureTracks = false

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be at least 1") }
        guard minScore.isFinite, (0...1).contains(minScore) else { throw ValidationError("--min-score must be in 0…1") }
    }

    var nodules: NoduleSelection {
        NoduleSelection(top: top, minimumScore: minScore, corroborates: !noCorroboration, remeasures: !noRemeasure,
                        remeasuresTracks: remeasureTracks)
    }
}

/// Options shared by `nodules track` and `nodules report`: whose detections, which of them
/// are nodules, the follow-up policy and how to read the images again. Both commands turn
/// them into the same ``TrackInputBuilder`` and tracker (``SeriesArguments/open(db:keepsImages:)``),
/// so for the same store and options they show the same tracks.
struct SeriesArguments: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("The pipeline whose detections to track, a name in Pipelines/ or a .json file; needed when the store holds several.", valueName: "name|file"))
    var pipeline: String?

    @Option(name: .long, help: ArgumentHelp("Follow-up policy: radiograph-surveillance, vdt-category, a name in Pipelines/policies/ or a JSON file.", valueName: "name|file"))
    var policy: String = "radiograph-surveillance"

    @OptionGroup var selection: SelectionArguments

    @Option(name: .long, help: ArgumentHelp("Geometry of headerless raw files, as given to nodules batch.", valueName: "geometry"))
    var raw: String?

    @Option(name: .long, help: ArgumentHelp("PNG and JPEG polarity, as given to nodules batch (infer: read inverted images as MONOCHROME1).",
                                            valueName: "infer|stored"))
    var polarity: String = "infer"

    @Flag(name: .long, help: "No warnings and no summary on standard error.")
    var quiet = false

    @Option(name: .long, help: ArgumentHelp("Patients tracked at once (each reads its images again for registration); default: the number of cores. The output is the same for any N.",
                                            valueName: "n"))
    var jobs: Int?

    func validate() throws {
        if let jobs, jobs < 1 { throw ValidationError("--jobs must be at least 1") }
        if let raw { do { _ = try RawGeometry(parsing: raw) } catch { throw ValidationError("--raw: \(error)") } }
        _ = try DecodeArguments.infersPolarity(polarity)
    }

    /// Writes `message` as an error and returns the usage exit status (2).
    static func fail(_ message: String) -> ExitCode {
        StandardError.write("nodules: error: \(message)\n")
        return ExitCode(Nodules.usageExitCode)
    }

    /// Everything needed to track a store's patients.
    struct Series {
        var definition: PipelineDefinition
        var policy: FollowUpPolicy
        var builder: TrackInputBuilder
        var tracker: SerialTracker
        /// Every patient with detections of ``definition``, by issuer then ID.
        var histories: [PatientHistory]
        var quiet: Bool
        /// Patients built and tracked at once.
        var jobs: Int

        /// One patient's tracker input and the tracker's output for it.
        struct Tracked {
            var input: TrackInputBuilder.PatientInput
            var tracks: PatientTracks
        }

        /// Builds and tracks each of `histories`, writing the builder's warnings and unused registrations to
        /// standard error (unless quiet). A patient that cannot be tracked is reported there and counted in `failed`.
        /// Progress by patient goes to `progress` (default: a bar on a terminal, a line every 10 s otherwise,
        /// none when quiet or for one patient); each patient's images are read again for registration, which
        /// takes a while on a large store, so ``jobs`` patients are built and tracked at once on Dispatch workers.
        /// Each patient is computed alone, and results, warnings and progress are taken in patient order, so the
        /// output is the same for any ``jobs``.
        func track(_ histories: [PatientHistory], progress: ProgressReporter? = nil) -> (tracked: [Tracked], failed: Int) {
            var tracked: [Tracked] = []
            let failed = forEachTracked(histories, progress: progress) { tracked.append($0) }
            return (tracked, failed)
        }

        /// ``track(_:progress:)`` handing each tracked patient to `body` in patient order instead of keeping
        /// them all: at most 2 × ``jobs`` patients are in flight or waiting to be taken, so a caller that keeps
        /// only what it needs of each (a report writes a patient's pictures, then drops its images) holds a
        /// bounded number of patients' images whatever the store's size. An error from `body` ends the run
        /// (the workers finish the patients they hold) and is rethrown. Returns the number of patients not tracked.
        func forEachTracked(_ histories: [PatientHistory], progress: ProgressReporter? = nil,
                            _ body: (Tracked) throws -> Void) rethrows -> Int {
            let progress = progress ?? ProgressReporter.automatic(quiet: quiet || histories.count < 2, unit: .patients)
            let (builder, tracker) = (self.builder, self.tracker)
            let results = OrderedResults<(input: TrackInputBuilder.PatientInput, tracks: PatientTracks?)>(
                count: histories.count, window: 2 * max(1, jobs))
            for _ in 0..<min(max(1, jobs), histories.count) {
                DispatchQueue.global().async {
                    while let k = results.next() {
                        let input = builder.build(histories[k])
                        let tracks = input.failure == nil ? tracker.track(patient: input.key, exams: input.exams) : nil
                        results.put(k, (input, tracks))
                    }
                }
            }
            var failed = 0
            defer { progress.finish() }
            for (k, history) in histories.enumerated() {
                let (input, tracks) = results.take(k)
                defer { progress.update(done: k + 1, total: histories.count, failed: failed) }
                if !quiet { for w in input.warnings { progress.error("nodules: warning: \(w)") } }
                guard let tracks else {
                    failed += 1
                    progress.error("nodules: error: patient \(history.patientID): \(input.failure ?? "not tracked")")
                    continue
                }
                for e in tracks.exams where !e.registration.isReliable && !quiet {
                    progress.error("nodules: warning: patient \(history.patientID), exam \(e.studyDate): registration not used ("
                                   + e.registration.issues.map(\.description).joined(separator: "; ") + ")")
                }
                do { try body(Tracked(input: input, tracks: tracks)) } catch { results.cancel(); throw error }
            }
            return failed
        }
    }

    /// Results handed from Dispatch workers to one thread that takes them in order (the patients of
    /// ``Series/track(_:progress:)``): a worker asks ``next()`` for the next index to compute and ``put(_:_:)``s
    /// its result; ``take(_:)`` returns index 0, then 1, …, each once, waiting as needed. At most `window`
    /// indices are handed out and not yet taken, which bounds the results held at once.
    ///
    /// `@unchecked Sendable`: every stored property but the constants is read and written only while
    /// holding `condition`'s lock.
    final class OrderedResults<Element>: @unchecked Sendable {
        private let condition = NSCondition()
        private var slots: [Element?]
        private var nextToStart = 0
        private var taken = 0
        private let window: Int
        private var peak = 0
        private var cancelled = false
        /// The most indices handed out and not yet taken at any time (tests check it against `window`).
        var peakOutstanding: Int {
            condition.lock()
            defer { condition.unlock() }
            return peak
        }

        init(count: Int, window: Int) {
            precondition(window >= 1)
            slots = Array(repeating: nil, count: count)
            self.window = window
        }

        /// The next index to compute, once fewer than `window` are handed out and not yet taken; nil when none is left.
        func next() -> Int? {
            condition.lock()
            defer { condition.unlock() }
            while !cancelled && nextToStart < slots.count && nextToStart - taken >= window { condition.wait() }
            guard !cancelled, nextToStart < slots.count else { return nil }
            nextToStart += 1
            peak = max(peak, nextToStart - taken)
            return nextToStart - 1
        }

        func put(_ k: Int, _ result: Element) {
            condition.lock()
            slots[k] = result
            condition.broadcast()
            condition.unlock()
        }

        /// Hands out no more indices (workers waiting in ``next()`` get nil): the taker has stopped.
        func cancel() {
            condition.lock()
            cancelled = true
            condition.broadcast()
            condition.unlock()
        }

        /// Index `k`'s result, waiting for it; indices must be taken in order 0, 1, 2, ….
        func take(_ k: Int) -> Element {
            condition.lock()
            defer { condition.unlock() }
            precondition(k == taken, "results are taken in order")
            while slots[k] == nil { condition.wait() }
            let result = slots[k]!
            slots[k] = nil
            taken = k + 1
            condition.broadcast()
            return result
        }
    }

    /// Opens the store at `db`, chooses the pipeline, resolves the policy and reads the patients.
    /// Relative image paths are tried from the working directory, then from the store's folder.
    /// Throws the usage exit status (after writing why) when any of these cannot be used.
    func open(db: String, keepsImages: Bool) throws -> Series {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: db, isDirectory: &isDirectory), !isDirectory.boolValue else {
            throw Self.fail("\(db): no such store")
        }
        let store: NoduleStore
        let pipelines: [StoredPipeline]
        do {
            store = try NoduleStore(path: db)
            pipelines = try store.storedPipelines()
        } catch { throw Self.fail("\(error)") }
        let (definition, digest) = try Self.choosePipeline(pipelines, requested: pipeline)

        let followUp = try Self.resolvePolicy(policy)

        let histories: [PatientHistory]
        do { histories = try store.detectionsByPatient(pipelineDigest: digest) } catch { throw Self.fail("\(error)") }

        var options = DecodeOptions()
        options.raw = try raw.map { try RawGeometry(parsing: $0) }
        options.infersPolarity = try DecodeArguments.infersPolarity(polarity)
        let storeFolder = URL(fileURLWithPath: db).deletingLastPathComponent().path
        let builder = TrackInputBuilder(pipeline: definition, selection: selection.nodules,
                                        decode: options, searchFolders: [storeFolder], keepsImages: keepsImages)
        return Series(definition: definition, policy: followUp, builder: builder, tracker: SerialTracker(policy: followUp),
                      histories: histories, quiet: quiet, jobs: jobs ?? ProcessInfo.processInfo.activeProcessorCount)
    }

    /// `--policy`: a built-in name, a name in a `policies/` folder beside the pipeline search folders, or a JSON file.
    /// Exits 2 with the reason when it cannot be used (shared by `track`, `report` and `compare`).
    static func resolvePolicy(_ name: String) throws -> FollowUpPolicy {
        let policyFolders = PipelineDefinition.searchFolders().map { $0 + "/policies" }
        do {
            let folder = policyFolders.first { FileManager.default.fileExists(atPath: $0 + "/" + name + ".json") }
            return try FollowUpPolicy.resolve(name, policiesDirectory: folder)
        } catch { throw fail("--policy: \(error)") }
    }

    /// The pipeline to track: `--pipeline`'s (which must be in the store), else the store's only one.
    /// Returns the definition (for normalisation and the lung field) and the stored digest to query.
    static func choosePipeline(_ stored: [StoredPipeline], requested: String?) throws -> (PipelineDefinition, String) {
        let listing = stored.map { "\($0.name) \($0.version) (digest \($0.digest.prefix(12)), \($0.images) images)" }.joined(separator: "; ")
        guard !stored.isEmpty else { throw fail("the store holds no analyses") }
        if let requested {
            let definition: PipelineDefinition
            do { definition = try PipelineDefinition.load(requested) } catch { throw fail("--pipeline: \(error)") }
            let digest = definition.stamp.digest
            guard stored.contains(where: { $0.digest == digest }) else {
                throw fail("--pipeline \(requested): no analyses with its digest \(digest.prefix(12)) in the store; it holds: \(listing)")
            }
            return (definition, digest)
        }
        guard stored.count == 1, let only = stored.first else {
            throw fail("the store holds several pipelines; choose one with --pipeline: \(listing)")
        }
        struct Parameters: Decodable { var pipeline: PipelineDefinition }
        guard let json = only.runParameters,
              let definition = try? JSONDecoder().decode(Parameters.self, from: Data(json.utf8)).pipeline else {
            throw fail("the store does not record the definition of pipeline \(only.name) \(only.version); give it with --pipeline")
        }
        return (definition, only.digest)
    }
}
