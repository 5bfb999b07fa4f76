#include "python/numpy_interop.h"

#include "core/io/dtype.h"

namespace tsa::python {

namespace {

std::string shapeText(const py::array& a) {
    std::string s = "(";
    for (py::ssize_t i = 0; i < a.ndim(); ++i)
        s += (i ? ", " : "") + std::to_string(a.shape(i));
    return s + (a.ndim() == 1 ? ",)" : ")");
}

} // namespace

InputTensor inputTensor(const py::handle& object, const char* name) {
    InputTensor in;
    py::array array = py::array::ensure(object);
    if (!array) throw py::type_error(std::string(name) + " must be a numpy array (or convertible to one)");
    if (array.ndim() != 3)
        throw py::value_error(std::string(name) + " must be a 3-D [heads, tokens, dim] array, got shape " +
                              shapeText(array));
    const char kind = array.dtype().kind();
    if (array.dtype().is(py::dtype::of<std::uint16_t>())) {
        // bfloat16 bit patterns: widen into a new float32 array.
        auto bits = py::array_t<std::uint16_t, py::array::c_style | py::array::forcecast>::ensure(array);
        py::array_t<float> wide({array.shape(0), array.shape(1), array.shape(2)});
        const std::uint16_t* src = bits.data();
        float* dst = wide.mutable_data();
        const py::ssize_t n = bits.size();
        {
            py::gil_scoped_release release;
            for (py::ssize_t i = 0; i < n; ++i)
                dst[i] = bf16ToFloat(src[i]);
        }
        in.holder = wide;
        in.copied = true;
    } else if (kind == 'f') {
        const bool exact = array.dtype().is(py::dtype::of<float>()) &&
                           (array.flags() & py::array::c_style) == py::array::c_style;
        in.holder =
            exact ? array : py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(array);
        in.copied = !exact;
    } else {
        throw py::type_error(std::string(name) +
                             " must hold float32, float16, float64 or bfloat16 bits as "
                             "uint16, not " +
                             std::string(py::str(array.dtype())));
    }
    in.view = {static_cast<const float*>(in.holder.data()), in.holder.shape(0), in.holder.shape(1),
               in.holder.shape(2)};
    return in;
}

void raiseStatus(const Status& status) {
    switch (status.code) {
    case ErrorCode::Io:
        PyErr_SetString(PyExc_OSError, status.message.c_str());
        throw py::error_already_set();
    case ErrorCode::Cancelled:
        throw std::runtime_error(status.message);
    default:
        throw py::value_error(status.message);
    }
}

void warnAll(const std::vector<std::string>& warnings) {
    for (const auto& w : warnings)
        if (PyErr_WarnEx(PyExc_RuntimeWarning, w.c_str(), 2) != 0) throw py::error_already_set();
}

std::string pathArgument(const py::handle& object) {
    // os.fspath accepts str, bytes and os.PathLike (pathlib.Path) and raises TypeError for anything else.
    return py::module_::import("os").attr("fspath")(object).cast<std::string>();
}

} // namespace tsa::python
