/* check.c: the assertions and the runner declared in check.h. */
#include "check.h"

#include <stdio.h>
#include <string.h>

static int failures_in_test;

bool check_that(bool ok, const char *what, const char *file, int line) {
    if (!ok) {
        failures_in_test++;
        printf("    %s:%d: failed: %s\n", file, line, what);
    }
    return ok;
}

bool check_strings(const char *actual, const char *expected, const char *what, const char *file,
                   int line) {
    bool same = (actual == NULL && expected == NULL) ||
                (actual != NULL && expected != NULL && strcmp(actual, expected) == 0);
    if (!same) {
        failures_in_test++;
        printf("    %s:%d: %s\n      is: %s\n      expected: %s\n", file, line, what,
               actual != NULL ? actual : "(NULL)", expected != NULL ? expected : "(NULL)");
    }
    return same;
}

bool check_contains(const char *haystack, const char *needle, const char *what, const char *file,
                    int line) {
    bool found = haystack != NULL && strstr(haystack, needle) != NULL;
    if (!found) {
        failures_in_test++;
        printf("    %s:%d: %s\n      is: %s\n      expected to contain: %s\n", file, line, what,
               haystack != NULL ? haystack : "(NULL)", needle);
    }
    return found;
}

int run_tests(const char *suite, const test_case *tests, size_t count) {
    size_t passed = 0;
    for (size_t i = 0; i < count; i++) {
        failures_in_test = 0;
        tests[i].run();
        printf("%s %s\n", failures_in_test == 0 ? "ok  " : "FAIL", tests[i].name);
        passed += failures_in_test == 0;
    }
    printf("%s: %zu passed, %zu failed\n", suite, passed, count - passed);
    return passed == count ? 0 : 1;
}
