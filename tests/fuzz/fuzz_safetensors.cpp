// libFuzzer target: the safetensors header parser on arbitrary bytes.
#include "core/io/safetensors_reader.h"

#include <cstddef>
#include <cstdint>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    auto header = tsa::parseSafetensors(data, size, "fuzz.safetensors");
    if (header.ok()) {
        // Whatever the parser accepts must lie inside the buffer.
        for (const auto& t : header->tensors)
            if (t.end > size || t.begin > t.end) __builtin_trap();
    }
    return 0;
}
