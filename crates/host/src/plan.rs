//! The planner: desired config + observed facts → an ordered list of steps, or the reasons
//! it refuses. Pure: no I/O, so every host state it handles is a unit test.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use brickyard_exec::Cmd;
use brickyard_model::HostConfig;
use brickyard_model::names::check_abs_path;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::facts::{BlockDevice, DeviceState, DirState, Facts, LvmSupport, Signature};
use crate::fstab;
use crate::layout::{self, under};

/// How to plan, besides the config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanOptions {
    /// Every host path (config dirs, fstab, mount points) is resolved under this directory.
    pub root: PathBuf,
    /// The interface that gets `IPAddress`; `None` means the one holding the default route.
    pub interface: Option<String>,
    /// Put XFS directly on the devices even where LVM works.
    pub no_lvm: bool,
}

impl Default for PlanOptions {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            interface: None,
            no_lvm: false,
        }
    }
}

/// One step of a plan: what it is for, and exactly what it does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// What the step achieves, for people.
    pub description: String,
    /// What it does.
    #[serde(flatten)]
    pub action: Action,
}

/// What a step does. Commands are argv vectors; file operations are done by brickyard
/// itself, each idempotent or atomic so that a re-run after a failure can continue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Run a command.
    Run {
        /// The program and its arguments.
        argv: Vec<String>,
        /// Longest time it may take, in seconds.
        timeout_secs: u64,
    },
    /// Create a directory and its missing parents.
    CreateDir {
        /// The directory.
        path: String,
        /// Its permission bits.
        mode: u32,
    },
    /// Fill an empty or missing directory with copies of files, all at once: they are
    /// copied into a temporary sibling that is then renamed into place.
    SeedDir {
        /// Where the files come from.
        from: String,
        /// The directory to fill.
        to: String,
        /// The file names.
        files: Vec<String>,
    },
    /// Replace a file's content atomically (temporary file, fsync, rename).
    WriteFile {
        /// The file.
        path: String,
        /// Its whole new content.
        content: String,
        /// Its permission bits.
        mode: u32,
    },
}

impl Step {
    fn run(description: impl Into<String>, argv: &[&str], timeout: Duration) -> Self {
        Self {
            description: description.into(),
            action: Action::Run {
                argv: argv.iter().map(|s| (*s).to_owned()).collect(),
                timeout_secs: timeout.as_secs(),
            },
        }
    }

    /// The command a `Run` step runs, ready for `brickyard_exec`.
    pub fn cmd(&self) -> Option<Cmd> {
        match &self.action {
            Action::Run {
                argv, timeout_secs, ..
            } => Some(Cmd::new(argv.clone()).timeout(Duration::from_secs(*timeout_secs))),
            _ => None,
        }
    }

    /// The exact command, or the file operation, in one line.
    pub fn shown(&self) -> String {
        match &self.action {
            Action::Run { .. } => self.cmd().map(|c| c.to_string()).unwrap_or_default(),
            Action::CreateDir { path, mode } => format!("mkdir -p -m {mode:04o} {path}"),
            Action::SeedDir { from, to, files } => format!(
                "copy {} file(s) from {from} into {to} (through a temporary directory, renamed into place)",
                files.len()
            ),
            Action::WriteFile { path, .. } => {
                format!("write {path} (temporary file, fsync, rename)")
            }
        }
    }
}

/// An ordered list of steps, and what the planner decided on the way.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The steps, to be run in order.
    pub steps: Vec<Step>,
    /// Decisions worth telling, e.g. which disk layout and why.
    pub notes: Vec<String>,
}

impl Plan {
    /// Whether there is nothing to do: the host is prepared.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Why the planner will not plan: every problem found, none of them acted upon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The problems, one per cause.
    pub problems: Vec<Problem>,
    /// Decisions taken before the problems were found.
    pub notes: Vec<String>,
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let lines: Vec<String> = self.problems.iter().map(ToString::to_string).collect();
        f.write_str(&lines.join("\n"))
    }
}

impl std::error::Error for Refusal {}

/// One reason not to touch the host.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Problem {
    /// The configured device does not exist.
    #[error(
        "{brick}: BrickDevice {device} does not exist; attach the disk, or fix the device path in the host config and load it again"
    )]
    DeviceMissing {
        /// `brick1`, ...
        brick: String,
        /// The configured path.
        device: String,
    },
    /// The configured path is not a block device.
    #[error(
        "{brick}: BrickDevice {device} is not a block device; name a disk, e.g. /dev/sdb, in the host config"
    )]
    NotBlockDevice {
        /// `brick1`, ...
        brick: String,
        /// The configured path.
        device: String,
    },
    /// The device holds something that is not ours, and may not be wiped.
    #[error(
        "{brick}: {device} holds {found}; nothing was changed. If that data may be destroyed, set \"ZapDevice\": \"true\" in the host config and load it again (`brickyard config load`); otherwise name an empty device"
    )]
    ForeignData {
        /// `brick1`, ...
        brick: String,
        /// The device (or logical volume).
        device: String,
        /// Every signature found, in words.
        found: String,
    },
    /// The device is mounted somewhere other than its brick mount point.
    #[error(
        "{brick}: {device} is mounted on {target}; brickyard never wipes a mounted device: unmount it first"
    )]
    DeviceInUse {
        /// `brick1`, ...
        brick: String,
        /// The device.
        device: String,
        /// Where it is mounted.
        target: String,
    },
    /// The device, or one of its partitions, is in use (mounted, swap, held by device-mapper
    /// or RAID).
    #[error(
        "{brick}: {device} is in use: {}; brickyard never touches a device in use: stop using it first",
        .users.join("; ")
    )]
    DeviceHeld {
        /// `brick1`, ...
        brick: String,
        /// The device.
        device: String,
        /// What uses it, one entry each.
        users: Vec<String>,
    },
    /// The same device is configured for two bricks.
    #[error(
        "{brick}: {device} is the same device as {other}'s ({canonical}); list each disk once in BrickDevice and ExtraBrickDevices"
    )]
    DeviceTwice {
        /// `brick2`, ...
        brick: String,
        /// The device as configured.
        device: String,
        /// The brick already using it.
        other: String,
        /// The device both paths lead to.
        canonical: String,
    },
    /// Something else is mounted on the brick's mount point.
    #[error("{brick}: {target} already has {mounted} mounted on it; unmount it first")]
    MountPointBusy {
        /// `brick1`, ...
        brick: String,
        /// The mount point.
        target: String,
        /// What is mounted there.
        mounted: String,
    },
    /// The device carries the LVM brick layout, but LVM cannot be used here.
    #[error(
        "{brick}: {device} carries the LVM brick layout (volume group {vg}), but LVM cannot be used on this host: {reason}"
    )]
    LvmUnavailable {
        /// `brick1`, ...
        brick: String,
        /// The device.
        device: String,
        /// Its volume group.
        vg: String,
        /// Why LVM cannot be used.
        reason: String,
    },
    /// The brick's logical volume exists but is not active, so it could not be inspected.
    #[error(
        "{brick}: logical volume {vg}/{lv} is not active, so its content cannot be checked; run `vgchange -ay {vg}` and try again"
    )]
    LvInactive {
        /// `brick1`, ...
        brick: String,
        /// Volume group.
        vg: String,
        /// Logical volume.
        lv: String,
    },
    /// The volume group holds a brick LV but no thin pool: not a layout brickyard makes.
    #[error(
        "{brick}: volume group {vg} has a logical volume {lv} but no thin pool {pool}; this is not the brick layout, sort it out by hand"
    )]
    OddLvmLayout {
        /// `brick1`, ...
        brick: String,
        /// Volume group.
        vg: String,
        /// Logical volume.
        lv: String,
        /// The expected pool.
        pool: String,
    },
    /// No interface was given and there is no default route.
    #[error(
        "no --interface given and no default route to take the interface from; pass --interface IFACE"
    )]
    NoDefaultRoute,
    /// The interface does not exist.
    #[error("interface {name} does not exist; interfaces here: {available}")]
    InterfaceMissing {
        /// The interface asked for.
        name: String,
        /// Those that exist.
        available: String,
    },
    /// The interface name is not one brickyard passes to a command.
    #[error(
        "interface name {name:?} {reason}; interface names are 1-15 letters, digits, '-', '_', '.' or '@', not starting with '-'"
    )]
    BadInterfaceName {
        /// The name.
        name: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The address is on another interface.
    #[error(
        "IPAddress {want} is on interface {holder}, not on {chosen}; pass --interface {holder}, or remove it there with `ip addr del {have} dev {holder}`"
    )]
    AddressElsewhere {
        /// The configured address.
        want: String,
        /// The address as found.
        have: String,
        /// Where it is.
        holder: String,
        /// Where it should be.
        chosen: String,
    },
    /// The address is on the interface with another prefix length.
    #[error(
        "interface {interface} holds {have}, but IPAddress is {want}; fix the prefix in the host config, or remove it with `ip addr del {have} dev {interface}`"
    )]
    PrefixDiffers {
        /// The interface.
        interface: String,
        /// The address as found.
        have: String,
        /// The configured address.
        want: String,
    },
    /// A directory brickyard needs is something else.
    #[error("{path} exists but is not a directory; move it away and run again")]
    NotADirectory {
        /// The path.
        path: String,
    },
    /// A path that would reach a command or a file operation is not acceptable.
    #[error("path {path:?} {reason}; use a --root made of letters, digits and '/-_.:+@'")]
    BadPath {
        /// The path.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A fresh filesystem UUID was missing or malformed (a fact-gathering defect).
    #[error("{brick}: no valid fresh filesystem UUID was provided ({value:?})")]
    BadFreshUuid {
        /// `brick1`, ...
        brick: String,
        /// What was provided.
        value: String,
    },
}

const T_IP: Duration = Duration::from_secs(15);
const T_WIPE: Duration = Duration::from_secs(120);
const T_LVM: Duration = Duration::from_secs(300);
/// mkfs.xfs discards the whole device first, which takes minutes on large disks.
const T_MKFS: Duration = Duration::from_secs(1800);
const T_MOUNT: Duration = Duration::from_secs(120);
const T_RELABEL: Duration = Duration::from_secs(1800);

/// How a brick's filesystem sits on its device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Lvm,
    Xfs,
}

struct Planner<'a> {
    desired: &'a HostConfig,
    facts: &'a Facts,
    opts: &'a PlanOptions,
    steps: Vec<Step>,
    notes: Vec<String>,
    problems: Vec<Problem>,
    /// Paths created or mounted by the plan, relabelled for SELinux at the end.
    touched: Vec<String>,
}

/// Plans the preparation of a host: directories, the address, brick disks, fstab, mounts.
/// Returns an empty plan when the host is already prepared, and a refusal naming every
/// problem when it must not be touched.
pub fn plan(desired: &HostConfig, facts: &Facts, opts: &PlanOptions) -> Result<Plan, Refusal> {
    let mut p = Planner {
        desired,
        facts,
        opts,
        steps: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
        touched: Vec::new(),
    };
    p.dirs();
    p.network();
    p.bricks();
    p.relabel();
    if p.problems.is_empty() {
        Ok(Plan {
            steps: p.steps,
            notes: p.notes,
        })
    } else {
        Err(Refusal {
            problems: p.problems,
            notes: p.notes,
        })
    }
}

/// Checks an interface name before it reaches `ip`.
pub fn check_interface_name(name: &str) -> Result<(), String> {
    if let Some(problem) = brickyard_model::names::charset_problem(name, 15, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@')
    }) {
        return Err(problem);
    }
    if name.starts_with('-') {
        return Err("starts with '-'".into());
    }
    Ok(())
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn describe(sigs: &[Signature]) -> String {
    sigs.iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Planner<'_> {
    /// `path` under the root, as a string checked for use in commands.
    fn host_path(&mut self, path: &str) -> Option<String> {
        let full = under(&self.opts.root, path);
        let Some(s) = full.to_str() else {
            self.problems.push(Problem::BadPath {
                path: full.display().to_string(),
                reason: "is not valid UTF-8".into(),
            });
            return None;
        };
        match check_abs_path(s) {
            Ok(()) => Some(s.to_owned()),
            Err(e) => {
                self.problems.push(Problem::BadPath {
                    path: s.to_owned(),
                    reason: e.to_string(),
                });
                None
            }
        }
    }

    fn dirs(&mut self) {
        let mut wanted = vec![
            layout::CONFIG_DIR.to_owned(),
            layout::STATE_DIR.to_owned(),
            layout::LOG_DIR.to_owned(),
        ];
        wanted.extend(self.desired.bricks().into_iter().map(|(_, mp)| mp));
        for dir in wanted {
            let Some(path) = self.host_path(&dir) else {
                continue;
            };
            let state = self.facts.dir(&path).copied().unwrap_or(DirState::Missing);
            let seed = (dir == layout::CONFIG_DIR)
                .then_some(self.facts.package_defaults.as_ref())
                .flatten()
                .filter(|d| !d.files.is_empty() && d.dir != path);
            match (state, seed) {
                (DirState::NotEmpty, _) | (DirState::Empty, None) => {}
                (DirState::NotADirectory, _) => {
                    self.problems.push(Problem::NotADirectory { path });
                }
                (DirState::Missing | DirState::Empty, Some(defaults)) => {
                    self.steps.push(Step {
                        description: format!(
                            "seed {path} with the package's default config from {}",
                            defaults.dir
                        ),
                        action: Action::SeedDir {
                            from: defaults.dir.clone(),
                            to: path.clone(),
                            files: defaults.files.clone(),
                        },
                    });
                    self.touched.push(path);
                }
                (DirState::Missing, None) => {
                    self.steps.push(Step {
                        description: format!("create directory {path}"),
                        action: Action::CreateDir {
                            path: path.clone(),
                            mode: 0o755,
                        },
                    });
                    self.touched.push(path);
                }
            }
        }
    }

    fn network(&mut self) {
        let want = self.desired.ip_address;
        let holders: Vec<(String, ipnet::IpNet)> = self
            .facts
            .interfaces
            .iter()
            .flat_map(|i| {
                i.addrs
                    .iter()
                    .filter(|a| a.addr() == want.addr())
                    .map(|a| (i.name.clone(), *a))
            })
            .collect();
        let chosen = match &self.opts.interface {
            Some(name) => {
                if let Err(reason) = check_interface_name(name) {
                    self.problems.push(Problem::BadInterfaceName {
                        name: name.clone(),
                        reason,
                    });
                    return;
                }
                if !self.facts.interfaces.iter().any(|i| &i.name == name) {
                    let available: Vec<&str> = self
                        .facts
                        .interfaces
                        .iter()
                        .map(|i| i.name.as_str())
                        .collect();
                    self.problems.push(Problem::InterfaceMissing {
                        name: name.clone(),
                        available: available.join(", "),
                    });
                    return;
                }
                name.clone()
            }
            None => {
                // An address already in place needs no interface to be chosen.
                if let Some((holder, _)) = holders.iter().find(|(_, a)| *a == want) {
                    self.notes
                        .push(format!("address {want} is already on interface {holder}"));
                    return;
                }
                match self.facts.default_route_interfaces.first() {
                    Some(dev) => dev.clone(),
                    None => {
                        self.problems.push(Problem::NoDefaultRoute);
                        return;
                    }
                }
            }
        };
        for (holder, have) in &holders {
            if *holder == chosen && *have == want {
                self.notes
                    .push(format!("address {want} is already on interface {chosen}"));
                return;
            }
            if *holder == chosen {
                self.problems.push(Problem::PrefixDiffers {
                    interface: chosen.clone(),
                    have: have.to_string(),
                    want: want.to_string(),
                });
            } else {
                self.problems.push(Problem::AddressElsewhere {
                    want: want.to_string(),
                    have: have.to_string(),
                    holder: holder.clone(),
                    chosen: chosen.clone(),
                });
            }
        }
        if !holders.is_empty() {
            return;
        }
        if let Err(reason) = check_interface_name(&chosen) {
            self.problems.push(Problem::BadInterfaceName {
                name: chosen,
                reason,
            });
            return;
        }
        let why = if self.opts.interface.is_some() {
            "as --interface asks"
        } else {
            "it holds the default route"
        };
        let want_s = want.to_string();
        self.steps.push(Step::run(
            format!("add {want_s} to interface {chosen} ({why})"),
            &["ip", "addr", "add", &want_s, "dev", &chosen],
            T_IP,
        ));
    }

    fn layout_choice(&self) -> (Layout, String) {
        if self.opts.no_lvm {
            return (Layout::Xfs, "--no-lvm was given".into());
        }
        match &self.facts.lvm {
            LvmSupport::Usable => (Layout::Lvm, "LVM tools and device-mapper work".into()),
            LvmSupport::Unavailable { reason } => (Layout::Xfs, format!("LVM skipped: {reason}")),
        }
    }

    fn bricks(&mut self) {
        let mut fstab_lines: Vec<String> = Vec::new();
        let mut stale_note = Vec::new();
        let mut mounts: Vec<Step> = Vec::new();
        let fstab_entries = fstab::entries(self.facts.fstab.as_deref().unwrap_or_default());
        let mut seen: Vec<(String, String)> = Vec::new();
        for (i, (device, mount_point)) in self.desired.bricks().into_iter().enumerate() {
            let brick = format!("brick{}", i + 1);
            let Some(target) = self.host_path(&mount_point) else {
                continue;
            };
            let state = self
                .facts
                .device(&device)
                .map_or(&DeviceState::Missing, |d| &d.state);
            let bd = match state {
                DeviceState::Missing => {
                    self.problems.push(Problem::DeviceMissing { brick, device });
                    continue;
                }
                DeviceState::NotBlockDevice => {
                    self.problems
                        .push(Problem::NotBlockDevice { brick, device });
                    continue;
                }
                DeviceState::Present(bd) => bd,
            };
            // Two paths (a name and a /dev/disk/by-id link) may lead to one disk.
            let canonical = if bd.canonical.is_empty() {
                device.clone()
            } else {
                bd.canonical.clone()
            };
            if let Some((other, _)) = seen.iter().find(|(_, c)| *c == canonical) {
                self.problems.push(Problem::DeviceTwice {
                    brick,
                    device,
                    other: other.clone(),
                    canonical,
                });
                continue;
            }
            seen.push((brick.clone(), canonical));
            let Some(fs) = self.brick_fs(i, &brick, &device, bd) else {
                continue;
            };
            // The mount: fstab first, so a host that reboots mid-way still mounts it.
            let spec = format!("UUID={}", fs.uuid);
            let by_uuid = format!("/dev/disk/by-uuid/{}", fs.uuid);
            let in_fstab = fstab_entries.iter().any(|e| {
                e.file == mount_point
                    && (e.spec == spec || e.spec == by_uuid || fs.sources.contains(&e.spec))
            });
            if !in_fstab {
                if let Some(old) = fstab_entries.iter().find(|e| e.file == mount_point) {
                    stale_note.push(format!("{} (was {})", mount_point, old.spec));
                }
                fstab_lines.push(fstab::brick_line(&fs.uuid, &mount_point));
            }
            let here: Vec<&crate::facts::Mount> = self
                .facts
                .mounts
                .iter()
                .filter(|m| m.target == target)
                .collect();
            if let Some(other) = here.iter().find(|m| !fs.sources.contains(&m.source)) {
                self.problems.push(Problem::MountPointBusy {
                    brick,
                    target,
                    mounted: other.source.clone(),
                });
                continue;
            }
            if here.is_empty() {
                mounts.push(Step::run(
                    format!("mount {brick} ({}) on {target}", fs.device),
                    &[
                        "mount",
                        "-t",
                        "xfs",
                        "-o",
                        layout::MOUNT_OPTIONS,
                        &fs.device,
                        &target,
                    ],
                    T_MOUNT,
                ));
                self.touched.push(target);
            }
        }
        if !fstab_lines.is_empty() {
            if let Some(path) = self.host_path(layout::FSTAB) {
                let current = self.facts.fstab.clone().unwrap_or_default();
                let mut description = format!("add {} brick mount(s) to {path}", fstab_lines.len());
                if !stale_note.is_empty() {
                    description.push_str(&format!(
                        ", replacing the lines for {} that name another filesystem",
                        stale_note.join(", ")
                    ));
                }
                self.steps.push(Step {
                    description,
                    action: Action::WriteFile {
                        path,
                        content: fstab::with_lines(&current, &fstab_lines),
                        mode: 0o644,
                    },
                });
            }
        }
        self.steps.extend(mounts);
    }

    /// Plans what brick `i`'s device needs to carry its filesystem, and returns that
    /// filesystem; `None` after recording a problem.
    fn brick_fs(
        &mut self,
        i: usize,
        brick: &str,
        device: &str,
        bd: &BlockDevice,
    ) -> Option<BrickFs> {
        let vg = layout::volume_group(i);
        let lv = layout::logical_volume(i);
        let label = layout::xfs_label(i);
        let (layout_wanted, why) = self.layout_choice();
        let mut sources = vec![device.to_owned()];
        if !bd.canonical.is_empty() && bd.canonical != device {
            sources.push(bd.canonical.clone());
        }
        // Every command names the device the configured path led to when it was looked at,
        // never the path itself: a link that changes between look and act must not point
        // them at another disk.
        let device: &str = if bd.canonical.is_empty() {
            device
        } else {
            &bd.canonical
        };
        let sigs = &bd.signatures;
        let only = |kind: &str| sigs.len() == 1 && sigs[0].kind == kind;

        // Our XFS directly on the device: prepared.
        if only("xfs") && sigs[0].label.as_deref().is_some_and(layout::is_our_label) {
            if let Some(uuid) = sigs[0].uuid.clone() {
                self.notes.push(format!(
                    "{brick}: {device} already holds its brick filesystem (XFS, label {}, UUID {uuid})",
                    sigs[0].label.as_deref().unwrap_or_default()
                ));
                return Some(BrickFs {
                    device: device.to_owned(),
                    uuid,
                    sources,
                });
            }
        }

        // The seed's LVM layout, complete or part-made by an earlier run.
        let our_pv = bd
            .pv
            .as_ref()
            .filter(|pv| only("LVM2_member") && (pv.vg == vg || pv.vg.is_empty()));
        if let Some(pv) = our_pv
            && (!pv.vg.is_empty() || layout_wanted == Layout::Lvm)
        {
            if let LvmSupport::Unavailable { reason } = &self.facts.lvm {
                self.problems.push(Problem::LvmUnavailable {
                    brick: brick.to_owned(),
                    device: device.to_owned(),
                    vg: if pv.vg.is_empty() {
                        "none yet".into()
                    } else {
                        pv.vg.clone()
                    },
                    reason: reason.clone(),
                });
                return None;
            }
            self.notes.push(format!(
                "{brick}: {device} carries the LVM brick layout (volume group {vg}); continuing it"
            ));
            return self.lvm_steps(i, brick, device, bd, pv.vg.is_empty(), sources);
        }

        if !bd.users.is_empty() {
            self.problems.push(Problem::DeviceHeld {
                brick: brick.to_owned(),
                device: device.to_owned(),
                users: bd.users.clone(),
            });
            return None;
        }

        if !sigs.is_empty() {
            let found = describe(sigs);
            if let Some(m) = self
                .facts
                .mounts
                .iter()
                .find(|m| sources.contains(&m.source))
            {
                self.problems.push(Problem::DeviceInUse {
                    brick: brick.to_owned(),
                    device: device.to_owned(),
                    target: m.target.clone(),
                });
                return None;
            }
            if !self.desired.zap_device.enabled() {
                self.problems.push(Problem::ForeignData {
                    brick: brick.to_owned(),
                    device: device.to_owned(),
                    found,
                });
                return None;
            }
            self.steps.push(Step::run(
                format!("wipe every signature from {device} (ZapDevice is true): {found}"),
                &["wipefs", "-a", device],
                T_WIPE,
            ));
        }
        let uuid = self.fresh_uuid(i, brick)?;
        match layout_wanted {
            Layout::Xfs => {
                self.notes
                    .push(format!("{brick}: XFS directly on {device} ({why})"));
                self.mkfs(device, &label, &uuid);
                Some(BrickFs {
                    device: device.to_owned(),
                    uuid,
                    sources,
                })
            }
            Layout::Lvm => {
                self.notes.push(format!(
                    "{brick}: LVM thin layout on {device}: volume group {vg}, thin pool {}, thin volume {lv} ({why})",
                    layout::THIN_POOL
                ));
                self.steps.push(Step::run(
                    format!("make {device} an LVM physical volume"),
                    &["pvcreate", device],
                    T_LVM,
                ));
                let fresh = BlockDevice {
                    pv: None,
                    lvs: Vec::new(),
                    ..bd.clone()
                };
                self.lvm_steps(i, brick, device, &fresh, true, sources)
            }
        }
    }

    /// The LVM steps after `pvcreate`: volume group, thin pool, thin volume, filesystem, each
    /// only when it is not there yet.
    fn lvm_steps(
        &mut self,
        i: usize,
        brick: &str,
        device: &str,
        bd: &BlockDevice,
        need_vg: bool,
        mut sources: Vec<String>,
    ) -> Option<BrickFs> {
        let vg = layout::volume_group(i);
        let lv = layout::logical_volume(i);
        let pool = layout::THIN_POOL;
        let lv_dev = layout::lv_path(&vg, &lv);
        sources.push(lv_dev.clone());
        sources.push(layout::lv_mapper_path(&vg, &lv));
        if need_vg {
            self.steps.push(Step::run(
                format!("create volume group {vg} on {device}"),
                &["vgcreate", &vg, device],
                T_LVM,
            ));
        }
        let has_pool = bd
            .lvs
            .iter()
            .any(|l| l.vg == vg && l.name == pool && l.segtype == "thin-pool");
        let brick_lv = bd.lvs.iter().find(|l| l.vg == vg && l.name == lv);
        if brick_lv.is_some() && !has_pool {
            self.problems.push(Problem::OddLvmLayout {
                brick: brick.to_owned(),
                vg,
                lv,
                pool: pool.to_owned(),
            });
            return None;
        }
        if !has_pool {
            // 90% of the free space: lvcreate takes the pool's metadata volume and its
            // spare from the same volume group.
            self.steps.push(Step::run(
                format!("create thin pool {vg}/{pool}"),
                &[
                    "lvcreate",
                    "--yes",
                    "--type",
                    "thin-pool",
                    "--extents",
                    "90%FREE",
                    "--name",
                    pool,
                    &vg,
                ],
                T_LVM,
            ));
        }
        let label = layout::xfs_label(i);
        match brick_lv.map(|l| l.signatures.as_ref()) {
            None => {
                let size = format!("{}b", bd.size);
                self.steps.push(Step::run(
                    format!("create thin volume {vg}/{lv} in pool {pool}"),
                    &[
                        "lvcreate",
                        "--yes",
                        "--wipesignatures",
                        "y",
                        "--type",
                        "thin",
                        "--virtualsize",
                        &size,
                        "--thinpool",
                        pool,
                        "--name",
                        &lv,
                        &vg,
                    ],
                    T_LVM,
                ));
            }
            Some(None) => {
                self.problems.push(Problem::LvInactive {
                    brick: brick.to_owned(),
                    vg,
                    lv,
                });
                return None;
            }
            Some(Some(sigs)) if sigs.is_empty() => {}
            Some(Some(sigs)) => {
                if sigs.len() == 1 && sigs[0].kind == "xfs" {
                    if let Some(uuid) = sigs[0].uuid.clone() {
                        self.notes.push(format!(
                            "{brick}: {lv_dev} already holds its brick filesystem (XFS, UUID {uuid})"
                        ));
                        return Some(BrickFs {
                            device: lv_dev,
                            uuid,
                            sources,
                        });
                    }
                }
                let found = describe(sigs);
                if !self.desired.zap_device.enabled() {
                    self.problems.push(Problem::ForeignData {
                        brick: brick.to_owned(),
                        device: lv_dev,
                        found,
                    });
                    return None;
                }
                self.steps.push(Step::run(
                    format!("wipe every signature from {lv_dev} (ZapDevice is true): {found}"),
                    &["wipefs", "-a", &lv_dev],
                    T_WIPE,
                ));
            }
        }
        let uuid = self.fresh_uuid(i, brick)?;
        self.mkfs(&lv_dev, &label, &uuid);
        Some(BrickFs {
            device: lv_dev,
            uuid,
            sources,
        })
    }

    fn fresh_uuid(&mut self, i: usize, brick: &str) -> Option<String> {
        let value = self.facts.new_fs_uuids.get(i).cloned().unwrap_or_default();
        if is_uuid(&value) {
            Some(value)
        } else {
            self.problems.push(Problem::BadFreshUuid {
                brick: brick.to_owned(),
                value,
            });
            None
        }
    }

    /// `mkfs.xfs` without `-f`: should a signature appear between planning and this step,
    /// mkfs.xfs refuses instead of overwriting it.
    fn mkfs(&mut self, device: &str, label: &str, uuid: &str) {
        let uuid_opt = format!("uuid={uuid}");
        self.steps.push(Step::run(
            format!(
                "make an XFS filesystem labelled {label} on {device} (inode size 512, UUID {uuid})"
            ),
            &[
                "mkfs.xfs",
                "-i",
                layout::XFS_INODE_SIZE,
                "-L",
                label,
                "-m",
                &uuid_opt,
                device,
            ],
            T_MKFS,
        ));
    }

    fn relabel(&mut self) {
        if !self.facts.selinux_enabled || self.touched.is_empty() {
            return;
        }
        let mut argv = vec!["restorecon".to_owned(), "-R".to_owned()];
        for path in &self.touched {
            if !argv.contains(path) {
                argv.push(path.clone());
            }
        }
        self.steps.push(Step {
            description: "restore the SELinux labels of what was created or mounted".into(),
            action: Action::Run {
                argv,
                timeout_secs: T_RELABEL.as_secs(),
            },
        });
    }
}

/// The filesystem a brick is mounted from.
struct BrickFs {
    /// The device to mount (the disk, or the thin LV).
    device: String,
    /// Its UUID, for fstab.
    uuid: String,
    /// Every name a mount of it may show as its source.
    sources: Vec<String>,
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;
