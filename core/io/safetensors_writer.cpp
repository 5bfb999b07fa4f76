// Streaming safetensors writer: header from the declared tensors, data appended chunk by chunk (converted
// from fp32 through a small reusable buffer), written to a temporary file beside the target and renamed
// into place on commit, so a 12 GB capture never sits in memory and a failed write leaves no partial file.
#include "core/io/safetensors_writer.h"

#include "core/io/safetensors_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace tsa {

namespace {

constexpr std::size_t kChunkElements = std::size_t(1) << 16; // conversion buffer: 256 KB of fp32 at most

std::string directoryOf(const std::string& path) {
    const auto slash = path.find_last_of('/');
    if (slash == std::string::npos) return ".";
    if (slash == 0) return "/";
    return path.substr(0, slash);
}

std::string baseName(const std::string& path) {
    const auto slash = path.find_last_of('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

} // namespace

SafetensorsWriter::~SafetensorsWriter() {
    cancel();
}

void SafetensorsWriter::cancel() {
    if (m_file) std::fclose(m_file);
    m_file = nullptr;
    if (!m_committed && !m_tempPath.empty()) ::unlink(m_tempPath.c_str());
    m_tempPath.clear();
}

Status SafetensorsWriter::fail(ErrorCode code, const std::string& what) {
    cancel();
    return Status::error(code, m_path + ": " + what);
}

Status SafetensorsWriter::open(const std::string& path, std::vector<TensorSpec> tensors,
                               const std::map<std::string, std::string>& metadata) {
    if (m_file)
        return Status::error(ErrorCode::InvalidArgument, path + ": writer is already open on " + m_path);
    m_path = path;
    m_committed = false;
    m_tensors.clear();
    m_tensorBytes.clear();
    m_current = 0;
    m_writtenInCurrent = 0;

    nlohmann::ordered_json header = nlohmann::ordered_json::object();
    if (!metadata.empty()) {
        nlohmann::ordered_json meta = nlohmann::ordered_json::object();
        for (const auto& [k, v] : metadata)
            meta[k] = v;
        header["__metadata__"] = std::move(meta);
    }
    std::set<std::string> names;
    std::uint64_t offset = 0;
    for (const TensorSpec& t : tensors) {
        const std::string pre = path + ": tensor '" + t.name + "': ";
        if (t.name.empty() || t.name == "__metadata__")
            return Status::error(ErrorCode::InvalidArgument, pre + "invalid tensor name");
        if (!names.insert(t.name).second)
            return Status::error(ErrorCode::InvalidArgument, pre + "declared twice");
        const std::size_t elemSize = dtypeSize(t.dtype);
        if (elemSize == 0 || t.dtype == DType::Unknown)
            return Status::error(ErrorCode::Unsupported, pre + "unsupported dtype");
        std::uint64_t elements = 0;
        if (!shapeElements(t.shape, &elements))
            return Status::error(ErrorCode::InvalidArgument,
                                 pre + "shape " + shapeText(t.shape) + " is negative or overflows");
        const std::uint64_t bytes = elements * elemSize;
        nlohmann::ordered_json entry = nlohmann::ordered_json::object();
        entry["dtype"] = dtypeName(t.dtype);
        entry["shape"] = t.shape;
        entry["data_offsets"] = {offset, offset + bytes};
        header[t.name] = std::move(entry);
        offset += bytes;
        m_tensorBytes.push_back(bytes);
    }
    m_tensors = std::move(tensors);

    std::string text = header.dump();
    text.append((8 - text.size() % 8) % 8, ' '); // data section starts 8-byte aligned, as the format asks

    m_tempPath = directoryOf(path) + "/." + baseName(path) + ".tmp-XXXXXX";
    std::vector<char> templ(m_tempPath.begin(), m_tempPath.end());
    templ.push_back('\0');
    const int fd = ::mkstemp(templ.data());
    if (fd < 0) {
        const int err = errno;
        m_tempPath.clear();
        return Status::error(ErrorCode::Io, path + ": cannot create a temporary file in " +
                                                directoryOf(path) + ": " + std::strerror(err));
    }
    m_tempPath = templ.data();
    ::fchmod(fd, 0644); // mkstemp makes 0600; a capture is an ordinary shareable file
    m_file = ::fdopen(fd, "wb");
    if (!m_file) {
        ::close(fd);
        return fail(ErrorCode::Io, std::string("cannot open the temporary file: ") + std::strerror(errno));
    }
    std::setvbuf(m_file, nullptr, _IOFBF, std::size_t(1) << 20);

    unsigned char len[8];
    std::uint64_t n = text.size();
    for (int i = 0; i < 8; ++i)
        len[i] = static_cast<unsigned char>(n >> (8 * i));
    if (std::fwrite(len, 1, 8, m_file) != 8 ||
        std::fwrite(text.data(), 1, text.size(), m_file) != text.size())
        return fail(ErrorCode::Io, std::string("cannot write the header: ") + std::strerror(errno));
    return advance(0); // skips leading empty tensors
}

Status SafetensorsWriter::advance(std::size_t bytes) {
    m_writtenInCurrent += bytes;
    while (m_current < m_tensors.size() && m_writtenInCurrent == m_tensorBytes[m_current]) {
        ++m_current;
        m_writtenInCurrent = 0;
    }
    return Status::success();
}

Status SafetensorsWriter::checkWritable(std::size_t count, bool floats) {
    if (!m_file)
        return Status::error(ErrorCode::InvalidArgument,
                             (m_path.empty() ? std::string("safetensors writer") : m_path) + ": not open");
    if (count == 0) return Status::success();
    if (m_current >= m_tensors.size())
        return fail(ErrorCode::InvalidArgument, "more data written than the declared tensors hold");
    if (floats) {
        const DType t = m_tensors[m_current].dtype;
        if (t != DType::F32 && t != DType::F16 && t != DType::BF16)
            return fail(ErrorCode::InvalidArgument, "tensor '" + m_tensors[m_current].name + "' has dtype " +
                                                        dtypeName(t) + "; write it with writeBytes");
    }
    return Status::success();
}

Status SafetensorsWriter::writeFloats(const float* values, std::size_t count) {
    while (count > 0) {
        if (Status s = checkWritable(count, true); !s.ok()) return s;
        const TensorSpec& t = m_tensors[m_current];
        const std::size_t elemSize = dtypeSize(t.dtype);
        const std::uint64_t left = (m_tensorBytes[m_current] - m_writtenInCurrent) / elemSize;
        std::size_t take = std::size_t(std::min<std::uint64_t>(left, count));
        std::size_t done = 0;
        while (done < take) {
            const std::size_t n = std::min(kChunkElements, take - done);
            const void* out = values + done;
            if (t.dtype != DType::F32) {
                m_buffer.resize(kChunkElements * 4);
                convertFromFloat(values + done, n, t.dtype, m_buffer.data());
                out = m_buffer.data();
            }
            if (std::fwrite(out, elemSize, n, m_file) != n)
                return fail(ErrorCode::Io,
                            "write failed in tensor '" + t.name + "': " + std::strerror(errno));
            done += n;
        }
        advance(take * elemSize);
        values += take;
        count -= take;
    }
    return checkWritable(0, false);
}

Status SafetensorsWriter::writeBytes(const void* bytes, std::size_t count) {
    const auto* p = static_cast<const unsigned char*>(bytes);
    while (count > 0) {
        if (Status s = checkWritable(count, false); !s.ok()) return s;
        const TensorSpec& t = m_tensors[m_current];
        const std::size_t take =
            std::size_t(std::min<std::uint64_t>(m_tensorBytes[m_current] - m_writtenInCurrent, count));
        if (std::fwrite(p, 1, take, m_file) != take)
            return fail(ErrorCode::Io, "write failed in tensor '" + t.name + "': " + std::strerror(errno));
        advance(take);
        p += take;
        count -= take;
    }
    return checkWritable(0, false);
}

Status SafetensorsWriter::commit() {
    if (!m_file) return checkWritable(0, false);
    if (m_current < m_tensors.size())
        return fail(ErrorCode::InvalidArgument, "tensor '" + m_tensors[m_current].name +
                                                    "' incomplete: " + std::to_string(m_writtenInCurrent) +
                                                    " of " + std::to_string(m_tensorBytes[m_current]) +
                                                    " bytes written");
    if (std::fflush(m_file) != 0 || ::fsync(::fileno(m_file)) != 0)
        return fail(ErrorCode::Io, std::string("cannot flush to disk: ") + std::strerror(errno));
    const int closed = std::fclose(m_file);
    m_file = nullptr;
    if (closed != 0) return fail(ErrorCode::Io, std::string("cannot close: ") + std::strerror(errno));
    if (::rename(m_tempPath.c_str(), m_path.c_str()) != 0)
        return fail(ErrorCode::Io, "cannot rename " + m_tempPath + " into place: " + std::strerror(errno));
    m_committed = true;
    m_tempPath.clear();
    // The rename itself is durable only once the directory is synced.
    const int dfd = ::open(directoryOf(m_path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        ::fsync(dfd);
        ::close(dfd);
    }
    return Status::success();
}

} // namespace tsa
