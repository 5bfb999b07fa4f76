// Result and error reporting shared by every core operation: a value, warnings, and a status that
// names the file, the tensor and the problem when something goes wrong.
#pragma once

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tsa {

enum class ErrorCode {
    Ok,
    Io,          // cannot open, read, map or write a file
    Format,      // malformed file contents
    Shape,       // tensors disagree or do not match the expected layout
    Unsupported, // valid but not handled (dtype, layout)
    InvalidArgument,
    Cancelled,
};

struct Status {
    ErrorCode code = ErrorCode::Ok;
    std::string message;

    bool ok() const { return code == ErrorCode::Ok; }
    static Status success() { return {}; }
    static Status error(ErrorCode c, std::string msg) { return {c, std::move(msg)}; }
};

// A value or an error, plus warnings that do not stop the operation (NaNs found, layers skipped, ...).
template <typename T>
class Result {
public:
    Result(T value) : m_value(std::move(value)) {}
    Result(Status status) : m_status(std::move(status)) {}

    bool ok() const { return m_status.ok() && m_value.has_value(); }
    const Status& status() const { return m_status; }
    const std::string& error() const { return m_status.message; }

    T& value() { return *m_value; }
    const T& value() const { return *m_value; }
    T* operator->() { return &*m_value; }
    const T* operator->() const { return &*m_value; }
    T& operator*() { return *m_value; }
    const T& operator*() const { return *m_value; }

    std::vector<std::string> warnings;

private:
    std::optional<T> m_value;
    Status m_status;
};

} // namespace tsa
