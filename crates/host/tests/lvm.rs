//! The LVM layout on a real loop device. Where device-mapper works, the plan is applied for
//! real (PV, VG `gluster`, thin pool, thin LV, XFS, mount) and a second plan must be empty.
//! Where it does not (no device-mapper in the kernel), the test says so and checks the
//! planned LVM steps over facts gathered from the real device instead. Needs root.

use std::path::{Path, PathBuf};
use std::process::Command;

use brickyard_host::facts::{DeviceState, LvmSupport};
use brickyard_host::{Action, Plan, PlanOptions, gather, plan};
use brickyard_model::{HostConfig, HostSpec, ZapDevice};

const DISK_BYTES: u64 = 320 << 20;

fn sh(argv: &[&str]) -> (bool, String) {
    match Command::new(argv[0]).args(&argv[1..]).output() {
        Ok(out) => (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        ),
        Err(e) => (false, e.to_string()),
    }
}

#[track_caller]
fn must(argv: &[&str]) -> String {
    let (ok, out) = sh(argv);
    assert!(ok, "{argv:?} failed: {out}");
    out
}

/// A loop device on a sparse file in a temp dir that also holds the `--root`. Dropping it
/// unmounts what is under the dir, removes the LVM objects the test made on the device,
/// and detaches it.
struct LoopDisk {
    dir: tempfile::TempDir,
    root: PathBuf,
    dev: String,
}

impl LoopDisk {
    fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("byt-hp-lvm-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("mkdir root");
        let disk = dir.path().join("disk.img");
        std::fs::File::create(&disk)
            .and_then(|f| f.set_len(DISK_BYTES))
            .expect("disk file");
        let file = disk.display().to_string();
        let mut dev = String::new();
        for _ in 0..5 {
            let (ok, out) = sh(&["losetup", "--find", "--show", &file]);
            if ok {
                dev = out.trim().to_owned();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        assert!(!dev.is_empty(), "losetup --find --show {file} failed");
        Self { dir, root, dev }
    }

    /// The volume group on the device, if LVM sees one.
    fn vg(&self) -> Option<String> {
        let (ok, out) = sh(&["pvs", "--noheadings", "-o", "vg_name", &self.dev]);
        ok.then(|| out.trim().to_owned())
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let text = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let prefix = self.dir.path().display().to_string();
        for target in text.lines().filter_map(|l| l.split_whitespace().nth(1)) {
            if target.starts_with(&prefix) {
                sh(&["umount", "-l", target]);
            }
        }
        // Only LVM objects on this test's own device are removed.
        if let Some(vg) = self.vg() {
            if !vg.is_empty() {
                sh(&["vgremove", "-ff", "-y", &vg]);
            }
            sh(&["pvremove", "-ff", "-y", &self.dev]);
        }
        sh(&["losetup", "-d", &self.dev]);
    }
}

/// A config whose address is one this host already has, so that planning and applying
/// never touch the host's network.
fn config(dev: &str, facts_addr: ipnet::IpNet) -> HostConfig {
    HostConfig::build(HostSpec {
        host_name: "byt-hp-lvm".into(),
        gluster_node_name: "g-byt-hp-lvm".into(),
        ip_address: facts_addr,
        brick_device: dev.into(),
        extra_brick_devices: Vec::new(),
        zap_device: ZapDevice::Text(false),
        peers: Vec::new(),
        zone: None,
    })
}

async fn existing_address() -> ipnet::IpNet {
    let facts = gather(
        &config("/dev/null", "192.0.2.250/24".parse().expect("net")),
        &PlanOptions::default(),
    )
    .await
    .expect("gather facts");
    facts
        .interfaces
        .iter()
        .flat_map(|i| i.addrs.iter())
        .find(|a| !a.addr().is_loopback() && !matches!(a.addr(), std::net::IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80))
        .copied()
        .expect("this host has a non-loopback address")
}

fn argvs(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match &s.action {
            Action::Run { argv, .. } => Some(argv.join(" ")),
            _ => None,
        })
        .collect()
}

fn opts(root: &Path, no_lvm: bool) -> PlanOptions {
    PlanOptions {
        root: root.to_owned(),
        interface: None,
        no_lvm,
    }
}

#[tokio::test]
async fn lvm_layout_for_real_where_device_mapper_works_else_planned() {
    let disk = LoopDisk::new();
    let cfg = config(&disk.dev, existing_address().await);
    let support = brickyard_host::gather::lvm_support().await;
    let vg_taken = sh(&["vgs", "gluster"]).0;
    match (&support, vg_taken) {
        (LvmSupport::Usable, false) => {
            let o = opts(&disk.root, false);
            let facts = gather(&cfg, &o).await.expect("gather");
            let p = plan(&cfg, &facts, &o).expect("plans");
            println!("LVM runs for real: {:#?}", argvs(&p));
            brickyard_host::apply(&p, |_| {}).await.expect("applies");
            let lvs = must(&[
                "lvs",
                "--noheadings",
                "-o",
                "lv_name,pool_lv,segtype",
                "gluster",
            ]);
            assert!(lvs.contains("brick1") && lvs.contains("brickpool"), "{lvs}");
            let target = disk.root.join("gluster/brick1").display().to_string();
            let mounts = std::fs::read_to_string("/proc/mounts").expect("mounts");
            assert!(
                mounts
                    .lines()
                    .any(|l| l.contains(&target) && l.contains(" xfs ")),
                "{mounts}"
            );
            let facts = gather(&cfg, &o).await.expect("gather");
            let again = plan(&cfg, &facts, &o).expect("plans");
            assert!(again.is_empty(), "{:#?}", argvs(&again));
            return;
        }
        (LvmSupport::Usable, true) => {
            println!(
                "LVM skipped: a volume group named gluster already exists on this machine; checking the planned LVM steps"
            );
        }
        (LvmSupport::Unavailable { reason }, _) => {
            println!("LVM skipped: {reason}");
        }
    }

    // The plan over facts gathered from the real device.
    let o = opts(&disk.root, false);
    let mut facts = gather(&cfg, &o).await.expect("gather");
    let DeviceState::Present(bd) = &facts.devices[0].state else {
        panic!("the loop device is not seen: {:?}", facts.devices);
    };
    assert_eq!(bd.size, DISK_BYTES);
    assert!(bd.signatures.is_empty(), "{:?}", bd.signatures);
    let uuid = facts.new_fs_uuids[0].clone();
    let dev = &disk.dev;
    if let LvmSupport::Unavailable { reason } = &facts.lvm {
        let p = plan(&cfg, &facts, &o).expect("plans");
        assert!(
            p.notes
                .iter()
                .any(|n| n.contains(&format!("LVM skipped: {reason}"))),
            "{:#?}",
            p.notes
        );
        assert!(argvs(&p).iter().all(|c| !c.starts_with("pvcreate")));
    }
    facts.lvm = LvmSupport::Usable;
    let p = plan(&cfg, &facts, &o).expect("plans");
    let root = disk.root.display();
    assert_eq!(
        argvs(&p),
        [
            format!("pvcreate {dev}"),
            format!("vgcreate gluster {dev}"),
            "lvcreate --yes --type thin-pool --extents 90%FREE --name brickpool gluster".into(),
            format!(
                "lvcreate --yes --wipesignatures y --type thin --virtualsize {DISK_BYTES}b --thinpool brickpool --name brick1 gluster"
            ),
            format!("mkfs.xfs -i size=512 -L brickyard1 -m uuid={uuid} /dev/gluster/brick1"),
            format!("mount -t xfs -o inode64,noatime /dev/gluster/brick1 {root}/gluster/brick1"),
        ]
    );
    // --no-lvm puts XFS on the device even so.
    let p = plan(&cfg, &facts, &opts(&disk.root, true)).expect("plans");
    assert!(
        argvs(&p).contains(&format!(
            "mkfs.xfs -i size=512 -L brickyard1 -m uuid={uuid} {dev}"
        )),
        "{:#?}",
        argvs(&p)
    );

    // A PV left by an interrupted run is read from the real device and continued, not
    // taken for foreign data. LVM's metadata tools work without device-mapper.
    must(&["pvcreate", "-q", dev]);
    let mut facts = gather(&cfg, &o).await.expect("gather");
    let DeviceState::Present(bd) = &facts.devices[0].state else {
        panic!("the loop device is not seen");
    };
    assert_eq!(bd.signatures.len(), 1, "{:?}", bd.signatures);
    assert_eq!(bd.signatures[0].kind, "LVM2_member");
    assert_eq!(bd.pv.as_ref().map(|pv| pv.vg.as_str()), Some(""));
    if let LvmSupport::Unavailable { .. } = facts.lvm {
        // Without LVM the PV cannot be continued, and XFS would have to overwrite it:
        // that needs ZapDevice like any other signature.
        let refusal = plan(&cfg, &facts, &o).expect_err("refuses");
        assert!(
            refusal
                .to_string()
                .contains(&format!("{dev} holds LVM2_member LVM physical volume")),
            "{refusal}"
        );
    }
    facts.lvm = LvmSupport::Usable;
    let p = plan(&cfg, &facts, &o).expect("plans");
    let cmds = argvs(&p);
    assert_eq!(cmds[0], format!("vgcreate gluster {dev}"), "{cmds:#?}");
    assert!(cmds.iter().all(|c| !c.starts_with("pvcreate")), "{cmds:#?}");
}
