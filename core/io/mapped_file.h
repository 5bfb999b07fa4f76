// Read-only memory mapping of a whole file. Mapping costs no reads: pages are faulted in only when a
// tensor is converted, which is what lets a multi-GB capture open in milliseconds.
#pragma once

#include "core/status.h"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace tsa {

// Bytes of a capture: either a mapped file or an owned in-memory buffer (tests, fuzzers). Both expose
// the same pointer and size so the parsers never care where the bytes come from.
class ByteSource {
public:
    virtual ~ByteSource() = default;
    virtual const unsigned char* data() const = 0;
    virtual std::uint64_t size() const = 0;
    const std::string& name() const { return m_name; }
    // Tells the kernel the range is not needed for now (mapped files only): keeps the resident set of a
    // long session bounded after a layer has been converted. Harmless on buffers.
    virtual void release(std::uint64_t /*offset*/, std::uint64_t /*length*/) const {}

protected:
    explicit ByteSource(std::string name) : m_name(std::move(name)) {}

private:
    std::string m_name;
};

class MappedFile final : public ByteSource {
public:
    // Maps path read-only. An empty file maps to a null pointer with size 0 (not an error here: the
    // parsers report it with their own context).
    static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
    ~MappedFile() override;
    MappedFile(const MappedFile&) = delete;
    MappedFile& operator=(const MappedFile&) = delete;

    const unsigned char* data() const override { return m_data; }
    std::uint64_t size() const override { return m_size; }
    void release(std::uint64_t offset, std::uint64_t length) const override;

private:
    explicit MappedFile(std::string path) : ByteSource(std::move(path)) {}
    const unsigned char* m_data = nullptr;
    std::uint64_t m_size = 0;
};

class BufferSource final : public ByteSource {
public:
    BufferSource(std::string name, std::vector<unsigned char> bytes)
        : ByteSource(std::move(name)), m_bytes(std::move(bytes)) {}
    const unsigned char* data() const override { return m_bytes.data(); }
    std::uint64_t size() const override { return m_bytes.size(); }

private:
    std::vector<unsigned char> m_bytes;
};

} // namespace tsa
