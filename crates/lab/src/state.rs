//! The lab's state file (`DIR/lab.json`) and its on-disk layout.
//!
//! The state is written before each thing it names is made, so that `lab down` after a crash
//! knows what may exist. A lab started with a non-default `--dir` leaves a pointer file
//! `/var/lib/brickyard/lab/<name>.dir` so the other commands find it by name alone.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

use crate::LabError;
use crate::container::Runtime;
use crate::names::LabName;

/// Which store a lab runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The embedded file store in the lab directory.
    #[default]
    File,
    /// A real etcd started for the lab.
    Etcd,
}

/// Where labs live by default: `/var/lib/brickyard/lab/<name>`.
pub const LAB_ROOT: &str = "/var/lib/brickyard/lab";

/// The default directory of a lab.
pub fn default_dir(name: &LabName) -> PathBuf {
    Path::new(LAB_ROOT).join(name.as_str())
}

fn pointer_file(name: &LabName) -> PathBuf {
    Path::new(LAB_ROOT).join(format!("{name}.dir"))
}

/// The directory of lab `name`: `dir` when given, else the one its pointer file names, else
/// the default.
pub fn resolve_dir(name: &LabName, dir: Option<&Path>) -> PathBuf {
    if let Some(dir) = dir {
        return dir.to_owned();
    }
    match std::fs::read_to_string(pointer_file(name)) {
        Ok(s) if s.trim().starts_with('/') => PathBuf::from(s.trim()),
        _ => default_dir(name),
    }
}

/// Where `lab up` takes its machine-wide lock.
const LOCK_FILE: &str = "/run/lock/brickyard-lab.lock";

/// Holds the machine-wide lab lock until dropped: two `lab up` at once must not pick the
/// same subnet or name before either has made its bridge.
pub fn lock_labs() -> Result<nix::fcntl::Flock<std::fs::File>, LabError> {
    let path = Path::new(LOCK_FILE);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| LabError::io("create", parent, e))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| LabError::io("open", path, e))?;
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| LabError::io("lock", path, e.into()))
}

/// Remembers a non-default directory under the lab's name.
pub fn write_pointer(name: &LabName, dir: &Path) -> Result<(), LabError> {
    if dir == default_dir(name) {
        return Ok(());
    }
    let path = pointer_file(name);
    std::fs::create_dir_all(LAB_ROOT).map_err(|e| LabError::io("create", LAB_ROOT, e))?;
    std::fs::write(&path, format!("{}\n", dir.display()))
        .map_err(|e| LabError::io("write", &path, e))
}

/// Forgets the pointer; fine when there is none.
pub fn remove_pointer(name: &LabName) -> Result<(), LabError> {
    let path = pointer_file(name);
    match std::fs::remove_file(&path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(LabError::io("remove", &path, e)),
        _ => Ok(()),
    }
}

fn one() -> usize {
    1
}

/// Everything a lab made, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabState {
    /// The lab's name.
    pub name: LabName,
    /// The lab's directory.
    pub dir: PathBuf,
    /// The private subnet of the bridge and hosts.
    pub subnet: Ipv4Net,
    /// The machine's own address on the bridge.
    pub machine_ip: Ipv4Addr,
    /// Which store the lab runs.
    pub store: StoreKind,
    /// The store URL the hosts and the machine use.
    pub store_url: String,
    /// The etcd client port on 127.0.0.1, when the lab runs etcd.
    #[serde(default)]
    pub etcd_loopback_port: Option<u16>,
    /// How many etcd members the lab runs (with the etcd store).
    #[serde(default = "one")]
    pub etcd_members: usize,
    /// The program run as holder and supervisor (brickyard itself).
    pub exe: PathBuf,
    /// The command each host runs, as steps run one after the other; `None` when hosts run
    /// nothing by themselves. Placeholders are already replaced per host.
    #[serde(default)]
    pub host_command: Option<Vec<Vec<String>>>,
    /// Where the hosts' commands run: as processes in the hosts, or in containers.
    #[serde(default)]
    pub runtime: Runtime,
    /// Whether the hosts' glusterd finds gluster's geo-replication helper (see
    /// [`LabOptions::geo_replication`](crate::LabOptions::geo_replication)).
    #[serde(default)]
    pub geo_replication: bool,
    /// The hosts.
    pub hosts: Vec<HostState>,
    /// FUSE mounts made on the machine with `lab mount`.
    #[serde(default)]
    pub mounts: Vec<PathBuf>,
}

/// One host, as recorded.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HostState {
    /// 1-based index.
    pub index: usize,
    /// `HostName` in its config.
    pub host_name: String,
    /// `GlusterNodeName` in its config.
    pub gluster_node_name: String,
    /// Its network namespace (also its veth's name on the machine's side).
    pub netns: String,
    /// Its address on the bridge.
    pub ip: Ipv4Addr,
    /// Its state directory.
    pub dir: PathBuf,
    /// Its loop device, once attached.
    #[serde(default)]
    pub loop_device: Option<String>,
    /// The loop devices of its disks 2, 3, ... (its `ExtraBrickDevices`), in order.
    #[serde(default)]
    pub extra_loop_devices: Vec<String>,
}

impl HostState {
    /// The sparse file behind the host's disk.
    pub fn disk_file(&self) -> PathBuf {
        self.disk_file_n(1)
    }

    /// The sparse file behind the host's disk `n` (1-based): `disk.img`, `disk2.img`, ...
    pub fn disk_file_n(&self, n: usize) -> PathBuf {
        if n <= 1 {
            self.dir.join("disk.img")
        } else {
            self.dir.join(format!("disk{n}.img"))
        }
    }

    /// Every loop device of the host, disk 1 first.
    pub fn loop_devices(&self) -> Vec<String> {
        self.loop_device
            .iter()
            .chain(&self.extra_loop_devices)
            .cloned()
            .collect()
    }

    /// The holder's pid file.
    pub fn holder_pid_file(&self) -> PathBuf {
        self.dir.join("holder.pid")
    }

    /// The holder's log.
    pub fn holder_log(&self) -> PathBuf {
        self.dir.join("holder.log")
    }

    /// The supervisor's pid file.
    pub fn command_pid_file(&self) -> PathBuf {
        self.dir.join("command.pid")
    }

    /// The host command's log.
    pub fn command_log(&self) -> PathBuf {
        self.dir.join("command.log")
    }

    /// The directories mounted over the machine's inside the host: (source, target).
    pub fn mounts(&self) -> Vec<(PathBuf, &'static str)> {
        crate::holder::BIND_TARGETS
            .iter()
            .map(|(sub, target)| (self.dir.join(sub), *target))
            .collect()
    }
}

#[cfg(test)]
impl HostState {
    /// Host `index` of a lab named `lab` on 10.250.1.0/24, with its state in `dir`.
    pub(crate) fn sample(index: usize, dir: &str) -> Self {
        Self {
            index,
            host_name: format!("lab-{index}"),
            gluster_node_name: format!("lab-gluster-{index}"),
            netns: format!("byl-lab-{index}"),
            ip: Ipv4Addr::new(10, 250, 1, u8::try_from(index + 1).unwrap_or(u8::MAX)),
            dir: PathBuf::from(dir),
            loop_device: None,
            extra_loop_devices: Vec::new(),
        }
    }
}

impl LabState {
    /// The state file of a lab directory.
    pub fn path(dir: &Path) -> PathBuf {
        dir.join("lab.json")
    }

    /// Reads the state of lab `name` in `dir`; `Ok(None)` when there is none.
    pub fn read(name: &LabName, dir: &Path) -> Result<Option<Self>, LabError> {
        let path = Self::path(dir);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(LabError::io("read", &path, e)),
        };
        let state: Self = serde_json::from_slice(&bytes).map_err(|e| LabError::BadState {
            name: name.to_string(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        if &state.name != name {
            return Err(LabError::BadState {
                name: name.to_string(),
                path,
                reason: format!("it belongs to lab {:?}", state.name.as_str()),
            });
        }
        Ok(Some(state))
    }

    /// Writes the state atomically.
    pub fn write(&self) -> Result<(), LabError> {
        let path = Self::path(&self.dir);
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| LabError::BadState {
            name: self.name.to_string(),
            path: path.clone(),
            reason: e.to_string(),
        })?;
        brickyard_sys::fs::write_atomic(&path, &bytes, 0o644).map_err(LabError::fs)
    }
}
