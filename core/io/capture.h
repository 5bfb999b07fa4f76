// A Q/K/V capture: safetensors (or .npz) holding per-layer post-RoPE Q [Hq, L, D], K and V [Hkv, L, D].
// Opening maps the file and validates every header, shape and offset without touching tensor data, so a
// multi-GB, 32-layer capture opens in well under a second. A layer is converted to fp32 only when asked
// for; converted layers live in a least-recently-used cache bounded in bytes.
#pragma once

#include "core/io/dtype.h"
#include "core/status.h"
#include "core/tensor.h"

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace tsa {

struct CaptureInfo {
    std::string path;
    int layers = 0;            // layers present in the file
    std::vector<int> layerIds; // model layer index of each present layer, ascending
    int modelLayers = 0;       // layers of the model (metadata num_layers, else max id + 1)
    Index qHeads = 0;
    Index kvHeads = 0;
    Index tokens = 0;
    Index headDim = 0;
    DType dtype = DType::Unknown; // dtype of the q/k/v tensors
    bool hasTokenIds = false;
    bool hasTokenStrings = false;
    bool hasDrift = false;
    std::string model;
    std::string layout = "HLD";
    std::map<std::string, std::string> metadata;
};

struct CaptureOptions {
    // fp32 layers kept in memory at most (LRU beyond). A layer larger than this is returned but not kept;
    // 0 disables caching. Layers handed out stay valid after eviction (shared_ptr).
    std::size_t cacheBytes = std::size_t(4) << 30;
    bool replaceNonFinite = true; // NaN/Inf replaced by 0 after being counted and reported
};

// Non-finite values found while converting a layer.
struct NonFiniteReport {
    int layer = -1;
    std::string tensor;
    Index nanCount = 0;
    Index infCount = 0;
};

class CaptureImpl;

class Capture {
public:
    // Opens and validates a capture. Errors name the file, the tensor and the problem.
    static Result<std::shared_ptr<Capture>> open(const std::string& path, const CaptureOptions& options = {});
    // The same on bytes already in memory (tests, fuzzers); name stands for the path in messages. The
    // format is told by the content: a zip archive is read as .npz, anything else as safetensors.
    static Result<std::shared_ptr<Capture>>
    openBuffer(std::vector<unsigned char> bytes, const std::string& name, const CaptureOptions& options = {});
    ~Capture();

    const CaptureInfo& info() const;
    // Position in info().layerIds of a model layer id, -1 when that layer is not in the file.
    int indexOfLayerId(int layerId) const;

    // Layer by position in info().layerIds (0 .. layers-1), fp32 [heads, tokens, dim] (LHD files are
    // transposed). Thread-safe; concurrent calls for the same layer share one conversion. Warnings list
    // non-finite values found in it (also when it comes from the cache).
    Result<std::shared_ptr<const LayerQkv>> layer(int index) const;
    // Per-token drift of a layer [L], when the file has it (read on each call, not cached).
    std::optional<std::vector<float>> drift(int index) const;
    // Mean drift per present layer; empty when the file has no drift.
    std::vector<double> layerDrift() const;

    // Token ids (read on first call; empty when absent or unreadable) and token strings (from metadata).
    const std::vector<std::int32_t>& tokenIds() const;
    const std::vector<std::string>& tokenStrings() const;

    std::vector<NonFiniteReport> nonFiniteReports() const; // of the layers converted so far
    std::size_t cachedBytes() const;
    // Changes the fp32 layer cache's budget (least recently used layers go first).
    void setCacheBytes(std::size_t bytes);

private:
    explicit Capture(std::unique_ptr<CaptureImpl> impl);
    std::unique_ptr<CaptureImpl> m_impl;
};

} // namespace tsa
