//! Claims as clients make them: the CSI controller and `brickyard csi …` write claim
//! records ([`brickyard_model::records::claim`]) and wait for the pool lock's holder to carry
//! them out ([`crate::claim_pass`]).
//!
//! A claim in `subdir` mode is a directory of a shared volume, created here (as an ordinary
//! brickyard volume) on first use; in `volume` mode it is a volume of its own, named as the
//! claim, placed here with as many sets as its size needs. Either way its size is a quota
//! limit, and a size the cluster cannot hold is refused before anything is written:
//! [`ClaimError::OutOfRange`] when no claim of that layout could ever be that large,
//! [`ClaimError::Exhausted`] when it does not fit now, both naming what is free.
//!
//! Every write is a compare-and-swap, so two controllers racing on one request name make
//! one claim, and a repeated request with the same name and parameters gets the same claim.

use std::collections::BTreeMap;
use std::time::Duration;

use brickyard_model::keys::{
    CLAIM_PREFIX, CLAIM_STATUS_PREFIX, claim_key, claim_status_key, volume_key,
};
use brickyard_model::records::claim::{
    ClaimMode, ClaimPhase, ClaimRecord, ClaimState, ClaimStatus, OnDelete, Ownership, claim_id,
};
use brickyard_model::records::{Extra, RecordError, SCHEMA};
use brickyard_store::{Entry, Expect, Op, Store, StoreError, Txn};
use serde::Serialize;
use thiserror::Error;
use tokio::time::Instant;

use crate::api::{self, now};
use crate::error::VolumeError;
use crate::placement;
use crate::record::{DesiredState, Layout, Phase, VolumeRecord, VolumeSpec};
use crate::request::LayoutRequest;

use brickyard_model::records::claim::params::{
    DEFAULT_SHARED_VOLUME, ON_DELETE as PARAM_ON_DELETE, PROVISIONING as PARAM_PROVISIONING,
    SHARED_VOLUME as PARAM_SHARED_VOLUME,
};

/// The size of a claim that asks for none (CSI lets a request leave it to the driver).
pub const DEFAULT_CLAIM_BYTES: u64 = 1 << 30;
/// Parameters Kubernetes' provisioner adds (`csi.storage.k8s.io/pvc/name`, …): read by
/// nobody, kept by nobody, so they never make two requests of one claim differ.
const KUBERNETES_PREFIX: &str = "csi.storage.k8s.io/";
/// The most sets a claim's own volume is given to hold its size.
const MAX_SETS: u32 = 16;

/// Every parameter a class may give, for messages.
pub const PARAMETERS: &[&str] = &[
    PARAM_PROVISIONING,
    PARAM_SHARED_VOLUME,
    PARAM_ON_DELETE,
    "replica",
    "arbiter",
    "disperse",
    "redundancy",
    "distribute",
    "profile",
    "uid",
    "gid",
    "mode",
];

/// Why a claim operation was refused or failed; each maps to one CSI status code.
#[derive(Debug, Error)]
pub enum ClaimError {
    /// A StorageClass parameter that cannot be used (INVALID_ARGUMENT).
    #[error("StorageClass parameter {name}={value:?}: {problem}")]
    BadParameter {
        /// The parameter.
        name: String,
        /// Its value.
        value: String,
        /// What is wrong and what works.
        problem: String,
    },
    /// A claim of that name exists and differs from the request (ALREADY_EXISTS).
    #[error("claim {id} exists already and differs: {reason}")]
    Incompatible {
        /// The claim.
        id: String,
        /// How it differs.
        reason: String,
    },
    /// No claim of that layout can ever be that large (OUT_OF_RANGE).
    #[error("{0}")]
    OutOfRange(String),
    /// The cluster has not the room now (RESOURCE_EXHAUSTED).
    #[error("{0}")]
    Exhausted(String),
    /// No such claim (NOT_FOUND).
    #[error("claim {id} does not exist; `brickyard csi list` shows the claims")]
    NotFound {
        /// The claim.
        id: String,
    },
    /// The claim is in a state that does not allow this now (ABORTED, retried later).
    #[error("claim {id}: {reason}")]
    Busy {
        /// The claim.
        id: String,
        /// Why.
        reason: String,
    },
    /// Something needed cannot be told now (UNAVAILABLE).
    #[error("{0}")]
    Unavailable(String),
    /// The agents did not finish in time (DEADLINE_EXCEEDED); the request may be repeated.
    #[error("claim {id}: not done in time: {waiting_for}; repeating the request waits again")]
    Timeout {
        /// The claim.
        id: String,
        /// What it waits for, as last reported.
        waiting_for: String,
    },
    /// A volume operation failed.
    #[error(transparent)]
    Volume(#[from] VolumeError),
    /// A stored record cannot be used.
    #[error(transparent)]
    Invalid(RecordError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a StorageClass asks for, read from its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassParams {
    /// How claims are provided.
    pub mode: ClaimMode,
    /// The shared volume (subdir mode).
    pub shared_volume: String,
    /// The layout of the shared volume, or of each claim's own volume.
    pub layout: Layout,
    /// The option profile of those volumes.
    pub profile: String,
    /// What a deleted claim leaves.
    pub on_delete: OnDelete,
    /// Owner and permissions of a new claim's directory.
    pub ownership: Ownership,
    /// The parameters that make the class (those Kubernetes adds left out).
    pub kept: BTreeMap<String, String>,
}

fn bad(name: &str, value: &str, problem: impl Into<String>) -> ClaimError {
    ClaimError::BadParameter {
        name: name.to_owned(),
        value: value.to_owned(),
        problem: problem.into(),
    }
}

fn number(name: &str, value: &str) -> Result<u32, ClaimError> {
    value
        .parse()
        .map_err(|_| bad(name, value, "is not a whole number"))
}

/// Reads a StorageClass's parameters. Unknown parameters are refused (a typo must not
/// silently give another layout); those under `csi.storage.k8s.io/` are ignored.
pub fn class_params(parameters: &BTreeMap<String, String>) -> Result<ClassParams, ClaimError> {
    let mut out = ClassParams {
        mode: ClaimMode::Subdir,
        shared_volume: DEFAULT_SHARED_VOLUME.to_owned(),
        layout: Layout::replicate(3),
        profile: crate::profile::DEFAULT.to_owned(),
        on_delete: OnDelete::Delete,
        ownership: Ownership::default(),
        kept: BTreeMap::new(),
    };
    let mut layout = LayoutRequest::default();
    for (name, value) in parameters {
        if name.starts_with(KUBERNETES_PREFIX) {
            continue;
        }
        let v = value.as_str();
        match name.as_str() {
            PARAM_PROVISIONING => {
                out.mode = match v {
                    "subdir" => ClaimMode::Subdir,
                    "volume" => ClaimMode::Volume,
                    _ => return Err(bad(name, v, "use subdir or volume")),
                }
            }
            PARAM_SHARED_VOLUME => {
                brickyard_model::names::check_volume_name(v)
                    .map_err(|e| bad(name, v, format!("{}; {}", e.problem, e.fix)))?;
                out.shared_volume = v.to_owned();
            }
            PARAM_ON_DELETE => {
                out.on_delete = match v {
                    "delete" => OnDelete::Delete,
                    "archive" => OnDelete::Archive,
                    _ => return Err(bad(name, v, "use delete or archive")),
                }
            }
            "replica" => layout.replica = Some(number(name, v)?),
            "disperse" => layout.disperse = Some(number(name, v)?),
            "redundancy" => layout.redundancy = Some(number(name, v)?),
            "distribute" => layout.distribute = Some(number(name, v)?),
            "arbiter" => {
                layout.arbiter = match v {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(name, v, "use true or false")),
                }
            }
            "profile" => {
                if crate::profile::options(v).is_none() {
                    return Err(bad(
                        name,
                        v,
                        format!("use one of: {}", crate::profile::NAMES.join(", ")),
                    ));
                }
                out.profile = v.to_owned();
            }
            "uid" => out.ownership.uid = Some(number(name, v)?),
            "gid" => out.ownership.gid = Some(number(name, v)?),
            "mode" => {
                let m = u32::from_str_radix(v, 8)
                    .ok()
                    .filter(|m| *m <= 0o7777)
                    .ok_or_else(|| bad(name, v, "is not octal permission bits (e.g. 2775)"))?;
                out.ownership.mode = Some(m);
            }
            _ => {
                return Err(bad(
                    name,
                    v,
                    format!(
                        "is not a brickyard parameter; known: {}",
                        PARAMETERS.join(", ")
                    ),
                ));
            }
        }
        out.kept.insert(name.clone(), value.clone());
    }
    out.layout = layout.layout().map_err(|r| {
        bad(
            r.field,
            parameters.get(r.field).map_or("", String::as_str),
            r.reason,
        )
    })?;
    out.layout.check().map_err(|reason| {
        let field = crate::request::layout_field(&out.layout);
        bad(
            field,
            parameters.get(field).map_or("", String::as_str),
            reason,
        )
    })?;
    Ok(out)
}

/// The size a CSI capacity range asks for: `required`, else `limit`, else
/// [`DEFAULT_CLAIM_BYTES`] (capped by `limit`). Zero means "not given", as in CSI.
pub fn size_for(required: u64, limit: u64) -> Result<u64, ClaimError> {
    if limit != 0 && required > limit {
        return Err(ClaimError::OutOfRange(format!(
            "the capacity range asks for at least {required} and at most {limit} bytes"
        )));
    }
    Ok(match (required, limit) {
        (0, 0) => DEFAULT_CLAIM_BYTES,
        (0, l) => l.min(DEFAULT_CLAIM_BYTES),
        (r, _) => r,
    })
}

/// A claim with what the agents last reported about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ClaimView {
    /// The record.
    pub record: ClaimRecord,
    /// Its status, when one was written and can be read.
    pub status: Option<ClaimStatus>,
}

/// Every claim sorted by id, and the records that cannot be used.
#[derive(Debug, Default)]
pub struct ClaimListing {
    /// The claims.
    pub claims: Vec<ClaimView>,
    /// Records and statuses that cannot be used.
    pub invalid: Vec<RecordError>,
}

/// Reads every claim and its status.
pub async fn list(store: &dyn Store) -> Result<ClaimListing, ClaimError> {
    let mut out = ClaimListing::default();
    let mut statuses = BTreeMap::new();
    for e in store.list(CLAIM_STATUS_PREFIX).await? {
        match ClaimStatus::decode(&e.key, &e.value) {
            Ok(s) => {
                statuses.insert(s.id.clone(), s);
            }
            Err(err) => out.invalid.push(err),
        }
    }
    for e in store.list(CLAIM_PREFIX).await? {
        match ClaimRecord::decode(&e.key, &e.value) {
            Ok(record) => {
                let status = statuses.remove(&record.id);
                out.claims.push(ClaimView { record, status });
            }
            Err(err) => out.invalid.push(err),
        }
    }
    out.claims.sort_by(|a, b| a.record.id.cmp(&b.record.id));
    Ok(out)
}

/// The claim `id` and its store entry; `None` when there is none.
pub async fn get(store: &dyn Store, id: &str) -> Result<Option<(Entry, ClaimRecord)>, ClaimError> {
    if brickyard_model::records::claim::check_claim_id(id).is_err() {
        return Ok(None);
    }
    match store.get(&claim_key(id)).await? {
        None => Ok(None),
        Some(e) => {
            let r = ClaimRecord::decode(&e.key, &e.value).map_err(ClaimError::Invalid)?;
            Ok(Some((e, r)))
        }
    }
}

async fn status_of(store: &dyn Store, id: &str) -> Result<Option<ClaimStatus>, ClaimError> {
    match store.get(&claim_status_key(id)).await? {
        None => Ok(None),
        Some(e) => ClaimStatus::decode(&e.key, &e.value)
            .map(Some)
            .map_err(ClaimError::Invalid),
    }
}

/// What a CreateVolume asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// The request name (Kubernetes' `pvc-<uid>`).
    pub name: String,
    /// At least this many bytes (0: not given).
    pub required_bytes: u64,
    /// At most this many bytes (0: no limit).
    pub limit_bytes: u64,
    /// The StorageClass parameters.
    pub parameters: BTreeMap<String, String>,
}

/// Makes the claim a request asks for, or finds the one an earlier request of the same name
/// made, and waits up to `wait` for the agents to provide it. A request of the same name
/// with other parameters or a size outside its range is [`ClaimError::Incompatible`].
pub async fn create(
    store: &dyn Store,
    req: &ClaimRequest,
    wait: Duration,
) -> Result<ClaimRecord, ClaimError> {
    let deadline = Instant::now() + wait;
    let class = class_params(&req.parameters)?;
    let size = size_for(req.required_bytes, req.limit_bytes)?;
    let id = claim_id(&req.name);
    for _ in 0..5 {
        if let Some((_, existing)) = get(store, &id).await? {
            same_request(&existing, req, &class)?;
            return wait_ready(store, &existing.id, deadline).await;
        }
        let volume = match class.mode {
            ClaimMode::Subdir => {
                ensure_shared_volume(store, &class).await?;
                subdir_room(store, &class.shared_volume, None, size).await?;
                class.shared_volume.clone()
            }
            ClaimMode::Volume => {
                ensure_own_volume(store, &id, &class, size).await?;
                id.clone()
            }
        };
        let t = now();
        let record = ClaimRecord {
            schema: SCHEMA,
            id: id.clone(),
            request_name: req.name.clone(),
            mode: class.mode,
            volume,
            size_bytes: size,
            ownership: class.ownership,
            on_delete: class.on_delete,
            state: ClaimState::Present,
            parameters: class.kept.clone(),
            created_at: t,
            updated_at: t,
            extra: Extra::new(),
        };
        if store
            .compare_and_swap(&claim_key(&id), Expect::Absent, &encode(&record), None)
            .await?
        {
            return wait_ready(store, &id, deadline).await;
        }
        // Another controller wrote it first: compare with theirs.
    }
    Err(ClaimError::Busy {
        id,
        reason: "it kept changing while it was created; repeat the request".into(),
    })
}

fn same_request(
    existing: &ClaimRecord,
    req: &ClaimRequest,
    class: &ClassParams,
) -> Result<(), ClaimError> {
    let incompatible = |reason: String| ClaimError::Incompatible {
        id: existing.id.clone(),
        reason,
    };
    if existing.request_name != req.name {
        return Err(incompatible(format!(
            "it was made for request {:?}",
            existing.request_name
        )));
    }
    if existing.state != ClaimState::Present {
        return Err(incompatible(format!("it is {}", existing.state)));
    }
    if existing.parameters != class.kept {
        return Err(incompatible(
            "it was made with other StorageClass parameters".into(),
        ));
    }
    let s = existing.size_bytes;
    if s < req.required_bytes || (req.limit_bytes != 0 && s > req.limit_bytes) {
        return Err(incompatible(format!(
            "its size is {s} bytes, outside the range asked for"
        )));
    }
    Ok(())
}

async fn ensure_shared_volume(store: &dyn Store, class: &ClassParams) -> Result<(), ClaimError> {
    let mut spec = VolumeSpec::new(&class.shared_volume, class.layout);
    spec.profile.clone_from(&class.profile);
    match api::create(store, &spec).await {
        Ok(_) => Ok(()),
        Err(VolumeError::Exists { .. }) => {
            let view = api::get(store, &class.shared_volume).await?;
            if view.record.state == DesiredState::Deleted {
                return Err(ClaimError::Unavailable(format!(
                    "the shared volume {} is being deleted; new claims wait until it is gone",
                    class.shared_volume
                )));
            }
            Ok(())
        }
        Err(VolumeError::Placement { name, reason }) => Err(ClaimError::Exhausted(format!(
            "the shared volume {name} cannot be placed: {reason}"
        ))),
        Err(e) => Err(e.into()),
    }
}

/// Refuses `size` when the shared volume cannot hold it next to the other claims' limits
/// (claims are not overcommitted: the sum of their limits stays within the volume).
async fn subdir_room(
    store: &dyn Store,
    volume: &str,
    except: Option<&str>,
    size: u64,
) -> Result<(), ClaimError> {
    let total = api::capacity(store, volume).await?.ok_or_else(|| {
        ClaimError::Unavailable(format!(
            "the size of volume {volume} cannot be told: a host of its bricks has no live agent"
        ))
    })?;
    let promised: u64 = list(store)
        .await?
        .claims
        .iter()
        .map(|c| &c.record)
        .filter(|r| r.volume == volume && r.mode == ClaimMode::Subdir)
        .filter(|r| r.state != ClaimState::Deleted && Some(r.id.as_str()) != except)
        .map(|r| r.size_bytes)
        .sum();
    if size > total {
        return Err(ClaimError::OutOfRange(format!(
            "{size} bytes asked for, but the shared volume {volume} holds {total} bytes in all"
        )));
    }
    let free = total.saturating_sub(promised);
    if size > free {
        return Err(ClaimError::Exhausted(format!(
            "{size} bytes asked for, but the shared volume {volume} has {free} of its {total} bytes left for claims (the others' limits take {promised})"
        )));
    }
    Ok(())
}

/// Free bytes of each live host's brick mounts.
async fn free_space(store: &dyn Store) -> Result<BTreeMap<(String, String), u64>, ClaimError> {
    Ok(api::live_agents(store)
        .await?
        .into_iter()
        .flat_map(|(host, a)| {
            a.bricks
                .into_iter()
                .map(move |b| ((host.clone(), b.mount_point), b.free_bytes))
        })
        .collect())
}

/// What `layout` with `sets` sets placed now can hold on the bricks' free space; `Ok(None)`
/// when it cannot be placed.
async fn placeable(
    store: &dyn Store,
    name: &str,
    layout: &Layout,
) -> Result<Option<u64>, ClaimError> {
    let candidates = api::candidates(store).await?;
    let Ok(bricks) = placement::place(name, layout, &candidates) else {
        return Ok(None);
    };
    let free = free_space(store).await?;
    let probe = VolumeRecord {
        schema: SCHEMA,
        name: name.to_owned(),
        id: String::new(),
        layout: *layout,
        profile: String::new(),
        state: DesiredState::Started,
        bricks,
        moves: Vec::new(),
        created_at: 0,
        updated_at: 0,
        extra: Extra::new(),
    };
    Ok(Some(
        probe
            .capacity(|b| free.get(&(b.host.clone(), b.mount().to_owned())).copied())
            .unwrap_or(0),
    ))
}

/// The most a new volume of `layout` could hold now (with as many sets as fit), for
/// GetCapacity and for refusals.
pub async fn largest_volume(store: &dyn Store, layout: &Layout) -> Result<u64, ClaimError> {
    let mut best = 0;
    for sets in 1..=MAX_SETS {
        let l = Layout { sets, ..*layout };
        match placeable(store, "capacity-probe", &l).await? {
            Some(c) => best = best.max(c),
            None => break,
        }
    }
    Ok(best)
}

/// What a new claim of `class` could get now, in bytes.
pub async fn available(store: &dyn Store, class: &ClassParams) -> Result<u64, ClaimError> {
    match class.mode {
        ClaimMode::Volume => largest_volume(store, &class.layout).await,
        ClaimMode::Subdir => match api::get(store, &class.shared_volume).await {
            Err(VolumeError::NotFound { .. }) => largest_volume(store, &class.layout).await,
            Err(e) => Err(e.into()),
            Ok(_) => {
                let Some(total) = api::capacity(store, &class.shared_volume).await? else {
                    return Ok(0);
                };
                let promised: u64 = list(store)
                    .await?
                    .claims
                    .iter()
                    .map(|c| &c.record)
                    .filter(|r| r.volume == class.shared_volume && r.state != ClaimState::Deleted)
                    .map(|r| r.size_bytes)
                    .sum();
                Ok(total.saturating_sub(promised))
            }
        },
    }
}

/// Writes the record of a claim's own volume, with the fewest sets that hold `size` on the
/// bricks' free space. An earlier attempt's record (the controller stopped between the two
/// writes) is taken over.
async fn ensure_own_volume(
    store: &dyn Store,
    id: &str,
    class: &ClassParams,
    size: u64,
) -> Result<(), ClaimError> {
    if store.get(&volume_key(id)).await?.is_some() {
        return Ok(());
    }
    let mut best = 0;
    for sets in 1..=MAX_SETS {
        let layout = Layout {
            sets,
            ..class.layout
        };
        match placeable(store, id, &layout).await? {
            Some(c) if c >= size => {
                let mut spec = VolumeSpec::new(id, layout);
                spec.profile.clone_from(&class.profile);
                return match api::create(store, &spec).await {
                    Ok(_) | Err(VolumeError::Exists { .. }) => Ok(()),
                    Err(e) => Err(e.into()),
                };
            }
            Some(c) => best = best.max(c),
            None if sets == 1 => {
                let candidates = api::candidates(store).await?;
                let reason = placement::place(id, &layout, &candidates)
                    .err()
                    .map_or_else(String::new, |e| e.to_string());
                return Err(ClaimError::Exhausted(format!(
                    "a volume of its own for claim {id} cannot be placed: {reason}"
                )));
            }
            None => break,
        }
    }
    Err(ClaimError::Exhausted(format!(
        "{size} bytes asked for, but a volume of this class can hold at most {best} bytes on the bricks' free space now"
    )))
}

/// Waits until the agents report claim `id` as its record asks, or `deadline`.
pub async fn wait_ready(
    store: &dyn Store,
    id: &str,
    deadline: Instant,
) -> Result<ClaimRecord, ClaimError> {
    // Watch first, then read: a change between the two is not missed.
    let mut watch = store.watch(&claim_status_key(id)).await?;
    let mut waiting_for = String::from("no agent has reported on it yet");
    loop {
        let Some((_, record)) = get(store, id).await? else {
            return Err(ClaimError::NotFound { id: id.to_owned() });
        };
        if let Some(st) = status_of(store, id).await? {
            if st.satisfies(&record) {
                return Ok(record);
            }
            waiting_for = if st.reason.is_empty() {
                format!("its status is {}", st.phase)
            } else {
                format!("its status is {}: {}", st.phase, st.reason)
            };
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClaimError::Timeout {
                id: id.to_owned(),
                waiting_for,
            });
        }
        // Level-triggered: any event (or a quiet second) means "read again".
        let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), watch.next()).await;
    }
}

async fn update(
    store: &dyn Store,
    id: &str,
    mut change: impl FnMut(&mut ClaimRecord) -> Result<bool, ClaimError>,
) -> Result<ClaimRecord, ClaimError> {
    for _ in 0..5 {
        let Some((entry, mut record)) = get(store, id).await? else {
            return Err(ClaimError::NotFound { id: id.to_owned() });
        };
        if !change(&mut record)? {
            return Ok(record);
        }
        record.updated_at = now();
        if store
            .compare_and_swap(
                &entry.key,
                Expect::ModRevision(entry.mod_revision),
                &encode(&record),
                None,
            )
            .await?
        {
            return Ok(record);
        }
    }
    Err(ClaimError::Busy {
        id: id.to_owned(),
        reason: "it kept changing while it was changed; repeat the request".into(),
    })
}

/// Grows claim `id` to `size` bytes (never shrinks: a smaller size returns the claim as it
/// is) and waits for the new limit. A claim's own volume gets more sets when its bricks
/// cannot hold the new size.
pub async fn expand(
    store: &dyn Store,
    id: &str,
    size: u64,
    wait: Duration,
) -> Result<ClaimRecord, ClaimError> {
    let deadline = Instant::now() + wait;
    let Some((_, record)) = get(store, id).await? else {
        return Err(ClaimError::NotFound { id: id.to_owned() });
    };
    if record.state != ClaimState::Present {
        return Err(ClaimError::Busy {
            id: id.to_owned(),
            reason: format!("it is {}", record.state),
        });
    }
    if size > record.size_bytes {
        match record.mode {
            ClaimMode::Subdir => subdir_room(store, &record.volume, Some(id), size).await?,
            ClaimMode::Volume => grow_own_volume(store, id, size).await?,
        }
        update(store, id, |r| {
            if r.size_bytes >= size {
                return Ok(false);
            }
            r.size_bytes = size;
            Ok(true)
        })
        .await?;
    }
    wait_ready(store, id, deadline).await
}

async fn grow_own_volume(store: &dyn Store, id: &str, size: u64) -> Result<(), ClaimError> {
    for _ in 0..MAX_SETS {
        let total = api::capacity(store, id).await?.ok_or_else(|| {
            ClaimError::Unavailable(format!(
                "the size of volume {id} cannot be told: a host of its bricks has no live agent"
            ))
        })?;
        if total >= size {
            return Ok(());
        }
        match api::expand(store, id).await {
            Ok(_) => {}
            Err(VolumeError::Placement { reason, .. }) => {
                return Err(ClaimError::Exhausted(format!(
                    "{size} bytes asked for, but volume {id} holds {total} and cannot get another set: {reason}"
                )));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(ClaimError::Exhausted(format!(
        "{size} bytes asked for is more than volume {id} can hold with {MAX_SETS} sets"
    )))
}

/// What [`delete`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Deleted {
    /// There was no such claim.
    Absent,
    /// Its data is gone and its records removed.
    Removed,
    /// Its data is kept aside (its class says `onDelete: archive`).
    Archived,
}

/// Lets go of claim `id` as its class says (removed, or archived), or removes it for good
/// when `purge` (an archived claim's data too). Waits up to `wait` for the agents; an
/// unknown id is [`Deleted::Absent`], not an error.
pub async fn delete(
    store: &dyn Store,
    id: &str,
    purge: bool,
    wait: Duration,
) -> Result<Deleted, ClaimError> {
    let deadline = Instant::now() + wait;
    let Some((_, record)) = get(store, id).await? else {
        return Ok(Deleted::Absent);
    };
    // Once deleted, always deleted: an archive is never made of a claim being removed.
    let target =
        if purge || record.on_delete == OnDelete::Delete || record.state == ClaimState::Deleted {
            ClaimState::Deleted
        } else {
            ClaimState::Archived
        };
    let record = update(store, id, |r| {
        if r.state == target {
            return Ok(false);
        }
        r.state = target;
        Ok(true)
    })
    .await?;
    if record.mode == ClaimMode::Volume {
        if target == ClaimState::Archived {
            // The volume stays as it is; only its claim changes.
            write_status(store, id, ClaimPhase::Archived).await?;
            return Ok(Deleted::Archived);
        }
        match api::delete(store, id, true).await {
            Ok(_) | Err(VolumeError::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        wait_volume_gone(store, id, deadline).await?;
    } else {
        wait_ready(store, id, deadline).await?;
    }
    if target == ClaimState::Archived {
        return Ok(Deleted::Archived);
    }
    forget(store, id).await?;
    Ok(Deleted::Removed)
}

async fn write_status(store: &dyn Store, id: &str, phase: ClaimPhase) -> Result<(), ClaimError> {
    let st = ClaimStatus::new(id, phase, "", now());
    store
        .put(&claim_status_key(id), &encode(&st), None)
        .await
        .map_err(Into::into)
}

async fn wait_volume_gone(
    store: &dyn Store,
    name: &str,
    deadline: Instant,
) -> Result<(), ClaimError> {
    let mut watch = store.watch(&volume_key(name)).await?;
    loop {
        if store.get(&volume_key(name)).await?.is_none() {
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let phase = api::get(store, name)
                .await
                .ok()
                .and_then(|v| v.status)
                .map_or_else(
                    || "not reported".to_owned(),
                    |s| describe(s.phase, &s.reason),
                );
            return Err(ClaimError::Timeout {
                id: name.to_owned(),
                waiting_for: format!("its volume is still being deleted ({phase})"),
            });
        }
        let _ = tokio::time::timeout(left.min(Duration::from_secs(1)), watch.next()).await;
    }
}

fn describe(phase: Phase, reason: &str) -> String {
    if reason.is_empty() {
        phase.to_string()
    } else {
        format!("{phase}: {reason}")
    }
}

/// Removes claim `id`'s record and status, leaving its data as it is.
pub async fn forget(store: &dyn Store, id: &str) -> Result<bool, ClaimError> {
    brickyard_model::records::claim::check_claim_id(id).map_err(|e| {
        ClaimError::Unavailable(format!("{id:?} is no claim id: {}; {}", e.problem, e.fix))
    })?;
    let existed = store.get(&claim_key(id)).await?.is_some();
    store
        .commit(Txn {
            guards: Vec::new(),
            ops: vec![
                Op::Delete { key: claim_key(id) },
                Op::Delete {
                    key: claim_status_key(id),
                },
            ],
        })
        .await?;
    Ok(existed)
}

pub(crate) fn encode(r: &impl Serialize) -> Vec<u8> {
    serde_json::to_vec(r).expect("records always serialise")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn class_parameters_are_read_and_checked() {
        let c = class_params(&params(&[])).expect("defaults");
        assert_eq!(c.mode, ClaimMode::Subdir);
        assert_eq!(c.shared_volume, DEFAULT_SHARED_VOLUME);
        assert_eq!(c.on_delete, OnDelete::Delete);
        let c = class_params(&params(&[
            ("provisioning", "volume"),
            ("replica", "2"),
            ("arbiter", "true"),
            ("onDelete", "archive"),
            ("uid", "1000"),
            ("gid", "2000"),
            ("mode", "0770"),
            ("csi.storage.k8s.io/pvc/name", "data"),
        ]))
        .expect("valid");
        assert_eq!(c.mode, ClaimMode::Volume);
        assert_eq!(c.on_delete, OnDelete::Archive);
        assert_eq!(c.ownership.mode, Some(0o770));
        assert_eq!(c.ownership.uid, Some(1000));
        assert!(!c.kept.contains_key("csi.storage.k8s.io/pvc/name"));
        for (k, v, needle) in [
            ("provisioning", "dir", "subdir or volume"),
            ("replica", "three", "whole number"),
            ("mode", "999", "octal"),
            ("sharedVolume", "../x", "sharedVolume"),
            ("replicas", "3", "not a brickyard parameter"),
            ("profile", "fast", "one of"),
            ("replica", "7", "replica"),
        ] {
            let e = class_params(&params(&[(k, v)])).expect_err(k);
            assert!(e.to_string().contains(needle), "{k}={v}: {e}");
        }
    }

    const GIB: u64 = 1 << 30;

    /// A file store with three live hosts, each with one 1 GiB brick filesystem.
    async fn cluster() -> (tempfile::TempDir, brickyard_store::FileStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = brickyard_store::FileStore::open(dir.path()).expect("file store");
        for i in 1..=3 {
            let cfg = format!(
                r#"{{"HostName":"h{i}","GlusterNodeName":"g{i}","IPAddress":"10.0.0.{i}/24","BrickDevice":"/dev/sdb"}}"#
            );
            let live = format!(
                r#"{{"host":"h{i}","node_name":"g{i}","ip":"10.0.0.{i}","uuid":null,"state":"running","glusterd_pid":1,"glusterd_restarts":0,"peers":[],"problems":[],"version":"0","started_at":0,"updated_at":0,"bricks":[{{"mount_point":"/gluster/brick1","size_bytes":{GIB},"free_bytes":{GIB}}}]}}"#
            );
            store
                .put(&format!("gluster/config/h{i}"), cfg.as_bytes(), None)
                .await
                .expect("config");
            store
                .put(&format!("gluster/status/h{i}"), live.as_bytes(), None)
                .await
                .expect("liveness");
        }
        (dir, store)
    }

    fn request(name: &str, bytes: u64) -> ClaimRequest {
        ClaimRequest {
            name: name.into(),
            required_bytes: bytes,
            limit_bytes: 0,
            parameters: BTreeMap::new(),
        }
    }

    #[tokio::test]
    async fn racing_controllers_make_one_claim_and_a_repeat_finds_it() {
        let (_d, store) = cluster().await;
        let wait = Duration::from_millis(300);
        let req = request("pvc-race", GIB / 4);
        // No agent carries claims out here: both wait in vain, and one claim is recorded.
        let (a, b) = tokio::join!(create(&store, &req, wait), create(&store, &req, wait));
        for r in [a, b] {
            assert!(matches!(r, Err(ClaimError::Timeout { .. })), "{r:?}");
        }
        let all = list(&store).await.expect("list");
        assert_eq!(all.claims.len(), 1);
        let record = &all.claims[0].record;
        assert_eq!(record.id, "pvc-race");
        assert_eq!(record.volume, DEFAULT_SHARED_VOLUME);
        assert_eq!(
            crate::api::list(&store)
                .await
                .expect("volumes")
                .volumes
                .len(),
            1,
            "one shared volume"
        );
        // The agents report it ready: the same request now returns at once.
        let mut st = ClaimStatus::new("pvc-race", ClaimPhase::Ready, "h1", 0);
        st.applied_bytes = record.size_bytes;
        store
            .put(&claim_status_key("pvc-race"), &encode(&st), None)
            .await
            .expect("status");
        let found = create(&store, &req, wait).await.expect("found");
        assert_eq!(found, *record);
        // Another size is another claim of the same name: refused.
        let bigger = request("pvc-race", GIB / 2);
        assert!(matches!(
            create(&store, &bigger, wait).await,
            Err(ClaimError::Incompatible { .. })
        ));
    }

    #[tokio::test]
    async fn claims_never_promise_more_than_the_shared_volume_holds() {
        let (_d, store) = cluster().await;
        let wait = Duration::from_millis(50);
        let e = create(&store, &request("pvc-huge", 2 * GIB), wait)
            .await
            .expect_err("too big");
        assert!(matches!(e, ClaimError::OutOfRange(_)), "{e}");
        assert!(
            e.to_string().contains("holds 1073741824 bytes in all"),
            "{e}"
        );
        let _ = create(&store, &request("pvc-1", 600 << 20), wait).await;
        let e = create(&store, &request("pvc-2", 600 << 20), wait)
            .await
            .expect_err("no room left");
        assert!(matches!(e, ClaimError::Exhausted(_)), "{e}");
        assert!(e.to_string().contains("left for claims"), "{e}");
        assert_eq!(list(&store).await.expect("list").claims.len(), 1);
        let class = class_params(&BTreeMap::new()).expect("class");
        assert_eq!(
            available(&store, &class).await.expect("room"),
            GIB - (600 << 20)
        );
    }

    #[test]
    fn sizes_follow_the_capacity_range() {
        assert_eq!(size_for(0, 0).expect("default"), DEFAULT_CLAIM_BYTES);
        assert_eq!(size_for(5, 0).expect("required"), 5);
        assert_eq!(size_for(0, 7).expect("limit"), 7);
        assert!(matches!(size_for(9, 7), Err(ClaimError::OutOfRange(_))));
    }
}
