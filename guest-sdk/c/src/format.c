/* format.c: printf-style formatting straight into a buffer, optionally as
 * JSON string content, for the builder's `...f` setters. The conversions
 * sources use all the time (%s, %c, and %d, %i, %u, %x, %X with a '0' flag,
 * a width and the length modifiers l, ll, z, j, t) are done here, a few times faster than
 * vsnprintf in WebAssembly; any other conversion (floats, precision, '-',
 * '*', 'h', ...) makes the whole text go through vsnprintf instead, so the result
 * is always what printf would print. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

typedef enum length_modifier { PLAIN_INT, LONG, LONG_LONG, SIZE, INTMAX, PTRDIFF } length_modifier;

/* One parsed conversion specification. */
typedef struct conversion {
    bool zero_pad;
    size_t width;
    length_modifier length;
    char type; /* d i u x X s c %, or 0 for one this file does not do */
} conversion;

/* Parse the specification after a `%`; `*format` moves past it. */
static conversion parse_conversion(const char **format) {
    conversion spec = {0};
    const char *at = *format;
    if (*at == '0') {
        spec.zero_pad = true;
        at++;
    }
    while (*at >= '0' && *at <= '9') {
        spec.width = spec.width * 10 + (size_t)(*at++ - '0');
    }
    if (at[0] == 'l') {
        spec.length = at[1] == 'l' ? LONG_LONG : LONG;
        at += at[1] == 'l' ? 2 : 1;
    } else if (at[0] == 'z' || at[0] == 'j' || at[0] == 't') {
        spec.length = at[0] == 'z' ? SIZE : at[0] == 'j' ? INTMAX : PTRDIFF;
        at++;
    }
    bool padded_text = spec.zero_pad && (*at == 's' || *at == 'c');
    if (*at != '\0' && strchr("diuxXsc%", *at) != NULL && !padded_text) {
        spec.type = *at++;
    }
    *format = at;
    return spec;
}

/* Append `text` (`length` bytes), escaped when `json`. */
static void append_text(weir_buffer *out, bool json, const char *text, size_t length) {
    if (json) {
        weir_json_append_escaped(out, text, length);
    } else {
        weir_buffer_append(out, text, length);
    }
}

static void append_padded(weir_buffer *out, bool json, const conversion *spec, const char *text,
                          size_t length) {
    for (size_t pad = length; pad < spec->width; pad++) {
        weir_buffer_append_char(out, spec->zero_pad ? '0' : ' ');
    }
    append_text(out, json, text, length);
}

static void append_integer(weir_buffer *out, const conversion *spec, va_list *args) {
    bool is_signed = spec->type == 'd' || spec->type == 'i';
    uint64_t magnitude;
    bool negative = false;
    if (is_signed) {
        int64_t value = spec->length == LONG        ? va_arg(*args, long)
                        : spec->length == LONG_LONG ? va_arg(*args, long long)
                        : spec->length == SIZE      ? (int64_t)va_arg(*args, size_t)
                        : spec->length == INTMAX    ? va_arg(*args, intmax_t)
                        : spec->length == PTRDIFF   ? va_arg(*args, ptrdiff_t)
                                                    : va_arg(*args, int);
        negative = value < 0;
        magnitude = negative ? (uint64_t)0 - (uint64_t)value : (uint64_t)value;
    } else {
        magnitude = spec->length == LONG        ? va_arg(*args, unsigned long)
                    : spec->length == LONG_LONG ? va_arg(*args, unsigned long long)
                    : spec->length == SIZE      ? va_arg(*args, size_t)
                    : spec->length == INTMAX    ? va_arg(*args, uintmax_t)
                    : spec->length == PTRDIFF   ? (uint64_t)va_arg(*args, ptrdiff_t)
                                                : va_arg(*args, unsigned int);
    }
    const char *digits = spec->type == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
    unsigned base = spec->type == 'x' || spec->type == 'X' ? 16 : 10;
    char text[24];
    size_t at = sizeof text;
    do {
        text[--at] = digits[magnitude % base];
        magnitude /= base;
    } while (magnitude != 0);
    size_t length = sizeof text - at;
    if (negative && spec->zero_pad) {
        /* printf puts the sign before the zeros: "-0042". */
        weir_buffer_append_char(out, '-');
        conversion rest = *spec;
        rest.width = spec->width > 0 ? spec->width - 1 : 0;
        append_padded(out, false, &rest, text + at, length);
        return;
    }
    if (negative) {
        text[--at] = '-';
        length++;
    }
    append_padded(out, false, spec, text + at, length);
}

/* The fast path; false (with `out` as it may be) at the first conversion it
 * does not do. */
static bool format_fast(weir_buffer *out, bool json, const char *format, va_list *args) {
    while (*format != '\0') {
        const char *percent = strchr(format, '%');
        size_t literal = percent != NULL ? (size_t)(percent - format) : strlen(format);
        append_text(out, json, format, literal);
        if (percent == NULL) {
            return true;
        }
        format = percent + 1;
        conversion spec = parse_conversion(&format);
        if (spec.type == 0) {
            return false;
        }
        if (spec.type == '%') {
            weir_buffer_append_char(out, '%');
        } else if (spec.type == 's') {
            const char *text = va_arg(*args, const char *);
            text = text != NULL ? text : "(null)";
            append_padded(out, json, &spec, text, strlen(text));
        } else if (spec.type == 'c') {
            char c = (char)va_arg(*args, int);
            append_padded(out, json, &spec, &c, 1);
        } else {
            append_integer(out, &spec, args);
        }
    }
    return true;
}

void weir_buffer_vformat(weir_buffer *out, bool json, const char *format, va_list args) {
    va_list fast, fallback;
    va_copy(fast, args);
    va_copy(fallback, args);
    size_t start = out->length;
    if (!format_fast(out, json, format, &fast)) {
        out->length = start;
        char *text = weir_vformat(format, fallback);
        append_text(out, json, text, strlen(text));
        free(text);
    }
    va_end(fast);
    va_end(fallback);
}

int weir_snprintf(char *buffer, size_t size, const char *format, ...) {
    /* One scratch buffer serves every call: a guest runs one call at a time. */
    static weir_buffer scratch;
    scratch.length = 0;
    va_list args;
    va_start(args, format);
    weir_buffer_vformat(&scratch, false, format, args);
    va_end(args);
    if (size > 0) {
        size_t copied = scratch.length < size - 1 ? scratch.length : size - 1;
        memcpy(buffer, scratch.data, copied);
        buffer[copied] = '\0';
    }
    return (int)scratch.length;
}
