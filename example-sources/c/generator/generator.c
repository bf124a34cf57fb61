/* generator.c: `generator-c`, an example Weir source in C. It generates a
 * small, consistent software catalog: rounds of a Component, an API, a Group
 * and a System (or the kinds config `kinds` names, in its order) that refer
 * to each other the way a real catalog does (owner, system, providesApis,
 * dependsOn), so every entity validates as a Backstage entity and the
 * relations resolve. The cursor is the next entity's index.
 *
 * Config (all optional):
 *   count      entities in a cycle                       100
 *   page-size  entities per page (1 to 10000)             50
 *   kinds      the kinds, round-robin, comma-separated    Component,API,Group,System
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "weir.h"

typedef enum kind { COMPONENT, API, GROUP, SYSTEM } kind;

static const char *const KIND_NAMES[] = {"Component", "API", "Group", "System"};
#define KIND_COUNT 4

static const char *const LIFECYCLES[] = {"production", "experimental", "deprecated"};

/* What a burst reads from config. */
typedef struct settings {
    int64_t count;
    int64_t page_size;
    kind kinds[16];
    size_t kind_count;
} settings;

/* ---- Config ---- */

static weir_error *parse_kind(const char *name, size_t length, kind *out) {
    for (size_t i = 0; i < KIND_COUNT; i++) {
        if (strlen(KIND_NAMES[i]) == length && strncasecmp(name, KIND_NAMES[i], length) == 0) {
            *out = (kind)i;
            return NULL;
        }
    }
    return weir_error_fatal("config `kinds`: cannot use \"%.*s\": expected Component, API, Group "
                            "or System",
                            (int)length, name);
}

/* `text` (comma-separated kind names) into `config->kinds`. */
static weir_error *parse_kinds(const char *text, settings *config) {
    config->kind_count = 0;
    const char *at = text;
    while (*at != '\0') {
        size_t length = strcspn(at, ",");
        const char *name = at;
        at += length + (at[length] == ',');
        while (length > 0 && *name == ' ') {
            name++, length--;
        }
        while (length > 0 && name[length - 1] == ' ') {
            length--;
        }
        if (config->kind_count == sizeof config->kinds / sizeof config->kinds[0]) {
            return weir_error_fatal("config `kinds`: at most 16 kinds");
        }
        weir_error *error = parse_kind(name, length, &config->kinds[config->kind_count++]);
        if (error != NULL) {
            return error;
        }
    }
    if (config->kind_count == 0) {
        return weir_error_fatal("config `kinds`: cannot use \"%s\": name at least one kind", text);
    }
    return NULL;
}

static weir_error *read_settings(settings *config) {
    weir_error *error = weir_config_get_int("count", 100, &config->count);
    if (error == NULL && config->count < 0) {
        error = weir_error_fatal("config `count`: cannot use \"%" PRId64 "\": must be 0 or more",
                                 config->count);
    }
    if (error == NULL) {
        error = weir_config_get_int("page-size", 50, &config->page_size);
    }
    if (error == NULL && (config->page_size < 1 || config->page_size > 10000)) {
        error =
            weir_error_fatal("config `page-size`: cannot use \"%" PRId64 "\": must be 1 to 10000",
                             config->page_size);
    }
    if (error == NULL) {
        char *kinds = weir_config_get_or("kinds", "Component,API,Group,System");
        error = parse_kinds(kinds, config);
        free(kinds);
    }
    return error;
}

/* ---- Entities ---- */

/* The fields every kind shares; `round` numbers the group of entities that
 * belong together. */
static weir_entity_builder *start_entity(kind kind, const char *name_prefix, int64_t round) {
    weir_entity_builder *entity =
        weir_entity_builder_newf(KIND_NAMES[kind], "%s-%" PRId64, name_prefix, round);
    weir_entity_namespace(entity, "default");
    weir_entity_managed_byf(entity, "url:https://generator.example/%s/%s-%" PRId64, name_prefix,
                            name_prefix, round);
    weir_entity_annotation(entity, "weir.dev/generated-by", "generator-c");
    weir_entity_tag(entity, "generated");
    weir_entity_labelf(entity, "generator.example/round", "%" PRId64, round);
    return entity;
}

static weir_entity *component(int64_t round) {
    weir_entity_builder *entity = start_entity(COMPONENT, "component", round);
    weir_entity_titlef(entity, "Component %" PRId64, round);
    weir_entity_descriptionf(entity,
                             "Service %" PRId64
                             " of the generated catalog: it provides api-%" PRId64
                             " and is part of system-%" PRId64 ".",
                             round, round, round);
    weir_entity_tag(entity, "c");
    weir_entity_link(entity, "https://generator.example/docs", "Generator docs");
    weir_entity_spec_string(entity, "type", "service");
    weir_entity_spec_string(entity, "lifecycle", LIFECYCLES[round % 3]);
    weir_entity_spec_stringf(entity, "owner", "group:default/team-%" PRId64, round);
    weir_entity_spec_stringf(entity, "system", "system:default/system-%" PRId64, round);
    weir_json_writer *apis = weir_entity_spec(entity, "providesApis");
    weir_json_array_begin(apis);
    weir_json_stringf(apis, "api:default/api-%" PRId64, round);
    weir_json_array_end(apis);
    weir_json_writer *depends_on = weir_entity_spec(entity, "dependsOn");
    weir_json_array_begin(depends_on);
    if (round > 0) {
        weir_json_stringf(depends_on, "component:default/component-%" PRId64, round - 1);
    }
    weir_json_array_end(depends_on);
    return weir_entity_build(entity);
}

static weir_entity *api(int64_t round) {
    weir_entity_builder *entity = start_entity(API, "api", round);
    weir_entity_titlef(entity, "API %" PRId64, round);
    weir_entity_descriptionf(entity, "The HTTP API of component-%" PRId64 ".", round);
    weir_entity_spec_string(entity, "type", "openapi");
    weir_entity_spec_string(entity, "lifecycle", LIFECYCLES[round % 3]);
    weir_entity_spec_stringf(entity, "owner", "group:default/team-%" PRId64, round);
    weir_entity_spec_stringf(entity, "system", "system:default/system-%" PRId64, round);
    weir_entity_spec_stringf(
        entity, "definition",
        "openapi: 3.0.0\ninfo:\n  title: API %" PRId64 "\n  version: 1.0.0\npaths: {}\n", round);
    return weir_entity_build(entity);
}

static weir_entity *group(int64_t round) {
    weir_entity_builder *entity = start_entity(GROUP, "team", round);
    weir_entity_titlef(entity, "Team %" PRId64, round);
    weir_entity_descriptionf(entity, "The team that owns system-%" PRId64 ".", round);
    weir_entity_spec_string(entity, "type", "team");
    if (round > 0) {
        weir_entity_spec_string(entity, "parent", "group:default/team-0");
    }
    weir_entity_spec_strings(entity, "children", NULL, 0);
    return weir_entity_build(entity);
}

static weir_entity *system_entity(int64_t round) {
    weir_entity_builder *entity = start_entity(SYSTEM, "system", round);
    weir_entity_titlef(entity, "System %" PRId64, round);
    weir_entity_descriptionf(entity, "System %" PRId64 ": component-%" PRId64 " and its API.",
                             round, round);
    weir_entity_spec_stringf(entity, "owner", "group:default/team-%" PRId64, round);
    return weir_entity_build(entity);
}

/* Entity number `index`: the kinds take turns, one round after another. */
static weir_entity *generated_entity(const settings *config, int64_t index) {
    int64_t round = index / (int64_t)config->kind_count;
    switch (config->kinds[index % (int64_t)config->kind_count]) {
    case COMPONENT:
        return component(round);
    case API:
        return api(round);
    case GROUP:
        return group(round);
    case SYSTEM:
        return system_entity(round);
    }
    return NULL;
}

/* ---- The source ---- */

static weir_error *generator_open(void **context) {
    settings *config = malloc(sizeof *config);
    if (config == NULL) {
        return weir_error_transient("generator-c: out of memory");
    }
    weir_error *error = read_settings(config);
    if (error != NULL) {
        free(config);
        return error;
    }
    weir_log_info("generator-c: %" PRId64 " entities, %" PRId64 " a page", config->count,
                  config->page_size);
    *context = config;
    return NULL;
}

static weir_error *generator_next(void *context, const weir_cursor *cursor, weir_page *page) {
    const settings *config = context;
    int64_t start = 0;
    if (cursor != NULL) {
        weir_error *error = weir_cursor_int(cursor, &start);
        if (error != NULL) {
            return error;
        }
    }
    int64_t end =
        start + config->page_size < config->count ? start + config->page_size : config->count;
    for (int64_t index = start; index < end; index++) {
        weir_page_add(page, generated_entity(config, index));
    }
    if (end < config->count) {
        weir_page_more_int(page, end);
    } else {
        weir_page_last(page);
    }
    return NULL;
}

static weir_error *generator_close(void *context) {
    free(context);
    return NULL;
}

static const weir_source generator = {
    .provider_name = "generator-c",
    .open = generator_open,
    .next = generator_next,
    .close = generator_close,
};

WEIR_EXPORT_SOURCE(generator)
