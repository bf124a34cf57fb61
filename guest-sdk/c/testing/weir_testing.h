/* weir_testing.h: run a C source's own functions natively, without Weir, in
 * unit tests: config, secrets, logs and HTTP are answered from memory, and a
 * page or a push comes back as plain strings to compare. Link the test with
 * weir_testing.c and the SDK's portable files (everything in src/ but
 * export.c, http.c and push.c); `.ci/languages/c.sh test` shows how. */
#ifndef WEIR_TESTING_H
#define WEIR_TESTING_H

#include "weir.h"

/* Forget every config value, secret, log line and HTTP answer. */
void weir_testing_reset(void);
/* Set (or, with NULL, unset) the config value `key`. */
void weir_testing_set_config(const char *key, const char *value);
/* Set (or, with NULL, unset) the secret `key`. */
void weir_testing_set_secret(const char *key, const char *value);
/* Every log line so far, each as "LEVEL MESSAGE\n" (LEVEL: trace, debug,
 * info, warn, error). */
const char *weir_testing_logs(void);
/* Answer requests to `url` with `status` and `body`; any other URL is refused
 * as a host that was not granted. */
void weir_testing_http_respond(const char *url, uint16_t status, const char *body);

/* A page as `next` returned it. */
typedef struct weir_testing_page {
    size_t entity_count;
    char **entities;      /* JSON text */
    char **location_keys; /* NULL where none */
    char *cursor;         /* NULL on the last page */
} weir_testing_page;

/* Run the exported source's `next` with `context` after `cursor` (JSON text,
 * or NULL for the first page), as the host would. */
weir_error *weir_testing_next(void *context, const char *cursor, weir_testing_page *page);
void weir_testing_page_free(weir_testing_page *page);

/* A push's outcome. */
typedef struct weir_testing_outcome {
    size_t upsert_count;
    char **upserts; /* JSON text */
    size_t removal_count;
    char **removals;
} weir_testing_outcome;

/* Hand the exported push handler an event: `header_count` pairs of
 * (name, value) in `headers`, and `body`. */
weir_error *weir_testing_push(const char *const headers[][2], size_t header_count, const char *body,
                              weir_testing_outcome *outcome);
void weir_testing_outcome_free(weir_testing_outcome *outcome);

#endif /* WEIR_TESTING_H */
