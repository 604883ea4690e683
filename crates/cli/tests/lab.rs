//! End-to-end tests of `brickyard lab` on real namespaces, loop devices and mounts (root).
//!
//! Each test makes its own lab with a `byt` name and removes it with a guard that runs
//! `lab down` also when the test fails; every test ends by checking that nothing of its lab
//! is left on the machine.

use std::io::Write as _;
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");

/// Runs brickyard with `args`; returns the output whatever the exit code.
fn by(args: &[&str]) -> Output {
    by_with_stdin(args, None)
}

fn by_with_stdin(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("BRICKYARD_STORE")
        .env_remove("KV_IP")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start brickyard");
    if let (Some(bytes), Some(mut pipe)) = (stdin, child.stdin.take()) {
        pipe.write_all(bytes).expect("write stdin");
    }
    child.wait_with_output().expect("wait for brickyard")
}

/// Runs brickyard and fails the test, showing what it said, unless it succeeds.
fn ok(args: &[&str]) -> String {
    let out = by(args);
    assert!(
        out.status.success(),
        "`brickyard {}` failed ({}):\nstdout: {}\nstderr: {}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .expect("run a system command");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Removes the lab when dropped, so a failing test leaves nothing behind.
struct LabGuard {
    name: &'static str,
    dir: Option<PathBuf>,
}

impl LabGuard {
    fn args<'a>(&'a self, cmd: &[&'a str]) -> Vec<&'a str> {
        // `--name` goes right after the subcommand: anything after `--` belongs to `exec`'s
        // command.
        let mut v = vec!["lab", cmd[0], "--name", self.name];
        v.extend_from_slice(&cmd[1..]);
        v
    }

    fn down_args(&self) -> Vec<String> {
        let mut v = vec![
            "lab".into(),
            "down".into(),
            "--name".into(),
            self.name.into(),
        ];
        if let Some(d) = &self.dir {
            v.extend(["--dir".into(), d.display().to_string()]);
        }
        v
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let args = self.down_args();
        let out = Command::new(BIN).args(&args).output();
        if let Ok(out) = out
            && !out.status.success()
        {
            eprintln!(
                "cleanup `brickyard {}` failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

/// Asserts that nothing of lab `name` (directory `dir`) is left: no namespace, interface,
/// loop device, mount, process or file.
fn assert_no_leftovers(name: &str, dir: &Path) {
    let prefix = format!("byl-{name}-");
    let bridge = format!("byl-{name}");
    let netns = sh(&["ip", "netns", "list"]);
    assert!(
        !netns.lines().any(|l| l.starts_with(&prefix)),
        "namespaces left: {netns}"
    );
    let links = sh(&["ip", "-o", "link", "show"]);
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
    let loops = sh(&["losetup", "-a"]);
    assert!(!loops.contains(&dir_s), "loop devices left: {loops}");
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    assert!(
        !mounts.contains(&bridge) && !mounts.contains(&dir_s),
        "mounts left: {mounts}"
    );
    for pattern in [dir_s.as_str(), prefix.as_str()] {
        let procs = sh(&["pgrep", "-af", pattern]);
        assert!(procs.trim().is_empty(), "processes left: {procs}");
    }
    assert!(!dir.exists(), "{} is left", dir.display());
}

fn status(guard: &LabGuard) -> Value {
    let out = ok(&guard.args(&["status", "--output", "json"]));
    serde_json::from_str(&out).expect("status JSON")
}

fn host_ip(st: &Value, index: usize) -> String {
    st["hosts"][index - 1]["ip"]
        .as_str()
        .expect("host ip")
        .to_owned()
}

/// The host answers from the machine: a TCP connection to a closed port is refused by the
/// host's kernel (an unreachable host times out or reports no route instead).
fn assert_reachable(ip: &str) {
    let addr: SocketAddr = format!("{ip}:1").parse().expect("socket address");
    let err = TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .expect_err("nothing listens on port 1");
    assert_eq!(
        err.kind(),
        std::io::ErrorKind::ConnectionRefused,
        "{ip} did not answer: {err}"
    );
    if Path::new("/usr/bin/ping").exists() || Path::new("/bin/ping").exists() {
        let out = Command::new("ping")
            .args(["-c", "1", "-W", "2", ip])
            .output()
            .expect("run ping");
        assert!(out.status.success(), "ping {ip} failed");
    }
}

/// One lab for the whole flow: up, isolation, exec, stop/start, down.
#[test]
fn lab_hosts_are_isolated_and_removed_completely() {
    let tmp = tempfile::Builder::new()
        .prefix("byt-lab-")
        .tempdir()
        .expect("temp dir");
    let dir = tmp.path().join("bytlab1");
    let guard = LabGuard {
        name: "bytlab1",
        dir: Some(dir.clone()),
    };
    let machine_hostname = sh(&["hostname"]);

    let started = Instant::now();
    let dir_s = dir.display().to_string();
    let out = ok(&guard.args(&["up", "--hosts", "3", "--dir", &dir_s]));
    eprintln!("lab up (3 hosts) took {:?}", started.elapsed());
    assert!(out.contains("lab down --name bytlab1"), "{out}");
    assert!(out.contains("node agent is not started"), "{out}");

    // Later commands find the lab by name alone.
    let env = ok(&guard.args(&["env"]));
    assert_eq!(
        env.trim(),
        format!("export BRICKYARD_STORE=file://{dir_s}/store")
    );
    let st = status(&guard);
    let hosts = st["hosts"].as_array().expect("hosts");
    assert_eq!(hosts.len(), 3);
    let netns = sh(&["ip", "netns", "list"]);
    for h in hosts {
        let ns = h["netns"].as_str().expect("netns");
        assert!(netns.contains(ns), "{ns} missing from {netns}");
        assert_eq!(h["netns_present"], true);
        let pid = h["holder_pid"].as_i64().expect("holder running");
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        assert!(h["loop_device"].as_str().is_some(), "{h}");
        assert_eq!(h["disk_size"], 1u64 << 30);
    }
    // The configs are in the store, in the seed's format.
    let cfg = ok(&[
        "--store",
        &format!("file://{dir_s}/store"),
        "config",
        "get",
        "bytlab1-2",
    ]);
    let cfg: Value = serde_json::from_str(&cfg).expect("config JSON");
    assert_eq!(cfg["BrickDevice"], hosts[1]["loop_device"]);
    assert_eq!(cfg["ZapDevice"], "true");
    assert_eq!(cfg["PeerList"].as_array().map(Vec::len), Some(2));

    // Own host names, own /var/lib/glusterd, reachable from the machine.
    for i in 1..=3 {
        let name = ok(&guard.args(&["exec", &i.to_string(), "--", "hostname"]));
        assert_eq!(name.trim(), format!("bytlab1-{i}"));
        assert_reachable(&host_ip(&st, i));
    }
    assert_eq!(sh(&["hostname"]), machine_hostname);
    ok(&guard.args(&[
        "exec",
        "bytlab1-1",
        "--",
        "touch",
        "/var/lib/glusterd/byt-marker",
    ]));
    assert!(dir.join("hosts/1/var-lib-glusterd/byt-marker").exists());
    assert!(!Path::new("/var/lib/glusterd/byt-marker").exists());
    let absent = by(&guard.args(&[
        "exec",
        "2",
        "--",
        "test",
        "-e",
        "/var/lib/glusterd/byt-marker",
    ]));
    assert_eq!(absent.status.code(), Some(1), "exit code passed through");

    // Standard input and output pass through.
    let echoed = by_with_stdin(&guard.args(&["exec", "3", "--", "cat"]), Some(b"through"));
    assert_eq!(String::from_utf8_lossy(&echoed.stdout), "through");

    // A mount made in a host stays for the next command there, and never reaches the
    // machine.
    let dev = hosts[0]["loop_device"].as_str().expect("loop device");
    ok(&guard.args(&["exec", "1", "--", "mkfs.xfs", "-q", dev]));
    ok(&guard.args(&["exec", "1", "--", "mkdir", "-p", "/gluster/brick1"]));
    ok(&guard.args(&["exec", "1", "--", "mount", dev, "/gluster/brick1"]));
    let seen = ok(&guard.args(&[
        "exec",
        "1",
        "--",
        "findmnt",
        "-n",
        "-o",
        "SOURCE",
        "/gluster/brick1",
    ]));
    assert_eq!(seen.trim(), dev);
    let machine_mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    assert!(
        !machine_mounts.contains("/gluster/brick1"),
        "{machine_mounts}"
    );

    // A real gluster volume across the hosts, mounted on the machine through the bridge.
    gluster_volume_on_the_machine(&guard, &dir, &st, tmp.path());

    // A stopped host loses its processes and mounts but keeps its state.
    ok(&guard.args(&[
        "exec",
        "2",
        "--",
        "sh",
        "-c",
        "echo kept > /var/lib/glusterd/state",
    ]));
    let stopped = ok(&guard.args(&["stop", "2"]));
    assert!(stopped.contains("stopped"), "{stopped}");
    let st2 = status(&guard);
    assert_eq!(st2["hosts"][1]["holder_pid"], Value::Null);
    assert_eq!(st2["hosts"][1]["processes"], 0);
    assert!(
        st2["hosts"][0]["holder_pid"].as_i64().is_some(),
        "other hosts run on"
    );
    let refused = by(&guard.args(&["exec", "2", "--", "true"]));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("lab start --name bytlab1"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    ok(&guard.args(&["start", "2"]));
    let kept = ok(&guard.args(&["exec", "2", "--", "cat", "/var/lib/glusterd/state"]));
    assert_eq!(kept.trim(), "kept");
    assert_eq!(
        ok(&guard.args(&["exec", "2", "--", "hostname"])).trim(),
        "bytlab1-2"
    );

    let started = Instant::now();
    ok(&["lab", "down", "--name", "bytlab1"]);
    eprintln!("lab down (3 hosts) took {:?}", started.elapsed());
    assert_no_leftovers("bytlab1", &dir);
    // The FUSE mount left for `lab down` is gone too.
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    assert!(
        !mounts.contains(&tmp.path().display().to_string()),
        "{mounts}"
    );
    let again = ok(&["lab", "down", "--name", "bytlab1"]);
    assert!(again.contains("nothing to remove"), "{again}");
}

/// Starts glusterd in every host (with the machine's glusterd.vol, as the node agent will
/// seed it), makes a replica-3 volume on the hosts' disks, and checks `lab mount` /
/// `lab umount` from the machine. Leaves one mount for `lab down` to remove.
fn gluster_volume_on_the_machine(guard: &LabGuard, dir: &Path, st: &Value, tmp: &Path) {
    let mut bricks = Vec::new();
    for i in 1..=3usize {
        let n = i.to_string();
        std::fs::copy(
            "/etc/glusterfs/glusterd.vol",
            dir.join(format!("hosts/{i}/etc-glusterfs/glusterd.vol")),
        )
        .expect("seed glusterd.vol");
        if i > 1 {
            let dev = st["hosts"][i - 1]["loop_device"]
                .as_str()
                .expect("loop device");
            ok(&guard.args(&["exec", &n, "--", "mkfs.xfs", "-q", dev]));
            ok(&guard.args(&["exec", &n, "--", "mkdir", "-p", "/gluster/brick1"]));
            ok(&guard.args(&["exec", &n, "--", "mount", dev, "/gluster/brick1"]));
        }
        bricks.push(format!("{}:/gluster/brick1/gv0", host_ip(st, i)));
    }
    // glusterd needs a few seconds to start; start all three at once.
    let starting: Vec<_> = (1..=3)
        .map(|i| {
            let n = i.to_string();
            Command::new(BIN)
                .args(guard.args(&["exec", &n, "--", "glusterd"]))
                .stdin(Stdio::null())
                .spawn()
                .expect("start glusterd in a host")
        })
        .collect();
    for mut child in starting {
        assert!(
            child.wait().expect("wait for glusterd").success(),
            "glusterd failed to start"
        );
    }
    let gluster = |args: &[&str]| {
        let mut v = vec!["exec", "1", "--", "gluster", "--mode=script"];
        v.extend_from_slice(args);
        ok(&guard.args(&v))
    };
    // glusterd takes a moment to listen after it forks.
    let deadline = Instant::now() + Duration::from_secs(20);
    for i in 2..=3 {
        let ip = host_ip(st, i);
        loop {
            let out = by(&guard.args(&[
                "exec",
                "1",
                "--",
                "gluster",
                "--mode=script",
                "peer",
                "probe",
                &ip,
            ]));
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "peer probe {ip}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let mut args = vec!["volume", "create", "gv0", "replica", "3"];
    args.extend(bricks.iter().map(String::as_str));
    gluster(&args);
    gluster(&["volume", "start", "gv0"]);

    let first = tmp.join("mnt-a");
    let first_s = first.display().to_string();
    ok(&guard.args(&["mount", "gv0", &first_s]));
    std::fs::write(first.join("hello"), "from the machine").expect("write through FUSE");
    let on_brick = ok(&guard.args(&["exec", "3", "--", "cat", "/gluster/brick1/gv0/hello"]));
    assert_eq!(on_brick, "from the machine");
    ok(&guard.args(&["umount", &first_s]));
    let mounts = std::fs::read_to_string("/proc/mounts").expect("read /proc/mounts");
    assert!(!mounts.contains(&first_s), "{mounts}");

    let second = tmp.join("mnt-b");
    ok(&guard.args(&["mount", "gv0", &second.display().to_string()]));
    assert_eq!(
        std::fs::read_to_string(second.join("hello")).expect("read through FUSE"),
        "from the machine"
    );
}

/// `lab up` killed half-way, then `lab down`: nothing remains.
#[test]
fn down_cleans_up_after_a_killed_up() {
    let guard = LabGuard {
        name: "bytlab2",
        dir: None,
    };
    let dir = PathBuf::from("/var/lib/brickyard/lab/bytlab2");
    let mut up = Command::new(BIN)
        .args(["lab", "up", "--name", "bytlab2", "--hosts", "8"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start lab up");
    // Kill it once it has made some hosts but not all.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let netns = sh(&["ip", "netns", "list"]);
        if netns
            .lines()
            .filter(|l| l.starts_with("byl-bytlab2-"))
            .count()
            >= 2
        {
            break;
        }
        assert!(Instant::now() < deadline, "lab up made no hosts: {netns}");
        assert!(
            up.try_wait().expect("poll lab up").is_none(),
            "lab up ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    up.kill().expect("kill -9 lab up");
    up.wait().expect("reap lab up");
    assert!(
        dir.join("lab.json").exists(),
        "the state file was written first"
    );
    let holders = sh(&[
        "pgrep",
        "-f",
        "lab holder --host-dir /var/lib/brickyard/lab/bytlab2/",
    ]);
    assert!(
        !holders.trim().is_empty(),
        "holders of the half-made lab run"
    );

    ok(&["lab", "down", "--name", "bytlab2"]);
    assert_no_leftovers("bytlab2", &dir);
    ok(&["lab", "down", "--name", "bytlab2"]);
    drop(guard);
}

/// A lab with its own etcd, reachable from the hosts, and a supervised host command that
/// stops and starts with its host.
#[test]
fn etcd_lab_runs_host_commands() {
    let guard = LabGuard {
        name: "bytlab3",
        dir: None,
    };
    let dir = PathBuf::from("/var/lib/brickyard/lab/bytlab3");
    let command = r#"[["sh","-c","echo store={store} host={host}"],["sleep","600"]]"#;
    let out = ok(&guard.args(&[
        "up",
        "--hosts",
        "2",
        "--store",
        "etcd",
        "--disk-size",
        "512M",
        "--host-command",
        command,
    ]));
    assert!(!out.contains("node agent is not started"), "{out}");
    let st = status(&guard);
    assert_eq!(st["etcd_running"], true);
    let url = st["store_url"].as_str().expect("store url").to_owned();
    assert!(url.starts_with("etcd://10."), "{url}");
    assert_eq!(st["hosts"][0]["disk_size"], 512u64 << 20);

    // From inside host 2, through the bridge.
    let cfg = ok(&guard.args(&[
        "exec",
        "2",
        "--",
        BIN,
        "--store",
        &url,
        "config",
        "get",
        "bytlab3-1",
    ]));
    assert!(cfg.contains("\"HostName\": \"bytlab3-1\""), "{cfg}");

    // The command runs, with its placeholders filled in.
    let deadline = Instant::now() + Duration::from_secs(10);
    let log = dir.join("hosts/1/command.log");
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("host=bytlab3-1")
    {
        assert!(Instant::now() < deadline, "host command did not run");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains(&format!("store={url}"))
    );
    let st = status(&guard);
    let first = st["hosts"][0]["command_pid"]
        .as_i64()
        .expect("command runs");

    ok(&guard.args(&["stop", "1"]));
    assert_eq!(status(&guard)["hosts"][0]["command_pid"], Value::Null);
    ok(&guard.args(&["start", "1"]));
    let again = status(&guard)["hosts"][0]["command_pid"]
        .as_i64()
        .expect("command runs again");
    assert_ne!(first, again);

    ok(&["lab", "down", "--name", "bytlab3"]);
    assert_no_leftovers("bytlab3", &dir);
    drop(guard);
}
