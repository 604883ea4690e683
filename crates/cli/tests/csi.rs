//! The CSI driver end to end (root): `brickyard csi controller` and `brickyard csi node` on
//! unix sockets, called over gRPC as the Kubernetes sidecars and kubelet call them, on a
//! real 3-host lab whose agents carry out the claims with gluster, FUSE and quota.
//!
//! One lab (`bytcsi`) for the whole file, removed by a guard also when the test fails; the
//! two plugins are this test's child processes, killed by PID. Run with `-- --nocapture` to
//! see the timings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use brickyard_csi::proto::controller_client::ControllerClient;
use brickyard_csi::proto::identity_client::IdentityClient;
use brickyard_csi::proto::node_client::NodeClient;
use brickyard_csi::proto::volume_capability::access_mode::Mode;
use brickyard_csi::proto::volume_capability::{AccessMode, AccessType, BlockVolume, MountVolume};
use brickyard_csi::proto::*;
use brickyard_testkit::{LabGuard, wait_until};
use serde_json::Value;
use tonic::Code;
use tonic::transport::Channel;

#[path = "support/unix_channel.rs"]
mod unix_channel;

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");
const LAB: &str = "bytcsi";
const MIB: i64 = 1 << 20;

/// Runs brickyard against the lab's store; returns the output whatever the exit code.
fn by(store: &str, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("BRICKYARD_STORE", store)
        .stdin(Stdio::null())
        .output()
        .expect("run brickyard")
}

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

/// A plugin process of this test, killed (by its PID) when dropped.
struct Plugin {
    child: Child,
    socket: PathBuf,
}

impl Plugin {
    fn start(store: &str, socket: &Path, args: &[&str], log: &Path) -> Plugin {
        let endpoint = format!("unix://{}", socket.display());
        let log = std::fs::File::create(log).expect("plugin log");
        let child = Command::new(BIN)
            .args(args)
            .arg("--endpoint")
            .arg(&endpoint)
            .env("BRICKYARD_STORE", store)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start the plugin");
        // A killed plugin leaves its socket file: wait until the new one answers on it.
        wait_until("the plugin's socket", Duration::from_secs(20), || {
            std::os::unix::net::UnixStream::connect(socket).is_ok()
        });
        Plugin {
            child,
            socket: socket.to_owned(),
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Plugin {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn channel(socket: &Path) -> Channel {
    unix_channel::unix_channel(socket)
        .await
        .expect("connect to the plugin")
}

fn mount_cap(mode: Mode) -> VolumeCapability {
    VolumeCapability {
        access_type: Some(AccessType::Mount(MountVolume::default())),
        access_mode: Some(AccessMode { mode: mode as i32 }),
    }
}

fn params(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn create(name: &str, bytes: i64, parameters: &[(&str, &str)]) -> CreateVolumeRequest {
    CreateVolumeRequest {
        name: name.into(),
        capacity_range: Some(CapacityRange {
            required_bytes: bytes,
            limit_bytes: 0,
        }),
        volume_capabilities: vec![mount_cap(Mode::MultiNodeMultiWriter)],
        parameters: params(parameters),
        ..Default::default()
    }
}

fn code<T: std::fmt::Debug>(r: Result<tonic::Response<T>, tonic::Status>) -> Code {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(s) => {
            eprintln!("  {:?}: {}", s.code(), s.message());
            s.code()
        }
    }
}

fn stage(id: &str, staging: &Path) -> NodeStageVolumeRequest {
    NodeStageVolumeRequest {
        volume_id: id.into(),
        staging_target_path: staging.display().to_string(),
        volume_capability: Some(mount_cap(Mode::MultiNodeMultiWriter)),
        ..Default::default()
    }
}

fn publish(id: &str, staging: &Path, target: &Path, readonly: bool) -> NodePublishVolumeRequest {
    NodePublishVolumeRequest {
        volume_id: id.into(),
        staging_target_path: staging.display().to_string(),
        target_path: target.display().to_string(),
        volume_capability: Some(mount_cap(Mode::MultiNodeMultiWriter)),
        readonly,
        ..Default::default()
    }
}

fn stats_req(id: &str, path: &Path) -> NodeGetVolumeStatsRequest {
    NodeGetVolumeStatsRequest {
        volume_id: id.into(),
        volume_path: path.display().to_string(),
        staging_target_path: String::new(),
    }
}

/// Total bytes and whether the volume is reported abnormal.
async fn stats(node: &mut NodeClient<Channel>, id: &str, path: &Path) -> (i64, bool) {
    let r = node
        .node_get_volume_stats(stats_req(id, path))
        .await
        .expect("stats")
        .into_inner();
    let total = r
        .usage
        .iter()
        .find(|u| u.unit == volume_usage::Unit::Bytes as i32)
        .map_or(0, |u| u.total);
    (total, r.volume_condition.is_some_and(|c| c.abnormal))
}

/// Writes `text` to `file` as uid/gid 1000 (not root): the owner the class gave.
fn write_as_user(file: &Path, text: &str) -> Output {
    Command::new("setpriv")
        .args(["--reuid", "1000", "--regid", "1000", "--clear-groups", "--"])
        .args(["sh", "-c", "printf %s \"$1\" > \"$2\"", "sh", text])
        .arg(file)
        .output()
        .expect("setpriv")
}

fn is_mounted(path: &Path) -> bool {
    brickyard_sys::mounts::is_mount_point(path).expect("mount table")
}

fn claims(store: &str) -> Vec<Value> {
    let v: Value = serde_json::from_str(&ok(store, &["csi", "list", "--output", "json"]))
        .expect("csi list JSON");
    v["claims"].as_array().cloned().unwrap_or_default()
}

fn claim<'a>(all: &'a [Value], id: &str) -> Option<&'a Value> {
    all.iter().find(|c| c["record"]["id"] == id)
}

#[test]
fn the_csi_driver_provides_mounts_grows_and_removes_claims() {
    // Made before the lab's guard, so it is removed after the lab's mounts are gone.
    let tmp = tempfile::Builder::new()
        .prefix("bytcsi-")
        .tempdir()
        .expect("temp dir");
    let _guard = LabGuard::new(BIN, LAB, None);
    let dir = PathBuf::from(format!("/var/lib/brickyard/lab/{LAB}"));
    let store = format!("file://{}/store", dir.display());
    let st = store.as_str();
    let t0 = Instant::now();
    ok(
        st,
        &["lab", "up", "--name", LAB, "--hosts", "3", "--wait", "240"],
    );
    eprintln!("lab up: {:?}", t0.elapsed());
    let t = tmp.path();
    let rt = tokio::runtime::Runtime::new().expect("runtime");

    let _controller = Plugin::start(
        st,
        &t.join("controller.sock"),
        &["csi", "controller", "--wait", "60"],
        &t.join("controller.log"),
    );
    let node_args = [
        "csi",
        "node",
        "--node-id",
        "node-1",
        "--state-dir",
        &t.join("node").display().to_string(),
    ]
    .map(str::to_owned);
    let node_args: Vec<&str> = node_args.iter().map(String::as_str).collect();
    let mut node_plugin = Plugin::start(st, &t.join("node.sock"), &node_args, &t.join("node.log"));
    let mode = std::fs::metadata(&node_plugin.socket)
        .expect("socket")
        .permissions();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&mode) & 0o777,
        0o600,
        "the socket is for root only"
    );

    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(scenario(st, t, &mut node_plugin, &node_args))
    }));
    if let Err(panic) = result {
        for log in ["controller.log", "node.log"] {
            eprintln!(
                "--- {log}:\n{}",
                std::fs::read_to_string(t.join(log)).unwrap_or_default()
            );
        }
        // Leave no bind mount of ours behind, whatever happened.
        for m in brickyard_sys::mounts::read()
            .unwrap_or_default()
            .iter()
            .rev()
        {
            if m.target.starts_with(t) {
                let _ = nix::mount::umount2(&m.target, nix::mount::MntFlags::MNT_DETACH);
            }
        }
        std::panic::resume_unwind(panic);
    }
}

async fn scenario(st: &str, t: &Path, node_plugin: &mut Plugin, node_args: &[&str]) {
    let csock = t.join("controller.sock");
    let nsock = t.join("node.sock");
    let mut identity = IdentityClient::new(channel(&csock).await);
    let mut ctl = ControllerClient::new(channel(&csock).await);
    let mut node = NodeClient::new(channel(&nsock).await);

    // Identity.
    let info = identity
        .get_plugin_info(GetPluginInfoRequest {})
        .await
        .expect("plugin info")
        .into_inner();
    assert_eq!(info.name, "glusterfs.brickyard.io");
    let probe = identity.probe(ProbeRequest {}).await.expect("probe");
    assert_eq!(probe.into_inner().ready, Some(true));
    let caps = ctl
        .controller_get_capabilities(ControllerGetCapabilitiesRequest {})
        .await
        .expect("controller capabilities")
        .into_inner();
    assert_eq!(caps.capabilities.len(), 5);

    // Requests the spec says are invalid.
    eprintln!("refusals:");
    assert_eq!(
        code(ctl.create_volume(create("", MIB, &[])).await),
        Code::InvalidArgument
    );
    let mut no_caps = create("pvc-x", MIB, &[]);
    no_caps.volume_capabilities.clear();
    assert_eq!(
        code(ctl.create_volume(no_caps).await),
        Code::InvalidArgument
    );
    let mut block = create("pvc-x", MIB, &[]);
    block.volume_capabilities[0].access_type = Some(AccessType::Block(BlockVolume {}));
    assert_eq!(code(ctl.create_volume(block).await), Code::InvalidArgument);
    assert_eq!(
        code(
            ctl.create_volume(create("pvc-x", MIB, &[("replicas", "3")]))
                .await
        ),
        Code::InvalidArgument
    );
    assert_eq!(
        code(
            ctl.create_volume(create("pvc-x", 1 << 50, &[("uid", "1000")]))
                .await
        ),
        Code::OutOfRange,
        "a petabyte in a lab of three 1 GiB disks"
    );
    ctl.delete_volume(DeleteVolumeRequest {
        volume_id: "pvc-unknown".into(),
        ..Default::default()
    })
    .await
    .expect("deleting an unknown volume succeeds");
    assert_eq!(
        code(
            ctl.validate_volume_capabilities(ValidateVolumeCapabilitiesRequest {
                volume_id: "pvc-unknown".into(),
                volume_capabilities: vec![mount_cap(Mode::SingleNodeWriter)],
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            ctl.controller_expand_volume(ControllerExpandVolumeRequest {
                volume_id: "pvc-unknown".into(),
                capacity_range: Some(CapacityRange {
                    required_bytes: MIB,
                    limit_bytes: 0
                }),
                ..Default::default()
            })
            .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(
            node.node_stage_volume(stage("pvc-unknown", &t.join("s0")))
                .await
        ),
        Code::NotFound
    );
    assert_eq!(
        code(node.node_stage_volume(stage("pvc-a", Path::new(""))).await),
        Code::InvalidArgument
    );

    // A subdirectory claim, owned by uid/gid 1000.
    let class = [("uid", "1000"), ("gid", "1000")];
    let t1 = Instant::now();
    let a = ctl
        .create_volume(create("pvc-a", 64 * MIB, &class))
        .await
        .expect("create pvc-a")
        .into_inner()
        .volume
        .expect("a volume");
    eprintln!(
        "first subdir claim (the shared volume made and quota enabled): {:?}",
        t1.elapsed()
    );
    assert_eq!(a.volume_id, "pvc-a");
    assert_eq!(a.capacity_bytes, 64 * MIB);
    let t2 = Instant::now();
    let again = ctl
        .create_volume(create("pvc-a", 64 * MIB, &class))
        .await
        .expect("the same request again")
        .into_inner()
        .volume
        .expect("a volume");
    eprintln!("the same request again: {:?}", t2.elapsed());
    assert_eq!(again.volume_id, a.volume_id);
    assert_eq!(
        code(ctl.create_volume(create("pvc-a", 128 * MIB, &class)).await),
        Code::AlreadyExists
    );
    assert_eq!(
        code(ctl.create_volume(create("pvc-a", 64 * MIB, &[])).await),
        Code::AlreadyExists,
        "other parameters"
    );
    let t3 = Instant::now();
    let b = ctl
        .create_volume(create("pvc-b", 32 * MIB, &class))
        .await
        .expect("create pvc-b")
        .into_inner()
        .volume
        .expect("a volume");
    eprintln!("second subdir claim: {:?}", t3.elapsed());
    let validated = ctl
        .validate_volume_capabilities(ValidateVolumeCapabilitiesRequest {
            volume_id: a.volume_id.clone(),
            volume_capabilities: vec![mount_cap(Mode::SingleNodeSingleWriter)],
            ..Default::default()
        })
        .await
        .expect("validate")
        .into_inner();
    assert!(validated.confirmed.is_some(), "{}", validated.message);

    // Stage, publish (twice: idempotent), and write as a non-root user.
    let sa = t.join("staging/pvc-a");
    let pa = t.join("pods/1/pvc-a");
    let ro = t.join("pods/2/pvc-a");
    node.node_stage_volume(stage("pvc-a", &sa))
        .await
        .expect("stage");
    node.node_stage_volume(stage("pvc-a", &sa))
        .await
        .expect("stage again");
    node.node_publish_volume(publish("pvc-a", &sa, &pa, false))
        .await
        .expect("publish");
    node.node_publish_volume(publish("pvc-a", &sa, &pa, false))
        .await
        .expect("publish again");
    assert_eq!(
        code(
            node.node_publish_volume(publish("pvc-a", &sa, &pa, true))
                .await
        ),
        Code::AlreadyExists,
        "the same target read-only"
    );
    let out = write_as_user(&pa.join("hello"), "from uid 1000");
    assert!(out.status.success(), "uid 1000 cannot write: {out:?}");
    node.node_publish_volume(publish("pvc-a", &sa, &ro, true))
        .await
        .expect("publish read-only");
    assert_eq!(
        std::fs::read_to_string(ro.join("hello")).expect("read through the read-only mount"),
        "from uid 1000"
    );
    let err = std::fs::write(ro.join("nope"), "x").expect_err("a read-only mount");
    assert_eq!(err.raw_os_error(), Some(nix::libc::EROFS), "{err}");

    // df in the pod shows the claim's size.
    let (total, abnormal) = stats(&mut node, "pvc-a", &pa).await;
    assert!(!abnormal);
    eprintln!("stats of a 64 MiB claim: {total} bytes");
    assert!(
        (total - 64 * MIB).abs() <= MIB,
        "df shows {total}, not the 64 MiB limit"
    );

    // Grow it while published.
    let t4 = Instant::now();
    let grown = ctl
        .controller_expand_volume(ControllerExpandVolumeRequest {
            volume_id: "pvc-a".into(),
            capacity_range: Some(CapacityRange {
                required_bytes: 96 * MIB,
                limit_bytes: 0,
            }),
            ..Default::default()
        })
        .await
        .expect("expand")
        .into_inner();
    eprintln!("expand: {:?}", t4.elapsed());
    assert_eq!(grown.capacity_bytes, 96 * MIB);
    assert!(!grown.node_expansion_required);
    wait_until_async("df shows the new size", async || {
        let (total, _) = stats(&mut node, "pvc-a", &pa).await;
        (total - 96 * MIB).abs() <= MIB
    })
    .await;

    // A claim with a volume of its own.
    let t5 = Instant::now();
    let v = ctl
        .create_volume(create(
            "pvc-own",
            48 * MIB,
            &[("provisioning", "volume"), ("replica", "3")],
        ))
        .await
        .expect("create a claim with its own volume")
        .into_inner()
        .volume
        .expect("a volume");
    eprintln!("claim with a volume of its own: {:?}", t5.elapsed());
    assert_eq!(
        v.volume_context.get("volume").map(String::as_str),
        Some("pvc-own")
    );
    let sv = t.join("staging/pvc-own");
    let pv = t.join("pods/3/pvc-own");
    node.node_stage_volume(stage("pvc-own", &sv))
        .await
        .expect("stage own");
    node.node_publish_volume(publish("pvc-own", &sv, &pv, false))
        .await
        .expect("publish own");
    std::fs::write(pv.join("data"), "own volume").expect("write to its own volume");
    let (total, _) = stats(&mut node, "pvc-own", &pv).await;
    assert!(
        (total - 48 * MIB).abs() <= MIB,
        "df shows {total}, not 48 MiB"
    );

    // A volume of its own larger than the bricks' free space is refused, and nothing is
    // left behind.
    assert_eq!(
        code(
            ctl.create_volume(create(
                "pvc-toobig",
                2 << 30,
                &[("provisioning", "volume"), ("replica", "3")],
            ))
            .await
        ),
        Code::ResourceExhausted
    );
    assert!(claim(&claims(st), "pvc-toobig").is_none());
    let out = by(st, &["volume", "info", "pvc-toobig"]);
    assert!(
        !out.status.success(),
        "no volume was recorded for a refused claim"
    );

    // Listing with paging.
    let page = ctl
        .list_volumes(ListVolumesRequest {
            max_entries: 2,
            starting_token: String::new(),
        })
        .await
        .expect("list")
        .into_inner();
    assert_eq!(page.entries.len(), 2);
    let rest = ctl
        .list_volumes(ListVolumesRequest {
            max_entries: 2,
            starting_token: page.next_token.clone(),
        })
        .await
        .expect("list the rest")
        .into_inner();
    let mut ids: Vec<String> = page
        .entries
        .iter()
        .chain(&rest.entries)
        .filter_map(|e| e.volume.as_ref().map(|v| v.volume_id.clone()))
        .collect();
    ids.sort();
    assert_eq!(ids, ["pvc-a", "pvc-b", "pvc-own"]);
    assert!(rest.next_token.is_empty());
    assert_eq!(
        code(
            ctl.list_volumes(ListVolumesRequest {
                max_entries: 1,
                starting_token: "pvc-nonesuch".into()
            })
            .await
        ),
        Code::Aborted
    );
    let capacity = ctl
        .get_capacity(GetCapacityRequest {
            parameters: params(&class),
            ..Default::default()
        })
        .await
        .expect("capacity")
        .into_inner();
    eprintln!(
        "capacity left for subdir claims: {}",
        capacity.available_capacity
    );
    assert!(capacity.available_capacity > 0);
    assert!(capacity.available_capacity < (1 << 30) - 96 * MIB - 32 * MIB + MIB);

    // The node plugin dies; the pods' mounts keep working, and a new plugin carries on.
    node_plugin.kill();
    std::fs::write(pa.join("while-down"), "still here").expect("write while the plugin is down");
    *node_plugin = Plugin::start(st, &nsock, node_args, &t.join("node-2.log"));
    let mut node = NodeClient::new(channel(&nsock).await);
    assert_eq!(
        std::fs::read_to_string(pa.join("while-down")).expect("read back"),
        "still here"
    );
    node.node_publish_volume(publish("pvc-a", &sa, &pa, false))
        .await
        .expect("publish after the restart: nothing to do");

    // Stage and unstage b: the shared mount stays while a is staged.
    let sb = t.join("staging/pvc-b");
    node.node_stage_volume(stage(&b.volume_id, &sb))
        .await
        .expect("stage b");
    node.node_unstage_volume(NodeUnstageVolumeRequest {
        volume_id: b.volume_id.clone(),
        staging_target_path: sb.display().to_string(),
    })
    .await
    .expect("unstage b");
    let shared = t.join("node/volumes/brickyard-claims");
    assert!(is_mounted(&shared), "a is still staged");

    // Tear a down: unpublish twice, unstage twice; the shared mount goes with the last.
    for target in [&pa, &pa, &ro] {
        node.node_unpublish_volume(NodeUnpublishVolumeRequest {
            volume_id: "pvc-a".into(),
            target_path: target.display().to_string(),
        })
        .await
        .expect("unpublish");
        assert!(!is_mounted(target));
    }
    for _ in 0..2 {
        node.node_unstage_volume(NodeUnstageVolumeRequest {
            volume_id: "pvc-a".into(),
            staging_target_path: sa.display().to_string(),
        })
        .await
        .expect("unstage");
    }
    assert!(!is_mounted(&sa));
    assert!(
        !is_mounted(&shared),
        "no claim of the shared volume is staged"
    );

    // A broken mount is reported abnormal: the FUSE client of the own volume is killed
    // (found by its mount point, which only this test uses).
    let own_mount = t.join("node/volumes/pvc-own");
    let client =
        brickyard_sys::procs::pids_with_arg(&own_mount.display().to_string()).expect("processes");
    assert_eq!(
        client.len(),
        1,
        "one FUSE client for {}",
        own_mount.display()
    );
    brickyard_sys::procs::kill_now(&client);
    let (_, abnormal) = stats(&mut node, "pvc-own", &pv).await;
    assert!(abnormal, "a mount whose client died is abnormal");
    node.node_unpublish_volume(NodeUnpublishVolumeRequest {
        volume_id: "pvc-own".into(),
        target_path: pv.display().to_string(),
    })
    .await
    .expect("unpublish a broken mount");
    node.node_unstage_volume(NodeUnstageVolumeRequest {
        volume_id: "pvc-own".into(),
        staging_target_path: sv.display().to_string(),
    })
    .await
    .expect("unstage a broken mount");
    assert!(!is_mounted(&own_mount));

    // Archive instead of delete: kept, listed, purged later.
    let t6 = Instant::now();
    ctl.create_volume(create("pvc-keep", 16 * MIB, &[("onDelete", "archive")]))
        .await
        .expect("create pvc-keep");
    eprintln!("subdir claim: {:?}", t6.elapsed());
    ctl.delete_volume(DeleteVolumeRequest {
        volume_id: "pvc-keep".into(),
        ..Default::default()
    })
    .await
    .expect("delete (archive) pvc-keep");
    let all = claims(st);
    let kept = claim(&all, "pvc-keep").expect("an archived claim is listed");
    assert_eq!(kept["record"]["state"], "archived");
    assert_eq!(kept["status"]["phase"], "archived");
    let out = by(st, &["csi", "purge", "pvc-a"]);
    assert!(!out.status.success(), "a claim in use is not purged");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PersistentVolumeClaim"));
    ok(st, &["csi", "purge", "pvc-keep"]);
    assert!(claim(&claims(st), "pvc-keep").is_none());

    // Delete: the directory and the own volume go, the records with them.
    for id in ["pvc-a", "pvc-b", "pvc-own"] {
        let t7 = Instant::now();
        for _ in 0..2 {
            ctl.delete_volume(DeleteVolumeRequest {
                volume_id: id.into(),
                ..Default::default()
            })
            .await
            .expect("delete");
        }
        eprintln!("delete {id}: {:?}", t7.elapsed());
    }
    assert!(claims(st).is_empty());
    let listing: Value =
        serde_json::from_str(&ok(st, &["volume", "list", "--output", "json"])).expect("JSON");
    let names: Vec<&str> = listing["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .filter_map(|v| v["record"]["name"].as_str())
        .collect();
    assert_eq!(names, ["brickyard-claims"], "the own volume is deleted");
    // What the agents left in the shared volume: only the (empty) archive directory.
    let mnt = t.join("look");
    ok(
        st,
        &[
            "lab",
            "mount",
            "--name",
            LAB,
            "brickyard-claims",
            &mnt.display().to_string(),
        ],
    );
    let mut left: Vec<String> = std::fs::read_dir(&mnt)
        .expect("list the shared volume")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let archive_empty = std::fs::read_dir(mnt.join(".brickyard-archive"))
        .map(|d| d.count() == 0)
        .unwrap_or(true);
    ok(
        st,
        &["lab", "umount", "--name", LAB, &mnt.display().to_string()],
    );
    assert_eq!(left, [".brickyard-archive"]);
    assert!(archive_empty);
}

/// Polls an async check every 250 ms for up to 30 s.
async fn wait_until_async(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{what} did not happen within 30s"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
