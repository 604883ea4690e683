//! The store operations clients use. They only read and write the store; the node agents
//! act on what they write ([`crate::reconcile`]).
//!
//! Every change is a compare-and-swap: [`create`] succeeds only if no record of that name
//! exists (so many concurrent creates of one name give exactly one volume), and the other
//! changes are guarded by the record's revision, retried a few times when others change it
//! at the same moment.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use brickyard_model::keys::{STATUS_PREFIX as AGENT_STATUS_PREFIX, VOLUME_PREFIX, volume_key};
use brickyard_model::names::check_volume_name;
use brickyard_store::{Entry, Expect, Store, configs};
use serde::{Deserialize, Serialize};

use crate::error::VolumeError;
use crate::placement::{self, Candidate, Mount};
use crate::profile;
use crate::record::{
    DesiredState, STATUS_PREFIX, UNMANAGED_KEY, VolumeRecord, VolumeSpec, VolumeStatus, status_key,
};

/// How often a guarded change is tried before giving up as contended.
const ATTEMPTS: usize = 5;

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// A volume as a client sees it: what was asked for and what the agents last reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeView {
    /// The desired record.
    pub record: VolumeRecord,
    /// The agents' status; `None` until an agent has looked at the volume.
    pub status: Option<VolumeStatus>,
}

fn parse_record(e: &Entry) -> Result<VolumeRecord, VolumeError> {
    serde_json::from_slice(&e.value).map_err(|err| VolumeError::Corrupt {
        key: e.key.clone(),
        reason: err.to_string(),
    })
}

/// Every record with its store entry, sorted by name.
pub(crate) async fn records(store: &dyn Store) -> Result<Vec<(Entry, VolumeRecord)>, VolumeError> {
    store
        .list(VOLUME_PREFIX)
        .await?
        .into_iter()
        .map(|e| parse_record(&e).map(|r| (e, r)))
        .collect()
}

/// Every status, by volume name; unreadable ones are skipped (the next pass rewrites them).
pub(crate) async fn statuses(
    store: &dyn Store,
) -> Result<BTreeMap<String, VolumeStatus>, VolumeError> {
    Ok(store
        .list(STATUS_PREFIX)
        .await?
        .iter()
        .filter_map(|e| serde_json::from_slice::<VolumeStatus>(&e.value).ok())
        .map(|s| (s.name.clone(), s))
        .collect())
}

/// The part of an agent's liveness record placement needs.
#[derive(Deserialize)]
struct Liveness {
    host: String,
    #[serde(default)]
    bricks: Vec<crate::BrickSpace>,
}

/// The live agents' brick filesystems, by host.
async fn brick_space(
    store: &dyn Store,
) -> Result<BTreeMap<String, Vec<crate::BrickSpace>>, VolumeError> {
    Ok(store
        .list(AGENT_STATUS_PREFIX)
        .await?
        .iter()
        .filter_map(|e| serde_json::from_slice::<Liveness>(&e.value).ok())
        .map(|l| (l.host, l.bricks))
        .collect())
}

/// How many bytes volume `name` can hold, from the brick filesystem sizes its hosts' agents
/// report (see [`VolumeRecord::capacity`]); `Ok(None)` when a host of one of its sets is not
/// live or has not reported its bricks yet.
pub async fn capacity(store: &dyn Store, name: &str) -> Result<Option<u64>, VolumeError> {
    let view = get(store, name).await?;
    let space = brick_space(store).await?;
    Ok(view.record.capacity(|b| {
        space
            .get(&b.host)?
            .iter()
            .find(|s| s.mount_point == b.mount())
            .map(|s| s.size_bytes)
    }))
}

/// The hosts that may receive bricks: every valid host config, live when its agent's
/// liveness record exists, with the bricks every record already places on each mount.
pub async fn candidates(store: &dyn Store) -> Result<Vec<Candidate>, VolumeError> {
    let space = brick_space(store).await?;
    let mut load: BTreeMap<(String, String), u32> = BTreeMap::new();
    for (_, r) in records(store).await? {
        for b in &r.bricks {
            *load
                .entry((b.host.clone(), b.mount().to_owned()))
                .or_default() += 1;
        }
    }
    Ok(configs::list(store)
        .await?
        .into_iter()
        .filter_map(|c| c.parsed.ok())
        .map(|c| Candidate {
            live: space.contains_key(&c.host_name),
            ip: c.ip().to_string(),
            zone: c.zone.clone(),
            mounts: c
                .bricks()
                .into_iter()
                .map(|(_, path)| Mount {
                    bricks: load
                        .get(&(c.host_name.clone(), path.clone()))
                        .copied()
                        .unwrap_or(0),
                    free_bytes: space.get(&c.host_name).and_then(|mounts| {
                        mounts
                            .iter()
                            .find(|m| m.mount_point == path)
                            .map(|m| m.free_bytes)
                    }),
                    path,
                })
                .collect(),
            host: c.host_name,
        })
        .collect())
}

/// Checks a spec without touching the store: name, layout, profile.
pub fn check_spec(spec: &VolumeSpec) -> Result<(), VolumeError> {
    check_volume_name(&spec.name)?;
    spec.layout
        .check()
        .map_err(|reason| VolumeError::BadLayout {
            name: spec.name.clone(),
            reason,
        })?;
    if profile::options(&spec.profile).is_none() {
        return Err(VolumeError::UnknownProfile {
            name: spec.name.clone(),
            profile: spec.profile.clone(),
            known: profile::NAMES.join(", "),
        });
    }
    if spec.state == DesiredState::Deleted {
        return Err(VolumeError::Refused {
            name: spec.name.clone(),
            reason: "a new volume is either started or stopped".into(),
        });
    }
    Ok(())
}

/// Asks for a new volume: checks the spec, places its bricks on the live hosts, and writes
/// the record only if no record of that name exists. Returns the record written.
pub async fn create(store: &dyn Store, spec: &VolumeSpec) -> Result<VolumeRecord, VolumeError> {
    check_spec(spec)?;
    let key = volume_key(&spec.name);
    if let Some(e) = store.get(&key).await? {
        return Err(exists(&spec.name, &e));
    }
    let bricks = placement::place(&spec.name, &spec.layout, &candidates(store).await?).map_err(
        |reason| VolumeError::Placement {
            name: spec.name.clone(),
            reason: Box::new(reason),
        },
    )?;
    let t = now();
    let record = VolumeRecord {
        name: spec.name.clone(),
        layout: spec.layout,
        profile: spec.profile.clone(),
        state: spec.state,
        bricks,
        created_at: t,
        updated_at: t,
    };
    let value = serde_json::to_vec(&record).map_err(|e| VolumeError::Corrupt {
        key: key.clone(),
        reason: e.to_string(),
    })?;
    if store
        .compare_and_swap(&key, Expect::Absent, &value, None)
        .await?
    {
        Ok(record)
    } else {
        match store.get(&key).await? {
            Some(e) => Err(exists(&spec.name, &e)),
            None => Err(VolumeError::Contended {
                name: spec.name.clone(),
            }),
        }
    }
}

fn exists(name: &str, e: &Entry) -> VolumeError {
    VolumeError::Exists {
        name: name.to_owned(),
        state: parse_record(e).map_or_else(|_| "unreadable".into(), |r| r.state.to_string()),
    }
}

/// Every volume with its status, sorted by name.
pub async fn list(store: &dyn Store) -> Result<Vec<VolumeView>, VolumeError> {
    let mut status = statuses(store).await?;
    Ok(records(store)
        .await?
        .into_iter()
        .map(|(_, record)| VolumeView {
            status: status.remove(&record.name),
            record,
        })
        .collect())
}

/// One volume with its status.
pub async fn get(store: &dyn Store, name: &str) -> Result<VolumeView, VolumeError> {
    check_volume_name(name)?;
    let (_, record) = load(store, name).await?;
    let status = match store.get(&status_key(name)).await? {
        Some(e) => serde_json::from_slice(&e.value).ok(),
        None => None,
    };
    Ok(VolumeView { record, status })
}

/// The gluster volumes no record asks for, as the pool lock's holder last saw them.
pub async fn unmanaged(store: &dyn Store) -> Result<Vec<String>, VolumeError> {
    Ok(match store.get(UNMANAGED_KEY).await? {
        Some(e) => serde_json::from_slice(&e.value).unwrap_or_default(),
        None => Vec::new(),
    })
}

async fn load(store: &dyn Store, name: &str) -> Result<(Entry, VolumeRecord), VolumeError> {
    let Some(e) = store.get(&volume_key(name)).await? else {
        return Err(VolumeError::NotFound {
            name: name.to_owned(),
        });
    };
    let r = parse_record(&e)?;
    Ok((e, r))
}

/// Reads the record, lets `change` edit it (or refuse), and writes it back guarded by its
/// revision; retried when another writer got there first.
async fn update(
    store: &dyn Store,
    name: &str,
    mut change: impl FnMut(&mut VolumeRecord) -> Result<(), VolumeError>,
) -> Result<VolumeRecord, VolumeError> {
    check_volume_name(name)?;
    for _ in 0..ATTEMPTS {
        let (entry, mut record) = load(store, name).await?;
        change(&mut record)?;
        record.updated_at = now();
        let value = serde_json::to_vec(&record).map_err(|e| VolumeError::Corrupt {
            key: entry.key.clone(),
            reason: e.to_string(),
        })?;
        if store
            .compare_and_swap(
                &entry.key,
                Expect::ModRevision(entry.mod_revision),
                &value,
                None,
            )
            .await?
        {
            return Ok(record);
        }
    }
    Err(VolumeError::Contended {
        name: name.to_owned(),
    })
}

fn refuse_if_deleted(r: &VolumeRecord) -> Result<(), VolumeError> {
    if r.state == DesiredState::Deleted {
        return Err(VolumeError::Refused {
            name: r.name.clone(),
            reason: "it is being deleted".into(),
        });
    }
    Ok(())
}

/// Asks for a volume to be started or stopped. To delete, use [`delete`].
pub async fn set_state(
    store: &dyn Store,
    name: &str,
    state: DesiredState,
) -> Result<VolumeRecord, VolumeError> {
    if state == DesiredState::Deleted {
        return Err(VolumeError::Refused {
            name: name.to_owned(),
            reason: "use delete to remove a volume".into(),
        });
    }
    update(store, name, |r| {
        refuse_if_deleted(r)?;
        r.state = state;
        Ok(())
    })
    .await
}

/// Asks for a volume to be deleted: removed from gluster, then its brick directories from
/// every host, then the record. A started volume is refused unless `force` (which stops
/// it first). Deleting a volume already being deleted changes nothing.
pub async fn delete(
    store: &dyn Store,
    name: &str,
    force: bool,
) -> Result<VolumeRecord, VolumeError> {
    update(store, name, |r| {
        if r.state == DesiredState::Started && !force {
            return Err(VolumeError::Refused {
                name: r.name.clone(),
                reason: format!(
                    "it is started; stop it first (`brickyard volume stop {}`) or delete with --force",
                    r.name
                ),
            });
        }
        r.state = DesiredState::Deleted;
        Ok(())
    })
    .await
}

/// Adds one replica/disperse set (one brick for plain distribute), placed on live hosts
/// with a free brick mount for this volume; the agents add the bricks and start a
/// rebalance.
pub async fn expand(store: &dyn Store, name: &str) -> Result<VolumeRecord, VolumeError> {
    let hosts = candidates(store).await?;
    update(store, name, |r| {
        refuse_if_deleted(r)?;
        let more = placement::place_expansion(&r.name, &r.layout, &r.bricks, &hosts).map_err(
            |reason| VolumeError::Placement {
                name: r.name.clone(),
                reason: Box::new(reason),
            },
        )?;
        r.bricks.extend(more);
        r.layout.sets += 1;
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Layout;
    use brickyard_store::FileStore;

    async fn store_with_hosts(n: usize) -> (tempfile::TempDir, FileStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FileStore::open(dir.path()).expect("file store");
        for i in 1..=n {
            let cfg = format!(
                r#"{{"HostName":"h{i}","GlusterNodeName":"g{i}","IPAddress":"10.0.0.{i}/24","BrickDevice":"/dev/sdb"}}"#
            );
            store
                .put(&format!("gluster/config/h{i}"), cfg.as_bytes(), None)
                .await
                .expect("config");
            store
                .put(
                    &format!("gluster/status/h{i}"),
                    format!(r#"{{"host":"h{i}"}}"#).as_bytes(),
                    None,
                )
                .await
                .expect("liveness");
        }
        (dir, store)
    }

    #[tokio::test]
    async fn create_list_state_delete() {
        let (_d, store) = store_with_hosts(3).await;
        let rec = create(&store, &VolumeSpec::new("gv0", Layout::replicate(3)))
            .await
            .expect("created");
        assert_eq!(rec.bricks.len(), 3);
        let again = create(&store, &VolumeSpec::new("gv0", Layout::distribute(1))).await;
        assert!(
            matches!(again, Err(VolumeError::Exists { .. })),
            "{again:?}"
        );
        let bad = create(&store, &VolumeSpec::new("../x", Layout::distribute(1))).await;
        assert!(
            bad.as_ref()
                .is_err_and(|e| e.to_string().contains("volume name \"../x\"")),
            "{bad:?}"
        );
        let too_big = create(&store, &VolumeSpec::new("big", Layout::disperse(6, 2))).await;
        assert!(
            too_big
                .as_ref()
                .is_err_and(|e| e.to_string().contains("needs 6 distinct hosts")),
            "{too_big:?}"
        );
        let refused = delete(&store, "gv0", false).await;
        assert!(
            refused
                .as_ref()
                .is_err_and(|e| e.to_string().contains("stop it first")),
            "{refused:?}"
        );
        set_state(&store, "gv0", DesiredState::Stopped)
            .await
            .expect("stop");
        assert_eq!(
            delete(&store, "gv0", false).await.expect("delete").state,
            DesiredState::Deleted
        );
        let views = list(&store).await.expect("list");
        assert_eq!(views.len(), 1);
        assert!(views[0].status.is_none());
        let expand_deleted = expand(&store, "gv0").await;
        assert!(
            matches!(expand_deleted, Err(VolumeError::Refused { .. })),
            "{expand_deleted:?}"
        );
        assert!(matches!(
            get(&store, "nope").await,
            Err(VolumeError::NotFound { .. })
        ));
    }

    #[tokio::test]
    async fn concurrent_creates_of_one_name_give_one_record() {
        let (_d, store) = store_with_hosts(3).await;
        let store = std::sync::Arc::new(store);
        let tasks: Vec<_> = (0..20)
            .map(|_| {
                let s = store.clone();
                tokio::spawn(async move {
                    create(s.as_ref(), &VolumeSpec::new("one", Layout::replicate(3))).await
                })
            })
            .collect();
        let mut ok = 0;
        for t in tasks {
            match t.await.expect("task") {
                Ok(_) => ok += 1,
                Err(VolumeError::Exists { .. }) => {}
                Err(e) => panic!("unexpected: {e}"),
            }
        }
        assert_eq!(ok, 1);
    }

    #[tokio::test]
    async fn expand_places_on_free_mounts() {
        let (_d, store) = store_with_hosts(3).await;
        create(&store, &VolumeSpec::new("d", Layout::distribute(2)))
            .await
            .expect("created");
        let r = expand(&store, "d").await.expect("expanded");
        assert_eq!(r.layout.sets, 3);
        assert_eq!(r.bricks.len(), 3);
        let full = expand(&store, "d").await;
        assert!(
            full.as_ref()
                .is_err_and(|e| e.to_string().contains("distribute 4 needs 4 brick mounts")),
            "{full:?}"
        );
    }
}
