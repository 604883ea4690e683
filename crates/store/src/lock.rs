//! A lease-backed lock: the holder's key lives as long as its lease is kept alive.
//!
//! Built on [`Store::commit`] only, so it behaves the same on both stores. It is a try-lock:
//! callers that lose retry later (agents reconcile in a loop anyway), which keeps the lock
//! free of queues that a crashed waiter could block.

use crate::{Expect, LeaseId, Op, Store, StoreError, Txn};

/// A named cluster-wide lock, held under a lease.
#[derive(Debug, Clone)]
pub struct Lock {
    key: String,
    holder: String,
}

impl Lock {
    /// A lock at `gluster/locks/<name>`, taken on behalf of `holder` (e.g. a host name).
    pub fn new(name: &str, holder: &str) -> Self {
        Self {
            key: brickyard_model::keys::lock_key(name),
            holder: holder.to_owned(),
        }
    }

    /// Tries to take the lock under `lease`. `Ok(true)` when this holder now has it, also
    /// when it had it already (then the key moves to `lease`, so a restarted holder with a
    /// new lease takes over its own lock without waiting for the old lease to expire).
    pub async fn try_acquire(&self, store: &dyn Store, lease: LeaseId) -> Result<bool, StoreError> {
        let put = Op::Put {
            key: self.key.clone(),
            value: self.holder.as_bytes().to_vec(),
            lease: Some(lease),
        };
        if store
            .commit(Txn {
                guards: vec![(self.key.clone(), Expect::Absent)],
                ops: vec![put.clone()],
            })
            .await?
        {
            return Ok(true);
        }
        match store.get(&self.key).await? {
            Some(e) if e.value == self.holder.as_bytes() => {
                if e.lease == Some(lease) {
                    return Ok(true);
                }
                store
                    .commit(Txn {
                        guards: vec![(self.key.clone(), Expect::ModRevision(e.mod_revision))],
                        ops: vec![put],
                    })
                    .await
            }
            _ => Ok(false),
        }
    }

    /// Who holds the lock now, if anyone.
    pub async fn holder(&self, store: &dyn Store) -> Result<Option<String>, StoreError> {
        Ok(store
            .get(&self.key)
            .await?
            .map(|e| String::from_utf8_lossy(&e.value).into_owned()))
    }

    /// Gives the lock up if this holder has it.
    pub async fn release(&self, store: &dyn Store) -> Result<(), StoreError> {
        if let Some(e) = store.get(&self.key).await?
            && e.value == self.holder.as_bytes()
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
