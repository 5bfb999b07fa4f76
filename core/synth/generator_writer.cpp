// Streams a synthetic capture to disk one layer at a time through SafetensorsWriter.
#include "core/io/safetensors_writer.h"
#include "core/synth/generator.h"

#include <nlohmann/json.hpp>

namespace tsa {

std::string tokenStringsJson(const std::vector<std::string>& strings) {
    nlohmann::json j = strings;
    return j.dump();
}

Result<SyntheticWriteSummary> writeSyntheticCapture(const GeneratorConfig& config, const std::string& path,
                                                    const SyntheticWriteOptions& options) {
    if (options.dtype != DType::BF16 && options.dtype != DType::F16 && options.dtype != DType::F32)
        return Status::error(ErrorCode::InvalidArgument, "generator: output dtype must be BF16, F16 or F32");
    auto gen = Generator::create(config);
    if (!gen.ok()) return gen.status();
    const GeneratorConfig& c = gen->config();
    const SyntheticSequence& seq = gen->sequence();

    std::vector<TensorSpec> specs;
    specs.push_back({"tokens", DType::I32, {c.tokens}});
    for (int l = 0; l < c.layers; ++l) {
        const std::string p = "layers." + std::to_string(l) + ".";
        specs.push_back({p + "q", options.dtype, {c.qHeads, c.tokens, c.headDim}});
        specs.push_back({p + "k", options.dtype, {c.kvHeads, c.tokens, c.headDim}});
        specs.push_back({p + "v", options.dtype, {c.kvHeads, c.tokens, c.headDim}});
        specs.push_back({p + "drift", DType::F32, {c.tokens}});
    }
    std::map<std::string, std::string> meta;
    meta["format"] = "tsa-qkv/1";
    meta["layout"] = "HLD";
    meta["model"] = "synthetic:" + c.preset;
    meta["num_layers"] = std::to_string(c.layers);
    meta["token_strings"] = tokenStringsJson(seq.tokenStrings);
    meta["generator"] = generatorConfigToJson(c);
    // Which role each query head was built for, per layer: ground truth for the explorer's views.
    nlohmann::json roles = nlohmann::json::array();
    for (int l = 0; l < c.layers; ++l) {
        nlohmann::json row = nlohmann::json::array();
        for (HeadRole r : gen->roles(l))
            row.push_back(headRoleName(r));
        roles.push_back(row);
    }
    meta["head_roles"] = roles.dump();
    nlohmann::json needles = seq.needles;
    meta["needles"] = needles.dump();

    SafetensorsWriter writer;
    if (Status s = writer.open(path, specs, meta); !s.ok()) return s;
    if (Status s = writer.writeBytes(seq.tokenIds.data(), seq.tokenIds.size() * sizeof(std::int32_t));
        !s.ok())
        return s;
    for (int l = 0; l < c.layers; ++l) {
        // One layer in memory at a time: a 32-layer, 32K-token capture needs one layer's worth of RAM.
        auto layer = gen->layer(l, options.threads);
        if (!layer.ok()) return layer.status();
        const LayerQkv& qkv = layer->qkv;
        for (const Tensor3* t : {&qkv.q, &qkv.k, &qkv.v})
            if (Status s = writer.writeFloats(t->data.data(), t->data.size()); !s.ok()) return s;
        if (Status s = writer.writeFloats(layer->drift.data(), layer->drift.size()); !s.ok()) return s;
        if (options.progress && !options.progress(l, c.layers))
            return Status::error(ErrorCode::Cancelled, "generator: cancelled at layer " + std::to_string(l));
    }
    if (Status s = writer.commit(); !s.ok()) return s;
    SyntheticWriteSummary summary;
    summary.path = path;
    summary.layers = c.layers;
    std::uint64_t bytes = 8;
    for (const auto& spec : specs) {
        std::uint64_t n = dtypeSize(spec.dtype);
        for (auto d : spec.shape)
            n *= std::uint64_t(d);
        bytes += n;
    }
    summary.bytes = bytes;
    return summary;
}

} // namespace tsa
