//! Waiting for the cluster without polling the store: [`Changes`] wakes its owner when a
//! record under any of a few prefixes changes.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinHandle;

use crate::Store;

/// How often a wait wakes when one of its watches could not be opened or has ended.
pub const POLL_WITHOUT_WATCH: Duration = Duration::from_millis(250);

/// Watches over a few prefixes, merged: [`Changes::next`] returns at the next change under
/// any of them. A watch that cannot be opened, fails or ends turns the wait into polling
/// every [`POLL_WITHOUT_WATCH`], so a waiter never waits longer for a lost watch.
#[derive(Debug)]
pub struct Changes {
    notify: Arc<Notify>,
    lost: Arc<AtomicBool>,
    tasks: Vec<JoinHandle<()>>,
}

impl Changes {
    /// Starts watching every prefix in `prefixes`.
    pub async fn watch<S: AsRef<str>>(store: &dyn Store, prefixes: &[S]) -> Self {
        let notify = Arc::new(Notify::new());
        let lost = Arc::new(AtomicBool::new(false));
        let mut tasks = Vec::new();
        for prefix in prefixes {
            let prefix = prefix.as_ref();
            match store.watch(prefix).await {
                Ok(mut watch) => {
                    let (notify, lost) = (notify.clone(), lost.clone());
                    tasks.push(tokio::spawn(async move {
                        while let Some(Ok(_)) = watch.next().await {
                            notify.notify_one();
                        }
                        lost.store(true, Ordering::Relaxed);
                        notify.notify_one();
                    }));
                }
                Err(e) => {
                    tracing::debug!(prefix, "cannot watch, polling instead: {e}");
                    lost.store(true, Ordering::Relaxed);
                }
            }
        }
        Self {
            notify,
            lost,
            tasks,
        }
    }

    /// Returns at the next change (or one that came since the last call), or after `max`:
    /// whichever is first. Polls every [`POLL_WITHOUT_WATCH`] once a watch is lost.
    pub async fn next(&mut self, max: Duration) {
        let limit = if self.lost.load(Ordering::Relaxed) {
            max.min(POLL_WITHOUT_WATCH)
        } else {
            max
        };
        let _ = tokio::time::timeout(limit, self.notify.notified()).await;
    }
}

impl Drop for Changes {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::FileStore;

    #[tokio::test]
    async fn wakes_on_a_change_under_any_prefix_and_otherwise_waits_the_limit() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path()).expect("open");
        let mut changes = Changes::watch(&store, &["a/", "b/"]).await;
        let start = Instant::now();
        changes.next(Duration::from_millis(200)).await;
        assert!(
            start.elapsed() >= Duration::from_millis(200),
            "nothing changed"
        );

        store.put("b/x", b"1", None).await.expect("put");
        let start = Instant::now();
        changes.next(Duration::from_secs(20)).await;
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "a change under b/ wakes the waiter well before the limit"
        );
        // A change that came while nobody waited is not lost.
        store.put("a/y", b"1", None).await.expect("put");
        tokio::time::sleep(Duration::from_millis(300)).await;
        let start = Instant::now();
        changes.next(Duration::from_secs(20)).await;
        assert!(start.elapsed() < Duration::from_secs(10));
    }
}
