// Capture writer over in-memory tensors: validates every shape (the reader's rules), declares the tensors,
// then streams each one through SafetensorsWriter, converting between float dtypes in 1 MiB chunks so the
// extra memory stays constant whatever the layer size. Cost: one pass over the data.
#include "core/io/capture_writer.h"

#include "core/io/safetensors_writer.h"
#include "core/synth/generator.h"

#include <algorithm>
#include <set>

namespace tsa {

namespace {

std::string shapeText(const std::vector<std::int64_t>& shape) {
    std::string s = "[";
    for (std::size_t i = 0; i < shape.size(); ++i)
        s += (i ? ", " : "") + std::to_string(shape[i]);
    return s + "]";
}

std::size_t elements(const std::vector<std::int64_t>& shape) {
    std::size_t n = 1;
    for (auto d : shape)
        n *= std::size_t(d);
    return n;
}

bool isFloat(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

// Appends a float tensor converted to the declared dtype (the writer converts fp32 itself).
Status writeFloatTensor(SafetensorsWriter& writer, const RawTensor& t, DType stored) {
    const std::size_t n = elements(t.shape);
    if (t.dtype == stored) return writer.writeBytes(t.data, n * dtypeSize(stored));
    if (t.dtype == DType::F32) return writer.writeFloats(static_cast<const float*>(t.data), n);
    std::vector<float> chunk(std::size_t(1) << 18);
    const auto* src = static_cast<const unsigned char*>(t.data);
    for (std::size_t done = 0; done < n; done += chunk.size()) {
        const std::size_t count = std::min(chunk.size(), n - done);
        convertToFloat(src + done * dtypeSize(t.dtype), t.dtype, count, chunk.data());
        if (Status s = writer.writeFloats(chunk.data(), count); !s.ok()) return s;
    }
    return Status::success();
}

} // namespace

Status writeCapture(const std::string& path, const std::vector<CaptureLayerInput>& layers,
                    const CaptureWriteOptions& options) {
    auto bad = [&](const std::string& what) {
        return Status::error(ErrorCode::InvalidArgument, path + ": " + what);
    };
    if (layers.empty()) return bad("no layers to write");
    if (options.dtype != DType::Unknown && !isFloat(options.dtype))
        return bad(std::string("stored dtype must be F32, F16 or BF16, not ") + dtypeName(options.dtype));
    const auto& first = layers.front();
    if (first.q.shape.size() != 3 || first.k.shape.size() != 3)
        return bad("layers." + std::to_string(first.id) + ": q and k must be [heads, tokens, dim], got q " +
                   shapeText(first.q.shape) + ", k " + shapeText(first.k.shape));
    const std::int64_t hq = first.q.shape[0], hkv = first.k.shape[0], tokens = first.q.shape[1],
                       dim = first.q.shape[2];
    if (hq <= 0 || hkv <= 0 || tokens <= 0 || dim <= 0)
        return bad("layers." + std::to_string(first.id) + ": empty q or k " + shapeText(first.q.shape));
    if (hq % hkv != 0)
        return bad("query heads " + std::to_string(hq) + " are not a multiple of kv heads " +
                   std::to_string(hkv));
    const std::vector<std::int64_t> qShape{hq, tokens, dim}, kvShape{hkv, tokens, dim}, tokenShape{tokens};

    std::set<int> ids;
    int maxId = 0;
    for (const auto& l : layers) {
        const std::string p = "layers." + std::to_string(l.id) + ".";
        if (l.id < 0) return bad(p + ": layer ids must not be negative");
        if (!ids.insert(l.id).second) return bad("layer " + std::to_string(l.id) + " is given twice");
        maxId = std::max(maxId, l.id);
        const std::pair<const RawTensor*, const char*> parts[] = {{&l.q, "q"}, {&l.k, "k"}, {&l.v, "v"}};
        for (auto [t, name] : parts) {
            const auto& want = t == &l.q ? qShape : kvShape;
            if (t->shape != want)
                return bad(p + name + ": shape " + shapeText(t->shape) + " does not match the expected " +
                           shapeText(want) + " (q of the first layer is " + shapeText(qShape) + ")");
            if (!isFloat(t->dtype) || !t->data)
                return bad(p + name + ": needs float32, float16 or bfloat16 data");
        }
        if (l.drift.data) {
            if (l.drift.shape != tokenShape)
                return bad(p + "drift: shape " + shapeText(l.drift.shape) + " is not [" +
                           std::to_string(tokens) + "]");
            if (!isFloat(l.drift.dtype)) return bad(p + "drift: needs float data");
        }
    }
    if (options.numLayers != 0 && options.numLayers <= maxId)
        return bad("num_layers " + std::to_string(options.numLayers) + " does not cover layer " +
                   std::to_string(maxId));
    if (options.tokenIds && std::int64_t(options.tokenIds->size()) != tokens)
        return bad("tokens: " + std::to_string(options.tokenIds->size()) + " ids for " +
                   std::to_string(tokens) + " tokens");
    if (options.tokenStrings && std::int64_t(options.tokenStrings->size()) != tokens)
        return bad("token_strings: " + std::to_string(options.tokenStrings->size()) + " strings for " +
                   std::to_string(tokens) + " tokens");

    std::vector<TensorSpec> specs;
    if (options.tokenIds) specs.push_back({"tokens", DType::I32, tokenShape});
    for (const auto& l : layers) {
        const std::string p = "layers." + std::to_string(l.id) + ".";
        specs.push_back({p + "q", options.dtype == DType::Unknown ? l.q.dtype : options.dtype, qShape});
        specs.push_back({p + "k", options.dtype == DType::Unknown ? l.k.dtype : options.dtype, kvShape});
        specs.push_back({p + "v", options.dtype == DType::Unknown ? l.v.dtype : options.dtype, kvShape});
        if (l.drift.data) specs.push_back({p + "drift", DType::F32, tokenShape});
    }
    std::map<std::string, std::string> meta = options.metadata;
    meta["format"] = "tsa-qkv/1";
    meta["layout"] = "HLD";
    meta["num_layers"] = std::to_string(options.numLayers > 0 ? options.numLayers : maxId + 1);
    if (!options.model.empty()) meta["model"] = options.model;
    if (options.tokenStrings) meta["token_strings"] = tokenStringsJson(*options.tokenStrings);

    SafetensorsWriter writer;
    if (Status s = writer.open(path, specs, meta); !s.ok()) return s;
    std::size_t spec = options.tokenIds ? 1 : 0;
    if (options.tokenIds) {
        if (Status s =
                writer.writeBytes(options.tokenIds->data(), options.tokenIds->size() * sizeof(std::int32_t));
            !s.ok())
            return s;
    }
    for (const auto& l : layers) {
        for (const RawTensor* t : {&l.q, &l.k, &l.v, &l.drift}) {
            if (!t->data) continue;
            if (Status s = writeFloatTensor(writer, *t, specs[spec++].dtype); !s.ok()) return s;
        }
    }
    return writer.commit();
}

} // namespace tsa
