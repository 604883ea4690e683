//! What the node agents publish: each one's liveness ([`AgentStatus`] at
//! `gluster/status/<HostName>`, attached to its lease, so it goes away when the agent dies),
//! the full heals each owes ([`FullHeals`]), and what the pool lock's holder observes of the
//! volumes ([`ObservedVolumes`]).

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Extra, RecordError, check_schema, decode_named, parse, schema_v1};
use crate::keys::{FULL_HEAL_PREFIX, HOST_REMOVAL_PREFIX, OBSERVED_VOLUMES, STATUS_PREFIX};
use crate::names::{check_hostname, check_volume_name};

/// The agent's phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentState {
    /// Preparing the host: config, address, directories, brick mounts.
    Bootstrapping,
    /// glusterd is being started (or restarted after it died).
    StartingGlusterd,
    /// glusterd is running and answering.
    Running,
    /// Running, but something needs attention; see `problems`.
    Degraded,
    /// Shutting down on a signal.
    Stopping,
}

/// One peer as this host's glusterd sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerView {
    /// The peer's address as glusterd knows it.
    pub hostname: String,
    /// The peer's glusterd UUID as recorded in this host's glusterd.
    pub uuid: String,
    /// Whether glusterd is connected to it now.
    pub connected: bool,
    /// glusterd's state string, e.g. "Peer in Cluster".
    pub state: String,
}

/// How the agent's volume reconciliation has gone since it started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileStats {
    /// Passes run.
    pub passes: u64,
    /// Failed passes and failed volume actions.
    pub errors: u64,
    /// How long the last pass took, in milliseconds.
    pub last_duration_ms: u64,
}

/// The size and free space of one brick filesystem, as its host's agent last saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrickSpace {
    /// The brick mount, `/gluster/brickN`.
    pub mount_point: String,
    /// The filesystem's size in bytes.
    pub size_bytes: u64,
    /// Bytes free for new data.
    pub free_bytes: u64,
}

impl BrickSpace {
    /// gluster's `storage.reserve` (10.3's default, which brickyard keeps): a brick refuses
    /// clients' new data once less than this percentage of its filesystem is free.
    pub const GLUSTER_RESERVE_PERCENT: u64 = 1;

    /// Whether gluster refuses new data on this filesystem: less free than its reserve.
    /// Writes to its bricks then fail with "No space left on device".
    pub fn below_reserve(&self) -> bool {
        self.free_bytes < self.size_bytes / 100 * Self::GLUSTER_RESERVE_PERCENT
    }
}

/// A brick disk that fails, as its host's agent sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DiskFailure {
    /// The device in the host's config.
    pub device: String,
    /// Its brick mount, `/gluster/brickN`.
    pub mount_point: String,
    /// What is wrong ("not mounted", "Input/output error (os error 5)").
    pub reason: String,
}

/// The liveness record of one host's agent, at `gluster/status/<HostName>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentStatus {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// `HostName` of the host.
    pub host: String,
    /// `GlusterNodeName` of the host.
    pub node_name: String,
    /// glusterd's address.
    pub ip: IpAddr,
    /// glusterd's UUID, once known.
    pub uuid: Option<String>,
    /// The agent's phase.
    pub state: AgentState,
    /// glusterd's process id, while it runs.
    pub glusterd_pid: Option<u32>,
    /// How many times the agent restarted glusterd after it died.
    pub glusterd_restarts: u32,
    /// The peers this host's glusterd knows.
    pub peers: Vec<PeerView>,
    /// Things a person should look at, one line each.
    pub problems: Vec<String>,
    /// The agent's version.
    pub version: String,
    /// When the agent started (seconds since the epoch).
    pub started_at: u64,
    /// When this record was written (seconds since the epoch).
    pub updated_at: u64,
    /// The agent's volume reconciliation so far.
    #[serde(default)]
    pub reconcile: ReconcileStats,
    /// This host's mounted brick filesystems: their size and free space, for placement
    /// and for checking what a volume can hold.
    #[serde(default)]
    pub bricks: Vec<BrickSpace>,
    /// Brick disks of this host's config that fail: not mounted, or their filesystem
    /// returns errors. Their bricks are offline and placement does not use them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failed_disks: Vec<DiskFailure>,
    /// Entries in the heal index of this host's bricks, by volume; only volumes with some
    /// (or whose index could not be read, counted as one). The pool lock's holder adds
    /// these up for the entries pending heal of a volume whose bricks are all online.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub heal_index: BTreeMap<String, u64>,
    /// How many files glusterd and the brick processes it starts may keep open (the agent's
    /// `RLIMIT_NOFILE`, which they inherit); absent when the agent could not read it. With
    /// brick multiplexing the pool lock's holder keeps the bricks per process within it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_files: Option<u64>,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

impl AgentStatus {
    /// How many of this host's peers glusterd sees connected and in the cluster.
    pub fn connected_peers(&self) -> usize {
        self.peers
            .iter()
            .filter(|p| p.connected && p.state == "Peer in Cluster")
            .count()
    }

    /// Reads and checks the liveness record stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix =
            "the host's agent rewrites it every few seconds; if it does not, see that agent's log";
        let st: Self = decode_named(STATUS_PREFIX, key, bytes, fix)?;
        check_hostname("node name", &st.node_name)
            .map_err(|e| RecordError::new(key, e.to_string(), fix))?;
        if st.ip.is_unspecified() || st.ip.is_multicast() {
            return Err(RecordError::new(
                key,
                format!("its address {} is not a host's", st.ip),
                fix,
            ));
        }
        if st.failed_disks.len() > 64 {
            return Err(RecordError::new(
                key,
                format!("it lists {} failed disks", st.failed_disks.len()),
                fix,
            ));
        }
        for d in &st.failed_disks {
            if !is_brick_mount(&d.mount_point) {
                return Err(RecordError::new(
                    key,
                    format!("failed disk mount {:?} is not a brick mount", d.mount_point),
                    fix,
                ));
            }
        }
        for b in &st.bricks {
            if !b.mount_point.starts_with("/gluster/brick") || b.free_bytes > b.size_bytes {
                return Err(RecordError::new(
                    key,
                    format!(
                        "brick mount {:?} ({} of {} bytes free) is not one an agent reports",
                        b.mount_point, b.free_bytes, b.size_bytes
                    ),
                    fix,
                ));
            }
        }
        Ok(st)
    }
}

/// The full heals one host's agent owes, at `gluster/full-heals/<HostName>`: its brick
/// filesystems that were found full, whose replicated and dispersed volumes get a full heal
/// once the filesystem has room again. Written by that agent when one fills up and when a
/// heal has been started, and read when it starts, so that a restart in between forgets
/// none; absent when none is owed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FullHeals {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// `HostName` of the host.
    pub host: String,
    /// The brick mounts, `/gluster/brickN`, sorted.
    pub mounts: Vec<String>,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

impl FullHeals {
    /// At most this many mounts: more than a host's config can name.
    const MAX_MOUNTS: usize = 64;

    /// The record for `host` owing heals for `mounts`.
    pub fn new(host: &str, mounts: impl IntoIterator<Item = String>) -> Self {
        let mut mounts: Vec<String> = mounts.into_iter().collect();
        mounts.sort();
        mounts.dedup();
        Self {
            schema: super::SCHEMA,
            host: host.to_owned(),
            mounts,
            extra: Extra::new(),
        }
    }

    /// Reads and checks the record stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = "the host's agent writes it when a brick filesystem fills up; deleting it \
                   skips the full heal it owes (`gluster volume heal VOL full` starts one)";
        let r: Self = decode_named(FULL_HEAL_PREFIX, key, bytes, fix)?;
        if r.mounts.len() > Self::MAX_MOUNTS {
            return Err(RecordError::new(
                key,
                format!("it lists {} brick mounts", r.mounts.len()),
                fix,
            ));
        }
        if let Some(m) = r.mounts.iter().find(|m| !is_brick_mount(m)) {
            return Err(RecordError::new(
                key,
                format!("{m:?} is not a brick mount"),
                fix,
            ));
        }
        Ok(r)
    }
}

super::named!(FullHeals, "host", host, |name| check_hostname(
    "host name",
    name
));

/// A host being removed from the pool, at `gluster/host-removals/<HostName>`: its config is
/// gone from the store, and the pool lock's holder detaches its peer, then deletes this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRemoval {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// `HostName` of the host.
    pub host: String,
    /// Its storage address, as gluster's pool knows the peer.
    pub ip: IpAddr,
    /// When the removal was asked for (seconds since the epoch).
    pub at: u64,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

impl HostRemoval {
    /// Reads and checks the record stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = "written by `brickyard host remove`; delete the key if the host should stay";
        let r: Self = decode_named(HOST_REMOVAL_PREFIX, key, bytes, fix)?;
        if r.ip.is_unspecified() || r.ip.is_multicast() || r.ip.is_loopback() {
            return Err(RecordError::new(
                key,
                format!("its address {} is not a peer's", r.ip),
                fix,
            ));
        }
        Ok(r)
    }
}

super::named!(HostRemoval, "host", host, |name| check_hostname(
    "host name",
    name
));

/// Whether `path` is `/gluster/brickN` (N a number).
fn is_brick_mount(path: &str) -> bool {
    path.strip_prefix("/gluster/brick")
        .is_some_and(|n| !n.is_empty() && n.len() <= 4 && n.bytes().all(|b| b.is_ascii_digit()))
}

super::named!(AgentStatus, "host", host, |name| check_hostname(
    "host name",
    name
));

/// What the pool lock's holder records at [`OBSERVED_VOLUMES`]: entries pending heal per
/// started replicated or dispersed volume. `volume heal ... info` only works from inside a
/// host (its helper ignores `--remote-host`), so `brickyard status` on another machine reads
/// it from here.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObservedVolumes {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// The host that observed.
    pub host: String,
    /// When (seconds since the epoch).
    pub at: u64,
    /// Entries pending heal by volume; bricks that could not be asked count nothing.
    pub heal_pending: BTreeMap<String, u64>,
    /// Bricks heal info could not reach, by volume.
    pub heal_unreachable: BTreeMap<String, usize>,
    /// Volumes whose heal info could not be asked at all, with why.
    #[serde(default)]
    pub heal_unknown: BTreeMap<String, String>,
    /// The last rebalance of each volume that has one, as gluster reports it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub rebalance: BTreeMap<String, RebalanceSeen>,
    /// The most entries pending heal since the volume last had none, and when: what the
    /// heal rate is measured from ([`ObservedVolumes::heal_progress`]). Only volumes with
    /// entries pending.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub heal_peak: BTreeMap<String, HealPeak>,
    /// When gluster was last asked about each volume's heal (`heal info`), where that is not
    /// `at`: a volume whose bricks are all online and counted by their hosts' agents has its
    /// entries counted from their heal index, and keeps the time of the last answer, which a
    /// wait for a heal after a change compares with ([`ObservedVolumes::heal_asked_at`]).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub heal_at: BTreeMap<String, u64>,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A count of entries pending heal and when it was seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealPeak {
    /// When (seconds since the epoch).
    pub at: u64,
    /// Entries pending heal then.
    pub pending: u64,
}

impl HealPeak {
    /// The peak after seeing `pending` entries at `at`, given the one before: `None` once
    /// nothing is pending, a new peak when the count passed the old one (writes while a
    /// brick was away add entries), else the old one (a count that stays where it was is
    /// not draining).
    pub fn next(before: Option<&Self>, at: u64, pending: u64) -> Option<Self> {
        match before {
            _ if pending == 0 => None,
            Some(b) if pending <= b.pending && b.at <= at => Some(*b),
            _ => Some(Self { at, pending }),
        }
    }
}

/// `45s`, `3m`, `1h 20m`, `2d 3h`: seconds rounded up to what a reader needs.
fn short_duration(secs: u64) -> String {
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs.div_ceil(60)),
        3600..86400 => format!("{}h {}m", secs / 3600, (secs % 3600) / 60),
        _ => format!("{}d {}h", secs / 86400, (secs % 86400) / 3600),
    }
}

/// How fast a heal drains, measured from its peak to the last observation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct HealProgress {
    /// Entries healed per minute since the peak; 0 while the count has not gone down.
    pub per_minute: f64,
    /// Seconds until nothing is pending at that rate; `None` while the rate is 0.
    pub eta_seconds: Option<u64>,
}

impl std::fmt::Display for HealProgress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.eta_seconds {
            None => write!(f, "not draining yet"),
            Some(eta) => write!(
                f,
                "healing {:.0} a minute, about {} left",
                self.per_minute,
                short_duration(eta)
            ),
        }
    }
}

/// A volume's last rebalance. The counts are asked for only while it runs or when it
/// failed; a completed one carries its status alone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalanceSeen {
    /// gluster's word: "in progress", "completed", "failed", "stopped", ...
    pub status: String,
    /// Files moved so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<u64>,
    /// Bytes moved so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    /// Files looked at so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lookups: Option<u64>,
    /// Files that could not be moved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failures: Option<u64>,
    /// Seconds it has run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_secs: Option<u64>,
}

impl RebalanceSeen {
    /// Whether it is still moving files.
    pub fn running(&self) -> bool {
        self.status == "in progress"
    }

    /// What it did so far and how fast: `16 files (4096 bytes) moved, 40 looked at, in 3 s
    /// (5 files, 1365 bytes a second)`; `None` when its counts were not asked (a completed
    /// one). gluster's XML gives no estimate of the time left.
    pub fn summary(&self) -> Option<String> {
        let (files, bytes) = (self.files?, self.bytes?);
        let secs = self.runtime_secs.unwrap_or(0);
        let mut out = format!(
            "{files} files ({bytes} bytes) moved, {} looked at, in {secs} s",
            self.lookups.unwrap_or(0)
        );
        if let (Some(f), Some(b)) = (files.checked_div(secs), bytes.checked_div(secs)) {
            out.push_str(&format!(" ({f} files, {b} bytes a second)"));
        }
        Some(out)
    }
}

impl ObservedVolumes {
    /// When gluster was last asked about `volume`'s heal (seconds since the epoch).
    pub fn heal_asked_at(&self, volume: &str) -> u64 {
        self.heal_at.get(volume).copied().unwrap_or(self.at)
    }

    /// How fast volume `name`'s heal drains: from its peak to this observation. `None`
    /// when nothing is pending or the rate is not measured yet (the peak is this
    /// observation).
    pub fn heal_progress(&self, name: &str) -> Option<HealProgress> {
        let pending = *self.heal_pending.get(name).filter(|n| **n > 0)?;
        let peak = self.heal_peak.get(name)?;
        let secs = self.at.checked_sub(peak.at).filter(|s| *s > 0)?;
        let healed = peak.pending.saturating_sub(pending);
        let per_second = healed as f64 / secs as f64;
        Some(HealProgress {
            per_minute: per_second * 60.0,
            eta_seconds: (healed > 0).then(|| (pending as f64 / per_second).ceil() as u64),
        })
    }

    /// Reads and checks the observation stored at [`OBSERVED_VOLUMES`].
    pub fn decode(bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = "the pool lock's holder rewrites it every few seconds";
        let obs: Self = parse(OBSERVED_VOLUMES, bytes, fix)?;
        check_schema(OBSERVED_VOLUMES, obs.schema, fix)?;
        check_hostname("observer", &obs.host)
            .map_err(|e| RecordError::new(OBSERVED_VOLUMES, e.to_string(), fix))?;
        let names = obs
            .heal_pending
            .keys()
            .chain(obs.heal_unreachable.keys())
            .chain(obs.heal_unknown.keys())
            .chain(obs.rebalance.keys())
            .chain(obs.heal_peak.keys());
        for r in obs.rebalance.values() {
            if r.status.len() > 32 || !r.status.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
                return Err(RecordError::new(
                    OBSERVED_VOLUMES,
                    format!("rebalance status {:?} is not gluster's", r.status),
                    fix,
                ));
            }
        }
        for name in names {
            check_volume_name(name)
                .map_err(|e| RecordError::new(OBSERVED_VOLUMES, e.to_string(), fix))?;
        }
        Ok(obs)
    }
}

/// Reads the list of unmanaged volumes at [`crate::keys::UNMANAGED_VOLUMES`].
pub fn decode_unmanaged(bytes: &[u8]) -> Result<Vec<String>, RecordError> {
    let key = crate::keys::UNMANAGED_VOLUMES;
    let fix = "the pool lock's holder rewrites it on its next pass";
    let names: Vec<String> = parse(key, bytes, fix)?;
    for n in &names {
        check_volume_name(n).map_err(|e| RecordError::new(key, e.to_string(), fix))?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::status_key;

    #[test]
    fn a_heal_is_measured_from_its_peak() {
        let peak = |at, pending| HealPeak { at, pending };
        // The count grows while a brick is away, then drains.
        let mut p = None;
        for (at, pending) in [(0, 10), (10, 400), (20, 300)] {
            p = HealPeak::next(p.as_ref(), at, pending);
        }
        assert_eq!(p, Some(peak(10, 400)));
        assert_eq!(
            HealPeak::next(Some(&peak(10, 400)), 30, 400),
            Some(peak(10, 400))
        );
        assert_eq!(HealPeak::next(p.as_ref(), 30, 0), None);
        let mut obs = ObservedVolumes {
            at: 20,
            ..ObservedVolumes::default()
        };
        obs.heal_pending.insert("v".into(), 300);
        obs.heal_peak.insert("v".into(), peak(10, 400));
        let h = obs.heal_progress("v").expect("measured");
        assert_eq!(h.per_minute, 600.0);
        assert_eq!(h.eta_seconds, Some(30));
        assert_eq!(h.to_string(), "healing 600 a minute, about 30s left");
        // Not draining: a rate of 0 and no estimate; no peak yet: not measured.
        obs.heal_peak.insert("v".into(), peak(10, 300));
        assert_eq!(obs.heal_progress("v").expect("measured").eta_seconds, None);
        obs.heal_peak.insert("v".into(), peak(20, 300));
        assert_eq!(obs.heal_progress("v"), None);
        assert_eq!(short_duration(61), "2m");
        assert_eq!(short_duration(3700), "1h 1m");
    }

    fn status() -> AgentStatus {
        AgentStatus {
            schema: 1,
            host: "h1".into(),
            node_name: "gluster-1".into(),
            ip: "10.0.0.1".parse().expect("ip"),
            uuid: None,
            state: AgentState::Running,
            glusterd_pid: Some(7),
            glusterd_restarts: 0,
            peers: Vec::new(),
            problems: Vec::new(),
            version: "0".into(),
            started_at: 1,
            updated_at: 2,
            reconcile: ReconcileStats::default(),
            bricks: vec![BrickSpace {
                mount_point: "/gluster/brick1".into(),
                size_bytes: 10,
                free_bytes: 5,
            }],
            failed_disks: Vec::new(),
            heal_index: Default::default(),
            open_files: None,
            extra: Extra::new(),
        }
    }

    #[test]
    fn a_liveness_record_must_be_about_its_key() {
        let json = serde_json::to_vec(&status()).expect("serialise");
        assert_eq!(AgentStatus::decode(&status_key("h1"), &json), Ok(status()));
        let err = AgentStatus::decode(&status_key("h2"), &json).expect_err("other host");
        assert!(err.to_string().contains("differs"), "{err}");
        let mut s = status();
        s.bricks[0].free_bytes = 11;
        let json = serde_json::to_vec(&s).expect("serialise");
        assert!(AgentStatus::decode(&status_key("h1"), &json).is_err());
        let mut s = status();
        s.failed_disks.push(DiskFailure {
            device: "/dev/sdc".into(),
            mount_point: "/gluster/brick2".into(),
            reason: "not mounted".into(),
        });
        let json = serde_json::to_vec(&s).expect("serialise");
        assert_eq!(AgentStatus::decode(&status_key("h1"), &json), Ok(s.clone()));
        s.failed_disks[0].mount_point = "/etc".into();
        let json = serde_json::to_vec(&s).expect("serialise");
        assert!(AgentStatus::decode(&status_key("h1"), &json).is_err());
        assert!(decode_unmanaged(br#"["ok","../x"]"#).is_err());
        assert_eq!(decode_unmanaged(br#"["ok"]"#).expect("list"), vec!["ok"]);
    }

    #[test]
    fn full_heals_name_only_brick_mounts_of_their_host() {
        use crate::keys::full_heal_key;
        let r = FullHeals::new(
            "h1",
            [
                "/gluster/brick2".to_owned(),
                "/gluster/brick1".into(),
                "/gluster/brick2".into(),
            ],
        );
        assert_eq!(r.mounts, ["/gluster/brick1", "/gluster/brick2"]);
        let json = serde_json::to_vec(&r).expect("serialise");
        assert_eq!(
            FullHeals::decode(&full_heal_key("h1"), &json),
            Ok(r.clone())
        );
        let err = FullHeals::decode(&full_heal_key("h2"), &json).expect_err("other host");
        assert!(err.to_string().contains("differs"), "{err}");
        for bad in ["/etc", "/gluster/brick1/../x", "/gluster/brick"] {
            let json = serde_json::to_vec(&FullHeals::new("h1", [bad.to_owned()])).expect("json");
            let err = FullHeals::decode(&full_heal_key("h1"), &json).expect_err(bad);
            assert!(err.to_string().contains("not a brick mount"), "{err}");
        }
        let many = (1..=65).map(|i| format!("/gluster/brick{i}"));
        let json = serde_json::to_vec(&FullHeals::new("h1", many)).expect("json");
        assert!(FullHeals::decode(&full_heal_key("h1"), &json).is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = FullHeals::decode("gluster/full-heals/h1", &bytes);
            let _ = AgentStatus::decode("gluster/status/h1", &bytes);
            let _ = ObservedVolumes::decode(&bytes);
            let _ = decode_unmanaged(&bytes);
        }
    }
}
