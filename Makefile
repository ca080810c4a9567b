# arenapool - GNU make build.
#
#   make            build/libarenapool.a, build/libarenapool.so (+ malloc override)
#   make debug      build/debug/libarenapool.a   (-DARENAPOOL_DEBUG=1)
#   make asan       build/asan/libarenapool.a    (clang ASan+UBSan) and its test run
#   make test       every suite: release, debug, asan (+ what mk/*.mk adds)
#   make example    run examples/frame_loop.c
#   make bench      the benchmarks (see bench/)
#   make install    PREFIX=/usr/local DESTDIR=
#
# CC, CLANG, CFLAGS, PREFIX, DESTDIR can be overridden on the command line.
# Extra modules plug in through mk/*.mk: they append to TEST_TARGETS,
# CLEAN_EXTRA and define their own targets.

ifeq ($(origin CC),default)
CC := gcc
endif
CLANG   ?= clang
CFLAGS  ?= -O2 -g
PREFIX  ?= /usr/local
DESTDIR ?=
AR      ?= ar

# The version lives in include/arenapool/version.h alone; the file names of
# the shared library and arenapool.pc take it from there.
VERSION_H     := include/arenapool/version.h
version_field  = $(shell sed -n 's/^\#define ARENAPOOL_VERSION_$(1)  *\([0-9][0-9]*\)$$/\1/p' $(VERSION_H))
VERSION_MAJOR := $(call version_field,MAJOR)
VERSION_MINOR := $(call version_field,MINOR)
VERSION_PATCH := $(call version_field,PATCH)
VERSION       := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)
ifneq ($(words $(VERSION_MAJOR) $(VERSION_MINOR) $(VERSION_PATCH)),3)
$(error cannot read ARENAPOOL_VERSION_MAJOR/MINOR/PATCH from $(VERSION_H))
endif
SOVERSION     := $(VERSION_MAJOR)
WARN          := -std=c11 -Wall -Wextra -Werror
BASE_CPPFLAGS := -Iarena -Ipool -Imp -D_DEFAULT_SOURCE
LDLIBS_LIB    := -lpthread

# Library sources: everything in arena/, pool/ and mp/ except the malloc override,
# which only goes into the LD_PRELOAD library.
OVERRIDE_SRC := mp/mp_override.c
LIB_SRC      := $(wildcard arena/*.c) $(wildcard pool/*.c) $(filter-out $(OVERRIDE_SRC),$(wildcard mp/*.c))
LIB_HDR      := $(wildcard arena/*.h) $(wildcard pool/*.h) $(wildcard mp/*.h)
PUBLIC_HDR   := arena/arena.h pool/pool.h mp/mp.h
TEST_SRC     := $(wildcard tests/test_*.c)
TEST_HDR     := $(wildcard tests/*.h)

# Per-mode object lists: $(call objs,DIR)
objs = $(patsubst %.c,$(1)/obj/%.o,$(LIB_SRC))

REL_DIR   := build
DBG_DIR   := build/debug
ASAN_DIR  := build/asan

REL_CFLAGS  := $(WARN) $(CFLAGS)
PIC_CFLAGS  := $(WARN) $(CFLAGS) -fPIC
DBG_CFLAGS  := $(WARN) -O1 -g -DARENAPOOL_DEBUG=1
ASAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_CFLAGS := $(WARN) -O1 -g $(ASAN_FLAGS)

TEST_TARGETS :=
CLEAN_EXTRA  :=

.PHONY: build/arenapool.pc build/cmake/arenapool-config.cmake build/cmake/arenapool-config-version.cmake \
        all headers debug asan test test-release test-debug test-asan test-deps example \
        install uninstall clean

all: $(REL_DIR)/libarenapool.a $(REL_DIR)/libarenapool.so headers

-include $(sort $(wildcard mk/*.mk))

# ---- release ----
$(REL_DIR)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(REL_CFLAGS) -c $< -o $@

$(REL_DIR)/pic/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(PIC_CFLAGS) -c $< -o $@

$(REL_DIR)/libarenapool.a: $(call objs,$(REL_DIR))
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

$(REL_DIR)/libarenapool.so: $(patsubst %.c,$(REL_DIR)/pic/%.o,$(LIB_SRC))
	$(CC) -shared -Wl,-soname,libarenapool.so.$(SOVERSION) -o $@ $^ $(LDLIBS_LIB)

# ---- debug ----
debug: $(DBG_DIR)/libarenapool.a

$(DBG_DIR)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(DBG_CFLAGS) -c $< -o $@

$(DBG_DIR)/libarenapool.a: $(call objs,$(DBG_DIR))
	rm -f $@ && $(AR) rcs $@ $^

# ---- asan (clang) ----
asan: $(ASAN_DIR)/libarenapool.a test-asan

$(ASAN_DIR)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) $(ASAN_CFLAGS) -c $< -o $@

$(ASAN_DIR)/libarenapool.a: $(call objs,$(ASAN_DIR))
	rm -f $@ && $(AR) rcs $@ $^

# ---- tests (Criterion) ----
# One Criterion binary per mode, built from every tests/test_*.c.
$(REL_DIR)/tests/run: $(TEST_SRC) $(TEST_HDR) $(REL_DIR)/libarenapool.a | test-deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) -Itests $(REL_CFLAGS) $(TEST_SRC) $(REL_DIR)/libarenapool.a \
	    -lcriterion -lpthread -o $@

$(DBG_DIR)/tests/run: $(TEST_SRC) $(TEST_HDR) $(DBG_DIR)/libarenapool.a | test-deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) -Itests $(DBG_CFLAGS) $(TEST_SRC) $(DBG_DIR)/libarenapool.a \
	    -lcriterion -lpthread -o $@

$(ASAN_DIR)/tests/run: $(TEST_SRC) $(TEST_HDR) $(ASAN_DIR)/libarenapool.a | test-deps
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) -Itests $(ASAN_CFLAGS) $(TEST_SRC) $(ASAN_DIR)/libarenapool.a \
	    -lcriterion -lpthread -o $@

# Criterion forks a process per test; -j2 matches the CI machine.
CRITERION_ARGS ?= --jobs=2

test-release: $(REL_DIR)/tests/run
	@echo "== tests: release"
	$(REL_DIR)/tests/run $(CRITERION_ARGS)

test-debug: $(DBG_DIR)/tests/run
	@echo "== tests: debug (ARENAPOOL_DEBUG=1)"
	$(DBG_DIR)/tests/run $(CRITERION_ARGS)

# detect_leaks=0: Criterion's own runner keeps allocations alive at exit.
test-asan: $(ASAN_DIR)/tests/run
	@echo "== tests: asan+ubsan (clang)"
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(ASAN_DIR)/tests/run $(CRITERION_ARGS)

test: test-release test-debug test-asan $(TEST_TARGETS)
	@echo "== make test: all suites passed"

# Installs Criterion and clang when missing (root or sudo), else says how.
test-deps:
	@sh .ci/deps.sh test

# ---- example ----
EXAMPLE_CFLAGS := $(WARN) $(CFLAGS)

build/examples/%: examples/%.c $(REL_DIR)/libarenapool.a $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(EXAMPLE_CFLAGS) $< $(REL_DIR)/libarenapool.a -lpthread -lm -o $@

example: build/examples/frame_loop
	build/examples/frame_loop

# ---- headers in their installed form ----
# build/include/arenapool/ holds the public headers as `make install` lays
# them out, so a program builds against the tree with -Ibuild/include and the
# same #include <arenapool/arena.h> it uses once installed.  pool.h's
# #include "arena.h" finds arena.h next to it there, as in the install.
STAGE_INC := build/include/arenapool
INST_HDR   = $(PUBLIC_HDR) $(VERSION_H)

define stage_header
$(STAGE_INC)/$(notdir $(1)): $(1)
	@mkdir -p $$(dir $$@)
	cp $$< $$@
endef

# ---- install ----
# GNU-style directories; a packager may point libdir at a multiarch folder.
INCLUDEDIR ?= $(PREFIX)/include
LIBDIR     ?= $(PREFIX)/lib
CMAKEDIR   := $(LIBDIR)/cmake/arenapool
INCDIR   := $(DESTDIR)$(INCLUDEDIR)/arenapool
LIBDST   := $(DESTDIR)$(LIBDIR)
PCDIR    := $(LIBDST)/pkgconfig
CMAKEDST := $(DESTDIR)$(CMAKEDIR)
CMAKE_FILES := build/cmake/arenapool-config.cmake build/cmake/arenapool-config-version.cmake

# Phony, so the file always carries this run's PREFIX.  Cflags name the
# parent of arenapool/, so sources write <arenapool/arena.h>: a bare <arena.h>
# could be anyone's.
build/arenapool.pc:
	@mkdir -p build
	printf '%s\n' 'prefix=$(PREFIX)' 'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))' \
	  'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))' '' 'Name: arenapool' \
	  'Description: bump-pointer arenas, object pools and a thread-caching allocator' \
	  'Version: $(VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -larenapool' \
	  'Libs.private: -lpthread' > $@

# find_package(arenapool CONFIG): cmake/*.in with this run's version and the
# paths from the config's folder to the headers and libraries, relative so that
# a DESTDIR-staged or moved tree still finds its own files.  Phony like the .pc.
$(CMAKE_FILES): build/cmake/%: cmake/%.in
	@mkdir -p $(dir $@)
	sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
	    -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' -e 's|@SOVERSION@|$(SOVERSION)|g' \
	    -e "s|@REL_INCLUDEDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR))|g" \
	    -e "s|@REL_LIBDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(LIBDIR))|g" $< > $@

install: all build/arenapool.pc $(CMAKE_FILES)
	install -d $(INCDIR) $(LIBDST) $(PCDIR) $(CMAKEDST)
	install -m 644 $(INST_HDR) $(INCDIR)/
	install -m 644 $(REL_DIR)/libarenapool.a $(LIBDST)/
	install -m 755 $(REL_DIR)/libarenapool.so $(LIBDST)/libarenapool.so.$(VERSION)
	ln -sf libarenapool.so.$(VERSION) $(LIBDST)/libarenapool.so.$(SOVERSION)
	ln -sf libarenapool.so.$(SOVERSION) $(LIBDST)/libarenapool.so
	install -m 644 build/arenapool.pc $(PCDIR)/arenapool.pc
	install -m 644 $(CMAKE_FILES) $(CMAKEDST)/
	install -m 755 $(MP_SO) $(LIBDST)/
	@$(if $(DESTDIR),:,$(install_hint))

# After a real install (a DESTDIR one is a package's staging; its scripts run
# ldconfig): the dynamic linker's cache does not know the new soname yet, and
# a libdir off its path needs configuring first.
define install_hint
case '$(LIBDIR)' in \
  /lib|/usr/lib|/usr/local/lib|/lib/*-linux-gnu|/usr/lib/*-linux-gnu) \
    echo "arenapool: run 'ldconfig' (as root) so that programs find libarenapool.so.$(SOVERSION) in $(LIBDIR)" ;; \
  *) echo "arenapool: $(LIBDIR) is not on the dynamic linker's default path: link with -Wl,-rpath,$(LIBDIR)," \
          "or add it to /etc/ld.so.conf.d/ and run ldconfig" ;; \
esac; \
echo "arenapool: malloc replacement: LD_PRELOAD=$(LIBDIR)/libarenapool_malloc.so program"
endef

uninstall:
	rm -rf $(INCDIR) $(CMAKEDST)
	rm -f $(LIBDST)/libarenapool_malloc.so $(LIBDST)/libarenapool.a $(LIBDST)/libarenapool.so $(LIBDST)/libarenapool.so.$(SOVERSION) \
	      $(LIBDST)/libarenapool.so.$(VERSION) $(PCDIR)/arenapool.pc

clean:
	rm -rf build $(CLEAN_EXTRA)

# After every mk/*.mk: they add headers to PUBLIC_HDR.
$(foreach h,$(INST_HDR),$(eval $(call stage_header,$(h))))
headers: $(addprefix $(STAGE_INC)/,$(notdir $(INST_HDR)))
