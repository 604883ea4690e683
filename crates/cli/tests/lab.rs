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

use brickyard_testkit::{LabGuard, assert_no_lab_leftovers, wait_until};
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
    let guard = LabGuard::new(BIN, "bytlab1", Some(dir.clone()));
    let machine_hostname = sh(&["hostname"]);

    let started = Instant::now();
    let dir_s = dir.display().to_string();
    let out = ok(&guard.args(&["up", "--hosts", "3", "--no-agents", "--dir", &dir_s]));
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
    assert_no_lab_leftovers("bytlab1", &dir);
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
    // Runs `args` in host `n` every 200 ms until `done` says so, for at most 20 s; the
    // failure names `what` and the last output.
    let until = |n: &str, args: &[&str], what: &str, done: &dyn Fn(&Output) -> bool| {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut v = vec!["exec", n, "--"];
        v.extend_from_slice(args);
        loop {
            let out = by(&guard.args(&v));
            if done(&out) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{what}:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    // glusterd takes a moment to listen after it forks.
    for i in 2..=3 {
        let ip = host_ip(st, i);
        let probe = ["gluster", "--mode=script", "peer", "probe", &ip];
        until("1", &probe, &format!("peer probe {ip}"), &|o| {
            o.status.success()
        });
    }
    // A probe that succeeded on host 1 is not yet a pool every host sees: host 1 tells the
    // others of each other afterwards, and staging fails on a host that has not connected.
    for i in 1..=3 {
        let all_connected = |o: &Output| {
            let connected = String::from_utf8_lossy(&o.stdout)
                .lines()
                .filter(|l| l.split_whitespace().last() == Some("Connected"))
                .count();
            o.status.success() && connected == 3
        };
        until(
            &i.to_string(),
            &["gluster", "--mode=script", "pool", "list"],
            &format!("host {i} does not see all three hosts connected"),
            &all_connected,
        );
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
    let guard = LabGuard::new(BIN, "bytlab2", None);
    let dir = PathBuf::from("/var/lib/brickyard/lab/bytlab2");
    let mut up = Command::new(BIN)
        .args([
            "lab",
            "up",
            "--name",
            "bytlab2",
            "--hosts",
            "8",
            "--no-agents",
        ])
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
    assert_no_lab_leftovers("bytlab2", &dir);
    ok(&["lab", "down", "--name", "bytlab2"]);
    drop(guard);
}

/// A lab with its own etcd, reachable from the hosts, and a supervised host command that
/// stops and starts with its host.
#[test]
fn etcd_lab_runs_host_commands() {
    let guard = LabGuard::new(BIN, "bytlab3", None);
    let dir = PathBuf::from("/var/lib/brickyard/lab/bytlab3");
    let command = r#"[["sh","-c","echo store={store} host={host}"],["sleep","600"]]"#;
    let out = ok(&guard.args(&[
        "up",
        "--hosts",
        "2",
        "--store",
        "etcd",
        "--disk-size",
        "512Mi",
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
    assert_no_lab_leftovers("bytlab3", &dir);
    drop(guard);
}

/// The node agents' records, by host name, from `node status`.
fn agents(store: &str) -> std::collections::BTreeMap<String, Value> {
    let out = ok(&["--store", store, "node", "status", "--output", "json"]);
    let rows: Vec<Value> = serde_json::from_str(&out).expect("node status JSON");
    rows.into_iter()
        .map(|r| (r["host"].as_str().unwrap_or_default().to_owned(), r))
        .collect()
}

/// Waits until every host's agent runs and its glusterd sees all other hosts connected.
fn wait_for_pool(store: &str, hosts: usize, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        let all = agents(store);
        let ready = all
            .values()
            .filter(|r| {
                r["live"] == true
                    && r["state"] == "running"
                    && r["peers"].as_array().is_some_and(|p| {
                        p.len() == hosts - 1
                            && p.iter()
                                .all(|p| p["connected"] == true && p["state"] == "Peer in Cluster")
                    })
            })
            .count();
        if ready == hosts {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "the pool did not form within {limit:?}: {}",
            serde_json::to_string_pretty(&all).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// How many probes the agents of a lab have made so far, from their logs.
fn probes(dir: &Path) -> usize {
    (1..=3)
        .map(|i| {
            std::fs::read_to_string(dir.join(format!("hosts/{i}/command.log")))
                .unwrap_or_default()
                .matches(": probed ")
                .count()
        })
        .sum()
}

/// The node agents on a 3-host lab: the pool forms by itself; gluster's operator commands
/// work on IP-bound nodes; a killed glusterd is restarted; a killed agent comes back with
/// the same UUID and probes nobody again; a host stopped and started comes back whole.
#[test]
fn agents_form_the_pool_and_recover_from_kills() {
    let guard = LabGuard::new(BIN, "bytag1", None);
    let dir = PathBuf::from("/var/lib/brickyard/lab/bytag1");
    let out = ok(&guard.args(&["up", "--hosts", "3", "--wait", "240"]));
    assert!(out.contains("trusted pool of 3 hosts formed"), "{out}");
    eprintln!(
        "{}",
        out.lines()
            .find(|l| l.contains("formed"))
            .unwrap_or_default()
    );
    let store = format!("file://{}/store", dir.display());
    wait_for_pool(&store, 3, Duration::from_secs(60));
    let before = agents(&store);
    let uuid = |m: &std::collections::BTreeMap<String, Value>, h: &str| {
        m[h]["uuid"].as_str().map(str::to_owned)
    };
    for h in ["bytag1-1", "bytag1-2", "bytag1-3"] {
        assert!(
            uuid(&before, h).is_some(),
            "{h} has no UUID: {:?}",
            before[h]
        );
    }

    // The operator's commands on an IP-bound node, run inside the host as an operator would.
    let st = status(&guard);
    let ips: Vec<String> = (1..=3).map(|i| host_ip(&st, i)).collect();
    let bricks: Vec<String> = ips
        .iter()
        .map(|ip| format!("{ip}:/gluster/brick1/gv0"))
        .collect();
    let mut create = vec![
        "exec", "1", "--", "gluster", "volume", "create", "gv0", "replica", "3",
    ];
    create.extend(bricks.iter().map(String::as_str));
    ok(&guard.args(&create));
    ok(&guard.args(&["exec", "1", "--", "gluster", "volume", "start", "gv0"]));
    let pool = ok(&guard.args(&["exec", "2", "--", "gluster", "pool", "list"]));
    assert_eq!(pool.matches("Connected").count(), 3, "{pool}");
    let peers = ok(&guard.args(&["exec", "2", "--", "gluster", "peer", "status"]));
    assert_eq!(
        peers.matches("Peer in Cluster (Connected)").count(),
        2,
        "{peers}"
    );
    let vs = ok(&guard.args(&["exec", "3", "--", "gluster", "volume", "status", "gv0"]));
    assert_eq!(vs.matches("/gluster/brick1/gv0").count(), 3, "{vs}");
    let heal = ok(&guard.args(&[
        "exec", "3", "--", "gluster", "volume", "heal", "gv0", "info",
    ]));
    assert_eq!(heal.matches("Number of entries: 0").count(), 3, "{heal}");
    let health = by(&["--store", &store, "status", "--output", "json"]);
    let health: Value = serde_json::from_slice(&health.stdout).expect("status JSON");
    assert_eq!(health["healthy"], true, "{health}");
    assert_eq!(health["volumes"][0]["bricks_online"], 3, "{health}");

    // glusterd killed: the agent starts it again; same UUID, peers back.
    let pid = ok(&guard.args(&["exec", "2", "--", "cat", "/run/glusterd.pid"]));
    let pid = pid.trim().to_owned();
    sh(&["kill", "-9", &pid]);
    wait_until(
        "glusterd restarted by the agent",
        Duration::from_secs(60),
        || {
            let a = agents(&store);
            a["bytag1-2"]["glusterd_restarts"].as_u64() >= Some(1)
                && a["bytag1-2"]["glusterd_pid"]
                    .as_u64()
                    .map(|p| p.to_string())
                    != Some(pid.clone())
                && a["bytag1-2"]["glusterd_pid"].is_u64()
        },
    );
    wait_for_pool(&store, 3, Duration::from_secs(60));
    assert_eq!(uuid(&agents(&store), "bytag1-2"), uuid(&before, "bytag1-2"));

    // The agent killed: its supervisor starts it again; same UUID, no new probe.
    let probes_before = probes(&dir);
    let started_before = agents(&store)["bytag1-1"]["started_at"].clone();
    let agent = brickyard_testkit::lab_agent_pid(&dir, 1).expect("agent of host 1");
    sh(&["kill", "-9", &agent.to_string()]);
    wait_until("a new agent on host 1", Duration::from_secs(60), || {
        let a = agents(&store);
        a["bytag1-1"]["live"] == true && a["bytag1-1"]["started_at"] != started_before
    });
    wait_for_pool(&store, 3, Duration::from_secs(90));
    assert_eq!(uuid(&agents(&store), "bytag1-1"), uuid(&before, "bytag1-1"));
    assert_eq!(
        probes(&dir),
        probes_before,
        "a restarted agent must not probe known peers"
    );

    // SIGTERM: the agent stops glusterd and the brick processes it started, and exits 0.
    let agent = brickyard_testkit::lab_agent_pid(&dir, 3).expect("agent of host 3");
    let holder = status(&guard)["hosts"][2]["holder_pid"]
        .as_i64()
        .expect("holder pid of host 3");
    let host_ns = std::fs::read_link(format!("/proc/{holder}/ns/mnt")).expect("mount ns");
    let gluster_in_host3 = || {
        std::fs::read_dir("/proc")
            .expect("/proc")
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().parse::<u32>().is_ok())
            .filter(|e| std::fs::read_link(e.path().join("ns/mnt")).ok().as_ref() == Some(&host_ns))
            .filter(|e| {
                let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
                matches!(comm.trim(), "glusterd" | "glusterfsd")
            })
            .count()
    };
    assert!(
        gluster_in_host3() >= 2,
        "glusterd and a brick run on host 3"
    );
    sh(&["kill", "-TERM", &agent.to_string()]);
    wait_until("the agent to exit", Duration::from_secs(30), || {
        !Path::new(&format!("/proc/{agent}")).exists()
    });
    let log = std::fs::read_to_string(dir.join("hosts/3/command.log")).expect("agent log");
    assert!(log.contains("SIGTERM received"), "{log}");
    assert!(log.contains("the command finished; starting over"), "{log}");
    let stopped_at = log.rfind("stopped").expect("the agent says it stopped");
    let before_stop = &log[..stopped_at];
    assert!(
        before_stop.contains("glusterd stopped, and ")
            && !before_stop.contains("glusterd stopped, and 0 brick"),
        "the brick and the self-heal daemon stop with glusterd:\n{log}"
    );
    // The lab's supervisor starts the agent again, which brings glusterd and the brick back
    // (glusterd starts the brick after it answers, so the brick may come a moment later).
    wait_for_pool(&store, 3, Duration::from_secs(90));
    wait_until(
        "glusterd and the brick back on host 3",
        Duration::from_secs(30),
        || gluster_in_host3() >= 2,
    );

    // A host fails and returns: same UUID, all peers connected, bricks online.
    ok(&guard.args(&["stop", "2"]));
    ok(&guard.args(&["start", "2"]));
    wait_for_pool(&store, 3, Duration::from_secs(120));
    assert_eq!(uuid(&agents(&store), "bytag1-2"), uuid(&before, "bytag1-2"));
    wait_until("every brick online", Duration::from_secs(60), || {
        let out = by(&["--store", &store, "status", "--output", "json"]);
        serde_json::from_slice::<Value>(&out.stdout).is_ok_and(|h| {
            h["healthy"] == true
                && h["volumes"][0]["bricks_online"] == 3
                && h["volumes"][0]["heal_pending"] == 0
        })
    });

    ok(&guard.args(&["down"]));
    assert_no_lab_leftovers("bytag1", &dir);
}

/// On etcd, with the agents started by hand in shuffled order and one host 20 s late, the
/// pool still forms.
#[test]
fn the_pool_forms_on_etcd_with_a_late_host() {
    let guard = LabGuard::new(BIN, "bytag2", None);
    let dir = PathBuf::from("/var/lib/brickyard/lab/bytag2");
    ok(&guard.args(&[
        "up",
        "--hosts",
        "3",
        "--store",
        "etcd",
        "--no-agents",
        "--disk-size",
        "512Mi",
    ]));
    let st = status(&guard);
    let store = st["store_url"].as_str().expect("store url").to_owned();
    assert!(store.starts_with("etcd://"), "{store}");
    let logs = tempfile::tempdir().expect("temp dir");
    let mut children = Vec::new();
    let start_agent = |i: usize| {
        let host = format!("bytag2-{i}");
        let holder = status(&guard)["hosts"][i - 1]["holder_pid"]
            .as_i64()
            .expect("holder pid")
            .to_string();
        ok(&guard.args(&[
            "exec",
            &i.to_string(),
            "--",
            BIN,
            "--store",
            &store,
            "host",
            "prepare",
            "--host",
            &host,
            "--interface",
            "eth0",
        ]));
        let log =
            std::fs::File::create(logs.path().join(format!("agent-{i}.log"))).expect("log file");
        Command::new("nsenter")
            .args([
                "-t", &holder, "-m", "-u", "-n", "--", BIN, "--store", &store, "node", "run",
                "--host", &host,
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log file"))
            .stderr(log)
            .spawn()
            .expect("start an agent")
    };
    children.push(start_agent(3));
    children.push(start_agent(2));
    std::thread::sleep(Duration::from_secs(20));
    let late = Instant::now();
    children.push(start_agent(1));
    let took = wait_for_pool(&store, 3, Duration::from_secs(120));
    eprintln!(
        "pool formed {took:?} after the late host's agent started ({:?})",
        late.elapsed()
    );
    for mut c in children {
        let _ = c.kill();
        let _ = c.wait();
    }
    ok(&guard.args(&["down"]));
    assert_no_lab_leftovers("bytag2", &dir);
}
