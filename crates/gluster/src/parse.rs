//! Pure parsers of gluster's `--xml` answers, and the values they return.
//!
//! Every parser takes the bytes the CLI printed and returns either the value or a
//! [`ReplyError`]: gluster's own failure (`opRet` non-zero) or an answer not understood.
//! They never run anything, so they are tested on answers captured from real glusterd 10.3
//! (`tests/fixtures/`).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::error::{ParseError, ReplyError};
use crate::xml::{Element, Query, cli_output};

/// A peer's state in glusterd's friend state machine (`<state>` in `peer status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PeerState {
    /// 0: "Establishing Connection".
    Establishing,
    /// 1: "Probe Sent to Peer".
    ProbeSent,
    /// 2: "Probe Received from Peer".
    ProbeReceived,
    /// 3: "Peer in Cluster": the normal state.
    InCluster,
    /// 4: "Accepted peer request": half-way through joining; a glusterd restart on the
    /// joining node completes it.
    Accepted,
    /// 5: "Sent and Received peer request".
    SentAndReceived,
    /// 6: "Peer Rejected": the peer answers but its configuration (volumes, or its UUID
    /// after a reinstall) does not match the pool's.
    Rejected,
    /// 7: "Peer detach in progress".
    Detaching,
    /// 8: "Probe Received from peer".
    ProbeReceivedFromPeer,
    /// 9: "Connected to Peer".
    Connected,
    /// 10: "Peer is connected and Accepted".
    ConnectedAccepted,
    /// A state number this driver does not know.
    Other(i32),
}

impl PeerState {
    /// The state for gluster's number.
    pub fn from_code(code: i32) -> Self {
        match code {
            0 => Self::Establishing,
            1 => Self::ProbeSent,
            2 => Self::ProbeReceived,
            3 => Self::InCluster,
            4 => Self::Accepted,
            5 => Self::SentAndReceived,
            6 => Self::Rejected,
            7 => Self::Detaching,
            8 => Self::ProbeReceivedFromPeer,
            9 => Self::Connected,
            10 => Self::ConnectedAccepted,
            other => Self::Other(other),
        }
    }
}

/// One entry of `pool list` or `peer status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Peer {
    /// glusterd's UUID of the peer.
    pub uuid: String,
    /// The name the pool knows it by ("localhost" for the answering node in `pool list`).
    pub hostname: String,
    /// All names the pool knows it by.
    pub hostnames: Vec<String>,
    /// Whether the answering glusterd has a live connection to it.
    pub connected: bool,
    /// Its state; `None` for the answering node itself in `pool list`.
    pub state: Option<PeerState>,
    /// gluster's text for the state ("Peer in Cluster").
    pub state_str: Option<String>,
    /// Whether this entry is the answering node itself (only in `pool list`).
    pub local: bool,
}

impl Peer {
    /// Whether the peer is a healthy member: connected and "Peer in Cluster" (the local
    /// entry of `pool list` counts when connected).
    pub fn is_healthy(&self) -> bool {
        self.connected && (self.local || self.state == Some(PeerState::InCluster))
    }
}

fn peers(root: Element<'_>) -> Result<Vec<Peer>, ParseError> {
    let status = root.req("peerStatus")?;
    status
        .all("peer")
        .map(|p| {
            let state: Option<i32> = p.opt_num("state");
            let hostnames = match p.child("hostnames") {
                Some(h) => h.all("hostname").map(|e| e.trimmed().to_owned()).collect(),
                None => Vec::new(),
            };
            Ok(Peer {
                uuid: p.req_text("uuid")?.to_owned(),
                hostname: p.req_text("hostname")?.to_owned(),
                hostnames,
                connected: p.req_flag("connected")?,
                state: state.map(PeerState::from_code),
                state_str: p.text_of("stateStr").map(str::to_owned),
                local: p.child("state").is_none(),
            })
        })
        .collect()
}

/// Parses `gluster --xml pool list`: every member, the answering node included (as
/// "localhost", `local: true`).
pub fn parse_pool_list(xml: &[u8]) -> Result<Vec<Peer>, ReplyError> {
    cli_output(xml, peers)
}

/// Parses `gluster --xml peer status`: the other members, not the answering node.
pub fn parse_peer_status(xml: &[u8]) -> Result<Vec<Peer>, ReplyError> {
    cli_output(xml, peers)
}

/// What a successful `peer probe` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum ProbeOutcome {
    /// The host was added to the pool.
    Added,
    /// The host is the answering node itself (opErrno 1); nothing to do.
    Localhost(String),
    /// The host was already a member (opErrno 2); nothing to do.
    AlreadyInPool(String),
    /// gluster succeeded with a note this driver does not know.
    Other {
        /// opErrno.
        errno: i32,
        /// gluster's message.
        message: String,
    },
}

/// Parses `gluster --xml peer probe HOST`. Failures (an unreachable host: opRet -1, opErrno
/// 107 "Probe returned with Transport endpoint is not connected") come back as
/// [`ReplyError::Op`].
pub fn parse_peer_probe(xml: &[u8]) -> Result<ProbeOutcome, ReplyError> {
    cli_output(xml, |root| {
        let errno: i32 = root.opt_num("opErrno").unwrap_or(0);
        let message = root.text_of("output").unwrap_or_default().to_owned();
        Ok(match errno {
            0 => ProbeOutcome::Added,
            1 => ProbeOutcome::Localhost(message),
            2 => ProbeOutcome::AlreadyInPool(message),
            errno => ProbeOutcome::Other { errno, message },
        })
    })
}

/// Parses an answer that carries nothing but success (`peer detach`, `volume set`).
pub fn parse_ok(xml: &[u8]) -> Result<(), ReplyError> {
    cli_output(xml, |_| Ok(()))
}

/// Parses `gluster --xml system:: uuid get`: the answering glusterd's own UUID.
pub fn parse_uuid_get(xml: &[u8]) -> Result<String, ReplyError> {
    cli_output(xml, |root| {
        Ok(root.req("uuidGenerate")?.req_text("uuid")?.to_owned())
    })
}

/// Parses `gluster --xml volume get VOLUME|all OPTION`: the options asked for and their
/// values as gluster prints them (a value not set is followed by ` (DEFAULT)`).
pub fn parse_volume_get(xml: &[u8]) -> Result<Vec<(String, String)>, ReplyError> {
    cli_output(xml, |root| {
        root.req("volGetopts")?
            .all("Opt")
            .map(|o| {
                Ok((
                    o.req_text("Option")?.to_owned(),
                    o.text_of("Value").unwrap_or_default().to_owned(),
                ))
            })
            .collect()
    })
}

/// Reads an on/off value as gluster prints it (`on`, `enable`, `yes`, `true`, `1`, or their
/// opposites, maybe followed by ` (DEFAULT)`); `None` for anything else.
pub fn parse_switch(value: &str) -> Option<bool> {
    let v = value.trim();
    let v = v.strip_suffix("(DEFAULT)").unwrap_or(v).trim();
    match v.to_ascii_lowercase().as_str() {
        "on" | "enable" | "yes" | "true" | "1" => Some(true),
        "off" | "disable" | "no" | "false" | "0" => Some(false),
        _ => None,
    }
}

/// Parses `gluster --xml volume list`.
pub fn parse_volume_list(xml: &[u8]) -> Result<Vec<String>, ReplyError> {
    cli_output(xml, |root| {
        Ok(root
            .req("volList")?
            .all("volume")
            .map(|v| v.trimmed().to_owned())
            .collect())
    })
}

/// A volume's lifecycle state (`<status>` in `volume info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum VolumeState {
    /// 0: created, never started.
    Created,
    /// 1: started.
    Started,
    /// 2: stopped.
    Stopped,
    /// A state number this driver does not know.
    Other(i32),
}

/// A brick as `volume info` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Brick {
    /// "HOST:PATH", as gluster names it.
    pub name: String,
    /// The host part of the name.
    pub host: String,
    /// The path part of the name.
    pub path: String,
    /// UUID of the peer holding it.
    pub host_uuid: String,
    /// Whether it is an arbiter brick.
    pub is_arbiter: bool,
}

/// Splits "HOST:PATH" at the first ':' followed by '/' (so an IPv6 host stays whole).
fn split_brick(name: &str) -> (String, String) {
    match name.find(":/") {
        Some(i) => (name[..i].to_owned(), name[i + 1..].to_owned()),
        None => (name.to_owned(), String::new()),
    }
}

/// One volume of `volume info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeInfo {
    /// Name.
    pub name: String,
    /// gluster's volume UUID.
    pub id: String,
    /// Lifecycle state.
    pub state: VolumeState,
    /// gluster's type text: "Distribute", "Replicate", "Disperse", "Distributed-Replicate"...
    pub type_str: String,
    /// Number of bricks.
    pub brick_count: u32,
    /// Number of distribute subvolumes.
    pub dist_count: u32,
    /// Replica count (1 when not replicated).
    pub replica_count: u32,
    /// Arbiter count.
    pub arbiter_count: u32,
    /// Disperse count (0 when not dispersed).
    pub disperse_count: u32,
    /// Redundancy count of a disperse volume.
    pub redundancy_count: u32,
    /// Bricks in order.
    pub bricks: Vec<Brick>,
    /// Reconfigured options.
    pub options: BTreeMap<String, String>,
}

fn num_or_zero(e: Element<'_>, name: &str) -> u32 {
    e.opt_num(name).unwrap_or(0)
}

fn volume_info(v: Element<'_>) -> Result<VolumeInfo, ParseError> {
    let bricks = match v.child("bricks") {
        Some(b) => b
            .all("brick")
            .map(|b| {
                // The brick's name is both its text and a <name> child; prefer the child.
                let name = b.text_of("name").unwrap_or(b.trimmed()).to_owned();
                let (host, path) = split_brick(&name);
                Brick {
                    host_uuid: b
                        .text_of("hostUuid")
                        .or(b.attr("uuid"))
                        .unwrap_or_default()
                        .to_owned(),
                    is_arbiter: b.text_of("isArbiter") == Some("1"),
                    name,
                    host,
                    path,
                }
            })
            .collect(),
        None => Vec::new(),
    };
    let options = match v.child("options") {
        Some(o) => o
            .all("option")
            .filter_map(|o| {
                Some((
                    o.text_of("name")?.to_owned(),
                    o.text_of("value").unwrap_or_default().to_owned(),
                ))
            })
            .collect(),
        None => BTreeMap::new(),
    };
    let state: i32 = v.req_num("status")?;
    Ok(VolumeInfo {
        name: v.req_text("name")?.to_owned(),
        id: v.req_text("id")?.to_owned(),
        state: match state {
            0 => VolumeState::Created,
            1 => VolumeState::Started,
            2 => VolumeState::Stopped,
            other => VolumeState::Other(other),
        },
        type_str: v.text_of("typeStr").unwrap_or_default().to_owned(),
        brick_count: num_or_zero(v, "brickCount"),
        dist_count: num_or_zero(v, "distCount"),
        replica_count: num_or_zero(v, "replicaCount"),
        arbiter_count: num_or_zero(v, "arbiterCount"),
        disperse_count: num_or_zero(v, "disperseCount"),
        redundancy_count: num_or_zero(v, "redundancyCount"),
        bricks,
        options,
    })
}

/// Parses `gluster --xml volume info [VOL]`. A missing volume comes back as
/// [`ReplyError::Op`] (opErrno 30806 "Volume does not exist").
pub fn parse_volume_info(xml: &[u8]) -> Result<Vec<VolumeInfo>, ReplyError> {
    cli_output(xml, |root| {
        root.req("volInfo")?
            .req("volumes")?
            .all("volume")
            .map(volume_info)
            .collect()
    })
}

/// A brick process in `volume status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrickStatus {
    /// The brick's host as the volume names it.
    pub host: String,
    /// The brick's path.
    pub path: String,
    /// UUID of the peer holding it.
    pub peer_id: String,
    /// Whether the brick process is running and registered.
    pub online: bool,
    /// Its TCP port when online.
    pub port: Option<u16>,
    /// Its pid when online.
    pub pid: Option<u32>,
}

/// A volume's helper daemon in `volume status` (self-heal, quota...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DaemonStatus {
    /// gluster's name for it ("Self-heal Daemon", "Quota Daemon").
    pub name: String,
    /// The node running it ("localhost" for the answering node).
    pub host: String,
    /// UUID of that node.
    pub peer_id: String,
    /// Whether it runs.
    pub online: bool,
    /// Its pid when online.
    pub pid: Option<u32>,
}

/// One volume of `volume status`.
///
/// Bricks on a node whose glusterd is down are absent (not listed as offline): compare
/// with [`VolumeInfo::bricks`] to find them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeStatus {
    /// Volume name.
    pub name: String,
    /// Bricks reported.
    pub bricks: Vec<BrickStatus>,
    /// Helper daemons reported.
    pub daemons: Vec<DaemonStatus>,
    /// The volume's tasks (a rebalance, a remove-brick), as gluster lists them.
    pub tasks: Vec<VolumeTask>,
}

/// A task of a volume in `volume status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeTask {
    /// "Rebalance", "Remove brick".
    pub kind: String,
    /// "in progress", "completed", "failed", "stopped", ...
    pub status: String,
}

/// A rebalance's progress, summed over the nodes (`volume rebalance VOL status`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RebalanceStatus {
    /// "in progress", "completed", "failed", "stopped", "not started".
    pub status: String,
    /// Files moved.
    pub files: u64,
    /// Bytes moved.
    pub bytes: u64,
    /// Files looked at.
    pub lookups: u64,
    /// Files that could not be moved.
    pub failures: u64,
    /// Files skipped (e.g. no room on the new brick).
    pub skipped: u64,
    /// Seconds it has run.
    pub runtime_secs: f64,
}

/// Parses `gluster --xml volume rebalance VOL status`.
pub fn parse_rebalance_status(xml: &[u8]) -> Result<RebalanceStatus, ReplyError> {
    parse_migration(xml, "volRebalance")
}

/// Parses `gluster --xml volume remove-brick VOL BRICK... status`: the same counts as a
/// rebalance's, for the files moving off the bricks. One that was never started is
/// gluster's failure ("remove-brick not started for volume VOL.").
pub fn parse_remove_brick_status(xml: &[u8]) -> Result<RebalanceStatus, ReplyError> {
    parse_migration(xml, "volRemoveBrick")
}

fn parse_migration(xml: &[u8], element: &str) -> Result<RebalanceStatus, ReplyError> {
    cli_output(xml, |root| {
        let a = root.req(element)?.req("aggregate")?;
        Ok(RebalanceStatus {
            status: a.req_text("statusStr")?.to_owned(),
            files: a.req_num("files")?,
            bytes: a.req_num("size")?,
            lookups: a.req_num("lookups")?,
            failures: a.req_num("failures")?,
            skipped: a.req_num("skipped")?,
            runtime_secs: a
                .opt_num::<f64>("runtime")
                .filter(|r| r.is_finite() && *r >= 0.0)
                .unwrap_or(0.0),
        })
    })
}

impl VolumeStatus {
    /// Number of bricks reported online.
    pub fn bricks_online(&self) -> usize {
        self.bricks.iter().filter(|b| b.online).count()
    }
}

fn volume_status(v: Element<'_>) -> Result<VolumeStatus, ParseError> {
    let mut bricks = Vec::new();
    let mut daemons = Vec::new();
    for node in v.all("node") {
        let hostname = node.req_text("hostname")?.to_owned();
        let path = node.req_text("path")?.to_owned();
        let peer_id = node.text_of("peerid").unwrap_or_default().to_owned();
        let online = node.req_flag("status")?;
        // gluster writes pid -1 and port "N/A" for a process that is not running.
        let pid = node
            .opt_num::<i64>("pid")
            .and_then(|p| u32::try_from(p).ok());
        // A brick's path is absolute; a daemon's "path" holds the node's name instead.
        if path.starts_with('/') {
            bricks.push(BrickStatus {
                host: hostname,
                path,
                peer_id,
                online,
                port: node.opt_num("port"),
                pid,
            });
        } else {
            daemons.push(DaemonStatus {
                name: hostname,
                host: path,
                peer_id,
                online,
                pid,
            });
        }
    }
    let tasks = v
        .child("tasks")
        .map(|t| {
            t.all("task")
                .map(|task| {
                    Ok(VolumeTask {
                        kind: task.req_text("type")?.to_owned(),
                        status: task.req_text("statusStr")?.to_owned(),
                    })
                })
                .collect::<Result<Vec<_>, ParseError>>()
        })
        .transpose()?
        .unwrap_or_default();
    Ok(VolumeStatus {
        name: v.req_text("volName")?.to_owned(),
        bricks,
        daemons,
        tasks,
    })
}

/// Parses `gluster --xml volume status [VOL]`.
pub fn parse_volume_status(xml: &[u8]) -> Result<Vec<VolumeStatus>, ReplyError> {
    cli_output(xml, |root| {
        root.req("volStatus")?
            .req("volumes")?
            .all("volume")
            .map(volume_status)
            .collect()
    })
}

/// An entry needing heal, as `volume heal VOL info` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealEntry {
    /// The file's gfid.
    pub gfid: String,
    /// Its path in the volume (or `<gfid:...>` when unknown).
    pub path: String,
}

/// One brick of `volume heal VOL info`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealBrick {
    /// "HOST:PATH".
    pub name: String,
    /// UUID of the node holding it; `None` when gluster could not reach it ("-").
    pub host_uuid: Option<String>,
    /// gluster's status text: "Connected", or why it is not ("Transport endpoint is not
    /// connected").
    pub status: String,
    /// Number of entries pending heal; `None` when the brick could not be asked ("-").
    pub pending: Option<u64>,
    /// The entries listed.
    pub entries: Vec<HealEntry>,
}

impl HealBrick {
    /// Whether heal info could reach the brick.
    pub fn connected(&self) -> bool {
        self.status == "Connected"
    }
}

/// Parses `gluster --xml volume heal VOL info`. A missing volume comes back as
/// [`ReplyError::Op`] (the CLI also exits 254 then).
pub fn parse_heal_info(xml: &[u8]) -> Result<Vec<HealBrick>, ReplyError> {
    cli_output(xml, |root| {
        root.req("healInfo")?
            .req("bricks")?
            .all("brick")
            .map(|b| {
                Ok(HealBrick {
                    name: b.req_text("name")?.to_owned(),
                    host_uuid: b.attr("hostUuid").filter(|u| *u != "-").map(str::to_owned),
                    status: b.text_of("status").unwrap_or_default().to_owned(),
                    pending: b.opt_num("numberOfEntries"),
                    entries: b
                        .all("file")
                        .map(|f| HealEntry {
                            gfid: f.attr("gfid").unwrap_or_default().to_owned(),
                            path: f.trimmed().to_owned(),
                        })
                        .collect(),
                })
            })
            .collect()
    })
}

/// A volume lifecycle operation whose answer names the volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VolumeOp {
    /// `volume create`.
    Create,
    /// `volume start`.
    Start,
    /// `volume stop`.
    Stop,
    /// `volume delete`.
    Delete,
}

impl VolumeOp {
    fn element(self) -> &'static str {
        match self {
            Self::Create => "volCreate",
            Self::Start => "volStart",
            Self::Stop => "volStop",
            Self::Delete => "volDelete",
        }
    }
}

/// The volume a lifecycle operation acted on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VolumeRef {
    /// Name.
    pub name: String,
    /// gluster's volume UUID.
    pub id: String,
}

/// Parses the answer of `volume create|start|stop|delete`. Failures ("Volume X already
/// exists", "... already started", "... is not in the started state", a brick on the root
/// partition without `force`) come back as [`ReplyError::Op`].
pub fn parse_volume_op(xml: &[u8], op: VolumeOp) -> Result<VolumeRef, ReplyError> {
    cli_output(xml, |root| {
        let volume = root.req(op.element())?.req("volume")?;
        Ok(VolumeRef {
            name: volume.req_text("name")?.to_owned(),
            id: volume.req_text("id")?.to_owned(),
        })
    })
}

/// One directory's quota, as `volume quota VOL list` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QuotaLimit {
    /// The directory, from the volume's root (`/` is the root itself).
    pub path: String,
    /// Its limit in bytes; `None` when it has none (gluster writes "N/A").
    pub hard_limit: Option<u64>,
    /// Bytes used under it, as gluster's accounting last saw them (it lags writes by
    /// seconds); `None` when not known.
    pub used: Option<u64>,
}

/// Parses `gluster --xml volume quota VOL list [PATH...]`. A path that does not exist is
/// left out of the answer (gluster reports it on stderr only); a volume without any limit
/// comes back as [`ReplyError::Op`] ("No quota configured on volume").
pub fn parse_quota_list(xml: &[u8]) -> Result<Vec<QuotaLimit>, ReplyError> {
    cli_output(xml, |root| {
        Ok(root
            .req("volQuota")?
            .all("limit")
            .map(|l| QuotaLimit {
                path: l.text_of("path").unwrap_or_default().to_owned(),
                hard_limit: l.opt_num("hard_limit"),
                used: l.opt_num("used_space"),
            })
            .filter(|l| l.path.starts_with('/'))
            .collect())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::OpFailure;

    macro_rules! fixture {
        ($name:literal) => {
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/tests/fixtures/",
                $name
            ))
        };
    }

    const H1: &str = "b6083e32-cc42-4a9a-8f60-3093ad1cdf50";
    const H3: &str = "6c6c6f8f-ae28-45f8-ad93-4569b17261c9";

    fn op_err(result: Result<impl std::fmt::Debug, ReplyError>) -> OpFailure {
        match result {
            Err(ReplyError::Op(f)) => f,
            other => panic!("expected a gluster failure, got {other:?}"),
        }
    }

    #[test]
    fn volume_status_lists_a_rebalance_task() {
        let st = parse_volume_status(fixture!("volume_status_rebalanced.xml")).expect("parses");
        assert_eq!(
            st[0].tasks,
            vec![VolumeTask {
                kind: "Rebalance".into(),
                status: "completed".into()
            }]
        );
    }

    #[test]
    fn rebalance_status_sums_the_nodes() {
        let done = parse_rebalance_status(fixture!("volume_rebalance_status_completed.xml"))
            .expect("parses");
        assert_eq!(done.status, "completed");
        assert_eq!((done.files, done.bytes, done.lookups), (142, 515, 300));
        assert_eq!((done.failures, done.skipped), (0, 0));
        assert!((done.runtime_secs - 4.0).abs() < 1e-9);
        let running = parse_rebalance_status(fixture!("volume_rebalance_status_in_progress.xml"))
            .expect("parses");
        assert_eq!(running.status, "in progress");
        assert_eq!(running.files, 16);
    }

    #[test]
    fn remove_brick_status_counts_the_files_moved_off() {
        let running =
            parse_remove_brick_status(fixture!("volume_remove_brick_status_in_progress.xml"))
                .expect("parses");
        assert_eq!(running.status, "in progress");
        assert_eq!((running.files, running.bytes), (16, 320000));
        let done = parse_remove_brick_status(fixture!("volume_remove_brick_status_completed.xml"))
            .expect("parses");
        assert_eq!(done.status, "completed");
        assert_eq!((done.files, done.failures, done.skipped), (110, 0, 0));
        let never =
            parse_remove_brick_status(fixture!("volume_remove_brick_status_not_started.xml"))
                .expect_err("not started");
        assert!(
            matches!(&never, ReplyError::Op(f) if f.op_errstr.contains("remove-brick not started")),
            "{never:?}"
        );
    }

    #[test]
    fn pool_list_includes_the_local_node() {
        let pool = parse_pool_list(fixture!("pool_list.xml")).expect("parses");
        assert_eq!(pool.len(), 3);
        assert!(pool.iter().all(Peer::is_healthy));
        let local: Vec<_> = pool.iter().filter(|p| p.local).collect();
        assert_eq!(local.len(), 1);
        assert_eq!(local[0].uuid, H1);
        assert_eq!(local[0].hostname, "localhost");
        assert_eq!(local[0].state, None);
        assert_eq!(pool[0].hostnames, ["10.251.0.2"]);
    }

    #[test]
    fn peer_status_lists_the_others() {
        let peers = parse_peer_status(fixture!("peer_status.xml")).expect("parses");
        assert_eq!(
            peers
                .iter()
                .map(|p| p.hostname.as_str())
                .collect::<Vec<_>>(),
            ["10.251.0.2", "10.251.0.3"]
        );
        assert!(peers.iter().all(|p| !p.local && p.is_healthy()));
        assert_eq!(peers[1].state_str.as_deref(), Some("Peer in Cluster"));
    }

    #[test]
    fn a_down_peer_stays_in_cluster_but_disconnected() {
        let peers = parse_peer_status(fixture!("peer_status_down.xml")).expect("parses");
        let h3 = peers.iter().find(|p| p.uuid == H3).expect("h3 listed");
        assert!(!h3.connected);
        assert_eq!(h3.state, Some(PeerState::InCluster));
        assert!(!h3.is_healthy());
    }

    #[test]
    fn a_reinstalled_peer_is_rejected_under_its_old_uuid() {
        let peers =
            parse_peer_status(fixture!("peer_status_reinstalled_from_pool.xml")).expect("parses");
        let h3 = peers
            .iter()
            .find(|p| p.hostname == "10.251.0.3")
            .expect("h3 listed");
        assert_eq!(h3.uuid, H3, "the pool keeps the old UUID");
        assert!(h3.connected);
        assert_eq!(h3.state, Some(PeerState::Rejected));
        let own = parse_pool_list(fixture!("pool_list_reinstalled_self.xml")).expect("parses");
        assert_eq!(own.len(), 1, "the reinstalled node knows no peers");
        assert_ne!(own[0].uuid, H3, "and has a new UUID");
    }

    #[test]
    fn probe_outcomes() {
        let cases: [(&[u8], ProbeOutcome); 3] = [
            (fixture!("peer_probe_ok.xml"), ProbeOutcome::Added),
            (
                fixture!("peer_probe_already.xml"),
                ProbeOutcome::AlreadyInPool(
                    "Host 10.251.0.2 port 24007 already in peer list".into(),
                ),
            ),
            (
                fixture!("peer_probe_from_reinstalled.xml"),
                ProbeOutcome::Added,
            ),
        ];
        for (xml, want) in cases {
            assert_eq!(parse_peer_probe(xml).expect("parses"), want);
        }
        let f = op_err(parse_peer_probe(fixture!("peer_probe_unreachable.xml")));
        assert_eq!((f.op_ret, f.op_errno), (-1, 107));
        assert!(f.op_errstr.contains("not connected"), "{f}");
    }

    #[test]
    fn detach_of_a_brick_holder_is_refused() {
        let f = op_err(parse_ok(fixture!("peer_detach_has_bricks.xml")));
        assert_eq!((f.op_ret, f.op_errno), (1, 3));
        assert!(f.op_errstr.contains("hosts one or more bricks"), "{f}");
    }

    #[test]
    fn own_uuid() {
        assert_eq!(
            parse_uuid_get(fixture!("system_uuid_get.xml")).expect("parses"),
            H1
        );
    }

    #[test]
    fn volume_list() {
        assert_eq!(
            parse_volume_list(fixture!("volume_list.xml")).expect("parses"),
            ["byt1"]
        );
        assert!(
            parse_volume_list(fixture!("volume_list_empty.xml"))
                .expect("parses")
                .is_empty()
        );
    }

    #[test]
    fn volume_info_of_a_replica_3_volume() {
        let vols = parse_volume_info(fixture!("volume_info_one.xml")).expect("parses");
        assert_eq!(vols.len(), 1);
        let v = &vols[0];
        assert_eq!(v.name, "byt1");
        assert_eq!(v.id, "60f28f5e-2358-4f47-ac67-581c61de6d0b");
        assert_eq!(v.state, VolumeState::Started);
        assert_eq!(v.type_str, "Replicate");
        assert_eq!((v.brick_count, v.replica_count, v.dist_count), (3, 3, 1));
        assert_eq!(v.bricks.len(), 3);
        assert_eq!(v.bricks[0].host, "10.251.0.1");
        assert_eq!(
            v.bricks[0].path,
            "/tmp/byt-gl-scratch/byt-gl-x11063/h1/bricks/byt1"
        );
        assert_eq!(v.bricks[0].host_uuid, H1);
        assert!(!v.bricks[0].is_arbiter);
        assert_eq!(
            v.options
                .get("performance.readdir-ahead")
                .map(String::as_str),
            Some("off")
        );
        let all = parse_volume_info(fixture!("volume_info_all.xml")).expect("parses");
        assert_eq!(all.len(), 1);
        assert!(
            parse_volume_info(fixture!("volume_info_none.xml"))
                .expect("parses")
                .is_empty()
        );
        let f = op_err(parse_volume_info(fixture!("volume_info_missing.xml")));
        assert_eq!(
            (f.op_errno, f.op_errstr.as_str()),
            (30806, "Volume does not exist")
        );
    }

    #[test]
    fn volume_status_bricks_and_daemons() {
        let st = parse_volume_status(fixture!("volume_status_one.xml")).expect("parses");
        let v = &st[0];
        assert_eq!(v.name, "byt1");
        assert_eq!(v.bricks.len(), 3);
        assert_eq!(v.bricks_online(), 3);
        assert_eq!(v.bricks[0].port, Some(54796));
        assert_eq!(v.bricks[0].pid, Some(13238));
        assert_eq!(v.daemons.len(), 3);
        assert!(
            v.daemons
                .iter()
                .all(|d| d.name == "Self-heal Daemon" && d.online)
        );
        assert_eq!(v.daemons[0].host, "localhost");
    }

    #[test]
    fn volume_status_with_a_brick_down_or_its_node_down() {
        let st = parse_volume_status(fixture!("volume_status_brick_down.xml")).expect("parses");
        let down: Vec<_> = st[0].bricks.iter().filter(|b| !b.online).collect();
        assert_eq!(down.len(), 1);
        assert_eq!((down[0].port, down[0].pid), (None, None));
        // With h3's glusterd down its brick is not listed at all.
        let st = parse_volume_status(fixture!("volume_status_peer_down.xml")).expect("parses");
        assert_eq!(st[0].bricks.len(), 2);
        assert_eq!(st[0].bricks_online(), 2);
        let f = op_err(parse_volume_status(fixture!("volume_status_missing.xml")));
        assert_eq!(f.op_errstr, "Volume nosuch does not exist");
    }

    #[test]
    fn heal_info_counts_pending_entries() {
        let clean = parse_heal_info(fixture!("volume_heal_info.xml")).expect("parses");
        assert_eq!(clean.len(), 3);
        assert!(clean.iter().all(|b| b.connected() && b.pending == Some(0)));
        assert_eq!(clean[2].host_uuid.as_deref(), Some(H3));

        let pending = parse_heal_info(fixture!("volume_heal_info_pending.xml")).expect("parses");
        assert_eq!(pending[0].pending, Some(6));
        assert_eq!(pending[0].entries.len(), 6);
        assert_eq!(pending[0].entries[0].path, "/d");
        assert_eq!(
            pending[0].entries[0].gfid,
            "a1551eaf-1639-4f4e-9fb4-18d8c2edc3a0"
        );
        assert!(!pending[2].connected());
        assert_eq!(
            (pending[2].pending, pending[2].host_uuid.as_deref()),
            (None, None)
        );

        let down = parse_heal_info(fixture!("volume_heal_info_peer_down.xml")).expect("parses");
        assert_eq!(down[2].status, "Transport endpoint is not connected");

        let f = op_err(parse_heal_info(fixture!("volume_heal_info_missing.xml")));
        assert_eq!(f.op_errstr, "Volume nosuch does not exist");
    }

    #[test]
    fn volume_lifecycle_answers() {
        let cases: [(&[u8], VolumeOp, &str); 4] = [
            (fixture!("volume_create_ok.xml"), VolumeOp::Create, "byt1"),
            (fixture!("volume_start_ok.xml"), VolumeOp::Start, "byt1"),
            (fixture!("volume_stop_ok.xml"), VolumeOp::Stop, "byt1"),
            (fixture!("volume_delete_ok.xml"), VolumeOp::Delete, "byt2"),
        ];
        for (xml, op, name) in cases {
            assert_eq!(parse_volume_op(xml, op).expect("parses").name, name);
        }
        let errors: [(&[u8], VolumeOp, &str); 5] = [
            (
                fixture!("volume_create_exists.xml"),
                VolumeOp::Create,
                "Volume byt1 already exists",
            ),
            (
                fixture!("volume_create_rootfs.xml"),
                VolumeOp::Create,
                "root partition",
            ),
            (
                fixture!("volume_start_already.xml"),
                VolumeOp::Start,
                "already started",
            ),
            (
                fixture!("volume_stop_already.xml"),
                VolumeOp::Stop,
                "not in the started state",
            ),
            (
                fixture!("volume_delete_started.xml"),
                VolumeOp::Delete,
                "needs to be stopped",
            ),
        ];
        for (xml, op, text) in errors {
            let f = op_err(parse_volume_op(xml, op));
            assert_eq!(f.op_ret, -1);
            assert!(f.op_errstr.contains(text), "{f}");
            assert!(!f.is_busy(), "{f}");
        }
    }

    #[test]
    fn a_cluster_option_and_its_switch_value() {
        let opts =
            parse_volume_get(fixture!("volume_get_all_brick_multiplex.xml")).expect("parses");
        assert_eq!(
            opts,
            vec![(
                "cluster.brick-multiplex".to_owned(),
                "disable (DEFAULT)".to_owned()
            )]
        );
        assert_eq!(parse_switch(&opts[0].1), Some(false));
        for (v, want) in [
            ("on", Some(true)),
            ("enable", Some(true)),
            ("off", Some(false)),
            ("maybe", None),
        ] {
            assert_eq!(parse_switch(v), want, "{v}");
        }
        let f = op_err(parse_volume_get(
            br#"<?xml version="1.0"?><cliOutput><opRet>-1</opRet><opErrno>0</opErrno><opErrstr>Did you mean cluster.lock-migration?</opErrstr></cliOutput>"#,
        ));
        assert!(f.op_errstr.starts_with("Did you mean"), "{f}");
    }

    #[test]
    fn a_lock_held_by_another_transaction_is_busy_not_failed() {
        // Captured from a lab whose create's originating glusterd was killed mid-create:
        // the other peers kept its lock on the new volume's name.
        let f = op_err(parse_volume_op(
            fixture!("volume_create_busy.xml"),
            VolumeOp::Create,
        ));
        assert_eq!(f.op_errno, crate::error::EG_ANOTRANS);
        assert!(f.is_busy(), "{f}");
    }

    #[test]
    fn a_wrong_answer_is_a_parse_error_not_a_panic() {
        let err = parse_volume_op(fixture!("volume_start_ok.xml"), VolumeOp::Create)
            .expect_err("start answer is not a create answer");
        assert_eq!(
            err,
            ReplyError::Parse(ParseError::Missing("cliOutput/volCreate".into()))
        );
        assert!(
            parse_pool_list(b"Connection failed. Please check if gluster daemon is operational.\n")
                .is_err()
        );
    }

    #[test]
    fn brick_names_split_at_the_path() {
        assert_eq!(
            split_brick("10.0.0.1:/b/v"),
            ("10.0.0.1".to_owned(), "/b/v".to_owned())
        );
        assert_eq!(
            split_brick("fd00::1:/b/v"),
            ("fd00::1".to_owned(), "/b/v".to_owned())
        );
    }

    #[test]
    fn quota_lists() {
        let one = parse_quota_list(fixture!("volume_quota_list_one.xml")).expect("parses");
        assert_eq!(
            one,
            [QuotaLimit {
                path: "/c2".into(),
                hard_limit: Some(1 << 30),
                used: Some(0),
            }]
        );
        let root = parse_quota_list(fixture!("volume_quota_list_root.xml")).expect("parses");
        assert_eq!(root[0].path, "/");
        assert_eq!(root[0].hard_limit, Some(524_288_000));
        // After `quota remove`: the directory is listed, with no limit.
        let removed = parse_quota_list(fixture!("volume_quota_list_no_limit.xml")).expect("parses");
        assert_eq!(removed[0].hard_limit, None, "N/A is no limit");
        assert_eq!(removed[0].used, Some(167_772_160));
        assert!(
            parse_quota_list(fixture!("volume_quota_list_missing.xml"))
                .expect("parses")
                .is_empty()
        );
        let none = op_err(parse_quota_list(fixture!("volume_quota_list_none.xml")));
        assert!(none.op_errstr.contains("No quota configured"), "{none:?}");
    }

    #[test]
    fn quota_changes() {
        for ok in [
            &fixture!("volume_quota_enable_ok.xml")[..],
            fixture!("volume_quota_limit_ok.xml"),
            fixture!("volume_quota_remove_ok.xml"),
        ] {
            assert_eq!(parse_ok(ok), Ok(()));
        }
        for (bad, needle) in [
            (
                &fixture!("volume_quota_enable_already.xml")[..],
                "already enabled",
            ),
            (
                fixture!("volume_quota_enable_no_volume.xml"),
                "does not exist",
            ),
            (fixture!("volume_quota_limit_missing.xml"), "No such file"),
            (
                fixture!("volume_quota_limit_disabled.xml"),
                "Quota is disabled",
            ),
            (
                fixture!("volume_quota_remove_absent.xml"),
                "No data available",
            ),
        ] {
            let f = op_err(parse_ok(bad));
            assert!(f.op_errstr.contains(needle), "{needle}: {f:?}");
        }
    }
}
