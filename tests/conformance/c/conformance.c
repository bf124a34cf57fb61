/* conformance.c: the conformance source (tests/conformance/README.md) written
 * with the C SDK: pages of numbered Component entities decided by config, a
 * `{"page": N}` cursor, the failures the config asks for, and a push handler
 * that upserts and removes entities by number. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "weir.h"

/* How `fail-open` or `fail-close` asks a call to fail. */
typedef enum failure {
    FAILURE_NONE,
    FAILURE_TRANSIENT,
    FAILURE_FATAL,
} failure;

/* What a burst (or a push) reads from config. */
typedef struct settings {
    int64_t pages;
    int64_t per_page;
    failure fail_open;
    int64_t transient_at; /* -1: unset */
    int64_t fatal_at;     /* -1: unset */
    failure fail_close;
} settings;

/* The highest page number any cycle has (pages is at most 1000). */
#define MAX_PAGE 999
/* The highest entity number any cycle has (1000 pages of 1000). */
#define MAX_ENTITY 999999

/* ---- Config ---- */

/* Whether `text` is one or more ASCII digits and nothing else. */
static bool all_digits(const char *text) {
    if (*text == '\0') {
        return false;
    }
    for (; *text != '\0'; text++) {
        if (*text < '0' || *text > '9') {
            return false;
        }
    }
    return true;
}

/* Config `key` as a number from `low` to `high`, `fallback` when unset. */
static weir_error *number_setting(const char *key, int64_t low, int64_t high, int64_t fallback,
                                  int64_t *value) {
    char *text = weir_config_get(key);
    if (text == NULL) {
        *value = fallback;
        return NULL;
    }
    weir_error *error = NULL;
    if (!all_digits(text) || !weir_parse_int(text, value) || *value < low || *value > high) {
        error = weir_error_fatal("conformance: config `%s`: expected a number from %" PRId64
                                 " to %" PRId64 ", got \"%s\"",
                                 key, low, high, text);
    }
    free(text);
    return error;
}

/* Config `key` as `transient` or `fatal`; FAILURE_NONE when unset. */
static weir_error *failure_setting(const char *key, failure *value) {
    char *text = weir_config_get(key);
    weir_error *error = NULL;
    if (text == NULL) {
        *value = FAILURE_NONE;
    } else if (strcmp(text, "transient") == 0) {
        *value = FAILURE_TRANSIENT;
    } else if (strcmp(text, "fatal") == 0) {
        *value = FAILURE_FATAL;
    } else {
        error = weir_error_fatal(
            "conformance: config `%s`: expected transient or fatal, got \"%s\"", key, text);
    }
    free(text);
    return error;
}

/* Every key, in the README's order; the first bad one is the error. */
static weir_error *read_settings(settings *out) {
    weir_error *error = number_setting("pages", 1, 1000, 3, &out->pages);
    if (error == NULL) {
        error = number_setting("per-page", 0, 1000, 2, &out->per_page);
    }
    if (error == NULL) {
        error = failure_setting("fail-open", &out->fail_open);
    }
    if (error == NULL) {
        error = number_setting("transient-at", 0, MAX_PAGE, -1, &out->transient_at);
    }
    if (error == NULL) {
        error = number_setting("fatal-at", 0, MAX_PAGE, -1, &out->fatal_at);
    }
    if (error == NULL) {
        error = failure_setting("fail-close", &out->fail_close);
    }
    return error;
}

/* The error `kind` asks for, with `message`; NULL for FAILURE_NONE. */
static weir_error *requested_failure(failure kind, const char *message) {
    switch (kind) {
    case FAILURE_TRANSIENT:
        return weir_error_transient("%s", message);
    case FAILURE_FATAL:
        return weir_error_fatal("%s", message);
    case FAILURE_NONE:
        break;
    }
    return NULL;
}

/* ---- Entities ---- */

static weir_entity *conformance_entity(int64_t index, int64_t page) {
    weir_entity_builder *entity =
        weir_entity_builder_newf("Component", "conformance-%" PRId64, index);
    weir_entity_namespace(entity, "default");
    weir_entity_titlef(entity, "Conformance %" PRId64, index);
    weir_entity_descriptionf(entity,
                             "Entity \"%" PRId64 "\" of the conformance source: ünïcødé ✓, a tab\t"
                             "and a newline\n.",
                             index);
    weir_entity_tag(entity, "conformance");
    weir_entity_tagf(entity, "page-%" PRId64, page);
    weir_entity_labelf(entity, "weir.dev/index", "%" PRId64, index);
    weir_entity_managed_byf(entity, "url:https://conformance.example/entities/%" PRId64, index);
    weir_entity_spec_string(entity, "type", "service");
    weir_entity_spec_string(entity, "lifecycle", "production");
    weir_entity_spec_string(entity, "owner", "group:default/conformance");
    weir_entity_spec_int(entity, "index", index);
    weir_entity_spec_bool(entity, "even", index % 2 == 0);
    weir_entity_spec_double(entity, "ratio", (double)index / 4.0);
    weir_json_writer *depends_on = weir_entity_spec(entity, "dependsOn");
    weir_json_array_begin(depends_on);
    if (index > 0) {
        weir_json_stringf(depends_on, "component:default/conformance-%" PRId64, index - 1);
    }
    weir_json_array_end(depends_on);
    weir_entity_location_keyf(entity, "conformance:%" PRId64, index);
    return weir_entity_build(entity);
}

/* ---- The source ---- */

static weir_error *conformance_open(void **context) {
    char *token = weir_secret_get("token");
    weir_log_info("conformance: open %s", token != NULL ? "(token present)" : "(no token)");
    free(token);
    settings *config = malloc(sizeof *config);
    if (config == NULL) {
        return weir_error_transient("conformance: out of memory");
    }
    weir_error *error = read_settings(config);
    if (error == NULL) {
        error = requested_failure(config->fail_open, "conformance: open failed");
    }
    if (error != NULL) {
        free(config);
        return error;
    }
    *context = config;
    return NULL;
}

/* The page a cursor names, or the fatal error for a bad cursor. */
static weir_error *cursor_page(const settings *config, const weir_cursor *cursor, int64_t *page) {
    *page = 0;
    if (cursor == NULL) {
        return NULL;
    }
    /* An object whose only member is `page`, an integer within the cycle. */
    if (cursor->value == NULL || weir_json_type_of(cursor->value) != WEIR_JSON_OBJECT ||
        weir_json_length(cursor->value) != 1 ||
        !weir_json_to_int(weir_json_get(cursor->value, "page"), page) || *page < 0 ||
        *page >= config->pages) {
        return weir_error_fatal("conformance: bad cursor: %s", cursor->text);
    }
    return NULL;
}

static weir_error *conformance_next(void *context, const weir_cursor *cursor, weir_page *page) {
    const settings *config = context;
    int64_t number;
    weir_error *error = cursor_page(config, cursor, &number);
    if (error != NULL) {
        return error;
    }
    weir_log_debug("conformance: page %" PRId64, number);
    if (number == config->transient_at) {
        return weir_error_transient("conformance: transient at page %" PRId64, number);
    }
    if (number == config->fatal_at) {
        return weir_error_fatal("conformance: fatal at page %" PRId64, number);
    }
    for (int64_t index = number * config->per_page; index < (number + 1) * config->per_page;
         index++) {
        weir_page_add(page, conformance_entity(index, number));
    }
    if (number + 1 < config->pages) {
        weir_page_more_field_int(page, "page", number + 1);
    } else {
        weir_page_last(page);
    }
    return NULL;
}

static weir_error *conformance_close(void *context) {
    failure fail_close = ((const settings *)context)->fail_close;
    free(context);
    weir_log_info("conformance: close");
    return requested_failure(fail_close, "conformance: close failed");
}

static const weir_source conformance = {
    .provider_name = "conformance",
    .open = conformance_open,
    .next = conformance_next,
    .close = conformance_close,
};

WEIR_EXPORT_SOURCE(conformance)

/* ---- Push ---- */

/* Whether `body[key]` is absent or a list of entity numbers; `*numbers` is
 * the list (NULL when absent). */
static bool entity_numbers(const weir_json_value *body, const char *key,
                           const weir_json_value **numbers) {
    *numbers = weir_json_get(body, key);
    if (*numbers == NULL) {
        return true;
    }
    if (weir_json_type_of(*numbers) != WEIR_JSON_ARRAY) {
        return false;
    }
    for (size_t i = 0; i < weir_json_length(*numbers); i++) {
        int64_t index;
        if (!weir_json_to_int(weir_json_at(*numbers, i), &index) || index < 0 ||
            index > MAX_ENTITY) {
            return false;
        }
    }
    return true;
}

/* The first key of the object `body` other than `upsert` and `remove`, or
 * NULL (also when `body` is not an object). */
static const char *unknown_key(const weir_json_value *body) {
    for (size_t i = 0; i < weir_json_length(body); i++) {
        const char *key = weir_json_key_at(body, i, NULL);
        if (key != NULL && strcmp(key, "upsert") != 0 && strcmp(key, "remove") != 0) {
            return key;
        }
    }
    return NULL;
}

/* Upserts and removals by number; `per_page` is not 0 when there are upserts. */
static void apply_event(const weir_json_value *upserts, const weir_json_value *removals,
                        int64_t per_page, weir_push_outcome *outcome) {
    int64_t index;
    char ref[64];
    for (size_t i = 0; i < weir_json_length(upserts); i++) {
        weir_json_to_int(weir_json_at(upserts, i), &index);
        weir_push_outcome_upsert(outcome, conformance_entity(index, index / per_page));
    }
    for (size_t i = 0; i < weir_json_length(removals); i++) {
        weir_json_to_int(weir_json_at(removals, i), &index);
        snprintf(ref, sizeof ref, "component:default/conformance-%" PRId64, index);
        weir_push_outcome_remove(outcome, ref);
    }
}

static weir_error *conformance_push(const weir_push_event *event, weir_push_outcome *outcome) {
    const char *fail = weir_push_event_header(event, "x-conformance-fail");
    if (fail != NULL && strcmp(fail, "transient") == 0) {
        return weir_error_transient("conformance: push failed");
    }
    settings config;
    weir_error *error = read_settings(&config);
    if (error != NULL) {
        return error;
    }
    weir_json_value *body;
    error = weir_push_event_json(event, &body);
    if (error != NULL) {
        weir_error *invalid =
            weir_error_fatal("conformance: push body is not valid: %s", weir_error_message(error));
        weir_error_free(error);
        return invalid;
    }
    const weir_json_value *upserts, *removals;
    const char *unknown = unknown_key(body);
    if (weir_json_type_of(body) != WEIR_JSON_OBJECT) {
        error = weir_error_fatal("conformance: push body is not valid: not a JSON object");
    } else if (unknown != NULL) {
        error = weir_error_fatal("conformance: push body is not valid: unknown key `%s`", unknown);
    } else if (!entity_numbers(body, "upsert", &upserts)) {
        error = weir_error_fatal("conformance: push body is not valid: `upsert` is not a list "
                                 "of entity numbers");
    } else if (!entity_numbers(body, "remove", &removals)) {
        error = weir_error_fatal("conformance: push body is not valid: `remove` is not a list "
                                 "of entity numbers");
    } else if (config.per_page == 0 && weir_json_length(upserts) > 0) {
        error = weir_error_fatal("conformance: push body is not valid: no entity is on a page "
                                 "when per-page is 0");
    } else {
        apply_event(upserts, removals, config.per_page, outcome);
    }
    weir_json_free(body);
    return error;
}

WEIR_EXPORT_PUSH(conformance_push)
