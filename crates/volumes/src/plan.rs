//! The reconcile planner: desired records and what gluster reports in, ordered actions out.
//! Pure: the reconciler ([`crate::reconcile`]) carries the actions out.
//!
//! Per volume, from the record's desired state, the agents' status and gluster's volume:
//!
//! | desired | gluster volume | actions |
//! | --- | --- | --- |
//! | started/stopped | absent | mark creating, create, mark it brickyard's, set the profile's options, start (if started), settle |
//! | started/stopped | present, created by brickyard | add the bricks of new sets and rebalance, or replace the bricks the record moved (replicated and dispersed layouts), set missing options, start/stop, settle |
//! | started/stopped | present, never created by brickyard | refuse (failed): the name belongs to a volume made by hand |
//! | deleted | present, created by brickyard | stop (force), delete, then wait for the hosts' brick clean-up |
//! | deleted | absent | wait until every brick host acknowledged its clean-up, then forget the record |
//! | deleted | never created by brickyard | forget the record; the hand-made volume and its bricks stay |
//!
//! "Created by brickyard" means: gluster's volume carries brickyard's marker option with this
//! record's identity ([`MARKER_OPTION`]), or, for a volume created before its marker was set,
//! the agents recorded that they issued the create. A volume whose status cannot be read is
//! not planned at all until it can be. Gluster volumes no record asks for are reported as
//! unmanaged and never touched.

use std::collections::{BTreeMap, BTreeSet};

use brickyard_gluster::{VolumeCreate, VolumeInfo, VolumeState};

use crate::profile;
use crate::record::{DesiredState, LayoutKind, MARKER_OPTION, Phase, VolumeRecord, VolumeStatus};

/// One step of a plan. Every step names its volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Record phase `creating` (and that a create was attempted) before `volume create`.
    MarkCreating {
        /// The volume.
        name: String,
    },
    /// `gluster volume create`.
    Create {
        /// What to create.
        spec: VolumeCreate,
    },
    /// `gluster volume set NAME KEY VALUE [KEY VALUE ...]`: one cluster transaction for all
    /// of them (each costs glusterd 0.1-0.3 s, whatever it sets).
    SetOptions {
        /// The volume.
        name: String,
        /// The options and their values, in order.
        options: Vec<(String, String)>,
    },
    /// `gluster volume start NAME`.
    Start {
        /// The volume.
        name: String,
    },
    /// `gluster volume stop NAME [force]`.
    Stop {
        /// The volume.
        name: String,
        /// Whether to force (when deleting).
        force: bool,
    },
    /// `gluster volume delete NAME`.
    Delete {
        /// The volume.
        name: String,
    },
    /// Record phase `expanding` with a rebalance pending, before `add-brick`.
    MarkExpanding {
        /// The volume.
        name: String,
    },
    /// `gluster volume add-brick NAME [replica N [arbiter 1]] BRICK...`.
    AddBricks {
        /// The volume.
        name: String,
        /// The new bricks as `IP:PATH`, one or more whole sets.
        bricks: Vec<String>,
        /// The replica count to repeat (gluster wants it for arbiter volumes).
        replica: Option<u32>,
        /// The arbiter count to repeat.
        arbiter: Option<u32>,
    },
    /// Record phase `replacing`, before `replace-brick`.
    MarkReplacing {
        /// The volume.
        name: String,
    },
    /// `gluster volume replace-brick NAME FROM TO commit force`, once FROM holds no entry
    /// that the rest of its set still needs (it is not the only good copy of anything),
    /// then an index heal so the new brick fills from the rest of its set.
    ReplaceBrick {
        /// The volume.
        name: String,
        /// The brick leaving, `IP:PATH`.
        from: String,
        /// The brick taking its place, `IP:PATH`.
        to: String,
    },
    /// Move the files of brick FROM of a plain distribute volume onto its other bricks
    /// (the brick taking its place was added before): `remove-brick NAME FROM start`, wait
    /// while it runs, then `commit` once every file moved; nothing is committed while a
    /// file could not move.
    MigrateOff {
        /// The volume.
        name: String,
        /// The brick leaving, `IP:PATH`.
        from: String,
    },
    /// `gluster volume rebalance NAME start`.
    Rebalance {
        /// The volume.
        name: String,
    },
    /// Write the volume's status (when it differs from what is recorded).
    Settle {
        /// The volume.
        name: String,
        /// The phase.
        phase: Phase,
        /// The reason (why it waits or failed); empty when all is well.
        reason: String,
        /// The bricks gluster's volume has after the actions before.
        bricks: usize,
    },
    /// Remove the record, its status and its clean-up acknowledgements: the volume is gone
    /// from gluster and from every host.
    Forget {
        /// The volume.
        name: String,
    },
}

/// The plan of one pass.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Actions per volume, in order; a failed action skips the rest of its volume's list.
    pub volumes: Vec<(String, Vec<Action>)>,
    /// Gluster volumes no record asks for, sorted.
    pub unmanaged: Vec<String>,
}

/// What one pass knows.
#[derive(Debug, Clone)]
pub struct Inputs<'a> {
    /// Every desired record.
    pub records: &'a [VolumeRecord],
    /// The agents' status of each volume, by name.
    pub status: &'a BTreeMap<String, VolumeStatus>,
    /// Volumes whose stored status cannot be used: not planned until it can be.
    pub unreadable: &'a BTreeSet<String>,
    /// gluster's `volume info` of every volume.
    pub gluster: &'a [VolumeInfo],
    /// Hosts that acknowledged removing their brick directories, by volume.
    pub cleaned: &'a BTreeMap<String, BTreeSet<String>>,
}

/// Plans one pass.
pub fn plan(input: &Inputs<'_>) -> Plan {
    let gluster: BTreeMap<&str, &VolumeInfo> =
        input.gluster.iter().map(|v| (v.name.as_str(), v)).collect();
    let wanted: BTreeSet<&str> = input.records.iter().map(|r| r.name.as_str()).collect();
    let mut out = Plan {
        unmanaged: gluster
            .keys()
            .filter(|n| !wanted.contains(*n))
            .map(|n| (*n).to_owned())
            .collect(),
        ..Plan::default()
    };
    for rec in input.records {
        if input.unreadable.contains(&rec.name) {
            continue;
        }
        let status = input.status.get(&rec.name);
        let vol = gluster.get(rec.name.as_str()).copied();
        let ours = is_ours(rec, status, vol);
        let empty = BTreeSet::new();
        let cleaned = input.cleaned.get(&rec.name).unwrap_or(&empty);
        let actions = plan_one(rec, status, ours, vol, cleaned);
        if !actions.is_empty() {
            out.volumes.push((rec.name.clone(), actions));
        }
    }
    out
}

/// Whether gluster's volume (or the one about to be created) belongs to `rec`: by its marker
/// when it has one, else by the agents' record of having issued the create.
fn is_ours(rec: &VolumeRecord, status: Option<&VolumeStatus>, vol: Option<&VolumeInfo>) -> bool {
    match vol.and_then(|v| v.options.get(MARKER_OPTION)) {
        Some(marker) => *marker == rec.marker(),
        None => status.is_some_and(|s| s.create_attempted),
    }
}

fn settle(
    rec: &VolumeRecord,
    status: Option<&VolumeStatus>,
    phase: Phase,
    reason: String,
    bricks: usize,
) -> Vec<Action> {
    if status.is_some_and(|s| s.phase == phase && s.reason == reason && s.bricks == bricks) {
        return Vec::new();
    }
    vec![Action::Settle {
        name: rec.name.clone(),
        phase,
        reason,
        bricks,
    }]
}

fn plan_one(
    rec: &VolumeRecord,
    status: Option<&VolumeStatus>,
    ours: bool,
    vol: Option<&VolumeInfo>,
    cleaned: &BTreeSet<String>,
) -> Vec<Action> {
    let name = rec.name.clone();
    match (rec.state, vol) {
        (DesiredState::Deleted, _) if !ours => vec![Action::Forget { name }],
        (DesiredState::Deleted, Some(v)) => {
            let mut a = Vec::new();
            if v.state == VolumeState::Started {
                a.push(Action::Stop {
                    name: name.clone(),
                    force: true,
                });
            }
            a.push(Action::Delete { name: name.clone() });
            a.extend(settle(
                rec,
                status,
                Phase::Deleting,
                waiting_reason(rec, cleaned),
                0,
            ));
            a
        }
        (DesiredState::Deleted, None) => {
            let reason = waiting_reason(rec, cleaned);
            if reason.is_empty() {
                vec![Action::Forget { name }]
            } else {
                settle(rec, status, Phase::Deleting, reason, 0)
            }
        }
        (_, None) => {
            let (replica, arbiter, disperse, redundancy) = rec.layout.gluster_counts();
            let mut a = vec![
                Action::MarkCreating { name: name.clone() },
                Action::Create {
                    spec: VolumeCreate {
                        name: name.clone(),
                        replica,
                        arbiter,
                        disperse,
                        redundancy,
                        bricks: rec.bricks.iter().map(|b| b.gluster_name()).collect(),
                        force: false,
                    },
                },
                Action::SetOptions {
                    name: name.clone(),
                    options: std::iter::once((MARKER_OPTION.to_owned(), rec.marker()))
                        .chain(
                            profile::wanted(&rec.profile, &rec.layout)
                                .map(|(k, v)| (k.to_owned(), v.to_owned())),
                        )
                        .collect(),
                },
            ];
            let phase = if rec.state == DesiredState::Started {
                a.push(Action::Start { name: name.clone() });
                Phase::Started
            } else {
                Phase::Stopped
            };
            a.push(Action::Settle {
                name,
                phase,
                reason: String::new(),
                bricks: rec.bricks.len(),
            });
            a
        }
        (_, Some(_)) if !ours => settle(
            rec,
            status,
            Phase::Failed,
            format!(
                "gluster already has a volume named {name} that brickyard did not create; it is left alone: pick another name (`brickyard volume delete {name}` removes only this request)"
            ),
            0,
        ),
        (_, Some(v)) => plan_existing(rec, status, v),
    }
}

/// Hosts that still have to remove their brick directories, as a reason; empty when none.
fn waiting_reason(rec: &VolumeRecord, cleaned: &BTreeSet<String>) -> String {
    let hosts: BTreeSet<&str> = rec
        .bricks
        .iter()
        .map(|b| b.host.as_str())
        .filter(|h| !cleaned.contains(*h))
        .collect();
    if hosts.is_empty() {
        String::new()
    } else {
        format!(
            "waiting for {} to remove the brick directories",
            hosts.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

fn plan_existing(rec: &VolumeRecord, status: Option<&VolumeStatus>, v: &VolumeInfo) -> Vec<Action> {
    let name = rec.name.clone();
    let have: Vec<String> = v.bricks.iter().map(|b| b.name.clone()).collect();
    let want: Vec<String> = rec.bricks.iter().map(|b| b.gluster_name()).collect();
    let mut a = Vec::new();
    let mut rebalance = status.is_some_and(|s| s.rebalance_pending);
    let replicated = !matches!(rec.layout.kind, LayoutKind::Distribute);
    // A plain distribute volume's bricks are in no sets, and a moved one comes back at the
    // end of gluster's list: their order does not matter.
    let same = if replicated {
        have == want
    } else {
        let (mut h, mut w) = (have.clone(), want.clone());
        h.sort();
        w.sort();
        h == w
    };
    if !same && !replicated {
        match distribute_steps(rec, &have, &want) {
            Some(steps) => {
                if steps.moving() {
                    a.push(Action::MarkReplacing { name: name.clone() });
                } else {
                    a.push(Action::MarkExpanding { name: name.clone() });
                    rebalance = true;
                }
                if !steps.add.is_empty() {
                    a.push(Action::AddBricks {
                        name: name.clone(),
                        bricks: steps.add,
                        replica: None,
                        arbiter: None,
                    });
                }
                for from in steps.off {
                    a.push(Action::MigrateOff {
                        name: name.clone(),
                        from,
                    });
                }
            }
            None => return not_recorded(rec, status, &have, &want),
        }
    } else if !same {
        let moved: Vec<(&String, &String)> =
            have.iter().zip(&want).filter(|(h, w)| h != w).collect();
        if want.len() == have.len()
            && replicated
            && moved.iter().all(|(from, to)| rec.moves_brick(from, to))
        {
            // Bricks moved in the record (replace-brick): one gluster command each.
            a.push(Action::MarkReplacing { name: name.clone() });
            for (from, to) in moved {
                a.push(Action::ReplaceBrick {
                    name: name.clone(),
                    from: from.clone(),
                    to: to.clone(),
                });
            }
        } else if want.len() > have.len() && want.starts_with(&have) {
            let (replica, arbiter, _, _) = rec.layout.gluster_counts();
            let repeat = matches!(rec.layout.kind, LayoutKind::Replicate { .. });
            a.push(Action::MarkExpanding { name: name.clone() });
            a.push(Action::AddBricks {
                name: name.clone(),
                bricks: want[have.len()..].to_vec(),
                replica: replica.filter(|_| repeat),
                arbiter: arbiter.filter(|_| repeat),
            });
            rebalance = true;
        } else {
            return not_recorded(rec, status, &have, &want);
        }
    }
    let marker = rec.marker();
    // The profile's `'static` pairs, shortened to the marker's lifetime to chain with it.
    let profile = profile::wanted(&rec.profile, &rec.layout).map(|(k, v): (&str, &str)| (k, v));
    let wanted = std::iter::once((MARKER_OPTION, marker.as_str())).chain(profile);
    let missing: Vec<(String, String)> = wanted
        .filter(|(key, value)| v.options.get(*key).map(String::as_str) != Some(*value))
        .map(|(key, value)| (key.to_owned(), value.to_owned()))
        .collect();
    if !missing.is_empty() {
        a.push(Action::SetOptions {
            name: name.clone(),
            options: missing,
        });
    }
    let phase = match rec.state {
        DesiredState::Started => {
            if v.state != VolumeState::Started {
                a.push(Action::Start { name: name.clone() });
            }
            if rebalance && want.len() > rec.layout.set_width() as usize {
                a.push(Action::Rebalance { name: name.clone() });
            }
            Phase::Started
        }
        _ => {
            if v.state == VolumeState::Started {
                a.push(Action::Stop {
                    name: name.clone(),
                    force: false,
                });
            }
            Phase::Stopped
        }
    };
    if a.is_empty() {
        return settle(rec, status, phase, String::new(), have.len());
    }
    // A stopped volume keeps its rebalance pending until it is started.
    let reason = if rebalance && rec.state != DesiredState::Started {
        "rebalance pending until the volume is started".to_owned()
    } else {
        String::new()
    };
    a.push(Action::Settle {
        name,
        phase,
        reason,
        bricks: want.len(),
    });
    a
}

fn not_recorded(
    rec: &VolumeRecord,
    status: Option<&VolumeStatus>,
    have: &[String],
    want: &[String],
) -> Vec<Action> {
    settle(
        rec,
        status,
        Phase::Failed,
        format!(
            "gluster's bricks of {} ({}) are not the recorded ones ({}); it is left alone, repair it by hand",
            rec.name,
            have.join(" "),
            want.join(" ")
        ),
        have.len(),
    )
}

/// What brings a plain distribute volume's bricks in gluster to the recorded ones.
#[derive(Debug, Clone, PartialEq, Eq)]
struct DistributeSteps {
    /// Bricks to add: new ones (expand) or those taking a moved brick's place.
    add: Vec<String>,
    /// Moved bricks whose files move onto the others, then leave.
    off: Vec<String>,
}

impl DistributeSteps {
    fn moving(&self) -> bool {
        !self.off.is_empty()
    }
}

/// The steps from gluster's bricks `have` to the recorded `want` of a plain distribute
/// volume, order aside: every brick gluster has that the record does not must be the
/// `from` of a recorded move whose `to` is recorded, and every recorded brick gluster
/// lacks is added. `None` for any other difference (drift, left alone).
fn distribute_steps(
    rec: &VolumeRecord,
    have: &[String],
    want: &[String],
) -> Option<DistributeSteps> {
    let off: Vec<String> = have.iter().filter(|b| !want.contains(b)).cloned().collect();
    let moved_away = off.iter().all(|from| {
        rec.moves
            .iter()
            .any(|m| m.from.gluster_name() == *from && want.contains(&m.to.gluster_name()))
    });
    if !moved_away {
        return None;
    }
    let add: Vec<String> = want.iter().filter(|b| !have.contains(b)).cloned().collect();
    Some(DistributeSteps { add, off })
}

/// Where the desired record and what gluster reports differ, one line each, for people
/// (`brickyard volume info`). Empty when they agree.
pub fn differences(
    rec: &VolumeRecord,
    status: Option<&VolumeStatus>,
    vol: Option<&VolumeInfo>,
) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(s) = status
        && s.phase == Phase::Failed
    {
        out.push(format!("the last attempt failed: {}", s.reason));
    }
    let Some(v) = vol else {
        if rec.state != DesiredState::Deleted {
            out.push(format!(
                "desired {}, but gluster has no volume {}",
                rec.state, rec.name
            ));
        }
        return out;
    };
    let observed = match v.state {
        VolumeState::Started => "started",
        VolumeState::Created => "created (never started)",
        VolumeState::Stopped => "stopped",
        VolumeState::Other(_) => "in an unknown state",
    };
    match rec.state {
        DesiredState::Deleted => out.push(format!(
            "desired deleted, gluster still has it ({observed})"
        )),
        DesiredState::Started if v.state != VolumeState::Started => {
            out.push(format!("desired started, gluster has it {observed}"));
        }
        DesiredState::Stopped if v.state == VolumeState::Started => {
            out.push("desired stopped, gluster has it started".to_owned());
        }
        _ => {}
    }
    let have: BTreeSet<String> = v.bricks.iter().map(|b| b.name.clone()).collect();
    let want: BTreeSet<String> = rec.bricks.iter().map(|b| b.gluster_name()).collect();
    for b in want.difference(&have) {
        out.push(format!("brick {b} is recorded but not in gluster's volume"));
    }
    for b in have.difference(&want) {
        out.push(format!("brick {b} is in gluster's volume but not recorded"));
    }
    for (key, value) in profile::wanted(&rec.profile, &rec.layout) {
        match v.options.get(key) {
            Some(x) if x == value => {}
            Some(x) => out.push(format!(
                "option {key} is {x}, brickyard sets {value} (profile {})",
                rec.profile
            )),
            None => out.push(format!(
                "option {key} is not set, brickyard sets {value} (profile {})",
                rec.profile
            )),
        }
    }
    out
}

/// What a host's agent does about its own brick directories.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostAction {
    /// Remove a brick directory of a deleted volume (it is `<brick mount>/<volume>`).
    RemoveDir {
        /// The volume.
        name: String,
        /// The directory.
        path: String,
    },
    /// Record that this host's brick directories of the volume are gone.
    Ack {
        /// The volume.
        name: String,
    },
}

/// What one host knows.
#[derive(Debug, Clone)]
pub struct HostInputs<'a> {
    /// This host's `HostName`.
    pub host: &'a str,
    /// This host's brick mounts (`/gluster/brickN`).
    pub mounts: &'a [String],
    /// Every desired record.
    pub records: &'a [VolumeRecord],
    /// The agents' status of each volume.
    pub status: &'a BTreeMap<String, VolumeStatus>,
    /// Volumes whose stored status cannot be used: left alone until it can be.
    pub unreadable: &'a BTreeSet<String>,
    /// Volumes this host's glusterd knows.
    pub local_volumes: &'a BTreeSet<String>,
    /// Volumes this host has already acknowledged.
    pub acked: &'a BTreeSet<String>,
}

/// Plans a host's clean-up: for every volume to be deleted that brickyard created, that
/// this host's glusterd no longer knows and that this host has not acknowledged yet, remove
/// its brick directories here and acknowledge. A path that is not exactly
/// `<one of this host's brick mounts>/<volume>` is never removed.
pub fn host_plan(input: &HostInputs<'_>) -> Vec<HostAction> {
    let mut out = Vec::new();
    for rec in input.records {
        let ours = input
            .status
            .get(&rec.name)
            .is_some_and(|s| s.create_attempted);
        if rec.state != DesiredState::Deleted
            || !ours
            || input.unreadable.contains(&rec.name)
            || input.local_volumes.contains(&rec.name)
            || input.acked.contains(&rec.name)
            || !rec.bricks.iter().any(|b| b.host == input.host)
        {
            continue;
        }
        for b in rec.bricks.iter().filter(|b| b.host == input.host) {
            let safe = input
                .mounts
                .iter()
                .any(|m| b.path == format!("{m}/{}", rec.name));
            if safe {
                out.push(HostAction::RemoveDir {
                    name: rec.name.clone(),
                    path: b.path.clone(),
                });
            }
        }
        out.push(HostAction::Ack {
            name: rec.name.clone(),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BrickMove, BrickRef, Layout};
    use brickyard_gluster::Brick;

    fn rec(name: &str, layout: Layout, state: DesiredState, hosts: &[u8]) -> VolumeRecord {
        VolumeRecord {
            schema: 1,
            name: name.into(),
            id: String::new(),
            layout,
            profile: "default".into(),
            state,
            bricks: hosts
                .iter()
                .map(|h| BrickRef {
                    host: format!("h{h}"),
                    ip: format!("10.0.0.{h}"),
                    path: format!("/gluster/brick1/{name}"),
                })
                .collect(),
            moves: Vec::new(),
            created_at: 0,
            updated_at: 0,
            extra: Default::default(),
        }
    }

    fn info(name: &str, state: VolumeState, hosts: &[u8]) -> VolumeInfo {
        VolumeInfo {
            name: name.into(),
            id: "id".into(),
            state,
            type_str: String::new(),
            brick_count: hosts.len() as u32,
            dist_count: 1,
            replica_count: 1,
            arbiter_count: 0,
            disperse_count: 0,
            redundancy_count: 0,
            bricks: hosts
                .iter()
                .map(|h| Brick {
                    name: format!("10.0.0.{h}:/gluster/brick1/{name}"),
                    host: format!("10.0.0.{h}"),
                    path: format!("/gluster/brick1/{name}"),
                    host_uuid: String::new(),
                    is_arbiter: false,
                })
                .collect(),
            // What every replicated brickyard volume of the default profile carries once
            // made.
            options: profile::wanted(profile::DEFAULT, &Layout::replicate(3))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }

    fn status(name: &str, phase: Phase, ours: bool) -> VolumeStatus {
        VolumeStatus {
            create_attempted: ours,
            bricks: 3,
            ..VolumeStatus::new(name, phase, "", 0)
        }
    }

    /// gluster's volume with brickyard's marker for the record of `name` made by `rec`.
    fn marked(mut v: VolumeInfo) -> VolumeInfo {
        v.options
            .insert(MARKER_OPTION.into(), format!("{}-0", v.name));
        v
    }

    /// `r` with a move of host `from`'s brick to host `to`.
    fn moved(mut r: VolumeRecord, from: u8, to: u8) -> VolumeRecord {
        let brick = |h: u8| BrickRef {
            host: format!("h{h}"),
            ip: format!("10.0.0.{h}"),
            path: format!("/gluster/brick1/{}", r.name),
        };
        r.moves.push(BrickMove {
            from: brick(from),
            to: brick(to),
        });
        r
    }

    /// Renders actions compactly: "mark-creating create(replica 3: a b c) start settle(started)".
    fn show(actions: &[Action]) -> String {
        actions
            .iter()
            .map(|a| match a {
                Action::MarkCreating { .. } => "mark-creating".to_owned(),
                Action::Create { spec } => format!("create({})", spec.args()[3..].join(" ")),
                Action::SetOptions { options, .. } => format!(
                    "set({})",
                    options
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
                Action::Start { .. } => "start".to_owned(),
                Action::Stop { force, .. } => format!("stop{}", if *force { "!" } else { "" }),
                Action::Delete { .. } => "delete".to_owned(),
                Action::MarkExpanding { .. } => "mark-expanding".to_owned(),
                Action::MarkReplacing { .. } => "mark-replacing".to_owned(),
                Action::MigrateOff { from, .. } => format!("migrate-off {from}"),
                Action::ReplaceBrick { from, to, .. } => format!("replace-brick({from} {to})"),
                Action::AddBricks {
                    bricks, replica, ..
                } => {
                    format!("add-brick({replica:?} {})", bricks.join(" "))
                }
                Action::Rebalance { .. } => "rebalance".to_owned(),
                Action::Settle { phase, reason, .. } => {
                    if reason.is_empty() {
                        format!("settle({phase})")
                    } else {
                        format!("settle({phase}: {reason})")
                    }
                }
                Action::Forget { .. } => "forget".to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn plans() {
        use DesiredState::*;
        use VolumeState as G;
        let r3 = Layout::replicate(3);
        let b = "10.0.0.1:/gluster/brick1/v 10.0.0.2:/gluster/brick1/v 10.0.0.3:/gluster/brick1/v";
        // (record, status, gluster volume, hosts cleaned, expected actions)
        type Case = (
            VolumeRecord,
            Option<VolumeStatus>,
            Option<VolumeInfo>,
            &'static [&'static str],
            String,
        );
        let cases: Vec<Case> = vec![
            // A new volume.
            (rec("v", r3, Started, &[1, 2, 3]), None, None, &[],
             format!("mark-creating create(replica 3 {b}) set(user.brickyard.id=v-0,network.ping-timeout=10,performance.enable-least-priority=off,storage.health-check-interval=0,cluster.shd-max-threads=4) start settle(started)")),
            (rec("v", Layout::arbiter(), Stopped, &[1, 2, 3]), None, None, &[],
             format!("mark-creating create(replica 3 arbiter 1 {b}) set(user.brickyard.id=v-0,network.ping-timeout=10,performance.enable-least-priority=off,storage.health-check-interval=0,cluster.shd-max-threads=4) settle(stopped)")),
            // gluster refuses the heal threads of replication on a disperse volume.
            (rec("v", Layout::disperse(3, 1), Started, &[1, 2, 3]), None, None, &[],
             format!("mark-creating create(disperse 3 redundancy 1 {b}) set(user.brickyard.id=v-0,network.ping-timeout=10,performance.enable-least-priority=off,storage.health-check-interval=0) start settle(started)")),
            // Interrupted before the create took effect: create again.
            (rec("v", r3, Started, &[1, 2, 3]), Some(status("v", Phase::Creating, true)), None, &[],
             format!("mark-creating create(replica 3 {b}) set(user.brickyard.id=v-0,network.ping-timeout=10,performance.enable-least-priority=off,storage.health-check-interval=0,cluster.shd-max-threads=4) start settle(started)")),
            // Interrupted after the create, before the marker: mark it and complete it.
            (rec("v", r3, Started, &[1, 2, 3]), Some(status("v", Phase::Creating, true)),
             Some(info("v", G::Created, &[1, 2, 3])), &[], "set(user.brickyard.id=v-0) start settle(started)".into()),
            // Interrupted after the marker: complete it.
            (rec("v", r3, Started, &[1, 2, 3]), Some(status("v", Phase::Creating, true)),
             Some(marked(info("v", G::Created, &[1, 2, 3]))), &[], "start settle(started)".into()),
            // Converged: nothing to do.
            (rec("v", r3, Started, &[1, 2, 3]), Some(status("v", Phase::Started, true)),
             Some(marked(info("v", G::Started, &[1, 2, 3]))), &[], String::new()),
            // The status was lost: the marker still says whose volume it is.
            (rec("v", r3, Started, &[1, 2, 3]), None,
             Some(marked(info("v", G::Started, &[1, 2, 3]))), &[], "settle(started)".into()),
            (rec("v", r3, Stopped, &[1, 2, 3]), Some(status("v", Phase::Started, true)),
             Some(marked(info("v", G::Started, &[1, 2, 3]))), &[], "stop settle(stopped)".into()),
            // A hand-made volume of the same name is not adopted.
            (rec("v", r3, Started, &[1, 2, 3]), None, Some(info("v", G::Started, &[1, 2, 3])), &[],
             "settle(failed: gluster already has a volume named v that brickyard did not create; it is left alone: pick another name (`brickyard volume delete v` removes only this request))".into()),
            // ... and deleting that request forgets it without touching gluster.
            (rec("v", r3, Deleted, &[1, 2, 3]), Some(status("v", Phase::Failed, false)),
             Some(info("v", G::Started, &[1, 2, 3])), &[], "forget".into()),
            // ... as is one marked by brickyard for another record of the same name.
            (rec("v", r3, Started, &[1, 2, 3]), Some(status("v", Phase::Started, true)),
             Some({ let mut v = info("v", G::Started, &[1, 2, 3]); v.options.insert(MARKER_OPTION.into(), "other".into()); v }), &[],
             "settle(failed: gluster already has a volume named v that brickyard did not create; it is left alone: pick another name (`brickyard volume delete v` removes only this request))".into()),
            // Delete: stop, delete, wait for the hosts.
            (rec("v", r3, Deleted, &[1, 2, 3]), Some(status("v", Phase::Started, true)),
             Some(info("v", G::Started, &[1, 2, 3])), &[],
             "stop! delete settle(deleting: waiting for h1, h2, h3 to remove the brick directories)".into()),
            (rec("v", r3, Deleted, &[1, 2, 3]), Some(status("v", Phase::Deleting, true)), None, &["h1", "h3"],
             "settle(deleting: waiting for h2 to remove the brick directories)".into()),
            (rec("v", r3, Deleted, &[1, 2, 3]), Some(status("v", Phase::Deleting, true)), None, &["h1", "h2", "h3"],
             "forget".into()),
            // Expand: the recorded bricks extend gluster's.
            (rec("v", Layout::distribute(3), Started, &[1, 2, 3]), Some(status("v", Phase::Started, true)),
             Some(marked(info("v", G::Started, &[1, 2]))), &[],
             "mark-expanding add-brick(None 10.0.0.3:/gluster/brick1/v) rebalance settle(started)".into()),
            // Bricks added but the rebalance not started yet (interrupted).
            (rec("v", Layout::distribute(3), Started, &[1, 2, 3]),
             Some(VolumeStatus { rebalance_pending: true, ..status("v", Phase::Expanding, true) }),
             Some(marked(info("v", G::Started, &[1, 2, 3]))), &[], "rebalance settle(started)".into()),
            // A brick the record moves (replace-brick).
            (moved(rec("v", r3, Started, &[1, 2, 4]), 3, 4), Some(status("v", Phase::Started, true)),
             Some(marked(info("v", G::Started, &[1, 2, 3]))), &[],
             "mark-replacing replace-brick(10.0.0.3:/gluster/brick1/v 10.0.0.4:/gluster/brick1/v) settle(started)".into()),
            // ... done: nothing left to do, the move stays as history.
            (moved(rec("v", r3, Started, &[1, 2, 4]), 3, 4), Some(status("v", Phase::Started, true)),
             Some(marked(info("v", G::Started, &[1, 2, 4]))), &[], String::new()),
            // A plain distribute brick that moves: the new one is added, the old one's
            // files move onto the others, then it goes.
            (moved(rec("v", Layout::distribute(3), Started, &[1, 4, 3]), 2, 4), Some(status("v", Phase::Started, true)),
             Some(marked(info("v", G::Started, &[1, 2, 3]))), &[],
             "mark-replacing add-brick(None 10.0.0.4:/gluster/brick1/v) migrate-off 10.0.0.2:/gluster/brick1/v settle(started)".into()),
            // ... added, files moving (or interrupted): the migration goes on.
            (moved(rec("v", Layout::distribute(3), Started, &[1, 4, 3]), 2, 4), Some(status("v", Phase::Replacing, true)),
             Some(marked(info("v", G::Started, &[1, 2, 3, 4]))), &[],
             "mark-replacing migrate-off 10.0.0.2:/gluster/brick1/v settle(started)".into()),
            // ... done: gluster lists the new brick last; the order of a distribute volume's
            // bricks does not matter.
            (moved(rec("v", Layout::distribute(3), Started, &[1, 4, 3]), 2, 4), Some(status("v", Phase::Replacing, true)),
             Some(marked(info("v", G::Started, &[1, 3, 4]))), &[], "settle(started)".into()),
            // A distribute brick gluster has and no move explains: drift, left alone.
            (rec("v", Layout::distribute(3), Started, &[1, 2, 4]), Some(status("v", Phase::Started, true)),
             Some(marked(info("v", G::Started, &[1, 2, 3]))), &[],
             "settle(failed: gluster's bricks of v (10.0.0.1:/gluster/brick1/v 10.0.0.2:/gluster/brick1/v 10.0.0.3:/gluster/brick1/v) are not the recorded ones (10.0.0.1:/gluster/brick1/v 10.0.0.2:/gluster/brick1/v 10.0.0.4:/gluster/brick1/v); it is left alone, repair it by hand)".into()),
            // Bricks that differ otherwise: drift, left alone.
            (rec("v", r3, Started, &[1, 2, 3]), Some(status("v", Phase::Started, true)),
             Some(info("v", G::Started, &[1, 2, 4])), &[],
             format!("settle(failed: gluster's bricks of v (10.0.0.1:/gluster/brick1/v 10.0.0.2:/gluster/brick1/v 10.0.0.4:/gluster/brick1/v) are not the recorded ones ({b}); it is left alone, repair it by hand)")),
        ];
        for (i, (r, st, g, cleaned, want)) in cases.into_iter().enumerate() {
            let status: BTreeMap<_, _> = st.into_iter().map(|s| (s.name.clone(), s)).collect();
            let gluster: Vec<_> = g.into_iter().collect();
            let cleaned: BTreeMap<String, BTreeSet<String>> = [(
                "v".to_owned(),
                cleaned.iter().map(|s| (*s).to_owned()).collect(),
            )]
            .into();
            let records = [r];
            let p = plan(&Inputs {
                records: &records,
                status: &status,
                unreadable: &BTreeSet::new(),
                gluster: &gluster,
                cleaned: &cleaned,
            });
            let got = p.volumes.first().map(|(_, a)| show(a)).unwrap_or_default();
            assert_eq!(got, want, "case {i}");
        }
    }

    #[test]
    fn a_volume_whose_status_cannot_be_read_is_left_alone() {
        let records = [rec(
            "v",
            Layout::replicate(3),
            DesiredState::Deleted,
            &[1, 2, 3],
        )];
        let unreadable: BTreeSet<String> = ["v".to_owned()].into();
        let p = plan(&Inputs {
            records: &records,
            status: &BTreeMap::new(),
            unreadable: &unreadable,
            gluster: &[],
            cleaned: &BTreeMap::new(),
        });
        assert!(p.volumes.is_empty(), "{p:?}");
        let got = host_plan(&HostInputs {
            host: "h1",
            mounts: &["/gluster/brick1".to_owned()],
            records: &records,
            status: &BTreeMap::new(),
            unreadable: &unreadable,
            local_volumes: &BTreeSet::new(),
            acked: &BTreeSet::new(),
        });
        assert!(got.is_empty(), "{got:?}");
    }

    #[test]
    fn profile_options_are_set_when_missing() {
        let mut r = rec("v", Layout::replicate(3), DesiredState::Started, &[1, 2, 3]);
        r.profile = profile::SMALL_FILES.into();
        let mut g = marked(info("v", VolumeState::Started, &[1, 2, 3]));
        for (k, v) in profile::wanted(profile::SMALL_FILES, &r.layout) {
            g.options.insert(k.into(), v.into());
        }
        g.options.remove("cluster.lookup-optimize");
        let status: BTreeMap<_, _> = [("v".to_owned(), status("v", Phase::Started, true))].into();
        let p = plan(&Inputs {
            records: &[r],
            status: &status,
            unreadable: &BTreeSet::new(),
            gluster: &[g],
            cleaned: &BTreeMap::new(),
        });
        assert_eq!(
            show(&p.volumes[0].1),
            "set(cluster.lookup-optimize=on) settle(started)"
        );
    }

    #[test]
    fn unmanaged_volumes_are_reported_not_touched() {
        let g = [
            info("handmade", VolumeState::Started, &[1]),
            marked(info("v", VolumeState::Started, &[1, 2, 3])),
        ];
        let status: BTreeMap<_, _> = [("v".to_owned(), status("v", Phase::Started, true))].into();
        let p = plan(&Inputs {
            records: &[rec(
                "v",
                Layout::replicate(3),
                DesiredState::Started,
                &[1, 2, 3],
            )],
            status: &status,
            unreadable: &BTreeSet::new(),
            gluster: &g,
            cleaned: &BTreeMap::new(),
        });
        assert_eq!(p.unmanaged, vec!["handmade".to_owned()]);
        assert!(p.volumes.is_empty(), "{p:?}");
    }

    #[test]
    fn differences_are_named() {
        let r = rec("v", Layout::replicate(3), DesiredState::Started, &[1, 2, 3]);
        assert!(
            differences(&r, None, Some(&info("v", VolumeState::Started, &[1, 2, 3]))).is_empty()
        );
        assert_eq!(
            differences(&r, None, Some(&info("v", VolumeState::Stopped, &[1, 2, 4]))),
            vec![
                "desired started, gluster has it stopped".to_owned(),
                "brick 10.0.0.3:/gluster/brick1/v is recorded but not in gluster's volume"
                    .to_owned(),
                "brick 10.0.0.4:/gluster/brick1/v is in gluster's volume but not recorded"
                    .to_owned(),
            ]
        );
        assert_eq!(
            differences(&r, None, None),
            vec!["desired started, but gluster has no volume v".to_owned()]
        );
    }

    #[test]
    fn host_clean_up() {
        let mounts = vec!["/gluster/brick1".to_owned()];
        let mut evil = rec("x", Layout::distribute(1), DesiredState::Deleted, &[1]);
        evil.bricks[0].path = "/etc".into();
        let records = vec![
            rec(
                "gone",
                Layout::replicate(3),
                DesiredState::Deleted,
                &[1, 2, 3],
            ),
            rec(
                "still",
                Layout::replicate(3),
                DesiredState::Deleted,
                &[1, 2, 3],
            ),
            rec(
                "live",
                Layout::replicate(3),
                DesiredState::Started,
                &[1, 2, 3],
            ),
            rec(
                "acked",
                Layout::replicate(3),
                DesiredState::Deleted,
                &[1, 2, 3],
            ),
            rec(
                "elsewhere",
                Layout::replicate(3),
                DesiredState::Deleted,
                &[2, 3, 4],
            ),
            rec(
                "handmade",
                Layout::replicate(3),
                DesiredState::Deleted,
                &[1, 2, 3],
            ),
            evil,
        ];
        let status: BTreeMap<_, _> = ["gone", "still", "live", "acked", "elsewhere", "x"]
            .iter()
            .map(|n| ((*n).to_owned(), status(n, Phase::Deleting, true)))
            .chain([(
                "handmade".to_owned(),
                status("handmade", Phase::Failed, false),
            )])
            .collect();
        let local: BTreeSet<String> = ["still".to_owned(), "live".to_owned()].into();
        let acked: BTreeSet<String> = ["acked".to_owned()].into();
        let got = host_plan(&HostInputs {
            host: "h1",
            mounts: &mounts,
            records: &records,
            status: &status,
            unreadable: &BTreeSet::new(),
            local_volumes: &local,
            acked: &acked,
        });
        assert_eq!(
            got,
            vec![
                HostAction::RemoveDir {
                    name: "gone".into(),
                    path: "/gluster/brick1/gone".into()
                },
                HostAction::Ack {
                    name: "gone".into()
                },
                // The path is not <mount>/<volume>: acknowledged, never removed.
                HostAction::Ack { name: "x".into() },
            ]
        );
    }
}
