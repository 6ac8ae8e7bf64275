import Foundation
@testable import RadiographIO
import Testing
import TestSupport

/// Real DICOM files no one here wrote: every file in the installed pydicom wheel's
/// `pydicom/data/test_files` (read directly, never through pydicom's download helper),
/// classified and decoded by `pydicom_wheel_reference.py` running in `.build/dicom-venv`
/// (scripts/dicom-venv.sh, called by `make test`). A missing venv is a failure, never a skip.
@Suite(.serialized) struct PydicomWheelTests {
    static let python = ProcessInfo.processInfo.environment["NODULEKIT_DICOM_PYTHON"]
        ?? Fixtures.repositoryRoot() + "/.build/dicom-venv/bin/python"

    /// Largest |ours − pydicom| allowed after the modality transform, per lossy transfer syntax.
    /// Lossless syntaxes must agree to float64 rounding. Measured values are printed by the test.
    static let lossyTolerance: [String: Double] = [
        "1.2.840.10008.1.2.4.50": 2,   // JPEG baseline: no grayscale file in the wheel (its .50 files are colour)
        "1.2.840.10008.1.2.4.51": 1,   // JPEG extended 12-bit: measured 1 (JPGExtended.dcm)
        "1.2.840.10008.1.2.4.81": 0,   // JPEG-LS near-lossless: decoding is deterministic
        "1.2.840.10008.1.2.4.91": 0,   // JPEG 2000 lossy: measured 0 (GDCM's OpenJPEG and pylibjpeg-openjpeg agree)
    ]

    struct Entry {
        var name: String, path: String, syntax: String?, expect: String, category: String, reason: String
        var npy: String?, frames: Int, lossy: Bool
    }

    static func references() throws -> (entries: [Entry], header: [String: Any]) {
        guard FileManager.default.isExecutableFile(atPath: python) else {
            throw Failure("pydicom venv missing at \(python): run `make test` or scripts/dicom-venv.sh (or set NODULEKIT_DICOM_PYTHON)")
        }
        let out = Fixtures.temporaryDirectory("pydicom-wheel")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().path + "/pydicom_wheel_reference.py"
        let reference = try SpawnedProcess.run(executable: URL(fileURLWithPath: python), [script, out])
        guard reference.status == 0 else { throw Failure("reference script failed: \(reference.standardError.suffix(2000))") }
        let data = try Data(contentsOf: URL(fileURLWithPath: out + "/manifest.json"))
        let header = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let files = try #require(header["files"] as? [[String: Any]])
        let entries = files.map { f in
            Entry(name: f["name"] as! String, path: f["path"] as! String, syntax: f["transferSyntax"] as? String,
                  expect: f["expect"] as! String, category: f["category"] as! String, reason: (f["reason"] as? String) ?? "",
                  npy: f["npy"] as? String, frames: (f["frames"] as? Int) ?? 1, lossy: (f["lossy"] as? Bool) ?? false)
        }
        return (entries, header)
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }

    static func outcome(_ path: String) -> (Radiograph?, RadiographError?) {
        do { return (try RadiographReader().read(contentsOf: path), nil) } catch let e as RadiographError { return (nil, e) } catch {
            return (nil, nil)
        }
    }

    @Test func everyWheelFileIsDecodedLikePydicomOrRejectedWithTheRightError() throws {
        let (entries, header) = try Self.references()
        let plugins = header["plugins"] as? [String: String] ?? [:]
        print("pydicom \(header["pydicom"] ?? "?") plugins \(plugins); \(entries.count) files in \(header["testFiles"] ?? "?")")
        #expect(plugins.values.allSatisfy { !$0.hasPrefix("missing") }, "\(plugins)")
        // Nothing may vanish: the wheel holds ~176 files; every category must be populated.
        #expect(entries.count >= 150)
        #expect(!entries.contains { $0.expect == "script-error" }, "\(entries.filter { $0.expect == "script-error" }.map(\.name))")
        let counts = Dictionary(grouping: entries, by: \.category).mapValues(\.count)
        print("categories: \(counts.sorted { $0.key < $1.key })")
        for category in ["single-frame", "colour", "bits-allocated", "no-pixel-data", "not-dicom", "pydicom-cannot-decode",
                         "truncated", "vr-mismatch", "incomplete-image-module"] {
            #expect((counts[category] ?? 0) > 0, "no file in category \(category)")
        }
        // Every supported transfer syntax pydicom's wheel has a decodable grayscale file in.
        let decodedSyntaxes = Set(entries.filter { $0.expect == "ok" }.compactMap(\.syntax))
        #expect(decodedSyntaxes.count >= 10, "\(decodedSyntaxes.sorted())")

        var worstBySyntax: [String: (error: Double, file: String)] = [:]
        var compared = 0
        for entry in entries {
            let (radiograph, error) = Self.outcome(entry.path)
            switch entry.expect {
            case "ok":
                guard let radiograph, let npy = entry.npy else {
                    Issue.record("\(entry.name) [\(entry.syntax ?? "?")] should decode (\(entry.reason)), got \(error.map { "\($0.code): \($0)" } ?? "a non-RadiographError")")
                    continue
                }
                let reference = try NPYFile.loadFloat64(npy)
                guard reference.shape == [radiograph.height, radiograph.width], let dicom = radiograph.dicom else {
                    Issue.record("\(entry.name): shape \(reference.shape) vs \(radiograph.height)x\(radiograph.width)")
                    continue
                }
                var worst = 0.0
                for (sample, expected) in zip(radiograph.samples, reference.values) {
                    let difference = abs(dicom.modalityMapping.modalityValue(sample) - expected)
                    worst = max(worst, entry.lossy ? difference : difference / max(1, abs(expected)))
                }
                let syntax = entry.syntax ?? "?"
                if worst > (worstBySyntax[syntax]?.error ?? -1) { worstBySyntax[syntax] = (worst, entry.name) }
                let tolerance = entry.lossy ? (Self.lossyTolerance[syntax] ?? 0) : 1e-9
                #expect(worst <= tolerance, "\(entry.name) [\(syntax)]: max difference \(worst) > \(tolerance)")
                #expect(dicom.numberOfFrames == entry.frames, "\(entry.name)")
                compared += 1
            case "decode.any":
                // pydicom (with its pylibjpeg plugins) cannot decode these, so there is no reference:
                // we must either fail with a decode error or return a sane image. Printed either way.
                if let radiograph {
                    #expect(radiograph.samples.count == radiograph.width * radiograph.height && radiograph.width > 0)
                    #expect(radiograph.samples.allSatisfy { $0 <= radiograph.maximumStoredValue })
                } else {
                    #expect(error?.code.hasPrefix("decode.") == true, "\(entry.name): \(String(describing: error))")
                }
                print("pydicom cannot decode \(entry.name) (\(entry.reason.prefix(120))): ours \(error.map { "\($0.code) — \($0)" } ?? radiograph.map { "decoded \($0.width)x\($0.height), \($0.bitsStored) bits" } ?? "?")")
            case "not-dicom":
                #expect(radiograph == nil, "\(entry.name) is not DICOM but decoded")
                #expect(error.map { ["decode.not-an-image", "decode.empty"].contains($0.code) } == true,
                        "\(entry.name): \(String(describing: error))")
            default:
                #expect(radiograph == nil && error?.code == entry.expect,
                        "\(entry.name) [\(entry.category): \(entry.reason)] expected \(entry.expect), got \(error.map { "\($0.code): \($0)" } ?? "an image")")
            }
        }
        print("compared \(compared) decodable files; max |ours − pydicom apply_modality_lut| per transfer syntax (lossless: relative):")
        for (syntax, worst) in worstBySyntax.sorted(by: { $0.key < $1.key }) {
            print("  \(syntax)\(entry(syntax)) max error \(worst.error) (\(worst.file))")
        }
    }

    private func entry(_ syntax: String) -> String { Self.lossyTolerance[syntax] != nil ? " [lossy]" : "" }
}
