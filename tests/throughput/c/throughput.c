/* throughput.c: the C throughput source: `count` (default 10000) Component
 * entities of about 1.2 KB each, 500 a page, built with the SDK's entity
 * builder, so `weir run` measures what a C guest hands the host end to end.
 * The cursor is the next entity's index. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

#include "weir.h"

#define PER_PAGE 500

static const char *const TIERS[] = {"gold", "silver", "bronze"};
static const char *const LIFECYCLES[] = {"production", "experimental", "deprecated"};

/* Entity number `index`: every field varies with it. */
static weir_entity *component(int64_t index) {
    char name[32], url[96], title[64];
    weir_snprintf(name, sizeof name, "service-%06" PRId64, index);
    weir_entity_builder *entity = weir_entity_builder_new("Component", name);
    weir_entity_namespace(entity, "default");
    weir_entity_titlef(entity, "Service %" PRId64, index);
    weir_entity_descriptionf(entity,
                             "Synthetic service %" PRId64 ", one of the entities the C throughput "
                             "source generates to measure how fast a C guest hands entities to "
                             "the host.",
                             index);
    weir_entity_annotationf(entity, "github.com/project-slug", "platform/%s", name);
    weir_entity_annotationf(entity, "backstage.io/techdocs-ref",
                            "url:https://git.example.com/platform/%s", name);
    weir_entity_annotationf(entity, "pagerduty.com/service-id", "P%07" PRId64, index);
    weir_entity_label(entity, "tier", TIERS[index % 3]);
    weir_entity_labelf(entity, "weir.dev/index", "%" PRId64, index);
    weir_entity_tag(entity, "c");
    weir_entity_tag(entity, "throughput");
    weir_entity_tagf(entity, "group-%" PRId64, index % 50);
    weir_snprintf(url, sizeof url, "https://dashboards.example.com/d/%s", name);
    weir_snprintf(title, sizeof title, "Dashboard of %s", name);
    weir_entity_link(entity, url, title);
    weir_snprintf(url, sizeof url, "https://runbooks.example.com/%s", name);
    weir_snprintf(title, sizeof title, "Runbook of %s", name);
    weir_entity_link(entity, url, title);
    weir_entity_managed_byf(
        entity, "url:https://git.example.com/platform/%s/blob/main/catalog-info.yaml", name);
    weir_entity_spec_string(entity, "type", "service");
    weir_entity_spec_string(entity, "lifecycle", LIFECYCLES[index % 3]);
    weir_entity_spec_stringf(entity, "owner", "group:default/team-%" PRId64, index % 40);
    weir_entity_spec_stringf(entity, "system", "system-%" PRId64, index % 20);
    weir_json_writer *depends_on = weir_entity_spec(entity, "dependsOn");
    weir_json_array_begin(depends_on);
    weir_json_stringf(depends_on, "component:default/service-%06" PRId64, index + 1);
    weir_json_stringf(depends_on, "resource:default/db-%" PRId64, index % 100);
    weir_json_array_end(depends_on);
    weir_json_writer *provides_apis = weir_entity_spec(entity, "providesApis");
    weir_json_array_begin(provides_apis);
    weir_json_stringf(provides_apis, "api-%06" PRId64, index);
    weir_json_array_end(provides_apis);
    return weir_entity_build(entity);
}

static weir_error *throughput_open(void **context) {
    int64_t *count = malloc(sizeof *count);
    if (count == NULL) {
        return weir_error_transient("throughput-c: out of memory");
    }
    weir_error *error = weir_config_get_int("count", 10000, count);
    if (error == NULL && *count < 0) {
        error =
            weir_error_fatal("config `count`: cannot use %" PRId64 ": must be 0 or more", *count);
    }
    if (error != NULL) {
        free(count);
        return error;
    }
    *context = count;
    return NULL;
}

static weir_error *throughput_next(void *context, const weir_cursor *cursor, weir_page *page) {
    int64_t count = *(const int64_t *)context;
    int64_t start = 0;
    if (cursor != NULL) {
        weir_error *error = weir_cursor_int(cursor, &start);
        if (error != NULL) {
            return error;
        }
    }
    int64_t end = start + PER_PAGE < count ? start + PER_PAGE : count;
    for (int64_t index = start; index < end; index++) {
        weir_page_add(page, component(index));
    }
    if (end < count) {
        weir_page_more_int(page, end);
    } else {
        weir_page_last(page);
    }
    return NULL;
}

static weir_error *throughput_close(void *context) {
    free(context);
    return NULL;
}

static const weir_source throughput = {
    .provider_name = "throughput-c",
    .open = throughput_open,
    .next = throughput_next,
    .close = throughput_close,
};

WEIR_EXPORT_SOURCE(throughput)
