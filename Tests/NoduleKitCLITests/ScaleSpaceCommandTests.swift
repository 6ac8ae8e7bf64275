import Foundation
import Testing
import TestSupport

private let fixtures = Fixtures.repositoryRoot() + "/Tests/RadiographIOTests/Fixtures"

@Suite struct ScaleSpaceCommandTests {
    @Test func writesOneFullResolutionNPYPerScaleInSigmaOrder() throws {
        let out = Fixtures.temporaryDirectory() + "/stack"
        let run = try SpawnedProcess.run("nodules", ["scale-space", "\(fixtures)/gray-baseline.jpg", "--filter", "log",
                                                     "--sigmas", "1:4:3", "--out", out, "--threads", "2"])
        #expect(run.status == 0, "\(run.standardError)")
        #expect(run.standardOutput.contains("scale 02"))
        #expect(run.standardOutput.contains("total"))
        for i in 0..<3 {
            let a = try NPYFile.loadFloat32(out + String(format: "/scale-%02d.npy", i))
            #expect(a.shape == [48, 64])
        }
        #expect(!FileManager.default.fileExists(atPath: out + "/scale-03.npy"))
        let meta = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: out + "/sigmas.json"))) as! [String: Any]
        #expect((meta["sigmas_px"] as? [Double]) == [1, 2, 4])
    }

    @Test(arguments: [["--filter", "sobel"], ["--sigmas", "4:2:3"], ["--sigmas", "2:24"], ["--threads", "0"], ["--resolution", "half"], ["--engine", "fft"]])
    func badOptionsAreUsageErrors(extra: [String]) throws {
        let run = try SpawnedProcess.run("nodules", ["scale-space", "\(fixtures)/gray-baseline.jpg"] + extra)
        #expect(run.status == 2, "\(extra): \(run.standardError)")
    }

    @Test func blasEngineWritesTheSameStack() throws {
        var stacks: [[Float]] = []
        for engine in ["direct", "blas"] {
            let out = Fixtures.temporaryDirectory() + "/stack-\(engine)"
            let run = try SpawnedProcess.run("nodules", ["scale-space", "\(fixtures)/gray-baseline.jpg", "--sigmas", "1:4:3",
                                                         "--engine", engine, "--out", out])
            #expect(run.status == 0, "\(run.standardError)")
            #expect(run.standardOutput.contains("\(engine) engine"))
            stacks.append(try (0..<3).flatMap { try NPYFile.loadFloat32(out + String(format: "/scale-%02d.npy", $0)).values })
        }
        #expect(Tolerance.normwiseRelativeError(stacks[1], stacks[0]) <= 1e-4)
    }

    @Test func undecodableInputExitsOne() throws {
        let run = try SpawnedProcess.run("nodules", ["scale-space", "\(fixtures)/truncated.png"])
        #expect(run.status == 1)
        #expect(run.standardError.contains("truncated"))
    }
}
