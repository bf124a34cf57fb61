//! From a page a source returned to what the store commits: entities whose
//! text the source already sent byte for byte are recognised by its hash and
//! not parsed again; the rest are validated, scoped and hashed. Every ref
//! the page names is a mark of the cycle (an invalid entity counts as seen).
//! The hashing, parsing and validation run on blocking threads, a page split
//! in one chunk per core, so the async threads stay free for the guest and
//! the database meanwhile.

use std::collections::HashSet;
use std::sync::LazyLock;

use weir_core::intake::{
    Admission, Contribution, Intake, PageEntity, Rejection, hash_texts, take_in,
};
use weir_core::sourced::SourcedEntity;

use crate::store::{Catalog, PageOutcome, SourceRole, StoreError};

/// A page sorted for the store.
pub(super) struct PreparedPage {
    pub contributions: Vec<Contribution>,
    /// Entities refused by the core (invalid or out of scope).
    pub rejected: Vec<Rejection>,
    /// Every ref the page named.
    pub marks: Vec<String>,
    /// Entities recognised as unchanged without parsing.
    pub unchanged: usize,
    /// Entities the page carried.
    pub entities: usize,
}

/// Which of a page's entities may be recognised as unchanged by the hash of
/// their text, without parsing them.
#[derive(Clone, Copy)]
pub(super) enum Recognise<'a> {
    /// Any but these: the refs of a page of the same source still being
    /// committed. Their stored texts may be about to change, so an entity of
    /// theirs is never taken as unchanged here (the commit compares it with
    /// what is stored by then).
    AllBut(&'a HashSet<&'a str>),
    /// None: the source had nothing stored when its cycle began, so looking
    /// its texts up would find next to nothing. Every entity is parsed and
    /// validated; one stored meanwhile with the same content is still
    /// found unchanged by the commit, by its canonical hash.
    Nothing,
}

impl<'a> Recognise<'a> {
    /// For a page of a cycle that began with `before` of the source's
    /// entities stored, with `in_flight` committing meanwhile.
    pub(super) fn in_cycle(before: i64, in_flight: &'a HashSet<&'a str>) -> Self {
        if before > 0 {
            Recognise::AllBut(in_flight)
        } else {
            Recognise::Nothing
        }
    }

    /// Whether the ref each text names is read beside its hash, to look it up.
    pub(super) fn reads_refs(self) -> bool {
        matches!(self, Recognise::AllBut(_))
    }
}

/// Sort `entities` for the store: [`hash_page`], then [`sort_page`].
pub(super) async fn prepare_page(
    store: &Catalog,
    source: SourceRole<'_>,
    admission: &Admission,
    entities: Vec<SourcedEntity>,
    recognise: Recognise<'_>,
) -> Result<PreparedPage, StoreError> {
    let hashed = hash_page(entities, recognise.reads_refs()).await;
    sort_page(store, source, admission, hashed, recognise).await
}

/// Hash each entity's text and, with `read_refs`, read the ref it names:
/// the first step of sorting a page, which needs nothing from the store.
pub(super) async fn hash_page(entities: Vec<SourcedEntity>, read_refs: bool) -> Vec<PageEntity> {
    in_parallel(entities, move |first, chunk| {
        hash_texts(chunk, first, read_refs)
    })
    .await
    .into_iter()
    .flatten()
    .collect()
}

/// Sort a hashed page for the store: entities whose text the source stored
/// before are recognised (as `recognise` allows), the rest are taken in.
pub(super) async fn sort_page(
    store: &Catalog,
    source: SourceRole<'_>,
    admission: &Admission,
    hashed: Vec<PageEntity>,
    recognise: Recognise<'_>,
) -> Result<PreparedPage, StoreError> {
    let count = hashed.len();
    let mut is_known = vec![false; count];
    if let Recognise::AllBut(in_flight) = recognise {
        // The entities that may be recognised, by their place in the page.
        let (places, named): (Vec<usize>, Vec<(&str, &str)>) = hashed
            .iter()
            .enumerate()
            .filter_map(|(place, e)| Some((place, (e.named_ref.as_deref()?, e.raw_hash.as_str()))))
            .filter(|(_, (entity_ref, _))| !in_flight.contains(entity_ref))
            .unzip();
        let known = store.known_texts(source, &named).await?;
        for (place, known) in places.into_iter().zip(known) {
            is_known[place] = known;
        }
    }
    let mut marks = Vec::with_capacity(hashed.len());
    let mut fresh = Vec::with_capacity(hashed.len());
    for (entity, known) in hashed.into_iter().zip(is_known) {
        match entity.named_ref {
            Some(entity_ref) if known => marks.push(entity_ref),
            _ => fresh.push(entity),
        }
    }
    let unchanged = marks.len();
    let intake = if fresh.is_empty() {
        Intake::default()
    } else {
        let (name, admission) = (source.name.to_owned(), admission.clone());
        let mut intake = Intake::default();
        for chunk in in_parallel(fresh, move |_, chunk| take_in(&name, &admission, chunk)).await {
            intake.contributions.extend(chunk.contributions);
            intake.rejected.extend(chunk.rejected);
        }
        intake
    };
    marks.extend(intake.contributions.iter().map(|c| c.entity_ref.clone()));
    marks.extend(intake.rejected.iter().filter_map(|r| r.entity_ref.clone()));
    Ok(PreparedPage {
        contributions: intake.contributions,
        rejected: intake.rejected,
        marks,
        unchanged,
        entities: count,
    })
}

/// Fewest items worth a thread of their own.
const MIN_CHUNK: usize = 64;

/// The cores this process may use, read once (on Linux the answer comes from
/// the cgroup's files).
static CORES: LazyLock<usize> =
    LazyLock::new(|| std::thread::available_parallelism().map_or(1, usize::from));

/// Run CPU-bound `work` over `items` on blocking threads, split in one chunk
/// per core; each call gets the position of its chunk's first item, and the
/// results come in the order of the chunks.
async fn in_parallel<T, R>(
    mut items: Vec<T>,
    work: impl Fn(usize, Vec<T>) -> R + Clone + Send + 'static,
) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
{
    let chunks = (*CORES).min(items.len() / MIN_CHUNK).max(1);
    let chunk_len = items.len().div_ceil(chunks);
    let mut tasks = Vec::with_capacity(chunks);
    let mut first = 0;
    while items.len() > chunk_len {
        let rest = items.split_off(chunk_len);
        let chunk = std::mem::replace(&mut items, rest);
        let work = work.clone();
        tasks.push(tokio::task::spawn_blocking(move || work(first, chunk)));
        first += chunk_len;
    }
    tasks.push(tokio::task::spawn_blocking(move || work(first, items)));
    let mut results = Vec::with_capacity(tasks.len());
    for task in tasks {
        results.push(joined(task).await);
    }
    results
}

/// The result of a page's task. A panic there is a bug, and is raised again
/// here as if the task had run in place.
pub(super) async fn joined<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(value) => value,
        Err(error) => match error.try_into_panic() {
            Ok(panic) => std::panic::resume_unwind(panic),
            // Only a runtime shutting down cancels the task.
            Err(error) => panic!("a page's task was cancelled: {error}"),
        },
    }
}

/// Apply one page from `source` outside any cycle (as `weir run` does): the
/// outcome lists every rejection (invalid, out of scope, conflicting).
pub async fn ingest_page(
    store: &Catalog,
    source: SourceRole<'_>,
    admission: &Admission,
    entities: Vec<SourcedEntity>,
) -> Result<PageOutcome, StoreError> {
    let page = prepare_page(
        store,
        source,
        admission,
        entities,
        Recognise::AllBut(&HashSet::new()),
    )
    .await?;
    let mut outcome = store
        .apply_page(source, page.contributions, &page.rejected)
        .await?;
    outcome.unchanged += page.unchanged;
    outcome.rejected.extend(page.rejected);
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use weir_core::sourced::PluginBuild;

    use super::*;

    /// Any entity of up to 1 MiB.
    fn anything() -> Admission {
        Admission::anything_up_to(1 << 20)
    }

    /// An entity as if a test plugin had sent `json`.
    fn test_entity(json: &str) -> SourcedEntity {
        SourcedEntity::new(json.to_owned(), None, PluginBuild::of(b"test"))
    }

    fn component(description: &str) -> SourcedEntity {
        test_entity(&format!(
            r#"{{"apiVersion":"backstage.io/v1alpha1","kind":"Component","metadata":{{"name":"a","description":"{description}"}},"spec":{{"type":"service","lifecycle":"production","owner":"team"}}}}"#
        ))
    }

    const SOURCE: SourceRole<'static> = SourceRole {
        name: "source",
        priority: 1,
        owner_rule: false,
    };

    /// A store in a temporary folder (kept while the folder lives) holding
    /// `component("one")` from [`SOURCE`].
    async fn store_holding_one() -> (tempfile::TempDir, Catalog) {
        let dir = tempfile::tempdir().unwrap();
        let store = Catalog::open(&crate::store::sqlite_url_for(&dir.path().join("weir.db")))
            .await
            .unwrap();
        ingest_page(&store, SOURCE, &anything(), vec![component("one")])
            .await
            .unwrap();
        (dir, store)
    }

    /// Pages are pipelined: the next one is sorted while the one before it
    /// commits. An entity of the committing page may be about to change, so
    /// the next page's copy of it is never taken as unchanged on the strength
    /// of what was stored before; the commit decides.
    #[tokio::test]
    async fn an_entity_of_a_page_still_committing_is_not_taken_as_unchanged() {
        let (_dir, store) = store_holding_one().await;
        let admission = anything();
        let none = HashSet::new();
        let again = prepare_page(
            &store,
            SOURCE,
            &admission,
            vec![component("one")],
            Recognise::AllBut(&none),
        )
        .await
        .unwrap();
        assert_eq!((again.unchanged, again.contributions.len()), (1, 0));

        // Page N changes the entity to "two" while page N+1, sorted meanwhile,
        // sends "one" again: the catalog must end with "one".
        let in_flight = HashSet::from(["component:default/a"]);
        let next = prepare_page(
            &store,
            SOURCE,
            &admission,
            vec![component("one")],
            Recognise::AllBut(&in_flight),
        )
        .await
        .unwrap();
        assert_eq!((next.unchanged, next.contributions.len()), (0, 1));
        assert_eq!(next.marks, ["component:default/a"]);
        ingest_page(&store, SOURCE, &admission, vec![component("two")])
            .await
            .unwrap();
        store
            .apply_page(SOURCE, next.contributions, &next.rejected)
            .await
            .unwrap();
        let stored = store.entity("component:default/a").await.unwrap().unwrap();
        assert_eq!(stored.entity["metadata"]["description"], "one");
    }

    #[tokio::test]
    async fn work_split_across_cores_keeps_its_order_and_positions() {
        let items: Vec<usize> = (0..1000).collect();
        let chunks = in_parallel(items.clone(), |first, chunk| {
            assert_eq!(chunk.first(), Some(&first));
            chunk
        })
        .await;
        assert_eq!(chunks.concat(), items);
        let few = in_parallel(vec![1, 2, 3], |first, chunk| (first, chunk)).await;
        assert_eq!(few, [(0, vec![1, 2, 3])]);
        let none = in_parallel(Vec::<usize>::new(), |_, chunk| chunk.len()).await;
        assert_eq!(none, [0]);
    }

    /// A page split across cores still names each bad entity by its place
    /// in the whole page.
    #[tokio::test]
    async fn a_bad_entity_is_named_by_its_place_in_the_page() {
        let (_dir, store) = store_holding_one().await;
        let mut entities: Vec<SourcedEntity> = (0..300).map(|_| component("one")).collect();
        entities[250] = test_entity(r#"{"kind":"1bad","metadata":{}}"#);
        let page = prepare_page(&store, SOURCE, &anything(), entities, Recognise::Nothing)
            .await
            .unwrap();
        assert_eq!(page.rejected.len(), 1);
        let reason = &page.rejected[0].reason;
        assert!(reason.contains("entity #250 of the page"), "{reason}");
    }

    /// A cycle that began with nothing stored does not look texts up; an
    /// entity stored meanwhile is parsed again, and its commit still finds
    /// it unchanged, writing and logging nothing.
    #[tokio::test]
    async fn without_looking_texts_up_an_unchanged_entity_is_still_not_written() {
        let (_dir, store) = store_holding_one().await;
        let admission = anything();
        let offset = store.last_offset().await.unwrap();
        let page = prepare_page(
            &store,
            SOURCE,
            &admission,
            vec![component("one")],
            Recognise::Nothing,
        )
        .await
        .unwrap();
        assert_eq!((page.unchanged, page.contributions.len()), (0, 1));
        assert_eq!(page.marks, ["component:default/a"]);
        let outcome = store
            .apply_page(SOURCE, page.contributions, &page.rejected)
            .await
            .unwrap();
        assert_eq!((outcome.stored, outcome.unchanged), (0, 1));
        assert_eq!(store.last_offset().await.unwrap(), offset);
    }
}
