/* weir.h: the Weir C SDK, everything a source written in C uses.
 *
 * A source fills a `weir_source` with its provider name and its `open`,
 * `next` and `close` functions and exports it with `WEIR_EXPORT_SOURCE`; a
 * source that also takes pushed events (webhooks) adds `WEIR_EXPORT_PUSH`.
 * The SDK turns that into the `weir:source@0.1.1` contract (wit/source.wit):
 * it parses cursors, builds entity JSON, converts errors and owns the
 * generated bindings, which a source never sees.
 *
 * Memory ownership, in one rule per kind of value:
 * - `char *` results (config values, secrets, finished JSON text) are the
 *   caller's: release them with free().
 * - `const char *` results borrow from the object they came from and live as
 *   long as it does (a cursor's text lives until `next` returns).
 * - `weir_error *` values returned by a callback (`open`, `next`, `close`,
 *   a push handler) are taken over by the SDK; one a source creates and does
 *   not return is released with weir_error_free().
 * - `weir_entity *` values handed to weir_page_add() or
 *   weir_push_outcome_upsert() are taken over; the page itself and the
 *   cursor writer belong to the SDK.
 * - The `context` that `open` returns is the source's: free it in `close`.
 *
 * Strings are UTF-8 and end at their first NUL byte (use the `_n` variants
 * for text with NULs in it). Text that is not valid UTF-8 is written with
 * U+FFFD in place of each bad sequence, so it can never make a call trap.
 * Functions whose names end in `f` take a printf format and its arguments
 * instead of a string, and format straight into the entity (%s, %c and the
 * integer conversions there; anything else through vsnprintf), which is much
 * faster than snprintf into a buffer of your own.
 * Allocation failure aborts (the host reports it as the memory limit).
 */
#ifndef WEIR_H
#define WEIR_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define WEIR_PRINTF(format_index, first_arg)                                                       \
    __attribute__((format(printf, format_index, first_arg)))
#else
#define WEIR_PRINTF(format_index, first_arg)
#endif

/* ------------------------------------------------------------------------
 * Errors
 * ---------------------------------------------------------------------- */

/* Why a call failed; the case tells the host what to do next. */
typedef enum weir_error_kind {
    /* Retrying later may help (a timeout, a rate limit, an upstream 5xx): the
     * host backs off and retries the burst from the last stored cursor. */
    WEIR_ERROR_TRANSIENT,
    /* Retrying will not help (bad credentials, bad config): the cycle stops
     * until the next one starts or an operator acts. */
    WEIR_ERROR_FATAL,
} weir_error_kind;

/* What kind of HTTP failure an error from weir_http_send() is. */
typedef enum weir_http_failure {
    WEIR_HTTP_NOT_HTTP,        /* the error did not come from weir_http_send() */
    WEIR_HTTP_DENIED,          /* the host refused the request (host not granted): fatal */
    WEIR_HTTP_INVALID_REQUEST, /* a URL, method or header that cannot be sent: fatal */
    WEIR_HTTP_TIMEOUT,         /* no answer within the source's request timeout: transient */
    WEIR_HTTP_FAILED,          /* anything else (DNS, connection, TLS, protocol): transient */
} weir_http_failure;

typedef struct weir_error weir_error;

/* A transient error with a printf-formatted message. */
weir_error *weir_error_transient(const char *format, ...) WEIR_PRINTF(1, 2);
/* A fatal error with a printf-formatted message. */
weir_error *weir_error_fatal(const char *format, ...) WEIR_PRINTF(1, 2);
/* `error` with "PREFIX: " put before its message, keeping its kind (for
 * example "item 3: " before an error about one item). Returns `error`. */
weir_error *weir_error_prefix(weir_error *error, const char *format, ...) WEIR_PRINTF(2, 3);
weir_error_kind weir_error_kind_of(const weir_error *error);
const char *weir_error_message(const weir_error *error);
weir_http_failure weir_error_http_failure(const weir_error *error);
void weir_error_free(weir_error *error);

/* ------------------------------------------------------------------------
 * Formatting
 * ---------------------------------------------------------------------- */

/* snprintf(), through the SDK's formatter: the same text, several times
 * faster for %s, %c and the integer conversions (see the `f` functions). */
int weir_snprintf(char *buffer, size_t size, const char *format, ...) WEIR_PRINTF(3, 4);

/* ------------------------------------------------------------------------
 * Writing JSON
 *
 * A writer appends one JSON value (an object, an array, a string, ...) to a
 * buffer, escaping strings per RFC 8259 and putting the commas in. A misuse
 * (a value in an object without a key, an unbalanced end, a second value
 * at the top) stops the writer; the first one is kept as its error, and
 * whatever uses the writer (a page, an entity) fails with it.
 * ---------------------------------------------------------------------- */

typedef struct weir_json_writer weir_json_writer;

weir_json_writer *weir_json_writer_new(void);
void weir_json_writer_free(weir_json_writer *writer);
void weir_json_object_begin(weir_json_writer *writer);
void weir_json_object_end(weir_json_writer *writer);
void weir_json_array_begin(weir_json_writer *writer);
void weir_json_array_end(weir_json_writer *writer);
/* The key of the next member of the object being written. */
void weir_json_key(weir_json_writer *writer, const char *key);
void weir_json_string(weir_json_writer *writer, const char *text);
void weir_json_string_n(weir_json_writer *writer, const char *text, size_t length);
void weir_json_stringf(weir_json_writer *writer, const char *format, ...) WEIR_PRINTF(2, 3);
void weir_json_vstringf(weir_json_writer *writer, const char *format, va_list args);
void weir_json_int(weir_json_writer *writer, int64_t number);
/* A finite number, in its shortest round-trip form; NaN and infinities are a
 * misuse (JSON has no such numbers). */
void weir_json_double(weir_json_writer *writer, double number);
void weir_json_bool(weir_json_writer *writer, bool value);
void weir_json_null(weir_json_writer *writer);
/* Already-serialised JSON text of one value, copied as is (not checked). */
void weir_json_raw(weir_json_writer *writer, const char *json_text);
/* The first misuse, or NULL while the writer is fine. */
const char *weir_json_writer_error(const weir_json_writer *writer);
/* The text written so far (NUL-terminated), borrowed from the writer. */
const char *weir_json_writer_text(const weir_json_writer *writer, size_t *length);
/* Takes the finished text (the caller's, to free()) and frees the writer.
 * NULL, with the writer freed, when it holds no complete value or was
 * misused; pass `error` to get the reason as a fatal error. */
char *weir_json_writer_finish(weir_json_writer *writer, size_t *length, weir_error **error);

/* ------------------------------------------------------------------------
 * Reading JSON
 * ---------------------------------------------------------------------- */

typedef enum weir_json_type {
    WEIR_JSON_NULL,
    WEIR_JSON_BOOL,
    WEIR_JSON_NUMBER,
    WEIR_JSON_STRING,
    WEIR_JSON_ARRAY,
    WEIR_JSON_OBJECT,
} weir_json_type;

/* A parsed JSON value (a tree): free the root with weir_json_free(). */
typedef struct weir_json_value weir_json_value;

/* Why a text did not parse: the message names the byte offset. */
typedef struct weir_json_error {
    size_t offset;
    char message[128];
} weir_json_error;

/* The value of the JSON text `text` (`length` bytes: whitespace around one
 * value, nothing else), or NULL with `error` filled in (when given). */
weir_json_value *weir_json_parse(const char *text, size_t length, weir_json_error *error);
void weir_json_free(weir_json_value *value);

weir_json_type weir_json_type_of(const weir_json_value *value);
/* The member `key` of an object (the last one, if the key repeats), or NULL
 * when `value` is not an object or has no such member. */
const weir_json_value *weir_json_get(const weir_json_value *object, const char *key);
/* The number of items of an array or members of an object; 0 otherwise. */
size_t weir_json_length(const weir_json_value *value);
/* Item `index` of an array, or NULL. */
const weir_json_value *weir_json_at(const weir_json_value *array, size_t index);
/* Member `index` of an object: its key, and its value through `member`. */
const char *weir_json_key_at(const weir_json_value *object, size_t index,
                             const weir_json_value **member);
/* true, with `*number` set, for a number that is a whole number within
 * int64_t (`3`, `3.0`, `-2e3`); false for anything else. */
bool weir_json_to_int(const weir_json_value *value, int64_t *number);
bool weir_json_to_double(const weir_json_value *value, double *number);
bool weir_json_to_bool(const weir_json_value *value, bool *result);
/* The text of a string (NUL-terminated; `length` may be NULL), or NULL when
 * `value` is not a string. */
const char *weir_json_to_string(const weir_json_value *value, size_t *length);

/* ------------------------------------------------------------------------
 * Entities
 * ---------------------------------------------------------------------- */

/* Where the entity was read from, as Backstage's catalog records it. */
#define WEIR_ANNOTATION_LOCATION "backstage.io/managed-by-location"
/* Where the entity was first discovered, as Backstage's catalog records it. */
#define WEIR_ANNOTATION_ORIGIN_LOCATION "backstage.io/managed-by-origin-location"

/* One entity, serialised to JSON text, with an optional location key. */
typedef struct weir_entity weir_entity;
/* Builds an entity field by field; weir_entity_build() serialises it. */
typedef struct weir_entity_builder weir_entity_builder;

/* Start an entity of `kind` named `name` (`apiVersion` backstage.io/v1alpha1). */
weir_entity_builder *weir_entity_builder_new(const char *kind, const char *name);
weir_entity_builder *weir_entity_builder_newf(const char *kind, const char *name_format, ...)
    WEIR_PRINTF(2, 3);
void weir_entity_api_version(weir_entity_builder *builder, const char *api_version);
void weir_entity_namespace(weir_entity_builder *builder, const char *namespace_);
void weir_entity_title(weir_entity_builder *builder, const char *title);
void weir_entity_titlef(weir_entity_builder *builder, const char *format, ...) WEIR_PRINTF(2, 3);
void weir_entity_description(weir_entity_builder *builder, const char *description);
void weir_entity_descriptionf(weir_entity_builder *builder, const char *format, ...)
    WEIR_PRINTF(2, 3);
/* Set metadata.annotations[key] (a second call with the same key replaces it). */
void weir_entity_annotation(weir_entity_builder *builder, const char *key, const char *value);
void weir_entity_annotationf(weir_entity_builder *builder, const char *key, const char *format, ...)
    WEIR_PRINTF(3, 4);
/* Set metadata.labels[key]. */
void weir_entity_label(weir_entity_builder *builder, const char *key, const char *value);
void weir_entity_labelf(weir_entity_builder *builder, const char *key, const char *format, ...)
    WEIR_PRINTF(3, 4);
/* Append to metadata.tags. */
void weir_entity_tag(weir_entity_builder *builder, const char *tag);
void weir_entity_tagf(weir_entity_builder *builder, const char *format, ...) WEIR_PRINTF(2, 3);
/* Append {"url": URL, "title": TITLE} to metadata.links. */
void weir_entity_link(weir_entity_builder *builder, const char *url, const char *title);
/* Set both backstage.io/managed-by-location and
 * backstage.io/managed-by-origin-location to `location` (for example
 * "url:https://github.com/org/repo"), as Backstage's providers do. */
void weir_entity_managed_by(weir_entity_builder *builder, const char *location);
void weir_entity_managed_byf(weir_entity_builder *builder, const char *format, ...)
    WEIR_PRINTF(2, 3);
/* Set any other metadata field: write exactly one value with the returned
 * writer, which stays valid until the next call on the builder. The fields
 * that have their own setters (name, namespace, title, description,
 * annotations, labels, tags, links) are refused. */
weir_json_writer *weir_entity_metadata(weir_entity_builder *builder, const char *key);
/* Set spec[key]: write exactly one value with the returned writer, which
 * stays valid until the next call on the builder. */
weir_json_writer *weir_entity_spec(weir_entity_builder *builder, const char *key);
void weir_entity_spec_string(weir_entity_builder *builder, const char *key, const char *value);
void weir_entity_spec_stringf(weir_entity_builder *builder, const char *key, const char *format,
                              ...) WEIR_PRINTF(3, 4);
void weir_entity_spec_int(weir_entity_builder *builder, const char *key, int64_t value);
void weir_entity_spec_double(weir_entity_builder *builder, const char *key, double value);
void weir_entity_spec_bool(weir_entity_builder *builder, const char *key, bool value);
/* Set spec[key] to an array of `count` strings. */
void weir_entity_spec_strings(weir_entity_builder *builder, const char *key,
                              const char *const *values, size_t count);
/* Set the location key that decides conflicts between sources producing the
 * same entity (Backstage's locationKey). */
void weir_entity_location_key(weir_entity_builder *builder, const char *key);
void weir_entity_location_keyf(weir_entity_builder *builder, const char *format, ...)
    WEIR_PRINTF(2, 3);
/* Serialise the entity and free the builder. Never NULL: a builder that was
 * misused gives an entity that fails the page (or push) it is added to, with
 * the misuse named. */
weir_entity *weir_entity_build(weir_entity_builder *builder);

/* An entity from JSON text the source wrote itself (copied; checked to be
 * UTF-8 here, and to be one JSON object by the host). */
weir_entity *weir_entity_from_json(const char *json_text);
weir_entity *weir_entity_from_json_n(const char *json_text, size_t length);
/* An entity from a writer holding one JSON object: takes its text without a
 * copy and frees the writer (the fastest way to produce many entities). */
weir_entity *weir_entity_from_writer(weir_json_writer *writer);
void weir_entity_set_location_key(weir_entity *entity, const char *key);
/* The entity's JSON text, or NULL for an entity that failed to build. */
const char *weir_entity_json(const weir_entity *entity, size_t *length);
const char *weir_entity_get_location_key(const weir_entity *entity);
/* Why the entity failed to build, or NULL. */
const char *weir_entity_error(const weir_entity *entity);
void weir_entity_free(weir_entity *entity);

/* ------------------------------------------------------------------------
 * Pages and cursors
 * ---------------------------------------------------------------------- */

/* The page `next` fills: its entities, then exactly one of weir_page_more()
 * (more pages follow, starting at the cursor written) or weir_page_last(). */
typedef struct weir_page weir_page;

/* Add `entity` to the page (taken over). */
void weir_page_add(weir_page *page, weir_entity *entity);
/* More pages follow: write the next cursor, exactly one JSON value, with the
 * returned writer (owned by the page). Keep it small: a page number, an
 * offset, a continuation token. */
weir_json_writer *weir_page_more(weir_page *page);
/* More pages follow; the next cursor is the integer `cursor`. */
void weir_page_more_int(weir_page *page, int64_t cursor);
/* More pages follow; the next cursor is the object {"KEY": cursor}. */
void weir_page_more_field_int(weir_page *page, const char *key, int64_t cursor);
/* More pages follow; the next cursor is this JSON text (not checked here:
 * the host stores it as given). */
void weir_page_more_json(weir_page *page, const char *cursor_json);
/* This is the last page of the cycle. */
void weir_page_last(weir_page *page);
size_t weir_page_entity_count(const weir_page *page);

/* The cursor `next` resumes from: the JSON text this source returned earlier
 * with weir_page_more(), as the host stored it. */
typedef struct weir_cursor {
    const char *text; /* NUL-terminated */
    size_t length;
    /* The parsed text, or NULL when it is not JSON. */
    const weir_json_value *value;
} weir_cursor;

/* The cursor as an integer (written with weir_page_more_int()), or a fatal
 * error naming the cursor when it is not one. */
weir_error *weir_cursor_int(const weir_cursor *cursor, int64_t *value);
/* The integer member `key` of an object cursor (weir_page_more_field_int()),
 * or a fatal error naming the cursor. */
weir_error *weir_cursor_field_int(const weir_cursor *cursor, const char *key, int64_t *value);

/* ------------------------------------------------------------------------
 * The source
 * ---------------------------------------------------------------------- */

typedef struct weir_source {
    /* The stable, unique name cursors and entities are stored under: 1-128
     * letters, digits, `.`, `_`, `-`. Changing it makes a new source. */
    const char *provider_name;
    /* Set-up for one burst (optional): put what the burst needs (settings,
     * a token) in `*context`; it is passed to `next` and `close`. */
    weir_error *(*open)(void **context);
    /* One page after `cursor` (NULL on the first page of a cycle). */
    weir_error *(*next)(void *context, const weir_cursor *cursor, weir_page *page);
    /* Tear-down at the end of the burst (optional): free the context. Also
     * called after `next` failed; not called when the instance trapped. */
    weir_error *(*close)(void *context);
} weir_source;

/* Export `source` (a `weir_source` variable) as the component's source. Use
 * it once, at file scope. */
#define WEIR_EXPORT_SOURCE(source)                                                                 \
    const weir_source *weir_exported_source(void) {                                                \
        return &(source);                                                                          \
    }

/* The source's exported `weir_source`; defined by WEIR_EXPORT_SOURCE. */
const weir_source *weir_exported_source(void);

/* ------------------------------------------------------------------------
 * Pushed events (optional)
 * ---------------------------------------------------------------------- */

/* One pushed event (a webhook delivery, say) as the host received it. */
typedef struct weir_push_event weir_push_event;
/* What an event changes: entities to upsert, refs to remove. */
typedef struct weir_push_outcome weir_push_outcome;

/* The value of the first header named `name` (compared case-insensitively),
 * or NULL. */
const char *weir_push_event_header(const weir_push_event *event, const char *name);
size_t weir_push_event_header_count(const weir_push_event *event);
/* Header `index` in the order received: its name as sent, its value through
 * `value`. */
const char *weir_push_event_header_at(const weir_push_event *event, size_t index,
                                      const char **value);
/* The raw body. */
const uint8_t *weir_push_event_body(const weir_push_event *event, size_t *length);
/* The body parsed as JSON, or a fatal error naming why it is not JSON (an
 * event that does not parse never will). Free the value with
 * weir_json_free(). */
weir_error *weir_push_event_json(const weir_push_event *event, weir_json_value **value);

/* Add or replace `entity` (taken over): a page's rules and limits apply. */
void weir_push_outcome_upsert(weir_push_outcome *outcome, weir_entity *entity);
/* Remove the entity `entity_ref` (`kind:namespace/name`, or `kind:name` in
 * the default namespace). */
void weir_push_outcome_remove(weir_push_outcome *outcome, const char *entity_ref);

/* Turns one event into upserts and removals. Runs in a fresh instance with no
 * `open` before it: read config and secrets here. Return a transient error
 * when the event could not be handled now, a fatal one when it never will
 * be (a bad signature, an event the source does not understand). */
typedef weir_error *weir_push_handler(const weir_push_event *event, weir_push_outcome *outcome);

/* Export `handler` as the component's `push` (it then implements the
 * `pushing-source-plugin` world). Use it once, at file scope, beside
 * WEIR_EXPORT_SOURCE; a source without it exports no `push`. */
#define WEIR_EXPORT_PUSH(handler)                                                                  \
    weir_push_handler *weir_exported_push_handler(void) {                                          \
        weir_link_push_export();                                                                   \
        return (handler);                                                                          \
    }

/* Links the SDK's `push` export in; WEIR_EXPORT_PUSH calls it. */
void weir_link_push_export(void);
/* The exported push handler; defined by WEIR_EXPORT_PUSH. */
weir_push_handler *weir_exported_push_handler(void);

/* ------------------------------------------------------------------------
 * Config, secrets, logs
 * ---------------------------------------------------------------------- */

/* The config value for `key` as the operator set it, or NULL when it is not
 * set. free() it. */
char *weir_config_get(const char *key);
/* The value for `key`, or a copy of `fallback` when it is not set. free() it. */
char *weir_config_get_or(const char *key, const char *fallback);
/* The value for `key`, or a fatal error naming the key when it is not set. */
weir_error *weir_config_require(const char *key, char **value);
/* The value for `key` as a decimal integer, or `fallback` when it is not
 * set; a value that is not an integer is a fatal error naming the key and
 * the value. */
weir_error *weir_config_get_int(const char *key, int64_t fallback, int64_t *value);
/* `text` as a decimal integer (an optional sign, digits, and blanks around
 * them); false when it is anything else or out of int64_t's range. */
bool weir_parse_int(const char *text, int64_t *value);

/* The secret for `key`, or NULL when it is not set. free() it. The host
 * never prints secrets; do not log them. */
char *weir_secret_get(const char *key);
/* The secret for `key`, or a fatal error naming the key when it is not set. */
weir_error *weir_secret_require(const char *key, char **value);

typedef enum weir_log_level {
    WEIR_LOG_TRACE,
    WEIR_LOG_DEBUG,
    WEIR_LOG_INFO,
    WEIR_LOG_WARN,
    WEIR_LOG_ERROR,
} weir_log_level;

/* A log line attributed to the source, printf-formatted. */
void weir_log(weir_log_level level, const char *format, ...) WEIR_PRINTF(2, 3);
void weir_log_trace(const char *format, ...) WEIR_PRINTF(1, 2);
void weir_log_debug(const char *format, ...) WEIR_PRINTF(1, 2);
void weir_log_info(const char *format, ...) WEIR_PRINTF(1, 2);
void weir_log_warn(const char *format, ...) WEIR_PRINTF(1, 2);
void weir_log_error(const char *format, ...) WEIR_PRINTF(1, 2);

/* ------------------------------------------------------------------------
 * Outbound HTTP (wasi:http), only to the hosts the operator granted
 * ---------------------------------------------------------------------- */

typedef struct weir_http_request weir_http_request;

/* A whole response. Header names are lower case, in the order received. */
typedef struct weir_http_response {
    uint16_t status;
    size_t header_count;
    char **header_names;
    char **header_values;
    uint8_t *body; /* NUL-terminated for convenience; `body_length` bytes */
    size_t body_length;
} weir_http_response;

/* A request with `method` ("GET", "POST", ...) to `url` (http:// or https://). */
weir_http_request *weir_http_request_new(const char *method, const char *url);
void weir_http_request_header(weir_http_request *request, const char *name, const char *value);
/* The request body (copied). */
void weir_http_request_body(weir_http_request *request, const void *body, size_t length);
void weir_http_request_free(weir_http_request *request);
/* Send the request and read the whole response into `*response` (free it
 * with weir_http_response_free()). A refused host or a bad URL is a fatal
 * error; a timeout or a failed connection a transient one;
 * weir_error_http_failure() tells which, to map it otherwise. Any status is
 * a response: see weir_http_status_error(). */
weir_error *weir_http_send(const weir_http_request *request, weir_http_response **response);
/* GET `url` with an `accept: application/json` header. */
weir_error *weir_http_get(const char *url, weir_http_response **response);
/* The first value of header `name` (any case), or NULL. */
const char *weir_http_response_header(const weir_http_response *response, const char *name);
/* The body parsed as JSON, or a fatal error naming `url` and the reason. */
weir_error *weir_http_response_json(const weir_http_response *response, const char *url,
                                    weir_json_value **value);
/* NULL for a 2xx status; a transient error for 429 and 5xx (naming any
 * Retry-After), so the host backs off and retries; a fatal one otherwise. */
weir_error *weir_http_status_error(const weir_http_response *response, const char *url);
void weir_http_response_free(weir_http_response *response);

#ifdef __cplusplus
}
#endif

#endif /* WEIR_H */
