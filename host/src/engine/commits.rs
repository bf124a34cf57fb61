//! A burst's commits: the pages are committed one after another, in the
//! order they came, on a task of their own, while the burst goes on pulling
//! and sorting the pages after them. A few sorted pages may wait their
//! turn, so neither the commit nor the sorting waits on the other's slow
//! pages. The first commit that fails stops the queue: the pages behind it
//! are dropped uncommitted, and the next burst asks for them again from the
//! stored cursor.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use super::page::joined;
use crate::store::StoreError;

/// Sorted pages that may wait while another commits.
const PAGES_WAITING: usize = 2;

type Commit<T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

/// The commits of one burst's pages, in order.
pub(super) struct CommitQueue<T> {
    /// To the committing task.
    waiting: mpsc::Sender<Commit<T>>,
    /// Each commit's result, in the order of the pages.
    results: mpsc::UnboundedReceiver<Result<T, StoreError>>,
    /// The refs each page queued or committing names, oldest first.
    in_flight: VecDeque<Arc<[String]>>,
    task: JoinHandle<()>,
}

impl<T: Send + 'static> CommitQueue<T> {
    pub(super) fn start() -> Self {
        let (waiting, mut queued) = mpsc::channel::<Commit<T>>(PAGES_WAITING);
        let (done, results) = mpsc::unbounded_channel();
        let task = tokio::spawn(
            async move {
                while let Some(commit) = queued.recv().await {
                    let result = commit.await;
                    let failed = result.is_err();
                    if done.send(result).is_err() || failed {
                        break;
                    }
                }
            }
            .in_current_span(),
        );
        CommitQueue {
            waiting,
            results,
            in_flight: VecDeque::new(),
            task,
        }
    }

    /// Queue `commit`, the commit of a page naming the refs `marks`, waiting
    /// while the queue is full. Returns what the commits that finished
    /// meanwhile did, in order; none is committed after one that failed.
    pub(super) async fn push(
        &mut self,
        marks: Arc<[String]>,
        commit: impl Future<Output = Result<T, StoreError>> + Send + 'static,
    ) -> Vec<Result<T, StoreError>> {
        self.in_flight.push_back(marks);
        // Refused only once the task has stopped after a failure, which is
        // then among the results.
        let _ = self.waiting.send(Box::pin(commit)).await;
        let mut finished = Vec::new();
        while let Ok(result) = self.results.try_recv() {
            self.in_flight.pop_front();
            finished.push(result);
        }
        finished
    }

    /// The refs named by the pages queued or committing: their stored
    /// texts may be about to change.
    pub(super) fn in_flight(&self) -> HashSet<&str> {
        self.in_flight
            .iter()
            .flat_map(|marks| marks.iter().map(String::as_str))
            .collect()
    }

    /// Wait for every queued commit; what they did, in order.
    pub(super) async fn finish(self) -> Vec<Result<T, StoreError>> {
        let CommitQueue {
            waiting,
            mut results,
            task,
            ..
        } = self;
        drop(waiting);
        let mut finished = Vec::new();
        while let Some(result) = results.recv().await {
            finished.push(result);
        }
        joined(task).await;
        finished
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Duration;

    use super::*;

    fn marks(refs: &[&str]) -> Arc<[String]> {
        refs.iter().map(|r| (*r).to_owned()).collect()
    }

    /// Commits run in the order they were queued, even when an early one
    /// is the slowest, and each page's refs stay in flight until it is done.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn commits_run_in_order_and_refs_stay_in_flight_until_done() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut queue = CommitQueue::start();
        let mut results = Vec::new();
        for page in 0..6u64 {
            let order = Arc::clone(&order);
            let commit = async move {
                tokio::time::sleep(Duration::from_millis(20 - 3 * page)).await;
                order.lock().unwrap().push(page);
                Ok(page)
            };
            results.extend(queue.push(marks(&[&format!("ref-{page}")]), commit).await);
            let in_flight = queue.in_flight();
            assert!(in_flight.contains(format!("ref-{page}").as_str()));
            assert_eq!(in_flight.len() + results.len(), page as usize + 1);
        }
        results.extend(queue.finish().await);
        let committed: Vec<u64> = results.into_iter().map(Result::unwrap).collect();
        assert_eq!(committed, [0, 1, 2, 3, 4, 5]);
        assert_eq!(*order.lock().unwrap(), [0, 1, 2, 3, 4, 5]);
    }

    /// A failed commit stops the queue: the pages behind it never commit.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn nothing_commits_after_a_failure() {
        let committed = Arc::new(Mutex::new(Vec::new()));
        let mut queue = CommitQueue::start();
        let mut results = Vec::new();
        for page in 0..8u64 {
            let committed = Arc::clone(&committed);
            let commit = async move {
                if page == 2 {
                    return Err(StoreError::WriterGone);
                }
                committed.lock().unwrap().push(page);
                Ok(page)
            };
            results.extend(queue.push(marks(&[]), commit).await);
        }
        results.extend(queue.finish().await);
        assert_eq!(*committed.lock().unwrap(), [0, 1]);
        assert_eq!(results.len(), 3);
        assert!(matches!(results[2], Err(StoreError::WriterGone)));
    }
}
