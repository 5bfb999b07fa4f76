// Capture loader: finds the per-layer q/k/v (and drift, tokens) tensors of a safetensors or .npz capture,
// validates names, dtypes, shapes and layout at open without touching tensor data, and converts a layer
// to fp32 [heads, tokens, dim] on demand into a byte-bounded, thread-safe LRU cache.
#include "core/io/capture.h"

#include "core/io/mapped_file.h"
#include "core/io/npz.h"
#include "core/io/safetensors_reader.h"
#include "core/lru_cache.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <future>
#include <mutex>
#include <new>
#include <nlohmann/json.hpp>
#include <set>

namespace tsa {

namespace {

// Where one tensor's bytes live and how they are laid out in the file.
struct TensorLoc {
    std::string name;
    std::string dtypeText;
    DType dtype = DType::Unknown;
    std::vector<std::int64_t> shape; // as stored (batch dimension included)
    std::uint64_t elements = 0;
    std::uint64_t offset = 0; // absolute offset of the data when it can be addressed in place
    int member = -1;          // npz member index when the data must be inflated
};

struct LayerLoc {
    int id = 0;
    TensorLoc q, k, v;
    std::optional<TensorLoc> drift;
};

// Everything except q/k/v/drift/tokens names; kept short in warnings.
constexpr std::size_t kMaxIgnoredNamesShown = 8;
constexpr int kMaxLayerId = 1000000;
// Conversion streams rows in chunks of about this size, so an inflated npz member never sits in memory
// twice and mapped pages can be released as soon as they are converted.
constexpr std::size_t kChunkBytes = std::size_t(8) << 20;

bool isFloatDtype(DType t) {
    return t == DType::F32 || t == DType::F16 || t == DType::BF16;
}

std::string joinIds(const std::vector<int>& ids) {
    std::string s;
    for (std::size_t i = 0; i < ids.size(); ++i)
        s += (i ? ", " : "") + std::to_string(ids[i]);
    return s;
}

// "layers.12.q" -> (12, "q"); false for anything else, including ids with leading zeros or signs.
bool splitLayerName(const std::string& name, int* id, std::string* part) {
    static const std::string prefix = "layers.";
    if (name.compare(0, prefix.size(), prefix) != 0) return false;
    const auto dot = name.find('.', prefix.size());
    if (dot == std::string::npos) return false;
    const std::string digits = name.substr(prefix.size(), dot - prefix.size());
    if (digits.empty() || digits.size() > 7 || (digits.size() > 1 && digits[0] == '0')) return false;
    int v = 0;
    for (char c : digits) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + (c - '0');
    }
    if (v > kMaxLayerId) return false;
    *id = v;
    *part = name.substr(dot + 1);
    return true;
}

void appendUtf8(std::string* out, std::uint32_t c) {
    if (c < 0x80) {
        out->push_back(char(c));
    } else if (c < 0x800) {
        out->push_back(char(0xC0 | (c >> 6)));
        out->push_back(char(0x80 | (c & 0x3F)));
    } else if (c < 0x10000) {
        out->push_back(char(0xE0 | (c >> 12)));
        out->push_back(char(0x80 | ((c >> 6) & 0x3F)));
        out->push_back(char(0x80 | (c & 0x3F)));
    } else if (c < 0x110000) {
        out->push_back(char(0xF0 | (c >> 18)));
        out->push_back(char(0x80 | ((c >> 12) & 0x3F)));
        out->push_back(char(0x80 | ((c >> 6) & 0x3F)));
        out->push_back(char(0x80 | (c & 0x3F)));
    }
}

} // namespace

class CaptureImpl {
public:
    std::shared_ptr<const ByteSource> bytes;
    CaptureOptions options;
    CaptureInfo info;
    bool npz = false;
    NpzArchive archive;
    std::vector<LayerLoc> layers;
    std::optional<TensorLoc> tokens;
    std::vector<std::string> tokenStrings;

    std::once_flag tokensOnce;
    std::vector<std::int32_t> tokenIds;
    std::once_flag driftOnce;
    std::vector<double> layerDrift;

    // Cache state, all under mutex.
    struct Loaded {
        Status status;
        std::shared_ptr<const LayerQkv> layer;
    };
    mutable std::mutex mutex;
    LruCache<int, const LayerQkv> cache;
    std::map<int, std::shared_future<Loaded>> inflight;
    std::map<std::pair<int, std::string>, NonFiniteReport> reports;
    std::map<int, std::vector<std::string>> layerWarnings;

    const std::string& path() const { return info.path; }
    Status fileError(ErrorCode code, const std::string& what) const {
        return Status::error(code, path() + ": " + what);
    }
    Status tensorError(ErrorCode code, const std::string& tensor, const std::string& what) const {
        return Status::error(code, path() + ": tensor '" + tensor + "': " + what);
    }

    Status streamTensor(const TensorLoc& t, std::size_t chunkBytes, const ByteSink& sink) const;
    Status load(Result<std::shared_ptr<Capture>>& result);
    // The steps of load, in order.
    struct Dims {
        Index heads = 0, tokens = 0, dim = 0;
    };
    bool singleNames = false; // q, k, v without a layers.{l}. prefix
    Status listTensors(std::vector<TensorLoc>* tensors, std::map<std::string, std::string>* metadata,
                       std::vector<std::string>& warnings);
    Status readFormatAndLayout(const std::map<std::string, std::string>& metadata,
                               std::vector<std::string>& warnings);
    Status groupByLayer(const std::vector<TensorLoc>& tensors,
                        std::map<int, std::map<std::string, const TensorLoc*>>* byLayer,
                        std::vector<std::string>& warnings);
    Status checkLayers(const std::map<int, std::map<std::string, const TensorLoc*>>& byLayer,
                       std::vector<std::string>& warnings);
    Status readModelDepth(const std::map<std::string, std::string>& metadata,
                          std::vector<std::string>& warnings);
    Status readTokens(const std::map<std::string, std::string>& metadata, std::vector<std::string>& warnings);
    std::string fullName(int id, const std::string& part) const;
    Status tensorDims(const TensorLoc& t, Dims* d) const;
    Status checkLayer(int id, const std::map<std::string, const TensorLoc*>& parts, LayerLoc* loc,
                      Dims* qDims, Dims* kvDims) const;
    Status checkDrift(const TensorLoc& t, Index tokens) const;
    Status readMetadataMember(std::map<std::string, std::string>* meta) const;
    Status convertQkv(const TensorLoc& t, int layerId, Tensor3* out,
                      std::vector<NonFiniteReport>* found) const;
    Loaded convertLayer(int index, std::vector<NonFiniteReport>* found) const;
    Result<std::shared_ptr<const LayerQkv>> layer(int index);
    Status readFloats(const TensorLoc& t, std::vector<float>* out) const;
};

Status CaptureImpl::streamTensor(const TensorLoc& t, std::size_t chunkBytes, const ByteSink& sink) const {
    if (t.member >= 0)
        return readNpzMember(bytes->data(), bytes->size(), path(), archive.members[std::size_t(t.member)],
                             chunkBytes, sink);
    const std::uint64_t total = t.elements * dtypeSize(t.dtype == DType::Unknown ? DType::U8 : t.dtype);
    const unsigned char* p = bytes->data() + t.offset;
    for (std::uint64_t done = 0; done < total;) {
        const std::size_t n = std::size_t(std::min<std::uint64_t>(chunkBytes, total - done));
        if (Status s = sink(p + done, n); !s.ok()) return s;
        bytes->release(t.offset + done, n);
        done += n;
    }
    return Status::success();
}

Status CaptureImpl::readMetadataMember(std::map<std::string, std::string>* meta) const {
    const NpzMember* m = archive.find("__metadata__");
    if (!m) return Status::success();
    const std::string label = "member '" + m->memberName + "'";
    if ((m->npy.kind != 'U' && m->npy.kind != 'S') || m->npy.elements != 1)
        return fileError(ErrorCode::Format,
                         label + ": must hold one string (np.savez(..., __metadata__=json.dumps({...})))");
    if (m->npy.dataBytes > kMaxSafetensorsHeaderBytes)
        return fileError(ErrorCode::Format, label + ": too large");
    std::string raw;
    Status s = readNpzMember(bytes->data(), bytes->size(), path(), *m, kChunkBytes,
                             [&](const unsigned char* b, std::size_t n) {
                                 raw.append(reinterpret_cast<const char*>(b), n);
                                 return Status::success();
                             });
    if (!s.ok()) return s;
    std::string text;
    if (m->npy.kind == 'U') { // UCS-4 little endian, NUL padded
        for (std::size_t i = 0; i + 4 <= raw.size(); i += 4) {
            std::uint32_t c;
            std::memcpy(&c, raw.data() + i, 4);
            if (c == 0) break;
            appendUtf8(&text, c);
        }
    } else {
        text = raw.substr(0, raw.find('\0'));
    }
    nlohmann::json j = nlohmann::json::parse(text, nullptr, false);
    if (j.is_discarded() || !j.is_object())
        return fileError(ErrorCode::Format, label + ": not a JSON object of strings");
    for (auto it = j.begin(); it != j.end(); ++it) {
        if (it.value().is_string())
            (*meta)[it.key()] = it.value().get<std::string>();
        else if (it.value().is_primitive())
            (*meta)[it.key()] = it.value().dump();
        else
            return fileError(ErrorCode::Format, label + ": value '" + it.key() + "' is not a string");
    }
    return Status::success();
}

// Opening a capture, step by step: list the tensors, read the format and layout, sort the tensors into
// layers, check each layer's shapes, read the model's depth, then the token ids and strings. Each step
// returns the first problem, naming the file and the tensor; warnings collect what is read anyway.
Status CaptureImpl::load(Result<std::shared_ptr<Capture>>& result) {
    std::vector<std::string>& warnings = result.warnings;
    std::vector<TensorLoc> tensors;
    std::map<std::string, std::string> metadata;
    std::map<int, std::map<std::string, const TensorLoc*>> byLayer;
    Status st = listTensors(&tensors, &metadata, warnings);
    if (st.ok()) st = readFormatAndLayout(metadata, warnings);
    if (st.ok()) st = groupByLayer(tensors, &byLayer, warnings);
    if (st.ok()) st = checkLayers(byLayer, warnings);
    if (st.ok()) st = readModelDepth(metadata, warnings);
    if (st.ok()) st = readTokens(metadata, warnings);
    return st;
}

// The tensors of the file (safetensors header or .npz members) and its string metadata.
Status CaptureImpl::listTensors(std::vector<TensorLoc>* tensors, std::map<std::string, std::string>* metadata,
                                std::vector<std::string>& warnings) {
    const unsigned char* data = bytes->data();
    const std::uint64_t size = bytes->size();
    if (size == 0)
        return fileError(ErrorCode::Format,
                         "file is empty (0 bytes); expected a safetensors or .npz capture");
    npz = size >= 4 && data[0] == 'P' && data[1] == 'K' &&
          ((data[2] == 3 && data[3] == 4) || (data[2] == 5 && data[3] == 6));
    if (npz) {
        auto parsed = parseNpz(data, size, path());
        if (!parsed.ok()) return parsed.status();
        archive = std::move(*parsed);
        for (const std::string& ign : archive.ignored)
            warnings.push_back(path() + ": ignored archive member '" + ign + "' (not a .npy array)");
        for (std::size_t i = 0; i < archive.members.size(); ++i) {
            const NpzMember& m = archive.members[i];
            if (m.name == "__metadata__") continue;
            TensorLoc t;
            t.name = m.name;
            t.dtypeText = m.npy.descr;
            t.dtype = m.npy.dtype;
            t.shape = m.npy.shape;
            t.elements = m.npy.elements;
            if (m.compressed)
                t.member = int(i);
            else
                t.offset = m.dataStart + m.npy.dataOffset;
            tensors->push_back(std::move(t));
        }
        if (Status s = readMetadataMember(metadata); !s.ok()) return s;
    } else {
        auto parsed = parseSafetensors(data, size, path());
        if (!parsed.ok()) return parsed.status();
        *metadata = parsed->metadata;
        for (const SafetensorsEntry& e : parsed->tensors) {
            TensorLoc t;
            t.name = e.name;
            t.dtypeText = e.dtypeName;
            t.dtype = e.dtype;
            t.shape = e.shape;
            t.elements = e.elements;
            t.offset = e.begin;
            tensors->push_back(std::move(t));
        }
    }
    return Status::success();
}

// metadata format (tsa-qkv/1; an effect file is named as such) and layout (HLD or LHD).
Status CaptureImpl::readFormatAndLayout(const std::map<std::string, std::string>& metadata,
                                        std::vector<std::string>& warnings) {
    info.metadata = metadata;
    if (auto it = metadata.find("model"); it != metadata.end()) info.model = it->second;
    if (auto it = metadata.find("format"); it != metadata.end()) {
        const std::string& f = it->second;
        if (f == "tsa-effect/1")
            return fileError(
                ErrorCode::Unsupported,
                "this is an effect file (tsa-effect/1, from tools/tsa_eval.py), not a Q/K/V capture: "
                "tsa info describes it and the explorer's Effect view shows it");
        if (f.rfind("tsa-qkv/", 0) == 0 && f != "tsa-qkv/1")
            return fileError(ErrorCode::Unsupported,
                             "metadata format '" + f + "' is not supported (this build reads tsa-qkv/1)");
        if (f.rfind("tsa-qkv/", 0) != 0)
            warnings.push_back(path() + ": metadata format '" + f + "' is not tsa-qkv/1; reading it as one");
    }
    bool lhd = false;
    if (auto it = metadata.find("layout"); it != metadata.end()) {
        if (it->second == "LHD")
            lhd = true;
        else if (it->second != "HLD")
            return fileError(ErrorCode::Unsupported,
                             "metadata layout '" + it->second + "' is not supported (HLD or LHD)");
    }
    info.layout = lhd ? "LHD" : "HLD";

    return Status::success();
}

// Tensor names into layers: layers.{l}.q/k/v/drift, or q/k/v/drift for a single layer, and tokens.
Status CaptureImpl::groupByLayer(const std::vector<TensorLoc>& tensors,
                                 std::map<int, std::map<std::string, const TensorLoc*>>* byLayer,
                                 std::vector<std::string>& warnings) {
    bool numbered = false;
    std::vector<std::string> ignored;
    for (const TensorLoc& t : tensors) {
        int id = 0;
        std::string part;
        if (t.name == "tokens") {
            tokens = t;
        } else if (splitLayerName(t.name, &id, &part) &&
                   (part == "q" || part == "k" || part == "v" || part == "drift")) {
            numbered = true;
            (*byLayer)[id][part] = &t;
        } else if (t.name == "q" || t.name == "k" || t.name == "v" || t.name == "drift") {
            singleNames = true;
            (*byLayer)[0][t.name] = &t;
        } else {
            ignored.push_back(t.name);
        }
    }
    if (numbered && singleNames)
        return fileError(
            ErrorCode::Format,
            "mixes single-layer tensors (q, k, v) with numbered ones (layers.N.q); use one naming");
    if (!ignored.empty()) {
        std::string list;
        for (std::size_t i = 0; i < ignored.size() && i < kMaxIgnoredNamesShown; ++i)
            list += (i ? ", " : "") + ignored[i];
        if (ignored.size() > kMaxIgnoredNamesShown)
            list += ", ... (" + std::to_string(ignored.size()) + " in all)";
        warnings.push_back(path() + ": ignored tensors that are not part of the capture format: " + list);
    }
    if (byLayer->empty())
        return fileError(ErrorCode::Format,
                         "no Q/K/V tensors: expected layers.{l}.q, layers.{l}.k, layers.{l}.v (or q, k, v)");

    return Status::success();
}

std::string CaptureImpl::fullName(int id, const std::string& part) const {
    return singleNames ? part : "layers." + std::to_string(id) + "." + part;
}

// [heads, tokens, dim] of a q/k/v tensor in the file's layout (a leading batch of 1 allowed), float dtype.
Status CaptureImpl::tensorDims(const TensorLoc& t, Dims* d) const {
    const bool lhd = info.layout == "LHD";
    std::vector<std::int64_t> s = t.shape;
    if (s.size() == 4) {
        if (s[0] != 1)
            return tensorError(ErrorCode::Shape, t.name,
                               "shape " + shapeText(t.shape) + ": a leading batch dimension must be 1");
        s.erase(s.begin());
    }
    if (s.size() != 3)
        return tensorError(ErrorCode::Shape, t.name,
                           "shape " + shapeText(t.shape) + " is not 3-D (" +
                               (lhd ? "[L, H, D]" : "[H, L, D]") + ", optionally with a batch of 1)");
    if (lhd)
        *d = {s[1], s[0], s[2]};
    else
        *d = {s[0], s[1], s[2]};
    if (d->heads <= 0 || d->tokens <= 0 || d->dim <= 0)
        return tensorError(ErrorCode::Shape, t.name,
                           "shape " + shapeText(t.shape) + " has an empty dimension");
    if (!isFloatDtype(t.dtype))
        return tensorError(ErrorCode::Unsupported, t.name,
                           "unsupported dtype '" + t.dtypeText + "' (expected F32, F16 or BF16)");
    return Status::success();
}

// One layer's q, k and v: present, float, [H, L, D] shapes that agree (k and v equal, q's tokens and head
// dim those of k, q's heads a multiple of k's). Sets *loc and the q and k/v dims.
Status CaptureImpl::checkLayer(int id, const std::map<std::string, const TensorLoc*>& parts, LayerLoc* loc,
                               Dims* qDims, Dims* kvDims) const {
    for (const char* need : {"q", "k", "v"}) {
        if (!parts.count(need)) {
            std::string present;
            for (const auto& [p, t] : parts)
                present += (present.empty() ? "" : ", ") + t->name;
            return fileError(ErrorCode::Format, "layer " + std::to_string(id) + ": tensor '" +
                                                    fullName(id, need) + "' is missing (present: " + present +
                                                    ")");
        }
    }
    loc->id = id;
    loc->q = *parts.at("q");
    loc->k = *parts.at("k");
    loc->v = *parts.at("v");
    Dims& q = *qDims;
    Dims& k = *kvDims;
    Dims v;
    if (Status s = tensorDims(loc->q, &q); !s.ok()) return s;
    if (Status s = tensorDims(loc->k, &k); !s.ok()) return s;
    if (Status s = tensorDims(loc->v, &v); !s.ok()) return s;
    if (k.heads != v.heads || k.tokens != v.tokens || k.dim != v.dim)
        return tensorError(ErrorCode::Shape, loc->v.name,
                           "shape " + shapeText(loc->v.shape) + " differs from '" + loc->k.name + "' " +
                               shapeText(loc->k.shape));
    if (q.tokens != k.tokens)
        return tensorError(ErrorCode::Shape, loc->k.name,
                           std::to_string(k.tokens) + " tokens, but '" + loc->q.name + "' has " +
                               std::to_string(q.tokens));
    if (q.dim != k.dim)
        return tensorError(ErrorCode::Shape, loc->k.name,
                           "head dim " + std::to_string(k.dim) + ", but '" + loc->q.name + "' has " +
                               std::to_string(q.dim));
    if (q.heads % k.heads != 0)
        return tensorError(ErrorCode::Shape, loc->q.name,
                           std::to_string(q.heads) + " query heads is not a multiple of the " +
                               std::to_string(k.heads) + " kv heads of '" + loc->k.name + "'");
    return Status::success();
}

// A layer's drift: one value per token, float.
Status CaptureImpl::checkDrift(const TensorLoc& t, Index tokens) const {
    const bool shapeOk = (t.shape.size() == 1 && t.shape[0] == tokens) ||
                         (t.shape.size() == 2 && t.shape[0] == 1 && t.shape[1] == tokens);
    if (!shapeOk)
        return tensorError(ErrorCode::Shape, t.name,
                           "shape " + shapeText(t.shape) + ", expected [" + std::to_string(tokens) +
                               "] (one value per token)");
    if (!isFloatDtype(t.dtype) && t.dtype != DType::F64)
        return tensorError(ErrorCode::Unsupported, t.name,
                           "unsupported dtype '" + t.dtypeText + "' (expected F32)");
    return Status::success();
}

// Every layer: checked alone (checkLayer), then against the first (all share heads, tokens, head dim);
// drift is usable only when every layer has it.
Status CaptureImpl::checkLayers(const std::map<int, std::map<std::string, const TensorLoc*>>& byLayer,
                                std::vector<std::string>& warnings) {
    Dims ref;
    std::string refName;
    std::set<DType> dtypes;
    std::size_t driftCount = 0;
    for (const auto& [id, parts] : byLayer) {
        LayerLoc loc;
        Dims q, k;
        if (Status s = checkLayer(id, parts, &loc, &q, &k); !s.ok()) return s;
        if (refName.empty()) {
            ref = {q.heads, q.tokens, q.dim};
            info.kvHeads = k.heads;
            refName = loc.q.name;
        } else if (q.heads != ref.heads || q.tokens != ref.tokens || q.dim != ref.dim ||
                   k.heads != info.kvHeads) {
            return tensorError(ErrorCode::Shape, loc.q.name,
                               "shape " + shapeText(loc.q.shape) + " (kv heads " + std::to_string(k.heads) +
                                   ") differs from '" + refName + "' " + shapeText(layers.front().q.shape) +
                                   " (kv heads " + std::to_string(info.kvHeads) +
                                   "): all layers must share heads, tokens and head dim");
        }
        dtypes.insert(loc.q.dtype);
        dtypes.insert(loc.k.dtype);
        dtypes.insert(loc.v.dtype);
        if (auto d = parts.find("drift"); d != parts.end()) {
            if (Status s = checkDrift(*d->second, q.tokens); !s.ok()) return s;
            loc.drift = *d->second;
            ++driftCount;
        }
        layers.push_back(std::move(loc));
        info.layerIds.push_back(id);
    }
    info.layers = int(layers.size());
    info.qHeads = ref.heads;
    info.tokens = ref.tokens;
    info.headDim = ref.dim;
    info.dtype = layers.front().q.dtype;
    if (dtypes.size() > 1)
        warnings.push_back(path() + ": q/k/v tensors mix dtypes; reporting " + dtypeName(info.dtype) +
                           " (every tensor is converted to fp32 anyway)");
    info.hasDrift = driftCount == layers.size();
    if (driftCount > 0 && !info.hasDrift)
        warnings.push_back(path() + ": only " + std::to_string(driftCount) + " of " +
                           std::to_string(layers.size()) +
                           " layers have drift; drift-based layer planning is not available");

    return Status::success();
}

// Model depth: num_layers when given (must cover every id), else max id + 1. Gaps are a partial capture.
Status CaptureImpl::readModelDepth(const std::map<std::string, std::string>& metadata,
                                   std::vector<std::string>& warnings) {
    const int maxId = info.layerIds.back();
    info.modelLayers = maxId + 1;
    if (auto it = metadata.find("num_layers"); it != metadata.end()) {
        const std::string& s = it->second;
        int n = 0;
        bool ok = !s.empty() && s.size() <= 7;
        for (char c : s) {
            if (c < '0' || c > '9')
                ok = false;
            else
                n = n * 10 + (c - '0');
        }
        if (!ok || n <= 0)
            return fileError(ErrorCode::Format, "metadata num_layers '" + s + "' is not a positive integer");
        if (maxId >= n)
            return fileError(ErrorCode::Format, "tensor '" + fullName(maxId, "q") + "': layer id " +
                                                    std::to_string(maxId) +
                                                    " is out of range for num_layers " + std::to_string(n));
        info.modelLayers = n;
    } else if (info.layers != info.modelLayers) {
        std::vector<int> missing;
        for (int id = 0, i = 0; id <= maxId && missing.size() < 16; ++id) {
            if (i < info.layers && info.layerIds[std::size_t(i)] == id)
                ++i;
            else
                missing.push_back(id);
        }
        warnings.push_back(
            path() + ": layer ids have gaps (missing " + joinIds(missing) +
            (missing.size() == 16 ? ", ..." : "") + "); read as a partial capture of a model of at least " +
            std::to_string(info.modelLayers) + " layers (set metadata num_layers to say how many)");
    }

    return Status::success();
}

// The optional token ids (I32 [L]) and token strings (metadata, a JSON list of L strings).
Status CaptureImpl::readTokens(const std::map<std::string, std::string>& metadata,
                               std::vector<std::string>& warnings) {
    if (tokens) {
        const TensorLoc& t = *tokens;
        const bool shapeOk = (t.shape.size() == 1 && t.shape[0] == info.tokens) ||
                             (t.shape.size() == 2 && t.shape[0] == 1 && t.shape[1] == info.tokens);
        if (!shapeOk)
            return tensorError(ErrorCode::Shape, t.name,
                               "shape " + shapeText(t.shape) + ", expected [" + std::to_string(info.tokens) +
                                   "] (one id per token)");
        if (t.dtype != DType::I32 && t.dtype != DType::I64)
            return tensorError(ErrorCode::Unsupported, t.name,
                               "unsupported dtype '" + t.dtypeText + "' (expected I32)");
        info.hasTokenIds = true;
    }
    if (auto it = metadata.find("token_strings"); it != metadata.end()) {
        nlohmann::json j = nlohmann::json::parse(it->second, nullptr, false);
        bool ok = !j.is_discarded() && j.is_array() && Index(j.size()) == info.tokens;
        if (ok)
            for (const auto& e : j)
                ok = ok && e.is_string();
        if (ok) {
            for (const auto& e : j)
                tokenStrings.push_back(e.get<std::string>());
            info.hasTokenStrings = true;
        } else {
            warnings.push_back(path() + ": metadata token_strings ignored: not a JSON list of " +
                               std::to_string(info.tokens) + " strings");
        }
    }
    return Status::success();
}

// Converts one q/k/v tensor into [heads, tokens, dim] fp32, row by row (LHD transposed on the way),
// counting and optionally replacing non-finite values.
Status CaptureImpl::convertQkv(const TensorLoc& t, int layerId, Tensor3* out,
                               std::vector<NonFiniteReport>* found) const {
    const bool lhd = info.layout == "LHD";
    const std::size_t n = t.shape.size();
    const Index a = t.shape[n - 3], b = t.shape[n - 2], dim = t.shape[n - 1];
    const Index heads = lhd ? b : a, tokens = lhd ? a : b;
    *out = Tensor3::uninitialised(heads, tokens, dim); // the stream below writes every element
    const std::size_t elem = dtypeSize(t.dtype);
    const std::size_t rowBytes = std::size_t(dim) * elem;
    const std::size_t chunk = std::max<std::size_t>(1, kChunkBytes / rowBytes) * rowBytes;
    Index row = 0; // row index in file order
    Index nan = 0, inf = 0;
    const bool replace = options.replaceNonFinite;
    // Non-finite values are rare: a branch-free count of all-ones exponents (vectorised) decides whether
    // the slower pass that tells NaN from Inf and replaces them is needed at all.
    auto scan = [&](float* dst, std::size_t n) {
        std::size_t special = 0;
        for (std::size_t i = 0; i < n; ++i) {
            std::uint32_t bits;
            std::memcpy(&bits, dst + i, 4);
            special += (bits & 0x7F800000u) == 0x7F800000u;
        }
        if (special == 0) [[likely]]
            return;
        for (std::size_t i = 0; i < n; ++i) {
            if (std::isfinite(dst[i])) continue;
            if (std::isnan(dst[i]))
                ++nan;
            else
                ++inf;
            if (replace) dst[i] = 0.0f;
        }
    };
    Status s = streamTensor(t, chunk, [&](const unsigned char* bytes, std::size_t count) -> Status {
        if (count % rowBytes != 0)
            return tensorError(ErrorCode::Format, t.name, "data does not split into rows");
        const std::size_t rows = count / rowBytes;
        if (!lhd) { // file order is the output order: one conversion per chunk
            float* dst = out->data.data() + row * dim;
            convertToFloat(bytes, t.dtype, rows * std::size_t(dim), dst);
            scan(dst, rows * std::size_t(dim));
            row += Index(rows);
            return Status::success();
        }
        for (std::size_t r = 0; r < rows; ++r, ++row) {
            // File row r is (l, h) in LHD; the output wants (h, l).
            float* dst = out->row(row % heads, row / heads);
            convertToFloat(bytes + r * rowBytes, t.dtype, std::size_t(dim), dst);
            scan(dst, std::size_t(dim));
        }
        return Status::success();
    });
    if (!s.ok()) return s;
    if (nan + inf > 0) {
        const auto dot = t.name.rfind('.');
        found->push_back({layerId, dot == std::string::npos ? t.name : t.name.substr(dot + 1), nan, inf});
    }
    return Status::success();
}

CaptureImpl::Loaded CaptureImpl::convertLayer(int index, std::vector<NonFiniteReport>* found) const {
    const LayerLoc& loc = layers[std::size_t(index)];
    Loaded r;
    try {
        auto layer = std::make_shared<LayerQkv>();
        for (auto [t, dst] : {std::pair{&loc.q, &layer->q}, {&loc.k, &layer->k}, {&loc.v, &layer->v}}) {
            if (Status s = convertQkv(*t, loc.id, dst, found); !s.ok()) {
                r.status = s;
                return r;
            }
        }
        r.layer = std::move(layer);
    } catch (const std::bad_alloc&) {
        r.status = fileError(ErrorCode::Io,
                             "layer " + std::to_string(loc.id) + ": out of memory converting it to fp32");
    } catch (const std::exception& e) {
        r.status = fileError(ErrorCode::Io, "layer " + std::to_string(loc.id) + ": " + e.what());
    }
    return r;
}

Result<std::shared_ptr<const LayerQkv>> CaptureImpl::layer(int index) {
    auto finish = [&](const Loaded& l) -> Result<std::shared_ptr<const LayerQkv>> {
        if (!l.status.ok()) return l.status;
        Result<std::shared_ptr<const LayerQkv>> r(l.layer);
        std::lock_guard<std::mutex> lock(mutex);
        if (auto w = layerWarnings.find(index); w != layerWarnings.end()) r.warnings = w->second;
        return r;
    };
    std::shared_future<Loaded> pending;
    std::promise<Loaded> promise;
    {
        std::lock_guard<std::mutex> lock(mutex);
        if (auto layer = cache.get(index)) {
            Result<std::shared_ptr<const LayerQkv>> r(layer);
            if (auto w = layerWarnings.find(index); w != layerWarnings.end()) r.warnings = w->second;
            return r;
        }
        if (auto it = inflight.find(index); it != inflight.end()) {
            pending = it->second;
        } else {
            inflight[index] = promise.get_future().share();
        }
    }
    if (pending.valid()) return finish(pending.get()); // another thread is converting this layer

    std::vector<NonFiniteReport> found;
    Loaded loaded = convertLayer(index, &found); // without the lock: other layers convert in parallel
    {
        std::lock_guard<std::mutex> lock(mutex);
        inflight.erase(index);
        if (loaded.status.ok()) {
            std::vector<std::string> warnings;
            for (const NonFiniteReport& f : found) {
                reports[{f.layer, f.tensor}] = f;
                warnings.push_back(path() + ": layer " + std::to_string(f.layer) + " tensor " + f.tensor +
                                   ": " + std::to_string(f.nanCount) + " NaN and " +
                                   std::to_string(f.infCount) + " Inf values" +
                                   (options.replaceNonFinite ? " replaced by 0" : " left in place"));
            }
            layerWarnings[index] = std::move(warnings);
            const std::size_t bytes = loaded.layer->bytes();
            // Evicted layers stay alive for callers still holding their shared_ptr.
            if (cache.fits(bytes)) cache.put(index, loaded.layer, bytes);
        }
    }
    promise.set_value(loaded);
    return finish(loaded);
}

Status CaptureImpl::readFloats(const TensorLoc& t, std::vector<float>* out) const {
    out->assign(std::size_t(t.elements), 0.0f);
    std::size_t at = 0;
    const std::size_t elem = dtypeSize(t.dtype);
    return streamTensor(t, kChunkBytes / elem * elem, [&](const unsigned char* b, std::size_t n) {
        convertToFloat(b, t.dtype, n / elem, out->data() + at);
        at += n / elem;
        return Status::success();
    });
}

Capture::Capture(std::unique_ptr<CaptureImpl> impl) : m_impl(std::move(impl)) {}
Capture::~Capture() = default;

namespace {

Result<std::shared_ptr<Capture>> openSource(std::shared_ptr<const ByteSource> src,
                                            const CaptureOptions& options, std::unique_ptr<CaptureImpl> impl,
                                            std::shared_ptr<Capture> (*make)(std::unique_ptr<CaptureImpl>)) {
    impl->bytes = std::move(src);
    impl->options = options;
    impl->cache.setBudget(options.cacheBytes);
    impl->info.path = impl->bytes->name();
    Result<std::shared_ptr<Capture>> result(Status::error(ErrorCode::Format, "unset"));
    Status s;
    try {
        s = impl->load(result);
    } catch (const std::bad_alloc&) {
        s = Status::error(ErrorCode::Io, impl->info.path + ": out of memory reading the header");
    }
    if (!s.ok()) {
        Result<std::shared_ptr<Capture>> failed(s);
        failed.warnings = std::move(result.warnings);
        return failed;
    }
    Result<std::shared_ptr<Capture>> ok(make(std::move(impl)));
    ok.warnings = std::move(result.warnings);
    return ok;
}

} // namespace

Result<std::shared_ptr<Capture>> Capture::open(const std::string& path, const CaptureOptions& options) {
    auto file = MappedFile::open(path);
    if (!file.ok()) return file.status();
    return openSource(*file, options, std::make_unique<CaptureImpl>(), [](std::unique_ptr<CaptureImpl> i) {
        return std::shared_ptr<Capture>(new Capture(std::move(i)));
    });
}

Result<std::shared_ptr<Capture>> Capture::openBuffer(std::vector<unsigned char> bytes,
                                                     const std::string& name, const CaptureOptions& options) {
    return openSource(
        std::make_shared<BufferSource>(name, std::move(bytes)), options, std::make_unique<CaptureImpl>(),
        [](std::unique_ptr<CaptureImpl> i) { return std::shared_ptr<Capture>(new Capture(std::move(i))); });
}

const CaptureInfo& Capture::info() const {
    return m_impl->info;
}

int Capture::indexOfLayerId(int layerId) const {
    const auto& ids = m_impl->info.layerIds;
    auto it = std::lower_bound(ids.begin(), ids.end(), layerId);
    return it != ids.end() && *it == layerId ? int(it - ids.begin()) : -1;
}

Result<std::shared_ptr<const LayerQkv>> Capture::layer(int index) const {
    if (index < 0 || index >= m_impl->info.layers)
        return Status::error(ErrorCode::InvalidArgument,
                             m_impl->path() + ": layer index " + std::to_string(index) +
                                 " out of range (the file has " + std::to_string(m_impl->info.layers) +
                                 " layers)");
    return m_impl->layer(index);
}

std::optional<std::vector<float>> Capture::drift(int index) const {
    if (index < 0 || index >= m_impl->info.layers) return std::nullopt;
    const auto& loc = m_impl->layers[std::size_t(index)];
    if (!loc.drift) return std::nullopt;
    std::vector<float> out;
    try {
        if (!m_impl->readFloats(*loc.drift, &out).ok()) return std::nullopt;
    } catch (const std::bad_alloc&) {
        return std::nullopt;
    }
    return out;
}

std::vector<double> Capture::layerDrift() const {
    std::call_once(m_impl->driftOnce, [&] {
        if (!m_impl->info.hasDrift) return;
        std::vector<double> means;
        for (int i = 0; i < m_impl->info.layers; ++i) {
            auto d = drift(i);
            if (!d) return; // unreadable drift: report none rather than a partial list
            double sum = 0;
            Index n = 0;
            for (float x : *d)
                if (std::isfinite(x)) sum += x, ++n;
            means.push_back(n > 0 ? sum / double(n) : 0.0);
        }
        m_impl->layerDrift = std::move(means);
    });
    return m_impl->layerDrift;
}

const std::vector<std::int32_t>& Capture::tokenIds() const {
    std::call_once(m_impl->tokensOnce, [&] {
        if (!m_impl->tokens) return;
        const TensorLoc& t = *m_impl->tokens;
        std::vector<std::int32_t> ids;
        ids.reserve(std::size_t(t.elements));
        bool ok = true;
        Status s = m_impl->streamTensor(t, kChunkBytes, [&](const unsigned char* b, std::size_t n) {
            if (t.dtype == DType::I32) {
                for (std::size_t i = 0; i + 4 <= n; i += 4) {
                    std::int32_t v;
                    std::memcpy(&v, b + i, 4);
                    ids.push_back(v);
                }
            } else {
                for (std::size_t i = 0; i + 8 <= n; i += 8) {
                    std::int64_t v;
                    std::memcpy(&v, b + i, 8);
                    if (v < INT32_MIN || v > INT32_MAX) ok = false;
                    ids.push_back(std::int32_t(v));
                }
            }
            return Status::success();
        });
        if (s.ok() && ok) m_impl->tokenIds = std::move(ids);
    });
    return m_impl->tokenIds;
}

const std::vector<std::string>& Capture::tokenStrings() const {
    return m_impl->tokenStrings;
}

std::vector<NonFiniteReport> Capture::nonFiniteReports() const {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    std::vector<NonFiniteReport> out;
    for (const auto& [key, r] : m_impl->reports)
        out.push_back(r);
    return out;
}

void Capture::setCacheBytes(std::size_t bytes) {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    m_impl->options.cacheBytes = bytes;
    m_impl->cache.setBudget(bytes);
}

std::size_t Capture::cachedBytes() const {
    std::lock_guard<std::mutex> lock(m_impl->mutex);
    return m_impl->cache.bytes();
}

} // namespace tsa
