// .npz reader: walks the zip end-of-central-directory record (zip64 included), the central directory and
// each local header with bounds checks on every offset, then reads the .npy headers. Stored members are
// addressed in place; deflated members go through libzip on a read-only buffer source.
#include "core/io/npz.h"

#include <algorithm>
#include <cstring>
#include <memory>
#include <set>
#include <zip.h>

namespace tsa {

namespace {

constexpr std::uint32_t kEocdSig = 0x06054b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::uint32_t kZip64EocdSig = 0x06064b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kLocalSig = 0x04034b50;
// Deflate cannot expand data by more than about 1032:1; a member claiming more is corrupt (or a bomb)
// and would otherwise make us allocate whatever its header says.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

std::uint64_t le(const unsigned char* p, int bytes) {
    std::uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i)
        v = (v << 8) | p[i];
    return v;
}

Status zipError(ErrorCode code, const std::string& name, const std::string& what) {
    return Status::error(code, name + ": " + what);
}

// True when [offset, offset + length) lies inside [0, size).
bool inside(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
    return offset <= size && length <= size - offset;
}

// Opens the archive held in data with libzip without copying it.
struct ZipHandle {
    zip_t* archive = nullptr;
    zip_file_t* file = nullptr;
    ~ZipHandle() {
        if (file) zip_fclose(file);
        if (archive) zip_discard(archive);
    }
};

Status openMember(const unsigned char* data, std::uint64_t size, const std::string& name, const NpzMember& m,
                  ZipHandle* h) {
    zip_error_t err;
    zip_error_init(&err);
    zip_source_t* src = zip_source_buffer_create(data, size, 0, &err);
    if (!src) {
        const std::string msg = zip_error_strerror(&err);
        zip_error_fini(&err);
        return zipError(ErrorCode::Io, name, "cannot read the zip archive: " + msg);
    }
    h->archive = zip_open_from_source(src, ZIP_RDONLY, &err);
    if (!h->archive) {
        zip_source_free(src);
        const std::string msg = zip_error_strerror(&err);
        zip_error_fini(&err);
        return zipError(ErrorCode::Format, name, "libzip cannot open the archive: " + msg);
    }
    zip_error_fini(&err);
    const zip_int64_t index = zip_name_locate(h->archive, m.memberName.c_str(), ZIP_FL_ENC_RAW);
    if (index < 0)
        return zipError(ErrorCode::Format, name, "member '" + m.memberName + "' not found by libzip");
    h->file = zip_fopen_index(h->archive, zip_uint64_t(index), 0);
    if (!h->file)
        return zipError(ErrorCode::Format, name,
                        "member '" + m.memberName + "': cannot inflate: " + zip_strerror(h->archive));
    return Status::success();
}

// Reads exactly n bytes (or fails) from an open member.
Status readExactly(ZipHandle* h, const std::string& name, const NpzMember& m, unsigned char* out,
                   std::uint64_t n) {
    while (n > 0) {
        const zip_int64_t got = zip_fread(h->file, out, n);
        if (got < 0)
            return zipError(ErrorCode::Format, name,
                            "member '" + m.memberName +
                                "': corrupt compressed data: " + zip_file_strerror(h->file));
        if (got == 0)
            return zipError(ErrorCode::Format, name,
                            "member '" + m.memberName + "': compressed data ends early");
        out += got;
        n -= std::uint64_t(got);
    }
    return Status::success();
}

Status parseMemberHeader(const unsigned char* data, std::uint64_t size, const std::string& name,
                         NpzMember* m) {
    const std::string memberLabel = name + ": member '" + m->memberName + "'";
    if (!m->compressed) {
        const std::uint64_t avail = std::min<std::uint64_t>(m->uncompressedSize, kMaxNpyHeaderBytes + 16);
        auto h = parseNpyHeader(data + m->dataStart, std::size_t(avail), m->uncompressedSize, memberLabel);
        if (!h.ok()) return h.status();
        m->npy = std::move(*h);
        return Status::success();
    }
    if (m->uncompressedSize == 0) return zipError(ErrorCode::Format, memberLabel, "empty .npy (0 bytes)");
    ZipHandle zh;
    if (Status s = openMember(data, size, name, *m, &zh); !s.ok()) return s;
    std::vector<unsigned char> head(
        std::size_t(std::min<std::uint64_t>(kNpyPreambleBytes, m->uncompressedSize)));
    if (Status s = readExactly(&zh, name, *m, head.data(), head.size()); !s.ok()) return s;
    Status err;
    const std::uint64_t span = npyHeaderSpan(head.data(), head.size(), memberLabel, &err);
    if (span == 0) return err;
    if (span > m->uncompressedSize)
        return zipError(ErrorCode::Format, memberLabel,
                        "truncated: .npy header of " + std::to_string(span) + " bytes runs past the end (" +
                            std::to_string(m->uncompressedSize) + " bytes)");
    if (span > head.size()) {
        const std::size_t have = head.size();
        head.resize(std::size_t(span));
        if (Status s = readExactly(&zh, name, *m, head.data() + have, span - have); !s.ok()) return s;
    }
    auto h = parseNpyHeader(head.data(), head.size(), m->uncompressedSize, memberLabel);
    if (!h.ok()) return h.status();
    m->npy = std::move(*h);
    return Status::success();
}

} // namespace

const NpzMember* NpzArchive::find(const std::string& n) const {
    for (const auto& m : members)
        if (m.name == n) return &m;
    return nullptr;
}

Result<NpzArchive> parseNpz(const unsigned char* data, std::uint64_t size, const std::string& name) {
    if (size == 0)
        return zipError(ErrorCode::Format, name, "file is empty (0 bytes); expected an .npz archive");
    if (size < 22) return zipError(ErrorCode::Format, name, "truncated: too short for a zip archive");
    // The end-of-central-directory record sits in the last 22 + 65535 (comment) bytes.
    std::uint64_t eocd = ~std::uint64_t(0);
    const std::uint64_t lowest = size > 22 + 65535 ? size - 22 - 65535 : 0;
    for (std::uint64_t p = size - 22 + 1; p-- > lowest;) {
        if (le(data + p, 4) == kEocdSig && p + 22 + le(data + p + 20, 2) <= size) {
            eocd = p;
            break;
        }
    }
    if (eocd == ~std::uint64_t(0))
        return zipError(ErrorCode::Format, name,
                        "truncated or not a zip archive: no end-of-central-directory record");
    std::uint64_t entries = le(data + eocd + 10, 2);
    std::uint64_t cdSize = le(data + eocd + 12, 4);
    std::uint64_t cdOffset = le(data + eocd + 16, 4);
    if (le(data + eocd + 4, 2) != 0 || le(data + eocd + 6, 2) != 0)
        return zipError(ErrorCode::Unsupported, name, "multi-disk zip archives are not supported");
    if (entries == 0xFFFF || cdSize == 0xFFFFFFFF || cdOffset == 0xFFFFFFFF) {
        if (eocd < 20 || le(data + eocd - 20, 4) != kZip64LocatorSig)
            return zipError(ErrorCode::Format, name,
                            "zip64 archive without a zip64 end-of-central-directory locator");
        const std::uint64_t z = le(data + eocd - 20 + 8, 8);
        if (!inside(z, 56, size) || le(data + z, 4) != kZip64EocdSig)
            return zipError(ErrorCode::Format, name,
                            "zip64 end-of-central-directory record out of range or corrupt");
        entries = le(data + z + 32, 8);
        cdSize = le(data + z + 40, 8);
        cdOffset = le(data + z + 48, 8);
    }
    if (!inside(cdOffset, cdSize, size))
        return zipError(ErrorCode::Format, name,
                        "truncated: central directory [" + std::to_string(cdOffset) + ", +" +
                            std::to_string(cdSize) + ") lies outside the file (" + std::to_string(size) +
                            " bytes)");
    if (entries > cdSize / 46)
        return zipError(ErrorCode::Format, name,
                        "central directory claims " + std::to_string(entries) +
                            " entries, more than fit in its " + std::to_string(cdSize) + " bytes");

    NpzArchive archive;
    std::set<std::string> seen;
    std::uint64_t p = cdOffset;
    const std::uint64_t cdEnd = cdOffset + cdSize;
    for (std::uint64_t e = 0; e < entries; ++e) {
        if (!inside(p, 46, cdEnd) || le(data + p, 4) != kCentralSig)
            return zipError(ErrorCode::Format, name, "corrupt central directory entry " + std::to_string(e));
        const std::uint64_t flags = le(data + p + 8, 2);
        const std::uint64_t method = le(data + p + 10, 2);
        std::uint64_t compSize = le(data + p + 20, 4);
        std::uint64_t uncompSize = le(data + p + 24, 4);
        const std::uint64_t nameLen = le(data + p + 28, 2);
        const std::uint64_t extraLen = le(data + p + 30, 2);
        const std::uint64_t commentLen = le(data + p + 32, 2);
        std::uint64_t localOffset = le(data + p + 42, 4);
        if (!inside(p + 46, nameLen + extraLen + commentLen, cdEnd))
            return zipError(ErrorCode::Format, name,
                            "central directory entry " + std::to_string(e) + " runs past its end");
        const std::string memberName(reinterpret_cast<const char*>(data + p + 46), std::size_t(nameLen));
        const std::string label = name + ": member '" + memberName + "'";
        // Zip64 extended information: present fields follow the order uncompressed, compressed, offset.
        for (std::uint64_t x = p + 46 + nameLen, xEnd = x + extraLen; x + 4 <= xEnd;) {
            const std::uint64_t id = le(data + x, 2);
            const std::uint64_t len = le(data + x + 2, 2);
            if (x + 4 + len > xEnd) break;
            if (id == 0x0001) {
                std::uint64_t f = x + 4;
                const std::uint64_t fEnd = f + len;
                if (uncompSize == 0xFFFFFFFF && f + 8 <= fEnd) uncompSize = le(data + f, 8), f += 8;
                if (compSize == 0xFFFFFFFF && f + 8 <= fEnd) compSize = le(data + f, 8), f += 8;
                if (localOffset == 0xFFFFFFFF && f + 8 <= fEnd) localOffset = le(data + f, 8), f += 8;
            }
            x += 4 + len;
        }
        p += 46 + nameLen + extraLen + commentLen;

        if (!memberName.empty() && memberName.back() == '/') continue; // a directory entry
        if (memberName.size() < 4 || memberName.compare(memberName.size() - 4, 4, ".npy") != 0) {
            archive.ignored.push_back(memberName);
            continue;
        }
        if (flags & 1) return zipError(ErrorCode::Unsupported, label, "encrypted members are not supported");
        if (method != 0 && method != 8)
            return zipError(ErrorCode::Unsupported, label,
                            "compression method " + std::to_string(method) +
                                " is not supported (only stored and deflate)");
        if (!inside(localOffset, 30, size) || le(data + localOffset, 4) != kLocalSig)
            return zipError(ErrorCode::Format, label,
                            "local header offset " + std::to_string(localOffset) +
                                " out of range or corrupt");
        const std::uint64_t dataStart =
            localOffset + 30 + le(data + localOffset + 26, 2) + le(data + localOffset + 28, 2);
        if (!inside(dataStart, compSize, size))
            return zipError(ErrorCode::Format, label,
                            "truncated: data [" + std::to_string(dataStart) + ", +" +
                                std::to_string(compSize) + ") runs past the end of the file");
        if (method == 0 && compSize != uncompSize)
            return zipError(ErrorCode::Format, label,
                            "stored member with compressed size " + std::to_string(compSize) +
                                " != uncompressed size " + std::to_string(uncompSize));
        if (method == 8 && uncompSize > compSize * kMaxDeflateRatio + 1024)
            return zipError(ErrorCode::Format, label,
                            "claims " + std::to_string(uncompSize) + " bytes from " +
                                std::to_string(compSize) +
                                " compressed bytes, beyond what deflate can produce");
        NpzMember m;
        m.memberName = memberName;
        m.name = memberName.substr(0, memberName.size() - 4);
        m.compressed = method == 8;
        m.compressedSize = compSize;
        m.uncompressedSize = uncompSize;
        m.dataStart = dataStart;
        if (!seen.insert(m.name).second)
            return zipError(ErrorCode::Format, label, "array '" + m.name + "' appears twice in the archive");
        archive.members.push_back(std::move(m));
    }
    for (NpzMember& m : archive.members)
        if (Status s = parseMemberHeader(data, size, name, &m); !s.ok()) return s;
    return archive;
}

Status readNpzMember(const unsigned char* data, std::uint64_t size, const std::string& name,
                     const NpzMember& m, std::size_t chunkBytes, const ByteSink& sink) {
    chunkBytes = std::max<std::size_t>(chunkBytes, 1);
    if (!m.compressed) {
        const unsigned char* p = data + m.dataStart + m.npy.dataOffset;
        for (std::uint64_t done = 0; done < m.npy.dataBytes;) {
            const std::size_t n = std::size_t(std::min<std::uint64_t>(chunkBytes, m.npy.dataBytes - done));
            if (Status s = sink(p + done, n); !s.ok()) return s;
            done += n;
        }
        return Status::success();
    }
    ZipHandle zh;
    if (Status s = openMember(data, size, name, m, &zh); !s.ok()) return s;
    std::vector<unsigned char> buffer(std::size_t(
        std::max<std::uint64_t>(std::min<std::uint64_t>(chunkBytes, m.npy.dataBytes), m.npy.dataOffset)));
    if (Status s = readExactly(&zh, name, m, buffer.data(), m.npy.dataOffset); !s.ok()) return s;
    for (std::uint64_t done = 0; done < m.npy.dataBytes;) {
        const std::size_t n = std::size_t(std::min<std::uint64_t>(chunkBytes, m.npy.dataBytes - done));
        if (Status s = readExactly(&zh, name, m, buffer.data(), n); !s.ok()) return s;
        if (Status s = sink(buffer.data(), n); !s.ok()) return s;
        done += n;
    }
    // Reading past the end makes libzip verify the CRC of the whole member.
    unsigned char extra;
    const zip_int64_t tail = zip_fread(zh.file, &extra, 1);
    if (tail != 0)
        return zipError(ErrorCode::Format, name,
                        "member '" + m.memberName + "': " +
                            (tail < 0 ? std::string("corrupt compressed data: ") + zip_file_strerror(zh.file)
                                      : std::string("more data than its header says")));
    return Status::success();
}

std::vector<unsigned char> makeNpy(const std::string& descr, const std::vector<std::int64_t>& shape,
                                   const void* data, std::size_t bytes) {
    std::string dims;
    for (std::size_t i = 0; i < shape.size(); ++i)
        dims += (i ? ", " : "") + std::to_string(shape[i]);
    if (shape.size() == 1) dims += ','; // a Python 1-tuple
    std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': (" + dims + "), }";
    // Like numpy: pad with spaces and a newline so the data starts 64-byte aligned.
    const std::size_t total = (10 + dict.size() + 1 + 63) / 64 * 64;
    dict.append(total - 10 - dict.size() - 1, ' ');
    dict += '\n';
    const unsigned char preamble[10] = {0x93,
                                        'N',
                                        'U',
                                        'M',
                                        'P',
                                        'Y',
                                        1,
                                        0,
                                        static_cast<unsigned char>(dict.size() & 0xFF),
                                        static_cast<unsigned char>(dict.size() >> 8)};
    std::vector<unsigned char> out(10 + dict.size() + bytes);
    std::memcpy(out.data(), preamble, 10);
    std::memcpy(out.data() + 10, dict.data(), dict.size());
    if (bytes) std::memcpy(out.data() + 10 + dict.size(), data, bytes);
    return out;
}

Status writeNpz(const std::string& path, const std::vector<NpzEntry>& entries, bool compressed) {
    int err = 0;
    zip_t* za = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
    if (!za)
        return Status::error(ErrorCode::Io,
                             path + ": cannot create zip archive (libzip error " + std::to_string(err) + ")");
    for (const NpzEntry& e : entries) {
        zip_source_t* src = zip_source_buffer(za, e.npy.data(), e.npy.size(), 0);
        const zip_int64_t idx =
            src ? zip_file_add(za, (e.verbatim ? e.name : e.name + ".npy").c_str(), src, ZIP_FL_ENC_UTF_8)
                : -1;
        if (idx < 0) {
            if (src) zip_source_free(src);
            const std::string msg = zip_strerror(za);
            zip_discard(za);
            return Status::error(ErrorCode::Io, path + ": cannot add '" + e.name + "': " + msg);
        }
        zip_set_file_compression(za, zip_uint64_t(idx), compressed ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
    }
    if (zip_close(za) != 0) {
        const std::string msg = zip_strerror(za);
        zip_discard(za);
        return Status::error(ErrorCode::Io, path + ": cannot write: " + msg);
    }
    return Status::success();
}

} // namespace tsa
