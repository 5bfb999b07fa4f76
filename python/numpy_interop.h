// numpy <-> core tensors for the tsa_explorer module. Inputs: a float32, C-contiguous [heads, tokens, dim]
// array is borrowed as it is (no copy); any other float array (float16, float64, strided) is converted
// into a new float32 array first, and uint16 is read as bfloat16 bit patterns (the usual way to hand over
// bf16 data, e.g. torch's x.view(torch.int16).numpy().view(numpy.uint16)). Outputs own C++ memory that
// numpy adopts without a copy (the vector moves into a capsule that frees it with the array).
#pragma once

#include "core/status.h"
#include "core/tensor.h"

#include <memory>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <string>
#include <vector>

namespace tsa::python {

namespace py = pybind11;

// A [heads, tokens, dim] fp32 view and the Python array that owns its memory (kept alive with it).
struct InputTensor {
    py::array holder;
    ConstView3 view;
    bool copied = false; // true when the input had to be converted
};

// name is used in errors ("q must be a 3-D [heads, tokens, dim] array, got shape (4, 10)").
InputTensor inputTensor(const py::handle& object, const char* name);

// Raises the Python exception matching a core error: ValueError for bad values, shapes and formats,
// OSError for files, RuntimeError for a cancelled operation. The message is the core's, as the CLI prints it.
[[noreturn]] void raiseStatus(const Status& status);
// Issues each warning as a Python RuntimeWarning (non-finite values replaced, tensors ignored, ...).
void warnAll(const std::vector<std::string>& warnings);

// numpy adopts the vector's memory: no copy.
template <typename T, typename A>
py::array_t<T> adopt(std::vector<T, A>&& values, std::vector<py::ssize_t> shape) {
    auto* owned = new std::vector<T, A>(std::move(values));
    py::capsule owner(owned, [](void* p) { delete static_cast<std::vector<T, A>*>(p); });
    return py::array_t<T>(std::move(shape), owned->data(), owner);
}

// A read-only array over memory owned by base (a Python object kept alive by the array).
template <typename T>
py::array_t<T> borrowedArray(const T* data, std::vector<py::ssize_t> shape, const py::handle& base) {
    py::array_t<T> a(std::move(shape), data, base);
    a.attr("setflags")(py::arg("write") = false);
    return a;
}

std::string pathArgument(const py::handle& object); // str, bytes or os.PathLike

} // namespace tsa::python
