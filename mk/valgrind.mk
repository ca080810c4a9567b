# mk/valgrind.mk - Memcheck and the soak run (docs/testing.md, "Valgrind" and "Soak").
#
#   make valgrind          = test-valgrind (in make test): build/valgrind/libarenapool.a
#                          (-O1 -g; -DARENAPOOL_VALGRIND tells tests they run under Memcheck, the
#                          library finds it at run time); the use-after-free programs in
#                          tests/valgrind/ must be reported by Memcheck; the test_*.c suites,
#                          same define, under Memcheck through tests/valgrind/driver.c
#                          (log: build/valgrind/suite.log)
#   make soak SECONDS=N    tests/soak/soak.c for N seconds (default 60), build/soak/
#   make test-soak         the same for 5 seconds, integrity only         (in make test)

VG_DIR     := build/valgrind
SOAK_DIR   := build/soak
VG_CFLAGS  := $(WARN) -O1 -g -DARENAPOOL_VALGRIND
SOAK_CFLAGS := $(WARN) $(CFLAGS)
SECONDS    ?= 60

VALGRIND    ?= valgrind

.PHONY: valgrind test-valgrind valgrind-deps soak test-soak

# ---- library and suite built for Memcheck ----
# The suite runs through tests/valgrind/driver.c, built from the same
# tests/test_*.c against a Criterion stand-in (tests/valgrind/shim/): one
# forked child per test, so Memcheck starts once instead of once per test
# (Criterion execs a fresh worker per test, and Memcheck's start-up is slow).
# A child with a Memcheck error or a definite leak exits 1 and fails its test.
VG_TEST_SRC := $(TEST_SRC) tests/valgrind/driver.c
VG_TEST_HDR := $(TEST_HDR) tests/valgrind/shim/criterion/criterion.h
VG_UAF      := uaf_rewind uaf_reset uaf_pool_free
VG_SUPP     := tests/valgrind/known.supp

# Tests left out under Memcheck (docs/testing.md, "Valgrind"):
# they write into a guard page on purpose (SIGSEGV plus an invalid write);
VG_SKIP_DELIBERATE := arena/guard_page_faults_on_overflow_past_chunk \
                      arena_cache/guard_page_of_a_cached_chunk_still_faults
# the two heaviest threaded mp tests (the slowest by far under Memcheck; TSan
# and every native mode run them).
VG_SKIP_SLOW ?= mp/thread_churn_keeps_memory_bounded mp/producer_consumer_frees_on_the_other_thread
VG_SKIP := $(VG_SKIP_DELIBERATE) $(VG_SKIP_SLOW)

# Why --fair-sched=try: Valgrind runs one thread at a time, and its default
# lock (a pipe) lets the thread that releases it take it straight back.  With
# a core free for each thread (a quiet machine, as CI's is) two threads that
# never block starve a third: mp/fork_while_other_threads_allocate's forking
# thread waited seconds for the lock after each waitpid while its two workers
# ran, and the test hit the driver's 120 s (at real-time priority, which
# shows the quiet case on a busy machine: 120 s, 84 s of CPU; with the futex
# lock, which hands the lock round in turn, 0.9 s).  `try` falls back to the
# pipe where the futex lock is missing (docs/testing.md, "Valgrind").
VG_RUN := $(VALGRIND) --tool=memcheck --fair-sched=try --error-exitcode=1 --leak-check=full \
          --errors-for-leak-kinds=definite --show-leak-kinds=definite \
          --trace-children=yes --suppressions=$(VG_SUPP) -q

$(eval $(call lib_mode,$(VG_DIR),$(CC),$(VG_CFLAGS),valgrind-deps))

$(VG_DIR)/tests/driver: $(VG_TEST_SRC) $(VG_TEST_HDR) $(VG_DIR)/libarenapool.a
	@mkdir -p $(dir $@)
	$(CC) -Itests/valgrind/shim $(BASE_CPPFLAGS) -Itests $(VG_CFLAGS) $(VG_TEST_SRC) \
	    $(VG_DIR)/libarenapool.a -lpthread -o $@

$(VG_DIR)/uaf/%: tests/valgrind/%.c $(VG_DIR)/libarenapool.a $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(VG_CFLAGS) $< $(VG_DIR)/libarenapool.a -lpthread -o $@

# valgrind and valgrind/memcheck.h come from .ci/deps.sh (suite for make test, else extra).
valgrind-deps:
	@sh .ci/deps.sh extra
	@command -v $(VALGRIND) >/dev/null && [ -e /usr/include/valgrind/memcheck.h ] || \
	  { echo "make valgrind: valgrind (with valgrind/memcheck.h) is not installed" >&2; exit 1; }

valgrind: test-valgrind

test-valgrind: valgrind-deps
	@$(MAKE) --no-print-directory $(VG_DIR)/tests/driver $(addprefix $(VG_DIR)/uaf/,$(VG_UAF))
	@echo "== tests: valgrind (Memcheck, -DARENAPOOL_VALGRIND): use after rewind / reset / pool_free is reported"
	sh tests/valgrind/run.sh $(VG_DIR)/uaf $(VG_UAF)
	@echo "== tests: valgrind: the suite under Memcheck ($(words $(VG_SKIP)) tests left out, docs/testing.md)"
	@n=$$($(VG_DIR)/tests/driver -l $(addprefix -x ,$(VG_SKIP)) | grep -vc '^\['); \
	echo "   ~100 s; progress per suite, and any test that does not pass (log: $(VG_DIR)/suite.log)"; \
	{ $(VG_RUN) $(VG_DIR)/tests/driver $(addprefix -x ,$(VG_SKIP)) 2>&1; echo "driver-exit $$?"; } | \
	  tee $(VG_DIR)/suite.log | awk -v total=$$n "$$VG_PROGRESS"

# The driver prints "[PASS] suite/test (N.NN s)" per test.  Progress: a line
# when a suite ends and every ~15 s inside a long one, with the count so far;
# any other line (a failure, a Memcheck report) is shown as it comes.  The
# last line, "driver-exit N", carries the driver's status through the pipe.
export VG_PROGRESS := \
  function show(what) { printf "   [%3d/%d] %s, %.0f s\n", done, total, what, el; last = el; fflush() }; \
  /^driver-exit / { if (suite != "") show(suite " done"); exit $$2 }; \
  /^\[PASS\] / { s = $$2; sub(/\/.*/, "", s); \
                 if (suite != "" && s != suite) show(suite " done"); \
                 suite = s; done++; el += substr($$3, 2); \
                 if (el - last >= 15) show(suite " ..."); next }; \
  /^\[====\]/ { if (suite != "") show(suite " done"); suite = "" }; \
  { print; fflush() }

TEST_TARGETS += test-valgrind

# ---- soak ----
$(eval $(call lib_mode,$(SOAK_DIR),$(CC),$(SOAK_CFLAGS)))

$(SOAK_DIR)/soak: tests/soak/soak.c $(SOAK_DIR)/libarenapool.a $(PUBLIC_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BASE_CPPFLAGS) $(SOAK_CFLAGS) $< $(SOAK_DIR)/libarenapool.a -lpthread -o $@

soak: $(SOAK_DIR)/soak
	@echo "== soak: $(SECONDS) s (server + frame loop, arena, pool and mp together)"
	$(SOAK_DIR)/soak $(SECONDS)

test-soak: $(SOAK_DIR)/soak
	@echo "== tests: soak, 5 s"
	$(SOAK_DIR)/soak 5

TEST_TARGETS += test-soak
