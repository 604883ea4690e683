//! Day-2 operations on a real 3-host lab with several disks per host (root): replicated and
//! dispersed volumes grown by whole sets and rebalanced, a disk added to a running host and
//! used at once, a brick moved to it with `replace-brick`, and a disk that fails for good
//! reported with the bricks it takes down and its brick moved away; every file checked
//! byte for byte through the mount and on the bricks.
//!
//! A second test adds a fourth host to a running lab, drains a host, rebuilds a stopped one
//! on another and removes it from the cluster (`bytd4`).
//! The two run one after the other; each lab is removed by a guard however its test ends.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use brickyard_gluster::Gluster;
use brickyard_lab::{Lab, LabName};
use brickyard_testkit::{Brickyard, LabGuard, run, wait_until};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");
const LAB: &str = "bytd2";
const LAB4: &str = "bytd4";

/// The tests of this file take turns: two labs at once would make both slow.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn open_lab() -> Lab {
    open_named(LAB)
}

/// `lab up` with agents: `hosts` hosts of `disks` disks of 512 MiB each.
fn lab_up(name: &str, hosts: usize, disks: usize) {
    let (hosts, disks) = (hosts.to_string(), disks.to_string());
    run(
        BIN,
        &[
            "lab",
            "up",
            "--name",
            name,
            "--hosts",
            &hosts,
            "--disks",
            &disks,
            "--disk-size",
            "512Mi",
            "--wait",
            "240",
        ],
        &[],
    )
    .ok();
}

fn open_named(name: &str) -> Lab {
    Lab::open(&name.parse::<LabName>().expect("lab name"), None).expect("open the lab")
}

/// The content of file `i` of a volume: a few KiB that differ from file to file.
fn content(volume: &str, i: usize) -> Vec<u8> {
    let mut out = Vec::new();
    let mut x = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ volume.len() as u64;
    while out.len() < 2048 + i * 97 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out
}

const FILES: usize = 60;

fn write_files(dir: &Path, volume: &str) {
    for i in 0..FILES {
        std::fs::write(dir.join(format!("f{i}")), content(volume, i)).expect("write a file");
    }
}

/// Every file, through the mount.
#[track_caller]
fn check_files(dir: &Path, volume: &str) {
    for i in 0..FILES {
        let got = std::fs::read(dir.join(format!("f{i}"))).expect("read a file");
        assert!(got == content(volume, i), "{volume}/f{i} differs");
    }
}

/// The file `rel` in brick `path` of host `index`, as its mount namespace sees it.
fn brick_file(index: usize, path: &str, rel: &str) -> PathBuf {
    brick_file_in(LAB, index, path, rel)
}

fn brick_file_in(lab: &str, index: usize, path: &str, rel: &str) -> PathBuf {
    let lab = open_named(lab);
    let host = &lab.state().hosts[index - 1];
    let holder = lab.holder_pid(host).expect("the host's holder");
    PathBuf::from(format!("/proc/{holder}/root{path}/{rel}"))
}

/// `volume info VOLUME --output json`: the record and what was observed of it.
fn info_json(by: &Brickyard, volume: &str) -> Value {
    serde_json::from_str(&by.ok(&["volume", "info", volume, "--output", "json"]))
        .expect("volume info JSON")
}

/// The volume's bricks from `volume info --output json`: (host, path).
fn bricks(by: &Brickyard, volume: &str) -> Vec<(String, String)> {
    info_json(by, volume)["record"]["bricks"]
        .as_array()
        .expect("bricks")
        .iter()
        .map(|b| {
            (
                b["host"].as_str().expect("host").to_owned(),
                b["path"].as_str().expect("path").to_owned(),
            )
        })
        .collect()
}

/// gluster's own brick list of `volume`, asked inside host 1.
fn gluster_bricks(by: &Brickyard, volume: &str) -> String {
    gluster_bricks_on(by, "1", volume)
}

/// gluster's own brick list of `volume`, asked inside host `host`.
fn gluster_bricks_on(by: &Brickyard, host: &str, volume: &str) -> String {
    by.lab("exec", &[host, "--", "gluster", "volume", "info", volume])
}

/// Whether gluster, asked inside host 1, has brick `ip:path` of `volume` online; `None`
/// when it could not be asked or does not list that brick.
fn brick_online(volume: &str, ip: &str, path: &str) -> Option<bool> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let lab = open_lab();
        let enter = lab.enter_argv(&lab.state().hosts[0], &[]).await.ok()?;
        let status = Gluster::new()
            .prefix(enter)
            .timeout(Duration::from_secs(20))
            .volume_status(Some(volume))
            .await
            .ok()?;
        status
            .iter()
            .flat_map(|v| &v.bricks)
            .find(|b| b.host == ip && b.path == path)
            .map(|b| b.online)
    })
}

fn index_of(host: &str) -> usize {
    open_lab()
        .state()
        .hosts
        .iter()
        .find(|h| h.host_name == host)
        .expect("a lab host")
        .index
}

/// Every set's bricks are on distinct hosts.
#[track_caller]
fn sets_on_distinct_hosts(b: &[(String, String)], width: usize) {
    for set in b.chunks(width) {
        let mut hosts: Vec<&str> = set.iter().map(|(h, _)| h.as_str()).collect();
        hosts.sort_unstable();
        hosts.dedup();
        assert_eq!(hosts.len(), width, "a set shares a host: {set:?}");
    }
}

/// Waits until every node's rebalance of `volume` completed; fails showing gluster's last
/// answer.
#[track_caller]
fn wait_rebalance(by: &Brickyard, volume: &str) {
    let start = std::time::Instant::now();
    loop {
        let out = by.run(&[
            "lab",
            "exec",
            "--name",
            &by.lab_name(),
            "1",
            "--",
            "gluster",
            "volume",
            "rebalance",
            volume,
            "status",
        ]);
        if out.code == Some(0)
            && out.stdout.contains("completed")
            && !out.stdout.contains("in progress")
            && !out.stdout.contains("not started")
        {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "rebalance of {volume} did not complete within 120 s:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs `f` on the lab's store.
fn with_store<T>(store: &str, f: impl AsyncFnOnce(&dyn brickyard_store::Store) -> T) -> T {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let url = store.parse().expect("store URL");
        let s = brickyard_store::open(&url, &brickyard_store::EtcdOptions::default())
            .await
            .expect("open the lab's store");
        f(s.as_ref()).await
    })
}

/// The keys under `prefix`, sorted.
fn store_keys(store: &str, prefix: &str) -> Vec<String> {
    with_store(store, async |s| {
        let mut keys: Vec<String> = s
            .list(prefix)
            .await
            .expect("list")
            .into_iter()
            .map(|e| e.key)
            .collect();
        keys.sort();
        keys
    })
}

fn store_put(store: &str, key: &str, value: &str) {
    with_store(store, async |s| {
        s.put(key, value.as_bytes(), None).await.expect("put")
    });
}

fn store_delete(store: &str, key: &str) {
    with_store(store, async |s| {
        s.delete(key).await.expect("delete");
    });
}

/// The brick mounts host `host`'s agent reports (what placement may use).
fn reported_mounts(store: &str, host: &str) -> Vec<String> {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let url = store.parse().expect("store URL");
        let Ok(s) = brickyard_store::open(&url, &brickyard_store::EtcdOptions::default()).await
        else {
            return Vec::new();
        };
        brickyard_volumes::api::live_agents(s.as_ref())
            .await
            .ok()
            .and_then(|mut a| a.remove(host))
            .map(|a| a.bricks.into_iter().map(|b| b.mount_point).collect())
            .unwrap_or_default()
    })
}

#[test]
fn grow_add_a_disk_and_replace_a_brick_without_losing_a_byte() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Made before the lab's guard, so it is removed after the lab's mounts are gone.
    let tmp = tempfile::Builder::new()
        .prefix("bytd2-")
        .tempdir()
        .expect("temp dir");
    let _guard = LabGuard::new(BIN, LAB, None);
    lab_up(LAB, 3, 4);
    let lab = open_lab();
    let store = lab.store_url().to_owned();
    let hosts: Vec<String> = lab
        .state()
        .hosts
        .iter()
        .map(|h| h.host_name.clone())
        .collect();
    let by = Brickyard::new(BIN, &store, LAB);
    let status = by.lab("status", &[]);
    assert_eq!(
        status.matches(" + ").count(),
        9,
        "3 extra disks each:\n{status}"
    );

    by.ok(&["volume", "create", "r3", "--replica", "3"]);
    by.ok(&[
        "volume",
        "create",
        "d3",
        "--disperse",
        "3",
        "--redundancy",
        "1",
    ]);
    let mut mounts = BTreeMap::new();
    for v in ["r3", "d3"] {
        let m = tmp.path().join(v);
        by.lab("mount", &[v, &m.display().to_string()]);
        write_files(&m, v);
        mounts.insert(v, m);
    }

    // Grow both by one whole set on distinct hosts, then rebalance.
    for v in ["r3", "d3"] {
        by.ok(&["volume", "expand", v]);
        let b = bricks(&by, v);
        assert_eq!(b.len(), 6, "{v}: {b:?}");
        sets_on_distinct_hosts(&b, 3);
        let info = gluster_bricks(&by, v);
        assert!(info.contains("2 x "), "{v} in gluster: {info}");
        wait_rebalance(&by, v);
        check_files(&mounts[v], v);
        // status (and the API) show the rebalance as the pool lock's holder saw it.
        wait_until(
            &format!("status showing {v}'s rebalance completed"),
            Duration::from_secs(60),
            || {
                serde_json::from_str::<Value>(&by.run(&["status", "--output", "json"]).stdout)
                    .is_ok_and(|s| {
                        s["volumes"].as_array().is_some_and(|vs| {
                            vs.iter()
                                .any(|x| x["name"] == v && x["rebalance"]["status"] == "completed")
                        })
                    })
            },
        );
        let info = by.ok(&["volume", "info", v]);
        assert!(info.contains("rebalance completed"), "{info}");
    }
    // The rebalance moved files onto the new set of r3.
    let r3 = bricks(&by, "r3");
    let (h, p) = &r3[3];
    let moved = (0..FILES)
        .filter(|i| brick_file(index_of(h), p, &format!("f{i}")).exists())
        .count();
    assert!(moved > 0, "no file of r3 is on its new set ({h}:{p})");
    eprintln!("rebalance put {moved} of {FILES} files of r3 on its new set");

    // A disk added to host 1 while it runs is prepared by its agent and offered.
    let out = by.lab("add-disk", &["1"]);
    assert!(out.contains("new disk"), "{out}");
    wait_until(
        "host 1's agent reporting its new disk",
        Duration::from_secs(60),
        || reported_mounts(&store, &hosts[0]).contains(&"/gluster/brick5".to_owned()),
    );

    // A plain distribute volume's only brick moves with its files: the new brick is
    // added, gluster moves every file onto it, then the old one leaves.
    by.ok(&["volume", "create", "dist", "--distribute", "1"]);
    let dist = bricks(&by, "dist");
    let dist_mnt = tmp.path().join("dist");
    by.lab("mount", &["dist", &dist_mnt.display().to_string()]);
    write_files(&dist_mnt, "dist");
    let out = by.ok(&[
        "volume",
        "replace-brick",
        "dist",
        &format!("{}:{}", dist[0].0, dist[0].1),
    ]);
    assert_ne!(bricks(&by, "dist"), dist, "{out}");
    let v = info_json(&by, "dist");
    let recorded: Vec<String> = v["record"]["bricks"]
        .as_array()
        .expect("bricks")
        .iter()
        .map(|b| {
            format!(
                "{}:{}",
                b["ip"].as_str().expect("ip"),
                b["path"].as_str().expect("path")
            )
        })
        .collect();
    let in_gluster: Vec<String> = v["gluster"]["bricks"]
        .as_array()
        .expect("gluster's bricks")
        .iter()
        .map(|b| b["name"].as_str().expect("name").to_owned())
        .collect();
    assert_eq!(recorded, in_gluster);
    check_files(&dist_mnt, "dist");
    // The old brick's directory goes once gluster no longer uses it.
    let old_host = index_of(&dist[0].0).to_string();
    wait_until(
        "the directory dist's brick moved away from removed",
        Duration::from_secs(60),
        || {
            let t = by.run(&[
                "lab", "exec", "--name", LAB, &old_host, "--", "test", "-e", &dist[0].1,
            ]);
            t.code == Some(1)
        },
    );
    by.lab("umount", &[&dist_mnt.display().to_string()]);
    by.ok(&["volume", "delete", "dist", "--force"]);

    // Refusals: a host of the same set.
    let set1_host1 = r3
        .iter()
        .position(|(h, _)| *h == hosts[0])
        .expect("r3 has a brick on host 1");
    assert!(set1_host1 < 3, "host 1 has a brick in r3's first set");
    let leaving = format!("{}:{}", r3[set1_host1].0, r3[set1_host1].1);
    let same_set = by.run(&["volume", "replace-brick", "r3", &leaving, "--to", &hosts[1]]);
    assert_ne!(same_set.code, Some(0), "{same_set}");
    assert!(
        same_set.stderr.contains("outside the hosts"),
        "the refusal names the rule: {same_set}"
    );
    assert_eq!(bricks(&by, "r3"), r3, "a refused replace changes nothing");

    // Move host 1's brick of r3's first set: placement takes the new disk, the least loaded.
    let out = by.ok(&["volume", "replace-brick", "r3", &leaving]);
    assert!(
        out.contains(&format!("replaced by {}:/gluster/brick5/r3", hosts[0])),
        "{out}"
    );
    let after = bricks(&by, "r3");
    assert_eq!(after[set1_host1].1, "/gluster/brick5/r3");
    let info = gluster_bricks(&by, "r3");
    assert!(
        info.contains("/gluster/brick5/r3"),
        "gluster has it: {info}"
    );
    assert!(
        !info.contains(&format!("{}:{}", lab.state().hosts[0].ip, r3[set1_host1].1)),
        "gluster no longer has the old brick: {info}"
    );
    check_files(&mounts["r3"], "r3");
    // Every file of the first set is on the new brick, byte for byte.
    let (peer, peer_path) = r3
        .iter()
        .take(3)
        .find(|(h, _)| *h != hosts[0])
        .expect("another brick of the set");
    let mut healed = 0;
    for i in 0..FILES {
        let rel = format!("f{i}");
        if brick_file(index_of(peer), peer_path, &rel).exists() {
            let got = std::fs::read(brick_file(1, "/gluster/brick5/r3", &rel))
                .unwrap_or_else(|e| panic!("{rel} on the new brick: {e}"));
            assert!(got == content("r3", i), "{rel} differs on the new brick");
            healed += 1;
        }
    }
    assert!(healed > 0, "the first set holds files");
    eprintln!("{healed} files healed onto the new brick, every one identical");
    // The old brick's directory goes once gluster no longer uses it.
    wait_until(
        "the directory r3's brick moved away from removed",
        Duration::from_secs(60),
        || !brick_file(1, &r3[set1_host1].1, "").exists(),
    );

    // A disk of host 2 fails for good: status names the bricks it takes down, the files
    // stay readable (one brick of a disperse 3 set may be lost), and replace-brick moves
    // the brick to a disk that works.
    let d3 = bricks(&by, "d3");
    let (h2, failing) = d3
        .iter()
        .take(3)
        .find(|(h, _)| *h == hosts[1])
        .expect("d3's first set has a brick on host 2")
        .clone();
    let mount = failing
        .rsplit_once('/')
        .map(|(m, _)| m.to_owned())
        .expect("a brick path");
    by.lab("fault", &["disk-fail", "2", "--mount", &mount]);
    let mut shown = Value::Null;
    wait_until(
        "status naming the failed disk's brick",
        Duration::from_secs(60),
        || {
            let Ok(v) =
                serde_json::from_str::<Value>(&by.run(&["status", "--output", "json"]).stdout)
            else {
                return false;
            };
            shown = v;
            shown["hosts"][1]["failed_disks"][0]["bricks"]["d3"].is_array()
        },
    );
    let problems = shown["problems"].to_string();
    assert!(
        problems.contains(&format!("host {h2}: brick disk")) && problems.contains("replace-brick"),
        "the problem names the host, the disk and the way out: {problems}"
    );
    // gluster's own health check is off; the pool lock's holder takes the brick offline.
    let ip = open_lab()
        .state()
        .hosts
        .iter()
        .find(|h| h.host_name == h2)
        .expect("a lab host")
        .ip;
    let ip = ip.to_string();
    wait_until(
        "the failed disk's brick offline in gluster",
        Duration::from_secs(60),
        // gluster may be busy with another transaction: asked again.
        || brick_online("d3", &ip, &failing) == Some(false),
    );
    check_files(&mounts["d3"], "d3");
    let out = by.ok(&["volume", "replace-brick", "d3", &format!("{h2}:{failing}")]);
    assert!(out.contains(&format!("replaced by {h2}:")), "{out}");
    let moved = bricks(&by, "d3");
    assert!(
        moved.iter().all(|(h, p)| !(*h == h2 && *p == failing)),
        "{moved:?}"
    );
    sets_on_distinct_hosts(&moved, 3);
    check_files(&mounts["d3"], "d3");
    wait_until(
        "status showing no brick on the failed disk",
        Duration::from_secs(60),
        || {
            serde_json::from_str::<Value>(&by.run(&["status", "--output", "json"]).stdout)
                .is_ok_and(|v| {
                    v["hosts"][1]["failed_disks"][0]["mount_point"] == mount.as_str()
                        && v["hosts"][1]["failed_disks"][0]["bricks"]
                            .as_object()
                            .is_some_and(serde_json::Map::is_empty)
                })
        },
    );

    for m in mounts.values() {
        by.lab("umount", &[&m.display().to_string()]);
    }
}

#[test]
fn drain_a_host_then_rebuild_a_dead_one_elsewhere() {
    let _turn = ONE_AT_A_TIME
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // Made before the lab's guard, so it is removed after the lab's mounts are gone.
    let tmp = tempfile::Builder::new()
        .prefix("bytd4-")
        .tempdir()
        .expect("temp dir");
    let _guard = LabGuard::new(BIN, LAB4, None);
    lab_up(LAB4, 3, 3);
    // The fourth host joins the running lab, and its agent the pool.
    let out = run(BIN, &["lab", "add-host", "--name", LAB4], &[]).ok();
    assert!(
        out.stdout.contains("trusted pool of 4 hosts formed"),
        "{out}"
    );
    let lab = open_named(LAB4);
    assert_eq!(lab.state().hosts.len(), 4);
    assert_eq!(lab.state().hosts[3].extra_loop_devices.len(), 2);
    let store = lab.store_url().to_owned();
    let names: Vec<String> = lab
        .state()
        .hosts
        .iter()
        .map(|h| h.host_name.clone())
        .collect();
    let ips: Vec<String> = lab.state().hosts.iter().map(|h| h.ip.to_string()).collect();
    let by = Brickyard::new(BIN, &store, LAB4);
    by.ok(&["volume", "create", "r3", "--replica", "3"]);
    by.ok(&["volume", "create", "a2", "--replica", "2", "--arbiter"]);
    by.ok(&["volume", "create", "dist", "--distribute", "4"]);
    let mut mounts = BTreeMap::new();
    for v in ["r3", "a2", "dist"] {
        let m = tmp.path().join(v);
        by.lab("mount", &[v, &m.display().to_string()]);
        write_files(&m, v);
        mounts.insert(v, m);
    }
    // An arbiter volume grows by a whole set too: two data bricks and an arbiter.
    by.ok(&["volume", "expand", "a2"]);
    let a2 = bricks(&by, "a2");
    assert_eq!(a2.len(), 6, "{a2:?}");
    sets_on_distinct_hosts(&a2, 3);
    let info = gluster_bricks(&by, "a2");
    assert!(info.contains("2 x (2 + 1) = 6"), "{info}");
    wait_rebalance(&by, "a2");
    check_files(&mounts["a2"], "a2");
    let on = |host: &str| -> Vec<String> {
        ["r3", "a2"]
            .iter()
            .filter(|v| bricks(&by, v).iter().any(|(h, _)| h == host))
            .map(|v| (*v).to_owned())
            .collect()
    };

    // Drain a host holding bricks of all three (the busiest such): each replicated brick
    // is rebuilt elsewhere, the distribute brick's files move onto the volume's bricks.
    let holds = |h: &str, v: &str| bricks(&by, v).iter().any(|(x, _)| x == h);
    let busiest = names
        .iter()
        .filter(|h| holds(h, "dist"))
        .max_by_key(|h| on(h).len())
        .expect("hosts")
        .clone();
    assert_eq!(
        on(&busiest).len(),
        2,
        "{busiest} holds bricks of r3, a2 and dist"
    );
    let index = names.iter().position(|h| *h == busiest).expect("a host");
    let out = by.ok(&["host", "drain", &busiest]);
    assert!(out.contains("is drained"), "{out}");
    assert!(
        on(&busiest).is_empty() && !holds(&busiest, "dist"),
        "host {busiest} still holds bricks"
    );
    for v in ["r3", "a2", "dist"] {
        if v != "dist" {
            sets_on_distinct_hosts(&bricks(&by, v), 3);
        }
        let info = gluster_bricks(&by, v);
        assert!(
            !info.contains(&format!("{}:", ips[index])),
            "gluster still has a brick of {v} on {busiest}: {info}"
        );
        check_files(&mounts[v], v);
    }
    assert_eq!(bricks(&by, "dist").len(), 4);
    // The distribute volume would block the dead host's replacement below (its files
    // cannot move off a stopped host).
    let m = mounts.remove("dist").expect("dist mounted");
    by.lab("umount", &[&m.display().to_string()]);
    by.ok(&["volume", "delete", "dist", "--force"]);

    // A host stops for good; its bricks are rebuilt on the drained host. Two volumes it
    // holds bricks of are deleted while it is down.
    by.ok(&["volume", "create", "gone", "--distribute", "4"]);
    by.ok(&[
        "volume",
        "create",
        "gone3",
        "--replica",
        "3",
        "--distribute",
        "2",
    ]);
    let dead_index = (0..names.len())
        .find(|i| {
            *i != index
                && !on(&names[*i]).is_empty()
                && bricks(&by, "gone3").iter().any(|(h, _)| *h == names[*i])
        })
        .expect("another host with bricks of gone3 and of r3 or a2");
    let dead = names[dead_index].clone();
    let doomed: Vec<&str> = ["gone", "gone3"]
        .into_iter()
        .filter(|v| bricks(&by, v).iter().any(|(h, _)| *h == dead))
        .collect();
    // The drain's rebuilt bricks heal first: the heal observed below is then only the
    // writes made while the host is down (a heal still draining would give it a rate).
    wait_until(
        "r3's heal after the drain done",
        Duration::from_secs(120),
        || info_json(&by, "r3")["observed"]["heal_pending"].as_u64() == Some(0),
    );
    by.lab("stop", &[&(dead_index + 1).to_string()]);
    // gluster deletes no volume while a peer is down: the deletes wait, and say why.
    for v in ["gone", "gone3"] {
        by.ok(&["volume", "delete", v, "--force", "--no-wait"]);
    }
    wait_until(
        "the deletes waiting for the peer that is down",
        Duration::from_secs(60),
        || {
            ["gone", "gone3"].iter().all(|v| {
                by.ok(&["volume", "info", v])
                    .contains("gluster deletes no volume while a peer of the pool is down")
            })
        },
    );
    // Writes while a copy is away wait for heal: the count is observed, and with nothing
    // draining it yet, the heal has a rate of 0 and no estimate.
    for i in 0..20 {
        std::fs::write(mounts["r3"].join(format!("late{i}")), content("late", i)).expect("write");
    }
    wait_until(
        "r3's pending heal observed as not draining",
        Duration::from_secs(60),
        || {
            let v = info_json(&by, "r3");
            let o = &v["observed"];
            // gluster counts files made while a copy is away one by one, or, once the
            // client knows that brick is down (granular entry heal), as their directory
            // alone on each brick that has them.
            o["heal_pending"].as_u64().is_some_and(|n| n >= 2)
                && o["heal_progress"]["per_minute"].as_f64() == Some(0.0)
                && o["heal_progress"]["eta_seconds"].is_null()
        },
    );
    let info = by.ok(&["volume", "info", "r3"]);
    assert!(info.contains("entries pending, not draining yet"), "{info}");
    // gluster starts no heal on request while a peer is down ("Glusterd Syncop Mgmt brick
    // op 'Heal' failed"), so the replace is not followed to the end of its heal here: the
    // bricks move at once, and the heal runs once the dead host is removed.
    let out = by.ok(&["host", "replace", &dead, &busiest, "--no-wait"]);
    assert!(out.contains("asked"), "{out}");
    assert!(on(&dead).is_empty(), "host {dead} still holds bricks");
    let ask = (0..names.len())
        .find(|i| *i != dead_index)
        .map(|i| (i + 1).to_string())
        .expect("a live host");
    for v in ["r3", "a2"] {
        let b = bricks(&by, v);
        assert!(b.iter().any(|(h, _)| *h == busiest), "{v}: {b:?}");
        wait_until(
            &format!("gluster moving {v}'s bricks off {dead}"),
            Duration::from_secs(120),
            || !gluster_bricks_on(&by, &ask, v).contains(&format!("{}:", ips[dead_index])),
        );
        check_files(&mounts[v], v);
    }
    // The dead host leaves the cluster: refused while its agent's lease lives on, then its
    // peer is detached, its address leaves the others' PeerList, and gluster deletes
    // volumes again (it deletes none while a peer is down).
    // The volumes being deleted let go of their bricks there and finish without it.
    let removing = std::time::Instant::now();
    let mut said = String::new();
    wait_until(
        "host remove accepted once the dead host's agent lease ran out",
        Duration::from_secs(90),
        || {
            let r = by.run(&["host", "remove", &dead]);
            assert!(
                r.code == Some(0) || r.stderr.contains("agent is live"),
                "{r}"
            );
            said = r.stderr;
            r.code == Some(0)
        },
    );
    assert!(
        said.contains(&format!(
            "volumes being deleted finish without it: {}",
            doomed.join(", ")
        )),
        "{said}"
    );
    wait_until(
        "the deletes finished without the dead host",
        Duration::from_secs(90),
        || {
            let list = by.ok(&["volume", "list"]);
            !list.contains("gone")
        },
    );
    eprintln!(
        "deletes finished without {dead} {:.1}s after the first `host remove`",
        removing.elapsed().as_secs_f64()
    );
    let vols = by.lab("exec", &[&ask, "--", "gluster", "volume", "list"]);
    assert!(!vols.contains("gone"), "{vols}");
    let left = store_keys(&store, &format!("gluster/leftovers/{dead}/"));
    let want: Vec<String> = doomed
        .iter()
        .map(|v| format!("gluster/leftovers/{dead}/{v}"))
        .collect();
    assert_eq!(left, want);
    // A host that runs with leftovers removes them, but never a brick a volume still uses.
    let (keeper, r3_path) = bricks(&by, "r3")
        .into_iter()
        .find(|(h, _)| *h != dead && *h != busiest)
        .expect("r3 on a third host");
    let keeper_index = (names.iter().position(|h| *h == keeper).expect("a host") + 1).to_string();
    by.lab(
        "exec",
        &[&keeper_index, "--", "mkdir", "-p", "/gluster/brick1/old1/d"],
    );
    for (volume, path) in [("old1", "/gluster/brick1/old1"), ("r3", r3_path.as_str())] {
        store_put(
            &store,
            &format!("gluster/leftovers/{keeper}/{volume}"),
            &serde_json::json!({"schema": 1, "host": keeper, "volume": volume, "paths": [path], "at": 1})
                .to_string(),
        );
    }
    wait_until(
        &format!("{keeper} removing its leftover directory"),
        Duration::from_secs(60),
        || store_keys(&store, &format!("gluster/leftovers/{keeper}/old1")).is_empty(),
    );
    let gone = by.run(&[
        "lab",
        "exec",
        "--name",
        LAB4,
        &keeper_index,
        "--",
        "test",
        "-e",
        "/gluster/brick1/old1",
    ]);
    assert_eq!(gone.code, Some(1), "{gone}");
    by.lab("exec", &[&keeper_index, "--", "test", "-d", &r3_path]);
    assert_eq!(
        store_keys(&store, &format!("gluster/leftovers/{keeper}/")),
        [format!("gluster/leftovers/{keeper}/r3")],
        "the leftover naming a brick in use waits"
    );
    store_delete(&store, &format!("gluster/leftovers/{keeper}/r3"));
    // With every peer up again the heal runs: every file of r3 whole on the new brick.
    let (_, path) = bricks(&by, "r3")
        .into_iter()
        .find(|(h, _)| *h == busiest)
        .expect("r3 on the new host");
    wait_until(
        &format!("every file of r3 healed onto {busiest}"),
        Duration::from_secs(180),
        || {
            (0..FILES).all(|i| {
                std::fs::read(brick_file_in(LAB4, index + 1, &path, &format!("f{i}")))
                    .is_ok_and(|got| got == content("r3", i))
            })
        },
    );
    let peers = by.lab("exec", &[&ask, "--", "gluster", "peer", "status"]);
    assert!(!peers.contains(&ips[dead_index]), "{peers}");
    let hosts_json = by.run(&["status", "--output", "json"]).stdout;
    assert!(!hosts_json.contains(&format!("\"{dead}\"")), "{hosts_json}");
    for (i, h) in names.iter().enumerate() {
        if i == dead_index {
            continue;
        }
        let cfg = by.ok(&["config", "get", h]);
        assert!(!cfg.contains(&ips[dead_index]), "{h}: {cfg}");
    }
    for m in mounts.values() {
        by.lab("umount", &[&m.display().to_string()]);
    }
    by.ok(&["volume", "delete", "a2", "--force"]);
    // And it leaves the lab: namespace, disks and files.
    let gone = lab.state().hosts[dead_index].clone();
    by.lab("remove-host", &[&(dead_index + 1).to_string()]);
    let after = open_named(LAB4);
    assert_eq!(after.state().hosts.len(), 3);
    assert!(!gone.dir.exists(), "{}", gone.dir.display());
    let netns = std::process::Command::new("ip")
        .args(["netns", "list"])
        .output()
        .expect("ip netns list");
    assert!(
        !String::from_utf8_lossy(&netns.stdout).contains(&gone.netns),
        "namespace {} is left",
        gone.netns
    );
}
