//! `brickyard lab`: a multi-host GlusterFS cluster on this machine, one command to make it
//! and one to remove it.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use anyhow::{Context as _, Result, bail};
use brickyard_lab::fault::Victim;
use brickyard_lab::holder::HolderArgs;
use brickyard_lab::supervise::SuperviseArgs;
use brickyard_lab::{Lab, LabName, LabOptions, LabStatus, Progress, Runtime, StoreKind};
use clap::{Args, Subcommand};

use crate::globals::Globals;
use crate::output::{OutputFormat, print_json, table};

/// `brickyard lab ...`
#[derive(Debug, Subcommand)]
pub enum LabCommand {
    /// Make a lab: N hosts as namespaces on a private bridge, each with a loop-file disk,
    /// their configs loaded into the lab's store. Here `--store` takes `file` (the embedded
    /// store in the lab directory, the default) or `etcd` (a real etcd for the lab).
    Up(UpArgs),
    /// Print the shell lines that point brickyard at the lab's store
    /// (`eval "$(brickyard lab env)"`).
    Env(LabArgs),
    /// Show the lab's hosts, namespaces, holders, addresses, disks and processes.
    Status(StatusArgs),
    /// Run a command inside a host (its mount, UTS and network namespaces), e.g.
    /// `lab exec 1 -- gluster pool list`; its exit code is passed through.
    Exec(ExecArgs),
    /// Mount a gluster volume of the lab on this machine (FUSE).
    Mount(MountArgs),
    /// Unmount a volume mounted with `lab mount`.
    Umount(UmountArgs),
    /// Stop every process of a host, as if it failed; its disk and state stay.
    Stop(HostArgs),
    /// Start a stopped host again: its namespaces, mounts and command.
    Start(HostArgs),
    /// Give a running host one more disk (a loop device of its first disk's size) at the
    /// end of its `ExtraBrickDevices`; its agent prepares the disk and offers it to new
    /// bricks without a restart.
    AddDisk(HostArgs),
    /// Add one host to a running lab: disks like host 1's, its namespaces, its config (and
    /// every other host's gaining it in PeerList), and its agent, which joins the pool.
    /// Waits until the pool holds every host.
    AddHost(AddHostArgs),
    /// Take a host out of the lab for good: its processes, namespaces, disks and files. The
    /// store is left alone: first stop it and take it out of the cluster with `brickyard
    /// host remove`.
    RemoveHost(HostArgs),
    /// Give a host a fault, or take it back: kill one of its processes, cut its network,
    /// slow its link, fill its brick filesystem.
    Fault(FaultArgs),
    /// Remove everything the lab made: processes, mounts, loop devices, namespaces,
    /// interfaces, etcd and files. Safe to run twice, and after a crashed `lab up`.
    Down(LabArgs),
    /// Hold a lab host's namespaces (started by the lab itself).
    #[command(hide = true)]
    Holder(HolderCliArgs),
    /// Run and restart a lab host's command (started by the lab itself).
    #[command(hide = true)]
    Supervise(SuperviseCliArgs),
}

/// Which lab.
#[derive(Debug, Args)]
pub struct LabArgs {
    /// The lab's name: 1-8 lowercase letters and digits.
    #[arg(long, env = "BRICKYARD_LAB", default_value = "lab")]
    name: String,
    /// The lab's directory, when it was made with a --dir the lab cannot remember.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

impl LabArgs {
    fn name(&self) -> Result<LabName> {
        Ok(self.name.parse()?)
    }

    fn open(&self) -> Result<Lab> {
        Ok(Lab::open(&self.name()?, self.dir.as_deref())?)
    }
}

/// Which store `lab up` makes, from the global `--store`, which here takes `file` (the
/// embedded store in the lab directory, the default) or `etcd` (a real etcd started for the
/// lab). A store URL that only comes from BRICKYARD_STORE (e.g. an earlier `lab env`) is not
/// a request and is ignored: the lab always makes its own store.
fn store_kind(g: &Globals) -> Result<StoreKind> {
    match g.store.as_deref() {
        None | Some("file") => Ok(StoreKind::File),
        Some("etcd") => Ok(StoreKind::Etcd),
        Some(url) if std::env::var("BRICKYARD_STORE").is_ok_and(|v| v == url) => {
            Ok(StoreKind::File)
        }
        Some(other) => bail!(
            "lab up --store {other:?}: the lab makes its own store; use --store file (the default) or --store etcd"
        ),
    }
}

/// Arguments of `lab up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// How many hosts (1-99).
    #[arg(long, default_value_t = 3)]
    hosts: usize,
    /// Each host's disk (a sparse file): a quantity such as 1Gi (2^30 bytes), 2G (2*10^9)
    /// or 512Mi; at least 300Mi.
    #[arg(long, default_value = "1Gi", value_name = "SIZE")]
    disk_size: String,
    /// Disks per host (1-8), each of --disk-size: the first is the host's `BrickDevice`,
    /// the others its `ExtraBrickDevices`.
    #[arg(long, default_value_t = 1)]
    disks: usize,
    /// The lab's private subnet; default: a free 10.250.K.0/24.
    #[arg(long, value_name = "CIDR")]
    subnet: Option<String>,
    /// What each host runs, supervised: a JSON array of commands (argv arrays) run one
    /// after the other; `{store}`, `{host}` and `{ip}` are replaced per host. Default:
    /// `brickyard host prepare` then `brickyard node run` (the node agent).
    #[arg(long, value_name = "JSON", conflicts_with = "no_agents")]
    host_command: Option<String>,
    /// Make the hosts only (namespaces, disks, configs); run nothing in them.
    #[arg(long)]
    no_agents: bool,
    /// Where each host's command runs: `process` (in the host's namespaces, the fastest) or
    /// `image` (in a podman container of --image joined to the host's network, with the
    /// host's directories bind-mounted: the seed's deployment, on one machine).
    #[arg(long, value_enum, default_value_t = RuntimeArg::Process)]
    runtime: RuntimeArg,
    /// The image for `--runtime image` (build it with `make image`).
    #[arg(long, value_name = "IMAGE", default_value_t = brickyard_kube::default_image())]
    image: String,
    /// How long to wait for the trusted pool to form, in seconds.
    #[arg(long, default_value_t = 300, value_name = "SECONDS")]
    wait: u64,
    /// With `--store etcd`: how many etcd members (1, 3 or 5), each stoppable with `lab
    /// fault etcd-stop`; the agents are given every member's address.
    #[arg(long, default_value_t = 1, value_name = "N")]
    etcd_members: usize,
    /// Let the hosts' glusterd find gluster's geo-replication helper (gsyncd), as on a
    /// machine with the packages installed. By default each host hides it, as brickyard's
    /// image leaves it out: glusterd then starts in about 50 ms instead of 2-3 s, and
    /// geo-replication does not work in the lab. Only with `--runtime process`.
    #[arg(long)]
    geo_replication: bool,
}

/// Where a lab host's command runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RuntimeArg {
    /// As processes in the host's namespaces.
    Process,
    /// In a podman container of --image.
    Image,
}

/// What each lab host runs by default: `host prepare` for gluster on `eth0`, then the node
/// agent, both against the lab's store (the lab fills in `{store}` and `{host}`). The lab
/// itself does not know what a host runs.
fn agent_command(exe: &std::path::Path) -> Vec<Vec<String>> {
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

/// Where brickyard lives inside its image (see Containerfile).
const IMAGE_EXE: &str = "/usr/local/bin/brickyard";

/// Arguments of `lab status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `lab exec`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// The host: its HostName or 1-based index.
    host: String,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "CMD")]
    command: Vec<String>,
}

/// Arguments of `lab mount`.
#[derive(Debug, Args)]
pub struct MountArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// The gluster volume.
    volume: String,
    /// Where to mount it on this machine (made when missing).
    path: PathBuf,
}

/// Arguments of `lab umount`.
#[derive(Debug, Args)]
pub struct UmountArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// The mount point.
    path: PathBuf,
}

/// A host of a lab.
#[derive(Debug, Args)]
pub struct HostArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// The host: its HostName or 1-based index.
    host: String,
}

/// Arguments of `lab add-host`.
#[derive(Debug, Args)]
pub struct AddHostArgs {
    #[command(flatten)]
    lab: LabArgs,
    /// How long to wait for the pool to hold the new host, in seconds.
    #[arg(long, default_value_t = 180, value_name = "SECONDS")]
    wait: u64,
}

/// Arguments of `lab fault`.
#[derive(Debug, Args)]
pub struct FaultArgs {
    #[command(flatten)]
    lab: LabArgs,
    #[command(subcommand)]
    fault: FaultCommand,
}

/// A process `lab fault kill` can kill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KillWhat {
    /// The host's glusterd.
    Glusterd,
    /// The host's node agent.
    Agent,
    /// The process serving the host's brick of --volume, as `gluster volume status` reports
    /// it (with brick multiplexing, it serves other bricks too).
    Brick,
}

/// The faults.
#[derive(Debug, Subcommand)]
pub enum FaultCommand {
    /// Kill (SIGKILL) one of a host's processes; its agent starts glusterd and bricks
    /// again, its supervisor the agent.
    Kill {
        /// The host: its HostName or 1-based index.
        host: String,
        /// What to kill.
        #[arg(value_enum)]
        what: KillWhat,
        /// The volume whose brick to kill (with `brick`).
        #[arg(long, value_name = "NAME", required_if_eq("what", "brick"))]
        volume: Option<String>,
    },
    /// Cut a host off the lab's network (a partition: it keeps running on its side).
    Partition {
        /// The host.
        host: String,
    },
    /// Join a partitioned host to the network again.
    Heal {
        /// The host.
        host: String,
    },
    /// Limit a host's link both ways (`tc … tbf`), or lift the limit with --off.
    Throttle {
        /// The host.
        host: String,
        /// The rate, as tc writes it: e.g. 512kbit, 1mbit.
        #[arg(long, value_name = "RATE", required_unless_present = "off")]
        rate: Option<String>,
        /// Lift the limit.
        #[arg(long, conflicts_with = "rate")]
        off: bool,
    },
    /// Stop etcd members of a lab whose store is etcd: a member's number, or all.
    EtcdStop {
        /// The member (1-based), or `all`.
        member: String,
    },
    /// Start stopped etcd members again: a member's number, or all.
    EtcdStart {
        /// The member (1-based), or `all`.
        member: String,
    },
    /// Make a host's brick disk fail for good: its XFS filesystem is shut down (as XFS does
    /// after an I/O error), so every access returns an I/O error. Only `lab down` (or
    /// unmounting it) undoes it; move its bricks away with `volume replace-brick`.
    DiskFail {
        /// The host.
        host: String,
        /// The brick mount inside the host.
        #[arg(long, value_name = "PATH", default_value = "/gluster/brick1")]
        mount: String,
    },
    /// Fill a host's brick filesystem to the last byte (again to top it up: deletes give
    /// some back), or free it again with --off.
    Fill {
        /// The host.
        host: String,
        /// The brick mount inside the host.
        #[arg(long, value_name = "PATH", default_value = "/gluster/brick1")]
        mount: String,
        /// Remove what filled it.
        #[arg(long)]
        off: bool,
    },
}

/// Checks a tc rate: digits and a unit (`bit`, `kbit`, `mbit`, `gbit`).
fn check_rate(rate: &str) -> Result<()> {
    let digits = rate.chars().take_while(char::is_ascii_digit).count();
    let unit = &rate[digits..];
    if digits == 0 || !["bit", "kbit", "mbit", "gbit"].contains(&unit) {
        anyhow::bail!("--rate {rate:?}: give a number and a unit, e.g. 512kbit or 1mbit");
    }
    Ok(())
}

/// Checks a brick mount path of a lab host: `/gluster/brickN`.
fn check_brick_mount(path: &str) -> Result<()> {
    let n = path.strip_prefix("/gluster/brick").unwrap_or("");
    if n.is_empty() || !n.chars().all(|c| c.is_ascii_digit()) {
        anyhow::bail!(
            "--mount {path:?}: a lab host's brick mounts are /gluster/brick1, /gluster/brick2, …"
        );
    }
    Ok(())
}

async fn fault(a: FaultArgs) -> Result<()> {
    let lab = a.lab.open()?;
    match a.fault {
        FaultCommand::Kill { host, what, volume } => {
            let host = lab.host(&host)?;
            let victim = match what {
                KillWhat::Glusterd => Victim::Glusterd,
                KillWhat::Agent => Victim::Agent,
                KillWhat::Brick => {
                    let v = volume.unwrap_or_default();
                    brickyard_model::names::check_volume_name(&v)
                        .map_err(|e| anyhow::anyhow!("--volume {v:?} {}; {}", e.problem, e.fix))?;
                    Victim::Brick(v)
                }
            };
            let pids = lab.kill(host, &victim).await?;
            println!("host {}: killed {victim} (pid {pids:?})", host.host_name);
        }
        FaultCommand::Partition { host } => {
            let host = lab.host(&host)?;
            lab.partition(host, true).await?;
            println!(
                "host {} is cut off the network; `brickyard lab fault --name {} heal {}` joins it again",
                host.host_name,
                lab.state().name,
                host.index
            );
        }
        FaultCommand::Heal { host } => {
            let host = lab.host(&host)?;
            lab.partition(host, false).await?;
            println!("host {} is on the network again", host.host_name);
        }
        FaultCommand::Throttle { host, rate, off } => {
            let host = lab.host(&host)?;
            if off {
                lab.throttle(host, None).await?;
                println!("host {}: link limit lifted", host.host_name);
            } else {
                let rate = rate.unwrap_or_default();
                check_rate(&rate)?;
                lab.throttle(host, Some(&rate)).await?;
                println!("host {}: link limited to {rate} both ways", host.host_name);
            }
        }
        FaultCommand::EtcdStop { member } => {
            let stopped = lab.etcd_stop(&member)?;
            println!("etcd members stopped: {stopped:?}");
        }
        FaultCommand::EtcdStart { member } => {
            let started = lab.etcd_start(&member)?;
            println!("etcd members running: {started:?}");
        }
        FaultCommand::DiskFail { host, mount } => {
            check_brick_mount(&mount)?;
            let host = lab.host(&host)?;
            lab.fail_disk(host, &mount).await?;
            println!(
                "host {}: the disk at {mount} fails (XFS shut down); its bricks go offline",
                host.host_name
            );
        }
        FaultCommand::Fill { host, mount, off } => {
            check_brick_mount(&mount)?;
            let host = lab.host(&host)?;
            let (taken, left) = lab.fill(host, &mount, !off).await?;
            if off {
                println!("host {}: {mount} freed", host.host_name);
            } else {
                println!(
                    "host {}: {mount} filled ({taken} bytes taken, {left} left)",
                    host.host_name
                );
            }
        }
    }
    Ok(())
}

/// Arguments of the hidden `lab holder`.
#[derive(Debug, Args)]
pub struct HolderCliArgs {
    /// The host's state directory.
    #[arg(long)]
    host_dir: PathBuf,
    /// The host name to set.
    #[arg(long)]
    hostname: String,
    /// Leave the host's empty gluster directories empty (its image seeds them).
    #[arg(long)]
    no_seed: bool,
    /// Hide gluster's geo-replication helper from everything in the host.
    #[arg(long)]
    hide_geo_replication: bool,
}

/// Arguments of the hidden `lab supervise`.
#[derive(Debug, Args)]
pub struct SuperviseCliArgs {
    /// The host's state directory.
    #[arg(long)]
    host_dir: PathBuf,
}

/// Runs a `lab` subcommand.
pub async fn run(g: &Globals, cmd: LabCommand) -> Result<()> {
    match cmd {
        LabCommand::Up(a) => up(g, a).await,
        LabCommand::Env(a) => {
            for line in a.open()?.env_lines() {
                println!("{line}");
            }
            Ok(())
        }
        LabCommand::Status(a) => status(a).await,
        LabCommand::Exec(a) => {
            let lab = a.lab.open()?;
            let host = lab.host(&a.host)?;
            let code = lab.exec_interactive(host, &a.command).await?;
            // The command's own exit code is the answer, whatever it is.
            std::process::exit(code);
        }
        LabCommand::Mount(a) => {
            let mut lab = a.lab.open()?;
            lab.mount(&a.volume, &a.path).await?;
            println!("mounted {} at {}", a.volume, a.path.display());
            Ok(())
        }
        LabCommand::Umount(a) => {
            let mut lab = a.lab.open()?;
            lab.umount(&a.path).await?;
            println!("unmounted {}", a.path.display());
            Ok(())
        }
        LabCommand::Stop(a) => {
            let lab = a.lab.open()?;
            let host = lab.host(&a.host)?;
            let n = lab.stop_host(host).await?;
            println!(
                "host {} stopped ({n} processes); its disk and state are kept; `brickyard lab start --name {} {}` brings it back",
                host.host_name,
                lab.state().name,
                host.index
            );
            Ok(())
        }
        LabCommand::Start(a) => {
            let lab = a.lab.open()?;
            let host = lab.host(&a.host)?;
            let pid = lab.start_host(host).await?;
            println!("host {} started (holder {pid})", host.host_name);
            Ok(())
        }
        LabCommand::AddDisk(a) => {
            let mut lab = a.lab.open()?;
            let host = lab.host(&a.host)?.clone();
            let dev = lab.add_disk(host.index).await?;
            println!(
                "host {} has a new disk {dev}, added to its ExtraBrickDevices in the store; its agent prepares it",
                host.host_name
            );
            Ok(())
        }
        LabCommand::AddHost(a) => {
            let mut lab = a.lab.open()?;
            let host = lab.add_host().await?;
            println!(
                "host {} added at {} (namespace {}, disk {})",
                host.host_name,
                host.ip,
                host.netns,
                host.loop_devices().join(" + ")
            );
            if lab.state().host_command.is_some() {
                wait_for_pool(lab.state(), std::time::Duration::from_secs(a.wait)).await?;
            }
            Ok(())
        }
        LabCommand::RemoveHost(a) => {
            let mut lab = a.lab.open()?;
            let index = lab.host(&a.host)?.index;
            let host = lab.remove_host(index).await?;
            println!(
                "host {} is gone from lab {} (processes, namespace, disks, files)",
                host.host_name,
                lab.state().name
            );
            Ok(())
        }
        LabCommand::Fault(a) => fault(a).await,
        LabCommand::Down(a) => {
            let name = a.name()?;
            let report = Lab::down(&name, a.dir.as_deref()).await?;
            if report.removed.is_empty() {
                println!("lab {name}: nothing to remove");
            } else {
                println!(
                    "lab {name} removed ({} things, e.g. {})",
                    report.removed.len(),
                    report.removed[..report.removed.len().min(3)].join(", ")
                );
            }
            Ok(())
        }
        LabCommand::Holder(a) => Ok(brickyard_lab::holder::run(&HolderArgs {
            host_dir: a.host_dir,
            hostname: a.hostname,
            seed: !a.no_seed,
            hide_geo_replication: a.hide_geo_replication,
        })
        .await?),
        LabCommand::Supervise(a) => Ok(brickyard_lab::supervise::run(&SuperviseArgs {
            host_dir: a.host_dir,
        })
        .await?),
    }
}

async fn up(g: &Globals, a: UpArgs) -> Result<()> {
    let name = a.lab.name()?;
    let mut opts = LabOptions::new(name.clone());
    opts.hosts = a.hosts;
    opts.store = store_kind(g)?;
    if !brickyard_lab::etcd::MEMBER_COUNTS.contains(&a.etcd_members) {
        bail!(
            "--etcd-members {}: give 1, 3 or 5 (a majority must survive a member down)",
            a.etcd_members
        );
    }
    if a.etcd_members > 1 && opts.store != StoreKind::Etcd {
        bail!("--etcd-members {} needs --store etcd", a.etcd_members);
    }
    opts.etcd_members = a.etcd_members;
    if a.geo_replication && a.runtime == RuntimeArg::Image {
        bail!(
            "--geo-replication is for --runtime process; an image has gsyncd when it was built with it (scripts/image.sh --geo-replication)"
        );
    }
    opts.geo_replication = a.geo_replication;
    opts.disk_size = brickyard_lab::parse_size(&a.disk_size)?;
    opts.disks = a.disks;
    opts.dir = a.lab.dir.clone();
    opts.subnet = a
        .subnet
        .as_deref()
        .map(brickyard_lab::parse_subnet)
        .transpose()?;
    if let Some(json) = &a.host_command {
        opts.host_command = Some(serde_json::from_str(json).with_context(|| {
            format!(
                "--host-command {json:?} is not a JSON array of argv arrays, e.g. '[[\"sleep\",\"infinity\"]]'"
            )
        })?);
    } else if !a.no_agents {
        let exe = match a.runtime {
            RuntimeArg::Process => opts.exe.clone(),
            RuntimeArg::Image => PathBuf::from(IMAGE_EXE),
        };
        opts.host_command = Some(agent_command(&exe));
    }
    if a.runtime == RuntimeArg::Image {
        opts.runtime = Runtime::Image {
            image: a.image.clone(),
        };
    }
    let agents = opts.host_command.is_some() && a.host_command.is_none();

    let started = std::time::Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(0);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar.set_message(format!("making lab {name}"));
        bar
    });
    let progress = |p: Progress| match &bar {
        Some(bar) => {
            bar.set_length(p.total as u64);
            bar.set_position(p.step as u64);
            bar.set_message(p.message);
        }
        None => eprintln!("[{}/{}] {}", p.step, p.total, p.message),
    };
    let result = Lab::up(&opts, &progress).await;
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let lab = result.with_context(|| format!("make lab {name}"))?;
    let st = lab.state();
    println!(
        "lab {name} is up in {:.1}s: {} hosts on bridge {} ({}, this machine is {}), store {}",
        started.elapsed().as_secs_f64(),
        st.hosts.len(),
        name.bridge(),
        st.subnet,
        st.machine_ip,
        st.store_url
    );
    for h in &st.hosts {
        println!(
            "  {}  {}  disk {}",
            h.host_name,
            h.ip,
            h.loop_device.as_deref().unwrap_or("-")
        );
    }
    if agents {
        wait_for_pool(st, std::time::Duration::from_secs(a.wait)).await?;
    }
    if st.host_command.is_none() {
        println!(
            "Hosts run nothing yet: the node agent is not started, so glusterd does not run until you start it in a host."
        );
    }
    let n = if name.as_str() == "lab" {
        String::new()
    } else {
        format!(" --name {name}")
    };
    println!("Next:");
    println!(
        "  eval \"$(brickyard lab env{n})\"    # --store {}",
        st.store_url
    );
    println!("  brickyard lab exec{n} 1 -- gluster pool list");
    println!("  brickyard lab mount{n} VOLUME /mnt/VOLUME");
    println!("  brickyard lab status{n}");
    println!("  brickyard lab down{n}");
    Ok(())
}

async fn status(a: StatusArgs) -> Result<()> {
    let lab = a.lab.open()?;
    let st = lab.status().await?;
    match a.output {
        OutputFormat::Json => print_json(&st),
        OutputFormat::Table => {
            print!("{}", render(&st));
            Ok(())
        }
    }
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "NO" }
}

fn render(st: &LabStatus) -> String {
    let mut out = format!(
        "lab {}: bridge {} {}, subnet {}, this machine {}, store {}{}{}\n",
        st.name,
        st.bridge,
        if st.bridge_present {
            "present"
        } else {
            "MISSING"
        },
        st.subnet,
        st.machine_ip,
        st.store_url,
        match st.etcd_running {
            Some(true) => " (etcd running)",
            Some(false) => " (etcd NOT RUNNING)",
            None => "",
        },
        match &st.runtime {
            Runtime::Process => String::new(),
            Runtime::Image { image } => format!(", hosts in containers of {image}"),
        }
    );
    let rows: Vec<Vec<String>> = st
        .hosts
        .iter()
        .map(|h| {
            vec![
                h.index.to_string(),
                h.host_name.clone(),
                h.ip.to_string(),
                format!("{} {}", h.netns, yes(h.netns_present)),
                h.holder_pid
                    .map_or_else(|| "stopped".to_owned(), |p| p.to_string()),
                format!(
                    "{} {}M{}",
                    h.loop_device.as_deref().unwrap_or("detached"),
                    h.disk_size >> 20,
                    h.extra_loop_devices
                        .iter()
                        .map(|d| format!(" + {}", d.as_deref().unwrap_or("detached")))
                        .collect::<String>()
                ),
                h.processes.to_string(),
                h.command_pid.map_or_else(
                    || {
                        if st.host_command.is_some() {
                            "NOT RUNNING".to_owned()
                        } else {
                            "-".to_owned()
                        }
                    },
                    |p| p.to_string(),
                ),
            ]
        })
        .collect();
    out.push_str(&table(
        &[
            "#",
            "HOST",
            "IP",
            "NAMESPACE",
            "HOLDER",
            "DISK",
            "PROCESSES",
            "COMMAND",
        ],
        &rows,
    ));
    for m in &st.mounts {
        out.push_str(&format!("mounted here: {}\n", m.display()));
    }
    out
}

/// Waits until every host's agent runs and sees all the other hosts connected, showing
/// progress on a terminal and plain lines otherwise.
async fn wait_for_pool(st: &brickyard_lab::LabState, limit: std::time::Duration) -> Result<()> {
    let url: brickyard_store::StoreUrl = st.store_url.parse()?;
    let store = brickyard_store::open(&url, &brickyard_store::EtcdOptions::default()).await?;
    let n = st.hosts.len();
    let started = std::time::Instant::now();
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = indicatif::ProgressBar::new(n as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} [{pos}/{len}] {wide_msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(100));
        bar
    });
    let hosts: Vec<String> = st.hosts.iter().map(|h| h.host_name.clone()).collect();
    let mut last = usize::MAX;
    let mut waiting: Vec<String> = hosts.clone();
    let mut store_error = None;
    while started.elapsed() < limit {
        match brickyard_observe::live_agents(store.as_ref()).await {
            Ok(agents) => {
                waiting = brickyard_observe::pool_waiting(&agents, &hosts);
                store_error = None;
            }
            // The lab's own store may be busy for a moment: keep waiting, and say so if it
            // never answers.
            Err(e) => store_error = Some(e.to_string()),
        }
        let ready = n - waiting.len();
        if ready != last {
            last = ready;
            let msg = format!("{ready}/{n} hosts in the pool");
            match &bar {
                Some(bar) => {
                    bar.set_position(ready as u64);
                    bar.set_message(msg);
                }
                None => eprintln!("{msg}"),
            }
        }
        if waiting.is_empty() {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            println!(
                "trusted pool of {n} hosts formed {:.1}s after the agents started",
                started.elapsed().as_secs_f64()
            );
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    bail!(
        "the pool did not form within {}s; not ready: {}{}. Each host's agent log is in {}/hosts/N/command.log; the lab is left up for a look (brickyard lab down removes it)",
        limit.as_secs(),
        waiting.join(", "),
        store_error
            .map(|e| format!(" (the store did not answer: {e})"))
            .unwrap_or_default(),
        st.dir.display()
    )
}
