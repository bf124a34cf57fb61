/* http_request.c: the plain-C half of the HTTP client: requests, URLs,
 * responses and the status rule. Sending them over wasi:http is http.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

weir_http_request *weir_http_request_new(const char *method, const char *url) {
    weir_http_request *request = weir_xmalloc(sizeof *request);
    memset(request, 0, sizeof *request);
    request->method = weir_xstrdup(method);
    request->url = weir_xstrdup(url);
    return request;
}

void weir_http_request_header(weir_http_request *request, const char *name, const char *value) {
    if (request->header_count == request->header_capacity) {
        request->header_capacity = request->header_capacity == 0 ? 8 : request->header_capacity * 2;
        size_t size = request->header_capacity * sizeof(char *);
        request->header_names = weir_xrealloc(request->header_names, size);
        request->header_values = weir_xrealloc(request->header_values, size);
    }
    request->header_names[request->header_count] = weir_xstrdup(name);
    request->header_values[request->header_count] = weir_xstrdup(value);
    request->header_count++;
}

void weir_http_request_body(weir_http_request *request, const void *body, size_t length) {
    free(request->body);
    request->body = (uint8_t *)weir_xstrndup(body, length);
    request->body_length = length;
}

void weir_http_request_free(weir_http_request *request) {
    if (request == NULL) {
        return;
    }
    for (size_t i = 0; i < request->header_count; i++) {
        free(request->header_names[i]);
        free(request->header_values[i]);
    }
    free(request->header_names);
    free(request->header_values);
    free(request->method);
    free(request->url);
    free(request->body);
    free(request);
}

weir_error *weir_http_error(weir_error_kind kind, weir_http_failure failure, const char *format,
                            ...) {
    va_list args;
    va_start(args, format);
    weir_error *error = weir_error_verror(kind, format, args);
    va_end(args);
    error->http = failure;
    return error;
}

static weir_error *invalid_url(const char *url, const char *why) {
    return weir_http_error(WEIR_ERROR_FATAL, WEIR_HTTP_INVALID_REQUEST, "invalid URL %s: %s", url,
                           why);
}

weir_error *weir_url_split(const char *url, weir_url_parts *parts) {
    memset(parts, 0, sizeof *parts);
    const char *separator = strstr(url, "://");
    if (separator == NULL) {
        return invalid_url(url, "expected http:// or https://");
    }
    size_t scheme_length = (size_t)(separator - url);
    if (scheme_length == 5 && strncasecmp(url, "https", 5) == 0) {
        parts->https = true;
    } else if (!(scheme_length == 4 && strncasecmp(url, "http", 4) == 0)) {
        return invalid_url(url, "expected http or https");
    }
    const char *rest = separator + 3;
    size_t without_fragment = strcspn(rest, "#");
    size_t authority_length = strcspn(rest, "/?#");
    if (authority_length == 0) {
        return invalid_url(url, "no host");
    }
    parts->authority = weir_xstrndup(rest, authority_length);
    const char *path = rest + authority_length;
    size_t path_length = without_fragment - authority_length;
    if (path_length == 0) {
        parts->path_with_query = weir_xstrdup("/");
    } else if (path[0] == '?') {
        parts->path_with_query = weir_format("/%.*s", (int)path_length, path);
    } else {
        parts->path_with_query = weir_xstrndup(path, path_length);
    }
    return NULL;
}

void weir_url_parts_release(weir_url_parts *parts) {
    free(parts->authority);
    free(parts->path_with_query);
    memset(parts, 0, sizeof *parts);
}

weir_error *weir_http_get(const char *url, weir_http_response **response) {
    weir_http_request *request = weir_http_request_new("GET", url);
    weir_http_request_header(request, "accept", "application/json");
    weir_error *error = weir_http_send(request, response);
    weir_http_request_free(request);
    return error;
}

const char *weir_http_response_header(const weir_http_response *response, const char *name) {
    for (size_t i = 0; i < response->header_count; i++) {
        if (strcasecmp(response->header_names[i], name) == 0) {
            return response->header_values[i];
        }
    }
    return NULL;
}

weir_error *weir_http_response_json(const weir_http_response *response, const char *url,
                                    weir_json_value **value) {
    weir_json_error reason;
    *value = weir_json_parse((const char *)response->body, response->body_length, &reason);
    if (*value == NULL) {
        return weir_error_fatal("%s: the response is not JSON: %s", url, reason.message);
    }
    return NULL;
}

weir_error *weir_http_status_error(const weir_http_response *response, const char *url) {
    uint16_t status = response->status;
    if (status >= 200 && status <= 299) {
        return NULL;
    }
    if (status == 429 || (status >= 500 && status <= 599)) {
        const char *retry_after = weir_http_response_header(response, "retry-after");
        if (retry_after != NULL) {
            return weir_error_transient("%s: HTTP %u (Retry-After: %s)", url, status, retry_after);
        }
        return weir_error_transient("%s: HTTP %u", url, status);
    }
    return weir_error_fatal("%s: HTTP %u", url, status);
}

void weir_http_response_free(weir_http_response *response) {
    if (response == NULL) {
        return;
    }
    for (size_t i = 0; i < response->header_count; i++) {
        free(response->header_names[i]);
        free(response->header_values[i]);
    }
    free(response->header_names);
    free(response->header_values);
    free(response->body);
    free(response);
}
