// libFuzzer target: a whole capture from bytes (safetensors or .npz): open, convert every layer, read
// drift and tokens, through the small LRU cache.
#include "core/io/capture.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    tsa::CaptureOptions options;
    options.cacheBytes = 1 << 16;
    auto cap =
        tsa::Capture::openBuffer(std::vector<unsigned char>(data, data + size), "fuzz.capture", options);
    if (!cap.ok()) return 0;
    const auto& info = (*cap)->info();
    for (int i = 0; i < info.layers; ++i) {
        auto layer = (*cap)->layer(i);
        if (layer.ok() && ((*layer)->q.tokens != info.tokens || (*layer)->k.heads != info.kvHeads))
            __builtin_trap();
        (void)(*cap)->drift(i);
    }
    (void)(*cap)->tokenIds();
    (void)(*cap)->layerDrift();
    (void)(*cap)->nonFiniteReports();
    return 0;
}
