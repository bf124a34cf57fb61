/* {{name}}: a Weir source written in C. It returns `count` Component
 * entities (config, default 3), `page-size` of them a page (config, default
 * 2); the cursor is the next entity's index. Replace `component` and the
 * paging in `source_next` with reads from your own system. */
#include <inttypes.h>
#include <stdlib.h>

#include "weir.h"

/* The provider name: cursors and entities are stored under it, so never
 * change it. */
#define PROVIDER_NAME "{{name}}"

/* What one burst needs, read from config in `open`. */
typedef struct settings {
    int64_t count;
    int64_t page_size;
} settings;

static weir_error *source_open(void **context) {
    settings *config = malloc(sizeof *config);
    if (config == NULL) {
        return weir_error_transient(PROVIDER_NAME ": out of memory");
    }
    weir_error *error = weir_config_get_int("count", 3, &config->count);
    if (error == NULL) {
        error = weir_config_get_int("page-size", 2, &config->page_size);
    }
    if (error == NULL && config->count < 0) {
        error = weir_error_fatal("config `count`: cannot use %" PRId64 ": must be 0 or more",
                                 config->count);
    }
    if (error == NULL && config->page_size < 1) {
        error = weir_error_fatal("config `page-size`: cannot use %" PRId64 ": must be at least 1",
                                 config->page_size);
    }
    if (error != NULL) {
        free(config);
        return error;
    }
    weir_log_info(PROVIDER_NAME ": open, %" PRId64 " entities", config->count);
    *context = config;
    return NULL;
}

static weir_entity *component(int64_t index) {
    weir_entity_builder *entity =
        weir_entity_builder_newf("Component", PROVIDER_NAME "-%" PRId64, index);
    weir_entity_titlef(entity, PROVIDER_NAME " %" PRId64, index);
    weir_entity_managed_byf(
        entity, "url:https://example.com/" PROVIDER_NAME "/" PROVIDER_NAME "-%" PRId64, index);
    weir_entity_spec_string(entity, "type", "service");
    weir_entity_spec_string(entity, "lifecycle", "experimental");
    weir_entity_spec_string(entity, "owner", "group:default/" PROVIDER_NAME "-owners");
    return weir_entity_build(entity);
}

static weir_error *source_next(void *context, const weir_cursor *cursor, weir_page *page) {
    const settings *config = context;
    int64_t start = 0;
    if (cursor != NULL) {
        weir_error *error = weir_cursor_int(cursor, &start);
        if (error != NULL) {
            return error;
        }
        if (start < 0) {
            return weir_error_fatal("cursor %" PRId64 ": an entity index cannot be negative",
                                    start);
        }
    }
    weir_log_debug(PROVIDER_NAME ": page from %" PRId64, start);
    /* Both are 0 or more here, so neither the difference nor the sum overflows. */
    int64_t end =
        config->count - start > config->page_size ? start + config->page_size : config->count;
    for (int64_t index = start; index < end; index++) {
        weir_page_add(page, component(index));
    }
    if (end < config->count) {
        weir_page_more_int(page, end);
    } else {
        weir_page_last(page);
    }
    return NULL;
}

static weir_error *source_close(void *context) {
    weir_log_info(PROVIDER_NAME ": close");
    free(context);
    return NULL;
}

static const weir_source source = {
    .provider_name = PROVIDER_NAME,
    .open = source_open,
    .next = source_next,
    .close = source_close,
};

WEIR_EXPORT_SOURCE(source)
