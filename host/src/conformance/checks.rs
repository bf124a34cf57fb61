//! Each check of the generic contract, as a pure function from what was read
//! ([`super::reading`]) to a [`CheckResult`]: what differed, or what was seen.

use std::collections::HashMap;

use serde_json::Value;

use super::guest_log::GuestLine;
use super::reading::{CycleEnd, CycleSeen, EntitySeen, Failure, PageSeen};
use super::report::CheckResult;
use crate::runtime::{SourceError, SourceErrorKind};

/// How many hex digits of a hash a message shows.
const SHORT_HASH: usize = 12;

/// The provider name, from the plugin as loaded and from a second, fresh load.
pub(crate) fn provider_name(first: &str, second: Result<String, String>) -> CheckResult {
    const NAME: &str = "provider-name";
    match second {
        Ok(second) if second == first => CheckResult::passed(
            NAME,
            format!("`{first}`, the same from a second, fresh load"),
        ),
        Ok(second) => CheckResult::from_problems(
            NAME,
            vec![format!(
                "`{first}` at the first load, `{second}` at the second: the host stores \
                 cursors and entities under this name, so it must never change"
            )],
            "",
        ),
        Err(error) => CheckResult::from_problems(
            NAME,
            vec![format!("a second load of the plugin failed: {error}")],
            "",
        ),
    }
}

/// The whole cycle, read in one burst.
pub(crate) fn cycle(cycle: &CycleSeen, max_pages: usize) -> CheckResult {
    const NAME: &str = "cycle";
    let pages = cycle.pages.len();
    let entities: usize = cycle.pages.iter().map(|page| page.entities.len()).sum();
    let mut problems = Vec::new();
    match &cycle.end {
        CycleEnd::Done => {}
        CycleEnd::Failed(failure) => problems.push(format!(
            "{} failed after {pages} pages: {}",
            failure.place(),
            failure.error
        )),
        CycleEnd::Capped => problems.push(format!(
            "not done after {max_pages} pages (the page cap; raise it with --max-pages if the \
             cycle really is longer)"
        )),
        CycleEnd::Looped { cursor, first } => problems.push(format!(
            "page {pages} returned the cursor {cursor}, which page {} returned already: the \
             cycle would never end",
            first + 1
        )),
    }
    if let Some(failure) = &cycle.close {
        problems.push(format!("{} failed: {}", failure.place(), failure.error));
    }
    CheckResult::from_problems(
        NAME,
        problems,
        format!("{pages} pages, {entities} entities, in one burst, then closed"),
    )
}

/// The same cycle read one page per burst, each resuming from the stored
/// cursor, against the cycle read in one burst.
pub(crate) fn resumed_cycle(
    in_one_burst: &[PageSeen],
    resumed: &[PageSeen],
    failure: Option<&Failure>,
) -> CheckResult {
    const NAME: &str = "resumed-cycle";
    if in_one_burst.is_empty() {
        return CheckResult::skipped(NAME, "no page was read in one burst to compare with");
    }
    let mut problems = Vec::new();
    if let Some(failure) = failure {
        problems.push(format!(
            "{} failed in a fresh burst, though it succeeded in one burst: {}",
            failure.place(),
            failure.error
        ));
    }
    for (position, (expected, actual)) in in_one_burst.iter().zip(resumed).enumerate() {
        problems.extend(compare_pages(
            position,
            expected,
            actual,
            ("in one burst", "resumed in a fresh burst"),
        ));
    }
    let entities: usize = resumed.iter().map(|page| page.entities.len()).sum();
    let cursors = resumed.iter().filter(|page| page.cursor.is_some()).count();
    CheckResult::from_problems(
        NAME,
        problems,
        format!(
            "{} bursts of one page, each a fresh instance resuming from the stored cursor: \
             the same {entities} entities (by canonical hash) and {cursors} cursors",
            resumed.len()
        ),
    )
}

/// `next` called twice with the same cursor in one burst, per cursor tried.
pub(crate) fn repeated_next(
    pairs: &[(usize, PageSeen, PageSeen)],
    failure: Option<&Failure>,
) -> CheckResult {
    const NAME: &str = "repeated-next";
    if pairs.is_empty() && failure.is_none() {
        return CheckResult::skipped(NAME, "no page was read to ask for again");
    }
    let mut problems = Vec::new();
    if let Some(failure) = failure {
        problems.push(format!(
            "{} failed when asked twice in one burst: {}",
            failure.place(),
            failure.error
        ));
    }
    for (position, first, second) in pairs {
        problems.extend(compare_pages(
            *position,
            first,
            second,
            ("the first time", "the second time"),
        ));
    }
    let which: Vec<String> = pairs
        .iter()
        .map(|(position, _, _)| format!("page {}", position + 1))
        .collect();
    CheckResult::from_problems(
        NAME,
        problems,
        format!(
            "{} asked twice in one burst: the same page both times",
            which.join(" and ")
        ),
    )
}

/// Every cursor: JSON that survives a round trip through a JSON value,
/// within the limit, and none returned twice in a cycle.
pub(crate) fn cursors(cycle: &CycleSeen, max_cursor_bytes: usize) -> CheckResult {
    const NAME: &str = "cursors";
    let cursors: Vec<(usize, &str)> = cycle
        .pages
        .iter()
        .enumerate()
        .filter_map(|(position, page)| page.cursor.as_deref().map(|c| (position, c)))
        .collect();
    if cursors.is_empty() && !matches!(cycle.end, CycleEnd::Looped { .. }) {
        return CheckResult::skipped(
            NAME,
            if cycle.pages.is_empty() {
                "no page was read"
            } else {
                "the cycle returned no cursor (it has one page)"
            },
        );
    }
    let mut problems: Vec<String> = cursors
        .iter()
        .filter_map(|(position, text)| {
            cursor_problem(text, max_cursor_bytes)
                .map(|problem| format!("page {}: the cursor {text} {problem}", position + 1))
        })
        .collect();
    if let CycleEnd::Looped { cursor, first } = &cycle.end {
        problems.push(format!(
            "page {} returned the cursor {cursor} again (page {} returned it first)",
            cycle.pages.len(),
            first + 1
        ));
    }
    let largest = cursors
        .iter()
        .map(|(_, text)| text.len())
        .max()
        .unwrap_or(0);
    CheckResult::from_problems(
        NAME,
        problems,
        format!(
            "{} cursors, each JSON that round-trips, the largest {largest} bytes (limit \
             {max_cursor_bytes}); none returned twice",
            cursors.len()
        ),
    )
}

/// What is wrong with one cursor's text, if anything.
fn cursor_problem(text: &str, max_cursor_bytes: usize) -> Option<String> {
    if text.len() > max_cursor_bytes {
        return Some(format!(
            "is {} bytes, over the limit of {max_cursor_bytes}",
            text.len()
        ));
    }
    let value: Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(error) => return Some(format!("is not a JSON value the host can keep: {error}")),
    };
    let again = serde_json::to_string(&value)
        .ok()
        .and_then(|text| serde_json::from_str::<Value>(&text).ok());
    (again.as_ref() != Some(&value))
        .then(|| "does not read back the same after a round trip through JSON".to_owned())
}

/// Every entity of the cycle valid, as the host's intake checks it, and no
/// ref twice in one cycle.
pub(crate) fn entities(pages: &[PageSeen]) -> CheckResult {
    const NAME: &str = "entities";
    if pages.is_empty() {
        return CheckResult::skipped(NAME, "no page was read");
    }
    let mut problems = Vec::new();
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
    let mut count = 0;
    for (position, page) in pages.iter().enumerate() {
        for (index, entity) in page.entities.iter().enumerate() {
            count += 1;
            match &entity.verdict {
                Err(reason) => {
                    problems.push(format!("page {}, entity #{index}: {reason}", position + 1))
                }
                Ok(entity_ref) => {
                    if let Some(first) = first_seen.insert(entity_ref, position) {
                        problems.push(format!(
                            "{entity_ref} is on page {} and again on page {}: a ref belongs \
                             on one page of a cycle",
                            first + 1,
                            position + 1
                        ));
                    }
                }
            }
        }
    }
    CheckResult::from_problems(
        NAME,
        problems,
        format!("{count} entities, each valid as the host takes it in, no ref twice"),
    )
}

/// A pushed event: handled (the outcome checked like a page), or refused
/// with the source's own error. `None`: the plugin has no `push`.
pub(crate) fn push(outcome: Option<&Result<(Vec<EntitySeen>, usize), SourceError>>) -> CheckResult {
    const NAME: &str = "push";
    let Some(outcome) = outcome else {
        return CheckResult::skipped(NAME, "the plugin does not export push (pull only)");
    };
    match outcome {
        Ok((upserts, removals)) => {
            let problems = upserts
                .iter()
                .enumerate()
                .filter_map(|(index, entity)| {
                    entity
                        .verdict
                        .as_ref()
                        .err()
                        .map(|reason| format!("upsert #{index}: {reason}"))
                })
                .collect();
            CheckResult::from_problems(
                NAME,
                problems,
                format!(
                    "the event was handled: {} upserts (each valid), {removals} removals",
                    upserts.len()
                ),
            )
        }
        Err(error) => match severity(&error.kind) {
            Some(kind) => CheckResult::passed(
                NAME,
                format!("the event was refused with the source's own {kind} error: {error}"),
            ),
            None => CheckResult::from_problems(NAME, vec![error.to_string()], ""),
        },
    }
}

/// Each failure, and what the same call failed with when run again in a
/// fresh instance (`None`: it succeeded).
pub(crate) fn errors(retried: &[(&Failure, Option<SourceError>)]) -> CheckResult {
    const NAME: &str = "errors";
    if retried.is_empty() {
        return CheckResult::skipped(
            NAME,
            "no call failed, so no error's severity could be checked (set config that makes \
             the source fail to check it)",
        );
    }
    let mut problems = Vec::new();
    let mut seen = Vec::new();
    for (failure, again) in retried {
        let place = failure.place();
        let Some(first) = severity(&failure.error.kind) else {
            problems.push(format!(
                "{place}: not the source's own error (transient or fatal) but: {}",
                failure.error
            ));
            continue;
        };
        match (first, again.as_ref().map(|error| severity(&error.kind))) {
            ("transient", None) => seen.push(format!("{place}: transient, then succeeded")),
            (_, None) => problems.push(format!(
                "{place}: failed with a fatal error ({}), yet succeeded when run again in a \
                 fresh instance: retrying helped, so the error was transient",
                failure.error
            )),
            (first, Some(Some(second))) if first == second => {
                seen.push(format!(
                    "{place}: {first}, and {second} again in a fresh instance"
                ));
            }
            (first, Some(second)) => problems.push(format!(
                "{place}: {first} the first time ({}), but {} when run again in a fresh \
                 instance ({})",
                failure.error,
                second.unwrap_or("not the source's own error"),
                again.as_ref().map_or_else(String::new, ToString::to_string)
            )),
        }
    }
    CheckResult::from_problems(NAME, problems, seen.join("; "))
}

/// Every line logged through the `log` import; nothing printed.
pub(crate) fn logs(lines: &[GuestLine]) -> CheckResult {
    const NAME: &str = "logs";
    let problems = lines
        .iter()
        .filter(|line| !line.from_log_import())
        .map(|line| {
            format!(
                "printed to {line}: use the log import (the SDK's `log`), which keeps the level"
            )
        })
        .collect();
    let mut levels: Vec<(String, usize)> = Vec::new();
    for line in lines.iter().filter(|line| line.from_log_import()) {
        let level = line.level.as_str().to_lowercase();
        match levels.iter_mut().find(|(name, _)| *name == level) {
            Some((_, count)) => *count += 1,
            None => levels.push((level, 1)),
        }
    }
    let counts: Vec<String> = levels
        .iter()
        .map(|(level, count)| format!("{count} {level}"))
        .collect();
    CheckResult::from_problems(
        NAME,
        problems,
        if counts.is_empty() {
            "nothing logged, nothing printed to stdout or stderr".to_owned()
        } else {
            format!(
                "{} through the log import, nothing printed to stdout or stderr",
                counts.join(", ")
            )
        },
    )
}

/// `transient` or `fatal` for the source's own errors; `None` for traps,
/// spent budgets, bad pages and the host's failures.
pub(crate) fn severity(kind: &SourceErrorKind) -> Option<&'static str> {
    match kind {
        SourceErrorKind::Transient { .. } => Some("transient"),
        SourceErrorKind::Fatal { .. } => Some("fatal"),
        _ => None,
    }
}

/// What differs between two reads of the page at `position`, the two named
/// by `labels`.
fn compare_pages(
    position: usize,
    first: &PageSeen,
    second: &PageSeen,
    labels: (&str, &str),
) -> Vec<String> {
    let (one, two) = labels;
    let page = format!(
        "page {} (after {})",
        position + 1,
        first.after.as_deref().unwrap_or("no cursor")
    );
    let mut problems = Vec::new();
    if first.entities.len() != second.entities.len() {
        problems.push(format!(
            "{page}: {} entities {one}, {} {two}",
            first.entities.len(),
            second.entities.len()
        ));
    }
    for (index, (a, b)) in first.entities.iter().zip(&second.entities).enumerate() {
        let which = match &a.verdict {
            Ok(entity_ref) => format!("entity #{index} ({entity_ref})"),
            Err(_) => format!("entity #{index}"),
        };
        if a.hash != b.hash {
            problems.push(format!(
                "{page}, {which}: canonical hash {} {one}, {} {two}",
                short(&a.hash),
                short(&b.hash)
            ));
        }
        if a.location_key != b.location_key {
            problems.push(format!(
                "{page}, {which}: location key {:?} {one}, {:?} {two}",
                a.location_key, b.location_key
            ));
        }
    }
    if first.cursor != second.cursor {
        problems.push(format!(
            "{page}: cursor {} {one}, {} {two}",
            first.cursor.as_deref().unwrap_or("none"),
            second.cursor.as_deref().unwrap_or("none")
        ));
    }
    if first.done != second.done {
        problems.push(format!(
            "{page}: done {} {one}, {} {two}",
            first.done, second.done
        ));
    }
    problems
}

fn short(hash: &str) -> &str {
    hash.get(..SHORT_HASH).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use tracing::Level;

    use super::super::report::Outcome;
    use super::*;
    use crate::runtime::Call;

    fn entity(name: &str, hash: &str) -> EntitySeen {
        EntitySeen {
            hash: hash.into(),
            location_key: Some(format!("test:{name}")),
            verdict: Ok(format!("component:default/{name}")),
        }
    }

    fn page(after: Option<&str>, entities: Vec<EntitySeen>, cursor: Option<&str>) -> PageSeen {
        PageSeen {
            after: after.map(Into::into),
            entities,
            done: cursor.is_none(),
            cursor: cursor.map(Into::into),
        }
    }

    fn problems(result: &CheckResult) -> Vec<String> {
        match &result.outcome {
            Outcome::Failed(problems) => problems.clone(),
            other => panic!("{} did not fail: {other:?}", result.name),
        }
    }

    fn error(kind: SourceErrorKind) -> SourceError {
        SourceError {
            source_name: "s".into(),
            call: Call::Next,
            kind,
        }
    }

    fn failure(kind: SourceErrorKind) -> Failure {
        Failure {
            call: Call::Next,
            after: Some(r#"{"page":1}"#.into()),
            error: error(kind),
        }
    }

    fn two_pages() -> Vec<PageSeen> {
        vec![
            page(None, vec![entity("a", "aa"), entity("b", "bb")], Some("1")),
            page(Some("1"), vec![entity("c", "cc")], None),
        ]
    }

    #[test]
    fn a_resumed_cycle_must_match_entity_by_entity_and_cursor_by_cursor() {
        let pages = two_pages();
        assert!(!resumed_cycle(&pages, &pages, None).failed());
        let mut resumed = pages.clone();
        resumed[0].entities[1].hash = "b2".into();
        resumed[0].cursor = Some("2".into());
        resumed[1].entities[0].location_key = None;
        let found = problems(&resumed_cycle(&pages, &resumed, None));
        assert_eq!(
            found,
            [
                "page 1 (after no cursor), entity #1 (component:default/b): canonical hash bb \
                 in one burst, b2 resumed in a fresh burst",
                "page 1 (after no cursor): cursor 1 in one burst, 2 resumed in a fresh burst",
                "page 2 (after 1), entity #0 (component:default/c): location key \
                 Some(\"test:c\") in one burst, None resumed in a fresh burst",
            ]
        );
        resumed = pages.clone();
        resumed[1].entities.push(entity("d", "dd"));
        resumed[1].done = false;
        let found = problems(&resumed_cycle(&pages, &resumed, None));
        assert_eq!(found.len(), 2, "{found:?}");
        let failed = failure(SourceErrorKind::Transient {
            message: "later".into(),
        });
        let found = problems(&resumed_cycle(&pages, &pages[..1], Some(&failed)));
        assert!(found[0].starts_with("next after cursor {\"page\":1} failed in a fresh burst"));
    }

    #[test]
    fn a_repeated_cursor_must_give_the_same_page() {
        let pages = two_pages();
        let same = vec![(0, pages[0].clone(), pages[0].clone())];
        assert!(!repeated_next(&same, None).failed());
        let different = vec![(1, pages[1].clone(), pages[0].clone())];
        assert!(repeated_next(&different, None).failed());
        assert!(matches!(
            repeated_next(&[], None).outcome,
            Outcome::Skipped(_)
        ));
    }

    #[test]
    fn invalid_and_repeated_entities_are_named() {
        let mut pages = two_pages();
        pages[1].entities.push(entity("a", "aa"));
        pages[1].entities[0].verdict = Err("spec.type is missing".into());
        assert_eq!(
            problems(&entities(&pages)),
            [
                "page 2, entity #0: spec.type is missing",
                "component:default/a is on page 1 and again on page 2: a ref belongs on one \
                 page of a cycle",
            ]
        );
        assert!(!entities(&two_pages()).failed());
    }

    #[test]
    fn cursors_must_round_trip_and_never_repeat() {
        let cycle = CycleSeen {
            pages: two_pages(),
            end: CycleEnd::Done,
            close: None,
        };
        assert!(!cursors(&cycle, 100).failed());
        assert_eq!(
            problems(&cursors(&cycle, 0)),
            ["page 1: the cursor 1 is 1 bytes, over the limit of 0"]
        );
        let mut big = two_pages();
        big[0].cursor = Some("1e400".into());
        let cycle = CycleSeen {
            pages: big,
            end: CycleEnd::Looped {
                cursor: "1".into(),
                first: 0,
            },
            close: None,
        };
        let found = problems(&cursors(&cycle, 100));
        assert!(
            found[0].starts_with("page 1: the cursor 1e400 is not a JSON value"),
            "{found:?}"
        );
        assert_eq!(
            found[1],
            "page 2 returned the cursor 1 again (page 1 returned it first)"
        );
    }

    #[test]
    fn errors_must_be_the_sources_own_and_keep_their_severity() {
        let transient = || SourceErrorKind::Transient {
            message: "t".into(),
        };
        let fatal = || SourceErrorKind::Fatal {
            message: "f".into(),
        };
        let (a, b, c) = (failure(transient()), failure(fatal()), failure(transient()));
        let kept = [
            (&a, Some(error(transient()))),
            (&b, Some(error(fatal()))),
            (&c, None),
        ];
        let result = errors(&kept);
        assert!(!result.failed(), "{result:?}");
        let trap = failure(SourceErrorKind::Trap {
            message: "unreachable".into(),
            stderr: String::new(),
        });
        let changed = [(&a, Some(error(fatal()))), (&b, None), (&trap, None)];
        let found = problems(&errors(&changed));
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(
            found[0].contains("transient the first time"),
            "{}",
            found[0]
        );
        assert!(
            found[1].contains("yet succeeded when run again"),
            "{}",
            found[1]
        );
        assert!(
            found[2].contains("not the source's own error"),
            "{}",
            found[2]
        );
        assert!(matches!(errors(&[]).outcome, Outcome::Skipped(_)));
    }

    #[test]
    fn printing_fails_the_logs_check() {
        let logged = GuestLine {
            level: Level::DEBUG,
            message: "page 0".into(),
            stream: None,
        };
        let result = logs(std::slice::from_ref(&logged));
        assert_eq!(
            result.outcome,
            Outcome::Passed(
                "1 debug through the log import, nothing printed to stdout or stderr".into()
            )
        );
        let printed = GuestLine {
            level: Level::INFO,
            message: "hello".into(),
            stream: Some("stdout".into()),
        };
        assert_eq!(
            problems(&logs(&[logged, printed])),
            [
                "printed to stdout: hello: use the log import (the SDK's `log`), which keeps the level"
            ]
        );
    }

    #[test]
    fn a_provider_name_must_not_change() {
        assert!(!provider_name("a", Ok("a".into())).failed());
        assert!(provider_name("a", Ok("b".into())).failed());
        assert!(provider_name("a", Err("gone".into())).failed());
    }
}
