# mk/harden.mk - hardening: hardened build, fault injection, fuzzing, Valgrind, soak
# (docs/testing.md).  Included by the main Makefile before its `test:` rule.
#
#   make hardened            build/hardened/libarenapool.a (-DARENAPOOL_HARDENED=1)
#                            and the Criterion suite against it       (in make test)
#   make test-fault          fault-injection walk, build/fault/ (ASan+LSan) (in make test)
#   make fuzz FUZZ_SECONDS=N each libFuzzer harness N seconds (default 60)
#   make test-fuzz           each harness ~10 s from the seed corpus   (in make test)
#   make valgrind            the suite under Memcheck, build/valgrind/, and a
#                            check that a use after rewind/pool_free is reported
#   make soak SECONDS=N      two-thread server + frame-loop workload, RSS watched

HARD_DIR   := build/hardened
FAULT_DIR  := build/fault
FUZZ_DIR   := build/fuzz
VG_DIR     := build/valgrind
SOAK_DIR   := build/soak

HARD_CFLAGS  := $(WARN) $(CFLAGS) -DARENAPOOL_HARDENED=1
FAULT_CFLAGS := $(WARN) -O1 -g -DARENAPOOL_FAULT_INJECT $(ASAN_FLAGS)
FUZZ_CFLAGS  := $(WARN) -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer
VG_CFLAGS    := $(WARN) -O1 -g -DARENAPOOL_VALGRIND=1

HARNESS_HAVE_MP := $(if $(wildcard pool/mp.h),1,)
HARNESS_MP_FLAGS := $(if $(HARNESS_HAVE_MP),-DHAVE_MP,)
FUZZ_NAMES   := arena pool $(if $(HARNESS_HAVE_MP),mp,)
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 10
SECONDS      ?= 60

.PHONY: hardened test-hardened test-fault fuzz fuzz-build test-fuzz valgrind test-valgrind soak

# ---- hardened ----
hardened: $(HARD_DIR)/libarenapool.a test-hardened

$(HARD_DIR)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(HARD_CFLAGS) -c $< -o $@

$(HARD_DIR)/libarenapool.a: $(call objs,$(HARD_DIR))
	rm -f $@ && $(AR) rcs $@ $^

$(HARD_DIR)/tests/run: $(TEST_SRC) $(TEST_HDR) $(HARD_DIR)/libarenapool.a | test-deps
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) -Itests $(HARD_CFLAGS) $(TEST_SRC) $(HARD_DIR)/libarenapool.a \
	    -lcriterion -lpthread -o $@

test-hardened: $(HARD_DIR)/tests/run
	@echo "== tests: hardened (ARENAPOOL_HARDENED=1)"
	$(HARD_DIR)/tests/run $(CRITERION_ARGS)

TEST_TARGETS += test-hardened
CLEAN_EXTRA  +=

# ---- fault injection ----
# The walk is a plain program: ASan+UBSan, LeakSanitizer on at exit, and
# mmap/munmap counted through --wrap so a leaked mapping is found too.
$(FAULT_DIR)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) $(FAULT_CFLAGS) -c $< -o $@

$(FAULT_DIR)/libarenapool.a: $(call objs,$(FAULT_DIR))
	rm -f $@ && $(AR) rcs $@ $^

$(FAULT_DIR)/fault_walk: tests/fault/fault_walk.c $(FAULT_DIR)/libarenapool.a $(PUBLIC_HDR) | test-deps
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) $(FAULT_CFLAGS) $(HARNESS_MP_FLAGS) $< $(FAULT_DIR)/libarenapool.a \
	    -Wl,--wrap=mmap,--wrap=munmap -lpthread -o $@

test-fault: $(FAULT_DIR)/fault_walk
	@echo "== tests: fault injection (every mapping made to fail in turn)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(FAULT_DIR)/fault_walk

TEST_TARGETS += test-fault
