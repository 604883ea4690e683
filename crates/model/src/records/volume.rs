//! Volumes: what is asked for ([`VolumeRecord`] at `gluster/volumes/<NAME>`) and what the
//! agents last did about it ([`VolumeStatus`] at `gluster/volume-status/<NAME>`).

use std::collections::BTreeSet;
use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use super::{Extra, RecordError, decode_named, schema_v1};
use crate::keys::{VOLUME_PREFIX, VOLUME_STATUS_PREFIX, leftover_of, name_in};
use crate::names::{check_hostname, check_volume_name};

/// The most sets a volume may have (expand adds one at a time).
pub const MAX_SETS: u32 = 64;
/// The highest brick mount index a brick path may name (`/gluster/brickN`).
pub const MAX_BRICK_MOUNTS: usize = 256;
/// The longest failure reason a status may carry.
pub const MAX_REASON: usize = 4096;

/// How the bricks of one replica or disperse set are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LayoutKind {
    /// Every brick of a set holds a full copy. With `arbiter`, a set is two data bricks and
    /// one arbiter (metadata only): gluster's `replica 3 arbiter 1`, and `replica` is 2.
    Replicate {
        /// Data copies per set: 2 or 3.
        replica: u32,
        /// Whether each set has an arbiter brick besides its `replica` data bricks.
        #[serde(default)]
        arbiter: bool,
    },
    /// Erasure coding: `disperse` bricks per set, any `redundancy` of which may be lost.
    Disperse {
        /// Bricks per set.
        disperse: u32,
        /// Bricks per set that may fail.
        redundancy: u32,
    },
    /// Plain distribute: each set is one brick; no redundancy.
    Distribute,
}

/// A volume's shape: the kind of set and how many sets files are distributed over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Layout {
    /// The kind of set.
    pub kind: LayoutKind,
    /// How many sets (distribute count); expand adds one.
    pub sets: u32,
}

impl Layout {
    /// One replica set of `replica` copies.
    pub fn replicate(replica: u32) -> Self {
        Self {
            kind: LayoutKind::Replicate {
                replica,
                arbiter: false,
            },
            sets: 1,
        }
    }

    /// One set of two data bricks and an arbiter (gluster's `replica 3 arbiter 1`).
    pub fn arbiter() -> Self {
        Self {
            kind: LayoutKind::Replicate {
                replica: 2,
                arbiter: true,
            },
            sets: 1,
        }
    }

    /// One disperse set.
    pub fn disperse(disperse: u32, redundancy: u32) -> Self {
        Self {
            kind: LayoutKind::Disperse {
                disperse,
                redundancy,
            },
            sets: 1,
        }
    }

    /// Plain distribute over `bricks` bricks.
    pub fn distribute(bricks: u32) -> Self {
        Self {
            kind: LayoutKind::Distribute,
            sets: bricks,
        }
    }

    /// The same kind with `sets` sets.
    pub fn with_sets(mut self, sets: u32) -> Self {
        self.sets = sets;
        self
    }

    /// Bricks per set.
    pub fn set_width(&self) -> u32 {
        match self.kind {
            LayoutKind::Replicate { replica, arbiter } => {
                replica.saturating_add(u32::from(arbiter))
            }
            LayoutKind::Disperse { disperse, .. } => disperse,
            LayoutKind::Distribute => 1,
        }
    }

    /// Bricks in all.
    pub fn brick_count(&self) -> u32 {
        self.set_width().saturating_mul(self.sets)
    }

    /// Checks the numbers; the error says what is wrong and what works.
    pub fn check(&self) -> Result<(), String> {
        if self.sets == 0 || self.sets > MAX_SETS {
            return Err(format!(
                "{} sets: use 1 to {MAX_SETS} (--distribute K)",
                self.sets
            ));
        }
        match self.kind {
            LayoutKind::Replicate { replica, arbiter } => {
                if arbiter && replica != 2 {
                    return Err(format!(
                        "replica {replica} with an arbiter: an arbiter goes with 2 data copies (--replica 2 --arbiter, gluster's replica 3 arbiter 1)"
                    ));
                }
                if !(2..=3).contains(&replica) {
                    return Err(format!("replica {replica}: use 2 or 3"));
                }
            }
            LayoutKind::Disperse {
                disperse,
                redundancy,
            } => {
                if !(3..=16).contains(&disperse) {
                    return Err(format!("disperse {disperse}: use 3 to 16 bricks per set"));
                }
                if redundancy == 0 || redundancy.saturating_mul(2) >= disperse {
                    return Err(format!(
                        "disperse {disperse} redundancy {redundancy}: redundancy must be at least 1 and less than half of disperse (e.g. disperse 3 redundancy 1, disperse 6 redundancy 2)"
                    ));
                }
            }
            LayoutKind::Distribute => {}
        }
        Ok(())
    }

    /// gluster's counts for `volume create`: (replica, arbiter, disperse, redundancy).
    pub fn gluster_counts(&self) -> (Option<u32>, Option<u32>, Option<u32>, Option<u32>) {
        match self.kind {
            LayoutKind::Replicate {
                replica,
                arbiter: false,
            } => (Some(replica), None, None, None),
            LayoutKind::Replicate {
                replica,
                arbiter: true,
            } => (Some(replica.saturating_add(1)), Some(1), None, None),
            LayoutKind::Disperse {
                disperse,
                redundancy,
            } => (None, None, Some(disperse), Some(redundancy)),
            LayoutKind::Distribute => (None, None, None, None),
        }
    }
}

impl fmt::Display for Layout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            LayoutKind::Replicate {
                replica,
                arbiter: false,
            } => write!(f, "replica {replica}")?,
            LayoutKind::Replicate { arbiter: true, .. } => write!(f, "replica 2 + arbiter")?,
            LayoutKind::Disperse {
                disperse,
                redundancy,
            } => write!(f, "disperse {disperse} redundancy {redundancy}")?,
            LayoutKind::Distribute => return write!(f, "distribute {}", self.sets),
        }
        if self.sets > 1 {
            write!(f, " x {}", self.sets)?;
        }
        Ok(())
    }
}

/// What the volume should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DesiredState {
    /// Created and started.
    Started,
    /// Created, not serving.
    Stopped,
    /// Gone from gluster, and its brick directories removed from every host; the record is
    /// removed when that is done.
    Deleted,
}

impl fmt::Display for DesiredState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Started => "started",
            Self::Stopped => "stopped",
            Self::Deleted => "deleted",
        })
    }
}

/// One brick of a volume.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct BrickRef {
    /// The host's `HostName` (whose agent removes the directory after a delete).
    pub host: String,
    /// The host's storage address, as gluster names the brick.
    pub ip: String,
    /// The brick directory: `/gluster/brickN/<volume>`.
    pub path: String,
}

/// A brick asked to move: `from` is replaced by `to` in gluster's volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrickMove {
    /// The brick leaving.
    pub from: BrickRef,
    /// The brick taking its place.
    pub to: BrickRef,
}

impl BrickRef {
    /// The brick as gluster names it: `IP:PATH`.
    pub fn gluster_name(&self) -> String {
        format!("{}:{}", self.ip, self.path)
    }

    /// The brick mount this directory is in (`/gluster/brickN`).
    pub fn mount(&self) -> &str {
        self.path.rsplit_once('/').map_or("", |(m, _)| m)
    }
}

/// The brick directory of `volume` on brick mount `index` (0-based): the only brick path a
/// record may name.
pub fn brick_path(index: usize, volume: &str) -> String {
    format!("{}/{volume}", crate::host::brick_mount_point(index))
}

/// The 0-based mount index of a brick path of `volume`, when the path is exactly what
/// [`brick_path`] gives for some index.
pub fn brick_index(path: &str, volume: &str) -> Option<usize> {
    let rest = path.strip_prefix("/gluster/brick")?;
    let (n, name) = rest.split_once('/')?;
    if name != volume
        || n.is_empty()
        || n.starts_with('0')
        || !n.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let n: usize = n.parse().ok()?;
    (1..=MAX_BRICK_MOUNTS)
        .contains(&n)
        .then(|| n - 1)
        .filter(|&i| brick_path(i, volume) == path)
}

/// The desired volume, at `gluster/volumes/<NAME>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// The volume's name (also the last part of the key and of every brick path).
    pub name: String,
    /// This record's identity, set in gluster as the volume option
    /// [`MARKER_OPTION`] when brickyard creates the volume, so that a volume brickyard made is
    /// recognised as such from gluster itself. Empty in records of older brickyards.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Its shape; `sets` grows with each expand.
    pub layout: Layout,
    /// The option profile.
    pub profile: String,
    /// What it should be.
    pub state: DesiredState,
    /// The bricks, in replica/disperse-set order (set 1's bricks, then set 2's, ...).
    pub bricks: Vec<BrickRef>,
    /// Bricks asked to move (`replace-brick`): a brick of gluster's volume that differs
    /// from the recorded one is replaced only when a move names both; any other difference
    /// is drift, left alone. At most one move per brick, the latest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub moves: Vec<BrickMove>,
    /// When it was created (seconds since the epoch).
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The gluster volume option that marks a volume brickyard created: its value is the record's
/// [`VolumeRecord::id`] (`user.*` options are gluster's own place for such labels).
pub const MARKER_OPTION: &str = "user.brickyard.id";

fn forget_fix(name: &str) -> String {
    format!(
        "fix the record, or remove it with `brickyard volume forget {name}` (that does not touch gluster)"
    )
}

impl VolumeRecord {
    /// Reads and checks the record stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = forget_fix(name_in(VOLUME_PREFIX, key).unwrap_or_default());
        let rec: Self = decode_named(VOLUME_PREFIX, key, bytes, &fix)?;
        rec.check()
            .map_err(|problem| RecordError::new(key, problem, fix))?;
        Ok(rec)
    }

    /// Checks everything that will reach a path or a command, and the numbers.
    pub fn check(&self) -> Result<(), String> {
        check_volume_name(&self.name).map_err(|e| e.to_string())?;
        check_profile_name(&self.profile)?;
        if !self.id.is_empty() && !is_token(&self.id) {
            return Err(format!(
                "its id {:?} is not a token of 1-64 letters, digits and '-'",
                self.id
            ));
        }
        self.layout
            .check()
            .map_err(|e| format!("its layout is not one brickyard makes: {e}"))?;
        if self.bricks.len() != self.layout.brick_count() as usize {
            return Err(format!(
                "it lists {} bricks where its layout ({}) has {}",
                self.bricks.len(),
                self.layout,
                self.layout.brick_count()
            ));
        }
        let mut seen = BTreeSet::new();
        for b in &self.bricks {
            let ip = self.check_brick(b)?;
            if !seen.insert((ip, b.path.as_str())) {
                return Err(format!("brick {} is listed twice", b.gluster_name()));
            }
        }
        if self.moves.len() > self.bricks.len() {
            return Err(format!(
                "it lists {} brick moves for {} bricks",
                self.moves.len(),
                self.bricks.len()
            ));
        }
        for m in &self.moves {
            self.check_brick(&m.from)?;
            self.check_brick(&m.to)?;
        }
        Ok(())
    }

    /// Checks one brick's host, address and path; returns its address.
    fn check_brick(&self, b: &BrickRef) -> Result<IpAddr, String> {
        check_hostname("brick host", &b.host).map_err(|e| e.to_string())?;
        let ip: IpAddr =
            b.ip.parse()
                .map_err(|_| format!("brick address {:?} is not an IP address", b.ip))?;
        if ip.is_loopback() || ip.is_unspecified() || ip.is_multicast() {
            return Err(format!("brick address {ip} cannot be a gluster peer's"));
        }
        if brick_index(&b.path, &self.name).is_none() {
            return Err(format!(
                "brick path {:?} is not a brick directory of this volume (/gluster/brickN/{})",
                b.path, self.name
            ));
        }
        Ok(ip)
    }

    /// Whether a move asks for gluster's brick `from` to become `to` (both `IP:PATH`).
    pub fn moves_brick(&self, from: &str, to: &str) -> bool {
        self.moves
            .iter()
            .any(|m| m.from.gluster_name() == from && m.to.gluster_name() == to)
    }

    /// The bricks of set `i` (0-based).
    pub fn set(&self, i: usize) -> &[BrickRef] {
        let w = self.layout.set_width() as usize;
        self.bricks.get(i * w..(i + 1) * w).unwrap_or(&[])
    }

    /// The value of [`MARKER_OPTION`] for this record: its id, or for a record of an older
    /// brickyard without one, its name and creation time.
    pub fn marker(&self) -> String {
        if self.id.is_empty() {
            format!("{}-{}", self.name, self.created_at)
        } else {
            self.id.clone()
        }
    }

    /// How many bytes the volume can hold, from the size of each brick's filesystem
    /// (`size_of` a brick directory; `None` when a size is unknown). Every set holds as
    /// much as its smallest data brick, times its data bricks for a dispersed set; an
    /// arbiter brick (the last of its set) holds metadata only. The bricks' filesystems
    /// are shared with other volumes, so this is an upper bound, not a reservation.
    pub fn capacity(&self, size_of: impl Fn(&BrickRef) -> Option<u64>) -> Option<u64> {
        let (data, factor) = match self.layout.kind {
            LayoutKind::Replicate { replica, .. } => (replica as usize, 1),
            LayoutKind::Disperse {
                disperse,
                redundancy,
            } => (
                disperse as usize,
                u64::from(disperse.saturating_sub(redundancy)),
            ),
            LayoutKind::Distribute => (1, 1),
        };
        let mut total = 0u64;
        for i in 0..self.layout.sets as usize {
            let set = self.set(i);
            let smallest = set
                .iter()
                .take(data)
                .map(&size_of)
                .collect::<Option<Vec<u64>>>()?
                .into_iter()
                .min()?;
            total = total.saturating_add(smallest.saturating_mul(factor));
        }
        Some(total)
    }
}

/// A profile's name: 1-32 lowercase letters, digits and `-`.
pub fn check_profile_name(profile: &str) -> Result<(), String> {
    let ok = !profile.is_empty()
        && profile.len() <= 32
        && profile
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "profile {profile:?} is not a profile name (1-32 lowercase letters, digits and '-')"
        ))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

super::named!(VolumeRecord, "volume", name, check_volume_name);

super::named!(VolumeStatus, "volume", name, check_volume_name);

/// Where the agents are with a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Recorded before `volume create`: a pass that finds it without a gluster volume
    /// creates it again; one that finds the volume completes it (options, start).
    Creating,
    /// Adding a set's bricks and rebalancing.
    Expanding,
    /// Moving a brick to another place (`replace-brick`); the new brick is then healed
    /// from the rest of its set.
    Replacing,
    /// Started, as desired.
    Started,
    /// Stopped, as desired.
    Stopped,
    /// Being removed: from gluster, then its brick directories on each host.
    Deleting,
    /// The last attempt failed; `reason` says why. Passes keep retrying.
    Failed,
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Creating => "creating",
            Self::Expanding => "expanding",
            Self::Replacing => "replacing a brick",
            Self::Started => "started",
            Self::Stopped => "stopped",
            Self::Deleting => "deleting",
            Self::Failed => "failed",
        })
    }
}

/// What the pool lock's holder last did about a volume, at `gluster/volume-status/<NAME>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeStatus {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// The volume.
    pub name: String,
    /// Where it is.
    pub phase: Phase,
    /// Why it failed, or what it waits for; empty when nothing is wrong.
    #[serde(default)]
    pub reason: String,
    /// Whether brickyard has issued `volume create` for this record: a gluster volume of
    /// this name found without it (and without brickyard's marker) was made by someone else
    /// and is not adopted.
    #[serde(default)]
    pub create_attempted: bool,
    /// Whether bricks were added and the rebalance has not been started yet.
    #[serde(default)]
    pub rebalance_pending: bool,
    /// How many bricks gluster's volume had when this was written.
    #[serde(default)]
    pub bricks: usize,
    /// The agent that wrote this.
    #[serde(default)]
    pub by: String,
    /// When (seconds since the epoch).
    pub updated_at: u64,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

impl VolumeStatus {
    /// A fresh status of volume `name`.
    pub fn new(name: &str, phase: Phase, by: &str, now: u64) -> Self {
        Self {
            schema: super::SCHEMA,
            name: name.to_owned(),
            phase,
            reason: String::new(),
            create_attempted: false,
            rebalance_pending: false,
            bricks: 0,
            by: by.to_owned(),
            updated_at: now,
            extra: Extra::new(),
        }
    }

    /// Reads and checks the status stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = "the pool lock's holder rewrites it on its next pass once it is removed (`brickyard volume forget NAME` removes it with the record)";
        let st: Self = decode_named(VOLUME_STATUS_PREFIX, key, bytes, fix)?;
        if st.reason.len() > MAX_REASON {
            return Err(RecordError::new(
                key,
                format!("its reason is longer than {MAX_REASON} bytes"),
                fix,
            ));
        }
        if st.bricks > (MAX_SETS as usize) * 16 {
            return Err(RecordError::new(
                key,
                format!("it counts {} bricks, more than any volume has", st.bricks),
                fix,
            ));
        }
        if !st.by.is_empty() {
            check_hostname("writer", &st.by)
                .map_err(|e| RecordError::new(key, e.to_string(), fix))?;
        }
        Ok(st)
    }
}

/// Brick directories of a deleted volume left on a host that was removed from the cluster
/// while down, at `gluster/leftovers/<HostName>/<Volume>`: the delete finished without it,
/// and its agent removes them (then this record) if it ever runs again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Leftover {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// The host (as in the key).
    pub host: String,
    /// The deleted volume (as in the key).
    pub volume: String,
    /// The brick directories: each `/gluster/brickN/<volume>`.
    pub paths: Vec<String>,
    /// When the volume's delete went on without the host (seconds since the epoch).
    pub at: u64,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Leftover {
    /// Reads and checks the record stored at `key`: its host and volume are the key's, both
    /// valid names, and every path is a brick directory of that volume.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix =
            "written by `brickyard host remove`; delete the key once the directories are gone";
        let (host, volume) = leftover_of(key).unwrap_or_default();
        check_hostname("host name", host)
            .map_err(|e| RecordError::new(key, format!("its key names no valid host: {e}"), fix))?;
        check_volume_name(volume).map_err(|e| {
            RecordError::new(key, format!("its key names no valid volume: {e}"), fix)
        })?;
        let r: Self = super::parse(key, bytes, fix)?;
        super::check_schema(key, r.schema, fix)?;
        if r.host != host || r.volume != volume {
            return Err(RecordError::new(
                key,
                format!(
                    "it is about {}/{}, its key about {host}/{volume}",
                    r.host, r.volume
                ),
                fix,
            ));
        }
        if r.paths.len() > MAX_BRICK_MOUNTS {
            return Err(RecordError::new(
                key,
                format!("it lists more than {MAX_BRICK_MOUNTS} paths"),
                fix,
            ));
        }
        if let Some(bad) = r.paths.iter().find(|p| brick_index(p, volume).is_none()) {
            return Err(RecordError::new(
                key,
                format!(
                    "its path {bad:?} is not a brick directory of {volume} (/gluster/brickN/{volume})"
                ),
                fix,
            ));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{volume_key, volume_status_key};

    #[test]
    fn a_leftover_names_only_brick_directories_of_its_volume() {
        let key = crate::keys::leftover_key("h3", "gv0");
        let good =
            br#"{"schema":1,"host":"h3","volume":"gv0","paths":["/gluster/brick2/gv0"],"at":1}"#;
        let l = Leftover::decode(&key, good).expect("valid");
        assert_eq!(l.paths, ["/gluster/brick2/gv0"]);
        for bad in [
            r#"{"schema":1,"host":"h3","volume":"gv0","paths":["/etc"],"at":1}"#,
            r#"{"schema":1,"host":"h3","volume":"gv0","paths":["/gluster/brick1/gv1"],"at":1}"#,
            r#"{"schema":1,"host":"h3","volume":"gv0","paths":["/gluster/brick1/gv0/.."],"at":1}"#,
            r#"{"schema":1,"host":"h4","volume":"gv0","paths":[],"at":1}"#,
            r#"{"schema":2,"host":"h3","volume":"gv0","paths":[],"at":1}"#,
        ] {
            assert!(Leftover::decode(&key, bad.as_bytes()).is_err(), "{bad}");
        }
        assert!(Leftover::decode("gluster/leftovers/h3/../x", good).is_err());
    }

    pub(crate) fn record() -> VolumeRecord {
        VolumeRecord {
            schema: 1,
            name: "gv0".into(),
            id: "3f2a".into(),
            layout: Layout::replicate(3),
            profile: "default".into(),
            state: DesiredState::Started,
            bricks: (1..=3)
                .map(|i| BrickRef {
                    host: format!("h{i}"),
                    ip: format!("10.0.0.{i}"),
                    path: "/gluster/brick1/gv0".into(),
                })
                .collect(),
            moves: Vec::new(),
            created_at: 1,
            updated_at: 2,
            extra: Extra::new(),
        }
    }

    #[test]
    fn layouts() {
        let cases = [
            (
                Layout::replicate(3),
                3,
                3,
                "replica 3",
                (Some(3), None, None, None),
            ),
            (
                Layout::arbiter(),
                3,
                3,
                "replica 2 + arbiter",
                (Some(3), Some(1), None, None),
            ),
            (
                Layout::disperse(3, 1),
                3,
                3,
                "disperse 3 redundancy 1",
                (None, None, Some(3), Some(1)),
            ),
            (
                Layout::distribute(2),
                1,
                2,
                "distribute 2",
                (None, None, None, None),
            ),
            (
                Layout::replicate(2).with_sets(2),
                2,
                4,
                "replica 2 x 2",
                (Some(2), None, None, None),
            ),
        ];
        for (layout, width, bricks, text, counts) in cases {
            assert_eq!(layout.check(), Ok(()), "{layout}");
            assert_eq!(layout.set_width(), width, "{layout}");
            assert_eq!(layout.brick_count(), bricks, "{layout}");
            assert_eq!(layout.to_string(), text);
            assert_eq!(layout.gluster_counts(), counts, "{layout}");
        }
        for (bad, needle) in [
            (Layout::replicate(1), "use 2 or 3"),
            (Layout::replicate(4), "use 2 or 3"),
            (
                Layout {
                    kind: LayoutKind::Replicate {
                        replica: 3,
                        arbiter: true,
                    },
                    sets: 1,
                },
                "--replica 2 --arbiter",
            ),
            (Layout::disperse(3, 2), "less than half"),
            (Layout::disperse(4, 2), "less than half"),
            (Layout::disperse(3, 4_000_000_000), "less than half"),
            (Layout::disperse(2, 1), "3 to 16"),
            (Layout::distribute(0), "1 to 64"),
            (Layout::distribute(u32::MAX), "1 to 64"),
        ] {
            let err = bad.check().expect_err("refused");
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn a_record_round_trips_and_keeps_what_a_newer_writer_added() {
        let rec = record();
        let json = serde_json::to_string(&rec).expect("serialise");
        assert!(
            json.contains(r#""kind":{"type":"replicate","replica":3,"arbiter":false}"#),
            "{json}"
        );
        assert_eq!(
            VolumeRecord::decode(&volume_key("gv0"), json.as_bytes()),
            Ok(rec.clone())
        );
        let newer = json.replacen('{', r#"{"surprise":{"a":1},"#, 1);
        let read = VolumeRecord::decode(&volume_key("gv0"), newer.as_bytes()).expect("tolerated");
        assert_eq!(
            read.extra.get("surprise"),
            Some(&serde_json::json!({"a": 1}))
        );
        let again = serde_json::to_string(&read).expect("serialise");
        assert!(again.contains(r#""surprise":{"a":1}"#), "{again}");
        assert_eq!(rec.bricks[0].mount(), "/gluster/brick1");
        assert_eq!(rec.bricks[0].gluster_name(), "10.0.0.1:/gluster/brick1/gv0");
        // A record of an older brickyard: no schema, no id.
        let old = r#"{"name":"gv0","layout":{"kind":{"type":"distribute"},"sets":1},"profile":"default","state":"started","bricks":[{"host":"h1","ip":"10.0.0.1","path":"/gluster/brick2/gv0"}],"created_at":7,"updated_at":7}"#;
        let read = VolumeRecord::decode(&volume_key("gv0"), old.as_bytes()).expect("older record");
        assert_eq!((read.schema, read.marker().as_str()), (1, "gv0-7"));
    }

    #[test]
    fn hostile_records_are_refused_with_the_key_and_the_way_out() {
        let key = volume_key("gv0");
        let enc = |r: &VolumeRecord| serde_json::to_vec(r).expect("serialise");
        let mut cases: Vec<(Vec<u8>, &str)> = Vec::new();
        let mut r = record();
        r.name = String::new();
        cases.push((enc(&r), "differs from its key"));
        let mut r = record();
        r.name = "..".into();
        cases.push((enc(&r), "differs from its key"));
        let mut r = record();
        r.name = "other".into();
        cases.push((enc(&r), "differs from its key"));
        let mut r = record();
        r.bricks[1].path = "/gluster/brick1".into();
        cases.push((enc(&r), "not a brick directory"));
        let mut r = record();
        r.bricks[1].path = "/gluster/brick1/gv0/../..".into();
        cases.push((enc(&r), "not a brick directory"));
        let mut r = record();
        r.bricks[1].path = "/etc/gv0".into();
        cases.push((enc(&r), "not a brick directory"));
        let mut r = record();
        r.bricks[2].ip = "10.0.0.3 force".into();
        cases.push((enc(&r), "not an IP address"));
        let mut r = record();
        r.bricks[2].ip = "127.0.0.1".into();
        cases.push((enc(&r), "cannot be a gluster peer"));
        let mut r = record();
        r.bricks[0].host = "-rf".into();
        cases.push((enc(&r), "brick host"));
        let mut r = record();
        r.bricks.pop();
        cases.push((enc(&r), "lists 2 bricks"));
        let mut r = record();
        r.layout = Layout::disperse(3, 4);
        cases.push((enc(&r), "layout"));
        let mut r = record();
        r.layout.sets = u32::MAX;
        cases.push((enc(&r), "layout"));
        let mut r = record();
        r.bricks[1] = r.bricks[0].clone();
        cases.push((enc(&r), "listed twice"));
        let mut r = record();
        r.profile = "../x".into();
        cases.push((enc(&r), "profile"));
        let mut r = record();
        r.schema = 2;
        cases.push((enc(&r), "newer brickyard"));
        cases.push((b"{not json".to_vec(), "not a valid record"));
        for (bytes, needle) in cases {
            let err = VolumeRecord::decode(&key, &bytes)
                .expect_err(needle)
                .to_string();
            assert!(
                err.contains(needle)
                    && err.contains("gluster/volumes/gv0")
                    && err.contains("volume forget"),
                "{needle}: {err}"
            );
        }
        let err = VolumeRecord::decode("gluster/volumes/..", &enc(&record())).expect_err("bad key");
        assert!(err.problem.contains("key"), "{err}");
    }

    #[test]
    fn brick_paths_are_derived_never_trusted() {
        assert_eq!(brick_path(0, "gv0"), "/gluster/brick1/gv0");
        assert_eq!(brick_index("/gluster/brick1/gv0", "gv0"), Some(0));
        assert_eq!(brick_index("/gluster/brick12/gv0", "gv0"), Some(11));
        for bad in [
            "/gluster/brick0/gv0",
            "/gluster/brick01/gv0",
            "/gluster/brick1/gv1",
            "/gluster/brick1/gv0/",
            "/gluster/brick1/",
            "/gluster/brick1",
            "/gluster/brick9999/gv0",
            "gluster/brick1/gv0",
            "/gluster/brick+1/gv0",
        ] {
            assert_eq!(brick_index(bad, "gv0"), None, "{bad}");
        }
    }

    #[test]
    fn statuses_are_checked_like_records() {
        let st = VolumeStatus::new("gv0", Phase::Creating, "h1", 5);
        let json = serde_json::to_vec(&st).expect("serialise");
        assert_eq!(
            VolumeStatus::decode(&volume_status_key("gv0"), &json),
            Ok(st)
        );
        let err = VolumeStatus::decode(&volume_status_key("gv1"), &json).expect_err("name");
        assert!(err.problem.contains("differs from its key"), "{err}");
        assert!(VolumeStatus::decode(&volume_status_key("gv0"), b"[]").is_err());
    }

    proptest::proptest! {
        #[test]
        fn decoding_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let _ = VolumeRecord::decode("gluster/volumes/gv0", &bytes);
            let _ = VolumeStatus::decode("gluster/volume-status/gv0", &bytes);
        }

        #[test]
        fn any_record_that_decodes_names_only_its_own_brick_directories(
            name in "[a-z.]{0,4}",
            paths in proptest::collection::vec("/gluster/brick[0-9]{1,2}/[a-z./]{0,6}", 3),
            sets in 0u32..5,
            disperse in 0u32..20,
            redundancy in 0u32..20,
        ) {
            let mut r = record();
            r.name = name.clone();
            r.layout = if disperse % 2 == 0 { Layout::disperse(disperse, redundancy) } else { Layout::replicate(3) };
            r.layout.sets = sets;
            for (b, p) in r.bricks.iter_mut().zip(paths) {
                b.path = p;
            }
            let bytes = serde_json::to_vec(&r).expect("serialise");
            if let Ok(read) = VolumeRecord::decode(&volume_key(&name), &bytes) {
                proptest::prop_assert!(check_volume_name(&read.name).is_ok());
                for b in &read.bricks {
                    proptest::prop_assert!(brick_index(&b.path, &read.name).is_some());
                    let tail = format!("/{}", read.name);
                    proptest::prop_assert!(b.path.ends_with(&tail));
                }
                proptest::prop_assert!(read.layout.check().is_ok());
            }
        }
    }
}

#[cfg(test)]
mod capacity_tests {
    use super::*;

    fn record(layout: Layout, hosts: &[&str]) -> VolumeRecord {
        VolumeRecord {
            schema: 1,
            name: "gv0".into(),
            id: String::new(),
            layout,
            profile: "default".into(),
            state: DesiredState::Started,
            bricks: hosts
                .iter()
                .map(|h| BrickRef {
                    host: (*h).into(),
                    ip: "10.0.0.1".into(),
                    path: "/gluster/brick1/gv0".into(),
                })
                .collect(),
            moves: Vec::new(),
            created_at: 0,
            updated_at: 0,
            extra: Extra::new(),
        }
    }

    /// Sizes by host: a, b, c hold 10, 20, 30 GB bricks; d is unknown.
    fn size(b: &BrickRef) -> Option<u64> {
        match b.host.as_str() {
            "a" => Some(10),
            "b" => Some(20),
            "c" => Some(30),
            _ => None,
        }
    }

    #[test]
    fn a_set_holds_as_much_as_its_smallest_data_brick() {
        assert_eq!(
            record(Layout::replicate(3), &["a", "b", "c"]).capacity(size),
            Some(10)
        );
        // The arbiter (last of the set) holds metadata only.
        assert_eq!(
            record(Layout::arbiter(), &["c", "b", "a"]).capacity(size),
            Some(20)
        );
        // Disperse 3 redundancy 1: two bricks' worth of data.
        assert_eq!(
            record(Layout::disperse(3, 1), &["a", "b", "c"]).capacity(size),
            Some(20)
        );
        // Distribute: the sum.
        assert_eq!(
            record(Layout::distribute(3), &["a", "b", "c"]).capacity(size),
            Some(60)
        );
        // Two replica-3 sets.
        assert_eq!(
            record(
                Layout::replicate(3).with_sets(2),
                &["a", "b", "c", "c", "b", "b"]
            )
            .capacity(size),
            Some(30)
        );
    }

    #[test]
    fn an_unknown_brick_size_gives_no_capacity() {
        assert_eq!(
            record(Layout::replicate(3), &["a", "b", "d"]).capacity(size),
            None
        );
    }
}
