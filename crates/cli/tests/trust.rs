//! What brickyard must never be tricked into, on the real binary and a real 3-host lab
//! (root): hostile and unreadable records written straight into the store, a second agent
//! under a running one's name, a lease that lapses, secrets that must not reach glusterd, a
//! store other users must not lock, concurrent host preparation sharing `/etc`, a wall
//! clock that jumps, and config changes under a live agent.
//!
//! One lab (`byttr`) for the checks that need agents, removed by a guard also when a check
//! fails; the others make what they need and remove it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use brickyard_store::{FileStore, Store};
use brickyard_testkit::{LabGuard, Run, TempStore, lab_agent_pid, run, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");
const LAB: &str = "byttr";

fn by(store: &str, args: &[&str]) -> Run {
    run(BIN, args, &[("BRICKYARD_STORE", store)])
}

fn lab(cmd: &str, rest: &[&str]) -> Run {
    let mut v = vec!["lab", cmd, "--name", LAB];
    v.extend_from_slice(rest);
    run(BIN, &v, &[])
}

fn on_host(index: usize, argv: &[&str]) -> Run {
    let i = index.to_string();
    let mut rest = vec![i.as_str(), "--"];
    rest.extend_from_slice(argv);
    lab("exec", &rest)
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
        .block_on(f)
}

fn store_dir() -> PathBuf {
    PathBuf::from(format!("/var/lib/brickyard/lab/{LAB}/store"))
}

fn put(key: &str, value: &[u8]) {
    block_on(async {
        let s = FileStore::open(&store_dir()).expect("the lab's store");
        s.put(key, value, None).await.expect("write the store");
    });
}

fn get(key: &str) -> Option<brickyard_store::Entry> {
    block_on(async {
        let s = FileStore::open(&store_dir()).expect("the lab's store");
        s.get(key).await.expect("read the store")
    })
}

/// Whether every host still has `file` in gv0's brick directory.
fn bricks_hold(file: &str) -> bool {
    (1..=3).all(|i| {
        on_host(i, &["test", "-f", &format!("/gluster/brick1/gv0/{file}")]).code == Some(0)
    })
}

fn agent_log(index: usize) -> String {
    std::fs::read_to_string(format!(
        "/var/lib/brickyard/lab/{LAB}/hosts/{index}/command.log"
    ))
    .unwrap_or_default()
}

#[test]
fn agents_are_not_tricked_by_records_names_leases_or_config_changes() {
    // Made before the lab's guard, so it is removed after the lab's mounts are gone.
    let tmp = tempfile::tempdir().expect("temp dir");
    let _guard = LabGuard::new(BIN, LAB, None);
    let _ = lab("down", &[]);
    lab("up", &["--hosts", "3", "--wait", "240"]).ok();
    let store = format!("file://{}", store_dir().display());
    let st = store.as_str();
    by(st, &["volume", "create", "gv0", "--replica", "3"]).ok();
    let mnt = tmp.path().join("gv0");
    let mnt_s = mnt.display().to_string();
    lab("mount", &["gv0", &mnt_s]).ok();
    std::fs::write(mnt.join("precious"), "data").expect("write through FUSE");
    lab("umount", &[&mnt_s]).ok();
    assert!(bricks_hold("precious"));

    // 1. Hostile records: an empty name and state deleted (which made every host remove
    // its whole brick filesystem), a name that differs from its key (which redirected a
    // delete), brick paths and addresses that are not brickyard's.
    let good = get("gluster/volumes/gv0").expect("gv0's record");
    let text = String::from_utf8(good.value).expect("UTF-8 record");
    let mut hostile: Value = serde_json::from_str(&text).expect("JSON record");
    hostile["name"] = "".into();
    hostile["state"] = "deleted".into();
    hostile["bricks"][0]["path"] = "/gluster/brick1".into();
    put("gluster/volumes/x", hostile.to_string().as_bytes());
    let mut redirect: Value = serde_json::from_str(&text).expect("JSON record");
    redirect["state"] = "deleted".into();
    put("gluster/volumes/y", redirect.to_string().as_bytes());
    let mut injected: Value = serde_json::from_str(&text).expect("JSON record");
    injected["name"] = "z".into();
    injected["bricks"][2]["ip"] = "10.9.9.9 force".into();
    put("gluster/volumes/z", injected.to_string().as_bytes());
    // A status that cannot be read: the volume is left alone, not taken for new.
    put("gluster/volume-status/gv0", b"{not json");
    // Several passes of every agent.
    std::thread::sleep(Duration::from_secs(8));
    assert!(
        bricks_hold("precious"),
        "a hostile record made a host remove brick data"
    );
    let volumes = by(st, &["volume", "list"]).ok();
    for key in [
        "gluster/volumes/x",
        "gluster/volumes/y",
        "gluster/volumes/z",
    ] {
        assert!(
            volumes.stderr.contains(key),
            "{key} not reported:\n{volumes}"
        );
    }
    assert!(
        volumes.stderr.contains("brickyard volume forget"),
        "{volumes}"
    );
    let status = by(st, &["status"]);
    assert_ne!(status.code, Some(0), "{status}");
    assert!(
        status.stdout.contains(
            "record gluster/volumes/x cannot be used: its volume \"\" differs from its key's \"x\""
        ),
        "{status}"
    );
    assert!(
        status
            .stdout
            .contains("record gluster/volume-status/gv0 cannot be used"),
        "{status}"
    );
    let info: Value =
        serde_json::from_str(&by(st, &["volume", "info", "gv0", "-o", "json"]).ok().stdout)
            .expect("JSON");
    assert!(info["status_error"].is_string(), "{info}");
    let gluster = on_host(1, &["gluster", "volume", "list"]).ok();
    assert_eq!(
        gluster.stdout.trim(),
        "gv0",
        "nothing else was created or deleted"
    );
    let logs: String = (1..=3).map(agent_log).collect();
    assert!(
        logs.contains("skipped: record gluster/volumes/x"),
        "the lock holder logs what it skips"
    );
    // The way out: forget them; the holder writes gv0's status again.
    for name in ["x", "y", "z"] {
        by(st, &["volume", "forget", name]).ok();
    }
    block_on(async {
        let s = FileStore::open(&store_dir()).expect("store");
        s.delete("gluster/volume-status/gv0").await.expect("delete");
    });
    wait_until(
        "gv0's status written again",
        Duration::from_secs(30),
        || {
            by(st, &["volume", "info", "gv0", "-o", "json"])
                .stdout
                .contains("\"phase\": \"started\"")
        },
    );
    let refused = by(st, &["volume", "forget", "gv0"]).fails();
    assert!(refused.stderr.contains("its record is valid"), "{refused}");
    assert!(bricks_hold("precious"));

    // 2. brickyard's volume carries its marker, so a lost status cannot make it hand-made.
    let opts = on_host(1, &["gluster", "volume", "get", "gv0", "user.brickyard.id"]).ok();
    let id: Value = serde_json::from_str(&text).expect("JSON");
    assert!(
        opts.stdout.contains(id["id"].as_str().expect("an id")),
        "{opts}"
    );

    // 3. A second agent under the name of the lock's holder does not lead.
    let lock = get("gluster/locks/pool").expect("the pool lock is held");
    let holder: Value = serde_json::from_slice(&lock.value).expect("lock value");
    let host = holder["holder"].as_str().expect("holder").to_owned();
    let index: usize = host
        .rsplit('-')
        .next()
        .and_then(|i| i.parse().ok())
        .expect("index");
    let twin = on_host(
        index,
        &[
            BIN,
            "--store",
            st,
            "node",
            "bootstrap",
            "--host",
            &host,
            "--keep-hostname",
        ],
    );
    eprintln!("node bootstrap beside the agent:\n{twin}");
    let after = get("gluster/locks/pool").expect("the lock is still held");
    assert_eq!(after.lease, lock.lease, "the twin took the lock");
    assert_eq!(after.mod_revision, lock.mod_revision, "the lock moved");

    // 4. A holder whose lease lapses (stopped longer than its TTL) loses the lead to another
    // agent, and does not take it back when it wakes up.
    let pid = lab_agent_pid(
        &PathBuf::from(format!("/var/lib/brickyard/lab/{LAB}")),
        index,
    )
    .expect("the holder's agent");
    let status_before = get("gluster/volume-status/gv0").expect("gv0's status");
    let nixpid = nix::unistd::Pid::from_raw(pid);
    nix::sys::signal::kill(nixpid, nix::sys::signal::Signal::SIGSTOP).expect("SIGSTOP");
    wait_until(
        "another agent takes the pool lock",
        Duration::from_secs(40),
        || get("gluster/locks/pool").is_some_and(|l| l.lease != lock.lease),
    );
    nix::sys::signal::kill(nixpid, nix::sys::signal::Signal::SIGCONT).expect("SIGCONT");
    let taken = get("gluster/locks/pool").expect("held");
    std::thread::sleep(Duration::from_secs(5));
    let still = get("gluster/locks/pool").expect("held");
    assert_eq!(
        still.lease, taken.lease,
        "the woken agent took the lock back"
    );
    let status = get("gluster/volume-status/gv0").expect("gv0's status");
    let by_whom: Value = serde_json::from_slice(&status.value).expect("status JSON");
    assert!(
        status.mod_revision == status_before.mod_revision || by_whom["by"] != host,
        "the old holder wrote gv0's status after losing the lock: {by_whom}"
    );
    assert!(
        (1..=3).any(|i| agent_log(i).contains("another agent holds the pool lock")),
        "the woken agent says it no longer leads"
    );

    // 5. glusterd and its children do not inherit the agent's environment.
    let agents: Value =
        serde_json::from_str(&by(st, &["node", "status", "-o", "json"]).ok().stdout).expect("JSON");
    let gpid = agents[0]["glusterd_pid"].as_u64().expect("glusterd's pid");
    let environ = std::fs::read(format!("/proc/{gpid}/environ")).expect("glusterd's environment");
    let environ = String::from_utf8_lossy(&environ);
    assert!(
        !environ.contains("BRICKYARD_"),
        "glusterd inherited: {environ}"
    );

    // 6. Nobody but root may read the lab's store or hold its lock.
    let meta = std::fs::metadata(store_dir()).expect("store dir");
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o700
    );
    let lock_file = store_dir().join(".lock");
    let stolen = run(
        "setpriv",
        &[
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "flock",
            "-n",
            &lock_file.display().to_string(),
            "true",
        ],
        &[],
    );
    assert_ne!(
        stolen.code,
        Some(0),
        "another user took the store's lock:\n{stolen}"
    );

    // 7. Config changes: an identity change under a live agent is refused; a change of the
    // peers applies live; an invalid config is reported and the agent keeps running.
    let cfg_path = format!("/var/lib/brickyard/lab/{LAB}/configs/{LAB}-1.json");
    let cfg: Value =
        serde_json::from_str(&std::fs::read_to_string(&cfg_path).expect("config")).expect("JSON");
    let mut moved = cfg.clone();
    moved["IPAddress"] = "10.250.99.9/24".into();
    let moved_path = tmp.path().join(format!("{LAB}-1.json"));
    std::fs::write(&moved_path, moved.to_string()).expect("write");
    let refused = by(st, &["config", "load", &moved_path.display().to_string()]).fails();
    assert!(
        refused.stderr.contains(&format!(
            "host {LAB}-1 has a live agent and would change IPAddress"
        )),
        "{refused}"
    );
    let mut fewer = cfg.clone();
    fewer["PeerList"] = serde_json::json!([cfg["PeerList"][0]]);
    std::fs::write(&moved_path, fewer.to_string()).expect("write");
    let loaded = by(st, &["config", "load", &moved_path.display().to_string()]).ok();
    assert!(
        loaded.stdout.contains(&format!("{LAB}-1: PeerList:")),
        "{loaded}"
    );
    wait_until(
        "the agent applies the new peers",
        Duration::from_secs(20),
        || agent_log(1).contains("config change applied: PeerList"),
    );
    put(&format!("gluster/config/{LAB}-1"), b"{\"HostName\": 7}");
    wait_until(
        "the agent reports the invalid config",
        Duration::from_secs(20),
        || {
            by(st, &["node", "status", "-o", "json"])
                .stdout
                .contains("the agent runs on the last good one")
        },
    );
    let alive = on_host(1, &["gluster", "pool", "list"]);
    assert_eq!(alive.code, Some(0), "glusterd of host 1 stopped:\n{alive}");
    std::fs::write(&moved_path, cfg.to_string()).expect("write");
    // The stored bytes are not a valid config, so the load compares against nothing.
    by(st, &["config", "load", &moved_path.display().to_string()]).ok();
}

#[test]
fn concurrent_prepares_sharing_etc_all_succeed() {
    // Lab hosts share the machine's /etc but each has its own /etc/fstab bind-mounted: the
    // case where a fixed temporary name made one of two simultaneous prepares fail.
    let name = "byttp";
    let dir = format!("/var/lib/brickyard/lab/{name}");
    let down = || run(BIN, &["lab", "down", "--name", name], &[]);
    struct Down<F: Fn() -> Run>(F);
    impl<F: Fn() -> Run> Drop for Down<F> {
        fn drop(&mut self) {
            let out = (self.0)();
            if out.code != Some(0) {
                eprintln!("cleanup failed:\n{out}");
            }
        }
    }
    let _down = Down(down);
    run(
        BIN,
        &["lab", "up", "--name", name, "--hosts", "3", "--no-agents"],
        &[],
    )
    .ok();
    let store = format!("file://{dir}/store");
    let handles: Vec<_> = (1..=3)
        .map(|i| {
            let store = store.clone();
            std::thread::spawn(move || {
                let host = format!("{name}-{i}");
                let i = i.to_string();
                run(
                    BIN,
                    &[
                        "lab",
                        "exec",
                        "--name",
                        name,
                        &i,
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
                    ],
                    &[],
                )
            })
        })
        .collect();
    for h in handles {
        h.join().expect("prepare thread").ok();
    }
    for i in 1..=3 {
        let fstab = std::fs::read_to_string(format!("{dir}/hosts/{i}/fstab")).expect("fstab");
        assert!(fstab.contains("/gluster/brick1 xfs"), "host {i}: {fstab}");
    }
    let leftovers: Vec<_> = std::fs::read_dir("/etc")
        .expect("/etc")
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("brickyard"))
        .collect();
    assert!(
        leftovers.is_empty(),
        "temporary files left in /etc: {leftovers:?}"
    );
}

#[test]
fn leases_do_not_jump_with_the_wall_clock() {
    // A lease-backed liveness record, then brickyard run with the wall clock two hours
    // ahead (as an NTP step would set it): the lease is measured on the boot clock and the
    // agent still counts as live.
    let store = TempStore::new();
    let url = store.url();
    block_on(async {
        let s = FileStore::open(Path::new(store.path())).expect("store");
        let lease = s.grant_lease(Duration::from_secs(60)).await.expect("lease");
        let record = serde_json::json!({
            "host": "atomic-1", "node_name": "gluster-1", "ip": "10.1.1.1", "uuid": null,
            "state": "running", "glusterd_pid": 1, "glusterd_restarts": 0, "peers": [],
            "problems": [], "version": "t", "started_at": 0, "updated_at": 0
        });
        s.put(
            "gluster/status/atomic-1",
            record.to_string().as_bytes(),
            Some(lease),
        )
        .await
        .expect("put");
    });
    let ahead = run(
        "faketime",
        &[
            "-f", "+2h", BIN, "--store", &url, "node", "status", "-o", "json",
        ],
        &[("FAKETIME_DONT_FAKE_MONOTONIC", "1")],
    )
    .ok();
    let rows: Value = serde_json::from_str(&ahead.stdout).expect("JSON");
    assert_eq!(rows[0]["live"], true, "{ahead}");
    let behind = run(
        "faketime",
        &[
            "-f", "-2h", BIN, "--store", &url, "node", "status", "-o", "json",
        ],
        &[("FAKETIME_DONT_FAKE_MONOTONIC", "1")],
    )
    .ok();
    assert!(behind.stdout.contains("\"live\": true"), "{behind}");
}
