# arenapool - GNU make build.  `make help` lists every target, this file's and mk/*.mk's.
#
#   make              build/libarenapool.{a,so}, build/libarenapool_malloc.so (LD_PRELOAD
#                     malloc) and build/include/arenapool/ (the headers, installed layout)
#   make debug        build/debug/libarenapool.a   (-DARENAPOOL_DEBUG=1)
#   make asan         build/asan/libarenapool.a    (clang ASan+UBSan) and its test run
#   make test         every suite: release, debug, asan (+ what mk/*.mk adds)
#   make example      run examples/frame_loop.c
#   make bench        the benchmarks (see bench/)
#   make docs         docs/api.md from the public headers' doc comments (make test checks it)
#   make install      PREFIX=/usr/local DESTDIR= (also LIBDIR, INCLUDEDIR); make uninstall
#   make clean        remove build/
#
# Variables: CC, CLANG, CXX, AR, CFLAGS, CPPFLAGS, LDFLAGS, PREFIX, DESTDIR,
# LIBDIR, INCLUDEDIR, WERROR.  CPPFLAGS and LDFLAGS go to every compile and
# link.  CFLAGS shapes the release library (make, make install) and what is
# built from it; the debug and sanitizer modes keep their own flags.
# -Werror: the project's own builds (tests, debug and sanitizer modes, bench,
# examples) use it; the release library uses it only while CFLAGS is this
# file's default, so `make CFLAGS=...` (a packager's flags, a newer compiler)
# is never stopped by a warning.  WERROR= turns it off everywhere.
# Modules plug in through mk/*.mk: they append to TEST_TARGETS, CLEAN_EXTRA
# and PUBLIC_HDR, declare build modes with lib_mode and define their targets.

# Every path below is relative to the source tree.  Run from elsewhere
# (make -f path/to/Makefile), the build would find no sources and archive
# nothing, so it moves to the tree: the same as make -C path/to.
ROOT := $(patsubst %/,%,$(dir $(realpath $(lastword $(MAKEFILE_LIST)))))
ifneq ($(ROOT),$(CURDIR))
FORWARD_GOALS := $(or $(MAKECMDGOALS),all)
.PHONY: $(FORWARD_GOALS) forward-to-root
$(FORWARD_GOALS): forward-to-root ; @:
forward-to-root:
	@$(MAKE) -C $(ROOT) $(MAKECMDGOALS)
else

ifeq ($(origin CC),default)
CC := gcc
endif
CLANG    ?= clang
CFLAGS   ?= -O2 -g
CPPFLAGS ?=
LDFLAGS  ?=
PREFIX   ?= /usr/local
DESTDIR  ?=
AR       ?= ar
WERROR   ?= -Werror

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

# WARN: the project's own builds.  LIB_WARN: the release library, where
# -Werror stays only while CFLAGS is ours (see the top of this file).
WARN          := -std=c11 -Wall -Wextra $(WERROR)
USER_CFLAGS   := $(filter command line environment environment override,$(origin CFLAGS))
LIB_WARN      := -std=c11 -Wall -Wextra $(if $(USER_CFLAGS),,$(WERROR))
BASE_CPPFLAGS := -Ios -Iarena -Ipool -Imp -D_DEFAULT_SOURCE $(CPPFLAGS)
LDLIBS_LIB    := -lpthread

# Library sources: everything in os/ (the OS layer under all three), arena/,
# pool/ and mp/ except the malloc override, which only goes into the
# LD_PRELOAD library.
OVERRIDE_SRC := mp/mp_override.c
LIB_SRC      := $(wildcard os/*.c) $(wildcard arena/*.c) $(wildcard pool/*.c) $(filter-out $(OVERRIDE_SRC),$(wildcard mp/*.c))
LIB_HDR      := $(wildcard os/*.h) $(wildcard arena/*.h) $(wildcard pool/*.h) $(wildcard mp/*.h) $(VERSION_H)
PUBLIC_HDR   := arena/arena.h pool/pool.h mp/mp.h
TEST_SRC     := $(wildcard tests/test_*.c)
TEST_HDR     := $(wildcard tests/*.h)

# ---- build modes ----
# Each mode has a folder of its own (build/, build/debug/, build/asan/, ...),
# so modes never clobber each other.  One template per kind of rule; a mode
# is one line: $(eval $(call lib_mode,DIR,COMPILER,FLAGS[,ORDER-ONLY])).

# Per-mode object lists: $(call objs,DIR)
objs = $(patsubst %.c,$(1)/obj/%.o,$(LIB_SRC))

# obj_rule DIR,COMPILER,FLAGS[,ORDER-ONLY]: DIR/x/y.o from x/y.c.
define obj_rule
$(1)/%.o: %.c $$(LIB_HDR) $(if $(4),| $(4))
	@mkdir -p $$(dir $$@)
	$(2) $$(BASE_CPPFLAGS) $(3) -c $$< -o $$@
endef

# lib_mode DIR,COMPILER,FLAGS[,ORDER-ONLY]: DIR/libarenapool.a from DIR/obj/.
define lib_mode
$(call obj_rule,$(1)/obj,$(2),$(3),$(4))
$(1)/libarenapool.a: $$(call objs,$(1))
	@mkdir -p $$(dir $$@)
	rm -f $$@ && $$(AR) rcs $$@ $$^
endef

# suite_mode DIR,COMPILER,FLAGS: DIR/tests/run, one Criterion binary from every
# tests/test_*.c against DIR's library.
define suite_mode
$(1)/tests/run: $$(TEST_SRC) $$(TEST_HDR) $(1)/libarenapool.a | test-deps
	@mkdir -p $$(dir $$@)
	$(2) $$(BASE_CPPFLAGS) -Itests $(3) $$(TEST_SRC) $(1)/libarenapool.a \
	    $$(LDFLAGS) -lcriterion -lpthread -o $$@
endef

REL_DIR   := build
DBG_DIR   := build/debug
ASAN_DIR  := build/asan

REL_CFLAGS  := $(LIB_WARN) $(CFLAGS)
PIC_CFLAGS  := $(LIB_WARN) $(CFLAGS) -fPIC
DBG_CFLAGS  := $(WARN) -O1 -g -DARENAPOOL_DEBUG=1
ASAN_FLAGS  := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
ASAN_CFLAGS := $(WARN) -O1 -g $(ASAN_FLAGS)

TEST_TARGETS :=
CLEAN_EXTRA  :=

.PHONY: all headers debug asan test test-release test-debug test-asan test-deps example \
        install uninstall clean help docs test-docs

all: $(REL_DIR)/libarenapool.a $(REL_DIR)/libarenapool.so headers

-include $(sort $(wildcard mk/*.mk))

# ---- release ----
$(eval $(call lib_mode,$(REL_DIR),$(CC),$(REL_CFLAGS)))
$(eval $(call obj_rule,$(REL_DIR)/pic,$(CC),$(PIC_CFLAGS)))

$(REL_DIR)/libarenapool.so: $(patsubst %.c,$(REL_DIR)/pic/%.o,$(LIB_SRC))
	$(CC) -shared -Wl,-soname,libarenapool.so.$(SOVERSION) $(LDFLAGS) -o $@ $^ $(LDLIBS_LIB)

# ---- debug ----
debug: $(DBG_DIR)/libarenapool.a
$(eval $(call lib_mode,$(DBG_DIR),$(CC),$(DBG_CFLAGS)))

# ---- asan (clang) ----
asan: $(ASAN_DIR)/libarenapool.a test-asan
$(eval $(call lib_mode,$(ASAN_DIR),$(CLANG),$(ASAN_CFLAGS)))

# ---- tests (Criterion) ----
# The release suite is the project's own build: -Werror whatever CFLAGS says.
$(eval $(call suite_mode,$(REL_DIR),$(CC),$(WARN) $(CFLAGS)))
$(eval $(call suite_mode,$(DBG_DIR),$(CC),$(DBG_CFLAGS)))
$(eval $(call suite_mode,$(ASAN_DIR),$(CLANG),$(ASAN_CFLAGS)))

# Criterion forks a process per test; -j2 matches the CI machine.
CRITERION_ARGS ?= --jobs=2

test-release: $(REL_DIR)/tests/run
	@echo "== tests: release"
	$(REL_DIR)/tests/run $(CRITERION_ARGS)

test-debug: $(DBG_DIR)/tests/run
	@echo "== tests: debug (ARENAPOOL_DEBUG=1)"
	@echo "   Expected below: 'arenapool: ...' lines from the tests that make a misuse happen and"
	@echo "   check that it aborts.  Only Criterion's synthesis line says whether the suite passed."
	$(DBG_DIR)/tests/run $(CRITERION_ARGS)

# detect_leaks=0: Criterion's own runner keeps allocations alive at exit.
test-asan: $(ASAN_DIR)/tests/run
	@echo "== tests: asan+ubsan (clang)"
	@echo "   Expected below: AddressSanitizer reports (==ERROR: AddressSanitizer ... ABORTING)"
	@echo "   from the tests that use memory after a rewind or a pool_free and must die of it"
	@echo "   (tests/test_asan.c).  Only Criterion's synthesis line says whether the suite passed."
	ASAN_OPTIONS=detect_leaks=0:abort_on_error=0 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(ASAN_DIR)/tests/run $(CRITERION_ARGS)

test: test-deps test-docs test-release test-debug test-asan $(TEST_TARGETS)
	@echo "== make test: all suites passed"

# Installs what is missing (root or sudo), else says how.  For make test,
# every package any of its suites uses, up front: one stop, one apt-get line.
test-deps:
	@sh .ci/deps.sh $(if $(filter test,$(MAKECMDGOALS)),suite,test)

# ---- example ----
EXAMPLE_CFLAGS := $(WARN) $(CFLAGS)

build/examples/%: examples/%.c $(REL_DIR)/libarenapool.a $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(EXAMPLE_CFLAGS) $< $(REL_DIR)/libarenapool.a $(LDFLAGS) -lpthread -lm -o $@

example: build/examples/frame_loop
	build/examples/frame_loop

# ---- API reference ----
# docs/api.md is generated from the public headers' doc comments and
# committed, so it reads on any Git host; make test fails when it lags.
DOC_HDR := arena/arena.h pool/pool.h mp/mp.h cpp/arenapool.hpp $(VERSION_H)

docs: docs/api.md

docs/api.md: docs/gen-api.sh $(DOC_HDR)
	sh docs/gen-api.sh $(DOC_HDR) > $@.tmp && mv $@.tmp $@

test-docs:
	@echo "== tests: docs/api.md matches the headers"
	@mkdir -p build
	@sh docs/gen-api.sh $(DOC_HDR) > build/api.md
	@cmp -s build/api.md docs/api.md || { diff -u docs/api.md build/api.md | head -40; \
	  echo "docs/api.md is stale: run make docs and commit it" >&2; exit 1; }

# ---- help ----
# The usage lines at the top of this file and of each mk/*.mk, so the list
# stays where each target is defined.
help:
	@for f in Makefile $(sort $(wildcard mk/*.mk)); do \
	  echo "$$f:"; \
	  awk '!/^#/ { exit } /^#   / { sub(/^#/, ""); print }' $$f; \
	done
	@echo "Variables (make VAR=value): CC CLANG CXX AR CFLAGS CPPFLAGS LDFLAGS PREFIX DESTDIR LIBDIR"
	@echo "INCLUDEDIR WERROR; what each one reaches is described at the top of the Makefile."

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
CMAKE_FILES := arenapool-config.cmake arenapool-config-version.cmake

# arenapool.pc and the CMake package carry this run's PREFIX, LIBDIR and
# INCLUDEDIR, so `make install` writes them straight into their destination.
# Why no copy in build/: test-install, test-checkers and test-readme each run
# `make install` with a PREFIX or DESTDIR of their own, at once under make -j,
# and a shared build/arenapool.pc was rewritten or removed by one while
# another installed it.  The .pc's Cflags name the parent of arenapool/, so
# sources write <arenapool/arena.h>: a bare <arena.h> could be anyone's.
PC_LINES = 'prefix=$(PREFIX)' 'includedir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(INCLUDEDIR))' \
  'libdir=$(patsubst $(PREFIX)/%,$${prefix}/%,$(LIBDIR))' '' 'Name: arenapool' \
  'Description: bump-pointer arenas, object pools and a thread-caching allocator' \
  'Version: $(VERSION)' 'Cflags: -I$${includedir}' 'Libs: -L$${libdir} -larenapool' \
  'Libs.private: -lpthread'

# find_package(arenapool CONFIG): cmake/*.in with this run's version and the
# paths from the config's folder to the headers and libraries, relative so that
# a DESTDIR-staged or moved tree still finds its own files.
CMAKE_SED = sed -e 's|@VERSION@|$(VERSION)|g' -e 's|@VERSION_MAJOR@|$(VERSION_MAJOR)|g' \
  -e 's|@VERSION_MINOR@|$(VERSION_MINOR)|g' -e 's|@SOVERSION@|$(SOVERSION)|g' \
  -e "s|@REL_INCLUDEDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(INCLUDEDIR))|g" \
  -e "s|@REL_LIBDIR@|$$(realpath -m --relative-to=$(CMAKEDIR) $(LIBDIR))|g"

install: all
	install -d $(INCDIR) $(LIBDST) $(PCDIR) $(CMAKEDST)
	install -m 644 $(INST_HDR) $(INCDIR)/
	install -m 644 $(REL_DIR)/libarenapool.a $(LIBDST)/
	install -m 755 $(REL_DIR)/libarenapool.so $(LIBDST)/libarenapool.so.$(VERSION)
	ln -sf libarenapool.so.$(VERSION) $(LIBDST)/libarenapool.so.$(SOVERSION)
	ln -sf libarenapool.so.$(SOVERSION) $(LIBDST)/libarenapool.so
	printf '%s\n' $(PC_LINES) > $(PCDIR)/arenapool.pc
	chmod 644 $(PCDIR)/arenapool.pc
	for f in $(CMAKE_FILES); do \
	  $(CMAKE_SED) cmake/$$f.in > $(CMAKEDST)/$$f && chmod 644 $(CMAKEDST)/$$f || exit 1; \
	done
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

endif # run from the source tree
