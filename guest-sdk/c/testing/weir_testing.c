/* weir_testing.c: the native stand-ins for the host (config, secrets, log,
 * HTTP) and the runners behind weir_testing.h. They take the place of
 * export.c, http.c and push.c, which need the WebAssembly bindings. */
#include "weir_testing.h"

#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* A small in-memory map of strings. */
typedef struct entry {
    char *key;
    char *value;
    uint16_t status; /* HTTP answers only */
} entry;

typedef struct table {
    entry *items;
    size_t count;
} table;

static table config, secrets, http_answers;
static weir_buffer logs;

static void table_clear(table *map) {
    for (size_t i = 0; i < map->count; i++) {
        free(map->items[i].key);
        free(map->items[i].value);
    }
    free(map->items);
    map->items = NULL;
    map->count = 0;
}

static entry *table_find(const table *map, const char *key) {
    for (size_t i = 0; i < map->count; i++) {
        if (strcmp(map->items[i].key, key) == 0) {
            return &map->items[i];
        }
    }
    return NULL;
}

static void table_set(table *map, const char *key, const char *value, uint16_t status) {
    entry *found = table_find(map, key);
    if (found != NULL) {
        free(found->key);
        free(found->value);
        *found = map->items[--map->count];
    }
    if (value == NULL) {
        return;
    }
    map->items = weir_xrealloc(map->items, (map->count + 1) * sizeof(entry));
    map->items[map->count++] =
        (entry){.key = weir_xstrdup(key), .value = weir_xstrdup(value), .status = status};
}

static char *table_get(const table *map, const char *key) {
    const entry *found = table_find(map, key);
    return found != NULL ? weir_xstrdup(found->value) : NULL;
}

void weir_testing_reset(void) {
    table_clear(&config);
    table_clear(&secrets);
    table_clear(&http_answers);
    weir_buffer_free(&logs);
}

void weir_testing_set_config(const char *key, const char *value) {
    table_set(&config, key, value, 0);
}

void weir_testing_set_secret(const char *key, const char *value) {
    table_set(&secrets, key, value, 0);
}

const char *weir_testing_logs(void) {
    return logs.data != NULL ? logs.data : "";
}

void weir_testing_http_respond(const char *url, uint16_t status, const char *body) {
    table_set(&http_answers, url, body, status);
}

/* ---- The host's side of weir.h ---- */

char *weir_config_get(const char *key) {
    return table_get(&config, key);
}

char *weir_config_get_or(const char *key, const char *fallback) {
    char *value = weir_config_get(key);
    return value != NULL ? value : weir_xstrdup(fallback);
}

weir_error *weir_config_require(const char *key, char **value) {
    *value = weir_config_get(key);
    return *value != NULL ? NULL : weir_error_fatal("config `%s` is required but not set", key);
}

weir_error *weir_config_get_int(const char *key, int64_t fallback, int64_t *value) {
    char *text = weir_config_get(key);
    weir_error *error = NULL;
    if (text == NULL) {
        *value = fallback;
    } else if (!weir_parse_int(text, value)) {
        error =
            weir_error_fatal("config `%s`: cannot use \"%s\": expected a whole number", key, text);
    }
    free(text);
    return error;
}

char *weir_secret_get(const char *key) {
    return table_get(&secrets, key);
}

weir_error *weir_secret_require(const char *key, char **value) {
    *value = weir_secret_get(key);
    return *value != NULL ? NULL : weir_error_fatal("secret `%s` is required but not set", key);
}

static void log_line(weir_log_level level, const char *format, va_list args) {
    static const char *const names[] = {"trace", "debug", "info", "warn", "error"};
    char *message = weir_vformat(format, args);
    char *line = weir_format("%s %s\n", names[level], message);
    weir_buffer_append(&logs, line, strlen(line));
    free(line);
    free(message);
}

void weir_log(weir_log_level level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    log_line(level, format, args);
    va_end(args);
}

#define DEFINE_LOG_FUNCTION(name, level)                                                           \
    void name(const char *format, ...) {                                                           \
        va_list args;                                                                              \
        va_start(args, format);                                                                    \
        log_line(level, format, args);                                                             \
        va_end(args);                                                                              \
    }

DEFINE_LOG_FUNCTION(weir_log_trace, WEIR_LOG_TRACE)
DEFINE_LOG_FUNCTION(weir_log_debug, WEIR_LOG_DEBUG)
DEFINE_LOG_FUNCTION(weir_log_info, WEIR_LOG_INFO)
DEFINE_LOG_FUNCTION(weir_log_warn, WEIR_LOG_WARN)
DEFINE_LOG_FUNCTION(weir_log_error, WEIR_LOG_ERROR)

weir_error *weir_http_send(const weir_http_request *request, weir_http_response **response) {
    *response = NULL;
    const entry *answer = table_find(&http_answers, request->url);
    if (answer == NULL) {
        return weir_http_error(WEIR_ERROR_FATAL, WEIR_HTTP_DENIED,
                               "request denied by the host: %s (no answer set with "
                               "weir_testing_http_respond)",
                               request->url);
    }
    weir_http_response *result = weir_xmalloc(sizeof *result);
    memset(result, 0, sizeof *result);
    result->status = answer->status;
    result->body_length = strlen(answer->value);
    result->body = (uint8_t *)weir_xstrdup(answer->value);
    *response = result;
    return NULL;
}

void weir_link_push_export(void) {
}

/* ---- Runners ---- */

weir_error *weir_testing_next(void *context, const char *cursor_text, weir_testing_page *result) {
    memset(result, 0, sizeof *result);
    weir_cursor cursor;
    if (cursor_text != NULL) {
        weir_cursor_init(&cursor, cursor_text, strlen(cursor_text));
    }
    weir_page page;
    weir_page_init(&page);
    size_t cursor_length;
    weir_error *error =
        weir_source_next(weir_exported_source(), context, cursor_text != NULL ? &cursor : NULL,
                         &page, &result->cursor, &cursor_length);
    if (cursor_text != NULL) {
        weir_cursor_release(&cursor);
    }
    if (error == NULL) {
        size_t count = page.entities.count;
        result->entity_count = count;
        result->entities = weir_xmalloc(count * sizeof(char *));
        result->location_keys = weir_xmalloc(count * sizeof(char *));
        for (size_t i = 0; i < count; i++) {
            result->entities[i] = page.entities.items[i].json;
            result->location_keys[i] = page.entities.items[i].location_key;
            page.entities.items[i].json = NULL;
            page.entities.items[i].location_key = NULL;
        }
    }
    weir_page_release(&page);
    return error;
}

void weir_testing_page_free(weir_testing_page *page) {
    for (size_t i = 0; i < page->entity_count; i++) {
        free(page->entities[i]);
        free(page->location_keys[i]);
    }
    free(page->entities);
    free(page->location_keys);
    free(page->cursor);
    memset(page, 0, sizeof *page);
}

weir_error *weir_testing_push(const char *const headers[][2], size_t header_count, const char *body,
                              weir_testing_outcome *result) {
    memset(result, 0, sizeof *result);
    weir_push_event event = {.header_count = header_count,
                             .header_names = weir_xmalloc(header_count * sizeof(char *)),
                             .header_values = weir_xmalloc(header_count * sizeof(char *)),
                             .body = (uint8_t *)weir_xstrdup(body),
                             .body_length = strlen(body)};
    for (size_t i = 0; i < header_count; i++) {
        event.header_names[i] = (char *)headers[i][0];
        event.header_values[i] = (char *)headers[i][1];
    }
    weir_push_outcome outcome;
    weir_error *error = weir_push_run(weir_exported_push_handler(), &event, &outcome);
    if (error == NULL) {
        result->upsert_count = outcome.upserts.count;
        result->upserts = weir_xmalloc(outcome.upserts.count * sizeof(char *));
        for (size_t i = 0; i < outcome.upserts.count; i++) {
            result->upserts[i] = outcome.upserts.items[i].json;
            outcome.upserts.items[i].json = NULL;
        }
        result->removal_count = outcome.removal_count;
        result->removals = outcome.removals;
        outcome.removals = NULL;
        outcome.removal_count = 0;
    }
    weir_push_outcome_release(&outcome);
    free(event.header_names);
    free(event.header_values);
    free(event.body);
    return error;
}

void weir_testing_outcome_free(weir_testing_outcome *outcome) {
    for (size_t i = 0; i < outcome->upsert_count; i++) {
        free(outcome->upserts[i]);
    }
    for (size_t i = 0; i < outcome->removal_count; i++) {
        free(outcome->removals[i]);
    }
    free(outcome->upserts);
    free(outcome->removals);
    memset(outcome, 0, sizeof *outcome);
}
