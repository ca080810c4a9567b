// test_cxx.cpp - arenapool.hpp with std::vector, std::map, std::list (and
// std::string, std::unordered_map) under g++ -std=c++17 -Wall -Wextra -Werror.
// Checks contents against the same operations on std::allocator containers,
// that the memory really comes from the arena or pool (arena used, pool live
// counts), that pool nodes are reused, and that exhaustion throws bad_alloc.
#include "arenapool.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <list>
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

static int failures;
#define CHECK(...)                                                                \
    do {                                                                          \
        if (!(__VA_ARGS__)) {                                                            \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #__VA_ARGS__); \
            failures++;                                                           \
        }                                                                         \
    } while (0)

using arenapool::arena_allocator;
using arenapool::pool_allocator;

static size_t arena_used(arena_t *a)
{
    arena_stats_t st;
    arena_stats(a, &st);
    return st.used;
}

static size_t pool_live(pool_t *p)
{
    pool_stats_t st;
    pool_stats(p, &st);
    return st.live;
}

static void vector_in_arena()
{
    arena_t *a = arena_create(nullptr);
    arena_mark_t m = arena_mark(a);
    size_t before = arena_used(a);
    {
        std::vector<int, arena_allocator<int>> v{arena_allocator<int>(a)};
        std::vector<int> ref;
        for (int i = 0; i < 100000; i++)
            v.push_back(i * 7 % 1001), ref.push_back(i * 7 % 1001);
        std::sort(v.begin(), v.end());
        std::sort(ref.begin(), ref.end());
        CHECK(std::equal(v.begin(), v.end(), ref.begin(), ref.end()));
        CHECK(arena_used(a) >= before + 100000 * sizeof(int));
        // Over-aligned element type goes through arena_alloc_aligned.
        struct alignas(64) wide { char c[64]; };
        std::vector<wide, arena_allocator<wide>> w{arena_allocator<wide>(a)};
        w.resize(10);
        CHECK(reinterpret_cast<uintptr_t>(w.data()) % 64 == 0);
        // Strings in the arena, and a vector of them sharing it.
        using astring = std::basic_string<char, std::char_traits<char>, arena_allocator<char>>;
        std::vector<astring, arena_allocator<astring>> names{arena_allocator<astring>(a)};
        for (int i = 0; i < 1000; i++)
            names.emplace_back(std::string("a fairly long name number ") + std::to_string(i),
                               arena_allocator<char>(a));
        CHECK(names[999] == "a fairly long name number 999");
    }
    CHECK(arena_rewind(a, m) == 0);
    // Copies and rebinds compare equal on the same arena, unequal otherwise.
    arena_t *b = arena_create(nullptr);
    arena_allocator<int> x(a);
    arena_allocator<double> y(x);
    CHECK(x == y && !(x != arena_allocator<int>(a)) && x != arena_allocator<int>(b));
    arena_destroy(b);
    arena_destroy(a);
}

static void map_in_arena_and_pool()
{
    arena_t *a = arena_create(nullptr);
    // A map in the arena.
    {
        using A = arena_allocator<std::pair<const int, std::string>>;
        std::map<int, std::string, std::less<int>, A> m{A(a)};
        std::map<int, std::string> ref;
        for (int i = 0; i < 5000; i++) {
            int k = (i * 7919) % 10007;
            m[k] = std::to_string(i), ref[k] = std::to_string(i);
        }
        for (int i = 0; i < 5000; i += 3)
            m.erase(i), ref.erase(i);
        CHECK(m.size() == ref.size() && std::equal(m.begin(), m.end(), ref.begin()));
    }
    // A map whose nodes come from a pool: live slots == map size.
    pool_t *p = pool_create(a, 64, 0);
    {
        using P = pool_allocator<std::pair<const int, int>>;
        std::map<int, int, std::less<int>, P> m{P(p, 64, 0, a)};
        std::map<int, int> ref;
        for (int i = 0; i < 20000; i++) {
            int k = (i * 31337) % 40009;
            m[k] += i, ref[k] += i;
        }
        CHECK(pool_live(p) == m.size());
        for (int i = 0; i < 40009; i += 2)
            m.erase(i), ref.erase(i);
        CHECK(pool_live(p) == m.size());
        CHECK(m.size() == ref.size() && std::equal(m.begin(), m.end(), ref.begin()));
        // Refilling reuses the freed slots: capacity does not grow.
        pool_stats_t s1, s2;
        pool_stats(p, &s1);
        for (int i = 0; i < 40009; i += 4)
            m[i] = 1;
        pool_stats(p, &s2);
        CHECK(s2.capacity == s1.capacity);
    }
    CHECK(pool_live(p) == 0);
    // unordered_map: nodes from the pool, the bucket array (n > 1) from the fallback arena.
    {
        using P = pool_allocator<std::pair<const int, int>>;
        std::unordered_map<int, int, std::hash<int>, std::equal_to<int>, P> u{
            16, std::hash<int>(), std::equal_to<int>(), P(p, 64, 0, a)};
        for (int i = 0; i < 3000; i++)
            u[i] = i * i;
        CHECK(pool_live(p) == u.size() && u.at(2999) == 2999 * 2999);
    }
    CHECK(pool_live(p) == 0);
    pool_destroy(p);
    arena_destroy(a);
}

static void list_in_pool()
{
    pool_t *p = pool_create(nullptr, 32, 0); // private arena; list<int> nodes are 24 bytes
    {
        using P = pool_allocator<int>;
        std::list<int, P> l{P(p, 32)};
        std::list<int> ref;
        for (int i = 0; i < 10000; i++)
            l.push_back(i), ref.push_back(i);
        l.remove_if([](int v) { return v % 3 == 0; });
        ref.remove_if([](int v) { return v % 3 == 0; });
        l.sort(std::greater<int>());
        ref.sort(std::greater<int>());
        CHECK(l == std::list<int, P>(ref.begin(), ref.end(), P(p, 32)));
        CHECK(std::equal(l.begin(), l.end(), ref.begin(), ref.end()));
        CHECK(pool_live(p) == l.size());
        // A node too big for the slot, with no fallback arena: ::operator new.
        using Big = std::array<char, 100>;
        std::list<Big, pool_allocator<Big>> big{pool_allocator<Big>(p, 32)};
        big.emplace_back();
        CHECK(pool_live(p) == l.size());
        CHECK(!pool_allocator<Big>(p, 32).from_pool(1) && pool_allocator<int>(p, 32).from_pool(1));
    }
    CHECK(pool_live(p) == 0);
    pool_destroy(p);
}

// The adapter judges "fits a slot" by the pool's real alignment: a pool of
// 24-byte objects (align 0 -> natural alignment 8) must not take a 16-aligned
// T, whatever the caller believes; the fallback serves it, aligned.
static void over_aligned_type_is_never_misplaced()
{
    struct alignas(16) v16 { char c[16]; };
    arena_t *a = arena_create(nullptr);
    pool_t *p = pool_create(a, 24, 0);
    CHECK(pool_obj_size(p) == 24 && pool_obj_align(p) == 8);
    pool_allocator<v16> by_size(p, 24);  // the caller states the slot size only
    pool_allocator<v16> by_pool(p);      // or nothing: all from the pool
    CHECK(!by_size.from_pool(1) && !by_pool.from_pool(1));
    CHECK(by_pool.slot_size() == 24 && by_pool.slot_align() == 8);
    int misaligned = 0;
    v16 *objs[64];
    for (int i = 0; i < 64; i++) {
        objs[i] = (i & 1 ? by_size : by_pool).allocate(1);
        misaligned += reinterpret_cast<uintptr_t>(objs[i]) % alignof(v16) != 0;
    }
    CHECK(misaligned == 0);
    for (int i = 0; i < 64; i++)
        (i & 1 ? by_size : by_pool).deallocate(objs[i], 1);
    // A list of 16-aligned values: its nodes are 32-byte, 16-aligned.
    pool_t *q = pool_create(a, 32, 16);
    {
        std::list<v16, pool_allocator<v16>> l{pool_allocator<v16>(q)};
        for (int i = 0; i < 100; i++)
            l.emplace_back();
        for (const v16 &v : l)
            CHECK(reinterpret_cast<uintptr_t>(&v) % 16 == 0);
    }
    pool_destroy(q);
    pool_destroy(p);
    arena_destroy(a);
}

static void exhaustion_throws()
{
    arena_opts_t o{};
    o.chunk_size = 64 * 1024;
    o.max_bytes = 256 * 1024;
    arena_t *a = arena_create(&o);
    bool threw = false;
    try {
        std::vector<char, arena_allocator<char>> v{arena_allocator<char>(a)};
        v.resize(1 << 20);
    } catch (const std::bad_alloc &) {
        threw = true;
    }
    CHECK(threw);
    threw = false;
    try {
        arena_allocator<long>(a).allocate(std::numeric_limits<std::size_t>::max() / 2);
    } catch (const std::bad_alloc &) { // bad_array_new_length is a bad_alloc
        threw = true;
    }
    CHECK(threw);
    arena_destroy(a);
}

int main()
{
    vector_in_arena();
    map_in_arena_and_pool();
    list_in_pool();
    exhaustion_throws();
    over_aligned_type_is_never_misplaced();
    std::printf("test_cxx: %s\n", failures ? "FAILED" : "ok");
    return failures != 0;
}
