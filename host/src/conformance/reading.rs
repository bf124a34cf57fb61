//! Reading a plugin's pages the ways the checks compare: a whole cycle in
//! one burst, one page in a fresh burst resuming from a stored cursor, and
//! the same cursor twice in one burst. Each page is kept as what the checks
//! need ([`PageSeen`]): its entities' canonical hashes, location keys and
//! verdicts (the ref the host would store, or why it would refuse the
//! entity), its cursor and `done`.

use std::collections::HashMap;

use weir_core::canonical::ContentHash;
use weir_core::intake::{Admission, hash_texts, take_in};
use weir_core::json::Json;
use weir_core::sourced::SourcedEntity;

use crate::runtime::{Burst, Call, Cursor, Page, Plugin, SourceError, SourceErrorKind};

/// An entity of a page, reduced to what the checks compare and judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntitySeen {
    /// Hex SHA-256 of its canonical JSON (of its text, when it does not parse).
    pub(crate) hash: String,
    pub(crate) location_key: Option<String>,
    /// The normalised ref the host would store it under, or why the host
    /// would refuse it.
    pub(crate) verdict: Result<String, String>,
}

/// One page as read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PageSeen {
    /// The cursor `next` was given (`None`: the first page of the cycle).
    pub(crate) after: Option<String>,
    pub(crate) entities: Vec<EntitySeen>,
    /// The cursor it returned (`None` on the last page).
    pub(crate) cursor: Option<String>,
    pub(crate) done: bool,
}

/// A guest call that failed, and where.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) call: Call,
    /// For `next`, the cursor it was given (`None`: the first page).
    pub(crate) after: Option<String>,
    pub(crate) error: SourceError,
}

impl Failure {
    /// `next after {"page":2}`, `open (set-up)`.
    pub(crate) fn place(&self) -> String {
        match (self.call, &self.after) {
            (Call::Next, Some(after)) => format!("next after cursor {after}"),
            (Call::Next, None) => "next on the first page".into(),
            (call, _) => call.to_string(),
        }
    }
}

/// How reading a whole cycle in one burst ended.
#[derive(Debug)]
pub(crate) enum CycleEnd {
    /// A page said `done`.
    Done,
    /// A call failed.
    Failed(Failure),
    /// The page cap was reached first.
    Capped,
    /// A page returned a cursor an earlier page returned: the cycle would
    /// never end. `first` is that earlier page's position.
    Looped { cursor: String, first: usize },
}

/// A cycle read in one burst.
#[derive(Debug)]
pub(crate) struct CycleSeen {
    pub(crate) pages: Vec<PageSeen>,
    pub(crate) end: CycleEnd,
    /// The failure of `close`, when the burst opened and `close` failed.
    pub(crate) close: Option<Failure>,
}

impl CycleSeen {
    /// Every failure of the reading.
    pub(crate) fn failures(&self) -> impl Iterator<Item = &Failure> {
        let failed = match &self.end {
            CycleEnd::Failed(failure) => Some(failure),
            _ => None,
        };
        failed.into_iter().chain(self.close.as_ref())
    }
}

/// Reads one plugin's pages.
pub(crate) struct Reader<'a> {
    plugin: &'a Plugin,
    admission: Admission,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(plugin: &'a Plugin) -> Self {
        Reader {
            plugin,
            admission: Admission::anything_up_to(plugin.settings().limits.max_entity_bytes),
        }
    }

    /// A whole cycle in one burst, at most `max_pages` pages.
    pub(crate) async fn whole_cycle(&self, max_pages: usize) -> CycleSeen {
        let mut burst = match self.open().await {
            Ok(burst) => burst,
            Err(failure) => {
                return CycleSeen {
                    pages: Vec::new(),
                    end: CycleEnd::Failed(failure),
                    close: None,
                };
            }
        };
        let mut pages = Vec::new();
        let mut cursors_seen: HashMap<String, usize> = HashMap::new();
        let mut after: Option<String> = None;
        let end = loop {
            if pages.len() >= max_pages {
                break CycleEnd::Capped;
            }
            let page = match self.next(&mut burst, after.as_deref()).await {
                Ok(page) => page,
                Err(failure) => break CycleEnd::Failed(failure),
            };
            let position = pages.len();
            let (done, cursor) = (page.done, page.cursor.clone());
            pages.push(page);
            match cursor {
                _ if done => break CycleEnd::Done,
                // The runtime refuses a page that is neither done nor has a cursor.
                None => break CycleEnd::Done,
                Some(cursor) => {
                    if let Some(&first) = cursors_seen.get(&cursor) {
                        break CycleEnd::Looped { cursor, first };
                    }
                    cursors_seen.insert(cursor.clone(), position);
                    after = Some(cursor);
                }
            }
        };
        let close = self.close(burst).await.err();
        CycleSeen { pages, end, close }
    }

    /// The page after `after` in a fresh burst (a fresh instance with only
    /// the cursor to go on, as `weir serve` resumes): open, `next`, close.
    /// Only the page is compared: a failing `close` is the `cycle` check's
    /// to report (it fails in every burst alike).
    pub(crate) async fn one_page(&self, after: Option<&str>) -> Result<PageSeen, Failure> {
        let mut burst = self.open().await?;
        let page = self.next(&mut burst, after).await;
        let _ = self.close(burst).await;
        page
    }

    /// The page after `after` twice in one fresh burst (a failing `close`
    /// left to the `cycle` check, as in [`Reader::one_page`]).
    pub(crate) async fn same_cursor_twice(
        &self,
        after: Option<&str>,
    ) -> Result<(PageSeen, PageSeen), Failure> {
        let mut burst = self.open().await?;
        let pair = async {
            let first = self.next(&mut burst, after).await?;
            let second = self.next(&mut burst, after).await?;
            Ok((first, second))
        }
        .await;
        let _ = self.close(burst).await;
        pair
    }

    /// Run the call that failed again, in a fresh instance: the error it
    /// fails with now, or `None` when it succeeds. `None` too for calls that
    /// are not retried here (instantiation, `provider-name`, `push`).
    pub(crate) async fn retry(&self, failure: &Failure) -> Option<SourceError> {
        match failure.call {
            Call::Open => match self.open().await {
                Ok(burst) => self.close(burst).await.err().map(|f| f.error),
                Err(failure) => Some(failure.error),
            },
            Call::Next => self
                .one_page(failure.after.as_deref())
                .await
                .err()
                .map(|f| f.error),
            Call::Close => match self.open().await {
                Ok(burst) => self.close(burst).await.err().map(|f| f.error),
                Err(failure) => Some(failure.error),
            },
            Call::Instantiate | Call::ProviderName | Call::Push => None,
        }
    }

    async fn open(&self) -> Result<Burst, Failure> {
        self.plugin.open_burst().await.map_err(|error| Failure {
            call: error.call,
            after: None,
            error,
        })
    }

    async fn next(&self, burst: &mut Burst, after: Option<&str>) -> Result<PageSeen, Failure> {
        let failure = |error| Failure {
            call: Call::Next,
            after: after.map(str::to_owned),
            error,
        };
        // The cursor as the store keeps it: its text, parsed again.
        let cursor = after
            .map(|text| {
                Cursor::parse(text).map_err(|error| SourceError {
                    source_name: self.plugin.provider_name().into(),
                    call: Call::Next,
                    kind: SourceErrorKind::Host {
                        message: format!("the stored cursor {text} is not JSON: {error}"),
                    },
                })
            })
            .transpose()
            .map_err(failure)?;
        let page = burst.next(cursor.as_ref()).await.map_err(failure)?;
        Ok(self.seen(after, page))
    }

    async fn close(&self, burst: Burst) -> Result<(), Failure> {
        burst.close().await.map(drop).map_err(|error| Failure {
            call: Call::Close,
            after: None,
            error,
        })
    }

    /// What the checks keep of `page`: each entity judged as the host's
    /// intake would judge it.
    fn seen(&self, after: Option<&str>, page: Page) -> PageSeen {
        let entities = self.judge(page.entities);
        PageSeen {
            after: after.map(str::to_owned),
            entities,
            cursor: page.cursor.map(|cursor| cursor.as_str().to_owned()),
            done: page.done,
        }
    }

    /// Each entity's hash, location key and verdict, in order.
    pub(crate) fn judge(&self, entities: Vec<SourcedEntity>) -> Vec<EntitySeen> {
        let source = self.plugin.provider_name();
        hash_texts(entities, 0, false)
            .into_iter()
            .map(|entity| {
                let hash = canonical_hash(entity.sourced.json());
                let location_key = entity.sourced.location_key().map(str::to_owned);
                let intake = take_in(source, &self.admission, vec![entity]);
                let verdict = match (intake.contributions.first(), intake.rejected.first()) {
                    (Some(taken), _) => Ok(taken.entity_ref.clone()),
                    (None, Some(rejected)) => Err(rejected.reason.clone()),
                    (None, None) => Err("the intake neither took nor refused it".into()),
                };
                EntitySeen {
                    hash,
                    location_key,
                    verdict,
                }
            })
            .collect()
    }
}

/// Hex SHA-256 of `json`'s canonical form; of the text itself (marked so)
/// when it does not parse.
pub(crate) fn canonical_hash(json: &str) -> String {
    match Json::parse(json) {
        Ok(value) => ContentHash::of(&value).to_hex(),
        Err(_) => {
            use sha2::Digest;
            format!("text:{}", hex::encode(sha2::Sha256::digest(json)))
        }
    }
}
