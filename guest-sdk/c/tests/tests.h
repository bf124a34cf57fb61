/* tests.h: every native test of the SDK, for the runner in test_main.c. */
#ifndef WEIR_TESTS_H
#define WEIR_TESTS_H

void test_strings_are_escaped_per_rfc_8259(void);
void test_invalid_utf8_becomes_the_replacement_character(void);
void test_objects_and_arrays_get_their_commas(void);
void test_numbers_are_written_in_their_shortest_form(void);
void test_writer_misuse_is_named(void);
void test_the_formatter_prints_what_printf_prints(void);
void test_json_is_parsed_into_a_tree(void);
void test_invalid_json_is_refused_with_a_reason(void);
void test_the_builder_writes_the_backstage_envelope(void);
void test_set_fields_are_replaced_in_place(void);
void test_a_misused_builder_fails_its_page(void);
void test_entities_from_json_text_are_checked_for_utf8(void);
void test_pages_need_an_end_and_carry_the_cursor(void);
void test_cursors_are_read_back_or_named(void);
void test_integers_parse_strictly(void);
void test_a_source_runs_natively_with_weir_testing(void);
void test_push_events_and_outcomes(void);
void test_urls_and_statuses_for_http(void);
void test_errors_keep_their_kind(void);

#endif /* WEIR_TESTS_H */
