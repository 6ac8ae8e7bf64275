// COpenBLAS — internal system-library target. Not a public API.
// Links OpenBLAS itself (pkg-config `openblas`), never the generic `blas`,
// because only OpenBLAS exports openblas_set_num_threads.
#ifndef NODULEKIT_COPENBLAS_SHIM_H
#define NODULEKIT_COPENBLAS_SHIM_H
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
