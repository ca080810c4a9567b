# mk/checkers.mk - users' own checkers against the installed library (README, "Using sanitizers and Valgrind").
#
#   make test-checkers    stage `make install`, build tests/checkers/*.c with clang and gcc ASan(+UBSan),
#                         and for Memcheck plain and with -DARENAPOOL_VALGRIND: the correct program runs
#                         with no report, each use after rewind/reset/pool_free/mp_free is reported (in make test)

.PHONY: test-checkers

test-checkers: all valgrind-deps
	@echo "== tests: programs built with ASan+UBSan or for Memcheck against the installed library"
	@echo "   (a correct one: no report; each use of memory the library took back: reported)"
	CC='$(CC)' CLANG='$(CLANG)' VALGRIND='$(VALGRIND)' sh tests/checkers/run.sh '$(MAKE)'

TEST_TARGETS += test-checkers
