//! End-to-end tests of `brickyard volume` on a real 3-host lab (root): the node agents create,
//! expand and delete real gluster volumes from the records the CLI writes.
//!
//! One lab (`bytv1`) for the whole file, removed by a guard that runs `lab down` also when
//! the test fails. Run with `-- --nocapture` to see the timings and small-file rates.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use brickyard_testkit::{LabGuard, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");
const LAB: &str = "bytv1";

/// Runs brickyard against the lab's store; returns the output whatever the exit code.
fn by(store: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("BRICKYARD_STORE", store)
        .env_remove("KV_IP")
        .stdin(Stdio::null())
        .output()
        .expect("run brickyard")
}

/// Runs brickyard and fails the test, showing what it said, unless it succeeds.
fn ok(store: &str, args: &[&str]) -> String {
    let out = by(store, args);
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

fn lab(store: &str, cmd: &str, rest: &[&str]) -> String {
    let mut v = vec!["lab", cmd, "--name", LAB];
    v.extend_from_slice(rest);
    ok(store, &v)
}

/// The volume names in each host's brick mount.
fn brick_dirs(store: &str) -> Vec<Vec<String>> {
    (1..=3)
        .map(|i| {
            lab(
                store,
                "exec",
                &[&i.to_string(), "--", "ls", "/gluster/brick1"],
            )
            .lines()
            .map(str::to_owned)
            .collect()
        })
        .collect()
}

fn info(store: &str, name: &str) -> Value {
    serde_json::from_str(&ok(store, &["volume", "info", name, "--output", "json"]))
        .expect("volume info JSON")
}

/// Mounts `name`, writes and reads a file, creates `files` small files and returns the
/// rate (files/s), unmounts.
fn use_volume(store: &str, tmp: &Path, name: &str, files: usize) -> f64 {
    let mnt = tmp.join(format!("mnt-{name}"));
    let mnt_s = mnt.display().to_string();
    lab(store, "mount", &[name, &mnt_s]);
    std::fs::write(mnt.join("hello"), format!("hello {name}")).expect("write through FUSE");
    assert_eq!(
        std::fs::read_to_string(mnt.join("hello")).expect("read through FUSE"),
        format!("hello {name}")
    );
    let dir = mnt.join(format!("small-{files}"));
    std::fs::create_dir(&dir).expect("mkdir through FUSE");
    let start = Instant::now();
    for i in 0..files {
        std::fs::write(dir.join(format!("f{i}")), [7u8; 1024]).expect("small file");
    }
    let rate = files as f64 / start.elapsed().as_secs_f64().max(1e-6);
    lab(store, "umount", &[&mnt_s]);
    rate
}

#[test]
fn volumes_are_created_used_expanded_and_deleted_by_the_agents() {
    // Made before the lab's guard, so it is removed after the lab's mounts are gone.
    let tmp = tempfile::Builder::new()
        .prefix("bytv-")
        .tempdir()
        .expect("temp dir");
    let _guard = LabGuard::new(BIN, LAB, None);
    let dir = PathBuf::from(format!("/var/lib/brickyard/lab/{LAB}"));
    let store = format!("file://{}/store", dir.display());
    let st = &store;
    let t0 = Instant::now();
    lab(st, "up", &["--hosts", "3", "--wait", "240"]);
    eprintln!("lab up: {:?}", t0.elapsed());

    // Bad names are refused before anything is written.
    for bad in ["bad.name", "../etc", "a;reboot", "-x", "0abc"] {
        let out = by(st, &["volume", "create", "--", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad} accepted");
        assert!(
            err.contains("volume name") && err.contains("use 1-64 letters"),
            "{bad}: {err}"
        );
    }
    // So are layouts the cluster cannot hold.
    let out = by(
        st,
        &[
            "volume",
            "create",
            "big",
            "--disperse",
            "6",
            "--redundancy",
            "2",
        ],
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("needs 6 distinct hosts with a free brick mount, the cluster has 3"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // Each volume type, created through the agents, written and read through FUSE.
    let kinds: [(&str, &[&str]); 5] = [
        ("rep3", &[]),
        ("rep3small", &["--profile", "small-files"]),
        ("arb", &["--replica", "2", "--arbiter"]),
        ("ec", &["--disperse", "3", "--redundancy", "1"]),
        ("dist", &["--distribute", "2"]),
    ];
    for (name, flags) in kinds {
        let t = Instant::now();
        let mut args = vec!["volume", "create", name];
        args.extend_from_slice(flags);
        if name == "ec" {
            // The JSON answer: the volume, and how long the command took.
            args.extend(["--output", "json"]);
            let v: Value = serde_json::from_str(&ok(st, &args)).expect("json");
            assert_eq!(v["record"]["name"], name, "{v}");
            assert_eq!(v["status"]["phase"], "started", "{v}");
            assert!(v["took_seconds"].as_f64().is_some_and(|t| t > 0.0), "{v}");
        } else {
            // Says what it did: state, layout, hosts, profile, time taken.
            let out = ok(st, &args);
            let profile = if name == "rep3small" {
                "small-files"
            } else {
                "default"
            };
            assert!(
                out.starts_with(&format!("volume {name}: desired started, started; "))
                    && out.contains(&format!(" on {LAB}-"))
                    && out.contains(&format!("; profile {profile}; took ")),
                "{out}"
            );
        }
        eprintln!("create+start {name} through brickyard: {:?}", t.elapsed());
        let v = info(st, name);
        assert_eq!(v["status"]["phase"], "started", "{v}");
        assert_eq!(v["gluster"]["state"], "Started", "{v}");
        assert_eq!(v["differences"], Value::Array(vec![]), "{v}");
        let rate = use_volume(st, tmp.path(), name, 200);
        eprintln!("small-file creates on {name}: {rate:.0}/s");
    }
    let arb = info(st, "arb");
    assert_eq!(arb["gluster"]["arbiter_count"], 1, "{arb}");

    // The in-tree PV chain for a managed volume checks what the volume can hold, from the
    // brick filesystems (the lab's disks are about 1 GB).
    let pv = |size: &str| {
        by(
            st,
            &[
                "kube",
                "static-pv",
                "--volume",
                "rep3",
                "--size",
                size,
                "--kube-version",
                "1.25",
            ],
        )
    };
    let big = pv("100Gi");
    assert!(
        !big.status.success(),
        "a 100Gi claim on 1 GB bricks must be refused"
    );
    assert!(
        String::from_utf8_lossy(&big.stderr).contains("is larger than volume rep3"),
        "{}",
        String::from_utf8_lossy(&big.stderr)
    );
    let small_pv = pv("100Mi");
    assert!(
        small_pv.status.success()
            && !String::from_utf8_lossy(&small_pv.stderr).contains("not checked"),
        "{}",
        String::from_utf8_lossy(&small_pv.stderr)
    );
    let small = info(st, "rep3small");
    assert_eq!(
        small["gluster"]["options"]["performance.parallel-readdir"], "on",
        "{small}"
    );

    // Expand the distribute volume onto the third host; the data stays readable.
    ok(st, &["volume", "expand", "dist"]);
    let v = info(st, "dist");
    assert_eq!(v["gluster"]["brick_count"], 3, "{v}");
    assert_eq!(v["differences"], Value::Array(vec![]), "{v}");
    use_volume(st, tmp.path(), "dist", 10);
    // A replica 3 volume cannot grow on 3 hosts with one brick mount each: refused clearly.
    let out = by(st, &["volume", "expand", "rep3"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("replica 3 x 2 needs 3 distinct hosts"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A volume made by hand is reported as unmanaged and left alone.
    let ip1 = info(st, "rep3")["record"]["bricks"][0]["ip"]
        .as_str()
        .expect("brick ip")
        .to_owned();
    lab(
        st,
        "exec",
        &[
            "1",
            "--",
            "gluster",
            "--mode=script",
            "volume",
            "create",
            "handmade",
            &format!("{ip1}:/gluster/brick1/handmade"),
        ],
    );
    wait_until(
        "handmade reported as unmanaged",
        Duration::from_secs(30),
        || {
            let l: Value = serde_json::from_str(&ok(st, &["volume", "list", "--output", "json"]))
                .expect("list JSON");
            l["unmanaged"] == serde_json::json!(["handmade"])
        },
    );

    // 20 concurrent creates of one name: exactly one wins, and one gluster volume exists.
    let racers: Vec<_> = (0..20)
        .map(|_| {
            Command::new(BIN)
                .args(["volume", "create", "race", "--no-wait"])
                .env("BRICKYARD_STORE", st)
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a create")
        })
        .collect();
    let mut won = 0;
    for r in racers {
        let out = r.wait_with_output().expect("wait for a create");
        if out.status.success() {
            won += 1;
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("volume race already exists"), "{err}");
        }
    }
    assert_eq!(won, 1, "exactly one create of `race` must win");

    // Every agent killed as soon as the create is taken up: the volume is completed (or
    // kept) after the restart. A create takes about half a second, so the kill often comes
    // just after it; the fault suite's holder-kill-mid-create holds a create in the middle
    // on purpose.
    ok(st, &["volume", "create", "killed", "--no-wait"]);
    wait_until(
        "create of `killed` taken up",
        Duration::from_secs(60),
        || {
            let phase = info(st, "killed")["status"]["phase"].clone();
            phase == "creating" || phase == "started"
        },
    );
    eprintln!(
        "agents killed with `killed` {}",
        info(st, "killed")["status"]["phase"]
    );
    for i in 1..=3 {
        if let Some(pid) = brickyard_testkit::lab_agent_pid(&dir, i) {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
    }
    let t = Instant::now();
    wait_until(
        "`killed` and `race` started",
        Duration::from_secs(120),
        || {
            ["killed", "race"]
                .iter()
                .all(|v| info(st, v)["status"]["phase"] == "started")
        },
    );
    eprintln!(
        "after killing every agent mid-create, started within {:?}",
        t.elapsed()
    );
    let gl = lab(st, "exec", &["2", "--", "gluster", "volume", "list"]);
    assert_eq!(gl.lines().filter(|l| *l == "race").count(), 1, "{gl}");
    assert_eq!(gl.lines().filter(|l| *l == "killed").count(), 1, "{gl}");

    // Brick multiplexing: asked for in the store, applied to gluster by the pool lock's
    // holder; the bricks of the next volumes on a host then share a brick process.
    let settings = |st: &str| -> Value {
        serde_json::from_str(&ok(st, &["config", "cluster", "--output", "json"])).expect("json")
    };
    assert_eq!(settings(st)["brick_multiplex"], false);
    // A cluster-wide option as host 1's glusterd reports it.
    let global = |st: &str, option: &str| -> Option<String> {
        let out = lab(
            st,
            "exec",
            &["1", "--", "gluster", "volume", "get", "all", option],
        );
        out.lines()
            .find(|l| l.starts_with(option))
            .and_then(|l| l.split_whitespace().nth(1))
            .map(str::to_owned)
    };
    let gluster_mux = |st: &str| global(st, "cluster.brick-multiplex");
    ok(st, &["config", "cluster", "--brick-multiplex", "on"]);
    assert_eq!(settings(st)["brick_multiplex"], true);
    wait_until(
        "gluster's brick multiplexing on",
        Duration::from_secs(60),
        || gluster_mux(st).as_deref() == Some("on"),
    );
    // ...with no more bricks per process than the open-files limit the agents (and through
    // them the brick processes) inherited from this test holds.
    let (_, hard) = nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE)
        .expect("the open-files limit");
    let per_process = brickyard_volumes::settings::bricks_per_process(hard).to_string();
    // The holder sets it right after turning multiplexing on, in the same pass.
    wait_until(
        &format!("{per_process} bricks per process (open-files limit {hard})"),
        Duration::from_secs(30),
        || global(st, "cluster.max-bricks-per-process").as_deref() == Some(per_process.as_str()),
    );
    let host1 = brickyard_sys::procs::ns_id(Path::new(&format!("/run/netns/byl-{LAB}-1")))
        .expect("host 1's namespace");
    let brick_processes = || {
        brickyard_sys::procs::pids_in(&[("net", host1)])
            .expect("list processes")
            .into_iter()
            .filter(|&p| brickyard_sys::procs::comm(p).as_deref() == Some("glusterfsd"))
            .count()
    };
    let before = brick_processes();
    ok(st, &["volume", "create", "mux1"]);
    ok(st, &["volume", "create", "mux2"]);
    let after = brick_processes();
    assert!(
        after <= before + 1,
        "two volumes made with brick multiplexing on started {} brick processes on host 1",
        after - before
    );
    // Turned off again, the next volume's brick has a process of its own.
    ok(st, &["config", "cluster", "--brick-multiplex", "off"]);
    wait_until(
        "gluster's brick multiplexing off",
        Duration::from_secs(60),
        || gluster_mux(st).as_deref() == Some("off"),
    );
    ok(st, &["volume", "create", "mux3"]);
    assert_eq!(brick_processes(), after + 1, "mux3's brick on host 1");

    // Delete everything brickyard made; afterwards no brick directory of it on any host.
    let ours = [
        "rep3",
        "rep3small",
        "arb",
        "ec",
        "dist",
        "race",
        "killed",
        "mux1",
        "mux2",
        "mux3",
    ];
    for v in ours {
        ok(st, &["volume", "delete", v, "--force", "--no-wait"]);
    }
    let t = Instant::now();
    wait_until("every volume deleted", Duration::from_secs(120), || {
        let l: Value = serde_json::from_str(&ok(st, &["volume", "list", "--output", "json"]))
            .expect("list JSON");
        l["volumes"].as_array().is_some_and(Vec::is_empty)
    });
    eprintln!("deleting {} volumes took {:?}", ours.len(), t.elapsed());
    let gl = lab(st, "exec", &["1", "--", "gluster", "volume", "list"]);
    assert_eq!(gl.trim(), "handmade", "{gl}");
    for (i, dirs) in brick_dirs(st).iter().enumerate() {
        let want: Vec<String> = if i == 0 {
            vec!["handmade".into()]
        } else {
            vec![]
        };
        assert_eq!(dirs, &want, "host {} brick mount", i + 1);
    }
    eprintln!("whole test: {:?}", t0.elapsed());
}
