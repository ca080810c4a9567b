# mk/examples.mk - examples for real users and their tests.
#
#   make example-server   run build/examples/http_server on 127.0.0.1:8080 (DIR = .)
#   make test-server      start it on a free port, good + malicious requests, wrk,
#                         RSS / mmap count flat after warm-up (tests/server/run.sh)
#   make bench-server     req/s and RSS of the arena build and the malloc one
#                         (bench/http_server_malloc.c: the same server code), side by side
#   make test-hooks       Lua 5.4, zlib, expat through examples/allocator.h
#   make test-cxx         arenapool.hpp with std::vector/map/list (g++ -std=c++17)
#   make test-install     install into a temp DESTDIR, pkg-config and CMake consumers, uninstall
#   make test-readme      README.md's install and hello world, run as written (tests/install/readme.sh)
#
# The real libraries come from Debian (.ci/deps.sh extra); a hook whose library
# is missing is skipped with a message, not failed.

EX_DIR      := build/examples
EX_CPPFLAGS := $(BASE_CPPFLAGS) -Iexamples -D_GNU_SOURCE
EX_CFLAGS   := $(WARN) $(CFLAGS)
EX_LIB      := $(REL_DIR)/libarenapool.a
EX_ALLOC    := examples/allocator.c examples/allocator.h
LUA_CFLAGS  := $(shell pkg-config --cflags lua5.4 2>/dev/null || echo -I/usr/include/lua5.4)
LUA_LIBS    := $(shell pkg-config --libs lua5.4 2>/dev/null || echo -llua5.4)
CXX         ?= g++
CXX_WARN    := -std=c++17 -Wall -Wextra -Werror
# The C++ adapters (cpp/) sit above the C layers; only C++ builds look there.
CXX_CPPFLAGS := $(BASE_CPPFLAGS) -Icpp

PUBLIC_HDR   += cpp/arenapool.hpp
TEST_TARGETS += test-hooks test-cxx test-install test-readme test-server

.PHONY: example-server test-server bench-server test-hooks test-cxx test-install test-readme

# ---- HTTP server ----
$(EX_DIR)/http_server: examples/http_server.c $(EX_LIB) $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) $< $(EX_LIB) -lpthread -o $@

# The comparison build: bench/http_server_malloc.c includes the example and
# defines its memory calls on malloc/free.
SERVER_MALLOC := build/bench/http_server_malloc
$(SERVER_MALLOC): bench/http_server_malloc.c examples/http_server.c $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) $< -o $@

example-server: $(EX_DIR)/http_server
	$(EX_DIR)/http_server -p 8080 .

test-server: $(EX_DIR)/http_server $(SERVER_MALLOC)
	@echo "== tests: http_server (good and malicious requests, load, flat memory)"
	@sh .ci/deps.sh extra
	sh tests/server/run.sh $(EX_DIR)/http_server
	sh tests/server/run.sh $(SERVER_MALLOC) quick

bench-server: $(EX_DIR)/http_server $(SERVER_MALLOC)
	@sh .ci/deps.sh extra
	sh tests/server/bench.sh $(EX_DIR)/http_server $(SERVER_MALLOC)

# ---- allocator hooks ----
$(EX_DIR)/hooks/lua_hook: examples/hooks/lua_hook.c $(EX_ALLOC) $(EX_LIB) $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) $(LUA_CFLAGS) $(filter %.c,$^) $(EX_LIB) $(LUA_LIBS) -lm -lpthread -o $@

$(EX_DIR)/hooks/zlib_hook: examples/hooks/zlib_hook.c $(EX_ALLOC) $(EX_LIB) $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) $(filter %.c,$^) $(EX_LIB) -lz -lpthread -o $@

$(EX_DIR)/hooks/expat_hook: examples/hooks/expat_hook.c $(EX_ALLOC) $(EX_LIB) $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) $(filter %.c,$^) $(EX_LIB) -lexpat -lpthread -o $@

$(EX_DIR)/hooks/test_allocator: tests/hooks/test_allocator.c $(EX_ALLOC) $(EX_LIB) $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(EX_CPPFLAGS) $(EX_CFLAGS) $(filter %.c,$^) $(EX_LIB) -lpthread -o $@

# Each hook is built in a sub-make only when its library's header is present,
# so a machine without (say) expat still runs the others.
test-hooks:
	@echo "== tests: allocator hooks (Lua 5.4, zlib, expat)"
	@sh .ci/deps.sh extra
	@$(MAKE) --no-print-directory $(EX_DIR)/hooks/test_allocator && $(EX_DIR)/hooks/test_allocator
	@if [ -e /usr/include/lua5.4/lua.h ]; then \
	  $(MAKE) --no-print-directory $(EX_DIR)/hooks/lua_hook && \
	  $(EX_DIR)/hooks/lua_hook examples/hooks/workload.lua 20000 3; \
	else echo "test-hooks: liblua5.4-dev missing, Lua skipped"; fi
	@if [ -e /usr/include/zlib.h ]; then \
	  $(MAKE) --no-print-directory $(EX_DIR)/hooks/zlib_hook && $(EX_DIR)/hooks/zlib_hook 4 3; \
	else echo "test-hooks: zlib1g-dev missing, zlib skipped"; fi
	@if [ -e /usr/include/expat.h ]; then \
	  $(MAKE) --no-print-directory $(EX_DIR)/hooks/expat_hook && $(EX_DIR)/hooks/expat_hook 512 6; \
	else echo "test-hooks: libexpat1-dev missing, expat skipped"; fi

# ---- C++ adapter ----
$(EX_DIR)/cxx/test_cxx: tests/cxx/test_cxx.cpp cpp/arenapool.hpp $(EX_LIB) $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CXX) $(CXX_CPPFLAGS) $(CXX_WARN) $(CFLAGS) $< $(EX_LIB) -lpthread -o $@

# The same test against the debug library: checked pool_free catches a block
# handed back to the wrong place.
$(EX_DIR)/cxx/test_cxx_debug: tests/cxx/test_cxx.cpp cpp/arenapool.hpp $(DBG_DIR)/libarenapool.a
	@mkdir -p $(dir $@)
	$(CXX) $(CXX_CPPFLAGS) $(CXX_WARN) -O1 -g -DARENAPOOL_DEBUG=1 $< $(DBG_DIR)/libarenapool.a -lpthread -o $@

test-cxx:
	@echo "== tests: arenapool.hpp (g++ -std=c++17)"
	@sh .ci/deps.sh extra
	@$(MAKE) --no-print-directory $(EX_DIR)/cxx/test_cxx $(EX_DIR)/cxx/test_cxx_debug
	$(EX_DIR)/cxx/test_cxx
	$(EX_DIR)/cxx/test_cxx_debug

# ---- packaging ----
test-install: all
	@echo "== tests: make install / pkg-config and CMake consumers / make uninstall"
	sh tests/install/run.sh '$(MAKE)'

# README.md's "Install and hello world" block, as a user runs it.
test-readme: all
	@echo "== tests: README.md's install and hello world"
	sh tests/install/readme.sh
