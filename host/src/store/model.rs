//! The plain data that both sides of a commit share: what the write path
//! ([`super::apply`], the cycle's records) decides and what the statements
//! ([`super::writes`] and its two implementations) write. It imports nothing
//! from either side.

/// The source a page comes from, and how its contributions are admitted.
#[derive(Debug, Clone, Copy)]
pub struct SourceRole<'a> {
    pub name: &'a str,
    /// Higher wins in the merge.
    pub priority: i64,
    /// Backstage's owner rule: refuse a ref that another source already
    /// holds under a location key other than this contribution's (a ref
    /// held under no key is free), and report the conflict.
    pub owner_rule: bool,
}

/// A [`SourceRole`] that owns its name, to take to SQLite's writer thread.
pub(super) struct OwnedRole {
    name: String,
    priority: i64,
    owner_rule: bool,
}

impl OwnedRole {
    pub(super) fn of(role: SourceRole<'_>) -> Self {
        OwnedRole {
            name: role.name.to_owned(),
            priority: role.priority,
            owner_rule: role.owner_rule,
        }
    }

    pub(super) fn role(&self) -> SourceRole<'_> {
        SourceRole {
            name: &self.name,
            priority: self.priority,
            owner_rule: self.owner_rule,
        }
    }
}

/// Counts over a cycle.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CycleTotals {
    pub pages: i64,
    /// Entities the source returned (valid or not).
    pub entities: i64,
    pub added: i64,
    pub updated: i64,
    pub removed: i64,
    pub rejected: i64,
    pub errors: i64,
}

/// A merged entity as it is written: its body and provenance, or, when it is
/// exactly one source's contribution, only that source's name.
pub(super) struct MergedEntity {
    pub(super) hash: String,
    stored: MergedForm,
}

impl MergedEntity {
    /// The merge of several contributions: its body and provenance JSON.
    pub(super) fn explicit(hash: String, body: String, provenance: String) -> Self {
        MergedEntity {
            hash,
            stored: MergedForm::Explicit { body, provenance },
        }
    }

    /// Exactly `source`'s stored contribution, whose hash is `hash`.
    pub(super) fn sole(hash: String, source: String) -> Self {
        MergedEntity {
            hash,
            stored: MergedForm::Sole { source },
        }
    }

    /// The source whose contribution alone this is, if it is one.
    pub(super) fn sole_source(&self) -> Option<&str> {
        match &self.stored {
            MergedForm::Sole { source } => Some(source),
            MergedForm::Explicit { .. } => None,
        }
    }

    /// The body, provenance and sole source columns it is stored in.
    pub(super) fn columns(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match &self.stored {
            MergedForm::Explicit { body, provenance } => {
                (Some(body.as_str()), Some(provenance.as_str()), None)
            }
            MergedForm::Sole { source } => (None, None, Some(source.as_str())),
        }
    }
}

enum MergedForm {
    /// The body and provenance JSON of a merge of several contributions.
    Explicit { body: String, provenance: String },
    /// Exactly this source's stored contribution.
    Sole { source: String },
}
