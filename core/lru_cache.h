// A least-recently-used map bounded in bytes: the one cache type of the project. The capture's fp32 layers
// (core/io/capture.cpp, under its own mutex) and the explorer's per-layer results (dense outputs, attention
// maps, partial sums: a 32-head 32K-token dense output is 512 MiB) use it. Values are shared_ptrs, so a
// reader (a background job) keeps an entry alive after eviction; Value may be const. Not thread-safe: the
// owner locks or keeps it on one thread. get() counts as a use and reorders; peek() and contains() do not.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <utility>

namespace tsa {

template <typename Key, typename Value>
class LruCache {
public:
    explicit LruCache(std::size_t budgetBytes = 0) : m_budget(budgetBytes) {}

    void setBudget(std::size_t bytes) {
        m_budget = bytes;
        evict(nullptr);
    }
    std::size_t budget() const { return m_budget; }
    std::size_t bytes() const { return m_bytes; }
    std::size_t size() const { return m_entries.size(); }

    // Marks the entry as most recently used.
    std::shared_ptr<Value> get(const Key& key) {
        auto it = m_entries.find(key);
        if (it == m_entries.end()) return nullptr;
        m_order.splice(m_order.begin(), m_order, it->second.position);
        return it->second.value;
    }
    // The entry without counting a use (const callers, "what is there" questions).
    std::shared_ptr<Value> peek(const Key& key) const {
        auto it = m_entries.find(key);
        return it == m_entries.end() ? nullptr : it->second.value;
    }
    bool contains(const Key& key) const { return m_entries.count(key) != 0; }

    // The entry just inserted is never evicted by its own insertion, even when it alone exceeds the budget:
    // the visible layer must stay usable whatever the budget (callers that would rather not keep an
    // oversized entry check fits() first).
    void put(const Key& key, std::shared_ptr<Value> value, std::size_t bytes) {
        remove(key);
        m_order.push_front(key);
        m_entries[key] = Entry{std::move(value), bytes, m_order.begin()};
        m_bytes += bytes;
        evict(&key);
    }
    bool fits(std::size_t bytes) const { return bytes <= m_budget; }
    void remove(const Key& key) {
        auto it = m_entries.find(key);
        if (it == m_entries.end()) return;
        m_bytes -= it->second.bytes;
        m_order.erase(it->second.position);
        m_entries.erase(it);
    }
    void clear() {
        m_entries.clear();
        m_order.clear();
        m_bytes = 0;
    }

private:
    struct Entry {
        std::shared_ptr<Value> value;
        std::size_t bytes = 0;
        typename std::list<Key>::iterator position;
    };
    void evict(const Key* keep) {
        while (m_bytes > m_budget && !m_order.empty()) {
            const Key victim = m_order.back();
            if (keep && !(victim < *keep) && !(*keep < victim)) break;
            remove(victim);
        }
    }

    std::size_t m_budget;
    std::size_t m_bytes = 0;
    std::list<Key> m_order; // front: most recent
    std::map<Key, Entry> m_entries;
};

} // namespace tsa
