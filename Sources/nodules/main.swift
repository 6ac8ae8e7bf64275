import NoduleKitCLI

#if canImport(Glibc)
import Glibc
#endif

exit(Nodules.run(arguments: Array(CommandLine.arguments.dropFirst())))
