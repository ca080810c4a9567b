/*
 * criterion.h - a minimal stand-in for Criterion, used only by `make valgrind`.
 *
 * Why: a Criterion worker is a fresh exec of the test binary, and Memcheck
 * reads the debug info of the ~20 shared libraries Criterion pulls in each
 * time it starts one, which for the whole suite costs more than the tests.  With this
 * header the same tests/test_*.c build into a plain driver
 * (tests/valgrind/driver.c) that forks one child per test, so Memcheck starts
 * once.  Only what the suites use is provided: Test, TestSuite (.init, .fini),
 * the .signal / .exit_code / .timeout / .disabled attributes, and the
 * cr_assert family with optional printf-style messages, and cr_skip_test.
 */
#ifndef ARENAPOOL_VG_CRITERION_SHIM_H
#define ARENAPOOL_VG_CRITERION_SHIM_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct vgt_attrs {
    int unused_;
    void (*init)(void);
    void (*fini)(void);
    int signal;
    int exit_code;
    double timeout;
    bool disabled;
    const char *description;
};

void vgt_register_test(const char *suite, const char *name, void (*fn)(void), const struct vgt_attrs *a);
void vgt_register_suite(const char *suite, const struct vgt_attrs *a);
void vgt_fail(const char *file, int line, const char *expr, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 4, 5)));
void vgt_skip(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* The test ends here and is counted as skipped, with the reason printed. */
#define cr_skip_test(...) vgt_skip(" " __VA_ARGS__)

#define Test(suite, name, ...)                                                     \
    static void suite##__##name(void);                                             \
    static const struct vgt_attrs suite##__##name##__attrs = {0, __VA_ARGS__};     \
    __attribute__((constructor)) static void suite##__##name##__reg(void)          \
    {                                                                              \
        vgt_register_test(#suite, #name, suite##__##name, &suite##__##name##__attrs); \
    }                                                                              \
    static void suite##__##name(void)

#define TestSuite(suite, ...)                                                      \
    static const struct vgt_attrs suite##__suite__attrs = {0, __VA_ARGS__};        \
    __attribute__((constructor)) static void suite##__suite__reg(void)             \
    {                                                                              \
        vgt_register_suite(#suite, &suite##__suite__attrs);                         \
    }

/* The leading space keeps a message-less assertion's format non-empty. */
#define VGT_CHECK(ok, expr, ...)                                                   \
    do {                                                                           \
        if (!(ok))                                                                 \
            vgt_fail(__FILE__, __LINE__, expr, " " __VA_ARGS__);                   \
    } while (0)

#define cr_assert(cond, ...) VGT_CHECK((cond), #cond, __VA_ARGS__)
#define cr_assert_not(cond, ...) VGT_CHECK(!(cond), "!(" #cond ")", __VA_ARGS__)
#define cr_assert_fail(...) VGT_CHECK(0, "cr_assert_fail", __VA_ARGS__)
#define cr_assert_null(p, ...) VGT_CHECK((p) == NULL, #p " == NULL", __VA_ARGS__)
#define cr_assert_not_null(p, ...) VGT_CHECK((p) != NULL, #p " != NULL", __VA_ARGS__)
#define cr_assert_eq(a, b, ...) VGT_CHECK((a) == (b), #a " == " #b, __VA_ARGS__)
#define cr_assert_neq(a, b, ...) VGT_CHECK((a) != (b), #a " != " #b, __VA_ARGS__)
#define cr_assert_lt(a, b, ...) VGT_CHECK((a) < (b), #a " < " #b, __VA_ARGS__)
#define cr_assert_leq(a, b, ...) VGT_CHECK((a) <= (b), #a " <= " #b, __VA_ARGS__)
#define cr_assert_gt(a, b, ...) VGT_CHECK((a) > (b), #a " > " #b, __VA_ARGS__)
#define cr_assert_geq(a, b, ...) VGT_CHECK((a) >= (b), #a " >= " #b, __VA_ARGS__)
#define cr_assert_str_eq(a, b, ...) VGT_CHECK(strcmp((a), (b)) == 0, #a " eq " #b, __VA_ARGS__)

#endif
