// Read-only mmap of a file (POSIX), with madvise hints so converted layers do not stay resident.
#include "core/io/mapped_file.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace tsa {

Result<std::shared_ptr<MappedFile>> MappedFile::open(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Status::error(ErrorCode::Io, path + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        const int err = errno;
        ::close(fd);
        return Status::error(ErrorCode::Io, path + ": cannot stat: " + std::strerror(err));
    }
    if (!S_ISREG(st.st_mode)) {
        ::close(fd);
        return Status::error(ErrorCode::Io, path + ": not a regular file");
    }
    std::shared_ptr<MappedFile> file(new MappedFile(path));
    file->m_size = std::uint64_t(st.st_size);
    if (file->m_size > 0) {
        void* p = ::mmap(nullptr, file->m_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            const int err = errno;
            ::close(fd);
            return Status::error(ErrorCode::Io, path + ": cannot memory-map " + std::to_string(file->m_size) +
                                                    " bytes: " + std::strerror(err));
        }
        file->m_data = static_cast<const unsigned char*>(p);
    }
    ::close(fd); // the mapping keeps the file referenced
    return file;
}

MappedFile::~MappedFile() {
    if (m_data) ::munmap(const_cast<unsigned char*>(m_data), m_size);
}

void MappedFile::release(std::uint64_t offset, std::uint64_t length) const {
    if (!m_data || length == 0 || offset >= m_size) return;
    static const std::uint64_t page = std::uint64_t(::sysconf(_SC_PAGESIZE));
    // Only whole pages inside the range: a neighbouring tensor may still be in use.
    const std::uint64_t begin = (offset + page - 1) / page * page;
    const std::uint64_t end = std::min(m_size, offset + length) / page * page;
    if (end <= begin) return;
    ::madvise(const_cast<unsigned char*>(m_data) + begin, end - begin, MADV_DONTNEED);
}

} // namespace tsa
