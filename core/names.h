// Name tables for the enums users type (sparse-layer modes, layer measures, ...): one table per enum, and
// the three questions every front end asks of it, so a name is spelled once.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tsa {

template <typename E>
struct NamedValue {
    E value;
    const char* name;
};

// The name of value in table; the first entry's name for a value the table lacks.
template <typename E, std::size_t N>
const char* nameIn(const NamedValue<E> (&table)[N], E value) {
    for (const NamedValue<E>& entry : table)
        if (entry.value == value) return entry.name;
    return table[0].name;
}

// The value named exactly name, if any.
template <typename E, std::size_t N>
std::optional<E> valueNamed(const NamedValue<E> (&table)[N], std::string_view name) {
    for (const NamedValue<E>& entry : table)
        if (name == entry.name) return entry.value;
    return std::nullopt;
}

// "a, b or c": accepted names for messages and help texts.
inline std::string choiceList(const std::vector<std::string>& names) {
    std::string text;
    for (std::size_t i = 0; i < names.size(); ++i)
        text += (i == 0 ? "" : i + 1 == names.size() ? " or " : ", ") + names[i];
    return text;
}

// choiceList of a table's names.
template <typename E, std::size_t N>
std::string choicesIn(const NamedValue<E> (&table)[N]) {
    std::vector<std::string> names;
    for (const NamedValue<E>& entry : table)
        names.push_back(entry.name);
    return choiceList(names);
}

} // namespace tsa
