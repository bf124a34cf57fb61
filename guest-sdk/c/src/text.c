/* text.c: memory that never comes back NULL, the growable buffer, printf
 * into new strings, UTF-8 checks and the integer parsing config values use. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static void out_of_memory(size_t size) {
    fprintf(stderr, "weir: out of memory allocating %zu bytes\n", size);
    abort();
}

void *weir_xmalloc(size_t size) {
    void *pointer = malloc(size == 0 ? 1 : size);
    if (pointer == NULL) {
        out_of_memory(size);
    }
    return pointer;
}

void *weir_xrealloc(void *pointer, size_t size) {
    void *grown = realloc(pointer, size == 0 ? 1 : size);
    if (grown == NULL) {
        out_of_memory(size);
    }
    return grown;
}

char *weir_xstrndup(const char *text, size_t length) {
    char *copy = weir_xmalloc(length + 1);
    memcpy(copy, text, length);
    copy[length] = '\0';
    return copy;
}

char *weir_xstrdup(const char *text) {
    return weir_xstrndup(text, strlen(text));
}

char *weir_vformat(const char *format, va_list args) {
    va_list measure;
    va_copy(measure, args);
    int length = vsnprintf(NULL, 0, format, measure);
    va_end(measure);
    if (length < 0) {
        return weir_xstrdup(format);
    }
    char *text = weir_xmalloc((size_t)length + 1);
    vsnprintf(text, (size_t)length + 1, format, args);
    return text;
}

char *weir_format(const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *text = weir_vformat(format, args);
    va_end(args);
    return text;
}

void weir_buffer_grow(weir_buffer *buffer, size_t extra) {
    size_t needed = buffer->length + extra + 1;
    size_t capacity = buffer->capacity < 64 ? 64 : buffer->capacity;
    while (capacity < needed) {
        capacity *= 2;
    }
    buffer->data = weir_xrealloc(buffer->data, capacity);
    buffer->capacity = capacity;
}

char *weir_buffer_take(weir_buffer *buffer, size_t *length) {
    weir_buffer_reserve(buffer, 0);
    char *data = buffer->data;
    if (length != NULL) {
        *length = buffer->length;
    }
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
    return data;
}

void weir_buffer_free(weir_buffer *buffer) {
    free(buffer->data);
    buffer->data = NULL;
    buffer->length = 0;
    buffer->capacity = 0;
}

size_t weir_utf8_sequence(const char *bytes, size_t length) {
    const unsigned char *text = (const unsigned char *)bytes;
    unsigned char lead = text[0];
    if (lead < 0x80) {
        return 1;
    }
    size_t size;
    unsigned char low = 0x80, high = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        size = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        size = 3;
        low = lead == 0xE0 ? 0xA0 : 0x80;
        high = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        size = 4;
        low = lead == 0xF0 ? 0x90 : 0x80;
        high = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
        return 0;
    }
    if (size > length || text[1] < low || text[1] > high) {
        return 0;
    }
    for (size_t i = 2; i < size; i++) {
        if (text[i] < 0x80 || text[i] > 0xBF) {
            return 0;
        }
    }
    return size;
}

/* Whether the eight bytes at `bytes` are all ASCII. */
static bool ascii_word(const unsigned char *bytes) {
    uint64_t word;
    memcpy(&word, bytes, sizeof word);
    return (word & 0x8080808080808080ULL) == 0;
}

size_t weir_utf8_valid_prefix(const char *text, size_t length) {
    const unsigned char *bytes = (const unsigned char *)text;
    size_t at = 0;
    while (at < length) {
        if (length - at >= 8 && ascii_word(bytes + at)) {
            at += 8;
            continue;
        }
        if (bytes[at] < 0x80) {
            at++;
            continue;
        }
        size_t size = weir_utf8_sequence(text + at, length - at);
        if (size == 0) {
            break;
        }
        at += size;
    }
    return at;
}

char *weir_utf8_lossy(const char *text, size_t length, size_t *out_length) {
    weir_buffer out = {0};
    weir_buffer_reserve(&out, length);
    size_t at = 0;
    while (at < length) {
        size_t valid = weir_utf8_valid_prefix(text + at, length - at);
        weir_buffer_append(&out, text + at, valid);
        at += valid;
        if (at < length) {
            weir_buffer_append(&out, "\xEF\xBF\xBD", 3);
            at++;
        }
    }
    return weir_buffer_take(&out, out_length);
}

uint8_t *weir_host_text(const char *text, size_t length, size_t *out_length) {
    if (length == 0) {
        *out_length = 0;
        return NULL;
    }
    return (uint8_t *)weir_utf8_lossy(text, length, out_length);
}

/* The decimal digits at `*text` as a magnitude; false on overflow past
 * `limit` or when there is no digit. `*text` moves past the digits. */
bool weir_parse_digits(const char **text, uint64_t limit, uint64_t *magnitude) {
    const char *at = *text;
    uint64_t value = 0;
    if (!isdigit((unsigned char)*at)) {
        return false;
    }
    for (; isdigit((unsigned char)*at); at++) {
        unsigned digit = (unsigned)(*at - '0');
        if (value > (limit - digit) / 10) {
            return false;
        }
        value = value * 10 + digit;
    }
    *text = at;
    *magnitude = value;
    return true;
}

bool weir_parse_int(const char *text, int64_t *value) {
    if (text == NULL) {
        return false;
    }
    while (isspace((unsigned char)*text)) {
        text++;
    }
    bool negative = *text == '-';
    if (*text == '-' || *text == '+') {
        text++;
    }
    uint64_t magnitude;
    uint64_t limit = negative ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    if (!weir_parse_digits(&text, limit, &magnitude)) {
        return false;
    }
    while (isspace((unsigned char)*text)) {
        text++;
    }
    if (*text != '\0') {
        return false;
    }
    *value = negative ? (int64_t)(0 - magnitude) : (int64_t)magnitude;
    return true;
}
