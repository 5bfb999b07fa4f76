#include "python/render.h"

#include "core/io/capture.h"
#include "python/numpy_interop.h"

#ifdef TSA_PYTHON_RENDER
#include "app/explorer/export_request.h"
#include "app/explorer/session.h"

#include <QFileInfo>
#endif

#include <set>
#include <string>

namespace tsa::python {

#ifdef TSA_PYTHON_RENDER

namespace {

// Keyword arguments of render() and the `tsa export` option each one stands for.
const std::set<std::string>& renderKeywords() {
    static const std::set<std::string> keys = {
        "tau",     "layer",      "head",     "window",       "pool_kernel", "min_tokens", "sparse_layers",
        "delta",   "layer_list", "colormap", "metric",       "width",       "height",     "scale",
        "timeout", "effect",     "effect_x", "needle_score", "text_measure"};
    return keys;
}

QString qstr(const std::string& s) {
    return QString::fromStdString(s);
}

} // namespace

void addRender(pybind11::module_& m) {
    m.def(
        "render",
        [](const std::string& view, const py::object& source, const py::object& out,
           const py::kwargs& kwargs) {
            app::ExportRequest request;
            request.out = qstr(pathArgument(out));
            // A Capture object stands for its file; a .json path is a session (its capture and parameters,
            // which keyword arguments then override).
            std::string file;
            if (py::isinstance<Capture>(source))
                file = source.cast<const Capture&>().info().path;
            else
                file = pathArgument(source);
            if (QFileInfo(qstr(file)).suffix().compare(QLatin1String("json"), Qt::CaseInsensitive) == 0) {
                QString error;
                auto session = app::loadSession(qstr(file), &error);
                if (!session) throw py::value_error(error.toStdString());
                request.file = session->filePath;
                request.params = session->params;
                request.viewState = session->viewState;
            } else {
                request.file = qstr(file);
            }
            app::ExplorerParams& p = request.params;
            request.viewState.view = qstr(view);
            for (auto item : kwargs) {
                const std::string key = item.first.cast<std::string>();
                if (!renderKeywords().count(key))
                    throw py::type_error("render() got an unexpected keyword argument '" + key + "'");
                const py::handle value = item.second;
                if (key == "tau")
                    p.tsa.tau = value.cast<double>();
                else if (key == "layer")
                    request.layerId = value.cast<int>();
                else if (key == "head")
                    p.head = value.cast<int>();
                else if (key == "window")
                    p.tsa.window = value.cast<Index>();
                else if (key == "pool_kernel")
                    p.tsa.poolKernel = value.cast<Index>();
                else if (key == "min_tokens")
                    p.tsa.minTokens = value.cast<Index>();
                else if (key == "delta")
                    p.plan.delta = value.cast<double>();
                else if (key == "colormap")
                    request.viewState.colorMap = qstr(value.cast<std::string>());
                else if (key == "metric")
                    request.viewState.overviewMetric = qstr(value.cast<std::string>());
                else if (key == "width")
                    request.size.setWidth(value.cast<int>());
                else if (key == "height")
                    request.size.setHeight(value.cast<int>());
                else if (key == "scale")
                    request.scale = value.cast<double>();
                else if (key == "timeout")
                    request.timeoutSeconds = value.cast<int>();
                else if (key == "effect")
                    request.effect = qstr(pathArgument(value));
                else if (key == "effect_x")
                    p.effectAxis = qstr(value.cast<std::string>());
                else if (key == "needle_score")
                    p.effectNeedle = qstr(value.cast<std::string>());
                else if (key == "text_measure")
                    request.textMeasure = qstr(value.cast<std::string>());
                else if (key == "sparse_layers" || key == "layer_list") {
                    // A list of layer numbers is accepted for layer_list as well as "16-31,40".
                    std::string text;
                    if (py::isinstance<py::str>(value)) {
                        text = value.cast<std::string>();
                    } else {
                        for (auto layer : value)
                            text += (text.empty() ? "" : ",") + std::to_string(layer.cast<int>());
                    }
                    const QString bad = key == "sparse_layers"
                                            ? app::parseSparseLayersOption(qstr(text), &p.plan)
                                            : app::parseLayerListOption(qstr(text), &p.plan);
                    if (!bad.isEmpty()) throw py::value_error(bad.toStdString());
                }
            }
            QString summary, error;
            int code = 0;
            {
                // Qt work happens on this thread (it creates the QApplication on the first call); other
                // Python threads run meanwhile.
                py::gil_scoped_release release;
                code = app::exportView(request, &summary, &error);
            }
            if (code == app::kExportBadInput) throw py::value_error(error.toStdString());
            if (code != app::kExportOk) throw std::runtime_error(error.toStdString());
            return summary.toStdString();
        },
        py::arg("view"), py::arg("source"), py::arg("out"),
        R"(Writes one explorer view to out, exactly as `tsa export SOURCE --view VIEW --out OUT` does: PNG, SVG or
PDF by the extension (a picture of the view; PDF vector with fonts embedded), CSV (the data behind it),
or HTML (text view), written atomically.

source: a capture path, a Capture, a session file (.json; its parameters are the defaults here) or an
effect file (tools/tsa_eval.py, for view 'effect'). Keyword arguments are the `tsa export` options: tau,
layer (model layer), head, window, pool_kernel, min_tokens, sparse_layers ('half', 'drift', 'all',
'list'), delta, layer_list ('16-31' or a list), colormap, metric, width, height, scale, timeout, effect
(an effect file beside the capture), effect_x ('tau', 'kept'), needle_score ('overlap', 'exact'),
text_measure (the text view's colour; its .html export is the text view's own page). Bad values raise ValueError with the message
`tsa export` prints. Call it from one thread: the first call creates an offscreen QApplication on it.
Returns a one-line summary.)");
}

#else

void addRender(pybind11::module_& m) {
    m.def(
        "render",
        [](const py::args&, const py::kwargs&) {
            throw std::runtime_error("this tsa_explorer was built without the Qt views (TSA_BUILD_GUI=OFF): "
                                     "render() is not available");
        },
        "Not available: this build has no Qt views.");
}

#endif

} // namespace tsa::python
