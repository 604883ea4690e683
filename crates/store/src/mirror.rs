//! Reads that cost what changed: [`Mirrored`] keeps the keys under a few prefixes in memory,
//! kept current by a watch, and answers `get` and `list` under them without asking the
//! store. Everything else, and every read while a mirror is not in step, goes to the store.
//!
//! A mirror is listed once when its watch starts, again when the watch ends (the store went
//! away, or etcd compacted the revisions the watch needed) and, as a safety net, every
//! [`RELIST_EVERY`]. In between it follows the watch's events.
//!
//! A commit made through [`Mirrored`] under a mirrored prefix makes the next read there list
//! the prefix again, so that a caller always reads its own writes. Changes made by others
//! are seen once their watch event arrives (milliseconds), like a read made a moment earlier.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::task::JoinHandle;

use crate::{Entry, LeaseId, Op, Store, StoreError, Txn, Watch, WatchEvent};

/// How often a mirror lists its prefix again although its watch runs.
pub const RELIST_EVERY: Duration = Duration::from_secs(60);
/// How long a mirror waits before watching again after its watch could not be made or
/// ended.
const RETRY: Duration = Duration::from_millis(500);

/// A store whose reads under some prefixes are answered from memory; see the module.
/// Dropping it stops its watches.
pub struct Mirrored {
    inner: Arc<dyn Store>,
    mirrors: Vec<Arc<Mirror>>,
    tasks: Vec<JoinHandle<()>>,
}

struct Mirror {
    prefix: String,
    state: Mutex<State>,
    /// Woken after each change the mirror takes in (an event or a list).
    changed: tokio::sync::Notify,
    /// Woken when the store failed a call: the watch may be dead without knowing it yet,
    /// so the mirror starts over (watch, then list) once the store answers.
    restart: tokio::sync::Notify,
}

#[derive(Default)]
struct State {
    entries: BTreeMap<String, Entry>,
    /// The watch runs and `entries` was listed after it started.
    in_step: bool,
    /// A commit through this store touched the prefix since the last list.
    stale: bool,
    /// Reads answered from memory and lists made, for tests and logs.
    served: u64,
    listed: u64,
    /// Goes up with every change taken in (an event, a list, a commit of ours).
    generation: u64,
}

impl Mirror {
    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while the lock was held cannot leave the map half changed (every change
        // is one insert or remove), so a poisoned lock is still usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn covers(&self, key_or_prefix: &str) -> bool {
        key_or_prefix.starts_with(&self.prefix)
    }

    /// Takes a fresh list of the whole prefix.
    fn install(&self, listed: Vec<Entry>) {
        let mut st = self.state();
        st.entries = listed.into_iter().map(|e| (e.key.clone(), e)).collect();
        st.listed += 1;
        st.generation += 1;
        drop(st);
        self.changed.notify_one();
    }

    fn apply(&self, ev: WatchEvent) {
        let mut st = self.state();
        st.generation += 1;
        match ev {
            WatchEvent::Put(e) => {
                // An event older than what a list already showed (it was on its way while
                // the list was made) must not take the key back.
                let newer = st
                    .entries
                    .get(&e.key)
                    .is_none_or(|had| e.mod_revision >= had.mod_revision);
                if newer {
                    st.entries.insert(e.key.clone(), e);
                }
            }
            WatchEvent::Delete { key } => {
                st.entries.remove(&key);
            }
        }
        drop(st);
        self.changed.notify_one();
    }

    /// Follows the prefix until the task is aborted: watch, list, apply events; again
    /// after the watch ends.
    async fn follow(self: Arc<Self>, inner: Arc<dyn Store>) {
        loop {
            // Watch first, then list: no change between the two is missed, and the events
            // that were on their way while the list was made leave each key as it was last
            // changed.
            let watch = inner.watch(&self.prefix).await;
            let listed = match &watch {
                Ok(_) => inner.list(&self.prefix).await,
                Err(_) => Ok(Vec::new()),
            };
            let (Ok(mut watch), Ok(listed)) = (watch, listed) else {
                tokio::time::sleep(RETRY).await;
                continue;
            };
            self.install(listed);
            // A commit of ours marked stale stays so, even if this list has it: it may have
            // come after the list was made.
            self.state().in_step = true;
            self.follow_watch(&inner, &mut watch).await;
            self.state().in_step = false;
            tokio::time::sleep(RETRY).await;
        }
    }

    /// Applies the watch's events, listing again every [`RELIST_EVERY`]; returns when the
    /// watch ends or a list fails.
    async fn follow_watch(&self, inner: &Arc<dyn Store>, watch: &mut Watch) {
        let mut relist = tokio::time::interval(RELIST_EVERY);
        relist.tick().await;
        loop {
            tokio::select! {
                ev = watch.next() => match ev {
                    Some(Ok(ev)) => self.apply(ev),
                    Some(Err(e)) => {
                        tracing::debug!(prefix = %self.prefix, "mirror's watch ended: {e}");
                        return;
                    }
                    None => return,
                },
                _ = relist.tick() => match inner.list(&self.prefix).await {
                    Ok(listed) => self.install(listed),
                    Err(_) => return,
                },
                () = self.restart.notified() => return,
            }
        }
    }
}

impl Mirrored {
    /// Mirrors each of `prefixes` of `inner` (prefixes must not overlap). Must be called
    /// within a tokio runtime.
    pub fn new<S: AsRef<str>>(inner: Arc<dyn Store>, prefixes: &[S]) -> Self {
        let mirrors: Vec<Arc<Mirror>> = prefixes
            .iter()
            .map(|p| {
                Arc::new(Mirror {
                    prefix: p.as_ref().to_owned(),
                    state: Mutex::default(),
                    changed: tokio::sync::Notify::new(),
                    restart: tokio::sync::Notify::new(),
                })
            })
            .collect();
        let tasks = mirrors
            .iter()
            .map(|m| tokio::spawn(Arc::clone(m).follow(Arc::clone(&inner))))
            .collect();
        Self {
            inner,
            mirrors,
            tasks,
        }
    }

    /// The store behind the mirrors.
    pub fn inner(&self) -> &Arc<dyn Store> {
        &self.inner
    }

    /// How many reads the mirror of `prefix` answered from memory, and how many times it
    /// listed the prefix.
    pub fn counts(&self, prefix: &str) -> Option<(u64, u64)> {
        let m = self.mirrors.iter().find(|m| m.prefix == prefix)?;
        let st = m.state();
        Some((st.served, st.listed))
    }

    /// Returns once the mirror of `prefix` has taken in a change (or one came since the
    /// last call): a reader woken this way reads the change. Meant for one waiter per
    /// prefix; never returns for a prefix that is not mirrored.
    pub async fn changed(&self, prefix: &str) {
        match self.mirrors.iter().find(|m| m.prefix == prefix) {
            Some(m) => m.changed.notified().await,
            None => std::future::pending().await,
        }
    }

    /// A number that changes whenever what is stored under the mirrored `prefixes` may
    /// have changed, as far as this process can tell; `None` while one of their mirrors is
    /// not in step, or one is not mirrored (then it cannot tell). Equal numbers mean nothing
    /// changed in between: a caller may skip work that depends only on those prefixes.
    pub fn generation(&self, prefixes: &[&str]) -> Option<u64> {
        let mut sum = 0u64;
        for p in prefixes {
            let m = self.mirrors.iter().find(|m| m.prefix == *p)?;
            let st = m.state();
            if !st.in_step || st.stale {
                return None;
            }
            sum = sum.wrapping_add(st.generation);
        }
        Some(sum)
    }

    fn mirror_of(&self, key_or_prefix: &str) -> Option<&Arc<Mirror>> {
        self.mirrors.iter().find(|m| m.covers(key_or_prefix))
    }

    /// The mirror of `key_or_prefix` when it can answer: in step, and listed again after
    /// a commit of ours (the list is made here, so the caller reads its own writes).
    async fn ready(&self, key_or_prefix: &str) -> Option<&Arc<Mirror>> {
        let m = self.mirror_of(key_or_prefix)?;
        {
            let mut st = m.state();
            if !st.in_step {
                return None;
            }
            if !st.stale {
                st.served += 1;
                return Some(m);
            }
            // Cleared before listing: a commit while the list runs marks it again.
            st.stale = false;
        }
        match self.outcome(self.inner.list(&m.prefix).await) {
            Ok(listed) => {
                m.install(listed);
                m.state().served += 1;
                Some(m)
            }
            Err(_) => {
                m.state().stale = true;
                None
            }
        }
    }

    /// Takes the outcome of a call to the store: when the store could not be reached or
    /// read, no mirror answers until it has watched and listed again, so that a store
    /// that is gone is reported as gone, not answered for from memory.
    fn outcome<T>(&self, done: Result<T, StoreError>) -> Result<T, StoreError> {
        if let Err(StoreError::Unreachable { .. } | StoreError::Io { .. }) = &done {
            for m in &self.mirrors {
                m.state().in_step = false;
                m.restart.notify_one();
            }
        }
        done
    }

    fn touched(&self, keys: impl IntoIterator<Item = String>) {
        for key in keys {
            if let Some(m) = self.mirror_of(&key) {
                let mut st = m.state();
                st.stale = true;
                st.generation += 1;
            }
        }
    }
}

impl Drop for Mirrored {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl fmt::Debug for Mirrored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let prefixes: Vec<&str> = self.mirrors.iter().map(|m| m.prefix.as_str()).collect();
        f.debug_struct("Mirrored")
            .field("inner", &self.inner)
            .field("prefixes", &prefixes)
            .finish()
    }
}

#[async_trait]
impl Store for Mirrored {
    fn endpoint(&self) -> String {
        self.inner.endpoint()
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        crate::check_key(key)?;
        match self.ready(key).await {
            Some(m) => Ok(m.state().entries.get(key).cloned()),
            None => self.outcome(self.inner.get(key).await),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        crate::check_prefix(prefix)?;
        match self.ready(prefix).await {
            Some(m) => Ok(m
                .state()
                .entries
                .range(prefix.to_owned()..)
                .take_while(|(k, _)| k.starts_with(prefix))
                .map(|(_, e)| e.clone())
                .collect()),
            None => self.outcome(self.inner.list(prefix).await),
        }
    }

    async fn commit(&self, txn: Txn) -> Result<bool, StoreError> {
        let keys: Vec<String> = txn
            .ops
            .iter()
            .map(|op| match op {
                Op::Put { key, .. } | Op::Delete { key } => key.clone(),
            })
            .collect();
        let done = self.outcome(self.inner.commit(txn).await);
        // Also after an error: the commit may have been made all the same.
        if !matches!(done, Ok(false)) {
            self.touched(keys);
        }
        done
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.outcome(self.inner.grant_lease(ttl).await)
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.outcome(self.inner.keep_alive(lease).await)
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        let done = self.outcome(self.inner.revoke_lease(lease).await);
        // The lease's keys are gone: wherever they were, the next read lists again.
        for m in &self.mirrors {
            m.state().stale = true;
        }
        done
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, StoreError> {
        self.inner.watch(prefix).await
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::FileStore;

    async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("{what} did not happen within 10 s");
    }

    fn keys(entries: &[Entry]) -> Vec<&str> {
        entries.iter().map(|e| e.key.as_str()).collect()
    }

    #[tokio::test]
    async fn reads_under_a_prefix_come_from_memory_and_follow_every_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file: Arc<dyn Store> = Arc::new(FileStore::open(dir.path()).expect("open"));
        file.put("v/a", b"1", None).await.expect("put");
        file.put("other/x", b"1", None).await.expect("put");
        let store = Mirrored::new(Arc::clone(&file), &["v/"]);
        eventually("the first list", async || {
            store.counts("v/").is_some_and(|(_, listed)| listed >= 1)
                && store.mirrors[0].state().in_step
        })
        .await;

        assert_eq!(keys(&store.list("v/").await.expect("list")), ["v/a"]);
        assert_eq!(
            keys(&store.list("other/").await.expect("list")),
            ["other/x"]
        );
        let (served, listed) = store.counts("v/").expect("mirrored");
        assert_eq!((served, listed), (1, 1), "answered from memory");

        // Another writer: seen once its event arrives, without a list; a waiter is woken
        // when the change is in.
        let woken = async {
            loop {
                store.changed("v/").await;
                if store.get("v/b").await.expect("get").is_some() {
                    break;
                }
            }
        };
        file.put("v/b", b"2", None).await.expect("put");
        tokio::time::timeout(Duration::from_secs(10), woken)
            .await
            .expect("woken with the change in");
        file.delete("v/a").await.expect("delete");
        eventually("the other writer's changes", async || {
            keys(&store.list("v/").await.expect("list")) == ["v/b"]
        })
        .await;
        assert_eq!(store.counts("v/").expect("mirrored").1, 1, "no list again");
        let b = store.get("v/b").await.expect("get").expect("present");
        assert_eq!(b.value, b"2");
        assert_eq!(b, file.get("v/b").await.expect("get").expect("present"));

        // Our own writes are read at once: the next read lists the prefix again. Until
        // then the mirror cannot tell whether something changed.
        let before = store.generation(&["v/"]).expect("in step");
        assert_eq!(store.generation(&["v/"]), Some(before), "nothing changed");
        store.put("v/c", b"3", None).await.expect("put");
        assert_eq!(store.generation(&["v/"]), None);
        assert_eq!(keys(&store.list("v/").await.expect("list")), ["v/b", "v/c"]);
        assert_eq!(store.counts("v/").expect("mirrored").1, 2);
        assert!(store.generation(&["v/"]).is_some_and(|g| g != before));
        assert!(store.delete("v/b").await.expect("delete"));
        assert_eq!(store.get("v/b").await.expect("get"), None);
        assert_eq!(keys(&store.list("v/c").await.expect("list")), ["v/c"]);
    }

    #[tokio::test]
    async fn an_old_event_does_not_take_a_key_back() {
        let m = Mirror {
            prefix: "v/".into(),
            state: Mutex::default(),
            changed: tokio::sync::Notify::new(),
            restart: tokio::sync::Notify::new(),
        };
        let entry = |value: &[u8], rev| Entry {
            key: "v/a".into(),
            value: value.to_vec(),
            create_revision: 1,
            mod_revision: rev,
            lease: None,
        };
        m.install(vec![entry(b"new", 5)]);
        m.apply(WatchEvent::Put(entry(b"old", 4)));
        assert_eq!(m.state().entries["v/a"].value, b"new");
        m.apply(WatchEvent::Put(entry(b"newer", 6)));
        assert_eq!(m.state().entries["v/a"].value, b"newer");
    }

    #[tokio::test]
    async fn a_store_that_fails_is_not_answered_for_from_memory() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file: Arc<dyn Store> = Arc::new(FileStore::open(dir.path()).expect("open"));
        file.put("v/a", b"1", None).await.expect("put");
        let store = Mirrored::new(Arc::clone(&file), &["v/"]);
        eventually("the first list", async || store.mirrors[0].state().in_step).await;
        // The store's directory goes away. The first call that fails takes the mirrors out
        // of step: reads go to the store and fail, rather than answer from memory.
        let kept = dir.path().to_owned();
        std::fs::remove_dir_all(&kept).expect("remove the store");
        assert!(store.put("other/x", b"1", None).await.is_err());
        assert!(store.list("v/").await.is_err(), "not the remembered v/a");
        assert!(store.get("v/a").await.is_err());
        // Back again: the mirror watches and lists again, and answers from memory.
        std::fs::create_dir_all(kept.join("kv")).expect("make the store again");
        let again = FileStore::open(&kept).expect("open");
        again.put("v/b", b"2", None).await.expect("put");
        eventually("the mirror in step again", async || {
            store.mirrors[0].state().in_step
        })
        .await;
        assert_eq!(keys(&store.list("v/").await.expect("list")), ["v/b"]);
    }
}
