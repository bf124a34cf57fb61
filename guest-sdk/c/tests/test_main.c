/* test_main.c: runs the SDK's native tests (`.ci/languages/c.sh test`). */
#include "check.h"
#include "tests.h"

int main(void) {
    static const test_case tests[] = {
        {"strings are escaped per RFC 8259", test_strings_are_escaped_per_rfc_8259},
        {"invalid UTF-8 becomes U+FFFD", test_invalid_utf8_becomes_the_replacement_character},
        {"objects and arrays get their commas", test_objects_and_arrays_get_their_commas},
        {"numbers are written in their shortest form",
         test_numbers_are_written_in_their_shortest_form},
        {"writer misuse is named", test_writer_misuse_is_named},
        {"the formatter prints what printf prints", test_the_formatter_prints_what_printf_prints},
        {"JSON is parsed into a tree", test_json_is_parsed_into_a_tree},
        {"invalid JSON is refused with a reason", test_invalid_json_is_refused_with_a_reason},
        {"the builder writes the Backstage envelope",
         test_the_builder_writes_the_backstage_envelope},
        {"set fields are replaced in place", test_set_fields_are_replaced_in_place},
        {"a misused builder fails its page", test_a_misused_builder_fails_its_page},
        {"entities from JSON text are checked for UTF-8",
         test_entities_from_json_text_are_checked_for_utf8},
        {"pages need an end and carry the cursor", test_pages_need_an_end_and_carry_the_cursor},
        {"cursors are read back or named", test_cursors_are_read_back_or_named},
        {"integers parse strictly", test_integers_parse_strictly},
        {"a source runs natively with weir_testing", test_a_source_runs_natively_with_weir_testing},
        {"push events and outcomes", test_push_events_and_outcomes},
        {"URLs and statuses for HTTP", test_urls_and_statuses_for_http},
        {"errors keep their kind", test_errors_keep_their_kind},
    };
    return run_tests("c-sdk", tests, sizeof tests / sizeof tests[0]);
}
