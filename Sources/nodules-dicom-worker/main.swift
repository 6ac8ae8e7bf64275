// nodules-dicom-worker: decodes DICOM with GDCM for a parent NoduleKit process,
// so that a GDCM abort or hang costs one file, not the batch. See
// RadiographIO/DICOMWorkerPool.swift. Speaks a binary protocol on stdin/stdout.
import RadiographIO

#if canImport(Glibc)
import Glibc
#endif

exit(DICOMWorker.serve())
