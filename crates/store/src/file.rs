//! The embedded store: one directory, one file per key, safe for many processes at once.
//!
//! Layout of `DIR`:
//! - `kv/<key with '/' written as '~'>`: one record per key (JSON: revisions, lease, value);
//! - `revision`: the store's current revision;
//! - `leases.json`: live leases and their expiry times, on the machine's boot clock
//!   (`CLOCK_BOOTTIME`, shared by every process and immune to wall-clock steps), with the
//!   boot they belong to: after a reboot every lease has lapsed;
//! - `journal.json`: a transaction being applied; replayed by the next reader or writer
//!   after a crash, so nobody sees it half applied;
//! - `.lock`: `flock`ed shared by readers and exclusively by writers.
//!
//! Every file is replaced atomically (write a temporary file, fsync, rename, fsync the
//! directory), and a transaction touching several keys goes through the journal, so a crash
//! at any point leaves either the old or the new state.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use base64::Engine as _;
use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, mpsc};

use crate::{
    Entry, Expect, LeaseId, Op, Revision, Store, StoreError, Txn, Watch, WatchEvent, check_key,
    check_prefix,
};

/// How often a watch looks for changes when inotify cannot tell it.
const WATCH_POLL: Duration = Duration::from_millis(100);
/// The permissions of the store's files: the owner's only.
const FILE_MODE: u32 = 0o600;
/// The permissions of the store's directories.
const DIR_MODE: u32 = 0o700;
/// How long an operation waits for another process's lock before giving up.
const LOCK_WAIT: Duration = Duration::from_secs(10);

/// The embedded store in a directory. Cheap to clone; holds no open files between calls,
/// except one inotify descriptor (in a thread of its own) while it is being watched.
#[derive(Debug, Clone)]
pub struct FileStore {
    dir: PathBuf,
    notifier: Notifier,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Record {
    create_revision: Revision,
    mod_revision: Revision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lease: Option<i64>,
    /// The value when it is UTF-8 (always, for brickyard's own keys), so a person can read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value: Option<String>,
    /// The value otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    value_base64: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Leases {
    /// The boot the expiry times belong to; leases of another boot have lapsed.
    #[serde(default)]
    boot: String,
    leases: BTreeMap<i64, LeaseRecord>,
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct LeaseRecord {
    ttl_ms: u64,
    /// Milliseconds since boot at which the lease lapses. A record of an older brickyard
    /// (wall-clock expiry) has none and counts as lapsed.
    #[serde(default)]
    expires_boot_ms: u64,
}

/// The clock leases are measured on.
fn now_ms() -> u64 {
    brickyard_sys::clock::boot_ms()
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    revision: Revision,
    /// Key and its new record; `None` removes the key.
    changes: Vec<(String, Option<Record>)>,
}

impl FileStore {
    /// Opens (creating when needed) the store in `dir`, which must be an absolute path.
    pub fn open(dir: &Path) -> Result<Self, StoreError> {
        if !dir.is_absolute() {
            return Err(StoreError::BadUrl {
                url: dir.display().to_string(),
                reason: "the file store needs an absolute directory, e.g. file:///var/lib/brickyard/store".into(),
            });
        }
        // Only root may read the desired state or take the lock: a local user who could
        // hold `.lock` would stall every agent until their leases lapse.
        for d in [dir.to_owned(), dir.join("kv")] {
            brickyard_sys::fs::create_dir(&d, DIR_MODE).map_err(fs_err)?;
        }
        Ok(Self {
            dir: dir.to_owned(),
            notifier: Notifier::default(),
        })
    }

    /// The store's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&FileStore) -> Result<T, StoreError> + Send + 'static,
    {
        let me = self.clone();
        tokio::task::spawn_blocking(move || f(&me))
            .await
            .map_err(|e| StoreError::Io {
                op: "run file store operation",
                path: self.dir.display().to_string(),
                source: std::io::Error::other(e.to_string()),
            })?
    }

    fn lock(&self, exclusive: bool) -> Result<Flock<File>, StoreError> {
        let path = self.dir.join(".lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .read(true)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|e| io("open lock file", &path, e))?;
        let op = if exclusive {
            FlockArg::LockExclusiveNonblock
        } else {
            FlockArg::LockSharedNonblock
        };
        let start = Instant::now();
        let mut pause = Duration::from_millis(1);
        let mut file = file;
        loop {
            match Flock::lock(file, op) {
                Ok(locked) => return Ok(locked),
                Err((f, e)) if e == Errno::EWOULDBLOCK || e == Errno::EINTR => {
                    file = f;
                    if start.elapsed() > LOCK_WAIT {
                        return Err(StoreError::Io {
                            op: "lock",
                            path: path.display().to_string(),
                            source: std::io::Error::new(
                                ErrorKind::TimedOut,
                                format!(
                                    "another process held the store lock for more than {}s; check for a stuck brickyard process (fuser -v {})",
                                    LOCK_WAIT.as_secs(),
                                    path.display()
                                ),
                            ),
                        });
                    }
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(20));
                }
                Err((_, e)) => return Err(io("lock", &path, e.into())),
            }
        }
    }

    fn key_path(&self, key: &str) -> PathBuf {
        // Keys never contain '~' (check_key), so this mapping is one-to-one.
        self.dir.join("kv").join(key.replace('/', "~"))
    }

    fn read_record(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let path = self.key_path(key);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| corrupt(&path, e)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io("read", &path, e)),
        }
    }

    fn read_revision(&self) -> Result<Revision, StoreError> {
        let path = self.dir.join("revision");
        match fs::read_to_string(&path) {
            Ok(s) => s.trim().parse().map_err(|e| corrupt(&path, e)),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(0),
            Err(e) => Err(io("read", &path, e)),
        }
    }

    /// The live leases of this boot (those of an earlier boot have lapsed with it).
    fn read_leases(&self) -> Result<Leases, StoreError> {
        let path = self.dir.join("leases.json");
        let boot = brickyard_sys::clock::boot_id();
        let mut leases: Leases = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| corrupt(&path, e))?,
            Err(e) if e.kind() == ErrorKind::NotFound => Leases::default(),
            Err(e) => return Err(io("read", &path, e)),
        };
        if leases.boot != boot {
            for l in leases.leases.values_mut() {
                l.expires_boot_ms = 0;
            }
            leases.boot = boot;
        }
        Ok(leases)
    }

    fn write_leases(&self, leases: &Leases) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec_pretty(leases).expect("leases always serialise");
        atomic_write(&self.dir, "leases.json", &bytes)
    }

    /// All live entries under `prefix`, sorted by key. Caller holds a lock.
    fn scan(&self, prefix: &str) -> Result<BTreeMap<String, Entry>, StoreError> {
        let leases = self.read_leases()?;
        let now = now_ms();
        let kv = self.dir.join("kv");
        let mut out = BTreeMap::new();
        let dir = fs::read_dir(&kv).map_err(|e| io("list", &kv, e))?;
        for item in dir {
            let item = item.map_err(|e| io("list", &kv, e))?;
            let Some(name) = item.file_name().to_str().map(|s| s.replace('~', "/")) else {
                continue;
            };
            if name.starts_with('.') || !name.starts_with(prefix) {
                continue;
            }
            if let Some(rec) = self.read_record(&name)?
                && alive(&rec, &leases, now)
            {
                let entry = to_entry(&name, rec, &self.key_path(&name))?;
                out.insert(name, entry);
            }
        }
        Ok(out)
    }

    /// Takes the shared lock for a read, first finishing (under the exclusive lock) a
    /// transaction a crashed writer left in the journal, so a reader never sees it half
    /// applied.
    fn read_lock(&self) -> Result<Flock<File>, StoreError> {
        if self.dir.join("journal.json").exists() {
            let _exclusive = self.lock(true)?;
            self.recover()?;
        }
        self.lock(false)
    }

    fn get_sync(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        check_key(key)?;
        let _lock = self.read_lock()?;
        let leases = self.read_leases()?;
        match self.read_record(key)? {
            Some(rec) if alive(&rec, &leases, now_ms()) => {
                Ok(Some(to_entry(key, rec, &self.key_path(key))?))
            }
            _ => Ok(None),
        }
    }

    fn list_sync(&self, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        check_prefix(prefix)?;
        let _lock = self.read_lock()?;
        Ok(self.scan(prefix)?.into_values().collect())
    }

    /// Finishes a transaction a crashed writer left in the journal. Caller holds the
    /// exclusive lock.
    fn recover(&self) -> Result<(), StoreError> {
        let path = self.dir.join("journal.json");
        let bytes = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io("read", &path, e)),
        };
        match serde_json::from_slice::<Journal>(&bytes) {
            Ok(journal) => {
                tracing::warn!(store = %self.dir.display(), revision = journal.revision, "completing a transaction interrupted by a crash");
                self.apply_changes(&journal)?;
            }
            // A journal cut short was never complete, so none of its changes were applied.
            Err(_) => {
                tracing::warn!(store = %self.dir.display(), "discarding an incomplete journal")
            }
        }
        fs::remove_file(&path).map_err(|e| io("remove", &path, e))?;
        sync_dir(&self.dir)
    }

    fn apply_changes(&self, journal: &Journal) -> Result<(), StoreError> {
        let kv = self.dir.join("kv");
        for (key, rec) in &journal.changes {
            let path = self.key_path(key);
            match rec {
                Some(rec) => {
                    let bytes = serde_json::to_vec(rec).expect("records always serialise");
                    let name = path.file_name().expect("key paths have a file name");
                    atomic_write(&kv, name.to_str().expect("keys are ASCII"), &bytes)?;
                }
                None => match fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == ErrorKind::NotFound => {}
                    Err(e) => return Err(io("remove", &path, e)),
                },
            }
        }
        sync_dir(&kv)?;
        atomic_write(
            &self.dir,
            "revision",
            journal.revision.to_string().as_bytes(),
        )
    }

    /// Applies changes at a new revision through the journal. Caller holds the exclusive
    /// lock.
    fn write_changes(&self, changes: Vec<(String, Option<Record>)>) -> Result<(), StoreError> {
        let journal = Journal {
            revision: changes
                .iter()
                .filter_map(|(_, r)| r.as_ref().map(|r| r.mod_revision))
                .max()
                .unwrap_or(self.read_revision()? + 1),
            changes,
        };
        let bytes = serde_json::to_vec(&journal).expect("journals always serialise");
        atomic_write(&self.dir, "journal.json", &bytes)?;
        self.apply_changes(&journal)?;
        let path = self.dir.join("journal.json");
        fs::remove_file(&path).map_err(|e| io("remove", &path, e))?;
        sync_dir(&self.dir)
    }

    /// Removes expired leases and their keys. Caller holds the exclusive lock.
    fn expire(&self) -> Result<Leases, StoreError> {
        let mut leases = self.read_leases()?;
        let now = now_ms();
        let expired: Vec<i64> = leases
            .leases
            .iter()
            .filter(|(_, l)| l.expires_boot_ms <= now)
            .map(|(id, _)| *id)
            .collect();
        if expired.is_empty() {
            return Ok(leases);
        }
        self.drop_lease_keys(&expired)?;
        for id in &expired {
            leases.leases.remove(id);
        }
        self.write_leases(&leases)?;
        Ok(leases)
    }

    fn drop_lease_keys(&self, ids: &[i64]) -> Result<(), StoreError> {
        let mut doomed = Vec::new();
        let kv = self.dir.join("kv");
        for item in fs::read_dir(&kv).map_err(|e| io("list", &kv, e))? {
            let item = item.map_err(|e| io("list", &kv, e))?;
            let Some(name) = item.file_name().to_str().map(|s| s.replace('~', "/")) else {
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            if let Some(rec) = self.read_record(&name)?
                && rec.lease.is_some_and(|l| ids.contains(&l))
            {
                doomed.push((name, None));
            }
        }
        if doomed.is_empty() {
            return Ok(());
        }
        self.write_changes(doomed)
    }

    fn commit_sync(&self, txn: Txn) -> Result<bool, StoreError> {
        let mut seen = std::collections::HashSet::new();
        for (key, _) in &txn.guards {
            check_key(key)?;
        }
        for op in &txn.ops {
            let key = match op {
                Op::Put { key, .. } | Op::Delete { key } => key,
            };
            check_key(key)?;
            if !seen.insert(key.clone()) {
                return Err(StoreError::BadKey {
                    key: key.clone(),
                    reason: "changed twice in one transaction".into(),
                });
            }
        }
        let _lock = self.lock(true)?;
        self.recover()?;
        let leases = self.expire()?;
        let now = now_ms();
        let current = |key: &str| -> Result<Option<Record>, StoreError> {
            Ok(self.read_record(key)?.filter(|r| alive(r, &leases, now)))
        };
        for (key, expect) in &txn.guards {
            let rec = current(key)?;
            let holds = match (expect, &rec) {
                (Expect::Absent, None) => true,
                (Expect::ModRevision(want), Some(r)) => r.mod_revision == *want,
                _ => false,
            };
            if !holds {
                return Ok(false);
            }
        }
        if txn.ops.is_empty() {
            return Ok(true);
        }
        let revision = self.read_revision()? + 1;
        let mut changes = Vec::with_capacity(txn.ops.len());
        for op in txn.ops {
            match op {
                Op::Put { key, value, lease } => {
                    if let Some(l) = lease
                        && !leases.leases.contains_key(&l.0)
                    {
                        return Err(StoreError::LeaseGone(l));
                    }
                    let create_revision = current(&key)?.map_or(revision, |r| r.create_revision);
                    let (value, value_base64) = match String::from_utf8(value) {
                        Ok(s) => (Some(s), None),
                        Err(e) => (
                            None,
                            Some(base64::engine::general_purpose::STANDARD.encode(e.into_bytes())),
                        ),
                    };
                    changes.push((
                        key,
                        Some(Record {
                            create_revision,
                            mod_revision: revision,
                            lease: lease.map(|l| l.0),
                            value,
                            value_base64,
                        }),
                    ));
                }
                Op::Delete { key } => {
                    if current(&key)?.is_some() {
                        changes.push((key, None));
                    }
                }
            }
        }
        if !changes.is_empty() {
            self.write_changes(changes)?;
        }
        Ok(true)
    }

    fn grant_sync(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        let _lock = self.lock(true)?;
        self.recover()?;
        let mut leases = self.expire()?;
        static SEQ: AtomicU64 = AtomicU64::new(0);
        // Unique across processes: time, pid and a per-process counter, kept positive.
        let mut id = ((now_ms() << 20)
            ^ (u64::from(std::process::id()) << 8)
            ^ SEQ.fetch_add(1, Ordering::Relaxed))
            & (i64::MAX as u64);
        while leases.leases.contains_key(&(id as i64)) || id == 0 {
            id = id.wrapping_add(1) & (i64::MAX as u64);
        }
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1000);
        leases.leases.insert(
            id as i64,
            LeaseRecord {
                ttl_ms,
                expires_boot_ms: now_ms() + ttl_ms,
            },
        );
        self.write_leases(&leases)?;
        Ok(LeaseId(id as i64))
    }

    fn keep_alive_sync(&self, lease: LeaseId) -> Result<(), StoreError> {
        let _lock = self.lock(true)?;
        self.recover()?;
        let mut leases = self.expire()?;
        let Some(rec) = leases.leases.get_mut(&lease.0) else {
            return Err(StoreError::LeaseGone(lease));
        };
        rec.expires_boot_ms = now_ms() + rec.ttl_ms;
        self.write_leases(&leases)
    }

    fn revoke_sync(&self, lease: LeaseId) -> Result<(), StoreError> {
        let _lock = self.lock(true)?;
        self.recover()?;
        let mut leases = self.expire()?;
        if leases.leases.remove(&lease.0).is_none() {
            return Ok(());
        }
        self.drop_lease_keys(&[lease.0])?;
        self.write_leases(&leases)
    }
}

#[async_trait]
impl Store for FileStore {
    fn endpoint(&self) -> String {
        format!("file://{}", self.dir.display())
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        let key = key.to_owned();
        self.blocking(move |s| s.get_sync(&key)).await
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        let prefix = prefix.to_owned();
        self.blocking(move |s| s.list_sync(&prefix)).await
    }

    async fn commit(&self, txn: Txn) -> Result<bool, StoreError> {
        self.blocking(move |s| s.commit_sync(txn)).await
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        self.blocking(move |s| s.grant_sync(ttl)).await
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.blocking(move |s| s.keep_alive_sync(lease)).await
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        self.blocking(move |s| s.revoke_sync(lease)).await
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, StoreError> {
        check_prefix(prefix)?;
        let prefix = prefix.to_owned();
        // Subscribe before the first look, so that no change between the two is missed.
        let notices = match self.notifier.subscribe(&self.dir) {
            Ok(rx) => Some(rx),
            Err(e) => {
                tracing::debug!("file store watch falls back to polling: {e}");
                None
            }
        };
        let p = prefix.clone();
        let last = self
            .blocking(move |s| {
                let _lock = s.read_lock()?;
                s.scan(&p)
            })
            .await?;
        let (tx, rx) = mpsc::channel(256);
        let watcher = Watcher {
            store: self.clone(),
            prefix,
            last,
            tx,
        };
        let task = tokio::spawn(watcher.run(notices));
        Ok(Watch { rx, task })
    }
}

/// Changes in the `kv` directory as inotify reports them, shared by every watch on one
/// store in this process: one inotify instance per store, not per watch.
#[derive(Debug, Clone, Default)]
struct Notifier {
    tx: Arc<Mutex<Option<broadcast::Sender<Notice>>>>,
}

/// What changed.
#[derive(Debug, Clone)]
enum Notice {
    /// The file of this key was replaced or removed.
    Key(String),
    /// Changes were lost (the kernel's queue overflowed): look at everything.
    Rescan,
}

impl Notifier {
    /// A receiver of the store's changes, starting the inotify reader when none runs.
    fn subscribe(&self, dir: &Path) -> Result<broadcast::Receiver<Notice>, StoreError> {
        let mut guard = self.tx.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tx) = guard.as_ref() {
            return Ok(tx.subscribe());
        }
        let kv = dir.join("kv");
        let inotify =
            Inotify::init(InitFlags::IN_CLOEXEC).map_err(|e| io("watch", &kv, e.into()))?;
        inotify
            .add_watch(
                &kv,
                AddWatchFlags::IN_MOVED_TO
                    | AddWatchFlags::IN_MOVED_FROM
                    | AddWatchFlags::IN_CLOSE_WRITE
                    | AddWatchFlags::IN_DELETE,
            )
            .map_err(|e| io("watch", &kv, e.into()))?;
        let (tx, rx) = broadcast::channel(1024);
        *guard = Some(tx.clone());
        let shared = Arc::clone(&self.tx);
        // A thread of its own blocks on the inotify descriptor; it ends at the first change
        // after the last watch is gone, or when reading fails (watches then look by
        // themselves).
        let spawned = std::thread::Builder::new()
            .name("store-watch".into())
            .spawn(move || {
                while let Ok(events) = inotify.read_events() {
                    for ev in events {
                        let notice = if ev.mask.contains(AddWatchFlags::IN_Q_OVERFLOW) {
                            Notice::Rescan
                        } else {
                            match ev.name.as_ref().and_then(|n| n.to_str()) {
                                Some(name) if !name.starts_with('.') => {
                                    Notice::Key(name.replace('~', "/"))
                                }
                                _ => continue,
                            }
                        };
                        let _ = tx.send(notice);
                    }
                    let mut guard = shared.lock().unwrap_or_else(|e| e.into_inner());
                    if tx.receiver_count() == 0 {
                        *guard = None;
                        return;
                    }
                }
                *shared.lock().unwrap_or_else(|e| e.into_inner()) = None;
            });
        if let Err(e) = spawned {
            *guard = None;
            return Err(io("watch", &kv, e));
        }
        Ok(rx)
    }
}

/// How often a watch checks the leases of the keys it reports (a lapsed lease removes its
/// keys without touching their files).
const LEASE_CHECK: Duration = Duration::from_millis(250);
/// How often a watch looks at every key under its prefix, in case a change was missed.
/// inotify reports every change (when its queue overflows the watches look at once), so
/// this is a safety net only: each look reads every file under the prefix, which with a
/// thousand volumes is most of what an idle agent would do.
const RESCAN_EVERY: Duration = Duration::from_secs(30);

/// One watch: the keys it last reported, and where to send changes.
struct Watcher {
    store: FileStore,
    prefix: String,
    last: BTreeMap<String, Entry>,
    tx: mpsc::Sender<Result<WatchEvent, StoreError>>,
}

impl Watcher {
    async fn run(mut self, mut notices: Option<broadcast::Receiver<Notice>>) {
        let mut lease_check = tokio::time::interval(LEASE_CHECK);
        let mut rescan = tokio::time::interval(if notices.is_some() {
            RESCAN_EVERY
        } else {
            WATCH_POLL
        });
        rescan.tick().await;
        loop {
            let sent = tokio::select! {
                notice = async { notices.as_mut()?.recv().await.ok() }, if notices.is_some() => {
                    match notice {
                        Some(Notice::Key(key)) if key.starts_with(&self.prefix) => self.look_at(key).await,
                        Some(Notice::Key(_)) => true,
                        Some(Notice::Rescan) => self.look_at_all().await,
                        None => {
                            // Lagged behind or the reader stopped: look at everything, and
                            // subscribe again (or poll from now on).
                            notices = self.store.notifier.subscribe(&self.store.dir).ok();
                            if notices.is_none() {
                                rescan = tokio::time::interval(WATCH_POLL);
                            }
                            self.look_at_all().await
                        }
                    }
                }
                _ = lease_check.tick(), if self.last.values().any(|e| e.lease.is_some()) => {
                    self.look_at_leases().await
                }
                _ = rescan.tick() => self.look_at_all().await,
            };
            if !sent {
                return;
            }
        }
    }

    /// Sends the change of one key, if any; false when the watch's reader is gone.
    async fn look_at(&mut self, key: String) -> bool {
        let k = key.clone();
        let now = self.store.blocking(move |s| s.get_sync(&k)).await;
        match now {
            Ok(now) => {
                let events = diff_one(&mut self.last, &key, now);
                self.send(events).await
            }
            Err(e) => self.tx.send(Err(e)).await.is_ok(),
        }
    }

    /// Sends every change under the prefix since the last look.
    async fn look_at_all(&mut self) -> bool {
        let p = self.prefix.clone();
        let now = self
            .store
            .blocking(move |s| {
                let _lock = s.read_lock()?;
                s.scan(&p)
            })
            .await;
        match now {
            Ok(now) => {
                let events = diff_all(&self.last, &now);
                self.last = now;
                self.send(events).await
            }
            Err(e) => self.tx.send(Err(e)).await.is_ok(),
        }
    }

    /// Sends a delete for each reported key whose lease has lapsed.
    async fn look_at_leases(&mut self) -> bool {
        let leases = self.store.blocking(|s| s.read_leases()).await;
        let leases = match leases {
            Ok(l) => l,
            Err(e) => return self.tx.send(Err(e)).await.is_ok(),
        };
        let now = now_ms();
        let lapsed: Vec<String> = self
            .last
            .iter()
            .filter(|(_, e)| {
                e.lease.is_some_and(|l| {
                    leases
                        .leases
                        .get(&l.0)
                        .is_none_or(|r| r.expires_boot_ms <= now)
                })
            })
            .map(|(k, _)| k.clone())
            .collect();
        let mut events = Vec::new();
        for key in lapsed {
            self.last.remove(&key);
            events.push(WatchEvent::Delete { key });
        }
        self.send(events).await
    }

    async fn send(&self, events: Vec<WatchEvent>) -> bool {
        for ev in events {
            if self.tx.send(Ok(ev)).await.is_err() {
                return false;
            }
        }
        true
    }
}

/// The change of one key between what was last reported and `now`, recorded in `last`.
fn diff_one(last: &mut BTreeMap<String, Entry>, key: &str, now: Option<Entry>) -> Vec<WatchEvent> {
    match now {
        Some(e) => {
            if last.get(key).map(|l| l.mod_revision) == Some(e.mod_revision) {
                return Vec::new();
            }
            last.insert(key.to_owned(), e.clone());
            vec![WatchEvent::Put(e)]
        }
        None => match last.remove(key) {
            Some(_) => vec![WatchEvent::Delete {
                key: key.to_owned(),
            }],
            None => Vec::new(),
        },
    }
}

/// Every change between two looks at a prefix.
fn diff_all(last: &BTreeMap<String, Entry>, now: &BTreeMap<String, Entry>) -> Vec<WatchEvent> {
    let mut events = Vec::new();
    for (key, entry) in now {
        if last.get(key).map(|e| e.mod_revision) != Some(entry.mod_revision) {
            events.push(WatchEvent::Put(entry.clone()));
        }
    }
    for key in last.keys() {
        if !now.contains_key(key) {
            events.push(WatchEvent::Delete { key: key.clone() });
        }
    }
    events
}

fn alive(rec: &Record, leases: &Leases, now: u64) -> bool {
    match rec.lease {
        None => true,
        Some(id) => leases
            .leases
            .get(&id)
            .is_some_and(|l| l.expires_boot_ms > now),
    }
}

fn to_entry(key: &str, rec: Record, path: &Path) -> Result<Entry, StoreError> {
    let value = match (rec.value, rec.value_base64) {
        (Some(s), _) => s.into_bytes(),
        (None, Some(b)) => base64::engine::general_purpose::STANDARD
            .decode(b)
            .map_err(|e| corrupt(path, e))?,
        (None, None) => Vec::new(),
    };
    Ok(Entry {
        key: key.to_owned(),
        value,
        create_revision: rec.create_revision,
        mod_revision: rec.mod_revision,
        lease: rec.lease.map(LeaseId),
    })
}

fn io(op: &'static str, path: &Path, source: std::io::Error) -> StoreError {
    StoreError::Io {
        op,
        path: path.display().to_string(),
        source,
    }
}

fn corrupt(path: &Path, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        path: path.display().to_string(),
        reason: e.to_string(),
    }
}

/// Replaces `dir/name` with `bytes` atomically and durably.
fn atomic_write(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), StoreError> {
    brickyard_sys::fs::write_atomic(&dir.join(name), bytes, FILE_MODE).map_err(fs_err)
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    brickyard_sys::fs::sync_dir(dir).map_err(fs_err)
}

fn fs_err(e: brickyard_sys::fs::FsError) -> StoreError {
    StoreError::Io {
        op: e.op,
        path: e.path.display().to_string(),
        source: e.source,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn watches_share_one_inotify_reader_that_stops_after_the_last() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path()).expect("open");
        let running = |s: &FileStore| s.notifier.tx.lock().expect("lock").is_some();
        let mut a = store.watch("a/").await.expect("watch");
        let b = store.watch("b/").await.expect("watch");
        assert!(running(&store), "the watches use inotify, not polling");
        store.put("a/x", b"1", None).await.expect("put");
        let ev = tokio::time::timeout(Duration::from_secs(2), a.next())
            .await
            .expect("an event well before the safety rescan")
            .expect("open")
            .expect("no error");
        assert!(matches!(ev, WatchEvent::Put(e) if e.key == "a/x"));
        drop((a, b));
        tokio::time::sleep(Duration::from_millis(50)).await;
        // The reader notices at the next change that nobody listens.
        store.put("c/y", b"1", None).await.expect("put");
        for _ in 0..100 {
            if !running(&store) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the inotify reader outlived its watches");
    }
}
