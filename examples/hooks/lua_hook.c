/*
 * lua_hook.c - Lua 5.4 with arenapool allocators through lua_newstate.
 *
 * Runs workload.lua (tables, strings, closures, coroutines, sort, gsub) once
 * with Lua's default allocator (luaL_newstate) and then RUNS times with each
 * arenapool allocator: an arena per script run (reset between runs, so the
 * runs after the first map nothing new) and the memory pool.  Every run's
 * report must equal the default one.  Usage: lua_hook SCRIPT [N] [RUNS].
 */
#include "allocator.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* lua_Alloc over an allocator_t.  Lua passes the old size (osize) of every
 * block it owns, which is exactly what arena_realloc needs; for a new block
 * osize is a type tag, not a size.  Shrinks never fail (arena_realloc shrinks
 * in place), as Lua requires. */
static void *lua_hook(void *ud, void *ptr, size_t osize, size_t nsize)
{
    const allocator_t *al = ud;
    if (nsize == 0) {
        allocator_free(al, ptr, ptr ? osize : 0);
        return NULL;
    }
    return allocator_realloc(al, ptr, ptr ? osize : 0, nsize);
}

/* Run the script in state L with argument n; returns a malloc'ed report or NULL. */
static char *run(lua_State *L, const char *script, const char *n)
{
    char *res = NULL;
    luaL_openlibs(L);
    if (luaL_loadfile(L, script) != LUA_OK) {
        fprintf(stderr, "lua_hook: %s\n", lua_tostring(L, -1));
        return NULL;
    }
    lua_pushstring(L, n);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "lua_hook: %s\n", lua_tostring(L, -1));
        return NULL;
    }
    const char *s = lua_tostring(L, -1);
    if (s)
        res = strdup(s);
    return res;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: lua_hook SCRIPT [N] [RUNS]\n");
        return 2;
    }
    const char *script = argv[1], *n = argc > 2 ? argv[2] : "20000";
    int runs = argc > 3 ? atoi(argv[3]) : 3, fails = 0;

    lua_State *L = luaL_newstate();
    char *want = L ? run(L, script, n) : NULL;
    if (L)
        lua_close(L);
    if (want == NULL)
        return 1;
    printf("%s\n", want);

    /* An arena per script run: lua_close frees into a no-op, the reset gives
     * it all back; max_bytes bounds a runaway script. */
    arena_t *a = arena_create(&(arena_opts_t){.max_bytes = (size_t)512 << 20});
    if (a == NULL)
        return 1;
    allocator_t al = allocator_from_arena(a);
    arena_stats_t st;
    size_t mmaps_after_first = 0;
    for (int r = 0; r < runs; r++) {
        L = lua_newstate(lua_hook, &al);
        char *got = L ? run(L, script, n) : NULL;
        if (L)
            lua_close(L);
        arena_stats(a, &st);
        printf("arena run %d: %s, used %zu KiB, mapped %zu KiB, mmaps %zu\n", r,
               got && strcmp(got, want) == 0 ? "same output" : "DIFFERENT OUTPUT",
               st.used / 1024, st.mapped / 1024, st.mmaps);
        fails += !(got && strcmp(got, want) == 0);
        free(got);
        arena_reset(a);
        if (r == 1)
            mmaps_after_first = st.mmaps;
        else if (r > 1 && st.mmaps != mmaps_after_first) {
            printf("arena run %d: mmap count grew (%zu -> %zu)\n", r, mmaps_after_first, st.mmaps);
            fails++;
        }
    }
    arena_destroy(a);

    allocator_t mp = allocator_from_mp();
    for (int r = 0; r < runs; r++) {
        L = lua_newstate(lua_hook, &mp);
        char *got = L ? run(L, script, n) : NULL;
        if (L)
            lua_close(L);
        printf("mp run %d: %s\n", r, got && strcmp(got, want) == 0 ? "same output" : "DIFFERENT OUTPUT");
        fails += !(got && strcmp(got, want) == 0);
        free(got);
    }
    printf("lua_hook: %s\n", fails ? "FAILED" : "ok");
    return fails != 0;
}
