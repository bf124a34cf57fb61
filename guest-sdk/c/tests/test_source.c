/* test_source.c: a small source run natively through weir_testing.h (config,
 * logs, cursors, HTTP answers, push), and the pure parts of push and HTTP. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "tests.h"
#include "weir_testing.h"

/* The test source: `count` Groups, two a page, read over HTTP when `url` is
 * set; its push handler upserts the group named in the body. */
static weir_error *numbers_open(void **context) {
    int64_t *count = malloc(sizeof *count);
    weir_error *error = weir_config_get_int("count", 3, count);
    if (error != NULL) {
        free(count);
        return error;
    }
    *context = count;
    return NULL;
}

static weir_error *fetch_count(int64_t *count) {
    char *url = weir_config_get("url");
    if (url == NULL) {
        return NULL;
    }
    weir_http_response *response;
    weir_error *error = weir_http_get(url, &response);
    if (error == NULL) {
        error = weir_http_status_error(response, url);
    }
    weir_json_value *body = NULL;
    if (error == NULL) {
        error = weir_http_response_json(response, url, &body);
    }
    if (error == NULL && !weir_json_to_int(weir_json_get(body, "count"), count)) {
        error = weir_error_fatal("%s: no count", url);
    }
    weir_json_free(body);
    weir_http_response_free(response);
    free(url);
    return error;
}

static weir_error *numbers_next(void *context, const weir_cursor *cursor, weir_page *page) {
    int64_t count = *(int64_t *)context;
    int64_t start = 0;
    weir_error *error = cursor != NULL ? weir_cursor_int(cursor, &start) : fetch_count(&count);
    if (error != NULL) {
        return error;
    }
    weir_log_debug("page from %lld", (long long)start);
    int64_t end = start + 2 < count ? start + 2 : count;
    for (int64_t i = start; i < end; i++) {
        weir_entity_builder *group = weir_entity_builder_newf("Group", "group-%lld", (long long)i);
        weir_entity_location_keyf(group, "numbers:%lld", (long long)i);
        weir_page_add(page, weir_entity_build(group));
    }
    if (end < count) {
        weir_page_more_int(page, end);
    } else {
        weir_page_last(page);
    }
    return NULL;
}

static weir_error *numbers_close(void *context) {
    free(context);
    return NULL;
}

static const weir_source numbers = {
    .provider_name = "numbers",
    .open = numbers_open,
    .next = numbers_next,
    .close = numbers_close,
};

WEIR_EXPORT_SOURCE(numbers)

static weir_error *numbers_push(const weir_push_event *event, weir_push_outcome *outcome) {
    if (weir_push_event_header(event, "X-Token") == NULL) {
        return weir_error_fatal("no token");
    }
    weir_json_value *body;
    weir_error *error = weir_push_event_json(event, &body);
    if (error != NULL) {
        return error;
    }
    const char *name = weir_json_to_string(weir_json_get(body, "name"), NULL);
    if (name != NULL) {
        weir_push_outcome_upsert(outcome,
                                 weir_entity_build(weir_entity_builder_new("Group", name)));
    }
    weir_push_outcome_remove(outcome, "group:default/old");
    weir_json_free(body);
    return NULL;
}

WEIR_EXPORT_PUSH(numbers_push)

void test_a_source_runs_natively_with_weir_testing(void) {
    weir_testing_reset();
    weir_testing_set_config("count", "3");
    void *context;
    CHECK(weir_exported_source()->open(&context) == NULL);
    weir_testing_page page;
    CHECK(weir_testing_next(context, NULL, &page) == NULL);
    CHECK(page.entity_count == 2);
    CHECK_STR(page.cursor, "2");
    CHECK_STR(page.location_keys[1], "numbers:1");
    CHECK_CONTAINS(page.entities[1], "\"name\":\"group-1\"");
    weir_testing_page_free(&page);
    CHECK(weir_testing_next(context, "2", &page) == NULL);
    CHECK(page.entity_count == 1 && page.cursor == NULL);
    weir_testing_page_free(&page);
    weir_error *error = weir_testing_next(context, "\"two\"", &page);
    CHECK(error != NULL);
    CHECK_CONTAINS(weir_error_message(error), "the stored cursor \"two\" is not an integer");
    weir_error_free(error);
    CHECK_STR(weir_testing_logs(), "debug page from 0\ndebug page from 2\n");
    CHECK(weir_exported_source()->close(context) == NULL);

    weir_testing_set_config("count", "many");
    error = weir_exported_source()->open(&context);
    CHECK(error != NULL);
    CHECK_STR(weir_error_message(error), "config `count`: cannot use \"many\": expected a whole "
                                         "number");
    weir_error_free(error);
    weir_testing_set_config("count", NULL);

    /* Over HTTP: a page answered, then a refused URL. */
    weir_testing_set_config("url", "http://api.test/count");
    weir_testing_http_respond("http://api.test/count", 200, "{\"count\": 1}");
    CHECK(weir_exported_source()->open(&context) == NULL);
    CHECK(weir_testing_next(context, NULL, &page) == NULL);
    CHECK(page.entity_count == 1 && page.cursor == NULL);
    weir_testing_page_free(&page);
    weir_testing_http_respond("http://api.test/count", 503, "busy");
    error = weir_testing_next(context, NULL, &page);
    CHECK(error != NULL && weir_error_kind_of(error) == WEIR_ERROR_TRANSIENT);
    CHECK_STR(weir_error_message(error), "http://api.test/count: HTTP 503");
    weir_error_free(error);
    weir_testing_set_config("url", "http://elsewhere.test/");
    error = weir_testing_next(context, NULL, &page);
    CHECK(error != NULL && weir_error_http_failure(error) == WEIR_HTTP_DENIED);
    weir_error_free(error);
    weir_exported_source()->close(context);
    weir_testing_reset();
}

void test_push_events_and_outcomes(void) {
    const char *headers[][2] = {{"x-token", "first"}, {"X-TOKEN", "second"}};
    weir_testing_outcome outcome;
    CHECK(weir_testing_push(headers, 2, "{\"name\": \"team-a\"}", &outcome) == NULL);
    CHECK(outcome.upsert_count == 1 && outcome.removal_count == 1);
    CHECK_CONTAINS(outcome.upserts[0], "\"name\":\"team-a\"");
    CHECK_STR(outcome.removals[0], "group:default/old");
    weir_testing_outcome_free(&outcome);

    weir_error *error = weir_testing_push(headers, 2, "{nope", &outcome);
    CHECK(error != NULL && weir_error_kind_of(error) == WEIR_ERROR_FATAL);
    CHECK_CONTAINS(weir_error_message(error), "the pushed body is not JSON: expected a string key");
    weir_error_free(error);
    error = weir_testing_push(headers, 0, "{}", &outcome);
    CHECK_STR(error != NULL ? weir_error_message(error) : NULL, "no token");
    weir_error_free(error);

    char *names[] = {"Content-Type", "x-hub-signature"};
    char *values[] = {"application/json", "sha256=abc"};
    weir_push_event event = {.header_count = 2,
                             .header_names = names,
                             .header_values = values,
                             .body = (uint8_t *)"{}",
                             .body_length = 2};
    CHECK_STR(weir_push_event_header(&event, "content-type"), "application/json");
    CHECK(weir_push_event_header(&event, "missing") == NULL);
    const char *value = NULL;
    CHECK_STR(weir_push_event_header_at(&event, 1, &value), "x-hub-signature");
    CHECK_STR(value, "sha256=abc");
    CHECK(weir_push_event_header_count(&event) == 2);
    size_t length;
    CHECK(weir_push_event_body(&event, &length) != NULL && length == 2);
}

static void check_url(const char *url, bool https, const char *authority, const char *path) {
    weir_url_parts parts;
    weir_error *error = weir_url_split(url, &parts);
    if (CHECK(error == NULL)) {
        CHECK(parts.https == https);
        CHECK_STR(parts.authority, authority);
        CHECK_STR(parts.path_with_query, path);
    }
    weir_error_free(error);
    weir_url_parts_release(&parts);
}

static void check_bad_url(const char *url) {
    weir_url_parts parts;
    weir_error *error = weir_url_split(url, &parts);
    CHECK(error != NULL && weir_error_http_failure(error) == WEIR_HTTP_INVALID_REQUEST);
    weir_error_free(error);
}

static weir_error *status_error(uint16_t status, const char *retry_after) {
    char *names[] = {"retry-after"};
    char *values[] = {(char *)retry_after};
    weir_http_response response = {.status = status,
                                   .header_count = retry_after != NULL ? 1 : 0,
                                   .header_names = names,
                                   .header_values = values};
    return weir_http_status_error(&response, "http://x.test/a");
}

void test_urls_and_statuses_for_http(void) {
    check_url("https://api.x.dev:8443/v1/items?page=2#top", true, "api.x.dev:8443",
              "/v1/items?page=2");
    check_url("http://x.y?a=1", false, "x.y", "/?a=1");
    check_url("HTTP://x.y", false, "x.y", "/");
    check_bad_url("ftp://x.y");
    check_bad_url("x.y/path");
    check_bad_url("http:///path");

    CHECK(status_error(204, NULL) == NULL);
    weir_error *error = status_error(429, "30");
    CHECK(error != NULL && weir_error_kind_of(error) == WEIR_ERROR_TRANSIENT);
    CHECK_STR(error != NULL ? weir_error_message(error) : NULL,
              "http://x.test/a: HTTP 429 (Retry-After: 30)");
    weir_error_free(error);
    error = status_error(502, NULL);
    CHECK(error != NULL && weir_error_kind_of(error) == WEIR_ERROR_TRANSIENT);
    weir_error_free(error);
    error = status_error(404, NULL);
    CHECK(error != NULL && weir_error_kind_of(error) == WEIR_ERROR_FATAL);
    CHECK_STR(error != NULL ? weir_error_message(error) : NULL, "http://x.test/a: HTTP 404");
    weir_error_free(error);

    weir_http_request *request = weir_http_request_new("POST", "http://x.test/a");
    weir_http_request_header(request, "content-type", "application/json");
    weir_http_request_body(request, "{}", 2);
    CHECK(request->header_count == 1 && request->body_length == 2);
    weir_http_request_free(request);
}

void test_errors_keep_their_kind(void) {
    weir_error *error = weir_error_prefix(weir_error_transient("HTTP %d", 503), "item %d", 3);
    CHECK(weir_error_kind_of(error) == WEIR_ERROR_TRANSIENT);
    CHECK_STR(weir_error_message(error), "item 3: HTTP 503");
    CHECK(weir_error_http_failure(error) == WEIR_HTTP_NOT_HTTP);
    weir_error_free(error);
}
