#include "app/cli/cli_args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace tsa::cli {

Args::Args(std::set<std::string> valueOptions, std::set<std::string> flags)
    : m_valueOptions(std::move(valueOptions)), m_flags(std::move(flags)) {}

bool Args::parse(const std::vector<std::string>& args) {
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (a.size() < 3 || a.rfind("--", 0) != 0) {
            m_positional.push_back(a);
            continue;
        }
        std::string name = a.substr(2);
        std::optional<std::string> inlineValue;
        if (auto eq = name.find('='); eq != std::string::npos) {
            inlineValue = name.substr(eq + 1);
            name = name.substr(0, eq);
        }
        if (m_flags.count(name)) {
            if (inlineValue) {
                m_error = "option --" + name + " takes no value";
                return false;
            }
            m_seenFlags.insert(name);
        } else if (m_valueOptions.count(name)) {
            if (inlineValue) {
                m_values[name] = *inlineValue;
            } else if (i + 1 < args.size()) {
                m_values[name] = args[++i];
            } else {
                m_error = "option --" + name + " needs a value";
                return false;
            }
        } else {
            m_error = "unknown option --" + name;
            return false;
        }
    }
    return true;
}

bool Args::has(const std::string& name) const {
    return m_seenFlags.count(name) || m_values.count(name);
}

std::optional<std::string> Args::value(const std::string& name) const {
    auto it = m_values.find(name);
    if (it == m_values.end()) return std::nullopt;
    return it->second;
}

double Args::number(const std::string& name, double fallback) {
    auto v = value(name);
    if (!v) return fallback;
    char* end = nullptr;
    errno = 0;
    double d = std::strtod(v->c_str(), &end);
    if (v->empty() || *end != '\0' || errno != 0) {
        m_error = "option --" + name + ": '" + *v + "' is not a number";
        return fallback;
    }
    return d;
}

long long Args::integer(const std::string& name, long long fallback) {
    auto v = value(name);
    if (!v) return fallback;
    char* end = nullptr;
    errno = 0;
    long long n = std::strtoll(v->c_str(), &end, 10);
    if (v->empty() || *end != '\0' || errno != 0) {
        m_error = "option --" + name + ": '" + *v + "' is not an integer";
        return fallback;
    }
    return n;
}

bool writeTextFileAtomic(const std::string& path, const std::string& text, std::string& error) {
    // Temporary file beside the target, renamed over it once complete, so a failed write never leaves a
    // truncated file at the path.
    std::string temp = path + ".tmp-XXXXXX";
    const int fd = ::mkstemp(temp.data());
    if (fd < 0) {
        error = "cannot create a temporary file beside " + path;
        return false;
    }
    std::FILE* f = ::fdopen(fd, "wb");
    bool ok = f && std::fwrite(text.data(), 1, text.size(), f) == text.size();
    ok = f && std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0 && ok;
    if (f)
        ok = std::fclose(f) == 0 && ok;
    else
        ::close(fd);
    if (!ok || std::rename(temp.c_str(), path.c_str()) != 0) {
        std::remove(temp.c_str());
        error = "cannot write " + path;
        return false;
    }
    return true;
}

} // namespace tsa::cli
