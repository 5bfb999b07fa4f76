// .npy header parser: a small recursive-descent reader for the Python literal numpy writes
// ({'descr': '<f4', 'fortran_order': False, 'shape': (8, 512, 8), }), with depth and size limits so a
// hostile header cannot recurse or allocate without bound.
#include "core/io/npy.h"

#include "core/io/safetensors_reader.h" // shapeElements, shapeText

#include <cstring>
#include <map>

namespace tsa {

namespace {

struct PyValue {
    enum Kind { None, Bool, Int, Str, Tuple, List, Dict } kind = None;
    bool b = false;
    std::int64_t i = 0;
    std::string s;
    std::vector<PyValue> items;    // tuple, list, or dict values
    std::vector<std::string> keys; // dict keys, parallel to items (a pair with an incomplete type is
                                   // not allowed in a vector, a PyValue is)
};

class PyLiteralParser {
public:
    PyLiteralParser(const char* p, std::size_t n) : m_p(p), m_end(p + n) {}

    bool parse(PyValue* out, std::string* error) {
        if (!value(out, 0)) {
            *error = m_error.empty() ? "malformed header dict" : m_error;
            return false;
        }
        skipSpace();
        if (m_p != m_end) {
            *error = "unexpected text after the header dict";
            return false;
        }
        return true;
    }

private:
    static constexpr int kMaxDepth = 16;

    void skipSpace() {
        while (m_p < m_end && (*m_p == ' ' || *m_p == '\t' || *m_p == '\n' || *m_p == '\r'))
            ++m_p;
    }
    bool fail(const std::string& what) {
        if (m_error.empty()) m_error = what;
        return false;
    }
    bool literal(const char* word) {
        const std::size_t n = std::strlen(word);
        if (std::size_t(m_end - m_p) >= n && std::memcmp(m_p, word, n) == 0) {
            m_p += n;
            return true;
        }
        return false;
    }

    bool value(PyValue* out, int depth) {
        if (depth > kMaxDepth) return fail("header dict nested too deeply");
        skipSpace();
        if (m_p == m_end) return fail("header dict ends unexpectedly");
        const char c = *m_p;
        if (c == '\'' || c == '"') {
            out->kind = PyValue::Str;
            return string(&out->s);
        }
        if (c == '-' || (c >= '0' && c <= '9')) {
            out->kind = PyValue::Int;
            return integer(&out->i);
        }
        if (literal("True")) {
            out->kind = PyValue::Bool;
            out->b = true;
            return true;
        }
        if (literal("False")) {
            out->kind = PyValue::Bool;
            return true;
        }
        if (literal("None")) {
            out->kind = PyValue::None;
            return true;
        }
        if (c == '(' || c == '[') {
            out->kind = c == '(' ? PyValue::Tuple : PyValue::List;
            const char close = c == '(' ? ')' : ']';
            ++m_p;
            for (;;) {
                skipSpace();
                if (m_p < m_end && *m_p == close) {
                    ++m_p;
                    return true;
                }
                out->items.emplace_back();
                if (!value(&out->items.back(), depth + 1)) return false;
                skipSpace();
                if (m_p < m_end && *m_p == ',')
                    ++m_p;
                else if (!(m_p < m_end && *m_p == close))
                    return fail("expected ',' or a closing bracket");
            }
        }
        if (c == '{') {
            out->kind = PyValue::Dict;
            ++m_p;
            for (;;) {
                skipSpace();
                if (m_p < m_end && *m_p == '}') {
                    ++m_p;
                    return true;
                }
                std::string key;
                if (m_p == m_end || (*m_p != '\'' && *m_p != '"'))
                    return fail("header dict keys must be strings");
                if (!string(&key)) return false;
                skipSpace();
                if (m_p == m_end || *m_p != ':') return fail("expected ':' in the header dict");
                ++m_p;
                PyValue v;
                if (!value(&v, depth + 1)) return false;
                out->keys.push_back(std::move(key));
                out->items.push_back(std::move(v));
                skipSpace();
                if (m_p < m_end && *m_p == ',')
                    ++m_p;
                else if (!(m_p < m_end && *m_p == '}'))
                    return fail("expected ',' or '}' in the header dict");
            }
        }
        return fail(std::string("unexpected character '") + c + "' in the header dict");
    }

    bool string(std::string* out) {
        const char quote = *m_p++;
        while (m_p < m_end && *m_p != quote) {
            if (*m_p == '\\' && m_p + 1 < m_end) ++m_p;
            out->push_back(*m_p++);
        }
        if (m_p == m_end) return fail("unterminated string in the header dict");
        ++m_p;
        return true;
    }

    bool integer(std::int64_t* out) {
        bool neg = false;
        if (*m_p == '-') {
            neg = true;
            ++m_p;
        }
        if (m_p == m_end || *m_p < '0' || *m_p > '9') return fail("malformed integer in the header dict");
        std::uint64_t v = 0;
        while (m_p < m_end && *m_p >= '0' && *m_p <= '9') {
            v = v * 10 + std::uint64_t(*m_p - '0');
            if (v > (std::uint64_t(1) << 62)) return fail("integer too large in the header dict");
            ++m_p;
        }
        if (m_p < m_end && (*m_p == 'L' || *m_p == 'l')) ++m_p; // Python 2 long suffix in old files
        *out = neg ? -std::int64_t(v) : std::int64_t(v);
        return true;
    }

    const char* m_p;
    const char* m_end;
    std::string m_error;
};

Status npyError(ErrorCode code, const std::string& name, const std::string& what) {
    return Status::error(code, name + ": " + what);
}

// "<f4" -> kind 'f', size 4; false for structured, datetime and other descrs TSA never needs.
bool parseDescr(const std::string& d, char* order, char* kind, std::size_t* itemSize) {
    std::size_t i = 0;
    *order = '=';
    if (i < d.size() && (d[i] == '<' || d[i] == '>' || d[i] == '|' || d[i] == '=')) *order = d[i++];
    if (i >= d.size()) return false;
    *kind = d[i++];
    if (std::strchr("biufcUSV", *kind) == nullptr) return false;
    if (i >= d.size() || d.size() - i > 9) return false;
    std::size_t n = 0;
    for (; i < d.size(); ++i) {
        if (d[i] < '0' || d[i] > '9') return false;
        n = n * 10 + std::size_t(d[i] - '0');
    }
    if (n == 0) return false;
    *itemSize = *kind == 'U' ? n * 4 : n; // numpy's U is UCS-4: n characters of 4 bytes
    return true;
}

DType dtypeOf(char kind, std::size_t size) {
    switch (kind) {
    case 'f':
        return size == 4 ? DType::F32 : size == 2 ? DType::F16 : size == 8 ? DType::F64 : DType::Unknown;
    case 'i':
        return size == 4 ? DType::I32 : size == 8 ? DType::I64 : DType::Unknown;
    case 'u':
        return size == 1 ? DType::U8 : DType::Unknown;
    case 'b':
        return size == 1 ? DType::Bool : DType::Unknown;
    default:
        return DType::Unknown;
    }
}

} // namespace

std::uint64_t npyHeaderSpan(const unsigned char* data, std::size_t size, const std::string& name,
                            Status* error) {
    static const unsigned char magic[6] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
    if (size < 10 || std::memcmp(data, magic, 6) != 0) {
        *error = npyError(ErrorCode::Format, name,
                          size < 10 ? "truncated .npy header" : "not a .npy array (bad magic)");
        return 0;
    }
    const unsigned major = data[6];
    std::uint64_t len = 0, pre = 0;
    if (major == 1) {
        len = std::uint64_t(data[8]) | (std::uint64_t(data[9]) << 8);
        pre = 10;
    } else if (major == 2 || major == 3) {
        if (size < 12) {
            *error = npyError(ErrorCode::Format, name, "truncated .npy header");
            return 0;
        }
        len = std::uint64_t(data[8]) | (std::uint64_t(data[9]) << 8) | (std::uint64_t(data[10]) << 16) |
              (std::uint64_t(data[11]) << 24);
        pre = 12;
    } else {
        *error = npyError(ErrorCode::Unsupported, name,
                          "unsupported .npy version " + std::to_string(major) + "." +
                              std::to_string(unsigned(data[7])));
        return 0;
    }
    if (len > kMaxNpyHeaderBytes) {
        *error = npyError(ErrorCode::Format, name,
                          ".npy header length " + std::to_string(len) + " exceeds the 1 MB limit");
        return 0;
    }
    return pre + len;
}

Result<NpyHeader> parseNpyHeader(const unsigned char* data, std::size_t size, std::uint64_t totalSize,
                                 const std::string& name) {
    if (totalSize == 0 || size == 0) return npyError(ErrorCode::Format, name, "empty .npy (0 bytes)");
    Status err;
    const std::uint64_t span = npyHeaderSpan(data, size, name, &err);
    if (span == 0) return err;
    if (span > size || span > totalSize)
        return npyError(ErrorCode::Format, name,
                        "truncated: .npy header of " + std::to_string(span) + " bytes runs past the end (" +
                            std::to_string(totalSize) + " bytes)");
    const std::size_t pre = data[6] == 1 ? 10 : 12;
    const char* text = reinterpret_cast<const char*>(data + pre);
    std::size_t textLen = std::size_t(span - pre);
    while (textLen > 0 &&
           (text[textLen - 1] == '\n' || text[textLen - 1] == ' ' || text[textLen - 1] == '\0'))
        --textLen;

    PyValue root;
    std::string perr;
    if (!PyLiteralParser(text, textLen).parse(&root, &perr))
        return npyError(ErrorCode::Format, name, "invalid .npy header: " + perr);
    if (root.kind != PyValue::Dict)
        return npyError(ErrorCode::Format, name, "invalid .npy header: not a dict");
    const PyValue* descr = nullptr;
    const PyValue* fortran = nullptr;
    const PyValue* shape = nullptr;
    for (std::size_t i = 0; i < root.keys.size(); ++i) {
        const std::string& k = root.keys[i];
        if (k == "descr")
            descr = &root.items[i];
        else if (k == "fortran_order")
            fortran = &root.items[i];
        else if (k == "shape")
            shape = &root.items[i];
    }
    if (!descr || !fortran || !shape)
        return npyError(ErrorCode::Format, name,
                        "invalid .npy header: needs 'descr', 'fortran_order' and 'shape'");
    if (descr->kind != PyValue::Str)
        return npyError(ErrorCode::Unsupported, name, "structured .npy dtypes are not supported");
    if (fortran->kind != PyValue::Bool)
        return npyError(ErrorCode::Format, name, "'fortran_order' is not a bool");
    if (fortran->b)
        return npyError(ErrorCode::Unsupported, name,
                        "fortran_order=True is not supported (save np.ascontiguousarray(x) instead)");
    if (shape->kind != PyValue::Tuple && shape->kind != PyValue::List)
        return npyError(ErrorCode::Format, name, "'shape' is not a tuple");

    NpyHeader h;
    h.descr = descr->s;
    char order = 0;
    if (!parseDescr(h.descr, &order, &h.kind, &h.itemSize))
        return npyError(ErrorCode::Unsupported, name, "unsupported dtype descr '" + h.descr + "'");
    if (order == '>' && (h.itemSize > 1 && h.kind != 'S' && h.kind != 'V'))
        return npyError(ErrorCode::Unsupported, name, "big-endian dtype '" + h.descr + "' is not supported");
    h.dtype = dtypeOf(h.kind, h.itemSize);
    if (shape->items.size() > 16)
        return npyError(ErrorCode::Format, name, "shape has more than 16 dimensions");
    for (const PyValue& d : shape->items) {
        if (d.kind != PyValue::Int || d.i < 0)
            return npyError(ErrorCode::Format, name, "shape entries must be non-negative integers");
        h.shape.push_back(d.i);
    }
    if (!shapeElements(h.shape, &h.elements) || h.elements > ~std::uint64_t(0) / h.itemSize)
        return npyError(ErrorCode::Format, name,
                        "shape " + shapeText(h.shape) + " has an element count that overflows");
    h.dataBytes = h.elements * h.itemSize;
    h.dataOffset = span;
    const std::uint64_t available = totalSize - span;
    if (available != h.dataBytes)
        return npyError(ErrorCode::Format, name,
                        (available < h.dataBytes ? "truncated: " : "size mismatch: ") +
                            std::to_string(available) + " data bytes, but shape " + shapeText(h.shape) +
                            " of '" + h.descr + "' needs " + std::to_string(h.dataBytes));
    return h;
}

} // namespace tsa
