/* test_entity.c: the entity builder, entities from JSON text, pages and
 * cursors, and integer parsing. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "internal.h"
#include "tests.h"

/* The entity's JSON parsed back, to check it field by field. */
static weir_json_value *parsed(const weir_entity *entity) {
    size_t length;
    const char *json = weir_entity_json(entity, &length);
    return json != NULL ? weir_json_parse(json, length, NULL) : NULL;
}

static const char *string_at(const weir_json_value *root, const char *first, const char *second,
                             const char *third) {
    const weir_json_value *value = weir_json_get(root, first);
    value = second != NULL ? weir_json_get(value, second) : value;
    value = third != NULL ? weir_json_get(value, third) : value;
    return weir_json_to_string(value, NULL);
}

/* metadata.owners = ["a", "b"], written with the metadata writer. */
static void add_owners(weir_entity_builder *builder) {
    weir_json_writer *owners = weir_entity_metadata(builder, "owners");
    weir_json_array_begin(owners);
    weir_json_string(owners, "a");
    weir_json_string(owners, "b");
    weir_json_array_end(owners);
}

void test_the_builder_writes_the_backstage_envelope(void) {
    weir_entity_builder *builder = weir_entity_builder_newf("Component", "payments-%d", 7);
    weir_entity_namespace(builder, "shop");
    weir_entity_title(builder, "Payments \"7\"");
    weir_entity_descriptionf(builder, "%s\t%s", "tab", "separated");
    weir_entity_annotation(builder, "example.com/owner-id", "42");
    weir_entity_label(builder, "tier", "gold");
    weir_entity_tag(builder, "c");
    weir_entity_tagf(builder, "team-%02d", 3);
    weir_entity_link(builder, "https://example.com", "Home");
    weir_entity_managed_byf(builder, "url:https://example.com/%s", "catalog-info.yaml");
    add_owners(builder);
    weir_entity_spec_string(builder, "type", "service");
    weir_entity_spec_int(builder, "replicas", 3);
    weir_entity_spec_double(builder, "ratio", 0.75);
    weir_entity_spec_bool(builder, "public", true);
    const char *apis[] = {"api-a", "api-b"};
    weir_entity_spec_strings(builder, "providesApis", apis, 2);
    weir_entity_location_keyf(builder, "url:%s", "https://example.com");
    weir_entity *entity = weir_entity_build(builder);
    CHECK(weir_entity_error(entity) == NULL);
    CHECK_STR(weir_entity_get_location_key(entity), "url:https://example.com");
    weir_json_value *root = parsed(entity);
    if (!CHECK(root != NULL)) {
        weir_entity_free(entity);
        return;
    }
    CHECK_STR(string_at(root, "apiVersion", NULL, NULL), "backstage.io/v1alpha1");
    CHECK_STR(string_at(root, "kind", NULL, NULL), "Component");
    CHECK_STR(string_at(root, "metadata", "name", NULL), "payments-7");
    CHECK_STR(string_at(root, "metadata", "namespace", NULL), "shop");
    CHECK_STR(string_at(root, "metadata", "title", NULL), "Payments \"7\"");
    CHECK_STR(string_at(root, "metadata", "description", NULL), "tab\tseparated");
    CHECK_STR(string_at(root, "metadata", "labels", "tier"), "gold");
    CHECK_STR(string_at(root, "metadata", "annotations", "example.com/owner-id"), "42");
    CHECK_STR(string_at(root, "metadata", "annotations", WEIR_ANNOTATION_LOCATION),
              "url:https://example.com/catalog-info.yaml");
    CHECK_STR(string_at(root, "metadata", "annotations", WEIR_ANNOTATION_ORIGIN_LOCATION),
              "url:https://example.com/catalog-info.yaml");
    const weir_json_value *tags = weir_json_get(weir_json_get(root, "metadata"), "tags");
    CHECK(weir_json_length(tags) == 2);
    CHECK_STR(weir_json_to_string(weir_json_at(tags, 1), NULL), "team-03");
    const weir_json_value *link =
        weir_json_at(weir_json_get(weir_json_get(root, "metadata"), "links"), 0);
    CHECK_STR(weir_json_to_string(weir_json_get(link, "url"), NULL), "https://example.com");
    CHECK_STR(weir_json_to_string(weir_json_get(link, "title"), NULL), "Home");
    CHECK(weir_json_length(weir_json_get(weir_json_get(root, "metadata"), "owners")) == 2);
    int64_t replicas;
    double ratio;
    bool public_;
    const weir_json_value *spec = weir_json_get(root, "spec");
    CHECK_STR(string_at(root, "spec", "type", NULL), "service");
    CHECK(weir_json_to_int(weir_json_get(spec, "replicas"), &replicas) && replicas == 3);
    CHECK(weir_json_to_double(weir_json_get(spec, "ratio"), &ratio) && ratio == 0.75);
    CHECK(weir_json_to_bool(weir_json_get(spec, "public"), &public_) && public_);
    CHECK_STR(weir_json_to_string(weir_json_at(weir_json_get(spec, "providesApis"), 1), NULL),
              "api-b");
    weir_json_free(root);
    weir_entity_free(entity);
}

void test_set_fields_are_replaced_in_place(void) {
    weir_entity_builder *builder = weir_entity_builder_new("Group", "team");
    weir_entity_title(builder, "first");
    weir_entity_title(builder, "second");
    weir_entity_annotation(builder, "a", "1");
    weir_entity_annotation(builder, "b", "2");
    weir_entity_annotation(builder, "a", "3");
    weir_entity_spec_int(builder, "n", 1);
    weir_entity_spec_string(builder, "n", "one");
    weir_entity_location_key(builder, "first");
    weir_entity_location_key(builder, "second");
    weir_entity *entity = weir_entity_build(builder);
    CHECK_STR(weir_entity_get_location_key(entity), "second");
    CHECK_STR(weir_entity_json(entity, NULL),
              "{\"apiVersion\":\"backstage.io/v1alpha1\",\"kind\":\"Group\",\"metadata\":{"
              "\"name\":\"team\",\"title\":\"second\",\"annotations\":{\"a\":\"3\",\"b\":\"2\"}},"
              "\"spec\":{\"n\":\"one\"}}");
    weir_entity_free(entity);

    /* The next builder (the same one, reused) starts empty. */
    entity = weir_entity_build(weir_entity_builder_new("Group", "other"));
    CHECK_STR(weir_entity_json(entity, NULL),
              "{\"apiVersion\":\"backstage.io/v1alpha1\",\"kind\":\"Group\",\"metadata\":{"
              "\"name\":\"other\"},\"spec\":{}}");
    CHECK(weir_entity_get_location_key(entity) == NULL);
    weir_entity_free(entity);
}

void test_a_misused_builder_fails_its_page(void) {
    weir_entity_builder *builder = weir_entity_builder_new("Component", "broken");
    weir_json_writer *depends_on = weir_entity_spec(builder, "dependsOn");
    weir_json_array_begin(depends_on);
    weir_entity_spec_string(builder, "type", "service");
    weir_entity *entity = weir_entity_build(builder);
    CHECK(weir_entity_json(entity, NULL) == NULL);
    CHECK_CONTAINS(weir_entity_error(entity),
                   "entity \"broken\": spec \"dependsOn\": an object or array that was begun");

    weir_page page;
    weir_page_init(&page);
    weir_page_add(&page, weir_entity_from_json("{}"));
    weir_page_add(&page, entity);
    weir_page_last(&page);
    char *cursor;
    size_t length;
    weir_error *error = weir_page_finish(&page, &cursor, &length);
    if (CHECK(error != NULL)) {
        CHECK(weir_error_kind_of(error) == WEIR_ERROR_FATAL);
        CHECK_CONTAINS(weir_error_message(error), "entity 1: entity \"broken\"");
    }
    weir_error_free(error);
    weir_page_release(&page);

    builder = weir_entity_builder_new("Component", "reserved");
    weir_json_string(weir_entity_metadata(builder, "title"), "no");
    entity = weir_entity_build(builder);
    CHECK_CONTAINS(weir_entity_error(entity), "has its own setter (weir_entity_title)");
    weir_entity_free(entity);
}

void test_entities_from_json_text_are_checked_for_utf8(void) {
    weir_entity *entity = weir_entity_from_json_n("{\"a\":\"\xff\"}", 9);
    CHECK_CONTAINS(weir_entity_error(entity), "not valid UTF-8 (at byte 6)");
    weir_entity_free(entity);
    entity = weir_entity_from_json("{\"kind\":\"Group\"}");
    weir_entity_set_location_key(entity, "key");
    CHECK_STR(weir_entity_json(entity, NULL), "{\"kind\":\"Group\"}");
    CHECK_STR(weir_entity_get_location_key(entity), "key");
    weir_entity_free(entity);

    weir_json_writer *writer = weir_json_writer_new();
    weir_json_object_begin(writer);
    weir_json_key(writer, "kind");
    weir_json_string(writer, "API");
    weir_json_object_end(writer);
    entity = weir_entity_from_writer(writer);
    CHECK_STR(weir_entity_json(entity, NULL), "{\"kind\":\"API\"}");
    weir_entity_free(entity);
    writer = weir_json_writer_new();
    weir_json_object_begin(writer);
    entity = weir_entity_from_writer(writer);
    CHECK_CONTAINS(weir_entity_error(entity), "begun but not ended");
    weir_entity_free(entity);
}

/* Finish `page` and return its cursor (or the error message, prefixed). */
static char *finish(weir_page *page) {
    char *cursor;
    size_t length;
    weir_error *error = weir_page_finish(page, &cursor, &length);
    if (error != NULL) {
        cursor = weir_format("error: %s", weir_error_message(error));
        weir_error_free(error);
    }
    weir_page_release(page);
    return cursor;
}

void test_pages_need_an_end_and_carry_the_cursor(void) {
    weir_page page;
    weir_page_init(&page);
    weir_page_more_int(&page, 500);
    char *cursor = finish(&page);
    CHECK_STR(cursor, "500");
    free(cursor);

    weir_page_init(&page);
    weir_page_more_field_int(&page, "page", 3);
    cursor = finish(&page);
    CHECK_STR(cursor, "{\"page\":3}");
    free(cursor);

    weir_page_init(&page);
    weir_page_more_json(&page, "{\"token\":\"abc\"}");
    weir_page_add(&page, weir_entity_from_json("{}"));
    CHECK(weir_page_entity_count(&page) == 1);
    cursor = finish(&page);
    CHECK_STR(cursor, "{\"token\":\"abc\"}");
    free(cursor);

    weir_page_init(&page);
    weir_page_more_int(&page, 1);
    weir_page_last(&page);
    CHECK(finish(&page) == NULL);

    weir_page_init(&page);
    cursor = finish(&page);
    CHECK_CONTAINS(cursor, "without weir_page_more() or weir_page_last()");
    free(cursor);

    weir_page_init(&page);
    weir_json_array_begin(weir_page_more(&page));
    cursor = finish(&page);
    CHECK_CONTAINS(cursor, "the next cursor's JSON writer");
    free(cursor);
}

void test_cursors_are_read_back_or_named(void) {
    weir_cursor cursor;
    int64_t value = 0;
    weir_cursor_init(&cursor, "{\"page\": 4}", 11);
    CHECK(weir_cursor_field_int(&cursor, "page", &value) == NULL && value == 4);
    weir_error *error = weir_cursor_int(&cursor, &value);
    if (CHECK(error != NULL)) {
        CHECK_STR(weir_error_message(error), "the stored cursor {\"page\": 4} is not an integer; "
                                             "reset the source to start a new cycle");
    }
    weir_error_free(error);
    weir_cursor_release(&cursor);

    weir_cursor_init(&cursor, "not json", 8);
    CHECK(cursor.value == NULL);
    CHECK_STR(cursor.text, "not json");
    error = weir_cursor_field_int(&cursor, "page", &value);
    CHECK(error != NULL && weir_error_kind_of(error) == WEIR_ERROR_FATAL);
    CHECK_CONTAINS(weir_error_message(error), "not json is not an object with an integer \"page\"");
    weir_error_free(error);
    weir_cursor_release(&cursor);
}

void test_integers_parse_strictly(void) {
    int64_t value = 0;
    CHECK(weir_parse_int(" 42 ", &value) && value == 42);
    CHECK(weir_parse_int("-7", &value) && value == -7);
    CHECK(weir_parse_int("+3", &value) && value == 3);
    CHECK(weir_parse_int("9223372036854775807", &value) && value == INT64_MAX);
    CHECK(weir_parse_int("-9223372036854775808", &value) && value == INT64_MIN);
    CHECK(!weir_parse_int("9223372036854775808", &value));
    CHECK(!weir_parse_int("", &value));
    CHECK(!weir_parse_int("abc", &value));
    CHECK(!weir_parse_int("12x", &value));
    CHECK(!weir_parse_int("0x10", &value));
    CHECK(!weir_parse_int("1.5", &value));
    CHECK(!weir_parse_int("- 1", &value));
    CHECK(!weir_parse_int(NULL, &value));
}
