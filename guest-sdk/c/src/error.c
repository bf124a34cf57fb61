/* error.c: `weir_error`, the transient or fatal error a source returns. */
#include <stdlib.h>

#include "internal.h"

weir_error *weir_error_new(weir_error_kind kind, char *message) {
    weir_error *error = weir_xmalloc(sizeof *error);
    error->kind = kind;
    error->http = WEIR_HTTP_NOT_HTTP;
    error->message = message;
    return error;
}

weir_error *weir_error_verror(weir_error_kind kind, const char *format, va_list args) {
    return weir_error_new(kind, weir_vformat(format, args));
}

weir_error *weir_error_transient(const char *format, ...) {
    va_list args;
    va_start(args, format);
    weir_error *error = weir_error_verror(WEIR_ERROR_TRANSIENT, format, args);
    va_end(args);
    return error;
}

weir_error *weir_error_fatal(const char *format, ...) {
    va_list args;
    va_start(args, format);
    weir_error *error = weir_error_verror(WEIR_ERROR_FATAL, format, args);
    va_end(args);
    return error;
}

weir_error *weir_error_prefix(weir_error *error, const char *format, ...) {
    va_list args;
    va_start(args, format);
    char *prefix = weir_vformat(format, args);
    va_end(args);
    char *message = weir_format("%s: %s", prefix, error->message);
    free(prefix);
    free(error->message);
    error->message = message;
    return error;
}

weir_error_kind weir_error_kind_of(const weir_error *error) {
    return error->kind;
}

const char *weir_error_message(const weir_error *error) {
    return error->message;
}

weir_http_failure weir_error_http_failure(const weir_error *error) {
    return error->http;
}

void weir_error_free(weir_error *error) {
    if (error != NULL) {
        free(error->message);
        free(error);
    }
}
