// The sparse-layer plan (core/methods/layer_plan.h): the modes over a model's layers, the one table of mode
// names, and the rule for captures that hold only some layers (docs/layer_plan.md).
#include "core/methods/layer_plan.h"

#include <gtest/gtest.h>

using namespace tsa;

TEST(LayerPlan, ModesOverModelLayers) {
    auto half = planSparseLayers(5, {SparseLayerMode::Half, 0.5, {}});
    ASSERT_TRUE(half.ok());
    EXPECT_EQ(*half, (std::vector<bool>{false, false, true, true, true}));
    auto list = planSparseLayers(4, {SparseLayerMode::List, 0.5, {0, 3}});
    EXPECT_EQ(*list, (std::vector<bool>{true, false, false, true}));
    EXPECT_FALSE(planSparseLayers(4, {SparseLayerMode::List, 0.5, {4}}).ok());
    // Drift: d = [0.4, 0.1, 0.2, 0.3]; quantile(0.5) = 0.25 -> layers with d <= 0.25 (1 and 2).
    auto drift = planSparseLayers(4, {SparseLayerMode::Drift, 0.5, {}}, {4, 1, 2, 3});
    ASSERT_TRUE(drift.ok());
    EXPECT_EQ(*drift, (std::vector<bool>{false, true, true, false}));
    auto low = planSparseLayers(4, {SparseLayerMode::Drift, 0.0, {}}, {4, 1, 2, 3});
    EXPECT_EQ(*low, (std::vector<bool>{false, true, false, false}));
    EXPECT_FALSE(planSparseLayers(4, {SparseLayerMode::Drift, 0.5, {}}, {1, 2}).ok());
}

TEST(LayerPlan, ModeNamesRoundTrip) {
    for (SparseLayerMode m :
         {SparseLayerMode::Half, SparseLayerMode::Drift, SparseLayerMode::All, SparseLayerMode::List})
        EXPECT_EQ(sparseLayerModeFromName(sparseLayerModeName(m)), m);
    EXPECT_STREQ(sparseLayerModeName(SparseLayerMode::Drift), "drift");
    EXPECT_FALSE(sparseLayerModeFromName("Half").has_value()); // names are exact, as typed in options
    EXPECT_FALSE(sparseLayerModeFromName("").has_value());
    EXPECT_EQ(sparseLayerModeChoices(), "half, drift, all or list");
}

TEST(LayerPlan, FullCaptureMatchesTheModelPlan) {
    const std::vector<int> ids = {0, 1, 2, 3};
    const std::vector<double> drift = {4, 1, 2, 3};
    for (const LayerPlanConfig& config :
         {LayerPlanConfig{SparseLayerMode::Half, 0.5, {}}, LayerPlanConfig{SparseLayerMode::Drift, 0.5, {}},
          LayerPlanConfig{SparseLayerMode::All, 0.5, {}}, LayerPlanConfig{SparseLayerMode::List, 0.5, {1}}}) {
        auto capture = planCaptureLayers(ids, 4, config, drift);
        auto model = planSparseLayers(4, config, drift);
        ASSERT_TRUE(capture.ok() && model.ok()) << sparseLayerModeName(config.mode);
        EXPECT_EQ(capture->sparse, *model) << sparseLayerModeName(config.mode);
        EXPECT_EQ(capture->note, "") << "a full capture needs no note";
    }
}

TEST(LayerPlan, PartialCaptureHalfAllAndListUseModelLayerIds) {
    // Layers 1, 5 and 6 of an 8-layer model.
    const std::vector<int> ids = {1, 5, 6};
    auto half = planCaptureLayers(ids, 8, {SparseLayerMode::Half, 0.5, {}});
    ASSERT_TRUE(half.ok());
    EXPECT_EQ(half->sparse, (std::vector<bool>{false, true, true})); // the model's second half is 4..7
    EXPECT_EQ(half->note, "");
    auto list = planCaptureLayers(ids, 8, {SparseLayerMode::List, 0.5, {0, 6, 7}});
    ASSERT_TRUE(list.ok());
    EXPECT_EQ(list->sparse, (std::vector<bool>{false, false, true})); // 0 and 7 are not in the file
    auto all = planCaptureLayers(ids, 8, {SparseLayerMode::All, 0.5, {}});
    EXPECT_EQ(all->sparse, (std::vector<bool>{true, true, true}));
    // A listed layer the model does not have is an error, named.
    auto beyond = planCaptureLayers(ids, 8, {SparseLayerMode::List, 0.5, {8}});
    ASSERT_FALSE(beyond.ok());
    EXPECT_NE(beyond.error().find("sparse layer 8 is outside 0..7"), std::string::npos) << beyond.error();
}

TEST(LayerPlan, PartialCaptureDriftTakesTheQuantileOverThePresentLayers) {
    // Three of eight layers with drift 3, 1, 2: normalised 0.5, 1/6, 1/3; the median is 1/3, so the two
    // least drifting present layers are sparse, and the note says the quantile is over 3 of 8 layers.
    const std::vector<int> ids = {2, 4, 7};
    auto plan = planCaptureLayers(ids, 8, {SparseLayerMode::Drift, 0.5, {}}, {3, 1, 2});
    ASSERT_TRUE(plan.ok()) << plan.error();
    EXPECT_EQ(plan->sparse, (std::vector<bool>{false, true, true}));
    EXPECT_EQ(plan->note, "drift quantile over the 3 captured layers of 8");
    // delta 0: only the least drifting present layer.
    auto low = planCaptureLayers(ids, 8, {SparseLayerMode::Drift, 0.0, {}}, {3, 1, 2});
    EXPECT_EQ(low->sparse, (std::vector<bool>{false, true, false}));
    // No drift in the file, or a drift list that does not match the layers: errors that say so.
    auto none = planCaptureLayers(ids, 8, {SparseLayerMode::Drift, 0.5, {}});
    ASSERT_FALSE(none.ok());
    EXPECT_NE(none.error().find("drift"), std::string::npos);
    EXPECT_FALSE(planCaptureLayers(ids, 8, {SparseLayerMode::Drift, 0.5, {}}, {1, 2}).ok());
    auto badDelta = planCaptureLayers(ids, 8, {SparseLayerMode::Drift, 1.5, {}}, {3, 1, 2});
    ASSERT_FALSE(badDelta.ok());
    EXPECT_NE(badDelta.error().find("delta"), std::string::npos) << badDelta.error();
}
