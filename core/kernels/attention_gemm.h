// The two tile products of the flash attention kernels, behind one seam so the BLAS backend can change:
// S = alpha * A * B^T and C += A * B, row-major fp32 with explicit leading dimensions. Backed by OpenBLAS
// (single-threaded per call: the kernels parallelise with OpenMP around these calls) when tsa_core is
// built with it, otherwise by Eigen's own product.
#pragma once

#include "core/tensor.h"

namespace tsa::detail {

// c[m, n] = alpha * a[m, k] * b[n, k]^T.
void gemmScaledNT(Index m, Index n, Index k, float alpha, const float* a, Index lda, const float* b,
                  Index ldb, float* c, Index ldc);

// c[m, n] += a[m, k] * b[k, n].
void gemmAccumulateNN(Index m, Index n, Index k, const float* a, Index lda, const float* b, Index ldb,
                      float* c, Index ldc);

// Call before an OpenMP region that calls the products above: OpenBLAS's own threads would otherwise
// compete with OpenMP's (each tile product must run on its calling thread). Cheap when already set.
void prepareTileGemmThreads();

// "OpenBLAS <core>" or "Eigen", for benchmark reports.
const char* tileGemmBackend();

} // namespace tsa::detail
