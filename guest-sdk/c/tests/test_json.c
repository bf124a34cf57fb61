/* test_json.c: the JSON writer (escaping, nesting, numbers, misuse), the
 * formatter behind the `f` functions, and the JSON parser. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "tests.h"
#include "weir.h"

/* The text of a writer that wrote one string value `text` (`length` bytes). */
static char *written_string(const char *text, size_t length) {
    weir_json_writer *writer = weir_json_writer_new();
    weir_json_string_n(writer, text, length);
    return weir_json_writer_finish(writer, NULL, NULL);
}

static void check_escaped(const char *text, size_t length, const char *expected) {
    char *written = written_string(text, length);
    CHECK_STR(written, expected);
    free(written);
}

void test_strings_are_escaped_per_rfc_8259(void) {
    check_escaped("plain text", 10, "\"plain text\"");
    check_escaped("a \"quote\" and a \\", 17, "\"a \\\"quote\\\" and a \\\\\"");
    check_escaped("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
    check_escaped("\x01\x1f\x7f", 3, "\"\\u0001\\u001f\x7f\"");
    check_escaped("nul\0byte", 8, "\"nul\\u0000byte\"");
    check_escaped("ünïcødé ✓ 😀", strlen("ünïcødé ✓ 😀"), "\"ünïcødé ✓ 😀\"");
    /* A long plain run, then a quote past the first eight-byte words. */
    check_escaped("0123456789abcdef\"", 17, "\"0123456789abcdef\\\"\"");
    check_escaped("0123456789abcdefg", 17, "\"0123456789abcdefg\"");
}

void test_invalid_utf8_becomes_the_replacement_character(void) {
    check_escaped("bad \xff byte", 10, "\"bad \xEF\xBF\xBD byte\"");
    check_escaped("cut \xE2\x9C", 6, "\"cut \xEF\xBF\xBD\xEF\xBF\xBD\"");
    check_escaped("overlong \xC0\xAF", 11, "\"overlong \xEF\xBF\xBD\xEF\xBF\xBD\"");
    check_escaped("surrogate \xED\xA0\x80", 13,
                  "\"surrogate \xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\"");
}

void test_objects_and_arrays_get_their_commas(void) {
    weir_json_writer *writer = weir_json_writer_new();
    weir_json_object_begin(writer);
    weir_json_key(writer, "name");
    weir_json_string(writer, "x");
    weir_json_key(writer, "list");
    weir_json_array_begin(writer);
    weir_json_int(writer, 1);
    weir_json_object_begin(writer);
    weir_json_object_end(writer);
    weir_json_array_begin(writer);
    weir_json_array_end(writer);
    weir_json_null(writer);
    weir_json_bool(writer, false);
    weir_json_array_end(writer);
    weir_json_key(writer, "raw");
    weir_json_raw(writer, "{\"a\":[1,2]}");
    weir_json_key(writer, "formatted");
    weir_json_stringf(writer, "%s-%03d \"%c\"", "id", 7, 'q');
    weir_json_object_end(writer);
    size_t length;
    char *text = weir_json_writer_finish(writer, &length, NULL);
    CHECK_STR(text, "{\"name\":\"x\",\"list\":[1,{},[],null,false],\"raw\":{\"a\":[1,2]},"
                    "\"formatted\":\"id-007 \\\"q\\\"\"}");
    CHECK(length == strlen(text));
    free(text);
}

static void check_number(double number, const char *expected) {
    weir_json_writer *writer = weir_json_writer_new();
    weir_json_double(writer, number);
    char *text = weir_json_writer_finish(writer, NULL, NULL);
    CHECK_STR(text, expected);
    free(text);
}

void test_numbers_are_written_in_their_shortest_form(void) {
    check_number(0.25, "0.25");
    check_number(1.0, "1");
    check_number(-0.5, "-0.5");
    check_number(0.1, "0.1");
    check_number(1.0 / 3.0, "0.3333333333333333");
    check_number(1e21, "1e+21");
    weir_json_writer *writer = weir_json_writer_new();
    weir_json_array_begin(writer);
    weir_json_int(writer, INT64_MIN);
    weir_json_int(writer, INT64_MAX);
    weir_json_int(writer, 0);
    weir_json_array_end(writer);
    char *text = weir_json_writer_finish(writer, NULL, NULL);
    CHECK_STR(text, "[-9223372036854775808,9223372036854775807,0]");
    free(text);
}

/* The error weir_json_writer_finish gives after `misuse` ran on a writer. */
static void check_misuse(void (*misuse)(weir_json_writer *), const char *reason) {
    weir_json_writer *writer = weir_json_writer_new();
    misuse(writer);
    weir_error *error = NULL;
    char *text = weir_json_writer_finish(writer, NULL, &error);
    CHECK(text == NULL);
    if (CHECK(error != NULL)) {
        CHECK(weir_error_kind_of(error) == WEIR_ERROR_FATAL);
        CHECK_CONTAINS(weir_error_message(error), reason);
    }
    weir_error_free(error);
}

static void value_without_key(weir_json_writer *writer) {
    weir_json_object_begin(writer);
    weir_json_int(writer, 1);
}

static void two_values(weir_json_writer *writer) {
    weir_json_int(writer, 1);
    weir_json_int(writer, 2);
}

static void wrong_end(weir_json_writer *writer) {
    weir_json_array_begin(writer);
    weir_json_object_end(writer);
}

static void unfinished(weir_json_writer *writer) {
    weir_json_array_begin(writer);
}

static void key_outside_object(weir_json_writer *writer) {
    weir_json_key(writer, "k");
}

static void nothing(weir_json_writer *writer) {
    (void)writer;
}

static void not_a_number(weir_json_writer *writer) {
    weir_json_double(writer, NAN);
}

void test_writer_misuse_is_named(void) {
    check_misuse(value_without_key, "without a key");
    check_misuse(two_values, "second value");
    check_misuse(wrong_end, "object end without its begin");
    check_misuse(unfinished, "begun but not ended");
    check_misuse(key_outside_object, "key outside an object");
    check_misuse(nothing, "no value was written");
    check_misuse(not_a_number, "not finite");
}

/* weir_snprintf against the C library's snprintf for one format. */
#define CHECK_FORMAT(format, ...)                                                                  \
    do {                                                                                           \
        char ours[128], theirs[128];                                                               \
        int our_length = weir_snprintf(ours, sizeof ours, format, __VA_ARGS__);                    \
        int their_length = snprintf(theirs, sizeof theirs, format, __VA_ARGS__);                   \
        CHECK_STR(ours, theirs);                                                                   \
        CHECK(our_length == their_length);                                                         \
    } while (0)

void test_the_formatter_prints_what_printf_prints(void) {
    CHECK_FORMAT("%d|%i|%u", -42, 7, 4000000000u);
    CHECK_FORMAT("%05d|%05d|%5d|%-5d|", -42, 42, -42, 42);
    CHECK_FORMAT("%x|%X|%08x", 255, 255, 48879);
    CHECK_FORMAT("%ld|%lld|%zu|%jd", -5L, -9223372036854775807LL - 1, (size_t)12, (intmax_t)3);
    CHECK_FORMAT("%s|%10s|%c|%%", "text", "right", 'c');
    CHECK_FORMAT("%.2f|%g|%5.1s", 3.14159, 0.5, "precision");
    CHECK_FORMAT("%hhd|%hd", (signed char)-3, (short)-7);
    CHECK_FORMAT("%s", "no conversions at all: 100%% plain");
    char small[6];
    int length = weir_snprintf(small, sizeof small, "%s", "truncated");
    CHECK_STR(small, "trunc");
    CHECK(length == 9);
}

static weir_json_value *parse(const char *text, weir_json_error *error) {
    return weir_json_parse(text, strlen(text), error);
}

void test_json_is_parsed_into_a_tree(void) {
    weir_json_value *value =
        parse(" {\"a\": [1, -2.5e-1, true, null, \"\\u00e9\\ud83d\\ude00\\n\"],"
              " \"b\": {\"c\": 9223372036854775807}, \"a\": \"last\"} ",
              NULL);
    if (!CHECK(value != NULL)) {
        return;
    }
    CHECK(weir_json_type_of(value) == WEIR_JSON_OBJECT);
    CHECK(weir_json_length(value) == 3);
    CHECK_STR(weir_json_to_string(weir_json_get(value, "a"), NULL), "last");
    const weir_json_value *list = NULL;
    CHECK_STR(weir_json_key_at(value, 0, &list), "a");
    int64_t integer;
    double real;
    bool truth;
    CHECK(weir_json_to_int(weir_json_at(list, 0), &integer) && integer == 1);
    CHECK(!weir_json_to_int(weir_json_at(list, 1), &integer));
    CHECK(weir_json_to_double(weir_json_at(list, 1), &real) && real == -0.25);
    CHECK(weir_json_to_bool(weir_json_at(list, 2), &truth) && truth);
    CHECK(weir_json_type_of(weir_json_at(list, 3)) == WEIR_JSON_NULL);
    CHECK_STR(weir_json_to_string(weir_json_at(list, 4), NULL), "é😀\n");
    CHECK(weir_json_at(list, 5) == NULL);
    CHECK(weir_json_to_int(weir_json_get(weir_json_get(value, "b"), "c"), &integer) &&
          integer == INT64_MAX);
    CHECK(weir_json_get(list, "a") == NULL);
    weir_json_free(value);

    value = parse("[3.0, 1e2, 9223372036854775808, -9223372036854775808]", NULL);
    CHECK(weir_json_to_int(weir_json_at(value, 0), &integer) && integer == 3);
    CHECK(weir_json_to_int(weir_json_at(value, 1), &integer) && integer == 100);
    CHECK(!weir_json_to_int(weir_json_at(value, 2), &integer));
    CHECK(weir_json_to_int(weir_json_at(value, 3), &integer) && integer == INT64_MIN);
    weir_json_free(value);
}

static void check_refused(const char *text, const char *reason) {
    weir_json_error error;
    weir_json_value *value = weir_json_parse(text, strlen(text), &error);
    CHECK(value == NULL);
    CHECK_CONTAINS(error.message, reason);
    weir_json_free(value);
}

void test_invalid_json_is_refused_with_a_reason(void) {
    check_refused("", "expected a JSON value at byte 0");
    check_refused("[1,]", "expected a JSON value at byte 3");
    check_refused("{\"a\" 1}", "expected `:`");
    check_refused("{1: 2}", "expected a string key");
    check_refused("[1 2]", "expected `,` or `]`");
    check_refused("012", "leading zero");
    check_refused("1.", "digits after the decimal point");
    check_refused("\"open", "unterminated string");
    check_refused("\"tab\there\"", "control character");
    check_refused("\"\\x\"", "invalid escape");
    check_refused("\"\\udc00\"", "lone low surrogate");
    check_refused("\"\\ud800x\"", "without its low half");
    check_refused("\"\xff\"", "invalid UTF-8");
    check_refused("{} {}", "unexpected text after the JSON value at byte 3");
    check_refused("nul", "expected a JSON value");
    char deep[300];
    memset(deep, '[', sizeof deep - 1);
    deep[sizeof deep - 1] = '\0';
    check_refused(deep, "nested more than 128 deep");
}
