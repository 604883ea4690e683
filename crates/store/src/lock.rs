//! A lease-backed lock: the holder's key lives as long as its lease is kept alive.
//!
//! Built on [`Store::commit`] only, so it behaves the same on both stores. It is a try-lock:
//! callers that lose retry later (agents reconcile in a loop anyway), which keeps the lock
//! free of queues that a crashed waiter could block.
//!
//! The lock's identity is its lease, not its holder's name: two processes that call
//! themselves the same (an agent and a `node bootstrap` next to it, or two agents given the
//! same `--host`) are two holders, and only the one whose lease the key is attached to holds
//! it. A holder that restarts with a new lease waits until its old lease expires (or was
//! revoked on a clean stop).
//!
//! Every write a holder makes because it holds the lock can be fenced with [`Held::guard`]:
//! a transaction guarded by the lock key's revision at acquisition fails once the lock has
//! moved, so a holder that lost the lock (its lease lapsed while it was busy) cannot
//! overwrite what the next holder did.

use serde::{Deserialize, Serialize};

use crate::{Expect, LeaseId, Op, Revision, Store, StoreError, Txn};

/// A named cluster-wide lock, held under a lease.
#[derive(Debug, Clone)]
pub struct Lock {
    key: String,
    holder: String,
}

/// What the lock's key holds: who, under which lease.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockValue {
    /// The holder's name (a host name), for people.
    pub holder: String,
    /// The lease the key is attached to.
    pub lease: LeaseId,
}

/// The lock, held: the revision at which this holder took it, for fencing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    key: String,
    revision: Revision,
    lease: LeaseId,
}

impl Held {
    /// The guard that makes a transaction fail unless the lock is still exactly as this
    /// holder took it.
    pub fn guard(&self) -> (String, Expect) {
        (self.key.clone(), Expect::ModRevision(self.revision))
    }

    /// The lease the lock is held under.
    pub fn lease(&self) -> LeaseId {
        self.lease
    }

    /// Whether the lock is still held this way, asking the store.
    pub async fn still_held(&self, store: &dyn Store) -> Result<bool, StoreError> {
        Ok(store
            .get(&self.key)
            .await?
            .is_some_and(|e| e.mod_revision == self.revision && e.lease == Some(self.lease)))
    }
}

impl Lock {
    /// A lock at `gluster/locks/<name>`, taken on behalf of `holder` (e.g. a host name).
    pub fn new(name: &str, holder: &str) -> Self {
        Self {
            key: brickyard_model::keys::lock_key(name),
            holder: holder.to_owned(),
        }
    }

    /// Tries to take the lock under `lease`. `Ok(Some(held))` when this lease now holds it,
    /// also when it held it already; `Ok(None)` when another lease holds it, whatever its
    /// holder's name.
    pub async fn try_acquire(
        &self,
        store: &dyn Store,
        lease: LeaseId,
    ) -> Result<Option<Held>, StoreError> {
        let value = serde_json::to_vec(&LockValue {
            holder: self.holder.clone(),
            lease,
        })
        .expect("lock values always serialise");
        // When the key exists this changes nothing: it is held by this lease already (a
        // later pass) or by another one; the read below tells which.
        store
            .commit(Txn {
                guards: vec![(self.key.clone(), Expect::Absent)],
                ops: vec![Op::Put {
                    key: self.key.clone(),
                    value,
                    lease: Some(lease),
                }],
            })
            .await?;
        Ok(store
            .get(&self.key)
            .await?
            .filter(|e| e.lease == Some(lease))
            .map(|e| Held {
                key: self.key.clone(),
                revision: e.mod_revision,
                lease,
            }))
    }

    /// Who holds the lock now, if anyone.
    pub async fn holder(&self, store: &dyn Store) -> Result<Option<String>, StoreError> {
        Ok(store.get(&self.key).await?.map(|e| {
            serde_json::from_slice::<LockValue>(&e.value)
                .map(|v| v.holder)
                .unwrap_or_else(|_| String::from_utf8_lossy(&e.value).into_owned())
        }))
    }

    /// Gives the lock up if `lease` holds it.
    pub async fn release(&self, store: &dyn Store, lease: LeaseId) -> Result<(), StoreError> {
        if let Some(e) = store.get(&self.key).await?
            && e.lease == Some(lease)
        {
            store
                .commit(Txn {
                    guards: vec![(self.key.clone(), Expect::ModRevision(e.mod_revision))],
                    ops: vec![Op::Delete {
                        key: self.key.clone(),
                    }],
                })
                .await?;
        }
        Ok(())
    }
}
