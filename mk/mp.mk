# mk/mp.mk - the memory pool's extra build products and test runs
# (included by the main Makefile before its `test:` rule).
#
#   build/libarenapool_malloc.so   the LD_PRELOAD malloc (part of `make`)
#   make tsan                      build/tsan/libarenapool.a (clang TSan) + the
#                                  threaded mp tests through a plain driver
#   make test-preload              real programs under glibc and under the .so
#   make test-cpython              CPython's own test modules under glibc and the .so,
#                                  pymalloc and PYTHONMALLOC=malloc (tests/preload/cpython.sh)
#   make test-stats                ARENAPOOL_VERBOSE / SHOW_STATS / mistyped variables,
#                                  arenapool_version, mp_stats_print, malloc_stats and
#                                  malloc_info in real processes: API, debug build,
#                                  LD_PRELOAD, and both under Memcheck (tests/preload/stats.sh)
#
# All four are part of `make test` through TEST_TARGETS.

MP_SO        := $(REL_DIR)/libarenapool_malloc.so
MP_SO_SRC    := $(wildcard mp/mp_*.c) $(wildcard os/*.c)
TSAN_DIR     := build/tsan
TSAN_CFLAGS  := $(WARN) -O1 -g -fsanitize=thread -fno-omit-frame-pointer

.PHONY: tsan test-tsan test-preload test-cpython test-stats

all: $(MP_SO)

# Only the pool and the OS layer: the override needs nothing else, and a
# preloaded library should pull as little as possible into every process.
$(MP_SO): $(patsubst %.c,$(REL_DIR)/pic/%.o,$(MP_SO_SRC))
	$(CC) -shared -Wl,-soname,libarenapool_malloc.so $(LDFLAGS) -o $@ $^ $(LDLIBS_LIB)

# ---- ThreadSanitizer (clang) ----
$(eval $(call lib_mode,$(TSAN_DIR),$(CLANG),$(TSAN_CFLAGS)))

$(TSAN_DIR)/tests/tsan_mp: tests/tsan_mp.c $(wildcard tests/mp_*.h) $(TSAN_DIR)/libarenapool.a | test-deps
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) -Itests $(TSAN_CFLAGS) $< $(TSAN_DIR)/libarenapool.a -lpthread -o $@

tsan: test-tsan

# halt_on_error: a reported race fails the run.
test-tsan: $(TSAN_DIR)/tests/tsan_mp
	@echo "== tests: tsan (clang, threaded mp tests)"
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 $(TSAN_DIR)/tests/tsan_mp

# ---- real programs under LD_PRELOAD ----
test-preload: $(MP_SO)
	@echo "== tests: real programs under LD_PRELOAD=$(MP_SO)"
	@sh .ci/deps.sh extra
	sh tests/preload/run.sh $(MP_SO)

# ---- CPython's regression tests under LD_PRELOAD ----
# Per-module results under the pool must equal glibc's; the longest of the
# real-program runs (tests/preload/cpython.sh says which modules and why).
test-cpython: $(MP_SO)
	@echo "== tests: CPython's test suite under LD_PRELOAD=$(MP_SO)"
	@sh .ci/deps.sh extra
	sh tests/preload/cpython.sh $(MP_SO)

# ---- statistics and options in real processes ----
test-stats: all $(DBG_DIR)/libarenapool.a
	@echo "== tests: environment variables, version and statistics output (API, debug, LD_PRELOAD, Memcheck)"
	sh tests/preload/stats.sh $(REL_DIR)

TEST_TARGETS += test-tsan test-preload test-cpython test-stats

# ---- a larger OS page, simulated ----
# ARENAPOOL_SIM_PAGE_SIZE makes the OS layer act as a kernel with 16 or
# 64 KiB pages and abort on any release not aligned to them: the page-size
# checks, the threaded stress (tests/tsan_mp.c as a plain build) and the mp
# fuzzer run under both.
PAGESIZE_RUNS := 16384 65536

$(REL_DIR)/tests/pagesize: tests/pagesize/pagesize.c $(REL_DIR)/libarenapool.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) -Itests $(WARN) $(CFLAGS) $< $(REL_DIR)/libarenapool.a $(LDFLAGS) -lpthread -o $@

$(REL_DIR)/tests/mp_stress: tests/tsan_mp.c $(wildcard tests/mp_*.h) $(REL_DIR)/libarenapool.a
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) -Itests $(WARN) $(CFLAGS) $< $(REL_DIR)/libarenapool.a $(LDFLAGS) -lpthread -o $@

.PHONY: test-pagesize
test-pagesize: $(REL_DIR)/tests/pagesize $(REL_DIR)/tests/mp_stress $(FUZZ_DIR)/fuzz_mp
	@echo "== tests: simulated 16 and 64 KiB OS pages (ARENAPOOL_SIM_PAGE_SIZE)"
	@for ps in $(PAGESIZE_RUNS); do \
	  ARENAPOOL_SIM_PAGE_SIZE=$$ps $(REL_DIR)/tests/pagesize || exit 1; \
	  echo "pagesize $$ps: threaded stress"; \
	  ARENAPOOL_SIM_PAGE_SIZE=$$ps $(REL_DIR)/tests/mp_stress > /dev/null || exit 1; \
	done
	@mkdir -p $(FUZZ_DIR)/corpus/mp
	@for ps in $(PAGESIZE_RUNS); do \
	  echo "pagesize $$ps: fuzz_mp (5 s)"; \
	  ARENAPOOL_SIM_PAGE_SIZE=$$ps ASAN_OPTIONS=detect_leaks=1 $(FUZZ_DIR)/fuzz_mp -max_total_time=5 \
	    -max_len=1024 -seed=1 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/pagesize-$$ps- $(FUZZ_DIR)/corpus/mp tests/fuzz/corpus/mp \
	    2>$(FUZZ_DIR)/mp-pagesize-$$ps.log || { tail -40 $(FUZZ_DIR)/mp-pagesize-$$ps.log; exit 1; }; \
	  grep -E "stat::number_of_executed_units" $(FUZZ_DIR)/mp-pagesize-$$ps.log; \
	done

TEST_TARGETS += test-pagesize
