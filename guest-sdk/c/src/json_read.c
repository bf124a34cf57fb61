/* json_read.c: a strict RFC 8259 JSON parser into a small tree, and the
 * accessors a source reads cursors, pushed bodies and HTTP answers with. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_NESTING 128

struct weir_json_value {
    weir_json_type type;
    union {
        bool boolean;
        struct {
            double value;
            bool is_integer; /* written without fraction or exponent, within int64_t */
            int64_t integer;
        } number;
        struct {
            char *text;
            size_t length;
        } string;
        struct {
            weir_json_value **items;
            char **keys; /* objects only */
            size_t count;
        } container;
    } as;
};

typedef struct parser {
    const char *text;
    size_t length;
    size_t at;
    unsigned nesting;
    weir_json_error *error;
    bool failed;
} parser;

static weir_json_value *parse_value(parser *p);

static void fail(parser *p, const char *what) {
    if (p->failed) {
        return;
    }
    p->failed = true;
    if (p->error != NULL) {
        p->error->offset = p->at;
        snprintf(p->error->message, sizeof p->error->message, "%s at byte %zu", what, p->at);
    }
}

static void skip_whitespace(parser *p) {
    while (p->at < p->length) {
        char c = p->text[p->at];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            return;
        }
        p->at++;
    }
}

static bool peek_is(parser *p, char expected) {
    return p->at < p->length && p->text[p->at] == expected;
}

static weir_json_value *new_value(weir_json_type type) {
    weir_json_value *value = weir_xmalloc(sizeof *value);
    memset(value, 0, sizeof *value);
    value->type = type;
    return value;
}

static bool match_word(parser *p, const char *word) {
    size_t length = strlen(word);
    if (p->length - p->at < length || memcmp(p->text + p->at, word, length) != 0) {
        fail(p, "expected a JSON value");
        return false;
    }
    p->at += length;
    return true;
}

static int hex_digit(char c) {
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

/* Four hex digits after `\u`, or -1. */
static long read_hex4(parser *p) {
    if (p->length - p->at < 4) {
        return -1;
    }
    long code = 0;
    for (int i = 0; i < 4; i++) {
        int digit = hex_digit(p->text[p->at + (size_t)i]);
        if (digit < 0) {
            return -1;
        }
        code = code * 16 + digit;
    }
    p->at += 4;
    return code;
}

static void append_utf8(weir_buffer *out, unsigned long code) {
    char bytes[4];
    size_t size;
    if (code < 0x80) {
        bytes[0] = (char)code;
        size = 1;
    } else if (code < 0x800) {
        bytes[0] = (char)(0xC0 | (code >> 6));
        bytes[1] = (char)(0x80 | (code & 0x3F));
        size = 2;
    } else if (code < 0x10000) {
        bytes[0] = (char)(0xE0 | (code >> 12));
        bytes[1] = (char)(0x80 | ((code >> 6) & 0x3F));
        bytes[2] = (char)(0x80 | (code & 0x3F));
        size = 3;
    } else {
        bytes[0] = (char)(0xF0 | (code >> 18));
        bytes[1] = (char)(0x80 | ((code >> 12) & 0x3F));
        bytes[2] = (char)(0x80 | ((code >> 6) & 0x3F));
        bytes[3] = (char)(0x80 | (code & 0x3F));
        size = 4;
    }
    weir_buffer_append(out, bytes, size);
}

/* The code point of a `\uXXXX` escape (the `\u` already read), joining a
 * surrogate pair; -1 after reporting a bad one. */
static long read_unicode_escape(parser *p) {
    long code = read_hex4(p);
    if (code < 0) {
        fail(p, "expected four hex digits after \\u");
        return -1;
    }
    if (code >= 0xDC00 && code <= 0xDFFF) {
        fail(p, "a lone low surrogate in a \\u escape");
        return -1;
    }
    if (code < 0xD800 || code > 0xDBFF) {
        return code;
    }
    if (p->length - p->at < 2 || p->text[p->at] != '\\' || p->text[p->at + 1] != 'u') {
        fail(p, "a high surrogate in a \\u escape without its low half");
        return -1;
    }
    p->at += 2;
    long low = read_hex4(p);
    if (low < 0xDC00 || low > 0xDFFF) {
        fail(p, "a high surrogate in a \\u escape without its low half");
        return -1;
    }
    return 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
}

static bool read_escape(parser *p, weir_buffer *out) {
    if (p->at >= p->length) {
        fail(p, "an unterminated string");
        return false;
    }
    static const char escaped[] = "\"\\/bfnrt";
    static const char decoded[] = "\"\\/\b\f\n\r\t";
    char c = p->text[p->at++];
    const char *simple = c != '\0' ? strchr(escaped, c) : NULL;
    if (simple != NULL) {
        weir_buffer_append_char(out, decoded[simple - escaped]);
        return true;
    }
    if (c != 'u') {
        p->at--;
        fail(p, "an invalid escape in a string");
        return false;
    }
    long code = read_unicode_escape(p);
    if (code < 0) {
        return false;
    }
    append_utf8(out, (unsigned long)code);
    return true;
}

/* A string literal's text, the opening quote at p->at; NULL on failure. */
static char *read_string(parser *p, size_t *length) {
    p->at++;
    weir_buffer out = {0};
    weir_buffer_reserve(&out, 0);
    for (;;) {
        size_t run = p->at;
        while (p->at < p->length) {
            unsigned char c = (unsigned char)p->text[p->at];
            if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) {
                break;
            }
            p->at++;
        }
        weir_buffer_append(&out, p->text + run, p->at - run);
        if (p->at >= p->length) {
            fail(p, "an unterminated string");
            break;
        }
        unsigned char c = (unsigned char)p->text[p->at];
        if (c == '"') {
            p->at++;
            return weir_buffer_take(&out, length);
        }
        if (c < 0x20) {
            fail(p, "a control character inside a string");
            break;
        }
        if (c >= 0x80) {
            size_t size = weir_utf8_sequence(p->text + p->at, p->length - p->at);
            if (size == 0) {
                fail(p, "invalid UTF-8 in a string");
                break;
            }
            weir_buffer_append(&out, p->text + p->at, size);
            p->at += size;
            continue;
        }
        p->at++;
        if (!read_escape(p, &out)) {
            break;
        }
    }
    weir_buffer_free(&out);
    return NULL;
}

static size_t skip_digits(parser *p) {
    size_t start = p->at;
    while (p->at < p->length && p->text[p->at] >= '0' && p->text[p->at] <= '9') {
        p->at++;
    }
    return p->at - start;
}

static weir_json_value *parse_number(parser *p) {
    size_t start = p->at;
    if (peek_is(p, '-')) {
        p->at++;
    }
    size_t integer_digits = skip_digits(p);
    if (integer_digits == 0 || (integer_digits > 1 && p->text[p->at - integer_digits] == '0')) {
        fail(p, integer_digits == 0 ? "expected a JSON value" : "a number with a leading zero");
        return NULL;
    }
    bool fraction_or_exponent = false;
    if (peek_is(p, '.')) {
        p->at++;
        fraction_or_exponent = true;
        if (skip_digits(p) == 0) {
            fail(p, "expected digits after the decimal point");
            return NULL;
        }
    }
    if (peek_is(p, 'e') || peek_is(p, 'E')) {
        p->at++;
        fraction_or_exponent = true;
        if (peek_is(p, '+') || peek_is(p, '-')) {
            p->at++;
        }
        if (skip_digits(p) == 0) {
            fail(p, "expected digits in the exponent");
            return NULL;
        }
    }
    char *text = weir_xstrndup(p->text + start, p->at - start);
    weir_json_value *value = new_value(WEIR_JSON_NUMBER);
    value->as.number.value = strtod(text, NULL);
    if (!fraction_or_exponent) {
        bool negative = text[0] == '-';
        const char *digits = negative ? text + 1 : text;
        uint64_t magnitude;
        uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
        value->as.number.is_integer = weir_parse_digits(&digits, limit, &magnitude);
        value->as.number.integer = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    }
    free(text);
    return value;
}

static weir_json_value *parse_array(parser *p, weir_json_value *array) {
    size_t capacity = 0;
    p->at++;
    skip_whitespace(p);
    if (peek_is(p, ']')) {
        p->at++;
        return array;
    }
    for (;;) {
        weir_json_value *item = parse_value(p);
        if (item == NULL) {
            return NULL;
        }
        if (array->as.container.count == capacity) {
            capacity = capacity == 0 ? 4 : capacity * 2;
            array->as.container.items =
                weir_xrealloc(array->as.container.items, capacity * sizeof(weir_json_value *));
        }
        array->as.container.items[array->as.container.count++] = item;
        skip_whitespace(p);
        if (peek_is(p, ']')) {
            p->at++;
            return array;
        }
        if (!peek_is(p, ',')) {
            fail(p, "expected `,` or `]` in an array");
            return NULL;
        }
        p->at++;
    }
}

static weir_json_value *parse_object(parser *p, weir_json_value *object) {
    size_t capacity = 0;
    p->at++;
    skip_whitespace(p);
    if (peek_is(p, '}')) {
        p->at++;
        return object;
    }
    for (;;) {
        skip_whitespace(p);
        if (!peek_is(p, '"')) {
            fail(p, "expected a string key in an object");
            return NULL;
        }
        char *key = read_string(p, NULL);
        if (key == NULL) {
            return NULL;
        }
        skip_whitespace(p);
        if (!peek_is(p, ':')) {
            free(key);
            fail(p, "expected `:` after an object key");
            return NULL;
        }
        p->at++;
        weir_json_value *member = parse_value(p);
        if (member == NULL) {
            free(key);
            return NULL;
        }
        if (object->as.container.count == capacity) {
            capacity = capacity == 0 ? 4 : capacity * 2;
            object->as.container.items =
                weir_xrealloc(object->as.container.items, capacity * sizeof(weir_json_value *));
            object->as.container.keys =
                weir_xrealloc(object->as.container.keys, capacity * sizeof(char *));
        }
        object->as.container.keys[object->as.container.count] = key;
        object->as.container.items[object->as.container.count++] = member;
        skip_whitespace(p);
        if (peek_is(p, '}')) {
            p->at++;
            return object;
        }
        if (!peek_is(p, ',')) {
            fail(p, "expected `,` or `}` in an object");
            return NULL;
        }
        p->at++;
    }
}

/* An array or object: the container is built in place so that a failure
 * part-way frees what was read. */
static weir_json_value *parse_container(parser *p, weir_json_type type) {
    if (p->nesting == MAX_NESTING) {
        fail(p, "objects and arrays nested more than 128 deep");
        return NULL;
    }
    p->nesting++;
    weir_json_value *container = new_value(type);
    weir_json_value *parsed =
        type == WEIR_JSON_ARRAY ? parse_array(p, container) : parse_object(p, container);
    p->nesting--;
    if (parsed == NULL) {
        weir_json_free(container);
    }
    return parsed;
}

static weir_json_value *parse_value(parser *p) {
    skip_whitespace(p);
    if (p->at >= p->length) {
        fail(p, "expected a JSON value");
        return NULL;
    }
    weir_json_value *value;
    switch (p->text[p->at]) {
    case '{':
        return parse_container(p, WEIR_JSON_OBJECT);
    case '[':
        return parse_container(p, WEIR_JSON_ARRAY);
    case '"': {
        size_t length;
        char *text = read_string(p, &length);
        if (text == NULL) {
            return NULL;
        }
        value = new_value(WEIR_JSON_STRING);
        value->as.string.text = text;
        value->as.string.length = length;
        return value;
    }
    case 't':
    case 'f': {
        bool truth = p->text[p->at] == 't';
        if (!match_word(p, truth ? "true" : "false")) {
            return NULL;
        }
        value = new_value(WEIR_JSON_BOOL);
        value->as.boolean = truth;
        return value;
    }
    case 'n':
        return match_word(p, "null") ? new_value(WEIR_JSON_NULL) : NULL;
    default:
        return parse_number(p);
    }
}

weir_json_value *weir_json_parse(const char *text, size_t length, weir_json_error *error) {
    parser p = {.text = text, .length = length, .error = error};
    weir_json_value *value = parse_value(&p);
    if (value == NULL) {
        return NULL;
    }
    skip_whitespace(&p);
    if (p.at != p.length) {
        fail(&p, "unexpected text after the JSON value");
        weir_json_free(value);
        return NULL;
    }
    return value;
}

void weir_json_free(weir_json_value *value) {
    if (value == NULL) {
        return;
    }
    if (value->type == WEIR_JSON_STRING) {
        free(value->as.string.text);
    } else if (value->type == WEIR_JSON_ARRAY || value->type == WEIR_JSON_OBJECT) {
        for (size_t i = 0; i < value->as.container.count; i++) {
            weir_json_free(value->as.container.items[i]);
            if (value->as.container.keys != NULL) {
                free(value->as.container.keys[i]);
            }
        }
        free(value->as.container.items);
        free(value->as.container.keys);
    }
    free(value);
}

weir_json_type weir_json_type_of(const weir_json_value *value) {
    return value->type;
}

const weir_json_value *weir_json_get(const weir_json_value *object, const char *key) {
    if (object == NULL || object->type != WEIR_JSON_OBJECT) {
        return NULL;
    }
    for (size_t i = object->as.container.count; i > 0; i--) {
        if (strcmp(object->as.container.keys[i - 1], key) == 0) {
            return object->as.container.items[i - 1];
        }
    }
    return NULL;
}

size_t weir_json_length(const weir_json_value *value) {
    if (value == NULL || (value->type != WEIR_JSON_ARRAY && value->type != WEIR_JSON_OBJECT)) {
        return 0;
    }
    return value->as.container.count;
}

const weir_json_value *weir_json_at(const weir_json_value *array, size_t index) {
    if (array == NULL || array->type != WEIR_JSON_ARRAY || index >= array->as.container.count) {
        return NULL;
    }
    return array->as.container.items[index];
}

const char *weir_json_key_at(const weir_json_value *object, size_t index,
                             const weir_json_value **member) {
    if (object == NULL || object->type != WEIR_JSON_OBJECT || index >= object->as.container.count) {
        return NULL;
    }
    if (member != NULL) {
        *member = object->as.container.items[index];
    }
    return object->as.container.keys[index];
}

bool weir_json_to_int(const weir_json_value *value, int64_t *number) {
    if (value == NULL || value->type != WEIR_JSON_NUMBER) {
        return false;
    }
    if (value->as.number.is_integer) {
        *number = value->as.number.integer;
        return true;
    }
    double real = value->as.number.value;
    /* 2^63 is the first double past int64_t. */
    if (real != floor(real) || real < -9223372036854775808.0 || real >= 9223372036854775808.0) {
        return false;
    }
    *number = (int64_t)real;
    return true;
}

bool weir_json_to_double(const weir_json_value *value, double *number) {
    if (value == NULL || value->type != WEIR_JSON_NUMBER) {
        return false;
    }
    *number = value->as.number.value;
    return true;
}

bool weir_json_to_bool(const weir_json_value *value, bool *result) {
    if (value == NULL || value->type != WEIR_JSON_BOOL) {
        return false;
    }
    *result = value->as.boolean;
    return true;
}

const char *weir_json_to_string(const weir_json_value *value, size_t *length) {
    if (value == NULL || value->type != WEIR_JSON_STRING) {
        return NULL;
    }
    if (length != NULL) {
        *length = value->as.string.length;
    }
    return value->as.string.text;
}
