/* check.h: the few assertions the SDK's native tests use, and the runner
 * that counts them. */
#ifndef WEIR_CHECK_H
#define WEIR_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* Record a failure (file, line, what) unless `ok`. */
bool check_that(bool ok, const char *what, const char *file, int line);
/* Record a failure unless both strings are equal (NULL equals only NULL). */
bool check_strings(const char *actual, const char *expected, const char *what, const char *file,
                   int line);
/* Record a failure unless `haystack` contains `needle`. */
bool check_contains(const char *haystack, const char *needle, const char *what, const char *file,
                    int line);

#define CHECK(condition) check_that((condition), #condition, __FILE__, __LINE__)
#define CHECK_STR(actual, expected) check_strings((actual), (expected), #actual, __FILE__, __LINE__)
#define CHECK_CONTAINS(haystack, needle)                                                           \
    check_contains((haystack), (needle), #haystack, __FILE__, __LINE__)

typedef struct test_case {
    const char *name;
    void (*run)(void);
} test_case;

/* Run `count` tests, print one line per test and a closing
 * "SUITE: N passed, M failed"; the process's exit status. */
int run_tests(const char *suite, const test_case *tests, size_t count);

#endif /* WEIR_CHECK_H */
