/* export.c: the glue between the generated bindings (gen/weir_bindings.h)
 * and the source's `weir_source`: the `source` export (provider-name and the
 * burst resource's open, next and close) and the config, secrets and log
 * imports. Strings cross as (pointer, length) pairs; what this file hands the
 * host is malloc'd and freed by the bindings' post-return functions. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "weir_bindings.h"

/* The burst resource: the source's context from `open` to `close`. */
struct exports_weir_source_source_burst_t {
    void *context;
    bool closed;
};

/* ---- Strings across the boundary ---- */

/* `text` as a string the host may keep (see weir_host_text). */
static weir_bindings_string_t host_string(const char *text, size_t length) {
    weir_bindings_string_t result;
    result.ptr = weir_host_text(text, length, &result.len);
    return result;
}

/* Take over a host-allocated string as a NUL-terminated C string. An empty
 * string's pointer is not the heap's: for a zero-size allocation
 * cabi_realloc hands the host its alignment (1), which realloc must never
 * see (the bindings' own *_free functions skip empty strings for the same
 * reason). */
static char *take_host_string(weir_bindings_string_t *string) {
    char *text = string->len == 0 ? weir_xmalloc(1) : weir_xrealloc(string->ptr, string->len + 1);
    text[string->len] = '\0';
    string->ptr = NULL;
    string->len = 0;
    return text;
}

/* A borrowed view of `text` for an import, made valid UTF-8 if it is not
 * (then `*copy` holds the copy to free). */
static weir_bindings_string_t borrowed_string(const char *text, char **copy) {
    size_t length = strlen(text);
    *copy = NULL;
    if (weir_utf8_valid_prefix(text, length) != length) {
        *copy = weir_utf8_lossy(text, length, &length);
        text = *copy;
    }
    return (weir_bindings_string_t){(uint8_t *)text, length};
}

/* Hand `error` (taken over) to the host as the contract's source-error. */
static void to_source_error(weir_error *error, weir_source_types_source_error_t *out) {
    out->tag = error->kind == WEIR_ERROR_TRANSIENT ? WEIR_SOURCE_TYPES_SOURCE_ERROR_TRANSIENT
                                                   : WEIR_SOURCE_TYPES_SOURCE_ERROR_FATAL;
    weir_bindings_string_t message = host_string(error->message, strlen(error->message));
    if (out->tag == WEIR_SOURCE_TYPES_SOURCE_ERROR_TRANSIENT) {
        out->val.transient = message;
    } else {
        out->val.fatal = message;
    }
    weir_error_free(error);
}

/* ---- The source export ---- */

static const weir_source *source(void) {
    return weir_exported_source();
}

void exports_weir_source_source_provider_name(weir_bindings_string_t *ret) {
    const char *name = source()->provider_name != NULL ? source()->provider_name : "";
    *ret = host_string(name, strlen(name));
}

bool exports_weir_source_source_static_burst_open(exports_weir_source_source_own_burst_t *ret,
                                                  weir_source_types_source_error_t *err) {
    void *context = NULL;
    if (source()->open != NULL) {
        weir_error *error = source()->open(&context);
        if (error != NULL) {
            to_source_error(error, err);
            return false;
        }
    }
    exports_weir_source_source_burst_t *burst = weir_xmalloc(sizeof *burst);
    burst->context = context;
    burst->closed = false;
    *ret = exports_weir_source_source_burst_new(burst);
    return true;
}

/* The page's entities as the contract's list; the texts are moved, not copied. */
static weir_source_types_list_entity_t entity_list(weir_entity_list *entities) {
    weir_source_types_list_entity_t list = {NULL, entities->count};
    if (entities->count == 0) {
        return list;
    }
    list.ptr = weir_xmalloc(entities->count * sizeof(weir_source_types_entity_t));
    for (size_t i = 0; i < entities->count; i++) {
        weir_entity *entity = &entities->items[i];
        weir_source_types_entity_t *out = &list.ptr[i];
        out->json = (weir_bindings_string_t){(uint8_t *)entity->json, entity->length};
        entity->json = NULL;
        out->location_key.is_some = entity->location_key != NULL;
        if (entity->location_key != NULL) {
            out->location_key.val = host_string(entity->location_key, strlen(entity->location_key));
        }
    }
    return list;
}

/* Call the source's `next` on an open burst and check the page it filled. */
static weir_error *fill_page(exports_weir_source_source_burst_t *burst, const weir_cursor *cursor,
                             weir_page *page, char **next_cursor, size_t *next_length) {
    if (burst->closed) {
        return weir_error_fatal("`next` called on a burst that was already closed");
    }
    return weir_source_next(source(), burst->context, cursor, page, next_cursor, next_length);
}

bool exports_weir_source_source_method_burst_next(exports_weir_source_source_borrow_burst_t self,
                                                  weir_bindings_string_t *maybe_cursor,
                                                  weir_source_types_page_t *ret,
                                                  weir_source_types_source_error_t *err) {
    weir_cursor cursor;
    if (maybe_cursor != NULL) {
        weir_cursor_init(&cursor, (const char *)maybe_cursor->ptr, maybe_cursor->len);
        weir_bindings_string_free(maybe_cursor);
    }
    weir_page page;
    weir_page_init(&page);
    char *next_cursor;
    size_t next_length;
    weir_error *error =
        fill_page(self, maybe_cursor != NULL ? &cursor : NULL, &page, &next_cursor, &next_length);
    if (maybe_cursor != NULL) {
        weir_cursor_release(&cursor);
    }
    if (error != NULL) {
        weir_page_release(&page);
        to_source_error(error, err);
        return false;
    }
    ret->entities = entity_list(&page.entities);
    ret->done = next_cursor == NULL;
    ret->cursor.is_some = next_cursor != NULL;
    if (next_cursor != NULL) {
        ret->cursor.val = (weir_bindings_string_t){(uint8_t *)next_cursor, next_length};
    }
    weir_page_release(&page);
    return true;
}

/* Close `burst` once: the source's `close`, if any. */
static weir_error *close_burst(exports_weir_source_source_burst_t *burst) {
    if (burst->closed) {
        return NULL;
    }
    burst->closed = true;
    return source()->close != NULL ? source()->close(burst->context) : NULL;
}

bool exports_weir_source_source_method_burst_close(exports_weir_source_source_borrow_burst_t self,
                                                   weir_source_types_source_error_t *err) {
    weir_error *error = close_burst(self);
    if (error != NULL) {
        to_source_error(error, err);
        return false;
    }
    return true;
}

/* The host dropped the burst: close it if `close` was never called (its
 * error has no one to go to). */
void exports_weir_source_source_burst_destructor(exports_weir_source_source_burst_t *rep) {
    weir_error_free(close_burst(rep));
    free(rep);
}

/* ---- Config, secrets, logs ---- */

/* `lookup(key)`: the value as a C string, or NULL when not set. */
static char *lookup_string(bool (*lookup)(weir_bindings_string_t *, weir_bindings_string_t *),
                           const char *key) {
    char *copy;
    weir_bindings_string_t name = borrowed_string(key, &copy);
    weir_bindings_string_t value;
    bool found = lookup(&name, &value);
    free(copy);
    return found ? take_host_string(&value) : NULL;
}

char *weir_config_get(const char *key) {
    return lookup_string(weir_source_config_get, key);
}

char *weir_config_get_or(const char *key, const char *fallback) {
    char *value = weir_config_get(key);
    return value != NULL ? value : weir_xstrdup(fallback);
}

weir_error *weir_config_require(const char *key, char **value) {
    *value = weir_config_get(key);
    if (*value == NULL) {
        return weir_error_fatal("config `%s` is required but not set", key);
    }
    return NULL;
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
    return lookup_string(weir_source_secrets_get, key);
}

weir_error *weir_secret_require(const char *key, char **value) {
    *value = weir_secret_get(key);
    if (*value == NULL) {
        return weir_error_fatal("secret `%s` is required but not set", key);
    }
    return NULL;
}

static void log_message(weir_log_level level, const char *format, va_list args) {
    static const weir_source_log_level_t levels[] = {
        [WEIR_LOG_TRACE] = WEIR_SOURCE_LOG_LEVEL_TRACE,
        [WEIR_LOG_DEBUG] = WEIR_SOURCE_LOG_LEVEL_DEBUG,
        [WEIR_LOG_INFO] = WEIR_SOURCE_LOG_LEVEL_INFO,
        [WEIR_LOG_WARN] = WEIR_SOURCE_LOG_LEVEL_WARN,
        [WEIR_LOG_ERROR] = WEIR_SOURCE_LOG_LEVEL_ERROR,
    };
    char *text = weir_vformat(format, args);
    char *copy;
    weir_bindings_string_t message = borrowed_string(text, &copy);
    weir_source_log_log(levels[level], &message);
    free(copy);
    free(text);
}

void weir_log(weir_log_level level, const char *format, ...) {
    va_list args;
    va_start(args, format);
    log_message(level, format, args);
    va_end(args);
}

#define DEFINE_LOG_FUNCTION(name, level)                                                           \
    void name(const char *format, ...) {                                                           \
        va_list args;                                                                              \
        va_start(args, format);                                                                    \
        log_message(level, format, args);                                                          \
        va_end(args);                                                                              \
    }

DEFINE_LOG_FUNCTION(weir_log_trace, WEIR_LOG_TRACE)
DEFINE_LOG_FUNCTION(weir_log_debug, WEIR_LOG_DEBUG)
DEFINE_LOG_FUNCTION(weir_log_info, WEIR_LOG_INFO)
DEFINE_LOG_FUNCTION(weir_log_warn, WEIR_LOG_WARN)
DEFINE_LOG_FUNCTION(weir_log_error, WEIR_LOG_ERROR)
