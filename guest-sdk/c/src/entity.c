/* entity.c: entities (JSON text plus an optional location key), the builder
 * for Backstage's envelope, and the entity lists pages and pushes carry.
 *
 * The builder keeps every piece of the entity as ready-made JSON text in one
 * buffer (string literals already escaped, spec values as written) and only
 * records where each piece lies; `weir_entity_build` then concatenates the
 * pieces in envelope order. A set field that is set again is replaced in
 * place. A spent builder is kept for the next one, so building many entities
 * allocates little more than their text. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Where a piece lies in the builder's buffer: [start, end); empty = unset. */
typedef struct span {
    size_t start;
    size_t end;
} span;

/* A keyed piece: a key (a JSON string literal) and its JSON value. */
typedef struct member {
    span key;
    span value;
} member;

typedef struct member_list {
    member *items;
    size_t count;
    size_t capacity;
} member_list;

struct weir_entity_builder {
    /* Every piece, back to back; also writes spec and metadata values. */
    weir_json_writer text;
    span api_version, kind, name, namespace_, title, description;
    member_list annotations, labels, tags, links, metadata, spec;
    char *location_key;
    /* The spec or metadata member the writer is writing, if any. */
    member_list *open_list;
    size_t open_index;
    /* The first misuse, naming the field. */
    char *error;
};

/* The metadata fields with setters of their own, and those setters. */
static const struct {
    const char *field;
    const char *setter;
} RESERVED_METADATA[] = {
    {"name", "weir_entity_builder_new"},
    {"namespace", "weir_entity_namespace"},
    {"title", "weir_entity_title"},
    {"description", "weir_entity_description"},
    {"annotations", "weir_entity_annotation"},
    {"labels", "weir_entity_label"},
    {"tags", "weir_entity_tag"},
    {"links", "weir_entity_link"},
};

/* One spent builder, kept for the next weir_entity_builder_new(). */
static weir_entity_builder *spare_builder;

static bool span_is_set(span piece) {
    return piece.end > piece.start;
}

static size_t span_length(span piece) {
    return piece.end - piece.start;
}

static span append_literal(weir_entity_builder *builder, const char *text) {
    span piece = {.start = builder->text.out.length};
    weir_json_append_string(&builder->text.out, text, strlen(text));
    piece.end = builder->text.out.length;
    return piece;
}

/* `format` formatted (printf's rules) as a JSON string literal. */
static span append_formatted(weir_entity_builder *builder, const char *format, va_list args) {
    span piece = {.start = builder->text.out.length};
    weir_buffer_append_char(&builder->text.out, '"');
    weir_buffer_vformat(&builder->text.out, true, format, args);
    weir_buffer_append_char(&builder->text.out, '"');
    piece.end = builder->text.out.length;
    return piece;
}

static bool same_text(const weir_entity_builder *builder, span a, span b) {
    return span_length(a) == span_length(b) &&
           memcmp(builder->text.out.data + a.start, builder->text.out.data + b.start,
                  span_length(a)) == 0;
}

static size_t member_list_push(member_list *list, member item) {
    if (list->count == list->capacity) {
        list->capacity = list->capacity == 0 ? 8 : list->capacity * 2;
        list->items = weir_xrealloc(list->items, list->capacity * sizeof(member));
    }
    list->items[list->count] = item;
    return list->count++;
}

/* Set `key` to `value` in `list`, replacing an earlier value for the same
 * key; the member's index. */
static size_t member_list_set(weir_entity_builder *builder, member_list *list, member item) {
    for (size_t i = 0; i < list->count; i++) {
        if (same_text(builder, list->items[i].key, item.key)) {
            list->items[i].value = item.value;
            return i;
        }
    }
    return member_list_push(list, item);
}

static void record_error(weir_entity_builder *builder, char *message) {
    if (builder->error == NULL) {
        builder->error = message;
    } else {
        free(message);
    }
}

/* Close the spec or metadata value being written, checking it is whole. */
static void close_open_value(weir_entity_builder *builder) {
    if (builder->open_list == NULL) {
        return;
    }
    member *open = &builder->open_list->items[builder->open_index];
    open->value.end = builder->text.out.length;
    const char *reason;
    if (!weir_json_writer_complete(&builder->text, &reason)) {
        const char *field = builder->open_list == &builder->spec ? "spec" : "metadata";
        record_error(builder, weir_format("%s %.*s: %s", field, (int)span_length(open->key),
                                          builder->text.out.data + open->key.start, reason));
    }
    builder->open_list = NULL;
}

static void reset_builder(weir_entity_builder *builder) {
    builder->text.out.length = 0;
    weir_json_writer_restart(&builder->text);
    builder->api_version = builder->kind = builder->name = (span){0, 0};
    builder->namespace_ = builder->title = builder->description = (span){0, 0};
    member_list *lists[] = {&builder->annotations, &builder->labels,   &builder->tags,
                            &builder->links,       &builder->metadata, &builder->spec};
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        lists[i]->count = 0;
    }
    free(builder->location_key);
    builder->location_key = NULL;
    builder->open_list = NULL;
    free(builder->error);
    builder->error = NULL;
}

static void free_builder(weir_entity_builder *builder) {
    weir_json_writer_release(&builder->text);
    free(builder->annotations.items);
    free(builder->labels.items);
    free(builder->tags.items);
    free(builder->links.items);
    free(builder->metadata.items);
    free(builder->spec.items);
    free(builder);
}

/* A builder with `kind` set and the default apiVersion: the spare one if
 * there is one. */
static weir_entity_builder *start_builder(const char *kind) {
    weir_entity_builder *builder = spare_builder;
    spare_builder = NULL;
    if (builder == NULL) {
        builder = weir_xmalloc(sizeof *builder);
        memset(builder, 0, sizeof *builder);
    }
    builder->api_version = append_literal(builder, "backstage.io/v1alpha1");
    builder->kind = append_literal(builder, kind);
    return builder;
}

weir_entity_builder *weir_entity_builder_new(const char *kind, const char *name) {
    weir_entity_builder *builder = start_builder(kind);
    builder->name = append_literal(builder, name);
    return builder;
}

weir_entity_builder *weir_entity_builder_newf(const char *kind, const char *name_format, ...) {
    weir_entity_builder *builder = start_builder(kind);
    va_list args;
    va_start(args, name_format);
    builder->name = append_formatted(builder, name_format, args);
    va_end(args);
    return builder;
}

void weir_entity_api_version(weir_entity_builder *builder, const char *api_version) {
    close_open_value(builder);
    builder->api_version = append_literal(builder, api_version);
}

void weir_entity_namespace(weir_entity_builder *builder, const char *namespace_) {
    close_open_value(builder);
    builder->namespace_ = append_literal(builder, namespace_);
}

void weir_entity_title(weir_entity_builder *builder, const char *title) {
    close_open_value(builder);
    builder->title = append_literal(builder, title);
}

void weir_entity_titlef(weir_entity_builder *builder, const char *format, ...) {
    close_open_value(builder);
    va_list args;
    va_start(args, format);
    builder->title = append_formatted(builder, format, args);
    va_end(args);
}

void weir_entity_description(weir_entity_builder *builder, const char *description) {
    close_open_value(builder);
    builder->description = append_literal(builder, description);
}

void weir_entity_descriptionf(weir_entity_builder *builder, const char *format, ...) {
    close_open_value(builder);
    va_list args;
    va_start(args, format);
    builder->description = append_formatted(builder, format, args);
    va_end(args);
}

static void set_string_member(weir_entity_builder *builder, member_list *list, const char *key,
                              const char *value) {
    close_open_value(builder);
    member item = {.key = append_literal(builder, key)};
    item.value = append_literal(builder, value);
    member_list_set(builder, list, item);
}

static void set_formatted_member(weir_entity_builder *builder, member_list *list, const char *key,
                                 const char *format, va_list args) {
    close_open_value(builder);
    member item = {.key = append_literal(builder, key)};
    item.value = append_formatted(builder, format, args);
    member_list_set(builder, list, item);
}

void weir_entity_annotation(weir_entity_builder *builder, const char *key, const char *value) {
    set_string_member(builder, &builder->annotations, key, value);
}

void weir_entity_annotationf(weir_entity_builder *builder, const char *key, const char *format,
                             ...) {
    va_list args;
    va_start(args, format);
    set_formatted_member(builder, &builder->annotations, key, format, args);
    va_end(args);
}

void weir_entity_label(weir_entity_builder *builder, const char *key, const char *value) {
    set_string_member(builder, &builder->labels, key, value);
}

void weir_entity_labelf(weir_entity_builder *builder, const char *key, const char *format, ...) {
    va_list args;
    va_start(args, format);
    set_formatted_member(builder, &builder->labels, key, format, args);
    va_end(args);
}

void weir_entity_tag(weir_entity_builder *builder, const char *tag) {
    close_open_value(builder);
    member_list_push(&builder->tags, (member){.value = append_literal(builder, tag)});
}

void weir_entity_tagf(weir_entity_builder *builder, const char *format, ...) {
    close_open_value(builder);
    va_list args;
    va_start(args, format);
    member_list_push(&builder->tags, (member){.value = append_formatted(builder, format, args)});
    va_end(args);
}

void weir_entity_link(weir_entity_builder *builder, const char *url, const char *title) {
    close_open_value(builder);
    member item = {.key = append_literal(builder, url)};
    item.value = append_literal(builder, title);
    member_list_push(&builder->links, item);
}

/* Both managed-by annotations, sharing one value already in the buffer. */
static void set_managed_by(weir_entity_builder *builder, span location) {
    member item = {.value = location};
    item.key = append_literal(builder, WEIR_ANNOTATION_LOCATION);
    member_list_set(builder, &builder->annotations, item);
    item.key = append_literal(builder, WEIR_ANNOTATION_ORIGIN_LOCATION);
    member_list_set(builder, &builder->annotations, item);
}

void weir_entity_managed_by(weir_entity_builder *builder, const char *location) {
    close_open_value(builder);
    set_managed_by(builder, append_literal(builder, location));
}

void weir_entity_managed_byf(weir_entity_builder *builder, const char *format, ...) {
    close_open_value(builder);
    va_list args;
    va_start(args, format);
    set_managed_by(builder, append_formatted(builder, format, args));
    va_end(args);
}

/* Start writing the value of `key` in `list` with the builder's writer. */
static weir_json_writer *open_value(weir_entity_builder *builder, member_list *list,
                                    const char *key) {
    close_open_value(builder);
    member item = {.key = append_literal(builder, key)};
    weir_json_writer_restart(&builder->text);
    item.value.start = builder->text.out.length;
    builder->open_index = member_list_set(builder, list, item);
    builder->open_list = list;
    return &builder->text;
}

weir_json_writer *weir_entity_metadata(weir_entity_builder *builder, const char *key) {
    for (size_t i = 0; i < sizeof RESERVED_METADATA / sizeof RESERVED_METADATA[0]; i++) {
        if (strcmp(key, RESERVED_METADATA[i].field) == 0) {
            close_open_value(builder);
            record_error(builder, weir_format("metadata \"%s\" has its own setter (%s)", key,
                                              RESERVED_METADATA[i].setter));
        }
    }
    return open_value(builder, &builder->metadata, key);
}

weir_json_writer *weir_entity_spec(weir_entity_builder *builder, const char *key) {
    return open_value(builder, &builder->spec, key);
}

void weir_entity_spec_string(weir_entity_builder *builder, const char *key, const char *value) {
    weir_json_string(weir_entity_spec(builder, key), value);
}

void weir_entity_spec_stringf(weir_entity_builder *builder, const char *key, const char *format,
                              ...) {
    weir_json_writer *writer = weir_entity_spec(builder, key);
    va_list args;
    va_start(args, format);
    weir_json_vstringf(writer, format, args);
    va_end(args);
}

void weir_entity_spec_int(weir_entity_builder *builder, const char *key, int64_t value) {
    weir_json_int(weir_entity_spec(builder, key), value);
}

void weir_entity_spec_double(weir_entity_builder *builder, const char *key, double value) {
    weir_json_double(weir_entity_spec(builder, key), value);
}

void weir_entity_spec_bool(weir_entity_builder *builder, const char *key, bool value) {
    weir_json_bool(weir_entity_spec(builder, key), value);
}

void weir_entity_spec_strings(weir_entity_builder *builder, const char *key,
                              const char *const *values, size_t count) {
    weir_json_writer *writer = weir_entity_spec(builder, key);
    weir_json_array_begin(writer);
    for (size_t i = 0; i < count; i++) {
        weir_json_string(writer, values[i]);
    }
    weir_json_array_end(writer);
}

void weir_entity_location_key(weir_entity_builder *builder, const char *key) {
    close_open_value(builder);
    free(builder->location_key);
    builder->location_key = weir_xstrdup(key);
}

void weir_entity_location_keyf(weir_entity_builder *builder, const char *format, ...) {
    close_open_value(builder);
    weir_buffer key = {0};
    va_list args;
    va_start(args, format);
    weir_buffer_vformat(&key, false, format, args);
    va_end(args);
    free(builder->location_key);
    builder->location_key = weir_buffer_take(&key, NULL);
}

/* ---- Serialising ---- */

typedef struct output {
    char *at;
    const char *pieces; /* the builder's buffer */
} output;

static void put(output *out, const char *text, size_t length) {
    memcpy(out->at, text, length);
    out->at += length;
}

#define PUT_LITERAL(out, literal) put(out, literal, sizeof literal - 1)

static void put_span(output *out, span piece) {
    put(out, out->pieces + piece.start, span_length(piece));
}

/* `,"NAME":VALUE` when the piece is set. */
static void put_field(output *out, const char *name_literal, size_t name_length, span value) {
    if (span_is_set(value)) {
        put(out, name_literal, name_length);
        put_span(out, value);
    }
}

#define PUT_FIELD(out, literal, value) put_field(out, literal, sizeof literal - 1, value)

/* The members of `list` as `KEY:VALUE,...` (no braces). */
static void put_members(output *out, const member_list *list) {
    for (size_t i = 0; i < list->count; i++) {
        if (i > 0) {
            PUT_LITERAL(out, ",");
        }
        put_span(out, list->items[i].key);
        PUT_LITERAL(out, ":");
        put_span(out, list->items[i].value);
    }
}

static void put_object_field(output *out, const char *name_literal, size_t name_length,
                             const member_list *list) {
    if (list->count > 0) {
        put(out, name_literal, name_length);
        PUT_LITERAL(out, "{");
        put_members(out, list);
        PUT_LITERAL(out, "}");
    }
}

static void put_tags(output *out, const member_list *tags) {
    if (tags->count == 0) {
        return;
    }
    PUT_LITERAL(out, ",\"tags\":[");
    for (size_t i = 0; i < tags->count; i++) {
        if (i > 0) {
            PUT_LITERAL(out, ",");
        }
        put_span(out, tags->items[i].value);
    }
    PUT_LITERAL(out, "]");
}

static void put_links(output *out, const member_list *links) {
    if (links->count == 0) {
        return;
    }
    PUT_LITERAL(out, ",\"links\":[");
    for (size_t i = 0; i < links->count; i++) {
        if (i > 0) {
            PUT_LITERAL(out, ",");
        }
        PUT_LITERAL(out, "{\"url\":");
        put_span(out, links->items[i].key);
        PUT_LITERAL(out, ",\"title\":");
        put_span(out, links->items[i].value);
        PUT_LITERAL(out, "}");
    }
    PUT_LITERAL(out, "]");
}

/* An upper bound of the serialised size: every piece plus the punctuation
 * and field names around them. */
static size_t serialised_bound(const weir_entity_builder *builder) {
    const member_list *lists[] = {&builder->annotations, &builder->labels,   &builder->tags,
                                  &builder->links,       &builder->metadata, &builder->spec};
    size_t bound = builder->text.out.length + 256;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
        bound += lists[i]->count * 24;
    }
    return bound;
}

static weir_entity *new_entity(void) {
    weir_entity *entity = weir_xmalloc(sizeof *entity);
    memset(entity, 0, sizeof *entity);
    return entity;
}

static weir_entity *failed_entity(char *message) {
    weir_entity *entity = new_entity();
    entity->error = message;
    return entity;
}

static void serialise(const weir_entity_builder *builder, weir_entity *entity) {
    char *text = weir_xmalloc(serialised_bound(builder));
    output out = {.at = text, .pieces = builder->text.out.data};
    PUT_LITERAL(&out, "{\"apiVersion\":");
    put_span(&out, builder->api_version);
    PUT_LITERAL(&out, ",\"kind\":");
    put_span(&out, builder->kind);
    PUT_LITERAL(&out, ",\"metadata\":{\"name\":");
    put_span(&out, builder->name);
    PUT_FIELD(&out, ",\"namespace\":", builder->namespace_);
    PUT_FIELD(&out, ",\"title\":", builder->title);
    PUT_FIELD(&out, ",\"description\":", builder->description);
    put_object_field(&out, ",\"labels\":", sizeof ",\"labels\":" - 1, &builder->labels);
    put_object_field(&out, ",\"annotations\":", sizeof ",\"annotations\":" - 1,
                     &builder->annotations);
    put_tags(&out, &builder->tags);
    put_links(&out, &builder->links);
    if (builder->metadata.count > 0) {
        PUT_LITERAL(&out, ",");
        put_members(&out, &builder->metadata);
    }
    PUT_LITERAL(&out, "},\"spec\":{");
    put_members(&out, &builder->spec);
    PUT_LITERAL(&out, "}}");
    *out.at = '\0';
    entity->json = text;
    entity->length = (size_t)(out.at - text);
}

weir_entity *weir_entity_build(weir_entity_builder *builder) {
    close_open_value(builder);
    weir_entity *entity;
    if (builder->error != NULL) {
        entity = failed_entity(weir_format("entity %.*s: %s", (int)span_length(builder->name),
                                           builder->text.out.data + builder->name.start,
                                           builder->error));
    } else {
        entity = new_entity();
        serialise(builder, entity);
        entity->location_key = builder->location_key;
        builder->location_key = NULL;
    }
    reset_builder(builder);
    if (spare_builder == NULL) {
        spare_builder = builder;
    } else {
        free_builder(builder);
    }
    return entity;
}

/* ---- Entities from JSON text ---- */

weir_entity *weir_entity_from_json_n(const char *json_text, size_t length) {
    size_t valid = weir_utf8_valid_prefix(json_text, length);
    if (valid != length) {
        return failed_entity(
            weir_format("the entity's JSON text is not valid UTF-8 (at byte %zu)", valid));
    }
    weir_entity *entity = new_entity();
    entity->json = weir_xstrndup(json_text, length);
    entity->length = length;
    return entity;
}

weir_entity *weir_entity_from_json(const char *json_text) {
    return weir_entity_from_json_n(json_text, strlen(json_text));
}

weir_entity *weir_entity_from_writer(weir_json_writer *writer) {
    const char *reason;
    if (!weir_json_writer_complete(writer, &reason)) {
        weir_entity *entity = failed_entity(weir_format("the entity's JSON writer: %s", reason));
        weir_json_writer_free(writer);
        return entity;
    }
    weir_entity *entity = new_entity();
    entity->json = weir_json_writer_finish(writer, &entity->length, NULL);
    return entity;
}

void weir_entity_set_location_key(weir_entity *entity, const char *key) {
    free(entity->location_key);
    entity->location_key = weir_xstrdup(key);
}

const char *weir_entity_json(const weir_entity *entity, size_t *length) {
    if (length != NULL) {
        *length = entity->length;
    }
    return entity->json;
}

const char *weir_entity_get_location_key(const weir_entity *entity) {
    return entity->location_key;
}

const char *weir_entity_error(const weir_entity *entity) {
    return entity->error;
}

void weir_entity_free(weir_entity *entity) {
    if (entity != NULL) {
        free(entity->json);
        free(entity->location_key);
        free(entity->error);
        free(entity);
    }
}

/* ---- Entity lists ---- */

void weir_entity_list_add(weir_entity_list *list, weir_entity *entity) {
    if (entity == NULL) {
        if (list->error == NULL) {
            list->error = weir_format("entity %zu is NULL", list->count);
        }
        return;
    }
    if (entity->error != NULL) {
        if (list->error == NULL) {
            list->error = weir_format("entity %zu: %s", list->count, entity->error);
        }
        weir_entity_free(entity);
        return;
    }
    if (list->count == list->capacity) {
        list->capacity = list->capacity == 0 ? 64 : list->capacity * 2;
        list->items = weir_xrealloc(list->items, list->capacity * sizeof(weir_entity));
    }
    list->items[list->count++] = *entity;
    free(entity);
}

void weir_entity_list_release(weir_entity_list *list) {
    for (size_t i = 0; i < list->count; i++) {
        free(list->items[i].json);
        free(list->items[i].location_key);
    }
    free(list->items);
    free(list->error);
    memset(list, 0, sizeof *list);
}
