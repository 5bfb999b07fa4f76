// Effect file reader: parses the safetensors header, the `effect` JSON (taus, runs, per-layer arrays,
// needle cases) and validates each kept / kept_dense pair [Hq, n] (I32, ascending, inside [0, L)) while
// reducing it to per-head Jaccard overlaps by one sorted merge per head. Cost: O(runs x sparse layers x
// Hq x n) integer reads over the memory-mapped file; no index set is kept after its layer is checked.
#include "core/io/effect.h"

#include "core/analysis/metrics.h"
#include "core/io/mapped_file.h"
#include "core/io/safetensors_reader.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

namespace tsa {

namespace {

using nlohmann::json;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
// Computed and written overlaps / fractions may differ by float rounding in the writer; beyond this the
// file contradicts itself and the user is told.
constexpr double kAgreementTolerance = 1e-3;
constexpr std::size_t kMaxIgnoredShown = 8;

// A validation failure inside the JSON walk; turned into a Status naming the file at the top.
struct EffectError {
    ErrorCode code;
    std::string message;
};

[[noreturn]] void fail(const std::string& what, ErrorCode code = ErrorCode::Format) {
    throw EffectError{code, what};
}

// Number at key of object o; null and absent give NaN (the format allows null where not applicable),
// anything else that is not a number is an error naming the key.
double number(const json& o, const char* key, const std::string& where) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return kNaN;
    if (!it->is_number()) fail(where + "'" + key + "' is not a number");
    return it->get<double>();
}

double requiredNumber(const json& o, const char* key, const std::string& where) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) fail(where + "missing '" + key + "'");
    return number(o, key, where);
}

std::string text(const json& o, const char* key) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return {};
    return it->is_string() ? it->get<std::string>() : it->dump();
}

Index integer(const json& o, const char* key, const std::string& where, Index fallback = 0) {
    const double v = number(o, key, where);
    if (std::isnan(v)) return fallback;
    if (v < 0 || v != std::floor(v) || v > 1e15)
        fail(where + "'" + key + "' must be a non-negative integer, not " + o.at(key).dump());
    return Index(v);
}

const json& object(const json& o, const char* key, const std::string& where) {
    static const json empty = json::object();
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return empty;
    if (!it->is_object()) fail(where + "'" + key + "' is not an object");
    return *it;
}

// Per-layer array of numbers-or-null of length numLayers; empty when absent.
std::vector<double> layerArray(const json& o, const char* key, int numLayers, const std::string& where) {
    auto it = o.find(key);
    if (it == o.end() || it->is_null()) return {};
    if (!it->is_array()) fail(where + "'" + key + "' is not an array");
    if (int(it->size()) != numLayers)
        fail(where + "'" + key + "' has " + std::to_string(it->size()) +
                 " entries, expected one per layer (" + std::to_string(numLayers) + ", num_layers)",
             ErrorCode::Shape);
    std::vector<double> out;
    for (std::size_t i = 0; i < it->size(); ++i) {
        const json& v = (*it)[i];
        if (v.is_null())
            out.push_back(kNaN);
        else if (v.is_number())
            out.push_back(v.get<double>());
        else
            fail(where + "'" + key + "'[" + std::to_string(i) + "] is not a number");
    }
    return out;
}

std::string fmtNumber(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", v);
    return buf;
}

// "runs.3.layers.12.kept" -> (3, 12, false); "...kept_dense" -> dense true. Plain decimal ids only.
bool splitKeptName(const std::string& name, int* run, int* layer, bool* dense) {
    auto readId = [](const std::string& s, std::size_t& pos, int* out) {
        std::size_t end = pos;
        while (end < s.size() && s[end] >= '0' && s[end] <= '9')
            ++end;
        if (end == pos || end - pos > 7 || (s[pos] == '0' && end - pos > 1)) return false;
        *out = std::stoi(s.substr(pos, end - pos));
        pos = end;
        return true;
    };
    if (name.rfind("runs.", 0) != 0) return false;
    std::size_t pos = 5;
    if (!readId(name, pos, run)) return false;
    if (name.compare(pos, 8, ".layers.") != 0) return false;
    pos += 8;
    if (!readId(name, pos, layer)) return false;
    const std::string rest = name.substr(pos);
    if (rest == ".kept") {
        *dense = false;
        return true;
    }
    if (rest == ".kept_dense") {
        *dense = true;
        return true;
    }
    return false;
}

struct KeptPair {
    const SafetensorsEntry* kept = nullptr;
    const SafetensorsEntry* dense = nullptr;
};

// The file is little-endian, as is every host this builds for (x86-64, arm64).
std::vector<std::int32_t> readI32(const SafetensorsEntry& e, const unsigned char* base) {
    std::vector<std::int32_t> out(std::size_t(e.elements));
    if (!out.empty()) std::memcpy(out.data(), base + e.begin, out.size() * 4);
    return out;
}

// Reads one kept tensor after checking its dtype and shape, then checks every row (ascending, inside
// [0, L)) on the copy: one pass over the mapped bytes per tensor.
std::vector<std::int32_t> readKept(const SafetensorsEntry& e, const unsigned char* base, Index qHeads,
                                   Index tokens, const std::string& pre) {
    if (e.dtypeName != "I32") fail(pre + "dtype " + e.dtypeName + ", expected I32", ErrorCode::Unsupported);
    if (e.shape.size() != 2)
        fail(pre + "shape " + shapeText(e.shape) + ", expected [Hq, n]", ErrorCode::Shape);
    if (qHeads > 0 && e.shape[0] != qHeads)
        fail(pre + "shape " + shapeText(e.shape) + ": " + std::to_string(e.shape[0]) +
                 " heads, but q_heads is " + std::to_string(qHeads),
             ErrorCode::Shape);
    if (e.shape[1] > tokens)
        fail(pre + "shape " + shapeText(e.shape) +
                 ": keeps more tokens per head than L = " + std::to_string(tokens),
             ErrorCode::Shape);
    const Index heads = e.shape[0], n = e.shape[1];
    std::vector<std::int32_t> values = readI32(e, base);
    for (Index h = 0; h < heads; ++h) {
        std::int32_t prev = -1;
        for (Index i = 0; i < n; ++i) {
            const std::int32_t v = values[std::size_t(h * n + i)];
            if (v < 0 || Index(v) >= tokens)
                fail(pre + "head " + std::to_string(h) + ": index " + std::to_string(v) + " at position " +
                     std::to_string(i) + " is out of range [0, " + std::to_string(tokens) + ")");
            if (v <= prev)
                fail(pre + "head " + std::to_string(h) + ": indices not sorted ascending (" +
                     std::to_string(prev) + " then " + std::to_string(v) + " at position " +
                     std::to_string(i) + ")");
            prev = v;
        }
    }
    return values;
}

EffectData parse(const SafetensorsHeader& header, const unsigned char* base, const std::string& name,
                 std::vector<std::string>& warnings) {
    EffectData d;
    d.path = name;
    auto fmt = header.metadata.find("format");
    if (fmt == header.metadata.end())
        fail("metadata has no 'format' key: not an effect file (expected format " +
             std::string(kEffectFormat) + ")");
    if (fmt->second != kEffectFormat)
        fail("metadata format '" + fmt->second + "' is not " + kEffectFormat +
                 (fmt->second.rfind("tsa-qkv/", 0) == 0 ? " (this is a capture, not an effect file)" : ""),
             ErrorCode::Unsupported);
    auto meta = header.metadata.find("effect");
    if (meta == header.metadata.end()) fail("metadata has no 'effect' key (the JSON object of the results)");
    json root = json::parse(meta->second, nullptr, false);
    if (root.is_discarded()) fail("metadata 'effect' is not valid JSON");
    if (!root.is_object()) fail("metadata 'effect' is not a JSON object");
    if (auto it = root.find("format"); it != root.end() && (!it->is_string() || *it != kEffectFormat))
        fail("effect JSON 'format' is " + it->dump() + ", expected \"" + kEffectFormat + "\"",
             ErrorCode::Unsupported);

    const std::string top = "effect JSON: ";
    d.model = text(root, "model");
    d.modelType = text(root, "model_type");
    d.device = text(root, "device");
    d.dtype = text(root, "dtype");
    d.transformersVersion = text(root, "transformers");
    d.torchVersion = text(root, "torch");
    const Index numLayers = integer(root, "num_layers", top);
    if (numLayers < 1 || numLayers > 100000) fail(top + "'num_layers' must be a positive integer");
    d.numLayers = int(numLayers);
    d.qHeads = integer(root, "q_heads", top);
    d.kvHeads = integer(root, "kv_heads", top);
    d.headDim = integer(root, "head_dim", top);

    const json& params = object(root, "params", top);
    const std::string pw = top + "params: ";
    d.window = integer(params, "window", pw);
    d.poolKernel = integer(params, "pool_kernel", pw);
    d.minTokens = integer(params, "min_tokens", pw);
    d.sparseLayers = text(params, "sparse_layers");
    d.delta = number(params, "delta", pw);
    if (auto it = params.find("layers"); it != params.end() && !it->is_null()) {
        if (!it->is_array()) fail(pw + "'layers' is not an array");
        for (const json& v : *it) {
            if (!v.is_number_integer() || v.get<std::int64_t>() < 0 || v.get<std::int64_t>() >= numLayers)
                fail(pw + "'layers' entry " + v.dump() + " is not a layer in [0, " +
                     std::to_string(numLayers) + ")");
            d.layers.push_back(v.get<int>());
        }
        std::sort(d.layers.begin(), d.layers.end());
        d.layers.erase(std::unique(d.layers.begin(), d.layers.end()), d.layers.end());
    }

    const json& workload = object(root, "workload", top);
    const std::string ww = top + "workload: ";
    d.workloadKind = text(workload, "kind");
    d.workloadSource = text(workload, "source");
    d.lastN = integer(workload, "last_n", ww);
    const json& selectionCase = object(workload, "selection_case", ww);
    d.selectionLength = integer(selectionCase, "length", ww + "selection_case: ");
    d.selectionDepth = number(selectionCase, "depth", ww + "selection_case: ");

    const json& dense = object(root, "dense", top);
    d.densePpl = number(dense, "ppl", top + "dense: ");
    d.densePrefillMs = number(dense, "prefill_ms", top + "dense: ");

    // taus and runs: one run per tau, in the same order.
    auto taus = root.find("taus");
    if (taus == root.end() || !taus->is_array() || taus->empty())
        fail(top + "'taus' must be a non-empty array");
    for (std::size_t i = 0; i < taus->size(); ++i) {
        const json& t = (*taus)[i];
        if (!t.is_number() || !(t.get<double>() >= 0.0) || !std::isfinite(t.get<double>()))
            fail(top + "'taus'[" + std::to_string(i) + "] is " + t.dump() + ", not a tau >= 0");
        d.taus.push_back(t.get<double>());
    }
    auto runs = root.find("runs");
    if (runs == root.end() || !runs->is_array()) fail(top + "'runs' must be an array (one run per tau)");
    if (runs->size() != d.taus.size())
        fail(top + "'runs' has " + std::to_string(runs->size()) + " entries but 'taus' has " +
                 std::to_string(d.taus.size()) + " (one run per tau, same order)",
             ErrorCode::Shape);

    const std::vector<bool> sparse = [&] {
        std::vector<bool> s(std::size_t(d.numLayers), false);
        for (int l : d.layers)
            s[std::size_t(l)] = true;
        return s;
    }();
    for (std::size_t r = 0; r < runs->size(); ++r) {
        const json& o = (*runs)[r];
        const std::string rw = top + "runs[" + std::to_string(r) + "]: ";
        if (!o.is_object()) fail(rw + "not an object");
        EffectRun run;
        run.tau = requiredNumber(o, "tau", rw);
        if (std::fabs(run.tau - d.taus[r]) > 1e-12 * std::max(1.0, std::fabs(d.taus[r])))
            fail(rw + "tau " + fmtNumber(run.tau) + " does not match taus[" + std::to_string(r) +
                     "] = " + fmtNumber(d.taus[r]) + " (runs must follow the order of taus)",
                 ErrorCode::Shape);
        run.klLast = number(o, "kl_last", rw);
        run.klMean = number(o, "kl_mean", rw);
        run.top1Agreement = number(o, "top1_agreement", rw);
        run.ppl = number(o, "ppl", rw);
        run.meanKeptFraction = number(o, "mean_kept_fraction", rw);
        run.prefillMs = number(o, "prefill_ms", rw);
        const auto kept = layerArray(o, "layer_kept_fraction", d.numLayers, rw);
        const auto jac = layerArray(o, "jaccard_vs_dense", d.numLayers, rw);
        run.layers.resize(std::size_t(d.numLayers));
        for (int l = 0; l < d.numLayers; ++l) {
            EffectLayer& layer = run.layers[std::size_t(l)];
            layer.sparse = sparse[std::size_t(l)];
            layer.keptFraction = kept.empty() ? (layer.sparse ? kNaN : 1.0) : kept[std::size_t(l)];
            layer.jaccardJson = jac.empty() ? kNaN : jac[std::size_t(l)];
            layer.jaccard = kNaN;
        }
        if (auto nd = o.find("needle"); nd != o.end() && !nd->is_null()) {
            if (!nd->is_array()) fail(rw + "'needle' is not an array");
            for (std::size_t i = 0; i < nd->size(); ++i) {
                const json& c = (*nd)[i];
                const std::string cw = rw + "needle[" + std::to_string(i) + "]: ";
                if (!c.is_object()) fail(cw + "not an object");
                EffectNeedle needle;
                needle.length = integer(c, "length", cw);
                needle.depth = requiredNumber(c, "depth", cw);
                needle.answer = text(c, "answer");
                needle.expected = text(c, "expected");
                needle.exact = number(c, "exact", cw);
                needle.overlap = number(c, "overlap", cw);
                run.needle.push_back(std::move(needle));
            }
        }
        d.runs.push_back(std::move(run));
    }

    // Token ids of the selection case fix L, the range every kept index must lie in.
    if (const SafetensorsEntry* t = header.find("tokens")) {
        if (t->dtypeName != "I32" || t->shape.size() != 1)
            fail("tensor 'tokens': " + t->dtypeName + " " + shapeText(t->shape) + ", expected I32 [L]",
                 ErrorCode::Shape);
        d.tokens = readI32(*t, base);
        if (d.selectionLength > 0 && d.selectionLength != Index(d.tokens.size()))
            warnings.push_back(name + ": workload.selection_case.length " +
                               std::to_string(d.selectionLength) + " differs from the " +
                               std::to_string(d.tokens.size()) + " token ids in 'tokens'; using the tensor");
        d.selectionLength = Index(d.tokens.size());
    }
    if (auto it = header.metadata.find("token_strings"); it != header.metadata.end()) {
        json s = json::parse(it->second, nullptr, false);
        if (s.is_array() && std::all_of(s.begin(), s.end(), [](const json& v) { return v.is_string(); }))
            for (const json& v : s)
                d.tokenStrings.push_back(v.get<std::string>());
        else
            warnings.push_back(name + ": metadata 'token_strings' is not a JSON list of strings; ignored");
    }

    // Kept sets: pair kept with kept_dense, validate both, reduce to Jaccard per head.
    std::map<std::pair<int, int>, KeptPair> pairs;
    std::vector<std::string> ignored;
    for (const SafetensorsEntry& e : header.tensors) {
        int run = 0, layer = 0;
        bool isDense = false;
        if (e.name == "tokens") continue;
        if (!splitKeptName(e.name, &run, &layer, &isDense)) {
            ignored.push_back(e.name);
            continue;
        }
        const std::string pre = "tensor '" + e.name + "': ";
        if (run >= int(d.runs.size()))
            fail(pre + "run index " + std::to_string(run) + " is out of range (" +
                     std::to_string(d.runs.size()) + " runs)",
                 ErrorCode::Shape);
        if (layer >= d.numLayers)
            fail(pre + "layer " + std::to_string(layer) + " is out of range (num_layers " +
                     std::to_string(d.numLayers) + ")",
                 ErrorCode::Shape);
        (isDense ? pairs[{run, layer}].dense : pairs[{run, layer}].kept) = &e;
    }
    if (!pairs.empty() && d.selectionLength <= 0)
        fail("the file has kept sets but no 'tokens' tensor and no workload.selection_case.length: L is "
             "unknown",
             ErrorCode::Shape);
    for (const auto& [key, pair] : pairs) {
        const auto [r, l] = key;
        const std::string base_ = "runs." + std::to_string(r) + ".layers." + std::to_string(l);
        if (!pair.kept || !pair.dense)
            fail("tensor '" + base_ + (pair.kept ? ".kept" : ".kept_dense") + "' has no partner '" + base_ +
                     (pair.kept ? ".kept_dense" : ".kept") + "' (both are written together)",
                 ErrorCode::Shape);
        const auto a =
            readKept(*pair.kept, base, d.qHeads, d.selectionLength, "tensor '" + pair.kept->name + "': ");
        const auto b =
            readKept(*pair.dense, base, d.qHeads, d.selectionLength, "tensor '" + pair.dense->name + "': ");
        if (pair.kept->shape != pair.dense->shape)
            fail("tensors '" + pair.kept->name + "' " + shapeText(pair.kept->shape) + " and '" +
                     pair.dense->name + "' " + shapeText(pair.dense->shape) +
                     " differ in shape (same heads and n expected)",
                 ErrorCode::Shape);
        EffectLayer& layer = d.runs[std::size_t(r)].layers[std::size_t(l)];
        const Index heads = pair.kept->shape[0], n = pair.kept->shape[1];
        layer.hasKeptSets = true;
        layer.capacity = n;
        layer.headJaccard.resize(std::size_t(heads));
        double sum = 0;
        for (Index h = 0; h < heads; ++h) {
            const double j = jaccard(a.data() + h * n, n, b.data() + h * n, n); // core/analysis/metrics.h
            layer.headJaccard[std::size_t(h)] = j;
            sum += j;
        }
        layer.jaccard = heads > 0 ? sum / double(heads) : kNaN;
        if (!layer.sparse)
            warnings.push_back(name + ": layer " + std::to_string(l) + " has kept sets in run " +
                               std::to_string(r) + " but is not in params.layers");
        if (!std::isnan(layer.jaccardJson) &&
            std::fabs(layer.jaccardJson - layer.jaccard) > kAgreementTolerance)
            warnings.push_back(name + ": runs[" + std::to_string(r) + "].jaccard_vs_dense[" +
                               std::to_string(l) + "] = " + fmtNumber(layer.jaccardJson) +
                               " but the kept sets give " + fmtNumber(layer.jaccard));
        const double fraction = double(n) / double(d.selectionLength);
        if (!std::isnan(layer.keptFraction) && std::fabs(layer.keptFraction - fraction) > kAgreementTolerance)
            warnings.push_back(name + ": runs[" + std::to_string(r) + "].layer_kept_fraction[" +
                               std::to_string(l) + "] = " + fmtNumber(layer.keptFraction) + " but '" +
                               pair.kept->name + "' keeps " + std::to_string(n) + " of " +
                               std::to_string(d.selectionLength) + " tokens (" + fmtNumber(fraction) + ")");
        if (std::isnan(layer.keptFraction)) layer.keptFraction = fraction;
    }
    if (!ignored.empty()) {
        std::string list;
        for (std::size_t i = 0; i < ignored.size() && i < kMaxIgnoredShown; ++i)
            list += (i ? ", " : "") + ignored[i];
        if (ignored.size() > kMaxIgnoredShown)
            list += ", ... (" + std::to_string(ignored.size()) + " in all)";
        warnings.push_back(name + ": ignored tensors that are not part of the effect format: " + list);
    }
    return d;
}

} // namespace

double EffectLayer::bestJaccard() const {
    return std::isnan(jaccard) ? jaccardJson : jaccard;
}

double EffectRun::needleOverlap() const {
    double sum = 0;
    int n = 0;
    for (const EffectNeedle& c : needle)
        if (!std::isnan(c.overlap)) {
            sum += c.overlap;
            ++n;
        }
    return n ? sum / n : kNaN;
}

double EffectRun::needleExact() const {
    double sum = 0;
    int n = 0;
    for (const EffectNeedle& c : needle)
        if (!std::isnan(c.exact)) {
            sum += c.exact;
            ++n;
        }
    return n ? sum / n : kNaN;
}

bool EffectData::hasKeptSets() const {
    for (const EffectRun& r : runs)
        for (const EffectLayer& l : r.layers)
            if (l.hasKeptSets) return true;
    return false;
}

bool EffectData::hasNeedle() const {
    return std::any_of(runs.begin(), runs.end(), [](const EffectRun& r) { return !r.needle.empty(); });
}

bool EffectData::hasPerplexity() const {
    return std::any_of(runs.begin(), runs.end(), [](const EffectRun& r) { return std::isfinite(r.ppl); });
}

double EffectData::maxJaccardDifference() const {
    double worst = 0;
    for (const EffectRun& r : runs)
        for (const EffectLayer& l : r.layers)
            if (!std::isnan(l.jaccard) && !std::isnan(l.jaccardJson))
                worst = std::max(worst, std::fabs(l.jaccard - l.jaccardJson));
    return worst;
}

int EffectData::runNearestTau(double tau) const {
    int best = -1;
    double bestDistance = std::numeric_limits<double>::infinity();
    for (int i = 0; i < int(runs.size()); ++i) {
        const double t = runs[std::size_t(i)].tau;
        // tau 0 is "dense": only an exact 0 matches it; positive taus compare on a log scale.
        const double distance = (t <= 0 || tau <= 0) ? (t == tau ? 0.0 : 1e9 + std::fabs(t - tau))
                                                     : std::fabs(std::log(t) - std::log(tau));
        if (distance < bestDistance) {
            bestDistance = distance;
            best = i;
        }
    }
    return best;
}

NeedleGrid needleGrid(const EffectRun& run, bool exact) {
    NeedleGrid g;
    for (const EffectNeedle& c : run.needle) {
        g.lengths.push_back(c.length);
        g.depths.push_back(c.depth);
    }
    std::sort(g.lengths.begin(), g.lengths.end());
    g.lengths.erase(std::unique(g.lengths.begin(), g.lengths.end()), g.lengths.end());
    std::sort(g.depths.begin(), g.depths.end());
    g.depths.erase(std::unique(g.depths.begin(), g.depths.end()), g.depths.end());
    std::vector<double> sum(g.lengths.size() * g.depths.size(), 0.0);
    std::vector<int> count(sum.size(), 0);
    for (const EffectNeedle& c : run.needle) {
        const double v = exact ? c.exact : c.overlap;
        if (std::isnan(v)) continue;
        const auto li =
            std::size_t(std::lower_bound(g.lengths.begin(), g.lengths.end(), c.length) - g.lengths.begin());
        const auto di =
            std::size_t(std::lower_bound(g.depths.begin(), g.depths.end(), c.depth) - g.depths.begin());
        sum[li * g.depths.size() + di] += v;
        ++count[li * g.depths.size() + di];
    }
    g.values.resize(sum.size());
    for (std::size_t i = 0; i < sum.size(); ++i)
        g.values[i] = count[i] ? sum[i] / count[i] : kNaN;
    return g;
}

Result<EffectData> parseEffect(const unsigned char* data, std::uint64_t size, const std::string& name) {
    auto header = parseSafetensors(data, size, name);
    if (!header.ok()) return header.status();
    std::vector<std::string> warnings;
    try {
        Result<EffectData> result(parse(*header, data, name, warnings));
        result.warnings = std::move(warnings);
        return result;
    } catch (const EffectError& e) {
        return Status::error(e.code, name + ": " + e.message);
    } catch (const json::exception& e) {
        return Status::error(ErrorCode::Format, name + ": effect JSON: " + e.what());
    }
}

Result<EffectData> readEffect(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file.ok()) return file.status();
    return parseEffect((*file)->data(), (*file)->size(), path);
}

bool isEffectFile(const std::string& path) {
    auto file = MappedFile::open(path);
    if (!file.ok()) return false;
    auto header = parseSafetensors((*file)->data(), (*file)->size(), path);
    if (!header.ok()) return false;
    auto it = header->metadata.find("format");
    return it != header->metadata.end() && it->second == kEffectFormat;
}

} // namespace tsa
