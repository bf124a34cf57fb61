/* push_event.c: what a push handler reads (the event's headers and body) and
 * fills (the outcome's upserts and removals). The `push` export itself, which
 * builds these from the bindings, is in push.c. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "internal.h"

const char *weir_push_event_header(const weir_push_event *event, const char *name) {
    for (size_t i = 0; i < event->header_count; i++) {
        if (strcasecmp(event->header_names[i], name) == 0) {
            return event->header_values[i];
        }
    }
    return NULL;
}

size_t weir_push_event_header_count(const weir_push_event *event) {
    return event->header_count;
}

const char *weir_push_event_header_at(const weir_push_event *event, size_t index,
                                      const char **value) {
    if (index >= event->header_count) {
        return NULL;
    }
    if (value != NULL) {
        *value = event->header_values[index];
    }
    return event->header_names[index];
}

const uint8_t *weir_push_event_body(const weir_push_event *event, size_t *length) {
    if (length != NULL) {
        *length = event->body_length;
    }
    return event->body;
}

weir_error *weir_push_event_json(const weir_push_event *event, weir_json_value **value) {
    weir_json_error reason;
    *value = weir_json_parse((const char *)event->body, event->body_length, &reason);
    if (*value == NULL) {
        return weir_error_fatal("the pushed body is not JSON: %s", reason.message);
    }
    return NULL;
}

void weir_push_outcome_upsert(weir_push_outcome *outcome, weir_entity *entity) {
    weir_entity_list_add(&outcome->upserts, entity);
}

void weir_push_outcome_remove(weir_push_outcome *outcome, const char *entity_ref) {
    if (outcome->removal_count == outcome->removal_capacity) {
        outcome->removal_capacity =
            outcome->removal_capacity == 0 ? 8 : outcome->removal_capacity * 2;
        outcome->removals =
            weir_xrealloc(outcome->removals, outcome->removal_capacity * sizeof(char *));
    }
    outcome->removals[outcome->removal_count++] =
        weir_utf8_lossy(entity_ref, strlen(entity_ref), NULL);
}

void weir_push_outcome_release(weir_push_outcome *outcome) {
    weir_entity_list_release(&outcome->upserts);
    for (size_t i = 0; i < outcome->removal_count; i++) {
        free(outcome->removals[i]);
    }
    free(outcome->removals);
    memset(outcome, 0, sizeof *outcome);
}

weir_error *weir_push_run(weir_push_handler *handler, const weir_push_event *event,
                          weir_push_outcome *outcome) {
    memset(outcome, 0, sizeof *outcome);
    weir_error *error = handler(event, outcome);
    if (error == NULL && outcome->upserts.error != NULL) {
        error = weir_error_fatal("%s", outcome->upserts.error);
    }
    return error;
}
