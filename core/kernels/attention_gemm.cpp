// Tile products for the attention kernels: thin wrappers over OpenBLAS cblas_sgemm (measured ~95-100
// GFLOP/s single-threaded for 256x256x128 tiles here, against ~80-85 for Eigen's product; see
// docs/benchmarks.md), with Eigen's product as the fallback when OpenBLAS is not linked.
#include "core/kernels/attention_gemm.h"

#ifdef TSA_HAVE_OPENBLAS
#include <cblas.h>
#include <string>
#else
#include <Eigen/Core>
#endif

namespace tsa::detail {

#ifdef TSA_HAVE_OPENBLAS

void gemmScaledNT(Index m, Index n, Index k, float alpha, const float* a, Index lda, const float* b,
                  Index ldb, float* c, Index ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), alpha, a, static_cast<int>(lda), b, static_cast<int>(ldb), 0.0f, c,
                static_cast<int>(ldc));
}

void gemmAccumulateNN(Index m, Index n, Index k, const float* a, Index lda, const float* b, Index ldb,
                      float* c, Index ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(m), static_cast<int>(n),
                static_cast<int>(k), 1.0f, a, static_cast<int>(lda), b, static_cast<int>(ldb), 1.0f, c,
                static_cast<int>(ldc));
}

void prepareTileGemmThreads() {
    // Not restored afterwards: a concurrent caller could restore a stale value, and every tsa_core user of
    // OpenBLAS parallelises around it. Code that wants a multi-threaded sgemm (the benchmark's ceiling)
    // sets the count itself.
    if (openblas_get_num_threads() != 1) openblas_set_num_threads(1);
}

const char* tileGemmBackend() {
    static const std::string name = std::string("OpenBLAS ") + openblas_get_corename();
    return name.c_str();
}

#else

namespace {
using RowMajor = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Stride = Eigen::OuterStride<>;
using ConstMap = Eigen::Map<const RowMajor, Eigen::Unaligned, Stride>;
using Map = Eigen::Map<RowMajor, Eigen::Unaligned, Stride>;
} // namespace

void gemmScaledNT(Index m, Index n, Index k, float alpha, const float* a, Index lda, const float* b,
                  Index ldb, float* c, Index ldc) {
    ConstMap am(a, m, k, Stride(lda));
    ConstMap bm(b, n, k, Stride(ldb));
    Map cm(c, m, n, Stride(ldc));
    cm.noalias() = alpha * am * bm.transpose();
}

void gemmAccumulateNN(Index m, Index n, Index k, const float* a, Index lda, const float* b, Index ldb,
                      float* c, Index ldc) {
    ConstMap am(a, m, k, Stride(lda));
    ConstMap bm(b, k, n, Stride(ldb));
    Map cm(c, m, n, Stride(ldc));
    cm.noalias() += am * bm;
}

// Eigen's product does not start threads inside an active OpenMP region.
void prepareTileGemmThreads() {}

const char* tileGemmBackend() {
    return "Eigen";
}

#endif

} // namespace tsa::detail
