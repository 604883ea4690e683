//! Fixtures shared by brickyard's integration tests.
//!
//! Everything a fixture starts is stopped when the fixture is dropped, also when the test
//! panics; child processes additionally die with the test process (`PR_SET_PDEATHSIG`), so
//! a killed test run leaves nothing behind.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

/// A free TCP port on 127.0.0.1 (bound once and released; a tiny race is accepted).
pub fn free_port() -> u16 {
    let l = TcpListener::bind(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0))
        .expect("bind an ephemeral port on 127.0.0.1");
    l.local_addr()
        .expect("local address of a bound socket")
        .port()
}

/// Makes `cmd`'s process receive SIGKILL when the test process dies.
fn die_with_parent(cmd: &mut Command) {
    // SAFETY: the closure runs between fork and exec and only calls prctl, which is
    // async-signal-safe; it allocates nothing and touches no locks.
    #[allow(unsafe_code)]
    unsafe {
        cmd.pre_exec(|| {
            nix::sys::prctl::set_pdeathsig(nix::sys::signal::Signal::SIGKILL)
                .map_err(std::io::Error::from)
        });
    }
}

/// A real etcd (Debian's etcd-server) on loopback with free ports and a temp data dir.
pub struct Etcd {
    child: Child,
    /// `127.0.0.1:PORT` of the client endpoint.
    pub endpoint: String,
    dir: TempDir,
}

impl Etcd {
    /// Starts etcd and waits until it answers. Panics (failing the test) when it cannot:
    /// these tests never skip silently.
    pub fn start() -> Self {
        let mut last = String::new();
        for _ in 0..3 {
            match Self::try_start() {
                Ok(e) => return e,
                Err(e) => last = e,
            }
        }
        panic!(
            "etcd could not be started for the test: {last}; install Debian's etcd-server (make deps)"
        );
    }

    fn try_start() -> Result<Self, String> {
        let dir = tempfile::Builder::new()
            .prefix("byt-etcd-")
            .tempdir()
            .map_err(|e| format!("temp dir: {e}"))?;
        let (cport, pport) = (free_port(), free_port());
        let client = format!("http://127.0.0.1:{cport}");
        let peer = format!("http://127.0.0.1:{pport}");
        let log = std::fs::File::create(dir.path().join("etcd.log"))
            .map_err(|e| format!("log file: {e}"))?;
        let argv = brickyard_store::EtcdMember {
            name: "byt".into(),
            data_dir: dir.path().join("data"),
            client_url: client,
            more_client_urls: Vec::new(),
            peer_url: peer,
            initial_cluster: Vec::new(),
        }
        .argv();
        let mut cmd = Command::new(&argv[0]);
        cmd.args(&argv[1..])
            .args(["--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
        die_with_parent(&mut cmd);
        let child = cmd.spawn().map_err(|e| format!("spawn etcd: {e}"))?;
        let mut me = Self {
            child,
            endpoint: format!("127.0.0.1:{cport}"),
            dir,
        };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = me.child.try_wait() {
                return Err(format!("etcd exited with {status}: {}", me.log_tail()));
            }
            let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, cport);
            if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_ok() {
                let health = Command::new("etcdctl")
                    .env("ETCDCTL_API", "3")
                    .args(["--endpoints", &me.endpoint, "endpoint", "health"])
                    .output();
                if health.is_ok_and(|o| o.status.success()) {
                    return Ok(me);
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Err(format!("etcd did not answer within 20s: {}", me.log_tail()))
    }

    /// The store URL for brickyard.
    pub fn url(&self) -> String {
        format!("etcd://{}", self.endpoint)
    }

    /// The last lines of etcd's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.path().join("etcd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// Runs `etcdctl` against this etcd.
    pub fn etcdctl(&self, args: &[&str]) -> Output {
        Command::new("etcdctl")
            .env("ETCDCTL_API", "3")
            .arg("--endpoints")
            .arg(&self.endpoint)
            .args(args)
            .output()
            .expect("run etcdctl (Debian's etcd-client)")
    }
}

impl Drop for Etcd {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fresh embedded store directory, removed on drop.
pub struct TempStore {
    dir: TempDir,
}

impl TempStore {
    /// Creates an empty store directory.
    pub fn new() -> Self {
        Self {
            dir: tempfile::Builder::new()
                .prefix("byt-store-")
                .tempdir()
                .expect("create a temp dir"),
        }
    }

    /// The store URL for brickyard.
    pub fn url(&self) -> String {
        format!("file://{}", self.dir.path().display())
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Default for TempStore {
    fn default() -> Self {
        Self::new()
    }
}

/// The result of a CLI run, with everything needed to explain a failure.
#[derive(Debug)]
pub struct Run {
    /// The command line, for messages.
    pub cmdline: String,
    /// Exit code.
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Run {
    /// Panics with the full command, output and code unless it exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, Some(0), "command failed:\n{self}");
        self
    }

    /// Panics unless it exited non-zero.
    #[track_caller]
    pub fn fails(self) -> Self {
        assert!(
            self.code.is_some_and(|c| c != 0),
            "command should have failed:\n{self}"
        );
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "$ {}\nexit: {:?}\n--- stdout\n{}--- stderr\n{}",
            self.cmdline, self.code, self.stdout, self.stderr
        )
    }
}

/// Runs a program with a clean environment (PATH only, plus `env`) and captures output.
pub fn run(program: impl AsRef<Path>, args: &[&str], env: &[(&str, &str)]) -> Run {
    let program = program.as_ref();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env(
            "PATH",
            std::env::var("PATH").unwrap_or_else(|_| "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        )
        .envs(env.iter().copied())
        .stdin(Stdio::null());
    die_with_parent(&mut cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", program.display()));
    Run {
        cmdline: std::iter::once(program.display().to_string())
            .chain(args.iter().map(|a| a.to_string()))
            .collect::<Vec<_>>()
            .join(" "),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The brickyard binary pointed at one store and one lab, run as a person would: what
/// every end-to-end test does over and over, in one place.
#[derive(Debug, Clone)]
pub struct Brickyard {
    bin: PathBuf,
    store: String,
    lab: String,
}

impl Brickyard {
    /// `bin` with `BRICKYARD_STORE=store`; `lab` is the name `lab` commands get.
    pub fn new(bin: impl Into<PathBuf>, store: &str, lab: &str) -> Self {
        Self {
            bin: bin.into(),
            store: store.to_owned(),
            lab: lab.to_owned(),
        }
    }

    /// The store URL.
    pub fn store(&self) -> &str {
        &self.store
    }

    /// The lab's name.
    pub fn lab_name(&self) -> String {
        self.lab.clone()
    }

    /// Runs `brickyard ARGS...`, whatever its exit code.
    pub fn run(&self, args: &[&str]) -> Run {
        run(&self.bin, args, &[("BRICKYARD_STORE", self.store.as_str())])
    }

    /// Runs `brickyard ARGS...` and returns its stdout; fails the test, showing everything
    /// it said, unless it succeeds.
    #[track_caller]
    pub fn ok(&self, args: &[&str]) -> String {
        self.run(args).ok().stdout
    }

    /// `brickyard lab CMD --name LAB REST...` through [`Self::ok`].
    #[track_caller]
    pub fn lab(&self, cmd: &str, rest: &[&str]) -> String {
        let mut v = vec!["lab", cmd, "--name", self.lab.as_str()];
        v.extend_from_slice(rest);
        self.ok(&v)
    }
}

/// The repository's root directory (for `examples/`).
///
/// Taken from the running test's `CARGO_MANIFEST_DIR` (every crate sits at `crates/NAME`),
/// not from this crate's compile-time path, which a build of the same sources in another
/// checkout sharing the target directory would leave pointing there.
pub fn repo_root() -> PathBuf {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest
        .ancestors()
        .nth(2)
        .expect("every crate is two levels below the root")
        .to_owned()
}

/// The node agent of host `index` (1-based) of the lab in `lab_dir`: the child of the host's
/// command supervisor that runs `node run`.
pub fn lab_agent_pid(lab_dir: &Path, index: usize) -> Option<i32> {
    use brickyard_sys::procs;
    let sup = procs::read_pid(&lab_dir.join(format!("hosts/{index}/command.pid")))?;
    procs::children(sup).into_iter().find(|&pid| {
        procs::cmdline(pid)
            .is_some_and(|args| args.windows(2).any(|w| w[0] == "node" && w[1] == "run"))
    })
}

/// Runs `brickyard lab down` for a lab when dropped, so a failing test leaves nothing behind.
pub struct LabGuard {
    bin: PathBuf,
    name: String,
    dir: Option<PathBuf>,
}

impl LabGuard {
    /// Guards lab `name` (in `dir`, else its default directory), removed with `bin`.
    pub fn new(bin: impl Into<PathBuf>, name: &str, dir: Option<PathBuf>) -> Self {
        Self {
            bin: bin.into(),
            name: name.to_owned(),
            dir,
        }
    }

    /// The lab's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The arguments of `brickyard lab CMD --name NAME REST...` (`--name` right after the
    /// subcommand: anything after `--` belongs to `exec`'s command).
    pub fn args<'a>(&'a self, cmd: &[&'a str]) -> Vec<&'a str> {
        let mut v = vec!["lab", cmd[0], "--name", self.name.as_str()];
        v.extend_from_slice(&cmd[1..]);
        v
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        // For a person chasing a failure: BRICKYARD_KEEP_LAB=1 leaves a failed test's lab up.
        if std::thread::panicking() && std::env::var("BRICKYARD_KEEP_LAB").is_ok_and(|v| v == "1") {
            eprintln!(
                "lab {} kept for a look (BRICKYARD_KEEP_LAB=1); `brickyard lab down --name {}` removes it",
                self.name, self.name
            );
            return;
        }
        let dir = self.dir.as_ref().map(|d| d.display().to_string());
        let mut args = vec!["lab", "down", "--name", self.name.as_str()];
        if let Some(d) = &dir {
            args.extend(["--dir", d.as_str()]);
        }
        let out = run(&self.bin, &args, &[]);
        if out.code != Some(0) {
            eprintln!("cleanup failed:\n{out}");
        }
    }
}

/// Polls `check` every 250 ms until it holds; fails the test naming `what` after `limit`.
#[track_caller]
pub fn wait_until(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < limit,
            "{what} did not happen within {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn listing(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", argv[0]));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that nothing of lab `name` (directory `dir`) is left: no namespace, interface,
/// loop device, mount, process or file.
#[track_caller]
pub fn assert_no_lab_leftovers(name: &str, dir: &Path) {
    let prefix = format!("byl-{name}-");
    let bridge = format!("byl-{name}");
    let netns = listing(&["ip", "netns", "list"]);
    assert!(
        !netns.lines().any(|l| l.starts_with(&prefix)),
        "namespaces left: {netns}"
    );
    let links = listing(&["ip", "-o", "link", "show"]);
    for l in links.lines() {
        let ifname = l
            .split(": ")
            .nth(1)
            .unwrap_or("")
            .split('@')
            .next()
            .unwrap_or("");
        assert!(
            ifname != bridge && !ifname.starts_with(&prefix),
            "interface left: {l}"
        );
    }
    let dir_s = dir.display().to_string();
    let loops = listing(&["losetup", "-a"]);
    assert!(!loops.contains(&dir_s), "loop devices left: {loops}");
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    assert!(
        !mounts.contains(&bridge) && !mounts.contains(&dir_s),
        "mounts left: {mounts}"
    );
    for pattern in [dir_s.as_str(), prefix.as_str()] {
        let procs = listing(&["pgrep", "-af", pattern]);
        assert!(procs.trim().is_empty(), "processes left: {procs}");
    }
    assert!(!dir.exists(), "{} is left", dir.display());
}
