//! The store: brickyard's desired state and the agents' shared coordination space.
//!
//! One [`Store`] trait, two implementations with the same semantics:
//! - [`FileStore`] (`file:///abs/dir`), the embedded default for one machine, safe for many
//!   processes at once (every lab host's agent uses it);
//! - [`EtcdStore`] (`etcd://host:port[,host:port...]`), etcd v3 for many machines.
//!
//! Architecture invariant: this crate knows keys and bytes, leases and revisions. It does not
//! know what a volume is; the typed helpers in [`configs`] only use the model's parser.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;
use tokio::sync::mpsc;

mod changes;
pub mod configs;
mod etcd;
mod file;
pub mod lock;
mod member;
mod mirror;
mod url;

pub use changes::{Changes, POLL_WITHOUT_WATCH};
pub use etcd::{EtcdOptions, EtcdStore};
pub use file::FileStore;
pub use lock::{Held, Lock, LockValue};
pub use member::EtcdMember;
pub use mirror::{Mirrored, RELIST_EVERY};
pub use url::{DEFAULT_STORE_URL, StoreUrl, open};

/// A store revision: increases with every change.
pub type Revision = i64;

/// A lease: keys attached to it vanish when it is not kept alive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct LeaseId(pub i64);

impl fmt::Display for LeaseId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:x}", self.0)
    }
}

/// One key and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The key.
    pub key: String,
    /// The value, exactly as put.
    pub value: Vec<u8>,
    /// The revision at which the key was created (0 never happens for a present key).
    pub create_revision: Revision,
    /// The revision of the last change to the key.
    pub mod_revision: Revision,
    /// The lease the key is attached to, if any.
    pub lease: Option<LeaseId>,
}

/// A condition on one key, checked atomically with a commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// The key does not exist.
    Absent,
    /// The key exists and was last changed at exactly this revision.
    ModRevision(Revision),
}

/// One change in a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Set a key, optionally attached to a lease.
    Put {
        /// The key.
        key: String,
        /// The new value.
        value: Vec<u8>,
        /// The lease to attach it to.
        lease: Option<LeaseId>,
    },
    /// Remove a key (no error when absent).
    Delete {
        /// The key.
        key: String,
    },
}

/// Guards and changes applied all together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Txn {
    /// Conditions that must all hold for the changes to be applied.
    pub guards: Vec<(String, Expect)>,
    /// Changes, applied together when every guard holds. At most one per key.
    pub ops: Vec<Op>,
}

/// A change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A key was set (created or changed); carries the new entry.
    Put(Entry),
    /// A key was removed, or its lease expired.
    Delete {
        /// The key that went away.
        key: String,
    },
}

/// A stream of changes under a prefix, starting when the watch was made.
///
/// Watches are level-triggered: a reader may see only the latest of several quick changes
/// to one key, so a consumer re-reads what it cares about rather than replaying events.
/// Dropping the watch stops it.
pub struct Watch {
    rx: mpsc::Receiver<Result<WatchEvent, StoreError>>,
    task: tokio::task::JoinHandle<()>,
}

impl Watch {
    /// The next change; `None` when the watch ended.
    pub async fn next(&mut self) -> Option<Result<WatchEvent, StoreError>> {
        self.rx.recv().await
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl fmt::Debug for Watch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Watch")
    }
}

/// Why a store operation failed.
#[derive(Debug, Error)]
pub enum StoreError {
    /// The store could not be reached in time.
    #[error("store {endpoint} is unreachable: {reason}; {hint}")]
    Unreachable {
        /// The store's endpoint(s).
        endpoint: String,
        /// What happened.
        reason: String,
        /// What to check.
        hint: String,
    },
    /// The store answered with an error.
    #[error("store {endpoint}: {op} {key:?} failed: {reason}")]
    Backend {
        /// The store's endpoint(s).
        endpoint: String,
        /// The operation (`get`, `put`, ...).
        op: &'static str,
        /// The key or prefix concerned.
        key: String,
        /// What the store said.
        reason: String,
    },
    /// A key that brickyard would never write.
    #[error("bad store key {key:?}: {reason}")]
    BadKey {
        /// The key.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A file operation of the file store failed.
    #[error("file store: {op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file concerned.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// A file of the file store cannot be read back.
    #[error("file store: {path} is damaged: {reason}; restore it from a backup or remove it")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
    /// A store URL that cannot be used.
    #[error("store URL {url:?}: {reason}")]
    BadUrl {
        /// The URL as given.
        url: String,
        /// What is wrong, and what to write instead.
        reason: String,
    },
    /// The lease is gone (expired or revoked).
    #[error("lease {0} has expired or was revoked")]
    LeaseGone(LeaseId),
}

/// The operations every store offers, with the same semantics.
#[async_trait]
pub trait Store: Send + Sync + fmt::Debug {
    /// The endpoint, for messages (`file:///var/lib/brickyard/store`, `etcd://...`).
    fn endpoint(&self) -> String;

    /// Reads one key.
    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError>;

    /// Reads every key starting with `prefix`, sorted by key.
    async fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError>;

    /// Applies a transaction: `Ok(true)` when every guard held and the changes were made,
    /// `Ok(false)` when a guard failed and nothing changed.
    async fn commit(&self, txn: Txn) -> Result<bool, StoreError>;

    /// Creates a lease that expires after `ttl` unless kept alive.
    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError>;

    /// Renews a lease for another TTL. Fails with [`StoreError::LeaseGone`] when it expired.
    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Ends a lease at once; its keys are removed.
    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError>;

    /// Watches changes to keys under `prefix` from now on.
    async fn watch(&self, prefix: &str) -> Result<Watch, StoreError>;

    /// Sets a key.
    async fn put(&self, key: &str, value: &[u8], lease: Option<LeaseId>) -> Result<(), StoreError> {
        self.commit(Txn {
            guards: vec![],
            ops: vec![Op::Put {
                key: key.to_owned(),
                value: value.to_vec(),
                lease,
            }],
        })
        .await
        .map(|_| ())
    }

    /// Removes a key; `Ok(true)` when it existed.
    async fn delete(&self, key: &str) -> Result<bool, StoreError> {
        let Some(entry) = self.get(key).await? else {
            return Ok(false);
        };
        self.commit(Txn {
            guards: vec![(key.to_owned(), Expect::ModRevision(entry.mod_revision))],
            ops: vec![Op::Delete {
                key: key.to_owned(),
            }],
        })
        .await
    }

    /// Sets a key only if it is in the expected state; `Ok(false)` when it was not.
    async fn compare_and_swap(
        &self,
        key: &str,
        expect: Expect,
        value: &[u8],
        lease: Option<LeaseId>,
    ) -> Result<bool, StoreError> {
        self.commit(Txn {
            guards: vec![(key.to_owned(), expect)],
            ops: vec![Op::Put {
                key: key.to_owned(),
                value: value.to_vec(),
                lease,
            }],
        })
        .await
    }
}

/// Checks a key: `/`-separated segments of letters, digits, `.`, `_` and `-`, none empty,
/// `.` or `..`. Every key brickyard writes is built from validated names, so this only
/// rejects programming errors and hostile input at the store's edge.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    check_key_or_prefix(key, false)
}

/// Checks a prefix for [`Store::list`] and [`Store::watch`]: like a key, but it may end in
/// `/` and may be empty (everything).
pub fn check_prefix(prefix: &str) -> Result<(), StoreError> {
    if prefix.is_empty() {
        return Ok(());
    }
    check_key_or_prefix(prefix, true)
}

fn check_key_or_prefix(key: &str, prefix: bool) -> Result<(), StoreError> {
    let bad = |reason: &str| StoreError::BadKey {
        key: key.to_owned(),
        reason: reason.to_owned(),
    };
    if key.is_empty() {
        return Err(bad("empty"));
    }
    if key.len() > 512 {
        return Err(bad("longer than 512 characters"));
    }
    let body = if prefix {
        key.strip_suffix('/').unwrap_or(key)
    } else {
        key
    };
    for seg in body.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(bad("has an empty, '.' or '..' segment"));
        }
        if let Some(c) = seg
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
        {
            return Err(bad(&format!("contains {c:?}")));
        }
    }
    Ok(())
}

/// The timeouts every store call keeps to, so that an unreachable store never hangs a
/// command.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Time to establish a connection.
    pub connect: Duration,
    /// Time for one request.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: Duration::from_secs(3),
            request: Duration::from_secs(5),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        for ok in [
            "gluster/config/atomic-1",
            "a",
            "gluster/locks/pool",
            "x.y_z-1",
        ] {
            assert!(check_key(ok).is_ok(), "{ok}");
        }
        for bad in [
            "", "/a", "a/", "a//b", "a/../b", "a/./b", "a b", "a~b", "a\nb",
        ] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
        assert!(check_prefix("gluster/config/").is_ok());
        assert!(check_prefix("").is_ok());
        assert!(check_prefix("gluster//").is_err());
    }
}
