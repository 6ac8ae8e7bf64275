import NoduleKitCLI
import RadiographIO

#if canImport(Glibc)
import Glibc
#endif

// `nodules --serve-dicom-worker` is the DICOM decoding worker when `nodules-dicom-worker` is not installed beside it.
if let status = DICOMWorker.serveIfAsked(Array(CommandLine.arguments.dropFirst())) { exit(status) }
exit(Nodules.run(arguments: Array(CommandLine.arguments.dropFirst())))
