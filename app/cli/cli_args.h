// A small, strict command-line parser for the `tsa` subcommands: `--name value`, `--name=value`,
// boolean `--flag`s and positional arguments. Unknown options are errors, so typos never pass silently.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace tsa::cli {

class Args {
public:
    // valueOptions take a value, flags do not (names without the leading dashes).
    Args(std::set<std::string> valueOptions, std::set<std::string> flags);

    // Returns false and sets error() for an unknown option or a missing value.
    bool parse(const std::vector<std::string>& args);
    const std::string& error() const { return m_error; }

    bool has(const std::string& name) const;
    std::optional<std::string> value(const std::string& name) const;
    const std::vector<std::string>& positional() const { return m_positional; }

    // Typed getters: on a malformed number they set error() and return the fallback.
    double number(const std::string& name, double fallback);
    long long integer(const std::string& name, long long fallback);
    bool failed() const { return !m_error.empty(); }

private:
    std::set<std::string> m_valueOptions;
    std::set<std::string> m_flags;
    std::map<std::string, std::string> m_values;
    std::set<std::string> m_seenFlags;
    std::vector<std::string> m_positional;
    std::string m_error;
};

// Exit codes shared by every subcommand.
constexpr int kExitOk = 0;
constexpr int kExitFailure = 1; // the operation ran and failed (write error, cancelled)
constexpr int kExitUsage = 2;   // bad file or bad option

// Writes text to a temporary file beside path and renames it into place; false with a message naming it.
bool writeTextFileAtomic(const std::string& path, const std::string& text, std::string& error);

int cmdInfo(const std::vector<std::string>& args);
int cmdGenerate(const std::vector<std::string>& args);
int cmdRun(const std::vector<std::string>& args);
int cmdExport(const std::vector<std::string>& args);
int cmdCompare(const std::vector<std::string>& args);

} // namespace tsa::cli
