/* test_conformance.c: native checks of the conformance source's logic that
 * `weir run` cannot reach (a bad stored cursor, push), run with the SDK's
 * weir_testing.h by `.ci/languages/c.sh test`. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "weir_testing.h"

/* The message of the error `next` gives after `cursor`, or NULL. */
static char *next_error(void *context, const char *cursor) {
    static char message[256];
    weir_testing_page page;
    weir_error *error = weir_testing_next(context, cursor, &page);
    if (error == NULL) {
        weir_testing_page_free(&page);
        return NULL;
    }
    snprintf(message, sizeof message, "%s %s",
             weir_error_kind_of(error) == WEIR_ERROR_FATAL ? "fatal" : "transient",
             weir_error_message(error));
    weir_error_free(error);
    return message;
}

static void test_bad_cursors_are_fatal_and_quoted(void) {
    weir_testing_reset();
    void *context;
    CHECK(weir_exported_source()->open(&context) == NULL);
    CHECK(next_error(context, "{\"page\": 2}") == NULL);
    CHECK_STR(next_error(context, "nope"), "fatal conformance: bad cursor: nope");
    CHECK_STR(next_error(context, "[1]"), "fatal conformance: bad cursor: [1]");
    CHECK_STR(next_error(context, "{\"page\": 3}"), "fatal conformance: bad cursor: {\"page\": 3}");
    CHECK_STR(next_error(context, "{\"page\":-1}"), "fatal conformance: bad cursor: {\"page\":-1}");
    CHECK_STR(next_error(context, "{\"page\":\"1\"}"),
              "fatal conformance: bad cursor: {\"page\":\"1\"}");
    CHECK_STR(next_error(context, "{\"page\":1,\"x\":2}"),
              "fatal conformance: bad cursor: {\"page\":1,\"x\":2}");
    CHECK(weir_exported_source()->close(context) == NULL);
    CHECK_STR(weir_testing_logs(), "info conformance: open (no token)\n"
                                   "debug conformance: page 2\n"
                                   "info conformance: close\n");
}

static void test_the_same_cursor_gives_the_same_page(void) {
    weir_testing_reset();
    weir_testing_set_secret("token", "s3cr3t");
    void *context;
    CHECK(weir_exported_source()->open(&context) == NULL);
    weir_testing_page first, second;
    CHECK(weir_testing_next(context, "{\"page\":1}", &first) == NULL);
    CHECK(weir_testing_next(context, "{\"page\":1}", &second) == NULL);
    CHECK(first.entity_count == 2 && second.entity_count == 2);
    CHECK_STR(first.entities[1], second.entities[1]);
    CHECK_STR(first.cursor, "{\"page\":2}");
    CHECK_STR(first.location_keys[0], "conformance:2");
    CHECK_STR(first.entities[1],
              "{\"apiVersion\":\"backstage.io/v1alpha1\",\"kind\":\"Component\",\"metadata\":{"
              "\"name\":\"conformance-3\",\"namespace\":\"default\",\"title\":\"Conformance 3\","
              "\"description\":\"Entity \\\"3\\\" of the conformance source: ünïcødé ✓, a "
              "tab\\tand a newline\\n.\",\"labels\":{\"weir.dev/index\":\"3\"},\"annotations\":{"
              "\"backstage.io/managed-by-location\":\"url:https://conformance.example/entities/"
              "3\",\"backstage.io/managed-by-origin-location\":\"url:https://"
              "conformance.example/entities/3\"},\"tags\":[\"conformance\",\"page-1\"]},\"spec\":{"
              "\"type\":\"service\",\"lifecycle\":\"production\",\"owner\":\"group:default/"
              "conformance\",\"index\":3,\"even\":false,\"ratio\":0.75,\"dependsOn\":["
              "\"component:default/conformance-2\"]}}");
    weir_testing_page_free(&first);
    weir_testing_page_free(&second);
    weir_exported_source()->close(context);
    CHECK_STR(weir_testing_logs(), "info conformance: open (token present)\n"
                                   "debug conformance: page 1\n"
                                   "debug conformance: page 1\n"
                                   "info conformance: close\n");
}

/* The outcome of pushing `body` with `headers`, as "upserts|removals", or
 * the error as "KIND MESSAGE". */
static char *push(const char *const headers[][2], size_t header_count, const char *body) {
    static char result[4096];
    weir_testing_outcome outcome;
    weir_error *error = weir_testing_push(headers, header_count, body, &outcome);
    if (error != NULL) {
        snprintf(result, sizeof result, "%s %s",
                 weir_error_kind_of(error) == WEIR_ERROR_FATAL ? "fatal" : "transient",
                 weir_error_message(error));
        weir_error_free(error);
        return result;
    }
    size_t at = 0;
    for (size_t i = 0; i < outcome.upsert_count; i++) {
        const char *name = strstr(outcome.upserts[i], "\"name\":\"") + 8;
        const char *tag = strstr(outcome.upserts[i], "\"page-");
        at += (size_t)snprintf(result + at, sizeof result - at, "%.*s/%.*s ",
                               (int)(strchr(name, '"') - name), name,
                               (int)(strchr(tag + 1, '"') - tag - 1), tag + 1);
    }
    at += (size_t)snprintf(result + at, sizeof result - at, "|");
    for (size_t i = 0; i < outcome.removal_count; i++) {
        at += (size_t)snprintf(result + at, sizeof result - at, " %s", outcome.removals[i]);
    }
    weir_testing_outcome_free(&outcome);
    return result;
}

static void test_push_upserts_and_removes_by_number(void) {
    weir_testing_reset();
    weir_testing_set_config("per-page", "3");
    CHECK_STR(push(NULL, 0, "{\"upsert\": [0, 7], \"remove\": [1, 2]}"),
              "conformance-0/page-0 conformance-7/page-2 "
              "| component:default/conformance-1 component:default/conformance-2");
    CHECK_STR(push(NULL, 0, "{}"), "|");
    CHECK_STR(push(NULL, 0, "{\"remove\": [4]}"), "| component:default/conformance-4");
    const char *fail[][2] = {{"Content-Type", "application/json"},
                             {"X-Conformance-Fail", "transient"}};
    CHECK_STR(push(fail, 2, "not even json"), "transient conformance: push failed");
    CHECK_CONTAINS(push(NULL, 0, "not json"), "fatal conformance: push body is not valid: ");
    CHECK_STR(push(NULL, 0, "[1]"), "fatal conformance: push body is not valid: not a JSON object");
    CHECK_STR(push(NULL, 0, "{\"upsert\": \"1\"}"),
              "fatal conformance: push body is not valid: `upsert` is not a list of entity "
              "numbers");
    CHECK_STR(push(NULL, 0, "{\"remove\": [-1]}"),
              "fatal conformance: push body is not valid: `remove` is not a list of entity "
              "numbers");
    CHECK_STR(push(NULL, 0, "{\"upsert\": [1000000]}"),
              "fatal conformance: push body is not valid: `upsert` is not a list of entity "
              "numbers");
    CHECK_STR(push(NULL, 0, "{\"upsert\": null}"),
              "fatal conformance: push body is not valid: `upsert` is not a list of entity "
              "numbers");
    CHECK_STR(push(NULL, 0, "{\"upserts\": [1]}"),
              "fatal conformance: push body is not valid: unknown key `upserts`");
    weir_testing_set_config("per-page", "0");
    CHECK_STR(push(NULL, 0, "{\"upsert\": [1]}"),
              "fatal conformance: push body is not valid: no entity is on a page when per-page "
              "is 0");
    CHECK_STR(push(NULL, 0, "{\"remove\": [1]}"), "| component:default/conformance-1");
    weir_testing_set_config("pages", "x");
    CHECK_STR(push(NULL, 0, "{}"),
              "fatal conformance: config `pages`: expected a number from 1 to 1000, got \"x\"");
}

/* The error `open` gives with the config set so far, as "KIND MESSAGE", or NULL. */
static char *open_error(void) {
    static char message[256];
    void *context;
    weir_error *error = weir_exported_source()->open(&context);
    if (error == NULL) {
        weir_exported_source()->close(context);
        return NULL;
    }
    snprintf(message, sizeof message, "%s %s",
             weir_error_kind_of(error) == WEIR_ERROR_FATAL ? "fatal" : "transient",
             weir_error_message(error));
    weir_error_free(error);
    return message;
}

static void test_config_is_checked_in_order_digits_only(void) {
    weir_testing_reset();
    weir_testing_set_config("pages", " 3");
    CHECK_STR(open_error(),
              "fatal conformance: config `pages`: expected a number from 1 to 1000, got \" 3\"");
    weir_testing_set_config("pages", "+3");
    CHECK_STR(open_error(),
              "fatal conformance: config `pages`: expected a number from 1 to 1000, got \"+3\"");
    weir_testing_set_config("pages", "003");
    weir_testing_set_config("fail-close", "sometimes");
    weir_testing_set_config("fail-open", "fatal");
    CHECK_STR(open_error(), "fatal conformance: config `fail-close`: expected transient or "
                            "fatal, got \"sometimes\"");
    weir_testing_set_config("fail-close", "transient");
    CHECK_STR(open_error(), "fatal conformance: open failed");
    weir_testing_reset();
    weir_testing_set_config("fail-close", "transient");
    void *context;
    CHECK(weir_exported_source()->open(&context) == NULL);
    weir_error *error = weir_exported_source()->close(context);
    CHECK(error != NULL && weir_error_kind_of(error) == WEIR_ERROR_TRANSIENT);
    CHECK_STR(weir_error_message(error), "conformance: close failed");
    weir_error_free(error);
}

int main(void) {
    static const test_case tests[] = {
        {"bad cursors are fatal and quoted", test_bad_cursors_are_fatal_and_quoted},
        {"the same cursor gives the same page", test_the_same_cursor_gives_the_same_page},
        {"push upserts and removes by number", test_push_upserts_and_removes_by_number},
        {"config is checked in order, digits only", test_config_is_checked_in_order_digits_only},
    };
    return run_tests("c-conformance", tests, sizeof tests / sizeof tests[0]);
}
