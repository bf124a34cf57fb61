/* page.c: the page `next` fills, the cursor it resumes from, and the checks
 * that turn a half-filled page into an error naming what is missing. */
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void weir_page_init(weir_page *page) {
    memset(page, 0, sizeof *page);
    weir_json_writer_init(&page->cursor);
}

void weir_page_release(weir_page *page) {
    weir_entity_list_release(&page->entities);
    weir_json_writer_release(&page->cursor);
}

void weir_page_add(weir_page *page, weir_entity *entity) {
    weir_entity_list_add(&page->entities, entity);
}

size_t weir_page_entity_count(const weir_page *page) {
    return page->entities.count;
}

weir_json_writer *weir_page_more(weir_page *page) {
    page->end = WEIR_PAGE_MORE;
    page->cursor.out.length = 0;
    weir_json_writer_restart(&page->cursor);
    return &page->cursor;
}

void weir_page_more_int(weir_page *page, int64_t cursor) {
    weir_json_int(weir_page_more(page), cursor);
}

void weir_page_more_field_int(weir_page *page, const char *key, int64_t cursor) {
    weir_json_writer *writer = weir_page_more(page);
    weir_json_object_begin(writer);
    weir_json_key(writer, key);
    weir_json_int(writer, cursor);
    weir_json_object_end(writer);
}

void weir_page_more_json(weir_page *page, const char *cursor_json) {
    weir_json_raw(weir_page_more(page), cursor_json);
}

void weir_page_last(weir_page *page) {
    page->end = WEIR_PAGE_LAST;
}

weir_error *weir_page_finish(weir_page *page, char **cursor, size_t *cursor_length) {
    *cursor = NULL;
    *cursor_length = 0;
    if (page->entities.error != NULL) {
        return weir_error_fatal("%s", page->entities.error);
    }
    if (page->end == WEIR_PAGE_UNSET) {
        return weir_error_fatal("`next` returned a page without weir_page_more() or "
                                "weir_page_last(): the SDK cannot tell whether more pages follow");
    }
    if (page->end == WEIR_PAGE_LAST) {
        return NULL;
    }
    const char *reason;
    if (!weir_json_writer_complete(&page->cursor, &reason)) {
        return weir_error_fatal("the next cursor's JSON writer: %s", reason);
    }
    size_t valid = weir_utf8_valid_prefix(page->cursor.out.data, page->cursor.out.length);
    if (valid != page->cursor.out.length) {
        return weir_error_fatal("the next cursor is not valid UTF-8 (at byte %zu)", valid);
    }
    *cursor = weir_buffer_take(&page->cursor.out, cursor_length);
    return NULL;
}

weir_error *weir_source_next(const weir_source *source, void *context, const weir_cursor *cursor,
                             weir_page *page, char **next_cursor, size_t *next_length) {
    *next_cursor = NULL;
    *next_length = 0;
    if (source->next == NULL) {
        return weir_error_fatal("the exported weir_source has no `next` function");
    }
    weir_error *error = source->next(context, cursor, page);
    if (error != NULL) {
        return error;
    }
    return weir_page_finish(page, next_cursor, next_length);
}

void weir_cursor_init(weir_cursor *cursor, const char *text, size_t length) {
    char *copy = weir_xstrndup(text, length);
    cursor->text = copy;
    cursor->length = length;
    cursor->value = weir_json_parse(copy, length, NULL);
}

void weir_cursor_release(weir_cursor *cursor) {
    free((char *)cursor->text);
    weir_json_free((weir_json_value *)cursor->value);
    memset(cursor, 0, sizeof *cursor);
}

/* The fatal error for a stored cursor that is not what the source writes. */
static weir_error *unexpected_cursor(const weir_cursor *cursor, const char *expected) {
    return weir_error_fatal("the stored cursor %.200s is not %s; reset the source to start a "
                            "new cycle",
                            cursor->text, expected);
}

weir_error *weir_cursor_int(const weir_cursor *cursor, int64_t *value) {
    if (!weir_json_to_int(cursor->value, value)) {
        return unexpected_cursor(cursor, "an integer");
    }
    return NULL;
}

weir_error *weir_cursor_field_int(const weir_cursor *cursor, const char *key, int64_t *value) {
    if (!weir_json_to_int(weir_json_get(cursor->value, key), value)) {
        char *expected = weir_format("an object with an integer \"%s\"", key);
        weir_error *error = unexpected_cursor(cursor, expected);
        free(expected);
        return error;
    }
    return NULL;
}
