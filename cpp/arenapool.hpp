/*
 * arenapool.hpp - std::allocator-compatible adapters over arenas and pools
 * (C++17).  Sits above the C layers it adapts: it includes arena.h and
 * pool.h, and nothing below includes it.
 *
 *   arenapool::arena_allocator<T>  every allocate() bumps in an arena_t;
 *       deallocate() is a no-op (memory returns with arena_rewind/reset/destroy).
 *       Use for containers that live inside one scope: a request, a frame.
 *   arenapool::pool_allocator<T>   single-object allocations (n == 1) whose
 *       size and alignment fit the pool's slots come from a pool_t — the nodes
 *       of std::list, std::map, std::set, std::unordered_map; everything else
 *       (arrays, buckets, the rebinds that do not fit) goes to a fallback arena
 *       when one is given, else to ::operator new.  The same test picks the
 *       path in allocate and deallocate, so each block goes back where it came from.
 *       "Fits" is judged against the pool itself (pool_obj_size, pool_obj_align:
 *       with align 0, pool_create gives the natural alignment of the object
 *       size, e.g. 8 for 24 bytes), never against what the caller believes, so
 *       an over-aligned T is never placed in a slot that is not aligned for it.
 *
 * Both throw std::bad_alloc when the underlying call fails, so containers keep
 * their usual exception guarantees.  Copies (and rebinds) share the arena or
 * pool; allocators compare equal when they do.  Not thread-safe, like the arena.
 *
 *   arena_t *a = arena_create(NULL);
 *   std::vector<int, arenapool::arena_allocator<int>> v{arenapool::arena_allocator<int>(a)};
 *
 *   pool_t *p = pool_create(a, 64, 0);   // slots for map nodes up to 64 bytes, 16-aligned
 *   std::map<int, int, std::less<int>,
 *            arenapool::pool_allocator<std::pair<const int, int>>> m{arenapool::pool_allocator<
 *            std::pair<const int, int>>(p)};
 */
#ifndef ARENAPOOL_HPP
#define ARENAPOOL_HPP

#ifndef __cplusplus
#error "arenapool.hpp is a C++ header: C programs include arena.h and pool.h"
#elif __cplusplus < 201703L
#error "arenapool.hpp needs C++17"
#endif

#include "arena.h"
#include "pool.h"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <new>
#include <type_traits>

namespace arenapool {

namespace detail {
template <class T> inline std::size_t bytes_for(std::size_t n)
{
    if (n > std::numeric_limits<std::size_t>::max() / sizeof(T))
        throw std::bad_array_new_length();
    return n * sizeof(T);
}
} // namespace detail

/* ---- arena_allocator ---- */

template <class T> class arena_allocator {
public:
    using value_type = T;
    /* Containers may move or swap their memory along with the allocator. */
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;

    explicit arena_allocator(arena_t *a) noexcept : a_(a) {}
    template <class U> arena_allocator(const arena_allocator<U> &o) noexcept : a_(o.arena()) {}

    /* n Ts aligned for T; std::bad_alloc when the arena cannot grow. */
    T *allocate(std::size_t n)
    {
        std::size_t bytes = detail::bytes_for<T>(n);
        void *p = alignof(T) <= ARENA_ALIGN ? arena_alloc(a_, bytes)
                                            : arena_alloc_aligned(a_, bytes, alignof(T));
        if (p == nullptr)
            throw std::bad_alloc();
        return static_cast<T *>(p);
    }

    /* No-op: the arena frees by scope. */
    void deallocate(T *, std::size_t) noexcept {}

    arena_t *arena() const noexcept { return a_; }

private:
    arena_t *a_;
};

template <class T, class U>
bool operator==(const arena_allocator<T> &x, const arena_allocator<U> &y) noexcept
{
    return x.arena() == y.arena();
}
template <class T, class U>
bool operator!=(const arena_allocator<T> &x, const arena_allocator<U> &y) noexcept
{
    return !(x == y);
}

/* ---- pool_allocator ---- */

template <class T> class pool_allocator {
public:
    using value_type = T;
    using propagate_on_container_move_assignment = std::true_type;
    using propagate_on_container_swap = std::true_type;
    using is_always_equal = std::false_type;

    /* The pool's slot size and alignment are read from the pool.  slot_size and
     * slot_align, when not 0, may narrow what is served from it (e.g. to keep
     * some node types out of the pool); a value above the pool's own is a bug:
     * the pool's value is used instead (debug builds report it and abort).
     * fallback: the arena for what does not fit a slot, or nullptr for ::operator new. */
    explicit pool_allocator(pool_t *p) noexcept : pool_allocator(p, 0) {}
    pool_allocator(pool_t *p, std::size_t slot_size, std::size_t slot_align = 0,
                   arena_t *fallback = nullptr) noexcept
        : p_(p), slot_(pool_obj_size(p)), align_(pool_obj_align(p)), fb_(fallback)
    {
#if ARENAPOOL_DEBUG
        if (slot_size > slot_ || slot_align > align_) {
            std::fprintf(stderr, "arenapool: pool_allocator told slot %zu / align %zu, but the "
                                 "pool has %zu / %zu\n",
                         slot_size, slot_align, slot_, align_);
            std::abort();
        }
#endif
        if (slot_size && slot_size < slot_)
            slot_ = slot_size;
        if (slot_align && slot_align < align_)
            align_ = slot_align;
    }
    template <class U>
    pool_allocator(const pool_allocator<U> &o) noexcept
        : p_(o.pool()), slot_(o.slot_size()), align_(o.slot_align()), fb_(o.fallback())
    {
    }

    T *allocate(std::size_t n)
    {
        void *p;
        if (from_pool(n))
            p = pool_alloc(p_);
        else if (fb_)
            p = alignof(T) <= ARENA_ALIGN ? arena_alloc(fb_, detail::bytes_for<T>(n))
                                          : arena_alloc_aligned(fb_, detail::bytes_for<T>(n),
                                                                alignof(T));
        else
            return static_cast<T *>(::operator new(detail::bytes_for<T>(n),
                                                   std::align_val_t(alignof(T))));
        if (p == nullptr)
            throw std::bad_alloc();
        return static_cast<T *>(p);
    }

    void deallocate(T *p, std::size_t n) noexcept
    {
        if (from_pool(n))
            pool_free(p_, p);
        else if (!fb_)
            ::operator delete(p, std::align_val_t(alignof(T)));
    }

    /* True when n Ts are served by the pool (else by the fallback): one T that
     * fits a slot, in size and in alignment. */
    bool from_pool(std::size_t n) const noexcept
    {
        return n == 1 && sizeof(T) <= slot_ && alignof(T) <= align_;
    }

    pool_t *pool() const noexcept { return p_; }
    std::size_t slot_size() const noexcept { return slot_; }
    std::size_t slot_align() const noexcept { return align_; }
    arena_t *fallback() const noexcept { return fb_; }

private:
    pool_t *p_;
    std::size_t slot_, align_;
    arena_t *fb_;
};

template <class T, class U>
bool operator==(const pool_allocator<T> &x, const pool_allocator<U> &y) noexcept
{
    return x.pool() == y.pool() && x.fallback() == y.fallback();
}
template <class T, class U>
bool operator!=(const pool_allocator<T> &x, const pool_allocator<U> &y) noexcept
{
    return !(x == y);
}

} // namespace arenapool

#endif /* ARENAPOOL_HPP */
