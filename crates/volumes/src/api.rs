//! The store operations clients use. They only read and write the store; the node agents
//! act on what they write ([`crate::reconcile`]).
//!
//! Every change is a compare-and-swap: [`create`] succeeds only if no record of that name
//! exists (so many concurrent creates of one name give exactly one volume), and the other
//! changes are guarded by the record's revision, retried a few times when others change it
//! at the same moment.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use brickyard_model::keys::{
    STATUS_PREFIX, VOLUME_PREFIX, VOLUME_STATUS_PREFIX, cleanup_prefix, name_in, volume_key,
    volume_status_key,
};
use brickyard_model::names::check_volume_name;
use brickyard_model::records::RecordError;
use brickyard_model::records::agent::{AgentStatus, decode_unmanaged};
use brickyard_model::records::volume::Leftover;
use brickyard_store::{Entry, Expect, Op, Store, Txn, configs};
use serde::{Deserialize, Serialize};

use crate::error::VolumeError;
use crate::placement::{self, Candidate, Mount};
use crate::profile;
use crate::record::{BrickRef, DesiredState, VolumeRecord, VolumeSpec, VolumeStatus};

/// How often a guarded change is tried before giving up as contended.
pub(crate) const ATTEMPTS: usize = 5;

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
    /// The agents' status; `None` until an agent has looked at the volume (or when the
    /// stored status cannot be used: `status_error` says why).
    pub status: Option<VolumeStatus>,
    /// Why the stored status cannot be used, when it cannot.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_error: Option<String>,
}

/// Every volume that can be used, and every stored record that cannot.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listing {
    /// The volumes, sorted by name.
    pub volumes: Vec<VolumeView>,
    /// Records and statuses that cannot be used, each naming its key and the fix; they are
    /// skipped by the agents until fixed or removed.
    pub invalid: Vec<RecordError>,
}

/// What the store holds about volumes, every record checked before use.
#[derive(Debug, Clone, Default)]
pub struct Stored {
    /// Records that can be used, with their store entries, sorted by name.
    pub records: Vec<(Entry, VolumeRecord)>,
    /// Statuses by volume name; an error for one that cannot be used.
    pub statuses: BTreeMap<String, Result<VolumeStatus, RecordError>>,
    /// Records and statuses that cannot be used.
    pub invalid: Vec<RecordError>,
}

/// Reads every record and status, checking each ([`VolumeRecord::decode`]).
pub async fn stored(store: &dyn Store) -> Result<Stored, VolumeError> {
    let (records, mut invalid) = records(store).await?;
    let (statuses, bad_statuses) = statuses(store).await?;
    invalid.extend(bad_statuses);
    Ok(Stored {
        records,
        statuses,
        invalid,
    })
}

/// Volume records that can be used (with their entries, sorted by name) and those that
/// cannot.
pub type Records = (Vec<(Entry, VolumeRecord)>, Vec<RecordError>);

/// Reads every volume record, checking each ([`VolumeRecord::decode`]); no status.
pub async fn records(store: &dyn Store) -> Result<Records, VolumeError> {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for e in store.list(VOLUME_PREFIX).await? {
        match VolumeRecord::decode(&e.key, &e.value) {
            Ok(r) => good.push((e, r)),
            Err(err) => bad.push(err),
        }
    }
    Ok((good, bad))
}

/// Reads every volume status, checking each: by volume name (an error for one that cannot
/// be used), and the statuses that cannot be used, also those under no volume's name.
pub async fn statuses(
    store: &dyn Store,
) -> Result<
    (
        BTreeMap<String, Result<VolumeStatus, RecordError>>,
        Vec<RecordError>,
    ),
    VolumeError,
> {
    let mut statuses = BTreeMap::new();
    let mut invalid = Vec::new();
    for e in store.list(VOLUME_STATUS_PREFIX).await? {
        let decoded = VolumeStatus::decode(&e.key, &e.value);
        match (name_in(VOLUME_STATUS_PREFIX, &e.key), decoded) {
            (Some(name), result) if check_volume_name(name).is_ok() => {
                if let Err(err) = &result {
                    invalid.push(err.clone());
                }
                statuses.insert(name.to_owned(), result);
            }
            (_, Err(err)) => invalid.push(err),
            (_, Ok(_)) => {}
        }
    }
    Ok((statuses, invalid))
}

fn view(record: VolumeRecord, status: Option<Result<VolumeStatus, RecordError>>) -> VolumeView {
    match status {
        Some(Ok(s)) => VolumeView {
            record,
            status: Some(s),
            status_error: None,
        },
        Some(Err(e)) => VolumeView {
            record,
            status: None,
            status_error: Some(e.to_string()),
        },
        None => VolumeView {
            record,
            status: None,
            status_error: None,
        },
    }
}

/// The live agents' liveness records (those that can be used), by host.
pub async fn live_agents(store: &dyn Store) -> Result<BTreeMap<String, AgentStatus>, VolumeError> {
    Ok(store
        .list(STATUS_PREFIX)
        .await?
        .iter()
        .filter_map(|e| AgentStatus::decode(&e.key, &e.value).ok())
        .map(|a| (a.host.clone(), a))
        .collect())
}

/// The live agents' brick filesystems, by host.
async fn brick_space(
    store: &dyn Store,
) -> Result<BTreeMap<String, Vec<crate::BrickSpace>>, VolumeError> {
    Ok(live_agents(store)
        .await?
        .into_iter()
        .map(|(host, a)| (host, a.bricks))
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
/// A live host offers only the brick mounts its agent reports mounted: a disk added to its
/// config but not prepared yet, or one that failed, receives nothing.
pub async fn candidates(store: &dyn Store) -> Result<Vec<Candidate>, VolumeError> {
    let space = brick_space(store).await?;
    let mut load: BTreeMap<(String, String), u32> = BTreeMap::new();
    for (_, r) in stored(store).await?.records {
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
                .filter(|(_, path)| {
                    space
                        .get(&c.host_name)
                        .is_some_and(|m| m.iter().any(|m| m.mount_point == *path))
                })
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
        schema: brickyard_model::records::SCHEMA,
        name: spec.name.clone(),
        id: new_id(),
        layout: spec.layout,
        profile: spec.profile.clone(),
        state: spec.state,
        bricks,
        moves: Vec::new(),
        created_at: t,
        updated_at: t,
        extra: Default::default(),
    };
    let value = encode(&record);
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

/// A new record identity: 128 random bits in hex (from the kernel's random source).
fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Unique enough without randomness: the time in nanoseconds and our pid.
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        bytes = (t ^ (u128::from(std::process::id()) << 96)).to_be_bytes();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn encode(record: &VolumeRecord) -> Vec<u8> {
    serde_json::to_vec(record).expect("records always serialise")
}

fn exists(name: &str, e: &Entry) -> VolumeError {
    VolumeError::Exists {
        name: name.to_owned(),
        state: VolumeRecord::decode(&e.key, &e.value)
            .map_or_else(|_| "unusable record".into(), |r| r.state.to_string()),
    }
}

/// Every volume with its status, sorted by name, and every record that cannot be used.
pub async fn list(store: &dyn Store) -> Result<Listing, VolumeError> {
    let mut st = stored(store).await?;
    Ok(Listing {
        volumes: st
            .records
            .into_iter()
            .map(|(_, record)| {
                let status = st.statuses.remove(&record.name);
                view(record, status)
            })
            .collect(),
        invalid: st.invalid,
    })
}

/// One volume with its status.
pub async fn get(store: &dyn Store, name: &str) -> Result<VolumeView, VolumeError> {
    check_volume_name(name)?;
    let (_, record) = load(store, name).await?;
    let key = volume_status_key(name);
    let status = store
        .get(&key)
        .await?
        .map(|e| VolumeStatus::decode(&e.key, &e.value));
    Ok(view(record, status))
}

/// The gluster volumes no record asks for, as the pool lock's holder last saw them.
pub async fn unmanaged(store: &dyn Store) -> Result<Vec<String>, VolumeError> {
    match store.get(brickyard_model::keys::UNMANAGED_VOLUMES).await? {
        Some(e) => decode_unmanaged(&e.value).map_err(VolumeError::Invalid),
        None => Ok(Vec::new()),
    }
}

async fn load(store: &dyn Store, name: &str) -> Result<(Entry, VolumeRecord), VolumeError> {
    let Some(e) = store.get(&volume_key(name)).await? else {
        return Err(VolumeError::NotFound {
            name: name.to_owned(),
        });
    };
    let r = VolumeRecord::decode(&e.key, &e.value).map_err(VolumeError::Invalid)?;
    Ok((e, r))
}

/// What [`forget`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forgotten {
    /// The keys removed.
    pub keys: Vec<String>,
}

/// Removes volume `name`'s record, status and clean-up acknowledgements from the store,
/// without touching gluster or any brick: the way out for a record that cannot be used, and
/// for a volume brickyard should stop managing (`force`, as gluster keeps it). A record that
/// can be used is refused without `force`.
pub async fn forget(store: &dyn Store, name: &str, force: bool) -> Result<Forgotten, VolumeError> {
    let key = volume_key(name);
    let entry = store.get(&key).await?;
    if let Some(e) = &entry
        && !force
        && VolumeRecord::decode(&e.key, &e.value).is_ok()
    {
        return Err(VolumeError::Refused {
            name: name.to_owned(),
            reason: format!(
                "its record is valid, so the agents manage it; delete it with `brickyard volume delete {name}`, or pass --force to only stop managing it (gluster keeps the volume)"
            ),
        });
    }
    let mut keys: Vec<String> = entry.iter().map(|e| e.key.clone()).collect();
    let status = volume_status_key(name);
    if store.get(&status).await?.is_some() {
        keys.push(status);
    }
    keys.extend(
        store
            .list(&cleanup_prefix(name))
            .await?
            .into_iter()
            .map(|e| e.key),
    );
    if keys.is_empty() {
        return Err(VolumeError::NotFound {
            name: name.to_owned(),
        });
    }
    let guards = match &entry {
        Some(e) => vec![(e.key.clone(), Expect::ModRevision(e.mod_revision))],
        None => Vec::new(),
    };
    let ops = keys.iter().map(|k| Op::Delete { key: k.clone() }).collect();
    if store.commit(Txn { guards, ops }).await? {
        Ok(Forgotten { keys })
    } else {
        Err(VolumeError::Contended {
            name: name.to_owned(),
        })
    }
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
        let value = encode(&record);
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

/// A brick moved by [`replace_brick`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Replacement {
    /// The volume's record after the change.
    pub record: VolumeRecord,
    /// The brick leaving.
    pub from: BrickRef,
    /// The brick taking its place.
    pub to: BrickRef,
}

/// Moves brick `brick` (`HOST:PATH`, by `HostName` or address) to a new brick on host `to`,
/// or where placement chooses: never on the host (or zone) of another brick of its set.
/// For a replicated or dispersed volume the agents replace it in gluster once it holds
/// nothing the rest of its set lacks, and heal the new brick from the others. A plain
/// distribute brick holds the only copy of its files: the agents add the new brick, move
/// the old one's files onto the volume's bricks (`remove-brick ... start`), and take it out
/// once every file moved; refused while its host is down.
pub async fn replace_brick(
    store: &dyn Store,
    name: &str,
    brick: &str,
    to: Option<&str>,
) -> Result<Replacement, VolumeError> {
    let hosts = candidates(store).await?;
    let mut moved = None;
    let record = update(store, name, |r| {
        refuse_if_deleted(r)?;
        let refuse = |reason: String| VolumeError::Refused {
            name: r.name.clone(),
            reason,
        };
        let Some((host, path)) = brick.rsplit_once(':') else {
            return Err(refuse(format!(
                "{brick:?} is not a brick: give it as HOST:PATH (see `brickyard volume info {}`)",
                r.name
            )));
        };
        let Some(index) = r
            .bricks
            .iter()
            .position(|b| (b.host == host || b.ip == host) && b.path == path)
        else {
            return Err(refuse(format!(
                "{brick} is not one of its bricks ({})",
                r.bricks
                    .iter()
                    .map(|b| format!("{}:{}", b.host, b.path))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if matches!(r.layout.kind, crate::LayoutKind::Distribute)
            && !hosts.iter().any(|c| c.host == r.bricks[index].host && c.live)
        {
            return Err(refuse(format!(
                "its layout is {}: {brick} holds the only copy of its files, which can only move while its host {} is up; start it first",
                r.layout, r.bricks[index].host
            )));
        }
        let new =
            placement::place_replacement(&r.name, &r.layout, &r.bricks, index, &hosts, to, false)
                .map_err(|e| refuse(format!("{brick} cannot be moved: {e}")))?;
        moved = Some((record_move(r, index, new.clone()), new));
        Ok(())
    })
    .await?;
    let (from, to) = moved.expect("set by the update that succeeded");
    Ok(Replacement { record, from, to })
}

/// Puts `new` in place of brick `index` and records the move; returns the brick it replaces.
fn record_move(r: &mut VolumeRecord, index: usize, new: BrickRef) -> BrickRef {
    let old = std::mem::replace(&mut r.bricks[index], new.clone());
    // One move per brick: the newest. Moves whose brick moved on since are history.
    r.moves.retain(|m| r.bricks.contains(&m.to) && m.to != old);
    r.moves.push(crate::record::BrickMove {
        from: old.clone(),
        to: new,
    });
    old
}

/// Moves every brick on host `host` away (`brickyard host drain`): each to `to` when given,
/// else where placement chooses, by the rules of [`replace_brick`]; the host itself takes
/// nothing new. Every move is planned first and all are recorded in one transaction, or
/// none when one cannot be placed: a plain distribute brick on a host that is down (the
/// only copy of its files cannot move), or no room outside its set unless `beside` lets it
/// join another brick's host (the set then loses a copy with that host). Empty when the
/// host holds no brick.
pub async fn drain_host(
    store: &dyn Store,
    host: &str,
    to: Option<&str>,
    beside: bool,
) -> Result<Vec<Replacement>, VolumeError> {
    brickyard_model::names::check_hostname("host", host).map_err(VolumeError::BadName)?;
    if to == Some(host) {
        return Err(VolumeError::Drain {
            host: host.to_owned(),
            reasons: vec!["--to names the host being drained; name another host".into()],
        });
    }
    for _ in 0..ATTEMPTS {
        let mut hosts = candidates(store).await?;
        let up = hosts.iter().any(|c| c.host == host && c.live);
        for c in hosts.iter_mut().filter(|c| c.host == host) {
            c.live = false;
        }
        let mut reasons = Vec::new();
        let mut moves = Vec::new();
        let mut txn = Txn::default();
        for (entry, mut r) in stored(store).await?.records {
            if r.state == DesiredState::Deleted || !r.bricks.iter().any(|b| b.host == host) {
                continue;
            }
            if matches!(r.layout.kind, crate::LayoutKind::Distribute) && !up {
                reasons.push(format!(
                    "volume {} is {}: its brick there holds the only copy of its files, which can only move while the host is up; start it first",
                    r.name, r.layout
                ));
                continue;
            }
            let mut changed = false;
            for index in 0..r.bricks.len() {
                if r.bricks[index].host != host {
                    continue;
                }
                let placed = placement::place_replacement(
                    &r.name, &r.layout, &r.bricks, index, &hosts, to, beside,
                );
                match placed {
                    Ok(new) => {
                        // Later placements see this brick's load.
                        if let Some(m) = hosts
                            .iter_mut()
                            .filter(|c| c.host == new.host)
                            .flat_map(|c| c.mounts.iter_mut())
                            .find(|m| m.path == new.mount())
                        {
                            m.bricks += 1;
                        }
                        let from = record_move(&mut r, index, new.clone());
                        moves.push((r.name.clone(), from, new));
                        changed = true;
                    }
                    Err(e) => reasons.push(format!(
                        "volume {}: {}:{} cannot move: {e}{}",
                        r.name,
                        host,
                        r.bricks[index].path,
                        if beside {
                            ""
                        } else {
                            ", or --force to put it beside another brick of its set (one host failure then takes two of its copies)"
                        }
                    )),
                }
            }
            if changed {
                r.updated_at = now();
                txn.guards
                    .push((entry.key.clone(), Expect::ModRevision(entry.mod_revision)));
                txn.ops.push(Op::Put {
                    key: entry.key,
                    value: encode(&r),
                    lease: None,
                });
            }
        }
        if !reasons.is_empty() {
            return Err(VolumeError::Drain {
                host: host.to_owned(),
                reasons,
            });
        }
        if txn.ops.is_empty() || store.commit(txn).await? {
            let mut out = Vec::new();
            for (name, from, to) in moves {
                let record = load(store, &name).await?.1;
                out.push(Replacement { record, from, to });
            }
            return Ok(out);
        }
    }
    Err(VolumeError::Drain {
        host: host.to_owned(),
        reasons: vec![
            "the volumes on it kept changing while the drain was planned; run it again".into(),
        ],
    })
}

/// Removes host `host` from the cluster (`brickyard host remove`): in one transaction its
/// config leaves the store, its address leaves every other host's `PeerList`, and a
/// removal record asks the pool lock's holder to detach its peer from gluster's pool.
/// Volumes being deleted with bricks on it finish without it: a leftover record per volume
/// lets the host remove the directories if it ever runs again, and the holder takes those
/// bricks out of gluster's volumes before the detach ([`crate::release`]). Refused, changing
/// nothing, while any other volume record lists a brick on it, while a volume being deleted
/// cannot let go of its bricks there, or while its agent is live (it would probe its peers
/// back).
pub async fn remove_host(
    store: &dyn Store,
    host: &str,
) -> Result<brickyard_model::records::agent::HostRemoval, VolumeError> {
    use brickyard_model::keys::{config_key, host_removal_key};
    brickyard_model::names::check_hostname("host", host).map_err(VolumeError::BadName)?;
    let refuse = |reason: String| VolumeError::HostRemove {
        host: host.to_owned(),
        reason,
    };
    for _ in 0..ATTEMPTS {
        let all = configs::list(store).await?;
        let Some(mine) = all.iter().find(|c| c.entry.key == config_key(host)) else {
            return Err(refuse(
                "it has no config in the store (`brickyard config list` shows the hosts)".into(),
            ));
        };
        let ip = match &mine.parsed {
            Ok(c) => c.ip(),
            Err(_) => {
                return Err(refuse(
                    "its config in the store is invalid, so its address is not known; load a valid one first".into(),
                ));
            }
        };
        let mut holding = Vec::new();
        let mut stuck = Vec::new();
        let mut leftovers = Vec::new();
        for (_, r) in stored(store).await?.records {
            if !r.bricks.iter().any(|b| b.host == host) {
                continue;
            }
            if r.state != DesiredState::Deleted {
                holding.push(r.name);
                continue;
            }
            // A volume being deleted lets go of its bricks there (the pool lock's holder
            // removes them from gluster before the detach) and finishes without the host,
            // which removes the directories if it ever runs again.
            let (shape, slots) = crate::release::from_record(&r, host);
            match crate::release::steps(shape, &slots) {
                Ok(_) => leftovers.push(Leftover {
                    schema: brickyard_model::records::SCHEMA,
                    host: host.to_owned(),
                    volume: r.name.clone(),
                    paths: r
                        .bricks
                        .iter()
                        .filter(|b| b.host == host)
                        .map(|b| b.path.clone())
                        .collect(),
                    at: now(),
                    extra: Default::default(),
                }),
                Err(why) => stuck.push(format!("{} ({}): {why}", r.name, r.layout)),
            }
        }
        if !holding.is_empty() {
            return Err(refuse(format!(
                "bricks of {} are on it; move them first with `brickyard host drain {host}` (or `brickyard host replace {host} NEW` when it is down)",
                holding.join(", ")
            )));
        }
        if !stuck.is_empty() {
            return Err(refuse(format!(
                "volumes being deleted cannot let go of their bricks there: {}; start the host again to let their deletes finish",
                stuck.join("; ")
            )));
        }
        if live_agents(store).await?.contains_key(host) {
            return Err(refuse(
                "its agent is live and would probe its peers back into the pool; stop it first"
                    .into(),
            ));
        }
        let removal = brickyard_model::records::agent::HostRemoval {
            schema: brickyard_model::records::SCHEMA,
            host: host.to_owned(),
            ip,
            at: now(),
            extra: Default::default(),
        };
        let mut txn = Txn::default();
        txn.guards.push((
            mine.entry.key.clone(),
            Expect::ModRevision(mine.entry.mod_revision),
        ));
        txn.ops.push(Op::Delete {
            key: mine.entry.key.clone(),
        });
        txn.ops.push(Op::Put {
            key: host_removal_key(host),
            value: serde_json::to_vec(&removal).expect("a removal always serialises"),
            lease: None,
        });
        // The full heals its agent owed: its bricks are gone from every volume.
        txn.ops.push(Op::Delete {
            key: brickyard_model::keys::full_heal_key(host),
        });
        for l in &leftovers {
            txn.ops.push(Op::Put {
                key: brickyard_model::keys::leftover_key(host, &l.volume),
                value: serde_json::to_vec(l).expect("a leftover always serialises"),
                lease: None,
            });
        }
        for other in all.iter().filter(|c| c.entry.key != mine.entry.key) {
            if let Some(value) = without_peer(&other.entry.value, ip) {
                txn.guards.push((
                    other.entry.key.clone(),
                    Expect::ModRevision(other.entry.mod_revision),
                ));
                txn.ops.push(Op::Put {
                    key: other.entry.key.clone(),
                    value,
                    lease: None,
                });
            }
        }
        if store.commit(txn).await? {
            return Ok(removal);
        }
    }
    Err(refuse(
        "the configs kept changing while the removal was made; run it again".into(),
    ))
}

/// A config's bytes without `ip` in its `PeerList` (every other field and their order
/// kept); `None` when it does not list `ip` or is not a JSON object.
fn without_peer(raw: &[u8], ip: std::net::IpAddr) -> Option<Vec<u8>> {
    let mut doc: serde_json::Value = serde_json::from_slice(raw).ok()?;
    let peers = doc.get_mut("PeerList")?.as_array_mut()?;
    let before = peers.len();
    peers.retain(|p| {
        p.get("IP")
            .and_then(serde_json::Value::as_str)
            .and_then(|s| s.parse::<std::net::IpAddr>().ok())
            != Some(ip)
    });
    if peers.len() == before {
        return None;
    }
    let mut out = serde_json::to_vec_pretty(&doc).ok()?;
    out.push(b'\n');
    Some(out)
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
                    liveness(i).as_bytes(),
                    None,
                )
                .await
                .expect("liveness");
        }
        (dir, store)
    }

    fn liveness(i: usize) -> String {
        format!(
            r#"{{"host":"h{i}","node_name":"g{i}","ip":"10.0.0.{i}","uuid":null,"state":"running","glusterd_pid":1,"glusterd_restarts":0,"peers":[],"problems":[],"version":"0","started_at":0,"updated_at":0,"bricks":[{{"mount_point":"/gluster/brick1","size_bytes":1073741824,"free_bytes":1073741824}}]}}"#
        )
    }

    #[tokio::test]
    async fn a_hostile_record_is_listed_as_unusable_and_can_only_be_forgotten() {
        let (_d, store) = store_with_hosts(3).await;
        create(&store, &VolumeSpec::new("gv0", Layout::replicate(3)))
            .await
            .expect("created");
        let good = store
            .get("gluster/volumes/gv0")
            .await
            .expect("get")
            .expect("record");
        let hostile = String::from_utf8(good.value.clone())
            .expect("utf-8")
            .replace(r#""name":"gv0""#, r#""name":"""#);
        store
            .put("gluster/volumes/x", hostile.as_bytes(), None)
            .await
            .expect("put");
        store
            .put("gluster/volume-status/gv0", b"{broken", None)
            .await
            .expect("put");
        let l = list(&store).await.expect("the other records still list");
        assert_eq!(l.volumes.len(), 1);
        assert!(l.volumes[0].status_error.is_some(), "{l:?}");
        let keys: Vec<&str> = l.invalid.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(keys, ["gluster/volumes/x", "gluster/volume-status/gv0"]);
        assert!(matches!(
            get(&store, "x").await,
            Err(VolumeError::Invalid(_))
        ));
        assert!(matches!(
            delete(&store, "x", true).await,
            Err(VolumeError::Invalid(_))
        ));
        let refused = forget(&store, "gv0", false).await;
        assert!(
            matches!(refused, Err(VolumeError::Refused { .. })),
            "{refused:?}"
        );
        let gone = forget(&store, "x", false)
            .await
            .expect("forgets the unusable record");
        assert_eq!(gone.keys, ["gluster/volumes/x"]);
        assert!(list(&store).await.expect("list").invalid.len() == 1);
        assert!(matches!(
            forget(&store, "x", false).await,
            Err(VolumeError::NotFound { .. })
        ));
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
        let views = list(&store).await.expect("list").volumes;
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

    #[tokio::test]
    async fn a_host_is_removed_only_once_empty_and_stopped() {
        let (_d, store) = store_with_hosts(3).await;
        for i in 1..=3 {
            let peers: Vec<String> = (1..=3)
                .filter(|p| *p != i)
                .map(|p| format!(r#"{{"IP":"10.0.0.{p}"}}"#))
                .collect();
            let cfg = format!(
                r#"{{"HostName":"h{i}","GlusterNodeName":"g{i}","IPAddress":"10.0.0.{i}/24","BrickDevice":"/dev/sdb","PeerList":[{}]}}"#,
                peers.join(",")
            );
            store
                .put(&format!("gluster/config/h{i}"), cfg.as_bytes(), None)
                .await
                .expect("config");
        }
        create(&store, &VolumeSpec::new("d", Layout::distribute(3)))
            .await
            .expect("created");
        let busy = remove_host(&store, "h3").await.expect_err("bricks on it");
        assert!(busy.to_string().contains("bricks of d are on it"), "{busy}");
        let mut r = get(&store, "d").await.expect("d").record;
        r.bricks.retain(|b| b.host != "h3");
        r.layout.sets = 2;
        store
            .put("gluster/volumes/d", &encode(&r), None)
            .await
            .expect("d without h3");
        let live = remove_host(&store, "h3").await.expect_err("agent live");
        assert!(live.to_string().contains("agent is live"), "{live}");
        store.delete("gluster/status/h3").await.expect("h3 stops");
        store
            .put("gluster/full-heals/h3", b"{}", None)
            .await
            .expect("a full heal h3 owed");
        let removal = remove_host(&store, "h3").await.expect("removed");
        assert!(
            store
                .get("gluster/full-heals/h3")
                .await
                .expect("get")
                .is_none()
        );
        assert_eq!(removal.ip.to_string(), "10.0.0.3");
        assert!(store.get("gluster/config/h3").await.expect("get").is_none());
        assert!(
            store
                .get("gluster/host-removals/h3")
                .await
                .expect("get")
                .is_some()
        );
        for h in ["h1", "h2"] {
            let c = configs::get(&store, h).await.expect("get").expect("config");
            let parsed = c.parsed.expect("still valid");
            assert!(
                !parsed.peers.contains(&"10.0.0.3".parse().expect("ip")),
                "{h}: {:?}",
                parsed.peers
            );
            assert_eq!(parsed.peers.len(), 1, "{h}");
        }
        let gone = remove_host(&store, "h3").await.expect_err("no config");
        assert!(gone.to_string().contains("no config"), "{gone}");
    }

    #[tokio::test]
    async fn volumes_being_deleted_finish_without_a_removed_host() {
        let (_d, store) = store_with_hosts(3).await;
        create(&store, &VolumeSpec::new("r", Layout::replicate(3)))
            .await
            .expect("created");
        delete(&store, "r", true).await.expect("deleted");
        // A volume whose only brick is on the host cannot let go of it: gluster removes no
        // volume's last brick.
        create(&store, &VolumeSpec::new("one", Layout::distribute(1)))
            .await
            .expect("created");
        let mut one = get(&store, "one").await.expect("one").record;
        let on_h3 = get(&store, "r")
            .await
            .expect("r")
            .record
            .bricks
            .into_iter()
            .find(|b| b.host == "h3")
            .expect("r on h3");
        one.bricks = vec![BrickRef {
            path: on_h3.path.replace("/r", "/one"),
            ..on_h3.clone()
        }];
        one.state = DesiredState::Deleted;
        store
            .put("gluster/volumes/one", &encode(&one), None)
            .await
            .expect("one on h3");
        store.delete("gluster/status/h3").await.expect("h3 stops");
        let stuck = remove_host(&store, "h3").await.expect_err("one is stuck");
        assert!(
            stuck.to_string().contains("one (distribute 1)")
                && stuck.to_string().contains("last brick"),
            "{stuck}"
        );
        assert!(store.get("gluster/config/h3").await.expect("get").is_some());
        forget(&store, "one", true).await.expect("forgotten");
        remove_host(&store, "h3").await.expect("removed");
        let raw = store
            .get("gluster/leftovers/h3/r")
            .await
            .expect("get")
            .expect("a leftover for r");
        let left = Leftover::decode("gluster/leftovers/h3/r", &raw.value).expect("valid");
        assert_eq!(left.paths, [on_h3.path]);
    }

    #[tokio::test]
    async fn a_disk_its_agent_does_not_report_mounted_gets_no_brick() {
        let (_d, store) = store_with_hosts(3).await;
        // Host 1 gains a second disk in its config; its agent has not mounted it yet.
        store
            .put(
                "gluster/config/h1",
                br#"{"HostName":"h1","GlusterNodeName":"g1","IPAddress":"10.0.0.1/24","BrickDevice":"/dev/sdb","ExtraBrickDevices":["/dev/sdc"]}"#,
                None,
            )
            .await
            .expect("config");
        let hosts = candidates(&store).await.expect("candidates");
        let h1 = hosts.iter().find(|c| c.host == "h1").expect("h1");
        assert_eq!(h1.mounts.len(), 1, "{h1:?}");
        create(&store, &VolumeSpec::new("d", Layout::distribute(3)))
            .await
            .expect("created");
        let four = create(&store, &VolumeSpec::new("e", Layout::distribute(4))).await;
        assert!(four.is_err(), "placed on an unmounted disk: {four:?}");
    }
}
