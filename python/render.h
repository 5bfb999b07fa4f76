// render(): the explorer's views written to PNG/SVG/CSV from Python, through tsa::app::exportView, the
// same function `tsa export` calls. Defined only when the module is built with the Qt views
// (TSA_BUILD_GUI); otherwise render raises RuntimeError saying so.
#pragma once

#include <pybind11/pybind11.h>

namespace tsa::python {

void addRender(pybind11::module_& m);

} // namespace tsa::python
