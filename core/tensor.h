// Owning fp32 tensors and non-owning views in the project's [heads, tokens, dim] layout.
// Everything in core addresses elements with 64-bit indices: 128K tokens x 32 heads x 128 dims
// (2^29 elements) must never overflow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace tsa {

using Index = std::int64_t;

// Read-only view of a row-major [heads, tokens, dim] fp32 block.
struct ConstView3 {
    const float* data = nullptr;
    Index heads = 0;
    Index tokens = 0;
    Index dim = 0;

    const float* row(Index h, Index t) const { return data + (h * tokens + t) * dim; }
    Index size() const { return heads * tokens * dim; }
    bool empty() const { return data == nullptr || size() == 0; }
};

// Writable view of a row-major [heads, tokens, dim] fp32 block.
struct View3 {
    float* data = nullptr;
    Index heads = 0;
    Index tokens = 0;
    Index dim = 0;

    float* row(Index h, Index t) const { return data + (h * tokens + t) * dim; }
    Index size() const { return heads * tokens * dim; }
    operator ConstView3() const { return {data, heads, tokens, dim}; }
};

// std::allocator, except that resize() leaves new elements uninitialised. A 512 MiB output allocated this
// way is faulted in tile by tile by the kernel that writes it, instead of being zeroed up front in one step
// that a cancel cannot interrupt (a quarter of a second at 32 heads x 32K x 128).
template <typename T>
struct DefaultInitAllocator : std::allocator<T> {
    template <typename U>
    struct rebind {
        using other = DefaultInitAllocator<U>;
    };
    DefaultInitAllocator() = default;
    template <typename U>
    DefaultInitAllocator(const DefaultInitAllocator<U>&) noexcept {}
    template <typename U>
    void construct(U* p) noexcept {
        ::new (static_cast<void*>(p)) U;
    }
    template <typename U, typename... Args>
    void construct(U* p, Args&&... args) {
        ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
    }
};
using FloatBuffer = std::vector<float, DefaultInitAllocator<float>>;

// Owning [heads, tokens, dim] fp32 tensor.
struct Tensor3 {
    FloatBuffer data;
    Index heads = 0;
    Index tokens = 0;
    Index dim = 0;

    Tensor3() = default;
    Tensor3(Index h, Index t, Index d)
        : data(static_cast<std::size_t>(h * t * d), 0.0f), heads(h), tokens(t), dim(d) {}
    // For a kernel that writes every element: no up-front zeroing (see DefaultInitAllocator).
    static Tensor3 uninitialised(Index h, Index t, Index d) {
        Tensor3 x;
        x.data.resize(static_cast<std::size_t>(h * t * d));
        x.heads = h;
        x.tokens = t;
        x.dim = d;
        return x;
    }

    float* row(Index h, Index t) { return data.data() + (h * tokens + t) * dim; }
    const float* row(Index h, Index t) const { return data.data() + (h * tokens + t) * dim; }
    Index size() const { return heads * tokens * dim; }
    View3 view() { return {data.data(), heads, tokens, dim}; }
    ConstView3 view() const { return {data.data(), heads, tokens, dim}; }
    ConstView3 cview() const { return {data.data(), heads, tokens, dim}; }
};

// Non-owning Q/K/V of one layer, what the layer operations read: a LayerQkv converts to it implicitly,
// and the Python module points it at numpy buffers, so neither has to copy a layer into Tensor3s.
struct LayerQkvView {
    ConstView3 q; // [Hq, L, D]
    ConstView3 k; // [Hkv, L, D]
    ConstView3 v; // [Hkv, L, D]

    Index qHeads() const { return q.heads; }
    Index kvHeads() const { return k.heads; }
    Index tokens() const { return q.tokens; }
    Index headDim() const { return q.dim; }
    Index groupSize() const { return kvHeads() > 0 ? qHeads() / kvHeads() : 0; }
};

// Q/K/V of one layer, fp32, post-RoPE. q is [Hq, L, D]; k and v are [Hkv, L, D].
struct LayerQkv {
    Tensor3 q;
    Tensor3 k;
    Tensor3 v;

    Index qHeads() const { return q.heads; }
    Index kvHeads() const { return k.heads; }
    Index tokens() const { return q.tokens; }
    Index headDim() const { return q.dim; }
    Index groupSize() const { return kvHeads() > 0 ? qHeads() / kvHeads() : 0; }
    std::size_t bytes() const { return (q.data.size() + k.data.size() + v.data.size()) * sizeof(float); }
    operator LayerQkvView() const { return {q.cview(), k.cview(), v.cview()}; }
};

} // namespace tsa
