// The fast causal attention kernel against the fp64 reference: shapes, tiles (dividing L or not, L = 1,
// L below a tile), thread counts, GQA, lse, cancellation, large logits, and the vectorised exp2.
#include "core/kernels/attention.h"
#include "core/kernels/attention_exp.h"
#include "core/kernels/attention_window.h"
#include "isa_paths.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <gtest/gtest.h>
#include <thread>
#include <tuple>
#include <vector>

namespace tsa {
namespace {

// Portable deterministic uniform numbers in [-1, 1) (splitmix64), so inputs do not depend on the
// standard library's distributions.
class Rng {
public:
    explicit Rng(std::uint64_t seed) : m_state(seed) {}
    float uniform() {
        std::uint64_t z = (m_state += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        z ^= z >> 31;
        return static_cast<float>(static_cast<double>(z >> 40) / double(1ull << 23) - 1.0);
    }

private:
    std::uint64_t m_state;
};

Tensor3 randomTensor(Index h, Index t, Index d, std::uint64_t seed, float scale = 1.0f) {
    Tensor3 x(h, t, d);
    Rng rng(seed);
    for (float& value : x.data)
        value = scale * rng.uniform();
    return x;
}

struct Case {
    Index qHeads, kvHeads, tokens, dim, queryTile, keyTile;
    int threads;
};

void PrintTo(const Case& c, std::ostream* os) {
    *os << "Hq" << c.qHeads << " Hkv" << c.kvHeads << " L" << c.tokens << " D" << c.dim << " Bq"
        << c.queryTile << " Bk" << c.keyTile << " t" << c.threads;
}

struct KernelRun {
    Tensor3 out;
    std::vector<float> lse;
    Status status;
};

KernelRun runKernel(const Tensor3& q, const Tensor3& k, const Tensor3& v, AttentionConfig config) {
    KernelRun r;
    r.out = Tensor3(q.heads, q.tokens, q.dim);
    r.lse.assign(static_cast<std::size_t>(q.heads * q.tokens), std::nanf(""));
    r.status = causalAttention(q.cview(), k.cview(), v.cview(), r.out.view(), r.lse.data(), config);
    return r;
}

// Largest per-row relative error ||o - ref|| / ||ref|| and largest lse error relative to max(1, |lse|).
struct Errors {
    double row = 0;
    double lse = 0;
};

Errors compare(const KernelRun& run, const std::vector<double>& ref, const std::vector<double>& refLse,
               Index dim) {
    Errors e;
    const Index rows = static_cast<Index>(refLse.size());
    for (Index r = 0; r < rows; ++r) {
        double diff = 0, norm = 0;
        for (Index d = 0; d < dim; ++d) {
            const double x = run.out.data[r * dim + d];
            const double y = ref[r * dim + d];
            diff += (x - y) * (x - y);
            norm += y * y;
        }
        const double rel = std::sqrt(diff) / std::max(std::sqrt(norm), 1e-30);
        e.row = std::max(e.row, std::isfinite(rel) ? rel : 1e30);
        const double le = std::abs(run.lse[r] - refLse[r]) / std::max(1.0, std::abs(refLse[r]));
        e.lse = std::max(e.lse, std::isfinite(le) ? le : 1e30);
    }
    return e;
}

class AttentionVsReference : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionVsReference, MatchesFp64) {
    const Case c = GetParam();
    const Tensor3 q = randomTensor(c.qHeads, c.tokens, c.dim, 1);
    const Tensor3 k = randomTensor(c.kvHeads, c.tokens, c.dim, 2);
    const Tensor3 v = randomTensor(c.kvHeads, c.tokens, c.dim, 3);
    std::vector<double> ref(static_cast<std::size_t>(q.size()));
    std::vector<double> refLse(static_cast<std::size_t>(c.qHeads * c.tokens));
    referenceCausalAttention(q.cview(), k.cview(), v.cview(), ref.data(), refLse.data());

    AttentionConfig config;
    config.queryTile = c.queryTile;
    config.keyTile = c.keyTile;
    config.threads = c.threads;
    // Every SIMD path against fp64, and each against the first (portable) path: the paths differ only in
    // summation order, so they agree far inside the tolerance to the reference.
    std::vector<KernelRun> runs;
    test::forEachIsa([&](Isa) {
        runs.push_back(runKernel(q, k, v, config));
        const KernelRun& run = runs.back();
        ASSERT_TRUE(run.status.ok()) << run.status.message;
        const Errors e = compare(run, ref, refLse, c.dim);
        EXPECT_LT(e.row, 1e-5);
        EXPECT_LT(e.lse, 1e-6);
        std::vector<double> first(runs.front().out.data.begin(), runs.front().out.data.end());
        std::vector<double> firstLse(runs.front().lse.begin(), runs.front().lse.end());
        const Errors between = compare(run, first, firstLse, c.dim);
        EXPECT_LT(between.row, 2e-6);
        EXPECT_LT(between.lse, 1e-6);
    });
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttentionVsReference,
    ::testing::Values(Case{1, 1, 1, 64, 64, 128, 1},       // L = 1
                      Case{2, 1, 5, 16, 64, 128, 2},       // L below both tiles, GQA
                      Case{2, 2, 100, 64, 32, 48, 3},      // tiles divide nothing
                      Case{4, 2, 257, 128, 64, 128, 2},    // one row past a tile boundary
                      Case{1, 1, 200, 64, 256, 512, 2},    // L below the tile, single head, 2 threads
                      Case{1, 1, 513, 128, 128, 64, 3},    // key tile below the query tile
                      Case{1, 1, 150, 128, 16, 200, 2},    // key tile above the query tile
                      Case{2, 2, 64, 8, 1, 1, 2},          // one-element tiles
                      Case{6, 2, 96, 32, 7, 5, 3},         // odd tiles, GQA group 3
                      Case{1, 1, 700, 128, 256, 256, 1},   // large tiles
                      Case{2, 1, 1100, 128, 0, 128, 2},    // automatic query tile, default key tile
                      Case{1, 1, 1200, 64, 512, 128, 3})); // the automatic tile's upper size

// Rows far from the start accumulate hundreds of key tiles: check a sample of them against fp64.
TEST(Attention, LongSequenceSampledRows) {
    const Index L = 3000, D = 128;
    const Tensor3 q = randomTensor(1, L, D, 11, 2.0f);
    const Tensor3 k = randomTensor(1, L, D, 12, 2.0f);
    const Tensor3 v = randomTensor(1, L, D, 13);
    AttentionConfig config;
    config.queryTile = 96;
    config.keyTile = 80;
    const KernelRun run = runKernel(q, k, v, config);
    ASSERT_TRUE(run.status.ok());
    const double scale = 1.0 / std::sqrt(double(D));
    for (Index i = 0; i < L; i += (i < 10 ? 1 : 97)) {
        std::vector<double> logits(static_cast<std::size_t>(i + 1));
        double mx = -1e300;
        for (Index j = 0; j <= i; ++j) {
            double dot = 0;
            for (Index d = 0; d < D; ++d)
                dot += double(q.row(0, i)[d]) * double(k.row(0, j)[d]);
            logits[j] = dot * scale;
            mx = std::max(mx, logits[j]);
        }
        double sum = 0, diff = 0, norm = 0;
        std::vector<double> acc(static_cast<std::size_t>(D), 0.0);
        for (Index j = 0; j <= i; ++j) {
            const double p = std::exp(logits[j] - mx);
            sum += p;
            for (Index d = 0; d < D; ++d)
                acc[d] += p * v.row(0, j)[d];
        }
        for (Index d = 0; d < D; ++d) {
            const double y = acc[d] / sum;
            diff += (run.out.row(0, i)[d] - y) * (run.out.row(0, i)[d] - y);
            norm += y * y;
        }
        EXPECT_LT(std::sqrt(diff / norm), 1e-5) << "row " << i;
        EXPECT_NEAR(run.lse[i], mx + std::log(sum), 1e-6 * std::max(1.0, std::abs(mx))) << "row " << i;
    }
}

// Each work item runs start to finish on one thread with the same operations, so the thread count must
// not change a single bit.
TEST(Attention, BitwiseIdenticalAcrossThreadCounts) {
    const Tensor3 q = randomTensor(3, 333, 64, 21);
    const Tensor3 k = randomTensor(3, 333, 64, 22);
    const Tensor3 v = randomTensor(3, 333, 64, 23);
    AttentionConfig config;
    config.queryTile = 64;
    config.keyTile = 96;
    config.threads = 1;
    const KernelRun one = runKernel(q, k, v, config);
    for (int threads : {2, 3}) {
        config.threads = threads;
        const KernelRun many = runKernel(q, k, v, config);
        ASSERT_TRUE(many.status.ok());
        EXPECT_EQ(one.out.data, many.out.data) << threads << " threads";
        EXPECT_EQ(one.lse, many.lse) << threads << " threads";
    }
}

TEST(Attention, GroupedQueryEqualsRepeatedKv) {
    const Index hq = 6, hkv = 2, L = 190, D = 64, group = hq / hkv;
    const Tensor3 q = randomTensor(hq, L, D, 31);
    const Tensor3 k = randomTensor(hkv, L, D, 32);
    const Tensor3 v = randomTensor(hkv, L, D, 33);
    Tensor3 kr(hq, L, D), vr(hq, L, D);
    for (Index h = 0; h < hq; ++h) {
        std::copy(k.row(h / group, 0), k.row(h / group, 0) + L * D, kr.row(h, 0));
        std::copy(v.row(h / group, 0), v.row(h / group, 0) + L * D, vr.row(h, 0));
    }
    AttentionConfig config;
    config.queryTile = 48;
    config.keyTile = 64;
    const KernelRun gqa = runKernel(q, k, v, config);
    const KernelRun repeated = runKernel(q, kr, vr, config);
    ASSERT_TRUE(gqa.status.ok());
    EXPECT_EQ(gqa.out.data, repeated.out.data);
    EXPECT_EQ(gqa.lse, repeated.lse);
}

TEST(Attention, LseIsOptional) {
    const Tensor3 q = randomTensor(2, 77, 32, 41);
    const Tensor3 k = randomTensor(1, 77, 32, 42);
    const Tensor3 v = randomTensor(1, 77, 32, 43);
    AttentionConfig config;
    config.queryTile = 16;
    config.keyTile = 16;
    const KernelRun with = runKernel(q, k, v, config);
    Tensor3 out(2, 77, 32);
    ASSERT_TRUE(causalAttention(q.cview(), k.cview(), v.cview(), out.view(), nullptr, config).ok());
    EXPECT_EQ(with.out.data, out.data);
}

// lse of row 0 is its single logit; with all-zero queries every lse is ln(i + 1) and the output is the
// running mean of v.
TEST(Attention, LseClosedForms) {
    const Index L = 300, D = 32;
    Tensor3 q(1, L, D);
    const Tensor3 k = randomTensor(1, L, D, 51);
    const Tensor3 v = randomTensor(1, L, D, 52);
    AttentionConfig config;
    config.queryTile = 64;
    config.keyTile = 128;
    const KernelRun run = runKernel(q, k, v, config);
    ASSERT_TRUE(run.status.ok());
    std::vector<double> mean(static_cast<std::size_t>(D), 0.0);
    for (Index i = 0; i < L; ++i) {
        EXPECT_NEAR(run.lse[i], std::log(double(i + 1)), 1e-6 * std::max(1.0, std::log(double(i + 1))));
        for (Index d = 0; d < D; ++d) {
            mean[d] += v.row(0, i)[d];
            EXPECT_NEAR(run.out.row(0, i)[d], mean[d] / double(i + 1), 1e-5);
        }
    }
}

// Logits in the hundreds overflow exp() without the running maximum; the result must stay finite and
// close to fp64 (input rounding of the large dot products limits the agreement to ~1e-4 here).
TEST(Attention, LargeLogitsStayFinite) {
    const Index L = 400, D = 64;
    const Tensor3 q = randomTensor(2, L, D, 61, 40.0f);
    const Tensor3 k = randomTensor(2, L, D, 62, 40.0f);
    const Tensor3 v = randomTensor(2, L, D, 63);
    std::vector<double> ref(static_cast<std::size_t>(q.size())), refLse(static_cast<std::size_t>(2 * L));
    referenceCausalAttention(q.cview(), k.cview(), v.cview(), ref.data(), refLse.data());
    EXPECT_GT(*std::max_element(refLse.begin(), refLse.end()), 200.0); // really beyond exp's fp32 range
    AttentionConfig config;
    config.queryTile = 64;
    config.keyTile = 64;
    const KernelRun run = runKernel(q, k, v, config);
    ASSERT_TRUE(run.status.ok());
    for (float x : run.out.data)
        ASSERT_TRUE(std::isfinite(x));
    const Errors e = compare(run, ref, refLse, D);
    EXPECT_LT(e.row, 1e-3);
    EXPECT_LT(e.lse, 1e-5);
}

// A row whose first key tile holds a much larger logit than later tiles, and the reverse: both orders of
// the running maximum's updates.
TEST(Attention, RunningMaximumInBothDirections) {
    const Index L = 256, D = 16;
    Tensor3 q(1, L, D), k(1, L, D);
    const Tensor3 v = randomTensor(1, L, D, 71);
    for (Index i = 0; i < L; ++i)
        q.row(0, i)[0] = 1.0f;
    for (Index j = 0; j < L; ++j)
        k.row(0, j)[0] = (j == 3 || j == 200) ? 300.0f : float(j % 5) - 2.0f;
    std::vector<double> ref(static_cast<std::size_t>(q.size())), refLse(static_cast<std::size_t>(L));
    referenceCausalAttention(q.cview(), k.cview(), v.cview(), ref.data(), refLse.data());
    AttentionConfig config;
    config.queryTile = 32;
    config.keyTile = 32;
    const KernelRun run = runKernel(q, k, v, config);
    const Errors e = compare(run, ref, refLse, D);
    EXPECT_LT(e.row, 1e-5);
    EXPECT_LT(e.lse, 1e-6);
}

TEST(Attention, CancelledBeforeStart) {
    const Tensor3 q = randomTensor(1, 64, 16, 81);
    std::atomic<bool> cancel{true};
    AttentionConfig config;
    config.cancel = &cancel;
    const KernelRun run = runKernel(q, q, q, config);
    EXPECT_EQ(run.status.code, ErrorCode::Cancelled);
}

// A long problem (~100+ GFLOP, a second or more) cancelled after a few milliseconds returns quickly.
TEST(Attention, CancelledWhileRunning) {
    const Index L = 16384, D = 128;
    const Tensor3 q = randomTensor(2, L, D, 91);
    std::atomic<bool> cancel{false};
    AttentionConfig config;
    config.cancel = &cancel;
    Tensor3 out(2, L, D);
    std::thread canceller([&] {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        cancel.store(true);
    });
    const auto start = std::chrono::steady_clock::now();
    const Status status = causalAttention(q.cview(), q.cview(), q.cview(), out.view(), nullptr, config);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    canceller.join();
    EXPECT_EQ(status.code, ErrorCode::Cancelled);
    EXPECT_LT(seconds, 0.5);
}

TEST(Attention, RejectsBadShapes) {
    const Tensor3 q = randomTensor(3, 10, 8, 1);
    const Tensor3 k2 = randomTensor(2, 10, 8, 2);
    const Tensor3 k1 = randomTensor(1, 10, 8, 2);
    const Tensor3 shortK = randomTensor(1, 9, 8, 2);
    Tensor3 out(3, 10, 8);
    EXPECT_EQ(causalAttention(q.cview(), k2.cview(), k2.cview(), out.view(), nullptr).code, ErrorCode::Shape);
    EXPECT_EQ(causalAttention(q.cview(), shortK.cview(), shortK.cview(), out.view(), nullptr).code,
              ErrorCode::Shape);
    EXPECT_EQ(causalAttention(q.cview(), k1.cview(), k2.cview(), out.view(), nullptr).code, ErrorCode::Shape);
    Tensor3 wrongOut(3, 10, 4);
    EXPECT_EQ(causalAttention(q.cview(), k1.cview(), k1.cview(), wrongOut.view(), nullptr).code,
              ErrorCode::Shape);
    AttentionConfig badTile;
    badTile.keyTile = 0;
    EXPECT_EQ(causalAttention(q.cview(), k1.cview(), k1.cview(), out.view(), nullptr, badTile).code,
              ErrorCode::InvalidArgument);
    badTile.keyTile = 128;
    badTile.queryTile = -1;
    EXPECT_EQ(causalAttention(q.cview(), k1.cview(), k1.cview(), out.view(), nullptr, badTile).code,
              ErrorCode::InvalidArgument);
    EXPECT_TRUE(causalAttention(q.cview(), k1.cview(), k1.cview(), out.view(), nullptr).ok());
}

TEST(Attention, EmptyInputsAreFine) {
    Tensor3 q(2, 0, 8), k(1, 0, 8), out(2, 0, 8);
    EXPECT_TRUE(causalAttention(q.cview(), k.cview(), k.cview(), out.view(), nullptr).ok());
    Tensor3 none(0, 5, 8), kv(1, 5, 8), noneOut(0, 5, 8);
    EXPECT_TRUE(causalAttention(none.cview(), kv.cview(), kv.cview(), noneOut.view(), nullptr).ok());
}

// The vectorised exp2 and the scalar tail against std::exp2 over the range the kernel feeds them.
TEST(AttentionExp, Exp2Accuracy) {
    test::forEachIsa([](Isa isa) {
        const detail::RowKernels& rk = detail::rowKernels(isa);
        const Index n = 200001;
        std::vector<float> x(static_cast<std::size_t>(n));
        for (Index i = 0; i < n; ++i)
            x[i] = -126.0f * float(i) / float(n - 1);
        std::vector<float> y = x;
        // Chunks of a key tile's length, as the kernel calls it (a float sum over 200K terms would test the
        // summation, not the exp); 131 also exercises the scalar tail.
        const Index chunk = 131;
        double maxRel = 0, maxSumRel = 0;
        for (Index c0 = 0; c0 < n; c0 += chunk) {
            const Index len = std::min(chunk, n - c0);
            const float sum = rk.exp2SubInPlace(y.data() + c0, len, 0.0f);
            const float sumOnly = rk.exp2SubSum(x.data() + c0, len, 0.0f);
            std::vector<float> acc(static_cast<std::size_t>(len), 1.0f);
            rk.exp2SubAccumulate(x.data() + c0, len, 0.0f, acc.data());
            double refSum = 0;
            for (Index i = c0; i < c0 + len; ++i) {
                const double ref = std::exp2(double(x[i]));
                refSum += ref;
                maxRel = std::max(maxRel, std::abs(y[i] - ref) / ref);
                maxRel = std::max(maxRel, std::abs(detail::exp2Scalar(x[i]) - ref) / ref);
                EXPECT_NEAR(acc[i - c0], 1.0 + ref, 1e-6 * (1.0 + ref));
            }
            maxSumRel = std::max(maxSumRel, std::abs(sum - refSum) / refSum);
            maxSumRel = std::max(maxSumRel, std::abs(sumOnly - refSum) / refSum);
        }
        EXPECT_LT(maxRel, 4e-7);
        EXPECT_LT(maxSumRel, 1e-5);
        EXPECT_EQ(detail::exp2Scalar(-std::numeric_limits<float>::infinity()), 0.0f);
        EXPECT_EQ(detail::exp2Scalar(-200.0f), 0.0f);
        float below[16];
        std::fill(below, below + 16, -1000.0f);
        EXPECT_EQ(rk.exp2SubInPlace(below, 16, 0.0f), 0.0f);
        EXPECT_EQ(rk.rowMax(x.data(), n), 0.0f);
        EXPECT_EQ(rk.rowMax(x.data() + 5, 3), x[5]);
        EXPECT_EQ(rk.rowMax(x.data(), 0), -std::numeric_limits<float>::infinity());
    });
}

// Window attention mass (the scoring step) against a direct fp64 computation, including window keys in the
// denominators and a length that is not a multiple of the internal key tile.
TEST(AttentionWindow, MatchesFp64) {
    for (const auto& [L, W, D] : {std::tuple<Index, Index, Index>{1300, 128, 64},
                                  {200, 7, 16},
                                  {9, 8, 8},
                                  {700, 100, 128},
                                  {1029, 33, 40}}) {
        const Tensor3 q = randomTensor(1, L, D, 101, 3.0f);
        const Tensor3 k = randomTensor(1, L, D, 102, 3.0f);
        const Index P = L - W;
        std::vector<double> ref(static_cast<std::size_t>(P), 0.0);
        const double scale = 1.0 / std::sqrt(double(D));
        for (Index r = 0; r < W; ++r) {
            const Index i = P + r;
            std::vector<double> logits(static_cast<std::size_t>(i + 1));
            double mx = -1e300, sum = 0;
            for (Index j = 0; j <= i; ++j) {
                double dot = 0;
                for (Index d = 0; d < D; ++d)
                    dot += double(q.row(0, i)[d]) * double(k.row(0, j)[d]);
                logits[j] = dot * scale;
                mx = std::max(mx, logits[j]);
            }
            for (Index j = 0; j <= i; ++j)
                sum += std::exp(logits[j] - mx);
            for (Index j = 0; j < P; ++j)
                ref[j] += std::exp(logits[j] - mx) / sum / double(W);
        }
        // Every SIMD path (the AVX-512 micro-kernel, the tile products with AVX2 or portable exp2) against
        // fp64 and against the first path.
        std::vector<float> first;
        test::forEachIsa([&](Isa) {
            std::vector<float> raw(static_cast<std::size_t>(P), -1.0f), gemm = raw;
            std::vector<float> scratch;
            windowAttentionMass(q.row(0, P), k.row(0, 0), L, W, D, raw.data(), scratch);
            detail::windowAttentionMassGemm(q.row(0, P), k.row(0, 0), L, W, D, gemm.data(), scratch);
            if (first.empty()) first = raw;
            double maxRel = 0, maxBetween = 0, total = 0;
            for (Index j = 0; j < P; ++j) {
                maxRel = std::max(maxRel, std::abs(raw[j] - ref[j]) / std::max(ref[j], 1e-30));
                maxRel = std::max(maxRel, std::abs(gemm[j] - ref[j]) / std::max(ref[j], 1e-30));
                maxBetween = std::max(maxBetween, std::abs(double(raw[j]) - first[j]) /
                                                      std::max(double(first[j]), 1e-30));
                total += raw[j];
            }
            EXPECT_LT(maxRel, 2e-5) << "L " << L << " W " << W;
            EXPECT_LT(maxBetween, 2e-5) << "L " << L << " W " << W;
            EXPECT_LE(total, 1.0 + 1e-5);
        });
    }
}

} // namespace
} // namespace tsa
