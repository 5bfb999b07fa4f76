// libFuzzer target: the .npy header parser (the Python-literal dict) on arbitrary bytes.
#include "core/io/npy.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto header = tsa::parseNpyHeader(data, size, size, "fuzz.npy");
    if (header.ok() && header->dataOffset + header->dataBytes != size) __builtin_trap();
    return 0;
}
