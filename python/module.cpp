// tsa_explorer: the TSA Explorer core as a Python module. Every function is a thin wrapper over the same
// core function the explorer and `tsa` call (capture.h, selection.h, pipeline.h, attention.h, metrics.h,
// capture_writer.h), so results are bit-identical to the command line. numpy arrays in and out; the GIL is
// released while core computes; core errors become Python exceptions carrying the core's message.
// docs/python.md documents which calls copy.
#include "core/analysis/metrics.h"
#include "core/io/capture.h"
#include "core/io/capture_writer.h"
#include "core/kernels/attention.h"
#include "core/methods/tsa_pipeline.h"
#include "core/methods/tsa_selection.h"
#include "core/param_rules.h"
#include "python/numpy_interop.h"
#include "python/render.h"

#include <limits>
#include <pybind11/stl.h>

namespace py = pybind11;
using namespace tsa;
using tsa::python::adopt;
using tsa::python::borrowedArray;
using tsa::python::inputTensor;
using tsa::python::raiseStatus;

namespace {

// The shared rules and wording (core/param_rules.h), as in `tsa run` and the explorer.
void checkParams(const TsaParams& p, int threads) {
    if (std::string bad = tsa::tsaParamsProblem(p); !bad.empty()) throw py::value_error(bad);
    if (threads < 0) throw py::value_error("threads must not be negative");
}

std::vector<py::ssize_t> shape3(const ConstView3& v) {
    return {v.heads, v.tokens, v.dim};
}

py::dict distributionDict(const Distribution& d) {
    py::dict out;
    out["median"] = d.median;
    out["p95"] = d.p95;
    out["max"] = d.max;
    out["mean"] = d.mean;
    out["count"] = d.count;
    return out;
}

py::dict headMetricsDict(const HeadMetrics& m) {
    py::dict out;
    out["kept_fraction"] = m.keptFraction;
    out["row_error"] = distributionDict(m.rowError);
    out["last_window_error"] = m.lastWindowError;
    out["retained_mass"] = distributionDict(m.retainedMass);
    out["dropped_rows"] = m.droppedRows;
    return out;
}

std::shared_ptr<LayerScores> score(const LayerQkvView& qkv, Index window, Index poolKernel, int threads) {
    TsaParams params;
    params.window = window;
    params.poolKernel = poolKernel;
    checkParams(params, threads);
    ScoringConfig config;
    config.window = window;
    config.poolKernel = poolKernel;
    config.threads = threads;
    config.rankHeads = true; // later select_tokens calls cost O(P) per head, as in the explorer
    Result<LayerScores> r = Status::error(ErrorCode::InvalidArgument, "unset");
    {
        py::gil_scoped_release release;
        r = scoreLayer(qkv, config);
    }
    if (!r.ok()) raiseStatus(r.status());
    return std::make_shared<LayerScores>(std::move(r.value()));
}

} // namespace

PYBIND11_MODULE(tsa_explorer, m) {
    m.doc() =
        R"(TSA Explorer's core from Python: open and write Q/K/V captures, score and select tokens with Token
Sparse Attention (Jo et al. 2026), run a layer with its error metrics, and render the explorer's views.

Arrays are numpy, [heads, tokens, dim], float32 (float16/float64 are converted; uint16 is read as
bfloat16 bits). See docs/python.md.)";
    m.attr("__version__") = TSA_VERSION;

    // --- captures ---------------------------------------------------------------------------------------
    py::class_<Capture, std::shared_ptr<Capture>>(m, "Capture",
                                                  R"(An open Q/K/V capture (safetensors or .npz).

Opening reads and validates the header only; layer(i) converts one layer to float32 on demand and keeps
it in a bounded cache. Layers are numbered by position (0 .. layers-1); layer_ids gives the model layer
index of each.)")
        .def_property_readonly("path", [](const Capture& c) { return c.info().path; })
        .def_property_readonly(
            "layers", [](const Capture& c) { return c.info().layers; }, "number of layers in the file")
        .def_property_readonly(
            "layer_ids", [](const Capture& c) { return c.info().layerIds; },
            "model layer index of each layer in the file, ascending")
        .def_property_readonly("model_layers", [](const Capture& c) { return c.info().modelLayers; })
        .def_property_readonly("q_heads", [](const Capture& c) { return c.info().qHeads; })
        .def_property_readonly("kv_heads", [](const Capture& c) { return c.info().kvHeads; })
        .def_property_readonly(
            "tokens", [](const Capture& c) { return c.info().tokens; }, "number of tokens L")
        .def_property_readonly("head_dim", [](const Capture& c) { return c.info().headDim; })
        .def_property_readonly(
            "dtype", [](const Capture& c) { return std::string(dtypeName(c.info().dtype)); },
            "stored dtype of q/k/v: F32, F16 or BF16")
        .def_property_readonly("model", [](const Capture& c) { return c.info().model; })
        .def_property_readonly("metadata", [](const Capture& c) { return c.info().metadata; })
        .def_property_readonly("has_drift", [](const Capture& c) { return c.info().hasDrift; })
        .def_property_readonly(
            "token_ids",
            [](const Capture& c) {
                std::vector<std::int32_t> ids = c.tokenIds();
                const py::ssize_t n = py::ssize_t(ids.size());
                return adopt(std::move(ids), {n});
            },
            "token ids as an int32 array (a copy; empty when the file has none)")
        .def_property_readonly(
            "token_strings", [](const Capture& c) { return c.tokenStrings(); },
            "decoded tokens (empty when the file has none)")
        .def(
            "layer",
            [](const std::shared_ptr<Capture>& c, int index) {
                const int n = c->info().layers;
                if (index < 0) index += n;
                if (index < 0 || index >= n)
                    throw py::index_error("layer " + std::to_string(index) + " is out of range (" +
                                          c->info().path + " has " + std::to_string(n) + " layers)");
                Result<std::shared_ptr<const LayerQkv>> r =
                    Status::error(ErrorCode::InvalidArgument, "unset");
                {
                    py::gil_scoped_release release;
                    r = c->layer(index);
                }
                if (!r.ok()) raiseStatus(r.status());
                tsa::python::warnAll(r.warnings);
                // The arrays share the cached layer: no copy, read-only, alive as long as any array is.
                auto* keep = new std::shared_ptr<const LayerQkv>(r.value());
                py::capsule owner(keep,
                                  [](void* p) { delete static_cast<std::shared_ptr<const LayerQkv>*>(p); });
                const LayerQkv& l = **keep;
                return py::make_tuple(borrowedArray(l.q.data.data(), shape3(l.q.cview()), owner),
                                      borrowedArray(l.k.data.data(), shape3(l.k.cview()), owner),
                                      borrowedArray(l.v.data.data(), shape3(l.v.cview()), owner));
            },
            py::arg("index"),
            R"((q, k, v) of the layer at this position as read-only float32 arrays, q [Hq, L, D], k and v
[Hkv, L, D]. No copy: they view the capture's converted layer (non-finite values were replaced by 0
with a RuntimeWarning).)")
        .def(
            "drift",
            [](const Capture& c, int index) -> py::object {
                const int n = c.info().layers;
                if (index < 0) index += n;
                if (index < 0 || index >= n)
                    throw py::index_error("layer " + std::to_string(index) + " is out of range (" +
                                          c.info().path + " has " + std::to_string(n) + " layers)");
                auto d = c.drift(index);
                if (!d) return py::none();
                const py::ssize_t length = py::ssize_t(d->size());
                return adopt(std::move(*d), {length});
            },
            py::arg("index"), "per-token drift [L] of the layer at this position, or None")
        .def("__len__", [](const Capture& c) { return c.info().layers; })
        .def("__repr__", [](const Capture& c) {
            const CaptureInfo& i = c.info();
            return "<tsa_explorer.Capture '" + i.path + "': " + std::to_string(i.layers) + " layers, " +
                   std::to_string(i.qHeads) + "/" + std::to_string(i.kvHeads) + " heads, " +
                   std::to_string(i.tokens) + " tokens, dim " + std::to_string(i.headDim) + ", " +
                   dtypeName(i.dtype) + ">";
        });

    m.def(
        "open_capture",
        [](const py::object& path, std::size_t cacheBytes) {
            CaptureOptions options;
            options.cacheBytes = cacheBytes;
            const std::string p = tsa::python::pathArgument(path);
            Result<std::shared_ptr<Capture>> r = Status::error(ErrorCode::InvalidArgument, "unset");
            {
                py::gil_scoped_release release;
                r = Capture::open(p, options);
            }
            if (!r.ok()) raiseStatus(r.status());
            tsa::python::warnAll(r.warnings);
            return r.value();
        },
        py::arg("path"), py::arg("cache_bytes") = std::size_t(4) << 30,
        R"(Opens a capture (.safetensors or .npz) and validates its header, shapes and offsets without reading
tensor data. Raises OSError (cannot read) or ValueError (malformed), with the same message as `tsa info`.)");

    m.def(
        "write_capture",
        [](const py::object& path, const py::object& layers, const py::object& tokens,
           const py::object& tokenStrings, const py::object& drift, const std::string& model, int numLayers,
           const std::string& dtype, const std::map<std::string, std::string>& metadata) {
            CaptureWriteOptions options;
            options.model = model;
            options.numLayers = numLayers;
            options.metadata = metadata;
            const std::map<std::string, DType> dtypes{{"", DType::Unknown},
                                                      {"float32", DType::F32},
                                                      {"float16", DType::F16},
                                                      {"bfloat16", DType::BF16}};
            auto d = dtypes.find(dtype);
            if (d == dtypes.end()) throw py::value_error("dtype must be 'float32', 'float16' or 'bfloat16'");
            options.dtype = d->second;

            // Layers: a sequence of (q, k, v) (ids 0..n-1) or a mapping {model layer id: (q, k, v)}.
            std::vector<std::pair<int, py::object>> items;
            if (py::isinstance<py::dict>(layers)) {
                for (auto item : layers.cast<py::dict>())
                    items.emplace_back(item.first.cast<int>(),
                                       py::reinterpret_borrow<py::object>(item.second));
            } else {
                int i = 0;
                for (auto item : layers)
                    items.emplace_back(i++, py::reinterpret_borrow<py::object>(item));
            }
            std::vector<py::array> keep; // arrays whose memory the writer reads
            auto raw = [&keep](const py::handle& object, const std::string& name, bool threeD) {
                py::array a = py::array::ensure(object);
                if (!a) throw py::type_error(name + " must be a numpy array");
                if (a.dtype().kind() == 'f' && !a.dtype().is(py::dtype::of<float>()) &&
                    !(a.dtype().itemsize() == 2))
                    a = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(a);
                a = py::array::ensure(a, py::array::c_style);
                RawTensor t;
                if (a.dtype().is(py::dtype::of<float>()))
                    t.dtype = DType::F32;
                else if (a.dtype().is(py::dtype("float16")))
                    t.dtype = DType::F16;
                else if (a.dtype().is(py::dtype::of<std::uint16_t>()))
                    t.dtype = DType::BF16;
                else
                    throw py::type_error(
                        name + " must hold float32, float16, float64 or bfloat16 bits as uint16, not " +
                        std::string(py::str(a.dtype())));
                if (threeD && a.ndim() != 3)
                    throw py::value_error(name + " must be a 3-D [heads, tokens, dim] array");
                t.data = a.data();
                for (py::ssize_t i = 0; i < a.ndim(); ++i)
                    t.shape.push_back(a.shape(i));
                keep.push_back(a);
                return t;
            };
            std::vector<CaptureLayerInput> inputs;
            std::vector<py::object> drifts;
            if (!drift.is_none()) {
                for (auto item : drift)
                    drifts.push_back(py::reinterpret_borrow<py::object>(item));
                if (drifts.size() != items.size())
                    throw py::value_error("drift has " + std::to_string(drifts.size()) + " entries for " +
                                          std::to_string(items.size()) + " layers");
            }
            for (std::size_t i = 0; i < items.size(); ++i) {
                const auto& [id, qkv] = items[i];
                const auto parts = qkv.cast<py::sequence>();
                const std::string p = "layers." + std::to_string(id) + ".";
                if (parts.size() != 3) throw py::value_error(p + ": expected a (q, k, v) tuple");
                CaptureLayerInput in;
                in.id = id;
                in.q = raw(parts[0], p + "q", true);
                in.k = raw(parts[1], p + "k", true);
                in.v = raw(parts[2], p + "v", true);
                if (!drifts.empty() && !drifts[i].is_none()) in.drift = raw(drifts[i], p + "drift", false);
                inputs.push_back(std::move(in));
            }
            if (!tokens.is_none()) {
                auto ids =
                    py::array_t<std::int64_t, py::array::c_style | py::array::forcecast>::ensure(tokens);
                if (!ids || ids.ndim() != 1) throw py::value_error("tokens must be a 1-D array of token ids");
                for (py::ssize_t i = 0; i < ids.size(); ++i)
                    if (ids.data()[i] < 0 || ids.data()[i] > std::numeric_limits<std::int32_t>::max())
                        throw py::value_error("tokens: id " + std::to_string(ids.data()[i]) +
                                              " at position " + std::to_string(i) +
                                              " does not fit the capture's int32 ids");
                options.tokenIds = std::vector<std::int32_t>(ids.data(), ids.data() + ids.size());
            }
            if (!tokenStrings.is_none()) options.tokenStrings = tokenStrings.cast<std::vector<std::string>>();
            const std::string p = tsa::python::pathArgument(path);
            Status st;
            {
                py::gil_scoped_release release;
                st = writeCapture(p, inputs, options);
            }
            if (!st.ok()) raiseStatus(st);
        },
        py::arg("path"), py::arg("layers"), py::kw_only(), py::arg("tokens") = py::none(),
        py::arg("token_strings") = py::none(), py::arg("drift") = py::none(), py::arg("model") = "",
        py::arg("num_layers") = 0, py::arg("dtype") = "",
        py::arg("metadata") = std::map<std::string, std::string>(),
        R"(Writes a capture (tsa-qkv/1 safetensors) atomically with the project's writer: nothing appears at
path unless the whole file was written.

layers: a list of (q, k, v) (layer ids 0, 1, ...) or a dict {model layer id: (q, k, v)}; q [Hq, L, D],
k and v [Hkv, L, D], float32, float16 or bfloat16 bits as uint16 (float64 is converted to float32).
tokens: L token ids; token_strings: L strings; drift: one [L] array (or None) per layer.
dtype: stored dtype 'float32', 'float16' or 'bfloat16' (default: each input's own).
num_layers: layers of the model (default: highest id + 1). Raises ValueError naming the tensor.)");

    // --- scoring and selection ---------------------------------------------------------------------------
    py::class_<LayerScores, std::shared_ptr<LayerScores>>(
        m, "Scores",
        R"(Tau-independent Dynamic Token Coverage scores of one layer (score_layer). P = tokens - window.
Arrays view the object's memory (no copy, read-only).)")
        .def_property_readonly("q_heads", [](const LayerScores& s) { return s.qHeads; })
        .def_property_readonly("tokens", [](const LayerScores& s) { return s.tokens; })
        .def_property_readonly("window", [](const LayerScores& s) { return s.window; })
        .def_property_readonly(
            "prefix", [](const LayerScores& s) { return s.prefix; }, "P = tokens - window")
        .def_property_readonly("pool_kernel", [](const LayerScores& s) { return s.poolKernel; })
        .def_property_readonly(
            "raw",
            [](py::object self) {
                const auto& s = self.cast<const LayerScores&>();
                return borrowedArray(s.raw.data(), {s.qHeads, s.prefix}, self);
            },
            "[Hq, P] mean attention of the window queries on each prefix token")
        .def_property_readonly(
            "smoothed",
            [](py::object self) {
                const auto& s = self.cast<const LayerScores&>();
                return borrowedArray(s.smoothed.data(), {s.qHeads, s.prefix}, self);
            },
            "[Hq, P] raw scores after the k-wide moving average")
        .def_property_readonly(
            "head_norm",
            [](py::object self) {
                const auto& s = self.cast<const LayerScores&>();
                return borrowedArray(s.headNorm.data(), {s.qHeads, s.prefix}, self);
            },
            "[Hq, P] per-head normalised scores (what `tsa run --save` writes as layers.{l}.scores)")
        .def_property_readonly(
            "layer_norm",
            [](py::object self) {
                const auto& s = self.cast<const LayerScores&>();
                return borrowedArray(s.layerNorm.data(), {s.prefix}, self);
            },
            "[P] layer score G, the budget's input");

    m.def(
        "score_layer",
        [](const py::object& q, const py::object& k, Index window, Index poolKernel, int threads) {
            auto qi = inputTensor(q, "q"), ki = inputTensor(k, "k");
            return score({qi.view, ki.view, ki.view}, window, poolKernel, threads);
        },
        py::arg("q"), py::arg("k"), py::arg("window") = 128, py::arg("pool_kernel") = 7, py::kw_only(),
        py::arg("threads") = 0,
        R"(Scores the tokens of one layer (spec section 3): attention of the last `window` queries, smoothed
with a `pool_kernel`-wide moving average, normalised per head and over the layer. q [Hq, L, D],
k [Hkv, L, D]; float32 C-contiguous input is read in place. Returns a Scores object.)");

    py::class_<Selection, std::shared_ptr<Selection>>(m, "Selection",
                                                      "Kept tokens of one layer (select_tokens, run_layer).")
        .def_property_readonly("sparse", [](const Selection& s) { return s.sparse; })
        .def_property_readonly(
            "dense_reason", [](const Selection& s) { return std::string(denseReasonText(s.denseReason)); },
            "why the layer runs dense ('sparse' when it does not)")
        .def_property_readonly("q_heads", [](const Selection& s) { return s.qHeads; })
        .def_property_readonly("tokens", [](const Selection& s) { return s.tokens; })
        .def_property_readonly("window", [](const Selection& s) { return s.window; })
        .def_property_readonly("prefix", [](const Selection& s) { return s.prefix; })
        .def_property_readonly(
            "budget_count", [](const Selection& s) { return s.budgetCount; },
            "n: prefix tokens whose cumulative layer score stays below tau")
        .def_property_readonly(
            "capacity", [](const Selection& s) { return s.capacity; },
            "kept prefix tokens per head, max(min_tokens, P - (n + 1))")
        .def_property_readonly(
            "kept", [](const Selection& s) { return s.kept; },
            "kept tokens per head (capacity + window when sparse, tokens when dense)")
        .def_property_readonly("kept_fraction", &Selection::keptFraction)
        .def_property_readonly(
            "indices",
            [](py::object self) {
                const auto& s = self.cast<const Selection&>();
                const Index cols = s.sparse ? s.kept : 0;
                return borrowedArray(s.indices.data(), {s.qHeads, cols}, self);
            },
            "[Hq, kept] int32 kept positions per head, rows ascending; [Hq, 0] when dense (all kept)")
        .def("__repr__", [](const Selection& s) {
            return "<tsa_explorer.Selection " +
                   (s.sparse ? "sparse, kept " + std::to_string(s.kept) + " of " + std::to_string(s.tokens)
                             : std::string("dense (") + denseReasonText(s.denseReason) + ")") +
                   ">";
        });

    m.def(
        "select_tokens",
        [](const LayerScores& scores, double tau, Index minTokens) {
            TsaParams params;
            params.tau = tau;
            params.window = scores.window;
            params.poolKernel = scores.poolKernel;
            params.minTokens = minTokens;
            checkParams(params, 0);
            auto sel = std::make_shared<Selection>();
            {
                py::gil_scoped_release release;
                *sel = selectTokens(scores, scores.qHeads, scores.tokens, params);
            }
            return sel;
        },
        py::arg("scores"), py::arg("tau") = 0.005, py::arg("min_tokens") = 1024,
        R"(The coverage budget and per-head top-capacity sets (spec sections 3.5, 3.6) for one tau: cheap, so
sweep tau over one score_layer result. Returns a Selection.)");

    py::class_<CoverageCurve>(m, "CoverageCurve",
                              "Cumulative score mass of the lowest-scored tokens (spec section 7).")
        .def_property_readonly(
            "dropped", [](const CoverageCurve& c) { return py::array(py::cast(c.dropped)); },
            "x: number of lowest-scored prefix tokens dropped")
        .def_property_readonly(
            "cumulative", [](const CoverageCurve& c) { return py::array(py::cast(c.cumulative)); },
            "y: score mass those tokens cover")
        .def_property_readonly(
            "budget_dropped", [](const CoverageCurve& c) { return c.budgetDropped; },
            "n + 1 tokens dropped by the budget at this tau (0 when none)");

    m.def(
        "coverage_curve",
        [](const LayerScores& scores, Index head, double tau, Index maxPoints) {
            if (head >= scores.qHeads)
                throw py::index_error("head " + std::to_string(head) + " does not exist (" +
                                      std::to_string(scores.qHeads) + " query heads)");
            if (maxPoints < 2) throw py::value_error("max_points must be at least 2");
            py::gil_scoped_release release;
            return coverageCurve(scores, head, tau, maxPoints);
        },
        py::arg("scores"), py::arg("head") = -1, py::arg("tau") = 0.005, py::arg("max_points") = 2048,
        "Coverage curve of the layer score G (head=-1) or of one head's scores, downsampled to max_points.");

    // --- running a layer -----------------------------------------------------------------------------------
    py::class_<LayerMetrics, std::shared_ptr<LayerMetrics>>(
        m, "Metrics", "Section 7 metrics of a sparse layer against dense attention (run_layer).")
        .def_property_readonly(
            "layer", [](const LayerMetrics& lm) { return headMetricsDict(lm.layer); },
            "over all heads: kept_fraction, row_error {median, p95, max, mean, count}, "
            "last_window_error, retained_mass {...}, dropped_rows")
        .def_property_readonly(
            "heads",
            [](const LayerMetrics& lm) {
                py::list out;
                for (const auto& h : lm.heads)
                    out.append(headMetricsDict(h));
                return out;
            },
            "one dict like `layer` per query head")
        .def_property_readonly(
            "row_error",
            [](py::object self) {
                const auto& lm = self.cast<const LayerMetrics&>();
                return borrowedArray(lm.rowError.data(), {lm.qHeads, lm.tokens}, self);
            },
            "[Hq, L] ||o_sparse - o_dense|| / ||o_dense|| of kept rows, NaN for dropped rows")
        .def_property_readonly(
            "retained_mass",
            [](py::object self) {
                const auto& lm = self.cast<const LayerMetrics&>();
                return borrowedArray(lm.retainedMass.data(), {lm.qHeads, lm.tokens}, self);
            },
            "[Hq, L] dense attention mass on the kept keys, NaN for dropped rows");

    m.def(
        "run_layer",
        [](const py::object& q, const py::object& k, const py::object& v, double tau, Index window,
           Index poolKernel, Index minTokens, bool sparseLayer, bool metrics, int threads) {
            auto qi = inputTensor(q, "q"), ki = inputTensor(k, "k"), vi = inputTensor(v, "v");
            LayerRunConfig config;
            config.params.tau = tau;
            config.params.window = window;
            config.params.poolKernel = poolKernel;
            config.params.minTokens = minTokens;
            checkParams(config.params, threads);
            config.sparseLayer = sparseLayer;
            config.computeMetrics = metrics;
            config.attention.threads = threads;
            Result<LayerRunResult> r = Status::error(ErrorCode::InvalidArgument, "unset");
            {
                py::gil_scoped_release release;
                r = runLayer(LayerQkvView{qi.view, ki.view, vi.view}, config);
            }
            if (!r.ok()) raiseStatus(r.status());
            LayerRunResult& result = r.value();
            const std::vector<py::ssize_t> shape = shape3(result.output.cview());
            py::object metricsObject = py::none();
            if (metrics) metricsObject = py::cast(std::make_shared<LayerMetrics>(std::move(result.metrics)));
            return py::make_tuple(adopt(std::move(result.output.data), shape),
                                  std::make_shared<Selection>(std::move(result.selection)), metricsObject);
        },
        py::arg("q"), py::arg("k"), py::arg("v"), py::arg("tau") = 0.005, py::arg("window") = 128,
        py::arg("pool_kernel") = 7, py::arg("min_tokens") = 1024, py::kw_only(),
        py::arg("sparse_layer") = true, py::arg("metrics") = true, py::arg("threads") = 0,
        R"(One layer of Token Sparse Attention end to end (spec section 4), as `tsa run` does it: score, select,
attend over the kept tokens, scatter back. Returns (output, selection, metrics): output [Hq, L, D]
float32 with zero rows for dropped tokens (memory adopted from the core, no copy), a Selection, and
Metrics against dense attention (None with metrics=False). sparse_layer=False runs the layer dense, as a
layer outside the sparse-layer plan.)");

    m.def(
        "causal_attention",
        [](const py::object& q, const py::object& k, const py::object& v, bool returnLse, int threads) {
            auto qi = inputTensor(q, "q"), ki = inputTensor(k, "k"), vi = inputTensor(v, "v");
            if (threads < 0) throw py::value_error("threads must not be negative");
            const ConstView3 qv = qi.view;
            std::vector<float> out(std::size_t(std::max<Index>(qv.size(), 0)));
            std::vector<float> lse(std::size_t(std::max<Index>(qv.heads * qv.tokens, 0)));
            AttentionConfig config;
            config.threads = threads;
            Status st;
            {
                py::gil_scoped_release release;
                st = causalAttention(qv, ki.view, vi.view, View3{out.data(), qv.heads, qv.tokens, qv.dim},
                                     returnLse ? lse.data() : nullptr, config);
            }
            if (!st.ok()) raiseStatus(st);
            py::array_t<float> o = adopt(std::move(out), shape3(qv));
            if (!returnLse) return py::object(o);
            return py::object(py::make_tuple(o, adopt(std::move(lse), {qv.heads, qv.tokens})));
        },
        py::arg("q"), py::arg("k"), py::arg("v"), py::kw_only(), py::arg("return_lse") = false,
        py::arg("threads") = 0,
        R"(Dense causal attention, flash-style in float32 (no L x L matrix): softmax_j<=i(q_i.k_j / sqrt(D)) v_j.
q [Hq, L, D], k and v [Hkv, L, D] (grouped-query when Hq is a multiple of Hkv). Returns the output
[Hq, L, D], and with return_lse=True also the [Hq, L] logsumexp of the scaled logits.)");

    tsa::python::addRender(m);
}
