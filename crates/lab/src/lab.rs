//! The lab's operations: up, status, exec, stop/start, mount, down.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use brickyard_exec::{Cmd, output, run};
use brickyard_model::{HostConfig, HostSpec, Sourced, ZapDevice};
use brickyard_store::configs::{self, LoadError};
use brickyard_store::{EtcdOptions, StoreUrl};
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Serialize};

use crate::container::{self, Limits, Runtime};
use crate::names::{LabName, MAX_HOSTS};
use crate::state::{self, HostState, LabState};
use crate::supervise::COMMAND_FILE;
use crate::{LabError, disk, etcd, net, spawn};
use brickyard_sys::procs::{self, NsId};

/// The default number of hosts.
pub const DEFAULT_HOSTS: usize = 3;
/// The default disk size per host: 1 GiB, sparse.
pub const DEFAULT_DISK_SIZE: u64 = 1 << 30;
/// The smallest disk XFS accepts (300 MB), rounded up.
const MIN_DISK_SIZE: u64 = 300 << 20;
const HOLDER_READY_TIMEOUT: Duration = Duration::from_secs(15);
const STOP_GRACE: Duration = Duration::from_secs(5);
const MOUNT_TIMEOUT: Duration = Duration::from_secs(60);

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

/// How to make a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The lab's name.
    pub name: LabName,
    /// How many hosts, 1 to 99.
    pub hosts: usize,
    /// Which store.
    pub store: StoreKind,
    /// Each host's disk size in bytes.
    pub disk_size: u64,
    /// The lab directory; `/var/lib/brickyard/lab/<name>` when `None`.
    pub dir: Option<PathBuf>,
    /// The subnet; a free `10.250.K.0/24` when `None`.
    pub subnet: Option<Ipv4Net>,
    /// What each host runs, supervised: steps run one after the other (like `&&`), started
    /// over when one fails or the last exits. In each argument `{store}` is replaced by the
    /// store URL, `{host}` by the host's `HostName` and `{ip}` by its address. `None`: hosts
    /// run nothing until told to.
    pub host_command: Option<Vec<Vec<String>>>,
    /// Where the host command runs: as processes in the host (the default) or in containers
    /// of an image, one per host.
    pub runtime: Runtime,
    /// The brickyard binary, run as each host's holder and supervisor.
    pub exe: PathBuf,
}

impl LabOptions {
    /// The defaults: 3 hosts, the file store, 1 GiB disks, this very binary.
    pub fn new(name: LabName) -> Self {
        Self {
            name,
            hosts: DEFAULT_HOSTS,
            store: StoreKind::File,
            disk_size: DEFAULT_DISK_SIZE,
            dir: None,
            subnet: None,
            host_command: None,
            runtime: Runtime::Process,
            exe: current_exe(),
        }
    }
}

/// This program's path; when it was replaced on disk while running, the new file at the
/// same path.
fn current_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("brickyard"));
    match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(s) => PathBuf::from(s),
        None => exe,
    }
}

/// Parses a size such as `1G`, `512M`, `1.5G` or `1073741824` (binary units, an optional
/// trailing `B` or `iB`).
pub fn parse_size(value: &str) -> Result<u64, LabError> {
    let bad = |problem: &str| LabError::BadOption {
        option: "--disk-size",
        value: value.to_owned(),
        problem: problem.to_owned(),
        fix: "give bytes or a number with K, M, G or T, e.g. 1G (at least 300M, the XFS minimum)"
            .to_owned(),
    };
    let s = value.trim();
    let s = s
        .strip_suffix("iB")
        .or_else(|| s.strip_suffix('B'))
        .unwrap_or(s);
    let (num, shift) = match s.chars().last() {
        Some('K' | 'k') => (&s[..s.len() - 1], 10),
        Some('M' | 'm') => (&s[..s.len() - 1], 20),
        Some('G' | 'g') => (&s[..s.len() - 1], 30),
        Some('T' | 't') => (&s[..s.len() - 1], 40),
        _ => (s, 0),
    };
    let n: f64 = num.parse().map_err(|_| bad("is not a size"))?;
    if !n.is_finite() || n <= 0.0 {
        return Err(bad("is not a positive size"));
    }
    let bytes = n * (1u64 << shift) as f64;
    if bytes > (1u64 << 50) as f64 {
        return Err(bad("is larger than a lab disk can sensibly be"));
    }
    let bytes = bytes as u64;
    if bytes < MIN_DISK_SIZE {
        return Err(bad("is smaller than 300M, the smallest XFS file system"));
    }
    Ok(bytes)
}

/// Parses a `--subnet` value such as `10.250.9.0/24`.
pub fn parse_subnet(value: &str) -> Result<Ipv4Net, LabError> {
    value.trim().parse().map_err(|_| LabError::BadOption {
        option: "--subnet",
        value: value.to_owned(),
        problem: "is not an IPv4 network".into(),
        fix: "write it as ADDRESS/PREFIX, e.g. 10.250.9.0/24".into(),
    })
}

/// The node agent's command for [`LabOptions::host_command`]: prepare the host for
/// gluster on `eth0`, then run the agent, both against the lab's store.
pub fn agent_command(exe: &Path) -> Vec<Vec<String>> {
    let exe = exe.display().to_string();
    let s = |v: &[&str]| v.iter().map(|a| (*a).to_owned()).collect::<Vec<_>>();
    vec![
        s(&[
            &exe,
            "--store",
            "{store}",
            "host",
            "prepare",
            "--host",
            "{host}",
            "--interface",
            "eth0",
        ]),
        // The host is named explicitly: the agent renames the host to its
        // GlusterNodeName, so a restart must not go by the host name.
        s(&[
            &exe, "--store", "{store}", "node", "run", "--host", "{host}",
        ]),
    ]
}

/// One step of `lab up`, for a progress display.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Steps done so far, this one included.
    pub step: usize,
    /// All steps.
    pub total: usize,
    /// What was just done.
    pub message: String,
}

/// A lab on this machine, from its state file.
#[derive(Debug, Clone)]
pub struct Lab {
    state: LabState,
}

/// What `lab status` reports about one host.
#[derive(Debug, Clone, Serialize)]
pub struct HostStatus {
    /// 1-based index.
    pub index: usize,
    /// `HostName`.
    pub host_name: String,
    /// `GlusterNodeName`.
    pub gluster_node_name: String,
    /// Its address.
    pub ip: Ipv4Addr,
    /// Its network namespace.
    pub netns: String,
    /// Whether the namespace exists.
    pub netns_present: bool,
    /// The holder's pid, when it runs.
    pub holder_pid: Option<i32>,
    /// Its loop device, when attached.
    pub loop_device: Option<String>,
    /// The disk file.
    pub disk_file: PathBuf,
    /// The disk's size in bytes (0 when the file is missing).
    pub disk_size: u64,
    /// How many processes run in the host.
    pub processes: usize,
    /// The supervisor's pid, when it runs.
    pub command_pid: Option<i32>,
}

/// What `lab status` reports.
#[derive(Debug, Clone, Serialize)]
pub struct LabStatus {
    /// The lab's name.
    pub name: String,
    /// Its directory.
    pub dir: PathBuf,
    /// Its subnet.
    pub subnet: Ipv4Net,
    /// The bridge.
    pub bridge: String,
    /// Whether the bridge exists.
    pub bridge_present: bool,
    /// The machine's address on the bridge.
    pub machine_ip: Ipv4Addr,
    /// The store kind.
    pub store: StoreKind,
    /// The store URL.
    pub store_url: String,
    /// Whether the lab's etcd runs (`None` with the file store).
    pub etcd_running: Option<bool>,
    /// Whether hosts run a command.
    pub host_command: Option<Vec<Vec<String>>>,
    /// Where the hosts' commands run.
    pub runtime: Runtime,
    /// The hosts.
    pub hosts: Vec<HostStatus>,
    /// FUSE mounts on the machine made with `lab mount`.
    pub mounts: Vec<PathBuf>,
}

/// What `lab down` removed.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DownReport {
    /// One line per thing removed.
    pub removed: Vec<String>,
}

fn require_root() -> Result<(), LabError> {
    if nix::unistd::geteuid().is_root() {
        Ok(())
    } else {
        Err(LabError::NotRoot)
    }
}

fn mkdir(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io("create directory", path, e))
}

fn absolute(dir: &Path) -> Result<PathBuf, LabError> {
    let abs = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir()
            .map_err(|e| LabError::io("find the current directory for", dir, e))?
            .join(dir)
    };
    if abs
        .components()
        .any(|c| matches!(c, std::path::Component::ParentDir))
        || abs.to_str().is_none()
    {
        return Err(LabError::BadOption {
            option: "--dir",
            value: dir.display().to_string(),
            problem: "contains '..' or is not UTF-8".into(),
            fix: "give a plain absolute directory, e.g. /var/lib/brickyard/lab/lab".into(),
        });
    }
    Ok(abs)
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().rev().take(5).collect();
    if lines.is_empty() {
        format!("{} is empty", path.display())
    } else {
        format!(
            "{} ends with: {}",
            path.display(),
            lines.into_iter().rev().collect::<Vec<_>>().join(" / ")
        )
    }
}

fn substitute(steps: &[Vec<String>], store: &str, host: &HostState) -> Vec<Vec<String>> {
    steps
        .iter()
        .map(|step| {
            step.iter()
                .map(|a| {
                    a.replace("{store}", store)
                        .replace("{host}", &host.host_name)
                        .replace("{ip}", &host.ip.to_string())
                })
                .collect()
        })
        .collect()
}

impl Lab {
    /// Opens lab `name` from its state file (`dir`, else its pointer, else the default).
    pub fn open(name: &LabName, dir: Option<&Path>) -> Result<Self, LabError> {
        let dir = match dir {
            Some(d) => absolute(d)?,
            None => state::resolve_dir(name, None),
        };
        match LabState::read(name, &dir)? {
            Some(state) => Ok(Self { state }),
            None => Err(LabError::NotFound {
                name: name.to_string(),
                state: LabState::path(&dir),
            }),
        }
    }

    /// The recorded state.
    pub fn state(&self) -> &LabState {
        &self.state
    }

    /// The store URL for the machine and the hosts.
    pub fn store_url(&self) -> &str {
        &self.state.store_url
    }

    /// The shell lines that point brickyard at the lab's store.
    pub fn env_lines(&self) -> Vec<String> {
        vec![format!("export BRICKYARD_STORE={}", self.state.store_url)]
    }

    /// The host named by `HostName`, `GlusterNodeName`, namespace or 1-based index.
    pub fn host(&self, selector: &str) -> Result<&HostState, LabError> {
        let by_index = selector.parse::<usize>().ok();
        self.state
            .hosts
            .iter()
            .find(|h| {
                Some(h.index) == by_index
                    || h.host_name == selector
                    || h.gluster_node_name == selector
                    || h.netns == selector
            })
            .ok_or_else(|| LabError::NoSuchHost {
                lab: self.state.name.to_string(),
                value: selector.to_owned(),
                hosts: self
                    .state
                    .hosts
                    .iter()
                    .map(|h| h.host_name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }

    /// The running holder of `host`: its pid file names a live process that is in the host's
    /// network namespace and in a mount namespace other than the machine's. Everything that
    /// runs on the host enters this process's namespaces.
    pub fn holder_pid(&self, host: &HostState) -> Option<i32> {
        let pid = procs::read_pid(&host.holder_pid_file())?;
        let netns = procs::ns_id(&Path::new("/run/netns").join(&host.netns))?;
        let me = std::process::id() as i32;
        (procs::alive(pid)
            && procs::pid_ns(pid, "net") == Some(netns)
            && procs::pid_ns(pid, "mnt").is_some()
            && procs::pid_ns(pid, "mnt") != procs::pid_ns(me, "mnt"))
        .then_some(pid)
    }

    /// The argv that runs `argv` inside `host`: in its holder's mount, UTS and network
    /// namespaces, or with the image runtime in those of the host's container. Fails when the
    /// host is stopped or its container is not running.
    pub async fn enter_argv(
        &self,
        host: &HostState,
        argv: &[String],
    ) -> Result<Vec<String>, LabError> {
        let down = || LabError::HostDown {
            lab: self.state.name.to_string(),
            host: host.host_name.clone(),
        };
        let holder = self.holder_pid(host).ok_or_else(down)?;
        let pid = match &self.state.runtime {
            Runtime::Process => holder,
            Runtime::Image { .. } => container::pid(&container::container_name(host))
                .await
                .ok_or_else(|| LabError::ContainerDown {
                    lab: self.state.name.to_string(),
                    host: host.host_name.clone(),
                    container: container::container_name(host),
                })?,
        };
        let mut out: Vec<String> = ["nsenter", "-t", &pid.to_string(), "-m", "-u", "-n"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        if matches!(self.state.runtime, Runtime::Image { .. }) {
            // A container has its own PID and IPC namespaces, and its /proc shows only its
            // own PID namespace: a process outside it would find no /proc/self there.
            out.extend(["-p".to_owned(), "-i".to_owned()]);
        }
        out.push("--".into());
        out.extend(argv.iter().cloned());
        Ok(out)
    }

    /// A command that runs `argv` inside `host`, for the command runner.
    pub async fn cmd_in(&self, host: &HostState, argv: &[String]) -> Result<Cmd, LabError> {
        Ok(Cmd::new(self.enter_argv(host, argv).await?))
    }

    /// Runs `argv` inside `host` with this process's standard input, output and error and
    /// environment, and returns its exit code (128 + signal when killed), for `lab exec`.
    pub async fn exec_interactive(
        &self,
        host: &HostState,
        argv: &[String],
    ) -> Result<i32, LabError> {
        spawn::interactive(&self.enter_argv(host, argv).await?)
    }

    /// Live processes of `host`: those in its network namespace or its holder's mount
    /// namespace.
    pub fn host_pids(&self, host: &HostState) -> Result<Vec<i32>, LabError> {
        procs::pids_in(&host_namespaces(host, self.holder_pid(host)))
            .map_err(|e| LabError::observe("the host's processes", e))
    }

    /// Starts the lab's host command inside `host` under a supervisor, and returns the
    /// supervisor's pid; `Ok(None)` when the lab has no host command.
    ///
    /// With the process runtime the supervisor runs inside the host (its holder's
    /// namespaces). With the image runtime it runs `podman run` for each step, so it stays in
    /// the machine's mount namespace, where podman keeps its state, and enters only the host's
    /// network namespace, so that stopping the host's processes stops it too.
    pub async fn start_command(&self, host: &HostState) -> Result<Option<i32>, LabError> {
        let Some(template) = &self.state.host_command else {
            return Ok(None);
        };
        let netns_file = Path::new("/run/netns").join(&host.netns);
        if let Some(pid) = procs::read_pid(&host.command_pid_file())
            && procs::alive(pid)
        {
            let inside = match &self.state.runtime {
                Runtime::Process => {
                    procs::pid_ns(pid, "mnt")
                        == self.holder_pid(host).and_then(|h| procs::pid_ns(h, "mnt"))
                }
                Runtime::Image { .. } => procs::pid_ns(pid, "net") == procs::ns_id(&netns_file),
            };
            if inside {
                return Ok(Some(pid));
            }
        }
        let mut steps = substitute(template, &self.state.store_url, host);
        if let Runtime::Image { image } = &self.state.runtime {
            let store_dir = self.state.dir.join("store");
            let binds: Vec<&Path> = match self.state.store {
                StoreKind::File => vec![store_dir.as_path()],
                StoreKind::Etcd => Vec::new(),
            };
            let limits = Limits::current();
            steps = steps
                .iter()
                .map(|step| container::run_argv(host, image, step, &binds, limits))
                .collect();
        }
        let file = host.dir.join(COMMAND_FILE);
        let json = serde_json::to_vec_pretty(&steps)
            .map_err(|e| LabError::io("write", &file, std::io::Error::other(e.to_string())))?;
        brickyard_sys::fs::write_atomic(&file, &json, 0o644).map_err(LabError::fs)?;
        let supervise = [
            self.state.exe.display().to_string(),
            "lab".into(),
            "supervise".into(),
            "--host-dir".into(),
            host.dir.display().to_string(),
        ];
        let argv = match &self.state.runtime {
            Runtime::Process => self.enter_argv(host, &supervise).await?,
            Runtime::Image { .. } => {
                let mut v = vec![
                    "nsenter".to_owned(),
                    format!("--net={}", netns_file.display()),
                    "--".into(),
                ];
                v.extend(supervise);
                v
            }
        };
        let pid = spawn::detached(
            &argv,
            &host.command_log(),
            &[
                ("BRICKYARD_STORE", self.state.store_url.as_str()),
                ("BRICKYARD_HOST", host.host_name.as_str()),
            ],
        )?;
        Ok(Some(pid))
    }

    /// Starts `host`'s holder (its namespaces and mounts) and waits until it is ready.
    async fn start_holder(&self, host: &HostState) -> Result<i32, LabError> {
        if let Some(pid) = self.holder_pid(host) {
            return Ok(pid);
        }
        let _ = std::fs::remove_file(host.holder_pid_file());
        let argv: Vec<String> = [
            "ip",
            "netns",
            "exec",
            &host.netns,
            "unshare",
            "--mount",
            "--uts",
            "--propagation",
            "private",
            "--",
            &self.state.exe.display().to_string(),
            "lab",
            "holder",
            "--host-dir",
            &host.dir.display().to_string(),
            "--hostname",
            &host.host_name,
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut argv = argv;
        if matches!(self.state.runtime, Runtime::Image { .. }) {
            // The image seeds the host's empty directories from its own package files.
            argv.push("--no-seed".into());
        }
        let spawned = spawn::detached(&argv, &host.holder_log(), &[])?;
        let deadline = Instant::now() + HOLDER_READY_TIMEOUT;
        while Instant::now() < deadline {
            if let Some(pid) = self.holder_pid(host) {
                return Ok(pid);
            }
            if !procs::alive(spawned) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        Err(LabError::Timeout {
            what: format!("host {}'s holder getting ready", host.host_name),
            secs: HOLDER_READY_TIMEOUT.as_secs(),
            detail: tail(&host.holder_log()),
        })
    }

    /// Makes a lab: network, hosts, disks, store, configs, and starts the host command if
    /// there is one. On failure, removes whatever it made.
    pub async fn up(
        opts: &LabOptions,
        progress: &(dyn Fn(Progress) + Sync),
    ) -> Result<Self, LabError> {
        require_root()?;
        let name = &opts.name;
        if opts.hosts == 0 || opts.hosts > MAX_HOSTS {
            return Err(LabError::BadOption {
                option: "--hosts",
                value: opts.hosts.to_string(),
                problem: format!("is not between 1 and {MAX_HOSTS}"),
                fix: "give a host count from 1 to 99".into(),
            });
        }
        let dir = match &opts.dir {
            Some(d) => absolute(d)?,
            None => state::default_dir(name),
        };
        if let Runtime::Image { image } = &opts.runtime
            && !container::image_exists(image).await?
        {
            return Err(LabError::BadOption {
                option: "--image",
                value: image.clone(),
                problem: "is not in podman's local images".into(),
                fix: "build it with `make image` (or name an image `podman images` lists)".into(),
            });
        }
        let lock = state::lock_labs()?;
        // A lab of this name must not exist in any form, or two would share names.
        if LabState::path(&dir).exists() {
            return Err(LabError::Exists {
                name: name.to_string(),
                what: format!("state file {}", LabState::path(&dir).display()),
            });
        }
        let existing = Self::leftover_net(name).await?;
        if let Some(first) = existing.first() {
            return Err(LabError::Exists {
                name: name.to_string(),
                what: format!("{first} is present"),
            });
        }
        let taken = net::taken_networks().await?;
        let subnet = match opts.subnet {
            Some(s) => {
                net::check_subnet(s, opts.hosts, &taken)?;
                s
            }
            None => net::choose_subnet(name, &taken).ok_or_else(|| LabError::BadOption {
                option: "--subnet",
                value: "10.250.0.0/16".into(),
                problem: "has no free /24 left on this machine".into(),
                fix: "give a free private subnet with --subnet".into(),
            })?,
        };
        let machine_ip = net::machine_ip(subnet);
        let (store_url, _) = match opts.store {
            StoreKind::File => (format!("file://{}", dir.join("store").display()), ()),
            StoreKind::Etcd => (format!("etcd://{machine_ip}:{}", etcd::CLIENT_PORT), ()),
        };
        let hosts = (1..=opts.hosts)
            .map(|i| HostState {
                index: i,
                host_name: name.host_name(i),
                gluster_node_name: name.gluster_node_name(i),
                netns: name.netns(i),
                ip: net::host_ip(subnet, i),
                dir: dir.join("hosts").join(i.to_string()),
                loop_device: None,
            })
            .collect();
        let mut lab = Self {
            state: LabState {
                name: name.clone(),
                dir: dir.clone(),
                subnet,
                machine_ip,
                store: opts.store,
                store_url,
                etcd_loopback_port: None,
                exe: opts.exe.clone(),
                host_command: opts.host_command.clone(),
                runtime: opts.runtime.clone(),
                hosts,
                mounts: Vec::new(),
            },
        };
        mkdir(&dir)?;
        lab.state.write()?;
        state::write_pointer(name, &dir)?;
        match lab.build(opts, progress, lock).await {
            Ok(()) => Ok(lab),
            Err(e) => {
                // Leave nothing half-made behind; the error that stopped `up` is the one
                // to report.
                if let Err(down) = Self::down(name, Some(&dir)).await {
                    tracing::warn!(lab = %name, error = %down, "cleaning up after a failed lab up");
                }
                Err(e)
            }
        }
    }

    async fn build(
        &mut self,
        opts: &LabOptions,
        progress: &(dyn Fn(Progress) + Sync),
        lock: nix::fcntl::Flock<std::fs::File>,
    ) -> Result<(), LabError> {
        let n = self.state.hosts.len();
        let total = n + 3 + usize::from(self.state.host_command.is_some());
        let mut step = 0;
        let mut report = |message: String| {
            step += 1;
            progress(Progress {
                step,
                total,
                message,
            });
        };
        let bridge = self.state.name.bridge();
        net::create_bridge(&bridge, self.state.machine_ip, self.state.subnet).await?;
        // The subnet is now routed, so the next `lab up` sees it as taken.
        drop(lock);
        report(format!(
            "bridge {bridge} with the machine at {}",
            self.state.machine_ip
        ));

        for i in 0..n {
            let host = self.state.hosts[i].clone();
            mkdir(&host.dir)?;
            disk::create_file(&host.disk_file(), opts.disk_size)?;
            let dev = disk::attach(&host.disk_file()).await?;
            self.state.hosts[i].loop_device = Some(dev.clone());
            self.state.write()?;
            net::create_host_net(&bridge, &host.netns, host.ip, self.state.subnet).await?;
            let pid = self.start_holder(&host).await?;
            report(format!(
                "host {} at {} (namespace {}, disk {dev}, holder {pid})",
                host.host_name, host.ip, host.netns
            ));
        }

        if self.state.store == StoreKind::Etcd {
            let port = etcd::start(
                self.state.name.as_str(),
                &self.state.dir,
                self.state.machine_ip,
            )
            .await?;
            self.state.etcd_loopback_port = Some(port);
            self.state.write()?;
        }
        report(format!("store {}", self.state.store_url));

        let configs = self.write_configs()?;
        self.load_configs(&configs).await?;
        report(format!(
            "{} host configs in {} loaded into the store",
            configs.len(),
            self.state.dir.join("configs").display()
        ));

        if self.state.host_command.is_some() {
            for host in &self.state.hosts {
                self.start_command(host).await?;
            }
            report("host commands started".into());
        }
        Ok(())
    }

    fn write_configs(&self) -> Result<Vec<Sourced>, LabError> {
        let dir = self.state.dir.join("configs");
        mkdir(&dir)?;
        let prefix = self.state.subnet.prefix_len();
        let mut out = Vec::new();
        for host in &self.state.hosts {
            let config = HostConfig::build(HostSpec {
                host_name: host.host_name.clone(),
                gluster_node_name: host.gluster_node_name.clone(),
                ip_address: IpNet::V4(
                    Ipv4Net::new(host.ip, prefix).expect("the subnet's prefix length is valid"),
                ),
                brick_device: host.loop_device.clone().unwrap_or_default(),
                extra_brick_devices: Vec::new(),
                zap_device: ZapDevice::Text(true),
                peers: self
                    .state
                    .hosts
                    .iter()
                    .filter(|h| h.index != host.index)
                    .map(|h| h.ip.into())
                    .collect(),
                zone: None,
            });
            let path = dir.join(format!("{}.json", host.host_name));
            std::fs::write(&path, &config.raw).map_err(|e| LabError::io("write", &path, e))?;
            out.push(Sourced {
                source: path.display().to_string(),
                config,
            });
        }
        Ok(out)
    }

    async fn load_configs(&self, configs: &[Sourced]) -> Result<(), LabError> {
        let url: StoreUrl = self
            .state
            .store_url
            .parse()
            .map_err(|source| self.store_err(source))?;
        let store = brickyard_store::open(&url, &EtcdOptions::default())
            .await
            .map_err(|source| self.store_err(source))?;
        match configs::load(store.as_ref(), configs, false).await {
            Ok(_) => Ok(()),
            Err(LoadError::Store(source)) => Err(self.store_err(source)),
            Err(LoadError::Invalid(report)) => Err(LabError::Load {
                detail: report
                    .issues
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            }),
            Err(e) => Err(LabError::Load {
                detail: e.to_string(),
            }),
        }
    }

    fn store_err(&self, source: brickyard_store::StoreError) -> LabError {
        LabError::Store {
            lab: self.state.name.to_string(),
            source,
        }
    }

    /// Stops every process of `host` (TERM, then KILL after 5 s); its disk, loop device,
    /// namespace and state directory stay. Returns how many processes were stopped.
    pub async fn stop_host(&self, host: &HostState) -> Result<usize, LabError> {
        let namespaces = host_namespaces(host, self.holder_pid(host));
        let mut stopped = 0;
        if matches!(self.state.runtime, Runtime::Image { .. }) {
            stopped += self.stop_container(host).await?;
        }
        // Rounds, because a supervisor may start something new while it is being stopped.
        for _ in 0..5 {
            let pids = procs::pids_in(&namespaces)
                .map_err(|e| LabError::observe("the host's processes", e))?;
            if pids.is_empty() {
                let _ = std::fs::remove_file(host.holder_pid_file());
                let _ = std::fs::remove_file(host.command_pid_file());
                return Ok(stopped);
            }
            stopped += pids.len();
            let left = tokio::task::spawn_blocking(move || procs::terminate(&pids, STOP_GRACE))
                .await
                .unwrap_or_default();
            if !left.is_empty() {
                tracing::warn!(host = %host.host_name, ?left, "processes survived SIGKILL");
            }
        }
        Err(LabError::Timeout {
            what: format!("every process of host {} stopping", host.host_name),
            secs: 5 * STOP_GRACE.as_secs(),
            detail: format!(
                "still running: {:?}; see {}",
                procs::pids_in(&namespaces),
                host.command_log().display()
            ),
        })
    }

    /// Kills `host`'s supervisor, so that nothing starts the container again, then the
    /// container through podman, so that podman's record of it goes too (killing its
    /// processes behind podman's back leaves a record podman cannot always remove at once).
    /// Returns how many processes it stopped.
    async fn stop_container(&self, host: &HostState) -> Result<usize, LabError> {
        let netns = procs::ns_id(&Path::new("/run/netns").join(&host.netns));
        let mut stopped = 0;
        if let Some(pid) = procs::read_pid(&host.command_pid_file())
            && procs::alive(pid)
            && netns.is_some()
            && procs::pid_ns(pid, "net") == netns
        {
            let left = tokio::task::spawn_blocking(move || procs::kill_now(&[pid]))
                .await
                .unwrap_or_default();
            if left.is_empty() {
                stopped += 1;
            }
        }
        container::remove(&container::container_name(host)).await?;
        Ok(stopped)
    }

    /// Starts `host` again after [`Lab::stop_host`]: its holder, then its command.
    pub async fn start_host(&self, host: &HostState) -> Result<i32, LabError> {
        require_root()?;
        if !Path::new("/run/netns").join(&host.netns).exists() {
            return Err(LabError::BadState {
                name: self.state.name.to_string(),
                path: Path::new("/run/netns").join(&host.netns),
                reason: "the host's network namespace is gone".into(),
            });
        }
        let pid = self.start_holder(host).await?;
        self.start_command(host).await?;
        Ok(pid)
    }

    /// What runs and what exists.
    pub async fn status(&self) -> Result<LabStatus, LabError> {
        let links = net::links().await?;
        let netns = net::netns_list().await?;
        let attached = disk::attached_under(&self.state.dir).await?;
        let hosts = self
            .state
            .hosts
            .iter()
            .map(|h| {
                let holder = self.holder_pid(h);
                let command_pid = procs::read_pid(&h.command_pid_file())
                    .filter(|&p| procs::alive(p) && holder.is_some());
                let disk = h.disk_file();
                Ok(HostStatus {
                    index: h.index,
                    host_name: h.host_name.clone(),
                    gluster_node_name: h.gluster_node_name.clone(),
                    ip: h.ip,
                    netns: h.netns.clone(),
                    netns_present: netns.contains(&h.netns),
                    holder_pid: holder,
                    loop_device: attached
                        .iter()
                        .find(|(_, f)| *f == disk)
                        .map(|(d, _)| d.clone()),
                    disk_size: std::fs::metadata(&disk).map(|m| m.len()).unwrap_or(0),
                    disk_file: disk,
                    processes: self.host_pids(h)?.len(),
                    command_pid,
                })
            })
            .collect::<Result<Vec<_>, LabError>>()?;
        let etcd_running = (self.state.store == StoreKind::Etcd)
            .then(|| procs::read_pid(&etcd::pid_file(&self.state.dir)).is_some_and(procs::alive));
        Ok(LabStatus {
            name: self.state.name.to_string(),
            dir: self.state.dir.clone(),
            subnet: self.state.subnet,
            bridge: self.state.name.bridge(),
            bridge_present: links.contains(&self.state.name.bridge()),
            machine_ip: self.state.machine_ip,
            store: self.state.store,
            store_url: self.state.store_url.clone(),
            etcd_running,
            host_command: self.state.host_command.clone(),
            runtime: self.state.runtime.clone(),
            hosts,
            mounts: self.state.mounts.clone(),
        })
    }

    /// Mounts gluster volume `volume` at `path` on the machine (FUSE), through the first
    /// host with the others as backup volfile servers.
    pub async fn mount(&mut self, volume: &str, path: &Path) -> Result<(), LabError> {
        brickyard_model::names::check_volume_name(volume).map_err(|e| LabError::BadOption {
            option: "VOLUME",
            value: volume.to_owned(),
            problem: e.problem.clone(),
            fix: e.fix.to_owned(),
        })?;
        let path = absolute(path)?;
        mkdir(&path)?;
        let Some((first, rest)) = self.state.hosts.split_first() else {
            return Ok(());
        };
        let backups = rest
            .iter()
            .map(|h| h.ip.to_string())
            .collect::<Vec<_>>()
            .join(":");
        let mut argv = vec!["mount".to_owned(), "-t".into(), "glusterfs".into()];
        if !backups.is_empty() {
            argv.extend(["-o".into(), format!("backup-volfile-servers={backups}")]);
        }
        argv.push(format!("{}:/{volume}", first.ip));
        argv.push(path.display().to_string());
        // Recorded first, so that `lab down` unmounts it even if this process dies mid-way.
        if !self.state.mounts.contains(&path) {
            self.state.mounts.push(path.clone());
            self.state.write()?;
        }
        run(&Cmd::new(argv).timeout(MOUNT_TIMEOUT))
            .await
            .map_err(|e| {
                LabError::cmd(
                    format!(
                        "mount volume {volume} of lab {} at {} (does the volume exist and is it started?)",
                        self.state.name,
                        path.display()
                    ),
                    e,
                )
            })?;
        Ok(())
    }

    /// Unmounts a FUSE mount made with [`Lab::mount`].
    pub async fn umount(&mut self, path: &Path) -> Result<(), LabError> {
        let path = absolute(path)?;
        unmount(&path).await?;
        self.state.mounts.retain(|m| *m != path);
        self.state.write()
    }

    /// The lab's network objects present on the machine: its bridge, veths and namespaces.
    async fn leftover_net(name: &LabName) -> Result<Vec<String>, LabError> {
        let mut found = Vec::new();
        for link in net::links().await? {
            if link == name.bridge() || name.index_of_netns(&link).is_some() {
                found.push(format!("interface {link}"));
            }
        }
        for ns in net::netns_list().await? {
            if name.index_of_netns(&ns).is_some() {
                found.push(format!("network namespace {ns}"));
            }
        }
        Ok(found)
    }

    /// Removes everything lab `name` made: processes, mounts, loop devices, namespaces,
    /// interfaces, etcd and files. Works from the state file and by name, so also after a
    /// crash half-way through `up`; removing a lab that is gone does nothing.
    pub async fn down(name: &LabName, dir: Option<&Path>) -> Result<DownReport, LabError> {
        require_root()?;
        let dir = match dir {
            Some(d) => absolute(d)?,
            None => state::resolve_dir(name, None),
        };
        let mut problems = Vec::new();
        let mut report = DownReport::default();
        let state = match LabState::read(name, &dir) {
            Ok(s) => s,
            Err(e) => {
                problems.push(e.to_string());
                None
            }
        };
        let lab = state.map(|state| Self { state });

        // 1. FUSE mounts on the machine: recorded ones, and any gluster mount served from the
        // lab's subnet.
        let mut mounts: Vec<PathBuf> = lab
            .as_ref()
            .map(|l| l.state.mounts.clone())
            .unwrap_or_default();
        let table =
            brickyard_sys::mounts::read().map_err(|e| LabError::observe("the mount table", e))?;
        if let Some(l) = &lab {
            for m in &table {
                let from_lab = m
                    .source
                    .split_once(':')
                    .and_then(|(h, _)| h.parse::<Ipv4Addr>().ok())
                    .is_some_and(|ip| l.state.subnet.contains(&ip));
                if m.fstype.starts_with("fuse.glusterfs") && from_lab && !mounts.contains(&m.target)
                {
                    mounts.push(m.target.clone());
                }
            }
        }
        let mounted: Vec<PathBuf> = table.into_iter().map(|m| m.target).collect();
        for m in mounts.iter().filter(|m| mounted.contains(m)) {
            match unmount(m).await {
                Ok(()) => report.removed.push(format!("mount {}", m.display())),
                Err(e) => problems.push(e.to_string()),
            }
        }

        // 2. Processes: everything in the lab's network namespaces and holders' mount
        // namespaces, anything started with a host directory as an argument, and etcd.
        let mut netns_names: Vec<String> = net::netns_list()
            .await?
            .into_iter()
            .filter(|n| name.index_of_netns(n).is_some())
            .collect();
        if let Some(l) = &lab {
            for h in &l.state.hosts {
                if !netns_names.contains(&h.netns) {
                    netns_names.push(h.netns.clone());
                }
            }
        }
        if let Some(l) = &lab
            && matches!(l.state.runtime, Runtime::Image { .. })
        {
            for h in &l.state.hosts {
                if let Err(e) = l.stop_container(h).await {
                    problems.push(e.to_string());
                }
            }
        }
        let hosts_dir = dir.join("hosts");
        let mut host_dirs: Vec<PathBuf> = std::fs::read_dir(&hosts_dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        host_dirs.sort();
        for _round in 0..3 {
            let mut namespaces: Vec<(&str, NsId)> = Vec::new();
            let me = std::process::id() as i32;
            for ns in &netns_names {
                if let Some(id) = procs::ns_id(&Path::new("/run/netns").join(ns))
                    && Some(id) != procs::pid_ns(me, "net")
                {
                    namespaces.push(("net", id));
                }
            }
            if let Some(l) = &lab {
                for h in &l.state.hosts {
                    if let Some(pid) = l.holder_pid(h)
                        && let Some(id) = procs::pid_ns(pid, "mnt")
                    {
                        namespaces.push(("mnt", id));
                    }
                }
            }
            let mut pids = Vec::new();
            let mut look = |found: Result<Vec<i32>, brickyard_sys::ParseError>| match found {
                Ok(p) => pids.extend(p),
                Err(e) => problems.push(format!("cannot list processes: {e}")),
            };
            look(procs::pids_in(&namespaces));
            for d in &host_dirs {
                look(procs::pids_with_arg(&d.display().to_string()));
            }
            look(procs::pids_with_arg(
                &etcd::data_dir(&dir).display().to_string(),
            ));
            pids.sort_unstable();
            pids.dedup();
            if pids.is_empty() {
                break;
            }
            report.removed.push(format!("{} processes", pids.len()));
            let left = tokio::task::spawn_blocking(move || procs::kill_now(&pids))
                .await
                .unwrap_or_default();
            if !left.is_empty() {
                problems.push(format!("processes {left:?} survived SIGKILL"));
            }
        }

        // 2b. Containers of the image runtime, named after the hosts' namespaces: their
        // processes are gone, podman's record of them is not. Without a state file the runtime
        // is unknown, so they are looked for whenever podman is installed.
        let containers = match &lab {
            Some(l) => matches!(l.state.runtime, Runtime::Image { .. }),
            None => container::podman_installed(),
        };
        if containers {
            for ns in &netns_names {
                if let Err(e) = container::remove(ns).await {
                    problems.push(e.to_string());
                }
            }
        }

        // 3. Loop devices backed by files in the lab directory. A device whose mount is still
        // being torn down is detached by the kernel once it is free, so wait for that.
        let mut devices: Vec<String> = disk::attached_under(&dir)
            .await?
            .into_iter()
            .map(|(d, _)| d)
            .collect();
        devices.sort();
        for d in &devices {
            match disk::detach(d).await {
                Ok(()) => report.removed.push(format!("loop device {d}")),
                Err(e) => problems.push(e.to_string()),
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while !disk::attached_under(&dir).await?.is_empty() && Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        for (d, f) in disk::attached_under(&dir).await? {
            problems.push(format!(
                "loop device {d} ({}) is still attached",
                f.display()
            ));
        }

        // 4. Namespaces, then interfaces (a veth goes with its namespace; the bridge and any
        // veth whose namespace was never made remain).
        for ns in &netns_names {
            if net::netns_list().await?.contains(ns) {
                match net::delete_netns(ns).await {
                    Ok(()) => report.removed.push(format!("network namespace {ns}")),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }
        for link in net::links().await? {
            if link == name.bridge() || name.index_of_netns(&link).is_some() {
                match net::delete_link(&link).await {
                    Ok(()) => report.removed.push(format!("interface {link}")),
                    Err(e) => problems.push(e.to_string()),
                }
            }
        }

        // 5. Files: only what the lab writes, so that a --dir given by mistake loses nothing
        // else; then the directory itself when that leaves it empty.
        if problems.is_empty() {
            for entry in [
                "hosts",
                "configs",
                "store",
                "etcd",
                "lab.json",
                ".lab.json.tmp",
            ] {
                let p = dir.join(entry);
                let result = if p.is_dir() {
                    std::fs::remove_dir_all(&p)
                } else {
                    std::fs::remove_file(&p)
                };
                match result {
                    Ok(()) => report.removed.push(p.display().to_string()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => problems.push(format!("remove {}: {e}", p.display())),
                }
            }
            let _ = std::fs::remove_dir(&dir);
            state::remove_pointer(name)?;
            // The labs' parent directory goes too once no lab is left in it.
            let _ = std::fs::remove_dir(state::LAB_ROOT);
        }
        if problems.is_empty() {
            Ok(report)
        } else {
            Err(LabError::Leftovers {
                name: name.to_string(),
                problems,
            })
        }
    }
}

/// The namespaces that make up `host`: its network namespace and its holder's mount
/// namespace, each only when it is not the machine's own (a stale pid file must never make
/// the machine's processes look like the host's).
fn host_namespaces(host: &HostState, holder: Option<i32>) -> Vec<(&'static str, NsId)> {
    let me = std::process::id() as i32;
    let mut out = Vec::new();
    if let Some(id) = procs::ns_id(&Path::new("/run/netns").join(&host.netns))
        && Some(id) != procs::pid_ns(me, "net")
    {
        out.push(("net", id));
    }
    if let Some(pid) = holder
        && let Some(id) = procs::pid_ns(pid, "mnt")
        && Some(id) != procs::pid_ns(me, "mnt")
    {
        out.push(("mnt", id));
    }
    out
}

async fn unmount(path: &Path) -> Result<(), LabError> {
    let shown = path.display().to_string();
    let out = output(&Cmd::new(["umount", &shown]).timeout(MOUNT_TIMEOUT))
        .await
        .map_err(|e| LabError::cmd(format!("unmount {shown}"), e))?;
    if out.success() || out.stderr_str().contains("not mounted") {
        return Ok(());
    }
    // A busy mount (a shell sitting in it) is detached now and freed when it is let go.
    run(&Cmd::new(["umount", "-l", &shown]).timeout(MOUNT_TIMEOUT))
        .await
        .map(drop)
        .map_err(|e| LabError::cmd(format!("unmount {shown}"), e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("1G").expect("1G"), 1 << 30);
        assert_eq!(parse_size("512M").expect("512M"), 512 << 20);
        assert_eq!(parse_size("1.5GiB").expect("1.5GiB"), 3 << 29);
        assert_eq!(parse_size("314572800").expect("bytes"), 300 << 20);
        for bad in ["", "G", "-1G", "100M", "1X", "1e300"] {
            let err = parse_size(bad).expect_err(bad).to_string();
            assert!(err.contains("--disk-size"), "{err}");
        }
    }

    #[test]
    fn fills_in_host_command_placeholders() {
        let host = HostState {
            index: 2,
            host_name: "lab-2".into(),
            gluster_node_name: "lab-gluster-2".into(),
            netns: "byl-lab-2".into(),
            ip: Ipv4Addr::new(10, 250, 1, 3),
            dir: PathBuf::from("/x"),
            loop_device: None,
        };
        let steps = vec![vec![
            "brickyard".to_owned(),
            "--store".into(),
            "{store}".into(),
            "node".into(),
            "run".into(),
            "--host={host}@{ip}".into(),
        ]];
        assert_eq!(
            substitute(&steps, "file:///s", &host),
            vec![vec![
                "brickyard",
                "--store",
                "file:///s",
                "node",
                "run",
                "--host=lab-2@10.250.1.3"
            ]]
        );
    }
}
