import ArgumentParser
import Foundation
import ExamSeries
import NoduleDetection
import NoduleStore
import RadiographIO
import SerialTracking

/// `nodules compare PRIOR CURRENT --prior-date D --current-date D`: an ad hoc comparison
/// of two exams of one patient, without a store.
///
/// Both images are detected (``NoduleDetector``), then handed to the same code
/// `nodules track` uses: ``TrackInputBuilder`` (nodule selection, mm coordinates,
/// sizing uncertainty, registration of CURRENT to PRIOR) and ``SerialTracker``
/// (matching, growth, doubling time, status, follow-up). The output is exactly
/// `nodules track`'s for one patient.
struct Compare: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compare two exams of one patient without a store: detect, register, match, doubling time, follow-up.",
        discussion: """
        PRIOR and CURRENT are radiograph files (PNG, JPEG, DICOM, or raw with --raw). Both are detected with the \
        pipeline, CURRENT is registered to PRIOR from the images (as nodules track does; an unreliable registration \
        is flagged on standard error and in the output, never silently used), nodules are matched and each track gets \
        its growth, doubling time, status and next follow-up. Output: the same as nodules track for one patient \
        (JSON array of one patient, Pipelines/schemas/tracks.schema.json; CSV; or one FHIR R4 Bundle). \
        The follow-up categories are CT-derived and are decision support on radiographs, for review by a clinician. \
        Exit status: 0 on success, 1 when an image cannot be decoded, 2 for a usage error (bad date, missing file, \
        unusable pipeline or policy).
        """
    )

    @Argument(help: "The earlier exam's image.")
    var prior: String

    @Argument(help: "The later exam's image.")
    var current: String

    @Option(name: .customLong("prior-date"), help: ArgumentHelp("Study date of PRIOR.", valueName: "YYYY-MM-DD"))
    var priorDate: String

    @Option(name: .customLong("current-date"), help: ArgumentHelp("Study date of CURRENT (after the prior date).", valueName: "YYYY-MM-DD"))
    var currentDate: String

    @Option(name: .long, help: ArgumentHelp("json, csv or fhir.", valueName: "format"))
    var format: String = "json"

    @Option(name: .long, help: ArgumentHelp("Follow-up policy: radiograph-surveillance, vdt-category, a name in Pipelines/policies/ or a JSON file.", valueName: "name|file"))
    var policy: String = "radiograph-surveillance"

    @Option(name: .long, help: ArgumentHelp("Pipeline definition: a name in Pipelines/ or a .json file.", valueName: "name|file"))
    var pipeline: String = PipelineDefinition.defaultName

    @Option(name: .long, help: ArgumentHelp("Patient ID to report (default: the one the files carry, else \"unknown\").", valueName: "id"))
    var patient: String?

    @OptionGroup var selection: SelectionArguments

    @Option(name: .long, help: ArgumentHelp("Write to FILE (atomically) instead of standard output.", valueName: "file"))
    var out: String?

    @Flag(name: .long, help: "No warnings and no summary on standard error.")
    var quiet = false

    @OptionGroup var decode: DecodeArguments

    func validate() throws {
        guard Track.Format(rawValue: format) != nil else { throw ValidationError("--format must be json, csv or fhir") }
        guard let p = CalendarDate(priorDate) else { throw ValidationError("--prior-date: '\(priorDate)' is not a date YYYY-MM-DD") }
        guard let c = CalendarDate(currentDate) else { throw ValidationError("--current-date: '\(currentDate)' is not a date YYYY-MM-DD") }
        guard p < c else { throw ValidationError("--current-date (\(currentDate)) must be after --prior-date (\(priorDate))") }
    }

    func run() throws {
        let format = Track.Format(rawValue: format)!
        for (label, path) in [("PRIOR", prior), ("CURRENT", current)] {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                throw SeriesArguments.fail("\(label) \(path): no such file")
            }
        }
        let definition: PipelineDefinition
        do { definition = try PipelineDefinition.load(pipeline) } catch { throw SeriesArguments.fail("--pipeline: \(error)") }
        let policy = try SeriesArguments.resolvePolicy(self.policy)
        let options = try decode.decodeOptions()

        // Detect both exams as nodules batch would store them.
        var reader = RadiographReader(options: options)
        reader.options.computeDigest = true
        let detector = NoduleDetector(pipeline: definition)
        var images: [(date: String, image: ImageDetections, patient: String?)] = []
        for (path, date) in [(prior, priorDate), (current, currentDate)] {
            let radiograph: Radiograph
            do { radiograph = try reader.read(contentsOf: path) } catch {
                StandardError.write("nodules: error: \(error)\n")
                throw ExitCode.failure
            }
            let record = detector.detect(radiograph).record(for: radiograph)
            if !quiet { for w in record.warnings { StandardError.write("nodules: warning: \(path): \(w)\n") } }
            let spacing = radiograph.pixelSpacing.map { StoredSpacing(rowMM: $0.row, columnMM: $0.column) }
            images.append((date, ImageDetections(path: path, sha256: radiograph.source.sha256 ?? "",
                                                 width: radiograph.width, height: radiograph.height, spacing: spacing,
                                                 spacingSource: record.spacingSource, detections: record.nodules),
                           radiograph.patient?.id))
        }
        let carried = Set(images.compactMap(\.patient))
        if patient == nil, carried.count > 1, !quiet {
            StandardError.write("nodules: warning: PRIOR and CURRENT carry different patient IDs (\(carried.sorted().joined(separator: ", "))); reporting the prior's\n")
        }
        let patientID = patient ?? images[0].patient ?? images[1].patient ?? "unknown"
        let history = PatientHistory(issuer: nil, patientID: patientID,
                                     studies: images.map { StudyImages(date: $0.date, images: [$0.image]) })

        // Registration, selection and mm conversion: the same builder as nodules track.
        let builder = TrackInputBuilder(pipeline: definition, selection: selection.nodules,
                                        decode: options)
        let input = builder.build(history)
        if !quiet { for w in input.warnings { StandardError.write("nodules: warning: \(w)\n") } }
        if let failure = input.failure { throw SeriesArguments.fail(failure) }
        let tracked = SerialTracker(policy: policy).track(patient: input.key, exams: input.exams)
        for e in tracked.exams where !e.registration.isReliable && !quiet {
            StandardError.write("nodules: warning: exam \(e.studyDate): registration not used ("
                                + e.registration.issues.map(\.description).joined(separator: "; ") + ")\n")
        }

        let text = Track.render([tracked], format: format)
        if let out {
            do { try Track.writeAtomically(text, to: out) } catch { throw SeriesArguments.fail("\(out): \(error)") }
        } else {
            FileHandle.standardOutput.write(Data(text.utf8))
        }
        if !quiet {
            let registered = tracked.exams.dropFirst().contains { $0.registrationUsed }
            StandardError.write("compare: \(tracked.tracks.count) tracks; current \(registered ? "registered to" : "NOT registered to (flagged)") prior; "
                                + "pipeline \(definition.name) \(definition.version), policy \(policy.name) \(policy.version)\n")
        }
    }
}
