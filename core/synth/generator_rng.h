// Counter-based random streams for the synthetic generator. Every random value is a pure function of
// (seed, tag, indices), so a layer, a head or a row can be generated in any order, on any thread, and
// the output is byte-identical whatever the thread count.
#pragma once

#include <cmath>
#include <cstdint>

namespace tsa::gen {

inline std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

// Folds one more index into a key; splitmix64's finaliser makes neighbouring indices unrelated.
inline std::uint64_t mixKey(std::uint64_t key, std::uint64_t value) {
    std::uint64_t s = key ^ (value * 0xD1B54A32D192ED03ull + 0x8CB92BA72F3D8DD7ull);
    return splitmix64(s);
}

inline std::uint64_t streamKey(std::uint64_t seed, std::uint64_t tag, std::uint64_t a = 0,
                               std::uint64_t b = 0, std::uint64_t c = 0) {
    return mixKey(mixKey(mixKey(mixKey(seed, tag), a), b), c);
}

// Tags separate the independent streams of one seed.
enum StreamTag : std::uint64_t {
    kTagQueryNoise = 1,
    kTagKeyNoise,
    kTagValueNoise,
    kTagImportance,
    kTagLayerSetup,
    kTagText,
    kTagDrift,
    kTagNeedles,
};

// A sequential stream seeded from a key: splitmix64 outputs, uniforms and Box-Muller normals.
class Stream {
public:
    explicit Stream(std::uint64_t key) : m_state(key) {}

    std::uint64_t next() { return splitmix64(m_state); }
    // Uniform in [0, 1) with 53 bits.
    double uniform() { return double(next() >> 11) * (1.0 / 9007199254740992.0); }
    // Uniform integer in [0, n).
    std::uint64_t below(std::uint64_t n) { return n == 0 ? 0 : next() % n; }

    // Standard normal; float precision is plenty for noise and twice as fast. Pairs come from one draw.
    float normal() {
        if (m_hasSpare) {
            m_hasSpare = false;
            return m_spare;
        }
        const std::uint64_t x = next();
        const float u1 = (float(x >> 40) + 0.5f) * (1.0f / 16777216.0f);
        const float u2 = (float((x >> 8) & 0xFFFFFFu) + 0.5f) * (1.0f / 16777216.0f);
        const float r = std::sqrt(-2.0f * std::log(u1));
        const float a = 6.28318530717958647f * u2;
        m_spare = r * std::sin(a);
        m_hasSpare = true;
        return r * std::cos(a);
    }
    double normalD() { return double(normal()); }

private:
    std::uint64_t m_state;
    float m_spare = 0.0f;
    bool m_hasSpare = false;
};

} // namespace tsa::gen
