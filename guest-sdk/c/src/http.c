/* http.c: weir_http_send(), one blocking request over wasi:http's outgoing
 * handler: build the request, write the body, wait for the response, read
 * its whole body, and map wasi:http's error codes to transient or fatal
 * errors. The host answers only for the hosts the operator granted. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"
#include "weir_bindings.h"

/* wasi:http's error-code cases, by tag. */
static const char *const ERROR_CODE_NAMES[] = {
    "DNS-timeout",
    "DNS-error",
    "destination-not-found",
    "destination-unavailable",
    "destination-IP-prohibited",
    "destination-IP-unroutable",
    "connection-refused",
    "connection-terminated",
    "connection-timeout",
    "connection-read-timeout",
    "connection-write-timeout",
    "connection-limit-reached",
    "TLS-protocol-error",
    "TLS-certificate-error",
    "TLS-alert-received",
    "HTTP-request-denied",
    "HTTP-request-length-required",
    "HTTP-request-body-size",
    "HTTP-request-method-invalid",
    "HTTP-request-URI-invalid",
    "HTTP-request-URI-too-long",
    "HTTP-request-header-section-size",
    "HTTP-request-header-size",
    "HTTP-request-trailer-section-size",
    "HTTP-request-trailer-size",
    "HTTP-response-incomplete",
    "HTTP-response-header-section-size",
    "HTTP-response-header-size",
    "HTTP-response-body-size",
    "HTTP-response-trailer-section-size",
    "HTTP-response-trailer-size",
    "HTTP-response-transfer-coding",
    "HTTP-response-content-coding",
    "HTTP-response-timeout",
    "HTTP-upgrade-failed",
    "HTTP-protocol-error",
    "loop-detected",
    "configuration-error",
    "internal-error",
};

static const char *error_code_name(uint8_t tag) {
    return tag < sizeof ERROR_CODE_NAMES / sizeof ERROR_CODE_NAMES[0] ? ERROR_CODE_NAMES[tag]
                                                                      : "unknown-error";
}

static bool is_timeout(uint8_t tag) {
    return tag == WASI_HTTP_TYPES_ERROR_CODE_DNS_TIMEOUT ||
           tag == WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_TIMEOUT ||
           tag == WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_READ_TIMEOUT ||
           tag == WASI_HTTP_TYPES_ERROR_CODE_CONNECTION_WRITE_TIMEOUT ||
           tag == WASI_HTTP_TYPES_ERROR_CODE_HTTP_RESPONSE_TIMEOUT;
}

/* The SDK's error for wasi:http's `code` on a request to `url`; frees `code`. */
static weir_error *error_from_code(const char *url, wasi_http_types_error_code_t *code) {
    weir_error *error;
    uint8_t tag = code->tag;
    if (tag == WASI_HTTP_TYPES_ERROR_CODE_HTTP_REQUEST_DENIED) {
        error = weir_http_error(WEIR_ERROR_FATAL, WEIR_HTTP_DENIED,
                                "request denied by the host: %s (its host is not granted to this "
                                "source, or resolves to a private address)",
                                url);
    } else if (is_timeout(tag)) {
        error = weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_TIMEOUT,
                                "request timed out: %s (%s)", url, error_code_name(tag));
    } else if (tag == WASI_HTTP_TYPES_ERROR_CODE_INTERNAL_ERROR &&
               code->val.internal_error.is_some) {
        error = weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_FAILED,
                                "request failed: %s (internal-error: %.*s)", url,
                                (int)code->val.internal_error.val.len,
                                (const char *)code->val.internal_error.val.ptr);
    } else {
        error = weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_FAILED, "request failed: %s (%s)",
                                url, error_code_name(tag));
    }
    wasi_http_types_error_code_free(code);
    return error;
}

static void set_method(wasi_http_types_method_t *method, const char *name) {
    static const struct {
        const char *name;
        uint8_t tag;
    } known[] = {
        {"GET", WASI_HTTP_TYPES_METHOD_GET},       {"HEAD", WASI_HTTP_TYPES_METHOD_HEAD},
        {"POST", WASI_HTTP_TYPES_METHOD_POST},     {"PUT", WASI_HTTP_TYPES_METHOD_PUT},
        {"DELETE", WASI_HTTP_TYPES_METHOD_DELETE}, {"OPTIONS", WASI_HTTP_TYPES_METHOD_OPTIONS},
        {"PATCH", WASI_HTTP_TYPES_METHOD_PATCH},   {"CONNECT", WASI_HTTP_TYPES_METHOD_CONNECT},
        {"TRACE", WASI_HTTP_TYPES_METHOD_TRACE},
    };
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++) {
        if (strcmp(name, known[i].name) == 0) {
            method->tag = known[i].tag;
            return;
        }
    }
    method->tag = WASI_HTTP_TYPES_METHOD_OTHER;
    weir_bindings_string_set(&method->val.other, name);
}

static bool append_field(wasi_http_types_borrow_fields_t fields, const char *name_text,
                         const char *value_text) {
    wasi_http_types_field_name_t name;
    weir_bindings_string_set(&name, name_text);
    wasi_http_types_field_value_t value = {(uint8_t *)value_text, strlen(value_text)};
    wasi_http_types_header_error_t header_error;
    return wasi_http_types_method_fields_append(fields, &name, &value, &header_error);
}

/* The request's headers as wasi:http fields, or an error naming the header.
 * A body goes with its content-length (unless the source set one), which
 * simple servers need: without it the body is sent chunked. */
static weir_error *build_headers(const weir_http_request *request,
                                 wasi_http_types_own_fields_t *fields) {
    *fields = wasi_http_types_constructor_fields();
    wasi_http_types_borrow_fields_t borrowed = wasi_http_types_borrow_fields(*fields);
    bool has_length = false;
    for (size_t i = 0; i < request->header_count; i++) {
        has_length |= strcasecmp(request->header_names[i], "content-length") == 0;
        if (!append_field(borrowed, request->header_names[i], request->header_values[i])) {
            wasi_http_types_fields_drop_own(*fields);
            return weir_http_error(WEIR_ERROR_FATAL, WEIR_HTTP_INVALID_REQUEST,
                                   "%s: header \"%s\" cannot be sent (invalid or forbidden)",
                                   request->url, request->header_names[i]);
        }
    }
    if (request->body_length > 0 && !has_length) {
        char length[24];
        weir_snprintf(length, sizeof length, "%zu", request->body_length);
        append_field(borrowed, "content-length", length);
    }
    return NULL;
}

/* The outgoing request for `request`, or an error naming what could not be set. */
static weir_error *build_request(const weir_http_request *request,
                                 wasi_http_types_own_outgoing_request_t *outgoing) {
    weir_url_parts parts;
    weir_error *error = weir_url_split(request->url, &parts);
    if (error != NULL) {
        return error;
    }
    wasi_http_types_own_fields_t headers;
    error = build_headers(request, &headers);
    if (error != NULL) {
        weir_url_parts_release(&parts);
        return error;
    }
    *outgoing = wasi_http_types_constructor_outgoing_request(headers);
    wasi_http_types_borrow_outgoing_request_t borrowed =
        wasi_http_types_borrow_outgoing_request(*outgoing);
    wasi_http_types_method_t method;
    set_method(&method, request->method);
    wasi_http_types_scheme_t scheme = {.tag = parts.https ? WASI_HTTP_TYPES_SCHEME_HTTPS
                                                          : WASI_HTTP_TYPES_SCHEME_HTTP};
    weir_bindings_string_t authority, path;
    weir_bindings_string_set(&authority, parts.authority);
    weir_bindings_string_set(&path, parts.path_with_query);
    const char *refused = NULL;
    if (!wasi_http_types_method_outgoing_request_set_method(borrowed, &method)) {
        refused = "method";
    } else if (!wasi_http_types_method_outgoing_request_set_scheme(borrowed, &scheme)) {
        refused = "scheme";
    } else if (!wasi_http_types_method_outgoing_request_set_authority(borrowed, &authority)) {
        refused = "host";
    } else if (!wasi_http_types_method_outgoing_request_set_path_with_query(borrowed, &path)) {
        refused = "path";
    }
    weir_url_parts_release(&parts);
    if (refused != NULL) {
        wasi_http_types_outgoing_request_drop_own(*outgoing);
        return weir_http_error(WEIR_ERROR_FATAL, WEIR_HTTP_INVALID_REQUEST,
                               "invalid URL %s: its %s cannot be sent", request->url, refused);
    }
    return NULL;
}

static weir_error *stream_failure(const char *url, const char *doing,
                                  wasi_io_streams_stream_error_t *stream_error) {
    if (stream_error->tag != WASI_IO_STREAMS_STREAM_ERROR_LAST_OPERATION_FAILED) {
        return weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_FAILED,
                               "request failed: %s (%s: the stream closed)", url, doing);
    }
    wasi_io_error_own_error_t io_error = stream_error->val.last_operation_failed;
    wasi_http_types_error_code_t code;
    weir_error *error;
    if (wasi_http_types_http_error_code(wasi_io_error_borrow_error(io_error), &code)) {
        error = error_from_code(url, &code);
    } else {
        weir_bindings_string_t detail;
        wasi_io_error_method_error_to_debug_string(wasi_io_error_borrow_error(io_error), &detail);
        error =
            weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_FAILED, "request failed: %s (%s: %.*s)",
                            url, doing, (int)detail.len, (const char *)detail.ptr);
        weir_bindings_string_free(&detail);
    }
    wasi_io_error_error_drop_own(io_error);
    return error;
}

/* Write the request body into `body` (a no-op for an empty one). */
static weir_error *write_body(const weir_http_request *request,
                              wasi_http_types_own_outgoing_body_t body) {
    if (request->body_length == 0) {
        return NULL;
    }
    wasi_http_types_own_output_stream_t stream;
    if (!wasi_http_types_method_outgoing_body_write(wasi_http_types_borrow_outgoing_body(body),
                                                    &stream)) {
        return weir_http_error(WEIR_ERROR_FATAL, WEIR_HTTP_INVALID_REQUEST,
                               "%s: the request body cannot be written", request->url);
    }
    weir_error *error = NULL;
    for (size_t at = 0; at < request->body_length && error == NULL; at += 4096) {
        size_t chunk = request->body_length - at < 4096 ? request->body_length - at : 4096;
        weir_bindings_list_u8_t bytes = {request->body + at, chunk};
        wasi_io_streams_stream_error_t stream_error;
        if (!wasi_io_streams_method_output_stream_blocking_write_and_flush(
                wasi_io_streams_borrow_output_stream(stream), &bytes, &stream_error)) {
            error = stream_failure(request->url, "writing the body", &stream_error);
        }
    }
    wasi_io_streams_output_stream_drop_own(stream);
    return error;
}

/* Send `outgoing` (taken over) with its body and wait for the response. */
static weir_error *exchange(const weir_http_request *request,
                            wasi_http_types_own_outgoing_request_t outgoing,
                            wasi_http_types_own_incoming_response_t *incoming) {
    wasi_http_types_own_outgoing_body_t body;
    if (!wasi_http_types_method_outgoing_request_body(
            wasi_http_types_borrow_outgoing_request(outgoing), &body)) {
        wasi_http_types_outgoing_request_drop_own(outgoing);
        return weir_http_error(WEIR_ERROR_FATAL, WEIR_HTTP_INVALID_REQUEST,
                               "%s: the request body cannot be opened", request->url);
    }
    weir_error *error = write_body(request, body);
    if (error != NULL) {
        wasi_http_types_outgoing_body_drop_own(body);
        wasi_http_types_outgoing_request_drop_own(outgoing);
        return error;
    }
    wasi_http_types_own_future_incoming_response_t future;
    wasi_http_types_error_code_t code;
    if (!wasi_http_outgoing_handler_handle(outgoing, NULL, &future, &code)) {
        wasi_http_types_outgoing_body_drop_own(body);
        return error_from_code(request->url, &code);
    }
    if (!wasi_http_types_static_outgoing_body_finish(body, NULL, &code)) {
        wasi_http_types_future_incoming_response_drop_own(future);
        return error_from_code(request->url, &code);
    }
    wasi_http_types_borrow_future_incoming_response_t waiting =
        wasi_http_types_borrow_future_incoming_response(future);
    wasi_http_types_own_pollable_t ready =
        wasi_http_types_method_future_incoming_response_subscribe(waiting);
    wasi_io_poll_method_pollable_block(wasi_io_poll_borrow_pollable(ready));
    wasi_io_poll_pollable_drop_own(ready);
    wasi_http_types_result_result_own_incoming_response_error_code_void_t outcome;
    bool answered = wasi_http_types_method_future_incoming_response_get(waiting, &outcome);
    wasi_http_types_future_incoming_response_drop_own(future);
    if (!answered || outcome.is_err) {
        return weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_FAILED,
                               "request failed: %s (no response)", request->url);
    }
    if (outcome.val.ok.is_err) {
        return error_from_code(request->url, &outcome.val.ok.val.err);
    }
    *incoming = outcome.val.ok.val.ok;
    return NULL;
}

static void read_headers(wasi_http_types_borrow_incoming_response_t incoming,
                         weir_http_response *response) {
    wasi_http_types_own_headers_t headers =
        wasi_http_types_method_incoming_response_headers(incoming);
    wasi_http_types_list_tuple2_field_name_field_value_t entries;
    wasi_http_types_method_fields_entries(wasi_http_types_borrow_fields(headers), &entries);
    response->header_count = entries.len;
    response->header_names = weir_xmalloc(entries.len * sizeof(char *));
    response->header_values = weir_xmalloc(entries.len * sizeof(char *));
    for (size_t i = 0; i < entries.len; i++) {
        char *name = weir_xstrndup((const char *)entries.ptr[i].f0.ptr, entries.ptr[i].f0.len);
        for (char *c = name; *c != '\0'; c++) {
            if (*c >= 'A' && *c <= 'Z') {
                *c = (char)(*c - 'A' + 'a');
            }
        }
        response->header_names[i] = name;
        response->header_values[i] =
            weir_xstrndup((const char *)entries.ptr[i].f1.ptr, entries.ptr[i].f1.len);
    }
    wasi_http_types_list_tuple2_field_name_field_value_free(&entries);
    wasi_http_types_fields_drop_own(headers);
}

static weir_error *read_stream(const char *url, wasi_io_streams_borrow_input_stream_t stream,
                               weir_buffer *body) {
    for (;;) {
        weir_bindings_list_u8_t chunk;
        wasi_io_streams_stream_error_t stream_error;
        if (!wasi_io_streams_method_input_stream_blocking_read(stream, 64 * 1024, &chunk,
                                                               &stream_error)) {
            if (stream_error.tag == WASI_IO_STREAMS_STREAM_ERROR_CLOSED) {
                return NULL;
            }
            return stream_failure(url, "reading the body", &stream_error);
        }
        weir_buffer_append(body, (const char *)chunk.ptr, chunk.len);
        weir_bindings_list_u8_free(&chunk);
    }
}

/* The whole body of `incoming` into `response`. */
static weir_error *read_body(const char *url, wasi_http_types_borrow_incoming_response_t incoming,
                             weir_http_response *response) {
    wasi_http_types_own_incoming_body_t body;
    if (!wasi_http_types_method_incoming_response_consume(incoming, &body)) {
        return weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_FAILED,
                               "request failed: %s (no body)", url);
    }
    wasi_http_types_own_input_stream_t stream;
    if (!wasi_http_types_method_incoming_body_stream(wasi_http_types_borrow_incoming_body(body),
                                                     &stream)) {
        wasi_http_types_incoming_body_drop_own(body);
        return weir_http_error(WEIR_ERROR_TRANSIENT, WEIR_HTTP_FAILED,
                               "request failed: %s (no body stream)", url);
    }
    weir_buffer bytes = {0};
    weir_buffer_reserve(&bytes, 0);
    weir_error *error = read_stream(url, wasi_io_streams_borrow_input_stream(stream), &bytes);
    wasi_io_streams_input_stream_drop_own(stream);
    wasi_http_types_future_trailers_drop_own(wasi_http_types_static_incoming_body_finish(body));
    if (error != NULL) {
        weir_buffer_free(&bytes);
        return error;
    }
    response->body = (uint8_t *)weir_buffer_take(&bytes, &response->body_length);
    return NULL;
}

weir_error *weir_http_send(const weir_http_request *request, weir_http_response **response) {
    *response = NULL;
    wasi_http_types_own_outgoing_request_t outgoing;
    weir_error *error = build_request(request, &outgoing);
    if (error != NULL) {
        return error;
    }
    wasi_http_types_own_incoming_response_t incoming;
    error = exchange(request, outgoing, &incoming);
    if (error != NULL) {
        return error;
    }
    weir_http_response *result = weir_xmalloc(sizeof *result);
    memset(result, 0, sizeof *result);
    wasi_http_types_borrow_incoming_response_t borrowed =
        wasi_http_types_borrow_incoming_response(incoming);
    result->status = wasi_http_types_method_incoming_response_status(borrowed);
    read_headers(borrowed, result);
    error = read_body(request->url, borrowed, result);
    wasi_http_types_incoming_response_drop_own(incoming);
    if (error != NULL) {
        weir_http_response_free(result);
        return error;
    }
    *response = result;
    return NULL;
}
