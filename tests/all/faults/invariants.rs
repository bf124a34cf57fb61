//! What must hold after any fault: every source settles by itself, and the
//! catalog, the event log, the consumers' copies and every source's state are
//! what an uninterrupted run gives.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde_json::Value;
use weir::store::{Catalog, Phase};

use super::mirror::Mirror;
use super::{
    A_COUNT, ADMIN_TOKEN, B_COUNT, Changing, PAGE_SIZE, SETTLE, SOURCES, config, now_ms, populate,
};
use crate::process::{Serve, Setup};

/// Wait until every source has completed `cycles` cycles that started at or
/// after `since_ms`.
pub(super) async fn wait_settled(store: &Catalog, setup: &Setup, serve: &mut Serve, since_ms: i64) {
    let deadline = Instant::now() + SETTLE;
    loop {
        serve.assert_running(setup);
        let mut waiting = Vec::new();
        for source in SOURCES {
            let cycles = store.cycles(source, 100).await.unwrap();
            let fresh = cycles
                .iter()
                .filter(|c| c.started_ms >= since_ms && c.outcome == "completed")
                .count();
            if fresh < 2 {
                waiting.push((source, store.source_status(source).await.unwrap()));
            }
        }
        if waiting.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "not every source completed two cycles within {SETTLE:?} of the last start: \
             {waiting:#?}\n{}",
            setup.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Start a process without failpoints and let it run every source through
/// two full cycles of the final settings.
pub(super) async fn settle(setup: Setup, store: &Catalog) -> (Setup, Serve) {
    let setup = setup.with_env("FAILPOINTS", "");
    let since_ms = now_ms();
    let mut serve = setup.spawn();
    serve.wait_healthy(&setup).await;
    wait_settled(store, &setup, &mut serve, since_ms).await;
    (setup, serve)
}

/// Every merged entity: its ref and its hash.
pub(super) async fn catalog(store: &Catalog) -> Vec<(String, String)> {
    store
        .entities(None, None, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.entity_ref, e.hash))
        .collect()
}

/// The catalog one uninterrupted `weir serve` yields with the final
/// settings, on a SQLite file of its own.
async fn uninterrupted(changing: Changing) -> Vec<(String, String)> {
    let setup = Setup::sqlite(&config()).with_env("WEIR_ADMIN_TOKEN", ADMIN_TOKEN);
    populate(&setup, changing);
    let store = Catalog::open(setup.url()).await.unwrap();
    let (setup, serve) = settle(setup, &store).await;
    let status = serve.terminate().await;
    assert!(status.success(), "{status}\n{}", setup.logs());
    catalog(&store).await
}

/// The invariants, with the last process still running on `port`.
pub(super) async fn check_invariants(
    backend: &str,
    store: &Catalog,
    setup: Setup,
    serve: Serve,
    mut mirror: Mirror,
    changing: Changing,
) {
    let logs = || setup.logs();
    // A consumer that followed the stream through every kill, and one that
    // replays it from 0.
    mirror
        .follow(serve.port)
        .await
        .unwrap_or_else(|error| panic!("{backend}: {error}\n{}", logs()));
    let mut replay = Mirror::default();
    let complete = replay
        .follow(serve.port)
        .await
        .unwrap_or_else(|error| panic!("{backend}: {error}\n{}", logs()));
    assert!(complete, "{backend}: the last process stopped answering");
    let pid = serve.pid();
    let status = serve.terminate().await;
    assert!(status.success(), "{backend}: SIGTERM: {status}\n{}", logs());

    // The catalog, against an uninterrupted run's.
    let actual = catalog(store).await;
    let expected = uninterrupted(changing).await;
    if actual != expected {
        let actual_set: BTreeSet<_> = actual.iter().collect();
        let expected_set: BTreeSet<_> = expected.iter().collect();
        let extra: Vec<_> = actual_set.difference(&expected_set).take(10).collect();
        let missing: Vec<_> = expected_set.difference(&actual_set).take(10).collect();
        panic!(
            "{backend}: the catalog ({} entities) differs from an uninterrupted run's ({}):\n\
             only here (first 10): {extra:#?}\nonly there (first 10): {missing:#?}\n{}",
            actual.len(),
            expected.len(),
            logs()
        );
    }

    // The event log: the mirrors hold exactly the catalog.
    let entities: BTreeMap<String, Value> = store
        .entities(None, None, 1_000_000)
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.entity_ref, e.entity))
        .collect();
    for (name, consumer) in [
        ("followed through the kills", &mirror),
        ("replayed from 0", &replay),
    ] {
        assert_eq!(
            consumer.entities.len(),
            entities.len(),
            "{backend}: the mirror {name} has {} entities, the catalog {}",
            consumer.entities.len(),
            entities.len()
        );
        for (entity_ref, entity) in &entities {
            assert_eq!(
                consumer.entities.get(entity_ref),
                Some(entity),
                "{backend}: the mirror {name} differs at {entity_ref}"
            );
        }
    }
    // Offsets: unique, strictly increasing (checked as read), the head the
    // last event, nothing written after the reads.
    let head = store.last_offset().await.unwrap();
    let log = store.changes(0, i64::MAX).await.unwrap();
    let offsets: Vec<i64> = log.iter().map(|change| change.offset).collect();
    assert!(
        offsets.windows(2).all(|pair| pair[0] < pair[1]),
        "{backend}: the log's offsets are not strictly increasing"
    );
    let refs: BTreeSet<&str> = log.iter().map(|c| c.entity_ref.as_str()).collect();
    assert_eq!(
        refs.len(),
        log.len(),
        "{backend}: a ref twice in the compacted log"
    );
    assert_eq!(
        offsets.last().copied(),
        Some(head),
        "{backend}: the log's head {head} is not its last event"
    );
    assert_eq!(
        replay.offset, head,
        "{backend}: the replay ended below the head"
    );
    assert_eq!(
        mirror.offset, head,
        "{backend}: the follower ended below the head"
    );
    assert!(offsets.first().is_some_and(|&first| first >= 1));

    // No source stuck, every cursor one the source returned.
    for source in SOURCES {
        let status = store.source_status(source).await.unwrap().unwrap();
        assert_eq!(
            status.lease_owner,
            None,
            "{backend}: `{source}` kept a lease after SIGTERM of {pid}: {status:#?}\n{}",
            setup.all_logs()
        );
        assert!(
            matches!(status.phase, Phase::Resting | Phase::Interstitial),
            "{backend}: `{source}` stuck: {status:#?}"
        );
        assert_eq!(status.failures, 0, "{backend}: `{source}`: {status:#?}");
        if let Some(cursor) = &status.cursor {
            let offset = serde_json::from_str::<Value>(cursor)
                .ok()
                .and_then(|c| c["offset"].as_u64());
            // `synthetic` returns the next page's offset, short of its count.
            let count = match source {
                "a" => A_COUNT,
                "b" => B_COUNT,
                "c" => changing.count,
                _ => 0,
            };
            assert!(
                offset
                    .is_some_and(|offset| offset > 0 && offset % PAGE_SIZE == 0 && offset < count),
                "{backend}: `{source}`'s cursor {cursor} is not one `synthetic` returns \
                 (count {count})"
            );
        }
        let cycles = store.cycles(source, 100_000).await.unwrap();
        let failed: Vec<_> = cycles.iter().filter(|c| c.outcome != "completed").collect();
        assert!(
            failed.is_empty(),
            "{backend}: `{source}` has cycles that did not complete: {failed:#?}"
        );
        // Every page of every cycle committed once, whatever the kills: the
        // sources whose settings never change give the same pages each time.
        let expected = match source {
            "a" => Some((A_COUNT.div_ceil(PAGE_SIZE), A_COUNT)),
            "b" => Some((B_COUNT.div_ceil(PAGE_SIZE), B_COUNT)),
            "pushing" => Some((1, 3)),
            _ => None,
        };
        if let Some((pages, entities)) = expected {
            let wrong: Vec<_> = cycles
                .iter()
                .filter(|c| (c.totals.pages, c.totals.entities) != (pages as i64, entities as i64))
                .collect();
            assert!(
                wrong.is_empty(),
                "{backend}: `{source}` has cycles that did not commit each of its {pages} \
                 pages ({entities} entities) exactly once: {wrong:#?}"
            );
        }
    }
}
