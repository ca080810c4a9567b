// consumer.cpp - the installed C++ header (C++17), in its installed form, through
// pkg-config; run.sh also checks that -std=c++14 stops at its #error.
#include <arenapool/arenapool.hpp>

#include <cstdio>
#include <vector>

int main()
{
    arena_t *a = arena_create(nullptr);
    std::vector<int, arenapool::arena_allocator<int>> v{arenapool::arena_allocator<int>(a)};
    for (int i = 0; i < 1000; i++)
        v.push_back(i);
    bool ok = v[999] == 999;
    arena_destroy(a);
    std::printf("consumer.cpp: %s\n", ok ? "ok" : "FAILED");
    return !ok;
}
