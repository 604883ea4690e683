//! Claims: storage provisioned for Kubernetes through the CSI driver. What is asked for
//! ([`ClaimRecord`] at `gluster/csi/claims/<ID>`, written by the CSI controller) and what
//! the agents did about it ([`ClaimStatus`] at `gluster/csi/claim-status/<ID>`, written by
//! the pool lock's holder).
//!
//! A claim is either a directory of its own in a shared volume (`subdir`), or a volume of
//! its own (`volume`); either way its size is a gluster quota limit. Every path a claim
//! reaches is derived from its id, never stored: the directory is `/<ID>`, its archive
//! `/.brickyard-archive/<ID>`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::{Extra, RecordError, decode_named, schema_v1};
use crate::keys::{CLAIM_PREFIX, CLAIM_STATUS_PREFIX, name_in};
use crate::names::{NameError, check_hostname, check_volume_name};

/// The CSI driver's name, as Kubernetes' CSIDriver object, StorageClasses and
/// PersistentVolumes name it.
pub const DRIVER_NAME: &str = "glusterfs.brickyard.io";

/// The StorageClass parameters of the CSI driver that are brickyard's own words (the layout
/// ones are `volume create`'s flags: `replica`, `arbiter`, `disperse`, `redundancy`,
/// `distribute`, `profile`; the directory's are `uid`, `gid`, `mode`).
pub mod params {
    /// How claims are provided: `subdir` (a directory of a shared volume) or `volume`.
    pub const PROVISIONING: &str = "provisioning";
    /// The shared volume of `subdir` claims.
    pub const SHARED_VOLUME: &str = "sharedVolume";
    /// What a deleted claim leaves: `delete` (nothing) or `archive`.
    pub const ON_DELETE: &str = "onDelete";
    /// The shared volume of `subdir` claims when a class names none.
    pub const DEFAULT_SHARED_VOLUME: &str = "brickyard-claims";
}

/// The largest claim: what Kubernetes can represent (its quantities are int64 bytes).
pub const MAX_CLAIM_BYTES: u64 = i64::MAX as u64;
/// The most StorageClass parameters a claim keeps.
pub const MAX_PARAMETERS: usize = 64;
/// The longest parameter name or value a claim keeps.
pub const MAX_PARAMETER_LEN: usize = 1024;
/// The longest CSI request name a claim keeps.
pub const MAX_REQUEST_NAME: usize = 1024;
/// The directory of a shared volume where archived claims are moved.
pub const ARCHIVE_DIR: &str = ".brickyard-archive";

/// How a claim's storage is provided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimMode {
    /// A directory of its own in a shared volume.
    Subdir,
    /// A volume of its own.
    Volume,
}

impl fmt::Display for ClaimMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Subdir => "subdir",
            Self::Volume => "volume",
        })
    }
}

/// What becomes of a claim's data when Kubernetes deletes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnDelete {
    /// Removed.
    Delete,
    /// Kept aside (moved to the archive directory, or the volume kept), listed by
    /// `brickyard csi list` and removed later with `brickyard csi purge`.
    Archive,
}

impl fmt::Display for OnDelete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Delete => "delete",
            Self::Archive => "archive",
        })
    }
}

/// What a claim should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Provisioned, at its size.
    Present,
    /// Kubernetes let go of it and its data is kept aside.
    Archived,
    /// Its data removed; the record goes when that is done.
    Deleted,
}

impl fmt::Display for ClaimState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Present => "present",
            Self::Archived => "archived",
            Self::Deleted => "deleted",
        })
    }
}

/// Who owns a claim's directory and with which permissions, set when it is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Ownership {
    /// Owner's user id; root's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Owner's group id; root's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gid: Option<u32>,
    /// Permission bits (at most 0o7777). When absent: 0o2775 with a group (the group
    /// writes, and new files inherit the group), else 0o755.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

impl Ownership {
    /// The permission bits the directory gets.
    pub fn mode_bits(&self) -> u32 {
        match self.mode {
            Some(m) => m,
            None if self.gid.is_some() => 0o2775,
            None => 0o755,
        }
    }
}

/// A claim, at `gluster/csi/claims/<ID>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRecord {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// The claim's id: the CSI volume id, the last part of its key and the name of its
    /// directory (see [`claim_id`]).
    pub id: String,
    /// The name the CSI CreateVolume call gave (Kubernetes' `pvc-<uid>`).
    pub request_name: String,
    /// How it is provided.
    pub mode: ClaimMode,
    /// The gluster volume holding it: the shared volume, or for [`ClaimMode::Volume`] the
    /// claim's own, named as the claim.
    pub volume: String,
    /// Its size: the quota limit of its directory.
    pub size_bytes: u64,
    /// Owner and permissions of its directory.
    #[serde(default)]
    pub ownership: Ownership,
    /// What becomes of it when Kubernetes deletes it.
    pub on_delete: OnDelete,
    /// What it should be.
    pub state: ClaimState,
    /// The StorageClass parameters it was made with: a CreateVolume of the same name with
    /// other parameters is another claim.
    #[serde(default)]
    pub parameters: BTreeMap<String, String>,
    /// When it was created (seconds since the epoch).
    pub created_at: u64,
    /// When it was last changed.
    pub updated_at: u64,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The id of the claim a CSI CreateVolume call of `request_name` makes: the name itself when
/// it is a valid volume name (Kubernetes' `pvc-<uid>` always is), otherwise `claim-` and a
/// hash of it. Two names with one id are told apart by [`ClaimRecord::request_name`].
pub fn claim_id(request_name: &str) -> String {
    if check_volume_name(request_name).is_ok() {
        request_name.to_owned()
    } else {
        format!(
            "claim-{:016x}",
            crate::names::fnv1a64(request_name.as_bytes())
        )
    }
}

/// Checks a claim id: a volume name (it may become one).
pub fn check_claim_id(id: &str) -> Result<(), NameError> {
    check_volume_name(id)
}

fn claim_fix(id: &str) -> String {
    format!(
        "fix the record, or remove it with `brickyard csi forget {id}` (that does not touch the data)"
    )
}

impl ClaimRecord {
    /// Reads and checks the record stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = claim_fix(name_in(CLAIM_PREFIX, key).unwrap_or_default());
        let rec: Self = decode_named(CLAIM_PREFIX, key, bytes, &fix)?;
        rec.check()
            .map_err(|problem| RecordError::new(key, problem, fix))?;
        Ok(rec)
    }

    /// Checks everything that will reach a path or a command, and the numbers.
    pub fn check(&self) -> Result<(), String> {
        check_claim_id(&self.id).map_err(|e| e.to_string())?;
        check_volume_name(&self.volume).map_err(|e| e.to_string())?;
        if self.mode == ClaimMode::Volume && self.volume != self.id {
            return Err(format!(
                "a claim with a volume of its own names volume {:?}, not its own name {:?}",
                self.volume, self.id
            ));
        }
        if self.request_name.is_empty() || self.request_name.len() > MAX_REQUEST_NAME {
            return Err(format!(
                "its request name is empty or longer than {MAX_REQUEST_NAME} bytes"
            ));
        }
        if claim_id(&self.request_name) != self.id {
            return Err(format!(
                "its id {:?} is not the one its request name {:?} gives",
                self.id, self.request_name
            ));
        }
        if self.size_bytes == 0 || self.size_bytes > MAX_CLAIM_BYTES {
            return Err(format!(
                "its size {} is not between 1 byte and {MAX_CLAIM_BYTES}",
                self.size_bytes
            ));
        }
        if let Some(mode) = self.ownership.mode
            && mode > 0o7777
        {
            return Err(format!(
                "its mode {mode:o} is not a permission (at most 7777)"
            ));
        }
        if self.parameters.len() > MAX_PARAMETERS {
            return Err(format!("it has more than {MAX_PARAMETERS} parameters"));
        }
        if self
            .parameters
            .iter()
            .any(|(k, v)| k.len() > MAX_PARAMETER_LEN || v.len() > MAX_PARAMETER_LEN)
        {
            return Err(format!(
                "a parameter is longer than {MAX_PARAMETER_LEN} bytes"
            ));
        }
        Ok(())
    }

    /// The claim's directory inside its volume: `/<ID>`, or the volume's root for a claim
    /// with a volume of its own.
    pub fn path(&self) -> String {
        match self.mode {
            ClaimMode::Subdir => format!("/{}", self.id),
            ClaimMode::Volume => "/".to_owned(),
        }
    }

    /// Where an archived subdir claim's directory is kept: `/.brickyard-archive/<ID>`.
    pub fn archive_path(&self) -> String {
        format!("/{ARCHIVE_DIR}/{}", self.id)
    }
}

super::named!(ClaimRecord, "claim", id, check_claim_id);

/// Where the agents are with a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimPhase {
    /// Waiting for something (its volume to start); `reason` says what.
    Pending,
    /// Its directory exists with the quota limit [`ClaimStatus::applied_bytes`].
    Ready,
    /// Its data is kept aside.
    Archived,
    /// Its data is gone.
    Deleted,
    /// The last attempt failed; `reason` says why. Passes keep retrying.
    Failed,
}

impl fmt::Display for ClaimPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Pending => "pending",
            Self::Ready => "ready",
            Self::Archived => "archived",
            Self::Deleted => "deleted",
            Self::Failed => "failed",
        })
    }
}

/// What the pool lock's holder last did about a claim, at `gluster/csi/claim-status/<ID>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimStatus {
    /// The record schema ([`super::SCHEMA`]).
    #[serde(default = "schema_v1")]
    pub schema: u32,
    /// The claim.
    pub id: String,
    /// Where it is.
    pub phase: ClaimPhase,
    /// The quota limit set on its directory; 0 before one is.
    #[serde(default)]
    pub applied_bytes: u64,
    /// Why it failed, or what it waits for; empty when nothing is wrong.
    #[serde(default)]
    pub reason: String,
    /// The agent that wrote this.
    #[serde(default)]
    pub by: String,
    /// When (seconds since the epoch).
    pub updated_at: u64,
    /// Fields of a newer writer, kept as they are.
    #[serde(flatten)]
    pub extra: Extra,
}

impl ClaimStatus {
    /// A fresh status of claim `id`.
    pub fn new(id: &str, phase: ClaimPhase, by: &str, now: u64) -> Self {
        Self {
            schema: super::SCHEMA,
            id: id.to_owned(),
            phase,
            applied_bytes: 0,
            reason: String::new(),
            by: by.to_owned(),
            updated_at: now,
            extra: Extra::new(),
        }
    }

    /// Reads and checks the status stored at `key`.
    pub fn decode(key: &str, bytes: &[u8]) -> Result<Self, RecordError> {
        let fix = "the pool lock's holder rewrites it on its next pass once it is removed";
        let st: Self = decode_named(CLAIM_STATUS_PREFIX, key, bytes, fix)?;
        if st.reason.len() > super::volume::MAX_REASON {
            return Err(RecordError::new(
                key,
                format!(
                    "its reason is longer than {} bytes",
                    super::volume::MAX_REASON
                ),
                fix,
            ));
        }
        if st.applied_bytes > MAX_CLAIM_BYTES {
            return Err(RecordError::new(
                key,
                format!("its applied size {} is out of range", st.applied_bytes),
                fix,
            ));
        }
        if !st.by.is_empty() {
            check_hostname("writer", &st.by)
                .map_err(|e| RecordError::new(key, e.to_string(), fix))?;
        }
        Ok(st)
    }

    /// Whether the claim is provisioned as `record` asks: ready with its size applied.
    pub fn satisfies(&self, record: &ClaimRecord) -> bool {
        match record.state {
            ClaimState::Present => {
                self.phase == ClaimPhase::Ready && self.applied_bytes == record.size_bytes
            }
            ClaimState::Archived => self.phase == ClaimPhase::Archived,
            ClaimState::Deleted => self.phase == ClaimPhase::Deleted,
        }
    }
}

super::named!(ClaimStatus, "claim", id, check_claim_id);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{claim_key, claim_status_key};

    pub(crate) fn record() -> ClaimRecord {
        ClaimRecord {
            schema: 1,
            id: "pvc-1b4e".into(),
            request_name: "pvc-1b4e".into(),
            mode: ClaimMode::Subdir,
            volume: "brickyard-csi".into(),
            size_bytes: 1 << 30,
            ownership: Ownership {
                uid: Some(1000),
                gid: Some(1000),
                mode: None,
            },
            on_delete: OnDelete::Delete,
            state: ClaimState::Present,
            parameters: BTreeMap::from([("mode".into(), "subdir".into())]),
            created_at: 1,
            updated_at: 2,
            extra: Extra::new(),
        }
    }

    fn encode(r: &impl Serialize) -> Vec<u8> {
        serde_json::to_vec(r).expect("encode")
    }

    #[test]
    fn a_record_reads_back_and_derives_its_paths() {
        let r = record();
        let back = ClaimRecord::decode(&claim_key(&r.id), &encode(&r)).expect("decodes");
        assert_eq!(back, r);
        assert_eq!(r.path(), "/pvc-1b4e");
        assert_eq!(r.archive_path(), "/.brickyard-archive/pvc-1b4e");
        assert_eq!(r.ownership.mode_bits(), 0o2775);
        let own = ClaimRecord {
            mode: ClaimMode::Volume,
            volume: r.id.clone(),
            ..r.clone()
        };
        assert_eq!(own.path(), "/");
    }

    #[test]
    fn ids_are_volume_names() {
        assert_eq!(claim_id("pvc-0a1b-2c3d"), "pvc-0a1b-2c3d");
        for odd in ["my claim", "../x", "1abc", "", &"p".repeat(65)] {
            let id = claim_id(odd);
            assert!(id.starts_with("claim-"), "{odd}: {id}");
            assert!(check_claim_id(&id).is_ok(), "{id}");
        }
        assert_ne!(claim_id("a b"), claim_id("a  b"));
    }

    #[test]
    fn bad_records_are_refused_with_their_key() {
        let key = claim_key("pvc-1b4e");
        type Change = Box<dyn Fn(&mut ClaimRecord)>;
        let cases: Vec<(Change, &str)> = vec![
            (Box::new(|r| r.id = "other".into()), "differs from its key"),
            (Box::new(|r| r.volume = "../etc".into()), "volume name"),
            (Box::new(|r| r.size_bytes = 0), "size 0"),
            (Box::new(|r| r.size_bytes = u64::MAX), "is not between"),
            (
                Box::new(|r| r.ownership.mode = Some(0o17777)),
                "not a permission",
            ),
            (
                Box::new(|r| r.request_name = "pvc-other".into()),
                "not the one its request name",
            ),
            (
                Box::new(|r| {
                    r.mode = ClaimMode::Volume;
                    r.volume = "shared".into();
                }),
                "not its own name",
            ),
            (Box::new(|r| r.schema = 9), "newer brickyard"),
        ];
        for (change, needle) in cases {
            let mut r = record();
            change(&mut r);
            let e = ClaimRecord::decode(&key, &encode(&r)).expect_err(needle);
            assert_eq!(e.key, key);
            assert!(e.to_string().contains(needle), "{needle}: {e}");
        }
        let e = ClaimRecord::decode("gluster/csi/claims/..", b"{}").expect_err("bad key");
        assert!(e.problem.contains("its key names no valid claim"), "{e}");
    }

    #[test]
    fn a_status_satisfies_what_its_record_asks() {
        let r = record();
        let mut st = ClaimStatus::new(&r.id, ClaimPhase::Ready, "h1", 3);
        assert!(!st.satisfies(&r), "no size applied yet");
        st.applied_bytes = r.size_bytes;
        assert!(st.satisfies(&r));
        let back = ClaimStatus::decode(&claim_status_key(&r.id), &encode(&st)).expect("decodes");
        assert_eq!(back, st);
        let deleted = ClaimRecord {
            state: ClaimState::Deleted,
            ..r
        };
        assert!(!st.satisfies(&deleted));
    }
}
