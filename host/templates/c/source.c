/* {{name}}: a Weir source written in C. It returns `count` Component
 * entities (config, default 4), two a page; the cursor is the next entity's
 * index. Replace the body of `next` with reads from your own system. */
#include <inttypes.h>
#include <stdlib.h>

#include "weir.h"

/* The provider name: cursors and entities are stored under it. */
#define PROVIDER_NAME "{{name}}"
#define PAGE_SIZE 2

/* What one burst needs: here, only the entity count. */
typedef struct settings {
    int64_t count;
} settings;

static weir_error *source_open(void **context) {
    settings *config = malloc(sizeof *config);
    if (config == NULL) {
        return weir_error_transient(PROVIDER_NAME ": out of memory");
    }
    weir_error *error = weir_config_get_int("count", 4, &config->count);
    if (error != NULL) {
        free(config);
        return error;
    }
    *context = config;
    return NULL;
}

static weir_entity *component(int64_t index) {
    weir_entity_builder *entity =
        weir_entity_builder_newf("Component", PROVIDER_NAME "-%" PRId64, index);
    weir_entity_titlef(entity, "Component %" PRId64 " of " PROVIDER_NAME, index);
    weir_entity_managed_byf(entity, "url:https://example.com/" PROVIDER_NAME "/%" PRId64, index);
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
    }
    weir_log_debug(PROVIDER_NAME ": page from %" PRId64, start);
    int64_t end = start + PAGE_SIZE < config->count ? start + PAGE_SIZE : config->count;
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
    free(context);
    return NULL;
}

static const weir_source {{name_snake}} = {
    .provider_name = PROVIDER_NAME,
    .open = source_open,
    .next = source_next,
    .close = source_close,
};

WEIR_EXPORT_SOURCE({{name_snake}})
