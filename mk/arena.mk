# mk/arena.mk - the arenas' extra test runs (included by the main Makefile
# before its `test:` rule).
#
#   make test-tsan-arena   the chunk cache shared by every arena under clang TSan:
#                          create/destroy with children and buffers on many threads,
#                          trim, a changing bound, fork (tests/tsan_arena.c)
#
# Part of `make test` through TEST_TARGETS.  The TSan library (build/tsan/) and
# its flags come from mk/mp.mk; mk files are read in name order, so its
# variables are named here only inside recipes.

.PHONY: test-tsan-arena

build/tsan/tests/tsan_arena: tests/tsan_arena.c build/tsan/libarenapool.a | test-deps
	@mkdir -p $(dir $@)
	$(CLANG) $(BASE_CPPFLAGS) -Itests $(TSAN_CFLAGS) $< build/tsan/libarenapool.a -lpthread -o $@

# halt_on_error: a reported race fails the run.
test-tsan-arena: build/tsan/tests/tsan_arena
	@echo "== tests: tsan (clang, the arena chunk cache on many threads)"
	TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 build/tsan/tests/tsan_arena

TEST_TARGETS += test-tsan-arena
