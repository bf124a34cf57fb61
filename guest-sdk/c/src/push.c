/* push.c: the optional `push` export, over the generated push bindings
 * (gen/weir_push_bindings.h). The SDK's build puts this file, those bindings
 * and their component-type object in an archive of their own: they are
 * linked only when a source uses WEIR_EXPORT_PUSH (which calls
 * weir_link_push_export()), so only such a source exports `push`. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"
#include "weir_push_bindings.h"

void weir_link_push_export(void) {
}

/* The event as the handler sees it: NUL-terminated copies of the headers;
 * the body is taken over. `event` is left empty. */
static void read_event(exports_weir_source_push_push_event_t *event, weir_push_event *out) {
    size_t count = event->headers.len;
    out->header_count = count;
    out->header_names = weir_xmalloc(count * sizeof(char *));
    out->header_values = weir_xmalloc(count * sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        weir_push_bindings_tuple2_string_string_t *header = &event->headers.ptr[i];
        out->header_names[i] = weir_xstrndup((const char *)header->f0.ptr, header->f0.len);
        out->header_values[i] = weir_xstrndup((const char *)header->f1.ptr, header->f1.len);
    }
    out->body_length = event->body.len;
    out->body = (uint8_t *)weir_xstrndup((const char *)event->body.ptr, event->body.len);
    exports_weir_source_push_push_event_free(event);
}

static void release_event(weir_push_event *event) {
    for (size_t i = 0; i < event->header_count; i++) {
        free(event->header_names[i]);
        free(event->header_values[i]);
    }
    free(event->header_names);
    free(event->header_values);
    free(event->body);
}

static weir_push_bindings_string_t host_string(const char *text) {
    weir_push_bindings_string_t result;
    result.ptr = weir_host_text(text, strlen(text), &result.len);
    return result;
}

static void to_source_error(weir_error *error, weir_push_types_source_error_t *out) {
    out->tag = error->kind == WEIR_ERROR_TRANSIENT ? WEIR_PUSH_TYPES_SOURCE_ERROR_TRANSIENT
                                                   : WEIR_PUSH_TYPES_SOURCE_ERROR_FATAL;
    if (out->tag == WEIR_PUSH_TYPES_SOURCE_ERROR_TRANSIENT) {
        out->val.transient = host_string(error->message);
    } else {
        out->val.fatal = host_string(error->message);
    }
    weir_error_free(error);
}

/* The outcome as the contract's push-result; entity texts are moved. */
static void write_result(weir_push_outcome *outcome, exports_weir_source_push_push_result_t *ret) {
    weir_entity_list *upserts = &outcome->upserts;
    ret->upserts.len = upserts->count;
    ret->upserts.ptr = NULL;
    if (upserts->count > 0) {
        ret->upserts.ptr = weir_xmalloc(upserts->count * sizeof(weir_push_types_entity_t));
    }
    for (size_t i = 0; i < upserts->count; i++) {
        weir_entity *entity = &upserts->items[i];
        weir_push_types_entity_t *out = &ret->upserts.ptr[i];
        out->json = (weir_push_bindings_string_t){(uint8_t *)entity->json, entity->length};
        entity->json = NULL;
        out->location_key.is_some = entity->location_key != NULL;
        if (entity->location_key != NULL) {
            out->location_key.val = host_string(entity->location_key);
        }
    }
    ret->removals.len = outcome->removal_count;
    ret->removals.ptr = NULL;
    if (outcome->removal_count > 0) {
        ret->removals.ptr =
            weir_xmalloc(outcome->removal_count * sizeof(weir_push_bindings_string_t));
    }
    for (size_t i = 0; i < outcome->removal_count; i++) {
        ret->removals.ptr[i] = host_string(outcome->removals[i]);
    }
}

bool exports_weir_source_push_handle(exports_weir_source_push_push_event_t *event,
                                     exports_weir_source_push_push_result_t *ret,
                                     weir_push_types_source_error_t *err) {
    weir_push_event received;
    read_event(event, &received);
    weir_push_outcome outcome;
    weir_error *error = weir_push_run(weir_exported_push_handler(), &received, &outcome);
    release_event(&received);
    if (error != NULL) {
        weir_push_outcome_release(&outcome);
        to_source_error(error, err);
        return false;
    }
    write_result(&outcome, ret);
    weir_push_outcome_release(&outcome);
    return true;
}
