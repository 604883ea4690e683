//! The stored formats: what is asked for ([`VolumeRecord`] at `gluster/volumes/<NAME>`) and
//! what the agents last did about it ([`VolumeStatus`] at `gluster/volume-status/<NAME>`).
//!
//! Both are JSON. brickyard owns these formats, so they are read strictly: an unknown field
//! is an error rather than something silently dropped on the next write.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Prefix of the agents' observed state of each volume: `gluster/volume-status/<NAME>`.
pub const STATUS_PREFIX: &str = "gluster/volume-status/";
/// Prefix of brick clean-up acknowledgements: `gluster/volume-cleanup/<NAME>/<HOST>`, written
/// by a host's agent once its brick directories of a deleted volume are gone.
pub const CLEANUP_PREFIX: &str = "gluster/volume-cleanup/";
/// Gluster volumes that no record asks for (made by hand), as the pool lock's holder last
/// saw them: a JSON list of names.
pub const UNMANAGED_KEY: &str = "gluster/observed/unmanaged-volumes";

/// The key of a volume's observed status.
pub fn status_key(volume: &str) -> String {
    format!("{STATUS_PREFIX}{volume}")
}

/// The prefix of a volume's clean-up acknowledgements.
pub fn cleanup_prefix(volume: &str) -> String {
    format!("{CLEANUP_PREFIX}{volume}/")
}

/// The key of one host's clean-up acknowledgement for a volume.
pub fn cleanup_key(volume: &str, host: &str) -> String {
    format!("{CLEANUP_PREFIX}{volume}/{host}")
}

/// How the bricks of one replica or disperse set are used.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
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
#[serde(deny_unknown_fields)]
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
            LayoutKind::Replicate { replica, arbiter } => replica + u32::from(arbiter),
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
        if self.sets == 0 || self.sets > 64 {
            return Err(format!("{} sets: use 1 to 64 (--distribute K)", self.sets));
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
                if redundancy == 0 || 2 * redundancy >= disperse {
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
            } => (Some(replica + 1), Some(1), None, None),
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
#[serde(deny_unknown_fields)]
pub struct BrickRef {
    /// The host's `HostName` (whose agent removes the directory after a delete).
    pub host: String,
    /// The host's storage address, as gluster names the brick.
    pub ip: String,
    /// The brick directory: `/gluster/brickN/<volume>`.
    pub path: String,
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

/// What a client asks for when creating a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeSpec {
    /// The volume's name.
    pub name: String,
    /// Its shape.
    pub layout: Layout,
    /// The option profile ([`crate::profile`]); `default` when absent.
    #[serde(default = "default_profile")]
    pub profile: String,
    /// Started (the default) or stopped after creation.
    #[serde(default = "default_state")]
    pub state: DesiredState,
}

fn default_profile() -> String {
    crate::profile::DEFAULT.to_owned()
}

fn default_state() -> DesiredState {
    DesiredState::Started
}

impl VolumeSpec {
    /// A spec with the default profile, to be started.
    pub fn new(name: &str, layout: Layout) -> Self {
        Self {
            name: name.to_owned(),
            layout,
            profile: default_profile(),
            state: DesiredState::Started,
        }
    }
}

/// The desired volume, at `gluster/volumes/<NAME>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeRecord {
    /// The volume's name (also the last part of the key and of every brick path).
    pub name: String,
    /// Its shape; `sets` grows with each expand.
    pub layout: Layout,
    /// The option profile.
    pub profile: String,
    /// What it should be.
    pub state: DesiredState,
    /// The bricks, in replica/disperse-set order (set 1's bricks, then set 2's, ...).
    pub bricks: Vec<BrickRef>,
    /// When it was created (seconds since the epoch).
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
}

impl VolumeRecord {
    /// The bricks of set `i` (0-based).
    pub fn set(&self, i: usize) -> &[BrickRef] {
        let w = self.layout.set_width() as usize;
        self.bricks.get(i * w..(i + 1) * w).unwrap_or(&[])
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
            } => (disperse as usize, u64::from(disperse - redundancy)),
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

/// Where the agents are with a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Recorded before `volume create`: a pass that finds it without a gluster volume
    /// creates it again; one that finds the volume completes it (options, start).
    Creating,
    /// Adding a set's bricks and rebalancing.
    Expanding,
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
            Self::Started => "started",
            Self::Stopped => "stopped",
            Self::Deleting => "deleting",
            Self::Failed => "failed",
        })
    }
}

/// What the pool lock's holder last did about a volume, at `gluster/volume-status/<NAME>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VolumeStatus {
    /// The volume.
    pub name: String,
    /// Where it is.
    pub phase: Phase,
    /// Why it failed, or what it waits for; empty when nothing is wrong.
    #[serde(default)]
    pub reason: String,
    /// Whether brickyard has issued `volume create` for this record: a gluster volume of
    /// this name found without it was made by someone else and is not adopted.
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
            (Layout::disperse(2, 1), "3 to 16"),
            (Layout::distribute(0), "1 to 64"),
        ] {
            let err = bad.check().expect_err("refused");
            assert!(err.contains(needle), "{bad:?}: {err}");
        }
    }

    #[test]
    fn record_round_trips_and_is_strict() {
        let rec = VolumeRecord {
            name: "gv0".into(),
            layout: Layout::arbiter(),
            profile: "default".into(),
            state: DesiredState::Started,
            bricks: vec![BrickRef {
                host: "h1".into(),
                ip: "10.0.0.1".into(),
                path: "/gluster/brick1/gv0".into(),
            }],
            created_at: 1,
            updated_at: 2,
        };
        let json = serde_json::to_string(&rec).expect("serialise");
        assert!(
            json.contains(r#""kind":{"type":"replicate","replica":2,"arbiter":true}"#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<VolumeRecord>(&json).expect("parse"),
            rec
        );
        let extra = json.replacen('{', r#"{"surprise":1,"#, 1);
        assert!(serde_json::from_str::<VolumeRecord>(&extra).is_err());
        assert_eq!(rec.bricks[0].mount(), "/gluster/brick1");
        assert_eq!(rec.bricks[0].gluster_name(), "10.0.0.1:/gluster/brick1/gv0");
    }
}

#[cfg(test)]
mod capacity_tests {
    use super::*;

    fn record(layout: Layout, hosts: &[&str]) -> VolumeRecord {
        VolumeRecord {
            name: "gv0".into(),
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
            created_at: 0,
            updated_at: 0,
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
