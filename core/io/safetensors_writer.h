// Streaming, atomic safetensors writer: the header is written from the declared tensor list, then each
// tensor's data is appended in declaration order (in as many chunks as convenient), converted from fp32
// to the declared dtype on the fly. Nothing is visible at the target path until commit() renames the
// finished temporary file into place, so a failed or cancelled write never clobbers an existing file.
#pragma once

#include "core/io/dtype.h"
#include "core/status.h"

#include <cstdint>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

namespace tsa {

struct TensorSpec {
    std::string name;
    DType dtype = DType::F32;
    std::vector<std::int64_t> shape;
};

class SafetensorsWriter {
public:
    SafetensorsWriter() = default;
    ~SafetensorsWriter(); // removes the temporary file unless committed
    SafetensorsWriter(const SafetensorsWriter&) = delete;
    SafetensorsWriter& operator=(const SafetensorsWriter&) = delete;

    Status open(const std::string& path, std::vector<TensorSpec> tensors,
                const std::map<std::string, std::string>& metadata = {});
    // Appends values to the current tensor (converted to its dtype); moves to the next one when full.
    Status writeFloats(const float* values, std::size_t count);
    // Appends raw bytes already in the tensor's dtype (integer tensors, pre-converted data).
    Status writeBytes(const void* bytes, std::size_t count);
    // Flushes, fsyncs and renames the temporary file onto the target path. Fails when a declared tensor
    // has not been fully written.
    Status commit();
    // Discards the temporary file (a cancelled generation). The writer can be opened again afterwards.
    void cancel();

    bool isOpen() const { return m_file != nullptr; }
    const std::string& path() const { return m_path; }

private:
    Status advance(std::size_t bytes);
    Status fail(ErrorCode code, const std::string& what); // cancels and returns an error naming the file
    Status checkWritable(std::size_t count, bool floats);
    std::string m_path;
    std::string m_tempPath;
    std::FILE* m_file = nullptr;
    std::vector<TensorSpec> m_tensors;
    std::vector<std::uint64_t> m_tensorBytes;
    std::size_t m_current = 0;
    std::uint64_t m_writtenInCurrent = 0;
    std::vector<unsigned char> m_buffer;
    bool m_committed = false;
};

} // namespace tsa
