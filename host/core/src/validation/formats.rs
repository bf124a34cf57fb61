//! The string formats of Backstage's `KubernetesValidatorFunctions`,
//! `CommonValidatorFunctions` and `makeValidator` (catalog-model 1.10), as
//! plain functions: each regular expression there is spelled out in the doc
//! comment of the function that implements it.

use super::{At, Report, quoted};

/// A named string format and the rule shown when a value breaks it.
pub(super) struct Format {
    what: &'static str,
    rule: &'static str,
    test: fn(&str) -> bool,
}

impl Format {
    /// Reports `text` at `at` unless it has this format.
    pub(super) fn check(&self, text: &str, at: &impl At, report: &mut Report) {
        if !(self.test)(text) {
            report.add(
                at,
                format!(
                    "{} is not a valid {}; expected {}",
                    quoted(text),
                    self.what,
                    self.rule
                ),
            );
        }
    }
}

const NAME_RULE: &str =
    "sequences of [a-zA-Z0-9] separated by any of [-_.], at most 63 characters in total";
const KEY_RULE: &str = "an optional DNS subdomain prefix and '/', then sequences of \
     [a-zA-Z0-9] separated by any of [-_.], at most 63 characters";

pub(super) const API_VERSION: Format = Format {
    what: "apiVersion",
    rule: "an optional DNS subdomain prefix and '/', then 1-63 letters and digits, \
           e.g. backstage.io/v1alpha1",
    test: is_api_version,
};

pub(super) const KIND: Format = Format {
    what: "kind",
    rule: "a letter followed by letters and digits, at most 63 characters in total",
    test: is_kind,
};

pub(super) const NAME: Format = Format {
    what: "name",
    rule: NAME_RULE,
    test: is_object_name,
};

pub(super) const NAMESPACE: Format = Format {
    what: "namespace",
    rule: "sequences of [a-z0-9] separated by [-], at most 63 characters in total",
    test: is_dns_label,
};

pub(super) const LABEL_KEY: Format = Format {
    what: "label key",
    rule: KEY_RULE,
    test: is_key,
};

pub(super) const LABEL_VALUE: Format = Format {
    what: "label value",
    rule: "an empty string or sequences of [a-zA-Z0-9] separated by any of [-_.], \
           at most 63 characters in total",
    test: is_label_value,
};

pub(super) const ANNOTATION_KEY: Format = Format {
    what: "annotation key",
    rule: KEY_RULE,
    test: is_key,
};

pub(super) const TAG: Format = Format {
    what: "tag",
    rule: "sequences of [a-z0-9:+#] separated by [-], at most 63 characters in total",
    test: is_tag,
};

const MAX_NAME_LENGTH: usize = 63;
const MAX_SUBDOMAIN_LENGTH: usize = 253;

/// Every pattern here is ASCII-only, so a byte length equals the character
/// count JavaScript checks whenever the pattern can match at all.
fn length_ok(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
}

/// `isValidObjectName`: 1–63 characters,
/// `^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$`.
fn is_object_name(text: &str) -> bool {
    let inner = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.');
    length_ok(text, MAX_NAME_LENGTH)
        && text.chars().all(inner)
        && starts_and_ends_with(text, |c| c.is_ascii_alphanumeric())
}

/// `isValidDnsLabel` (and so `isValidNamespace`): 1–63 characters,
/// `^[a-z0-9]+(?:\-+[a-z0-9]+)*$`.
fn is_dns_label(text: &str) -> bool {
    let word = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    length_ok(text, MAX_NAME_LENGTH)
        && text.chars().all(|c| word(c) || c == '-')
        && starts_and_ends_with(text, word)
}

/// `isValidDnsSubdomain`: 1–253 characters, DNS labels separated by `.`.
fn is_dns_subdomain(text: &str) -> bool {
    length_ok(text, MAX_SUBDOMAIN_LENGTH) && text.split('.').all(is_dns_label)
}

/// `isValidKind`: 1–63 characters, `^[a-zA-Z][a-z0-9A-Z]*$`.
fn is_kind(text: &str) -> bool {
    length_ok(text, MAX_NAME_LENGTH)
        && text.chars().all(|c| c.is_ascii_alphanumeric())
        && text.starts_with(|c: char| c.is_ascii_alphabetic())
}

/// `isValidApiVersion`: `[<DNS subdomain>/]<version>`, the version 1–63
/// characters of `^[a-z0-9A-Z]+$`.
fn is_api_version(text: &str) -> bool {
    prefix_and_or_suffix(text, |version| {
        length_ok(version, MAX_NAME_LENGTH) && version.chars().all(|c| c.is_ascii_alphanumeric())
    })
}

/// `isValidLabelKey` and `isValidAnnotationKey`: `[<DNS subdomain>/]<name>`.
fn is_key(text: &str) -> bool {
    prefix_and_or_suffix(text, is_object_name)
}

/// `isValidLabelValue`: empty, or an object name.
fn is_label_value(text: &str) -> bool {
    text.is_empty() || is_object_name(text)
}

/// The tag check of `makeValidator`: 1–63 characters,
/// `^[a-z0-9:+#]+(\-[a-z0-9:+#]+)*$`.
fn is_tag(text: &str) -> bool {
    let word =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, ':' | '+' | '#');
    length_ok(text, MAX_NAME_LENGTH)
        && text
            .split('-')
            .all(|part| !part.is_empty() && part.chars().all(word))
}

/// `isValidPrefixAndOrSuffix` with `/`: one part is the suffix; two are a
/// DNS-subdomain prefix and the suffix; more are never valid.
fn prefix_and_or_suffix(text: &str, is_suffix: fn(&str) -> bool) -> bool {
    let mut parts = text.split('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(suffix), None, None) => is_suffix(suffix),
        (Some(prefix), Some(suffix), None) => is_dns_subdomain(prefix) && is_suffix(suffix),
        _ => false,
    }
}

fn starts_and_ends_with(text: &str, allowed: impl Fn(char) -> bool) -> bool {
    text.starts_with(&allowed) && text.ends_with(&allowed)
}

/// JavaScript's `String.prototype.trim` also strips U+FEFF, which Rust does
/// not count as white space.
pub(super) fn is_blank(text: &str) -> bool {
    text.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
        .is_empty()
}

/// `isValidUrl`: what the WHATWG URL parser accepts (`new URL(value)`).
pub(super) fn is_url(text: &str) -> bool {
    url::Url::parse(text).is_ok()
}

#[cfg(test)]
mod tests {
    use super::super::FieldPath;
    use super::*;

    fn accepts(test: fn(&str) -> bool, good: &[&str], bad: &[&str]) {
        for text in good {
            assert!(test(text), "should accept {text:?}");
        }
        for text in bad {
            assert!(!test(text), "should refuse {text:?}");
        }
    }

    #[test]
    fn names_allow_dots_underscores_and_hyphens_inside() {
        let longest = "a".repeat(63);
        let too_long = "a".repeat(64);
        accepts(
            is_object_name,
            &[
                "a",
                "Z",
                "0",
                "a.b",
                "a_b",
                "a-b",
                "breanna.davison",
                "team_a",
                "CamelCase",
                "a..b",
                "a-_.b",
                "1.0.0",
                "go1.15.3",
                &longest,
            ],
            &[
                "",
                ".a",
                "a.",
                "_a",
                "a_",
                "-a",
                "a-",
                "invalid component",
                "a/b",
                "a:b",
                "é",
                "a\n",
                &too_long,
            ],
        );
    }

    #[test]
    fn namespaces_are_dns_labels() {
        accepts(
            is_dns_label,
            &["default", "a", "team-a", "a--b", "0", &"a".repeat(63)],
            &[
                "",
                "Default",
                "a_b",
                "a.b",
                "-a",
                "a-",
                "a b",
                &"a".repeat(64),
            ],
        );
    }

    #[test]
    fn dns_subdomains_are_dotted_labels_up_to_253_characters() {
        let label = "a".repeat(63);
        let long = [label.as_str(); 4].join(".");
        assert_eq!(long.len(), 255);
        accepts(
            is_dns_subdomain,
            &[
                "backstage.io",
                "a",
                "a-b.c-d.e",
                long[..253].trim_end_matches('.'),
            ],
            &["", ".io", "a..b", "Backstage.io", "a_b.io", &long],
        );
    }

    #[test]
    fn kinds_start_with_a_letter() {
        accepts(
            is_kind,
            &["Component", "API", "a", "Kind2", &"K".repeat(63)],
            &[
                "",
                "2Kind",
                "my-kind",
                "my_kind",
                "Kind.",
                "Ki nd",
                &"K".repeat(64),
            ],
        );
    }

    #[test]
    fn api_versions_have_an_optional_group() {
        accepts(
            is_api_version,
            &[
                "backstage.io/v1alpha1",
                "backstage.io/v1beta1",
                "scaffolder.backstage.io/v1beta3",
                "my-company.net/v1",
                "v1",
                "V1Alpha",
            ],
            &[
                "",
                "1.0",
                "backstage.io/",
                "/v1",
                "backstage.io/v1/extra",
                "Backstage.io/v1",
                "backstage.io/v1-alpha",
                "backstage.io/v1_alpha",
                &format!("backstage.io/{}", "v".repeat(64)),
            ],
        );
    }

    #[test]
    fn keys_have_an_optional_dns_prefix_and_a_name() {
        accepts(
            is_key,
            &[
                "backstage.io/techdocs-ref",
                "buildkite.com/project-slug",
                "product_name",
                "docs",
                "a.b/C_d.e",
                "goVersion",
            ],
            &[
                "",
                "/a",
                "a/",
                "a/b/c",
                "Backstage.io/x",
                "backstage.io/-x",
                "with space",
                "example.com/with space",
            ],
        );
    }

    #[test]
    fn label_values_may_be_empty() {
        accepts(
            is_label_value,
            &["", "go1.15.3", "music", "a_b"],
            &[" ", "Random value Generator", "a-"],
        );
    }

    #[test]
    fn tags_are_lower_case_words_joined_by_single_hyphens() {
        accepts(
            is_tag,
            &[
                "java",
                "c++",
                "c#",
                "a:b",
                "a-b",
                "a-b-c",
                "0",
                "go",
                "+",
                ":",
                &"a".repeat(63),
            ],
            &[
                "",
                "Java",
                "a--b",
                "-a",
                "a-",
                "a_b",
                "a.b",
                "go 1.15.3",
                "Experimental",
                &"a".repeat(64),
            ],
        );
    }

    #[test]
    fn blank_matches_javascript_trim() {
        accepts(
            is_blank,
            &["", " ", "\t\n", "\u{feff}", "\u{a0}"],
            &["a", " a "],
        );
    }

    #[test]
    fn urls_follow_the_whatwg_parser() {
        accepts(
            is_url,
            &[
                "https://example.com",
                "http://example.com/domain/artists/",
                "mailto:team@example.com",
                "slack://channel",
                "file:///tmp/x",
            ],
            &[
                "",
                "example.com",
                "/relative/path",
                "https://",
                "http://exa mple.com",
            ],
        );
    }

    #[test]
    fn problems_quote_the_value_and_name_the_rule() {
        let mut report = Report::default();
        NAME.check(
            "invalid component",
            &FieldPath::root().key("name"),
            &mut report,
        );
        TAG.check("ok", &FieldPath::root().key("tag"), &mut report);
        let problems = report.into_problems();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].field.to_string(), "name");
        assert_eq!(
            problems[0].message,
            "\"invalid component\" is not a valid name; expected sequences of [a-zA-Z0-9] \
             separated by any of [-_.], at most 63 characters in total"
        );
    }
}
