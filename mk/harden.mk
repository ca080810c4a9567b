# mk/harden.mk - hardening: hardened build, fault injection, fuzzing, Valgrind, soak
# (docs/testing.md).  Included by the main Makefile before its `test:` rule.
#
#   make hardened            build/hardened/libarenapool.a (-DARENAPOOL_HARDENED=1)
#                            and the Criterion suite against it       (in make test)
#   make test-fault          fault-injection walk, build/fault/ (ASan+LSan) (in make test)
#   make fuzz FUZZ_SECONDS=N each libFuzzer harness N seconds (default 60)
#   make test-fuzz           each harness ~10 s from the seed corpus   (in make test)

HARD_DIR   := build/hardened
FAULT_DIR  := build/fault
FUZZ_DIR   := build/fuzz

HARD_CFLAGS  := $(WARN) $(CFLAGS) -DARENAPOOL_HARDENED=1
FAULT_CFLAGS := $(WARN) -O1 -g -DARENAPOOL_FAULT_INJECT $(ASAN_FLAGS)
FUZZ_CFLAGS  := $(WARN) -O1 -g -fsanitize=fuzzer-no-link,address,undefined \
                -fno-sanitize-recover=undefined -fno-omit-frame-pointer

FUZZ_NAMES   := arena pool mp
FUZZ_CI_NAMES ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60
FUZZ_CI_SECONDS ?= 10

.PHONY: hardened test-hardened test-fault fuzz fuzz-build test-fuzz valgrind test-valgrind soak

# ---- hardened ----
hardened: $(HARD_DIR)/libarenapool.a test-hardened

$(eval $(call lib_mode,$(HARD_DIR),$(CC),$(HARD_CFLAGS)))
$(eval $(call suite_mode,$(HARD_DIR),$(CC),$(HARD_CFLAGS)))

test-hardened: $(HARD_DIR)/tests/run
	@echo "== tests: hardened (ARENAPOOL_HARDENED=1)"
	@echo "   Expected below: 'arenapool: ...' lines from the tests that corrupt a free list or"
	@echo "   free twice and check that it aborts.  Only Criterion's synthesis line says whether it passed."
	$(HARD_DIR)/tests/run $(CRITERION_ARGS)

TEST_TARGETS += test-hardened
CLEAN_EXTRA  +=

# ---- fault injection ----
# The walk is a plain program: ASan+UBSan, LeakSanitizer on at exit, and
# mmap/munmap counted through --wrap so a leaked mapping is found too.
$(eval $(call lib_mode,$(FAULT_DIR),$(CLANG),$(FAULT_CFLAGS)))

$(FAULT_DIR)/fault_walk: tests/fault/fault_walk.c $(FAULT_DIR)/libarenapool.a $(PUBLIC_HDR) | test-deps
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) $(FAULT_CFLAGS) $< $(FAULT_DIR)/libarenapool.a \
	    -Wl,--wrap=mmap,--wrap=munmap -lpthread -o $@

test-fault: $(FAULT_DIR)/fault_walk
	@echo "== tests: fault injection (every mapping made to fail in turn)"
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	    $(FAULT_DIR)/fault_walk

TEST_TARGETS += test-fault

# ---- fuzzing (clang libFuzzer) ----
# The library is built with -fsanitize=fuzzer-no-link so the harnesses get
# coverage feedback from inside it.  Each harness starts from its committed
# seed corpus (tests/fuzz/corpus/NAME) and writes new inputs to build/fuzz/.
FUZZ_BINS := $(addprefix $(FUZZ_DIR)/fuzz_,$(FUZZ_NAMES))

$(eval $(call lib_mode,$(FUZZ_DIR),$(CLANG),$(FUZZ_CFLAGS)))

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_DIR)/libarenapool.a $(PUBLIC_HDR) | test-deps
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) -Itests/fuzz $(WARN) -O1 -g -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -fno-omit-frame-pointer $< $(FUZZ_DIR)/libarenapool.a -lpthread -o $@

fuzz-build: $(FUZZ_BINS)

# run_fuzz SECONDS,NAMES: each harness in turn; prints its executions and fails on
# the first crash (the reproducer is left in build/fuzz/).
define run_fuzz
	@for n in $(2); do \
	  mkdir -p $(FUZZ_DIR)/corpus/$$n; \
	  echo "== fuzz: $$n ($(1) s)"; \
	  ASAN_OPTIONS=detect_leaks=1 $(FUZZ_DIR)/fuzz_$$n -max_total_time=$(1) -max_len=1024 $(3) \
	    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ \
	    $(FUZZ_DIR)/corpus/$$n tests/fuzz/corpus/$$n 2>$(FUZZ_DIR)/$$n.log; rc=$$?; \
	  grep -E "stat::number_of_executed_units|^Done" $(FUZZ_DIR)/$$n.log; \
	  if [ $$rc != 0 ]; then tail -40 $(FUZZ_DIR)/$$n.log; exit 1; fi; \
	done
endef

fuzz: fuzz-build
	$(call run_fuzz,$(FUZZ_SECONDS),$(FUZZ_NAMES))

# Why a fixed seed in make test: CI must be repeatable; `make fuzz` explores
# with a fresh seed each time.
test-fuzz: fuzz-build
	$(call run_fuzz,$(FUZZ_CI_SECONDS),$(FUZZ_CI_NAMES),-seed=1)

TEST_TARGETS += test-fuzz
