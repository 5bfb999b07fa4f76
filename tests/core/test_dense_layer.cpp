// Dense layers (core/methods/tsa_selection.h, core/analysis/metrics.h): the selection of a layer outside the
// plan and its metrics, which must equal what running dense attention twice and comparing would give.
#include "core/analysis/metrics.h"
#include "core/methods/tsa_selection.h"

#include <gtest/gtest.h>
#include <random>

using namespace tsa;

TEST(DenseLayer, SelectionKeepsEveryTokenAndClampsThePrefix) {
    TsaParams p;
    p.window = 128;
    const Selection sel = denseSelection(4, 1000, p, DenseReason::NotSparseLayer);
    EXPECT_FALSE(sel.sparse);
    EXPECT_EQ(sel.denseReason, DenseReason::NotSparseLayer);
    EXPECT_EQ(sel.kept, 1000);
    EXPECT_EQ(sel.prefix, 872);
    EXPECT_DOUBLE_EQ(sel.keptFraction(), 1.0);
    // A layer shorter than the window has no prefix, not a negative one.
    const Selection shortSel = denseSelection(4, 50, p, DenseReason::NotSparseLayer);
    EXPECT_EQ(shortSel.prefix, 0);
    EXPECT_EQ(shortSel.capacity, 0);
    EXPECT_EQ(shortSel.kept, 50);
}

TEST(DenseLayer, MetricsEqualThoseOfComparingDenseWithItself) {
    const Index heads = 3, tokens = 40, dim = 8;
    std::mt19937 rng(5);
    std::normal_distribution<float> normal;
    std::vector<float> out(std::size_t(heads * tokens * dim));
    for (float& x : out)
        x = normal(rng);
    std::vector<float> lse(std::size_t(heads * tokens), 1.5f);
    const ConstView3 view{out.data(), heads, tokens, dim};
    TsaParams p;
    p.window = 16;
    const Selection sel = denseSelection(heads, tokens, p, DenseReason::NotSparseLayer);
    const LayerMetrics computed = computeLayerMetrics(sel, view, view, lse.data(), lse.data());
    const LayerMetrics dense = denseLayerMetrics(sel);
    ASSERT_EQ(dense.qHeads, heads);
    ASSERT_EQ(dense.tokens, tokens);
    EXPECT_EQ(dense.rowError, computed.rowError);
    EXPECT_EQ(dense.retainedMass, computed.retainedMass);
    auto same = [](const Distribution& a, const Distribution& b) {
        return a.median == b.median && a.p95 == b.p95 && a.max == b.max && a.mean == b.mean &&
               a.count == b.count;
    };
    ASSERT_EQ(dense.heads.size(), computed.heads.size());
    for (std::size_t h = 0; h < dense.heads.size(); ++h) {
        EXPECT_TRUE(same(dense.heads[h].rowError, computed.heads[h].rowError)) << h;
        EXPECT_TRUE(same(dense.heads[h].retainedMass, computed.heads[h].retainedMass)) << h;
        EXPECT_EQ(dense.heads[h].keptFraction, computed.heads[h].keptFraction);
        EXPECT_EQ(dense.heads[h].droppedRows, 0);
    }
    EXPECT_TRUE(same(dense.layer.rowError, computed.layer.rowError));
    EXPECT_TRUE(same(dense.layer.retainedMass, computed.layer.retainedMass));
    EXPECT_EQ(dense.layer.keptFraction, 1.0);
    EXPECT_EQ(dense.layer.lastWindowError, computed.layer.lastWindowError);
    EXPECT_EQ(dense.layer.retainedMass.median, 1.0);
    EXPECT_EQ(dense.layer.rowError.max, 0.0);
}

TEST(DenseLayer, MetricsRefuseASparseSelection) {
    Selection sel;
    sel.sparse = true;
    sel.qHeads = 2;
    sel.tokens = 10;
    EXPECT_EQ(denseLayerMetrics(sel).qHeads, 0) << "a sparse layer's metrics need its outputs";
}

TEST(DenseLayer, MeasureNamesAreOneTable) {
    for (LayerMeasure m : layerMeasures())
        EXPECT_EQ(layerMeasureFromName(layerMeasureName(m)), m);
    EXPECT_EQ(layerMeasures().size(), 3u);
    EXPECT_STREQ(layerMeasureName(LayerMeasure::ErrorP95), "error-p95");
    EXPECT_FALSE(layerMeasureFromName("error_p95").has_value());
    EXPECT_EQ(layerMeasureChoices(), "kept, error-p95 or retained-mass");
}
