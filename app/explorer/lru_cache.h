// A least-recently-used map bounded in bytes, for per-layer results that are expensive to recompute but too
// large to keep for every layer (a 32-head 32K-token dense output is 512 MiB). Values are shared_ptrs so a
// background job that is still reading an entry keeps it alive after eviction. GUI thread only.
#pragma once

#include <cstddef>
#include <list>
#include <map>
#include <memory>
#include <utility>

namespace tsa::app {

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
    std::shared_ptr<const Value> get(const Key& key) {
        auto it = m_entries.find(key);
        if (it == m_entries.end()) return nullptr;
        m_order.splice(m_order.begin(), m_order, it->second.position);
        return it->second.value;
    }
    // Does not change the order: for "is it there" questions that are not a use.
    bool contains(const Key& key) const { return m_entries.count(key) != 0; }

    // The entry just inserted is never evicted by its own insertion, even when it alone exceeds the budget:
    // the visible layer must stay usable whatever the budget.
    void put(const Key& key, std::shared_ptr<const Value> value, std::size_t bytes) {
        remove(key);
        m_order.push_front(key);
        m_entries[key] = Entry{std::move(value), bytes, m_order.begin()};
        m_bytes += bytes;
        evict(&key);
    }
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
        std::shared_ptr<const Value> value;
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

} // namespace tsa::app
