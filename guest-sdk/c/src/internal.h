/* internal.h: what the SDK's own files share and sources never see: the
 * growable buffer, the layouts behind weir.h's opaque types, and the steps
 * the export glue (export.c, push.c) runs on them. Everything declared here
 * is pure C, so the native unit tests (tests/) can reach it too. */
#ifndef WEIR_INTERNAL_H
#define WEIR_INTERNAL_H

#include <stdarg.h>
#include <string.h>

#include "weir.h"

/* ---- Memory ---- */

/* malloc/realloc/strdup that abort with a message instead of returning NULL. */
void *weir_xmalloc(size_t size);
void *weir_xrealloc(void *pointer, size_t size);
char *weir_xstrndup(const char *text, size_t length);
char *weir_xstrdup(const char *text);
/* printf into a new string. */
char *weir_vformat(const char *format, va_list args);
char *weir_format(const char *format, ...) WEIR_PRINTF(1, 2);

/* A growable byte buffer, always NUL-terminated once anything is in it. */
typedef struct weir_buffer {
    char *data;
    size_t length;
    size_t capacity;
} weir_buffer;

/* Make room for `extra` more bytes and the NUL (the slow path of reserve). */
void weir_buffer_grow(weir_buffer *buffer, size_t extra);

/* The buffer's three hot operations are inline: entity text is built from
 * many short appends. */
static inline void weir_buffer_reserve(weir_buffer *buffer, size_t extra) {
    if (buffer->length + extra + 1 > buffer->capacity) {
        weir_buffer_grow(buffer, extra);
    }
}

static inline void weir_buffer_append(weir_buffer *buffer, const char *bytes, size_t length) {
    weir_buffer_reserve(buffer, length);
    memcpy(buffer->data + buffer->length, bytes, length);
    buffer->length += length;
    buffer->data[buffer->length] = '\0';
}

static inline void weir_buffer_append_char(weir_buffer *buffer, char byte) {
    weir_buffer_reserve(buffer, 1);
    buffer->data[buffer->length++] = byte;
    buffer->data[buffer->length] = '\0';
}

/* Takes the bytes (the caller's, to free()) and leaves the buffer empty. */
char *weir_buffer_take(weir_buffer *buffer, size_t *length);
void weir_buffer_free(weir_buffer *buffer);

/* The decimal digits at `*text` as a magnitude no larger than `limit`;
 * false when there is no digit or the number is larger. `*text` moves past
 * the digits. */
bool weir_parse_digits(const char **text, uint64_t limit, uint64_t *magnitude);

/* ---- UTF-8 ---- */

/* The length of the valid UTF-8 sequence at `text` (at most `length` bytes
 * long), or 0 when none starts there (RFC 3629: no overlongs, no
 * surrogates, nothing past U+10FFFF). */
size_t weir_utf8_sequence(const char *text, size_t length);
/* The length of the longest valid UTF-8 prefix of `text`. */
size_t weir_utf8_valid_prefix(const char *text, size_t length);
/* A copy of `text` with each invalid UTF-8 sequence replaced by U+FFFD. */
char *weir_utf8_lossy(const char *text, size_t length, size_t *out_length);
/* A copy of `text` for the host to keep and free: valid UTF-8 (as
 * weir_utf8_lossy), or NULL when empty, as the bindings' post-return
 * functions free only non-empty strings. */
uint8_t *weir_host_text(const char *text, size_t length, size_t *out_length);

/* ---- JSON ---- */

/* `text` as JSON string content (no quotes), escaped per RFC 8259; invalid
 * UTF-8 becomes U+FFFD. */
void weir_json_append_escaped(weir_buffer *out, const char *text, size_t length);
/* `text` as a JSON string literal, quotes included. */
void weir_json_append_string(weir_buffer *out, const char *text, size_t length);
/* `format` formatted with `args` (printf's rules), appended to `out`; as
 * JSON string content (no quotes) when `json`. */
void weir_buffer_vformat(weir_buffer *out, bool json, const char *format, va_list args);

#define WEIR_JSON_MAX_DEPTH 64

struct weir_json_writer {
    weir_buffer out;
    /* The container at each depth ('{' or '['); depth 0 is the top. */
    char container[WEIR_JSON_MAX_DEPTH + 1];
    /* Whether the container at each depth (or the top) has a value yet. */
    bool has_items[WEIR_JSON_MAX_DEPTH + 1];
    unsigned depth;
    /* A key was written; the next value completes its member. */
    bool after_key;
    const char *error;
};

/* Start a fresh value at the end of the writer's buffer, keeping what is
 * already in it (the entity builder writes many values into one buffer). */
void weir_json_writer_restart(weir_json_writer *writer);
/* Whether the writer holds one complete value and no misuse; the reason in
 * `*reason` when not. */
bool weir_json_writer_complete(const weir_json_writer *writer, const char **reason);
void weir_json_writer_init(weir_json_writer *writer);
void weir_json_writer_release(weir_json_writer *writer);

/* ---- Errors ---- */

struct weir_error {
    weir_error_kind kind;
    weir_http_failure http;
    char *message;
};

weir_error *weir_error_new(weir_error_kind kind, char *message);
weir_error *weir_error_verror(weir_error_kind kind, const char *format, va_list args);

/* ---- Entities ---- */

struct weir_entity {
    char *json;
    size_t length;
    char *location_key; /* NULL: none */
    char *error;        /* set instead of `json` when the entity failed to build */
};

/* The entities of a page or of a push outcome. */
typedef struct weir_entity_list {
    weir_entity *items;
    size_t count;
    size_t capacity;
    /* The first entity that failed to build, as the error to return. */
    char *error;
} weir_entity_list;

/* Append `entity` (taken over; its struct is freed, its strings moved). */
void weir_entity_list_add(weir_entity_list *list, weir_entity *entity);
void weir_entity_list_release(weir_entity_list *list);

/* ---- Pages ---- */

typedef enum weir_page_end { WEIR_PAGE_UNSET, WEIR_PAGE_MORE, WEIR_PAGE_LAST } weir_page_end;

struct weir_page {
    weir_entity_list entities;
    weir_page_end end;
    weir_json_writer cursor;
};

void weir_page_init(weir_page *page);
void weir_page_release(weir_page *page);
/* After `next` returned: NULL when the page is whole (its cursor, if more
 * follow, in `*cursor`, the caller's to free()), else the fatal error that
 * says what is missing or wrong. */
weir_error *weir_page_finish(weir_page *page, char **cursor, size_t *cursor_length);

/* Run `source`'s `next` on `page` and check the page (weir_page_finish). */
weir_error *weir_source_next(const weir_source *source, void *context, const weir_cursor *cursor,
                             weir_page *page, char **next_cursor, size_t *next_length);

/* A cursor from the host's text (copied and parsed); release it with
 * weir_cursor_release(). */
void weir_cursor_init(weir_cursor *cursor, const char *text, size_t length);
void weir_cursor_release(weir_cursor *cursor);

/* ---- Pushed events ---- */

struct weir_push_event {
    size_t header_count;
    char **header_names;
    char **header_values;
    uint8_t *body;
    size_t body_length;
};

struct weir_push_outcome {
    weir_entity_list upserts;
    char **removals;
    size_t removal_count;
    size_t removal_capacity;
};

void weir_push_outcome_release(weir_push_outcome *outcome);
/* Run `handler` on `event`; an upsert that failed to build fails the push. */
weir_error *weir_push_run(weir_push_handler *handler, const weir_push_event *event,
                          weir_push_outcome *outcome);

/* ---- HTTP ---- */

struct weir_http_request {
    char *method;
    char *url;
    size_t header_count;
    size_t header_capacity;
    char **header_names;
    char **header_values;
    uint8_t *body;
    size_t body_length;
};

/* A URL split the way wasi:http takes it. */
typedef struct weir_url_parts {
    bool https;
    char *authority;       /* host[:port] */
    char *path_with_query; /* at least "/" */
} weir_url_parts;

/* Split `url` (http:// or https://, any fragment dropped); NULL on success,
 * else a fatal WEIR_HTTP_INVALID_REQUEST error naming the URL. */
weir_error *weir_url_split(const char *url, weir_url_parts *parts);
void weir_url_parts_release(weir_url_parts *parts);
/* An error from weir_http_send() of `kind`, classified as `failure`. */
weir_error *weir_http_error(weir_error_kind kind, weir_http_failure failure, const char *format,
                            ...) WEIR_PRINTF(3, 4);

#endif /* WEIR_INTERNAL_H */
