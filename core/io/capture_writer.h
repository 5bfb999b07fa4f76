// Writes a capture in the project format (docs/capture-format.md) from tensors already in memory: the
// Python module's write_capture. The file goes through SafetensorsWriter, so it appears atomically and a
// failed write leaves nothing behind. Shapes are checked against the reader's rules before anything is
// written, so what this writes, Capture::open reads.
#pragma once

#include "core/io/dtype.h"
#include "core/status.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace tsa {

// A borrowed, C-contiguous tensor in one of F32, F16, BF16 (float data) or I32 (token ids).
struct RawTensor {
    const void* data = nullptr;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
};

struct CaptureLayerInput {
    int id = 0;      // model layer index
    RawTensor q;     // [Hq, L, D]
    RawTensor k;     // [Hkv, L, D]
    RawTensor v;     // [Hkv, L, D]
    RawTensor drift; // [L] or absent (data null)
};

struct CaptureWriteOptions {
    DType dtype = DType::Unknown; // stored q/k/v dtype (F32, F16, BF16); Unknown keeps each input's dtype
    std::string model;
    int numLayers = 0; // model layers; 0: max id + 1
    std::optional<std::vector<std::int32_t>> tokenIds;
    std::optional<std::vector<std::string>> tokenStrings;
    std::map<std::string, std::string> metadata; // extra keys (format/layout/... are set by the writer)
};

// Errors name the path and the tensor ("layers.3.k: shape [2, 100, 32] does not match ...").
Status writeCapture(const std::string& path, const std::vector<CaptureLayerInput>& layers,
                    const CaptureWriteOptions& options);

} // namespace tsa
