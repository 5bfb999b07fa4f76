#include "app/common/data_dirs.h"

#include <filesystem>
#include <system_error>

#ifndef TSA_DATA_RELATIVE
#define TSA_DATA_RELATIVE "../share/tsa-explorer"
#endif

namespace tsa::data {

namespace fs = std::filesystem;

std::vector<std::string> candidates() {
    std::vector<std::string> out;
    // The executable's directory from /proc/self/exe: no application object needed (Linux).
    std::error_code ec;
    const fs::path self = fs::canonical("/proc/self/exe", ec);
    if (!ec) out.push_back((self.parent_path() / TSA_DATA_RELATIVE).lexically_normal().string());
#ifdef TSA_SAMPLE_DIR
    out.push_back(TSA_SAMPLE_DIR);
#endif
    return out;
}

std::string directory() {
    for (const std::string& dir : candidates()) {
        std::error_code ec;
        if (fs::is_regular_file(fs::path(dir) / "sample.safetensors", ec)) {
            const fs::path canonical = fs::canonical(dir, ec);
            return ec ? dir : canonical.string();
        }
    }
    return {};
}

std::string file(const std::string& name) {
    const std::string dir = directory();
    return dir.empty() ? std::string() : dir + "/" + name;
}

} // namespace tsa::data
