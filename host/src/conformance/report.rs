//! What the checks found: one [`CheckResult`] per check of the contract, each
//! passed (saying what was seen), failed (saying what differed) or skipped
//! (saying why it could not run), and the [`Report`] that holds them.

use std::fmt;

/// How many differences a failed check lists before it only counts the rest.
pub(crate) const MAX_LISTED: usize = 20;

/// The outcome of one check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// What was checked and seen.
    Passed(String),
    /// Each thing that differed from the contract, at most 20
    /// of them (then a line counting the rest).
    Failed(Vec<String>),
    /// Why the check could not run (this does not fail the report).
    Skipped(String),
}

/// One check of the contract and its outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// The check's stable name, e.g. `resumed-cycle`.
    pub name: &'static str,
    pub outcome: Outcome,
}

impl CheckResult {
    pub(crate) fn passed(name: &'static str, detail: impl Into<String>) -> Self {
        CheckResult {
            name,
            outcome: Outcome::Passed(detail.into()),
        }
    }

    pub(crate) fn skipped(name: &'static str, why: impl Into<String>) -> Self {
        CheckResult {
            name,
            outcome: Outcome::Skipped(why.into()),
        }
    }

    /// Failed with `problems`; passed with `detail` when there are none.
    pub(crate) fn from_problems(
        name: &'static str,
        problems: Vec<String>,
        detail: impl Into<String>,
    ) -> Self {
        if problems.is_empty() {
            return CheckResult::passed(name, detail);
        }
        let more = problems.len().saturating_sub(MAX_LISTED);
        let mut listed: Vec<String> = problems.into_iter().take(MAX_LISTED).collect();
        if more > 0 {
            listed.push(format!("… and {more} more"));
        }
        CheckResult {
            name,
            outcome: Outcome::Failed(listed),
        }
    }

    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed(_))
    }
}

/// Every check run on one plugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// The provider name the plugin reported.
    pub provider: String,
    pub checks: Vec<CheckResult>,
}

impl Report {
    /// Whether no check failed (skipped ones do not count).
    pub fn passed(&self) -> bool {
        !self.checks.iter().any(CheckResult::failed)
    }

    /// The check named `name`.
    pub fn check(&self, name: &str) -> Option<&CheckResult> {
        self.checks.iter().find(|check| check.name == name)
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let width = self.checks.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let (mut passed, mut failed, mut skipped) = (0, 0, 0);
        for check in &self.checks {
            let name = check.name;
            match &check.outcome {
                Outcome::Passed(detail) => {
                    passed += 1;
                    writeln!(f, "  PASS  {name:width$}  {detail}")?;
                }
                Outcome::Skipped(why) => {
                    skipped += 1;
                    writeln!(f, "  SKIP  {name:width$}  {why}")?;
                }
                Outcome::Failed(problems) => {
                    failed += 1;
                    writeln!(f, "  FAIL  {name}")?;
                    for problem in problems {
                        writeln!(f, "        - {problem}")?;
                    }
                }
            }
        }
        write!(
            f,
            "conformance of `{}`: {passed} passed, {failed} failed, {skipped} skipped",
            self.provider
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_fails_on_a_failed_check_only_and_lists_at_most_twenty() {
        let problems: Vec<String> = (0..25).map(|n| format!("problem {n}")).collect();
        let report = Report {
            provider: "p".into(),
            checks: vec![
                CheckResult::passed("cycle", "3 pages"),
                CheckResult::skipped("push", "no push"),
            ],
        };
        assert!(report.passed());
        let mut failing = report.clone();
        failing
            .checks
            .push(CheckResult::from_problems("entities", problems, "unused"));
        assert!(!failing.passed());
        let Some(Outcome::Failed(listed)) = failing.check("entities").map(|c| c.outcome.clone())
        else {
            panic!("entities did not fail");
        };
        assert_eq!(listed.len(), 21);
        assert_eq!(listed[20], "… and 5 more");
        let text = failing.to_string();
        assert!(text.contains("  PASS  cycle     3 pages\n"), "{text}");
        assert!(
            text.contains("  FAIL  entities\n        - problem 0\n"),
            "{text}"
        );
        assert!(
            text.ends_with("conformance of `p`: 1 passed, 1 failed, 1 skipped"),
            "{text}"
        );
    }
}
