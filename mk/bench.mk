# mk/bench.mk - the benchmark suite (bench/README.md).
#
#   make bench           every workload against every installed peer, 7 interleaved
#                        runs, progress and ETA on stderr: tables on the terminal and in
#                        build/bench/results/latest.{md,json}, chart in latest.svg there
#   make bench QUICK=1   every workload at a tiny size, 3 runs, in seconds: a smoke test
#                        that prints one line per workload (no target verdicts); results
#                        in build/bench/quick/
#   make bench-instr     callgrind instructions per operation of the fast paths
#                        (build/bench/results/instr.md)
#   make bench-quick     = make bench QUICK=1; part of make test
#   make bench-checks    mp with and without its misuse checks (build/bench/results/checks.md)
#   make bench-reference make bench, then copy its results (and instr.md, checks.md when
#                        those were run) over the committed reference in bench/results/
#
# Nothing but bench-reference writes into the tree: a benchmark run leaves the
# checkout clean.
#
# Peers come from Debian packages: .ci/deps.sh installs the missing ones when
# run as root (or with sudo); otherwise they are skipped, and the run says so.
# Each general allocator (jemalloc, mimalloc, tcmalloc) replaces malloc in the
# binary that links it, so each gets a binary of its own.

BENCH_DIR      := build/bench
BENCH_CPPFLAGS := $(BASE_CPPFLAGS) -Ibench
BENCH_CFLAGS   := $(WARN) $(CFLAGS)
BENCH_HDR      := $(wildcard bench/*.h) $(wildcard bench/*.inc) $(PUBLIC_HDR)
BENCH_MAIN     := bench/main.c bench/harness.c
BENCH_LIB      := $(REL_DIR)/libarenapool.a
# mp's LD_PRELOAD library for the python rows (built by mk/mp.mk, included later).
BENCH_MP_SO    := $(REL_DIR)/libarenapool_malloc.so
BENCH_RUNS     ?= $(if $(QUICK),3,7)
BENCH_RESULTS  := $(BENCH_DIR)/results
BENCH_OUT      := $(if $(QUICK),$(BENCH_DIR)/quick,$(BENCH_RESULTS))
# Filled in by the bench recipe from bench/peers.sh (a link test per peer).
BENCH_PEERS    ?=
BENCH_BINS     := $(BENCH_DIR)/bench-glibc $(BENCH_DIR)/report \
                  $(addprefix $(BENCH_DIR)/bench-,$(BENCH_PEERS)) $(BENCH_DIR)/bench-mp $(BENCH_MP_SO)

TEST_TARGETS += bench-quick

.PHONY: bench bench-build bench-instr bench-quick bench-reference

# Install peers first, then re-read this file (a sub-make) so that the peers
# just installed are found.
bench:
	@sh .ci/deps.sh bench
	@peers="$$(sh bench/peers.sh '$(CC)')"; \
	$(MAKE) --no-print-directory bench-build BENCH_PEERS="$$peers" && \
	CC='$(CC)' BENCH_MP_SO='$(BENCH_MP_SO)' sh bench/run.sh $(BENCH_DIR) $(BENCH_OUT) $(BENCH_RUNS) $(if $(QUICK),1,0) "$$peers"

bench-quick:
	@$(MAKE) --no-print-directory bench QUICK=1

# The committed reference run: on a quiet machine, then commit bench/results/.
bench-reference:
	@$(MAKE) --no-print-directory bench QUICK=
	@mkdir -p bench/results
	cp $(BENCH_RESULTS)/latest.md $(BENCH_RESULTS)/latest.json bench/results/
	@for f in latest.svg instr.md checks.md; do \
	  if [ -f $(BENCH_RESULTS)/$$f ]; then cp $(BENCH_RESULTS)/$$f bench/results/ && echo "copied $$f"; fi; \
	done
	@echo "bench-reference: bench/results/ updated; update the README's figures from latest.md, then commit"

bench-build: $(BENCH_BINS)

$(BENCH_DIR)/bench-glibc: $(BENCH_MAIN) bench/bench_malloc.c bench/bench_obstack.c bench/bench_arena.c \
                          bench/bench_pool.c bench/bench_bump.c $(BENCH_HDR) $(BENCH_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -DBENCH_WITH_MALLOC -DBENCH_WITH_OBSTACK -DBENCH_WITH_ARENA \
	    $(filter %.c,$^) $(BENCH_LIB) -pthread -o $@

$(BENCH_DIR)/bench-jemalloc $(BENCH_DIR)/bench-mimalloc $(BENCH_DIR)/bench-tcmalloc: \
$(BENCH_DIR)/bench-%: $(BENCH_MAIN) bench/bench_malloc.c $(BENCH_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -DBENCH_WITH_MALLOC -DBENCH_MALLOC_NAME='"$*"' \
	    $(filter %.c,$^) $(BENCH_LIB_$*) -pthread -o $@

BENCH_LIB_jemalloc := -ljemalloc
BENCH_LIB_mimalloc := -lmimalloc
BENCH_LIB_tcmalloc := -ltcmalloc_minimal

$(BENCH_DIR)/bench-talloc: $(BENCH_MAIN) bench/bench_talloc.c $(BENCH_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -DBENCH_WITH_TALLOC $(filter %.c,$^) -ltalloc -pthread -o $@

# APR's headers go in with -isystem: they are not ours to keep warning-free.
$(BENCH_DIR)/bench-apr: $(BENCH_MAIN) bench/bench_apr.c $(BENCH_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -DBENCH_WITH_APR \
	    $$( (pkg-config --cflags apr-1 2>/dev/null || echo -I/usr/include/apr-1.0) | sed 's/-I/-isystem /g') \
	    $(filter %.c,$^) -lapr-1 -pthread -o $@

$(BENCH_DIR)/bench-mp: $(BENCH_MAIN) bench/bench_mp.c $(BENCH_HDR) $(BENCH_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -DBENCH_WITH_MP $(filter %.c,$^) $(BENCH_LIB) -pthread -o $@

$(BENCH_DIR)/report: bench/report.c bench/harness.c bench/harness.h
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) $(filter %.c,$^) -lm -o $@

# ---- instruction counts (callgrind) ----
$(BENCH_DIR)/instr: bench/instr.c $(PUBLIC_HDR) $(BENCH_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) bench/instr.c $(BENCH_LIB) -pthread -o $@

bench-instr: $(BENCH_DIR)/instr
	@sh .ci/deps.sh bench
	@mkdir -p $(BENCH_RESULTS)
	@sh bench/instr.sh $(BENCH_DIR)/instr $(BENCH_RESULTS)/instr.md

# ---- what the memory pool's misuse checks cost ----
# The library once more with -DMP_FAST_CHECKS=0 (never installed), and the
# mp benchmark and instruction counter on it, side by side with the default.
NOCHK_DIR := $(BENCH_DIR)/nochk
$(eval $(call lib_mode,$(NOCHK_DIR),$(CC),$(REL_CFLAGS) -DMP_FAST_CHECKS=0))

$(NOCHK_DIR)/bench-mp: $(BENCH_MAIN) bench/bench_mp.c $(BENCH_HDR) $(NOCHK_DIR)/libarenapool.a
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -DMP_FAST_CHECKS=0 -DBENCH_WITH_MP $(filter %.c,$^) \
	    $(NOCHK_DIR)/libarenapool.a -pthread -o $@

$(NOCHK_DIR)/instr: bench/instr.c $(PUBLIC_HDR) $(NOCHK_DIR)/libarenapool.a
	$(CC) $(BENCH_CPPFLAGS) $(BENCH_CFLAGS) -DMP_FAST_CHECKS=0 bench/instr.c \
	    $(NOCHK_DIR)/libarenapool.a -pthread -o $@

.PHONY: bench-checks
bench-checks: $(BENCH_DIR)/bench-mp $(BENCH_DIR)/instr $(NOCHK_DIR)/bench-mp $(NOCHK_DIR)/instr
	@mkdir -p $(BENCH_RESULTS)
	@sh bench/checks.sh $(BENCH_DIR) $(NOCHK_DIR) $(BENCH_RESULTS)/checks.md
