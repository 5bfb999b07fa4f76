// Reader for numpy .npz archives (np.savez and np.savez_compressed): a zip of .npy members. The zip
// structure and every member's .npy header are validated from memory; stored members are then read in
// place (memory-mapped like safetensors), deflated members are inflated through libzip only when their
// data is asked for.
#pragma once

#include "core/io/npy.h"
#include "core/status.h"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tsa {

struct NpzMember {
    std::string name;       // array name: the member name without ".npy"
    std::string memberName; // as stored in the archive
    bool compressed = false;
    std::uint64_t compressedSize = 0;
    std::uint64_t uncompressedSize = 0;
    std::uint64_t dataStart = 0; // stored members: absolute offset of the member's .npy bytes in the archive
    NpyHeader npy;
};

struct NpzArchive {
    std::vector<NpzMember> members;   // in central-directory order
    std::vector<std::string> ignored; // members that are not .npy files
    const NpzMember* find(const std::string& name) const;
};

// Validates the archive (end-of-central-directory record incl. zip64, central directory, local headers,
// sizes and offsets within the buffer, supported compression) and parses every member's .npy header.
// `name` (usually the path) starts every message.
Result<NpzArchive> parseNpz(const unsigned char* data, std::uint64_t size, const std::string& name);

// Streams a member's array data (after its .npy header) to sink in chunks of at most chunkBytes. Stored
// members are handed out of `data` directly; deflated ones are inflated through libzip, with the CRC and
// the inflated length checked. A sink error stops the stream and is returned.
using ByteSink = std::function<Status(const unsigned char* bytes, std::size_t count)>;
Status readNpzMember(const unsigned char* data, std::uint64_t size, const std::string& name,
                     const NpzMember& member, std::size_t chunkBytes, const ByteSink& sink);

// Writing, for tests, fuzz seeds and tools: a .npy image of raw little-endian data, and an archive of them.
std::vector<unsigned char> makeNpy(const std::string& descr, const std::vector<std::int64_t>& shape,
                                   const void* data, std::size_t bytes);
struct NpzEntry {
    std::string name; // without ".npy"
    std::vector<unsigned char> npy;
    bool verbatim = false; // store under `name` exactly (no ".npy" added): for other files in the archive
};
Status writeNpz(const std::string& path, const std::vector<NpzEntry>& entries, bool compressed);

} // namespace tsa
