import ArgumentParser

/// `nodules scale-space`: placeholder until the filter engine lands (issue 3).
struct ScaleSpaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scale-space",
        abstract: "Compute a Gaussian scale-space stack (not yet available).",
        shouldDisplay: false
    )
    func run() throws {
        StandardError.write("nodules: scale-space is not available in this build yet\n")
        throw ExitCode.failure
    }
}
