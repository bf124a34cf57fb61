/* json_write.c: the JSON writer: RFC 8259 string escaping, numbers, and the
 * nesting state that puts commas in and catches misuse. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Whether a JSON string holds `byte` as it is: printable ASCII but `"` and
 * the backslash. Controls need escapes; bytes from 0x80 start UTF-8. */
static bool is_plain(unsigned char byte) {
    return byte >= 0x20 && byte < 0x80 && byte != '"' && byte != '\\';
}

/* Whether all eight bytes of `word` are plain, tested at once: the classic
 * "has a byte less than N" and "has a zero byte" bit tricks, exact for the
 * any-byte question they answer here. */
static bool word_is_plain(uint64_t word) {
    const uint64_t ones = 0x0101010101010101ULL;
    const uint64_t highs = 0x8080808080808080ULL;
    uint64_t control = (word - ones * 0x20) & ~word;
    uint64_t quote = word ^ (ones * '"');
    uint64_t backslash = word ^ (ones * '\\');
    quote = (quote - ones) & ~quote;
    backslash = (backslash - ones) & ~backslash;
    return ((control | quote | backslash | word) & highs) == 0;
}

static uint64_t load_word(const unsigned char *bytes) {
    uint64_t word;
    memcpy(&word, bytes, sizeof word);
    return word;
}

/* The index of the first byte from `at` on that is not plain, or `length`. */
static size_t skip_plain(const unsigned char *bytes, size_t at, size_t length) {
    while (length - at >= 8) {
        if (!word_is_plain(load_word(bytes + at))) {
            break;
        }
        at += 8;
    }
    /* A tail of 1-7 bytes in a text of 8 or more: test the last eight bytes,
     * overlapping ones already known to be plain. */
    if (at < length && length - at < 8 && length >= 8 &&
        word_is_plain(load_word(bytes + length - 8))) {
        return length;
    }
    while (at < length && is_plain(bytes[at])) {
        at++;
    }
    return at;
}

static void append_escape(weir_buffer *out, unsigned char byte) {
    static const char hex[] = "0123456789abcdef";
    switch (byte) {
    case '"':
        weir_buffer_append(out, "\\\"", 2);
        return;
    case '\\':
        weir_buffer_append(out, "\\\\", 2);
        return;
    case '\b':
        weir_buffer_append(out, "\\b", 2);
        return;
    case '\f':
        weir_buffer_append(out, "\\f", 2);
        return;
    case '\n':
        weir_buffer_append(out, "\\n", 2);
        return;
    case '\r':
        weir_buffer_append(out, "\\r", 2);
        return;
    case '\t':
        weir_buffer_append(out, "\\t", 2);
        return;
    default: {
        char unicode[6] = {'\\', 'u', '0', '0', hex[byte >> 4], hex[byte & 0xF]};
        weir_buffer_append(out, unicode, sizeof unicode);
    }
    }
}

void weir_json_append_escaped(weir_buffer *out, const char *text, size_t length) {
    const unsigned char *bytes = (const unsigned char *)text;
    weir_buffer_reserve(out, length);
    size_t run = 0; /* start of the bytes not yet copied */
    size_t at = 0;
    while ((at = skip_plain(bytes, at, length)) < length) {
        unsigned char byte = bytes[at];
        if (byte >= 0x80) {
            size_t valid = weir_utf8_sequence(text + at, length - at);
            if (valid > 0) {
                at += valid;
                continue;
            }
        }
        weir_buffer_append(out, text + run, at - run);
        if (byte < 0x80) {
            append_escape(out, byte);
        } else {
            weir_buffer_append(out, "\xEF\xBF\xBD", 3); /* invalid UTF-8: U+FFFD */
        }
        run = ++at;
    }
    weir_buffer_append(out, text + run, length - run);
}

void weir_json_append_string(weir_buffer *out, const char *text, size_t length) {
    weir_buffer_reserve(out, length + 2);
    weir_buffer_append_char(out, '"');
    weir_json_append_escaped(out, text, length);
    weir_buffer_append_char(out, '"');
}

void weir_json_writer_init(weir_json_writer *writer) {
    memset(writer, 0, sizeof *writer);
}

void weir_json_writer_release(weir_json_writer *writer) {
    weir_buffer_free(&writer->out);
}

void weir_json_writer_restart(weir_json_writer *writer) {
    writer->depth = 0;
    writer->has_items[0] = false;
    writer->after_key = false;
    writer->error = NULL;
}

weir_json_writer *weir_json_writer_new(void) {
    weir_json_writer *writer = weir_xmalloc(sizeof *writer);
    weir_json_writer_init(writer);
    return writer;
}

void weir_json_writer_free(weir_json_writer *writer) {
    if (writer != NULL) {
        weir_json_writer_release(writer);
        free(writer);
    }
}

static void misuse(weir_json_writer *writer, const char *what) {
    if (writer->error == NULL) {
        writer->error = what;
    }
}

/* Put in the comma a value needs, or record why no value may come here. */
static bool before_value(weir_json_writer *writer) {
    if (writer->error != NULL) {
        return false;
    }
    unsigned depth = writer->depth;
    if (depth == 0) {
        if (writer->has_items[0]) {
            misuse(writer, "a second value after the complete top-level value");
            return false;
        }
    } else if (writer->container[depth] == '{') {
        if (!writer->after_key) {
            misuse(writer, "a value inside an object without a key before it");
            return false;
        }
        writer->after_key = false;
    } else if (writer->has_items[depth]) {
        weir_buffer_append_char(&writer->out, ',');
    }
    writer->has_items[depth] = true;
    return true;
}

static void begin(weir_json_writer *writer, char container) {
    if (!before_value(writer)) {
        return;
    }
    if (writer->depth == WEIR_JSON_MAX_DEPTH) {
        misuse(writer, "objects and arrays nested more than 64 deep");
        return;
    }
    writer->depth++;
    writer->container[writer->depth] = container;
    writer->has_items[writer->depth] = false;
    weir_buffer_append_char(&writer->out, container);
}

static void end(weir_json_writer *writer, char container) {
    if (writer->error != NULL) {
        return;
    }
    if (writer->depth == 0 || writer->container[writer->depth] != container) {
        misuse(writer, container == '{' ? "an object end without its begin"
                                        : "an array end without its begin");
        return;
    }
    if (writer->after_key) {
        misuse(writer, "an object end right after a key, with no value for it");
        return;
    }
    writer->depth--;
    weir_buffer_append_char(&writer->out, container == '{' ? '}' : ']');
}

void weir_json_object_begin(weir_json_writer *writer) {
    begin(writer, '{');
}

void weir_json_object_end(weir_json_writer *writer) {
    end(writer, '{');
}

void weir_json_array_begin(weir_json_writer *writer) {
    begin(writer, '[');
}

void weir_json_array_end(weir_json_writer *writer) {
    end(writer, '[');
}

void weir_json_key(weir_json_writer *writer, const char *key) {
    if (writer->error != NULL) {
        return;
    }
    unsigned depth = writer->depth;
    if (depth == 0 || writer->container[depth] != '{') {
        misuse(writer, "a key outside an object");
        return;
    }
    if (writer->after_key) {
        misuse(writer, "two keys in a row, the first with no value");
        return;
    }
    if (writer->has_items[depth]) {
        weir_buffer_append_char(&writer->out, ',');
    }
    writer->has_items[depth] = true;
    weir_json_append_string(&writer->out, key, strlen(key));
    weir_buffer_append_char(&writer->out, ':');
    writer->after_key = true;
}

void weir_json_string(weir_json_writer *writer, const char *text) {
    weir_json_string_n(writer, text, strlen(text));
}

void weir_json_string_n(weir_json_writer *writer, const char *text, size_t length) {
    if (before_value(writer)) {
        weir_json_append_string(&writer->out, text, length);
    }
}

void weir_json_stringf(weir_json_writer *writer, const char *format, ...) {
    va_list args;
    va_start(args, format);
    weir_json_vstringf(writer, format, args);
    va_end(args);
}

void weir_json_vstringf(weir_json_writer *writer, const char *format, va_list args) {
    if (before_value(writer)) {
        weir_buffer_append_char(&writer->out, '"');
        weir_buffer_vformat(&writer->out, true, format, args);
        weir_buffer_append_char(&writer->out, '"');
    }
}

void weir_json_int(weir_json_writer *writer, int64_t number) {
    if (!before_value(writer)) {
        return;
    }
    char digits[24];
    size_t at = sizeof digits;
    /* Work in unsigned so INT64_MIN negates without overflow. */
    uint64_t magnitude = number < 0 ? (uint64_t)0 - (uint64_t)number : (uint64_t)number;
    do {
        digits[--at] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude != 0);
    if (number < 0) {
        digits[--at] = '-';
    }
    weir_buffer_append(&writer->out, digits + at, sizeof digits - at);
}

void weir_json_double(weir_json_writer *writer, double number) {
    if (!isfinite(number)) {
        misuse(writer, "a number that is not finite (JSON has no NaN or infinity)");
        return;
    }
    if (!before_value(writer)) {
        return;
    }
    char text[32];
    /* The shortest of 15, 16 or 17 significant digits that reads back as the
     * same double. */
    for (int precision = 15; precision <= 17; precision++) {
        snprintf(text, sizeof text, "%.*g", precision, number);
        if (strtod(text, NULL) == number) {
            break;
        }
    }
    weir_buffer_append(&writer->out, text, strlen(text));
}

void weir_json_bool(weir_json_writer *writer, bool value) {
    if (before_value(writer)) {
        weir_buffer_append(&writer->out, value ? "true" : "false", value ? 4 : 5);
    }
}

void weir_json_null(weir_json_writer *writer) {
    if (before_value(writer)) {
        weir_buffer_append(&writer->out, "null", 4);
    }
}

void weir_json_raw(weir_json_writer *writer, const char *json_text) {
    if (before_value(writer)) {
        weir_buffer_append(&writer->out, json_text, strlen(json_text));
    }
}

const char *weir_json_writer_error(const weir_json_writer *writer) {
    return writer->error;
}

const char *weir_json_writer_text(const weir_json_writer *writer, size_t *length) {
    if (length != NULL) {
        *length = writer->out.length;
    }
    return writer->out.data != NULL ? writer->out.data : "";
}

bool weir_json_writer_complete(const weir_json_writer *writer, const char **reason) {
    if (writer->error != NULL) {
        *reason = writer->error;
    } else if (writer->depth != 0) {
        *reason = "an object or array that was begun but not ended";
    } else if (!writer->has_items[0]) {
        *reason = "no value was written";
    } else {
        return true;
    }
    return false;
}

char *weir_json_writer_finish(weir_json_writer *writer, size_t *length, weir_error **error) {
    const char *reason;
    char *text = NULL;
    if (weir_json_writer_complete(writer, &reason)) {
        text = weir_buffer_take(&writer->out, length);
    } else if (error != NULL) {
        *error = weir_error_fatal("the JSON writer was misused: %s", reason);
    }
    weir_json_writer_free(writer);
    return text;
}
