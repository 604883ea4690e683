//! The planner over a table of host states. Each case builds facts by hand, plans, and
//! compares the steps (as their one-line commands) or the refusal with what is expected.

use std::path::PathBuf;

use brickyard_model::{HostConfig, HostSpec, ZapDevice};

use super::*;
use crate::facts::{DeviceFacts, Interface, LogicalVolume, Mount, PackageDefaults, PhysicalVolume};

const ROOT: &str = "/srv/h1";
const UUID1: &str = "11111111-2222-3333-4444-555555555555";
const UUID2: &str = "66666666-7777-8888-9999-aaaaaaaaaaaa";
const OLD_UUID: &str = "196ad277-bd5f-467b-ba04-6a4a2fe17880";
const DM_MISSING: &str = "device-mapper not available (dmsetup version failed)";

fn config(zap: bool, extra: &[&str]) -> HostConfig {
    HostConfig::build(HostSpec {
        host_name: "atomic-1".into(),
        gluster_node_name: "gluster-1".into(),
        ip_address: "10.1.1.1/24".parse().expect("net"),
        brick_device: "/dev/sdb".into(),
        extra_brick_devices: extra.iter().map(|s| (*s).to_owned()).collect(),
        zap_device: ZapDevice::Text(zap),
        peers: vec!["10.1.1.2".parse().expect("ip")],
        zone: None,
    })
}

fn opts() -> PlanOptions {
    PlanOptions {
        root: PathBuf::from(ROOT),
        interface: None,
        no_lvm: false,
    }
}

fn sig(kind: &str, uuid: Option<&str>, label: Option<&str>) -> Signature {
    Signature {
        kind: kind.into(),
        uuid: uuid.map(Into::into),
        label: label.map(Into::into),
        offset: "0x0".into(),
    }
}

fn disk(signatures: Vec<Signature>) -> DeviceState {
    DeviceState::Present(BlockDevice {
        canonical: "/dev/sdb".into(),
        size: 10 << 30,
        signatures,
        pv: None,
        lvs: Vec::new(),
        users: Vec::new(),
    })
}

fn ext4() -> Signature {
    sig(
        "ext4",
        Some("78c21bda-2379-469e-9617-210938fb7777"),
        Some("data"),
    )
}

fn our_xfs(uuid: &str) -> Signature {
    sig("xfs", Some(uuid), Some("brickyard1"))
}

/// A host with nothing done yet: no directories, no address, an empty disk, no LVM.
fn fresh() -> Facts {
    Facts {
        interfaces: vec![
            Interface {
                name: "lo".into(),
                addrs: vec!["127.0.0.1/8".parse().expect("net")],
            },
            Interface {
                name: "eth0".into(),
                addrs: vec!["192.0.2.2/24".parse().expect("net")],
            },
            Interface {
                name: "eth1".into(),
                addrs: vec![],
            },
        ],
        default_route_interfaces: vec!["eth0".into()],
        devices: vec![DeviceFacts {
            path: "/dev/sdb".into(),
            state: disk(vec![]),
        }],
        lvm: LvmSupport::Unavailable {
            reason: DM_MISSING.into(),
        },
        mounts: vec![Mount {
            source: "/dev/vda".into(),
            target: "/".into(),
            fstype: "ext4".into(),
        }],
        fstab: Some("# UNCONFIGURED FSTAB FOR BASE SYSTEM\n".into()),
        dirs: Vec::new(),
        package_defaults: Some(PackageDefaults {
            dir: "/etc/glusterfs".into(),
            files: vec!["glusterd.vol".into(), "glusterfs-logrotate".into()],
        }),
        selinux_enabled: false,
        new_fs_uuids: vec![UUID1.into(), UUID2.into()],
    }
}

/// The state `fresh()` is in after a successful run with the XFS layout.
fn prepared_xfs() -> Facts {
    let mut f = fresh();
    f.interfaces[1]
        .addrs
        .push("10.1.1.1/24".parse().expect("net"));
    f.devices[0].state = disk(vec![our_xfs(UUID1)]);
    f.mounts.push(Mount {
        source: "/dev/sdb".into(),
        target: format!("{ROOT}/gluster/brick1"),
        fstype: "xfs".into(),
    });
    f.fstab = Some(format!(
        "# UNCONFIGURED FSTAB FOR BASE SYSTEM\nUUID={UUID1} /gluster/brick1 xfs inode64,noatime,nofail 0 0\n"
    ));
    f.dirs = ["etc/glusterfs", "var/lib/glusterd", "var/log/glusterfs"]
        .iter()
        .map(|d| (format!("{ROOT}/{d}"), DirState::NotEmpty))
        .chain([(format!("{ROOT}/gluster/brick1"), DirState::Empty)])
        .collect();
    f
}

/// The seed's layout: PV in VG gluster, thin pool brickpool, thin LV brick1 with XFS.
fn seed_lvm(brick_sigs: Option<Vec<Signature>>, with_lv: bool) -> DeviceState {
    let mut lvs = vec![LogicalVolume {
        name: "brickpool".into(),
        vg: "gluster".into(),
        pool: String::new(),
        segtype: "thin-pool".into(),
        signatures: None,
    }];
    if with_lv {
        lvs.push(LogicalVolume {
            name: "brick1".into(),
            vg: "gluster".into(),
            pool: "brickpool".into(),
            segtype: "thin".into(),
            signatures: brick_sigs,
        });
    }
    DeviceState::Present(BlockDevice {
        canonical: "/dev/sdb".into(),
        size: 10 << 30,
        signatures: vec![sig("LVM2_member", Some("TMPQfY-nLiK"), None)],
        pv: Some(PhysicalVolume {
            vg: "gluster".into(),
        }),
        lvs,
        users: Vec::new(),
    })
}

fn shown(plan: &Plan) -> Vec<String> {
    plan.steps.iter().map(Step::shown).collect()
}

fn dirs_and_ip() -> Vec<String> {
    vec![
        format!(
            "copy 2 file(s) from /etc/glusterfs into {ROOT}/etc/glusterfs (through a temporary directory, renamed into place)"
        ),
        format!("mkdir -p -m 0755 {ROOT}/var/lib/glusterd"),
        format!("mkdir -p -m 0755 {ROOT}/var/log/glusterfs"),
        format!("mkdir -p -m 0755 {ROOT}/gluster/brick1"),
        "ip addr add 10.1.1.1/24 dev eth0".into(),
    ]
}

fn fstab_and_mount(device: &str) -> Vec<String> {
    vec![
        format!("write {ROOT}/etc/fstab (temporary file, fsync, rename)"),
        format!("mount -t xfs -o inode64,noatime {device} {ROOT}/gluster/brick1"),
    ]
}

fn mkfs(device: &str) -> String {
    format!("mkfs.xfs -i size=512 -L brickyard1 -m uuid={UUID1} {device}")
}

fn concat(parts: &[Vec<String>]) -> Vec<String> {
    parts.concat()
}

/// Plans and expects steps.
#[track_caller]
fn expect_steps(cfg: &HostConfig, facts: &Facts, opts: &PlanOptions, want: &[String]) -> Plan {
    let plan = match plan(cfg, facts, opts) {
        Ok(p) => p,
        Err(r) => panic!("refused:\n{r}"),
    };
    assert_eq!(shown(&plan), want, "notes: {:#?}", plan.notes);
    plan
}

/// Plans and expects a refusal whose problems contain these texts, in order.
#[track_caller]
fn expect_refusal(cfg: &HostConfig, facts: &Facts, opts: &PlanOptions, says: &[&str]) {
    match plan(cfg, facts, opts) {
        Ok(p) => panic!("planned instead of refusing: {:#?}", shown(&p)),
        Err(r) => {
            assert_eq!(r.problems.len(), says.len(), "{r}");
            for (problem, text) in r.problems.iter().zip(says) {
                assert!(
                    problem.to_string().contains(text),
                    "{problem}\nshould say: {text}"
                );
            }
        }
    }
}

#[test]
fn fresh_disk_without_device_mapper_gets_xfs_directly() {
    let plan = expect_steps(
        &config(false, &[]),
        &fresh(),
        &opts(),
        &concat(&[
            dirs_and_ip(),
            vec![mkfs("/dev/sdb")],
            fstab_and_mount("/dev/sdb"),
        ]),
    );
    assert!(
        plan.notes.iter().any(|n| n.contains(&format!(
            "XFS directly on /dev/sdb (LVM skipped: {DM_MISSING})"
        ))),
        "{:#?}",
        plan.notes
    );
    let Some(Action::WriteFile { content, mode, .. }) = plan
        .steps
        .iter()
        .map(|s| &s.action)
        .find(|a| matches!(a, Action::WriteFile { .. }))
    else {
        panic!("no fstab step");
    };
    assert_eq!(
        content,
        &format!(
            "# UNCONFIGURED FSTAB FOR BASE SYSTEM\nUUID={UUID1} /gluster/brick1 xfs inode64,noatime,nofail 0 0\n"
        )
    );
    assert_eq!(*mode, 0o644);
}

#[test]
fn fresh_disk_with_lvm_gets_the_seed_layout() {
    let mut facts = fresh();
    facts.lvm = LvmSupport::Usable;
    let plan = expect_steps(
        &config(false, &[]),
        &facts,
        &opts(),
        &concat(&[
            dirs_and_ip(),
            vec![
                "pvcreate /dev/sdb".into(),
                "vgcreate gluster /dev/sdb".into(),
                "lvcreate --yes --type thin-pool --extents '90%FREE' --name brickpool gluster"
                    .into(),
                "lvcreate --yes --wipesignatures y --type thin --virtualsize 10737418240b --thinpool brickpool --name brick1 gluster".into(),
                mkfs("/dev/gluster/brick1"),
            ],
            fstab_and_mount("/dev/gluster/brick1"),
        ]),
    );
    assert!(
        plan.notes.iter().any(
            |n| n.contains("LVM thin layout") && n.contains("LVM tools and device-mapper work")
        ),
        "{:#?}",
        plan.notes
    );
}

#[test]
fn no_lvm_option_gets_xfs_where_lvm_works() {
    let mut facts = fresh();
    facts.lvm = LvmSupport::Usable;
    let o = PlanOptions {
        no_lvm: true,
        ..opts()
    };
    let plan = expect_steps(
        &config(false, &[]),
        &facts,
        &o,
        &concat(&[
            dirs_and_ip(),
            vec![mkfs("/dev/sdb")],
            fstab_and_mount("/dev/sdb"),
        ]),
    );
    assert!(plan.notes.iter().any(|n| n.contains("--no-lvm was given")));
}

#[test]
fn disk_with_ext4_is_refused_without_zap() {
    let mut facts = fresh();
    facts.devices[0].state = disk(vec![ext4()]);
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &[
            "brick1: /dev/sdb holds ext4 filesystem (UUID 78c21bda-2379-469e-9617-210938fb7777, label \"data\"); nothing was changed. If that data may be destroyed, set \"ZapDevice\": \"true\"",
        ],
    );
}

#[test]
fn disk_with_ext4_is_wiped_with_zap() {
    let mut facts = fresh();
    facts.devices[0].state = disk(vec![ext4()]);
    expect_steps(
        &config(true, &[]),
        &facts,
        &opts(),
        &concat(&[
            dirs_and_ip(),
            vec!["wipefs -a /dev/sdb".into(), mkfs("/dev/sdb")],
            fstab_and_mount("/dev/sdb"),
        ]),
    );
}

#[test]
fn disk_with_partition_tables_is_refused_naming_each() {
    let mut facts = fresh();
    facts.devices[0].state = disk(vec![
        sig("gpt", Some("5a1e"), None),
        sig("gpt", Some("5a1e"), None),
        sig("PMBR", None, None),
    ]);
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &[
            "holds gpt partition table (UUID 5a1e), gpt partition table (UUID 5a1e), PMBR partition table;",
        ],
    );
    facts.devices[0].state = disk(vec![sig("dos", None, None)]);
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &["holds dos partition table;"],
    );
}

#[test]
fn raid_and_foreign_lvm_members_are_refused() {
    let mut facts = fresh();
    facts.devices[0].state = disk(vec![sig("linux_raid_member", Some("r1"), Some("h:0"))]);
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &["holds linux_raid_member RAID or pool member (UUID r1, label \"h:0\")"],
    );
    let DeviceState::Present(mut bd) = seed_lvm(None, false) else {
        unreachable!()
    };
    bd.pv = Some(PhysicalVolume { vg: "data".into() });
    facts.devices[0].state = DeviceState::Present(bd);
    facts.lvm = LvmSupport::Usable;
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &["holds LVM2_member LVM physical volume"],
    );
}

#[test]
fn a_foreign_filesystem_that_is_mounted_is_never_wiped() {
    let mut facts = fresh();
    facts.devices[0].state = disk(vec![ext4()]);
    facts.mounts.push(Mount {
        source: "/dev/sdb".into(),
        target: "/data".into(),
        fstype: "ext4".into(),
    });
    expect_refusal(
        &config(true, &[]),
        &facts,
        &opts(),
        &["brick1: /dev/sdb is mounted on /data; brickyard never wipes a mounted device"],
    );
}

#[test]
fn a_device_whose_partitions_are_used_is_never_touched_even_with_zap() {
    let mut facts = fresh();
    let DeviceState::Present(mut bd) = disk(vec![sig("dos", None, None)]) else {
        unreachable!("disk() is present")
    };
    bd.users = vec![
        "/dev/sdb1 is mounted on /data".into(),
        "/dev/sdb2 is in use as swap".into(),
        "/dev/sdb3 is held by dm-0 (device-mapper or RAID)".into(),
    ];
    facts.devices[0].state = DeviceState::Present(bd);
    expect_refusal(
        &config(true, &[]),
        &facts,
        &opts(),
        &[
            "brick1: /dev/sdb is in use: /dev/sdb1 is mounted on /data; /dev/sdb2 is in use as swap; /dev/sdb3 is held by dm-0 (device-mapper or RAID); brickyard never touches a device in use",
        ],
    );
}

#[test]
fn commands_name_the_device_a_link_led_to_and_a_disk_listed_twice_is_refused() {
    // The config names a link; every command names the device it led to when looked at.
    let mut facts = fresh();
    facts.devices[0].path = "/dev/disk/by-id/ata-X".into();
    let mut cfg = config(true, &[]);
    cfg.brick_device = "/dev/disk/by-id/ata-X".into();
    let plan = plan(&cfg, &facts, &opts()).expect("a plan");
    let mkfs: Vec<String> = plan
        .steps
        .iter()
        .filter_map(|s| s.cmd().map(|c| c.to_string()))
        .filter(|c| c.starts_with("mkfs.xfs"))
        .collect();
    assert!(mkfs[0].ends_with(" /dev/sdb"), "{mkfs:?}");
    // The same disk under two names.
    let mut facts = fresh();
    let second = DeviceFacts {
        path: "/dev/disk/by-id/ata-X".into(),
        state: disk(vec![]),
    };
    facts.devices.push(second);
    facts
        .dirs
        .push((format!("{ROOT}/gluster/brick2"), DirState::Missing));
    expect_refusal(
        &config(true, &["/dev/disk/by-id/ata-X"]),
        &facts,
        &opts(),
        &[
            "brick2: /dev/disk/by-id/ata-X is the same device as brick1's (/dev/sdb); list each disk once",
        ],
    );
}

#[test]
fn prepared_xfs_host_gives_an_empty_plan() {
    let plan = expect_steps(&config(false, &[]), &prepared_xfs(), &opts(), &[]);
    assert!(plan.is_empty());
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("already holds its brick filesystem")),
        "{:#?}",
        plan.notes
    );
    // ZapDevice never re-wipes our own brick.
    expect_steps(&config(true, &[]), &prepared_xfs(), &opts(), &[]);
}

#[test]
fn prepared_disk_not_yet_in_fstab_or_mounted_continues() {
    let mut facts = prepared_xfs();
    facts.mounts.pop();
    facts.fstab = Some(format!(
        "/dev/vda / ext4 defaults 0 1\nUUID={OLD_UUID} /gluster/brick1 xfs defaults 0 0\n"
    ));
    let plan = expect_steps(
        &config(false, &[]),
        &facts,
        &opts(),
        &fstab_and_mount("/dev/sdb"),
    );
    let Action::WriteFile { content, .. } = &plan.steps[0].action else {
        panic!("fstab first");
    };
    assert_eq!(
        content,
        &format!(
            "/dev/vda / ext4 defaults 0 1\nUUID={UUID1} /gluster/brick1 xfs inode64,noatime,nofail 0 0\n"
        )
    );
    assert!(
        plan.steps[0].description.contains("replacing"),
        "{}",
        plan.steps[0].description
    );
}

#[test]
fn prepared_seed_lvm_host_gives_an_empty_plan() {
    let mut facts = prepared_xfs();
    facts.lvm = LvmSupport::Usable;
    // The seed made its XFS without a label.
    facts.devices[0].state = seed_lvm(Some(vec![sig("xfs", Some(UUID1), None)]), true);
    facts.mounts[1].source = "/dev/mapper/gluster-brick1".into();
    let plan = expect_steps(&config(false, &[]), &facts, &opts(), &[]);
    assert!(
        plan.notes
            .iter()
            .any(|n| n.contains("/dev/gluster/brick1 already holds"))
    );
}

#[test]
fn part_made_lvm_layout_continues() {
    let mut facts = prepared_xfs();
    facts.lvm = LvmSupport::Usable;
    facts.mounts.pop();
    facts.fstab = None;
    let DeviceState::Present(mut bd) = seed_lvm(None, false) else {
        unreachable!()
    };
    bd.lvs.clear();
    facts.devices[0].state = DeviceState::Present(bd);
    expect_steps(
        &config(false, &[]),
        &facts,
        &opts(),
        &concat(&[
            vec![
                "lvcreate --yes --type thin-pool --extents '90%FREE' --name brickpool gluster"
                    .into(),
                "lvcreate --yes --wipesignatures y --type thin --virtualsize 10737418240b --thinpool brickpool --name brick1 gluster".into(),
                mkfs("/dev/gluster/brick1"),
            ],
            fstab_and_mount("/dev/gluster/brick1"),
        ]),
    );
    // The thin LV exists but has no filesystem yet.
    facts.devices[0].state = seed_lvm(Some(vec![]), true);
    expect_steps(
        &config(false, &[]),
        &facts,
        &opts(),
        &concat(&[
            vec![mkfs("/dev/gluster/brick1")],
            fstab_and_mount("/dev/gluster/brick1"),
        ]),
    );
}

#[test]
fn lvm_layout_without_device_mapper_is_refused() {
    let mut facts = prepared_xfs();
    facts.mounts.pop();
    facts.devices[0].state = seed_lvm(None, true);
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &[&format!(
            "brick1: /dev/sdb carries the LVM brick layout (volume group gluster), but LVM cannot be used on this host: {DM_MISSING}"
        )],
    );
    facts.lvm = LvmSupport::Usable;
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &["logical volume gluster/brick1 is not active"],
    );
}

#[test]
fn address_present_or_absent() {
    let cfg = config(false, &[]);
    // Present on the default route's interface: no step.
    expect_steps(&cfg, &prepared_xfs(), &opts(), &[]);
    // Present on another interface, no --interface: still nothing to do.
    let mut facts = prepared_xfs();
    facts.interfaces[1].addrs.pop();
    facts.interfaces[2]
        .addrs
        .push("10.1.1.1/24".parse().expect("net"));
    expect_steps(&cfg, &facts, &opts(), &[]);
    // ... but --interface eth0 asks for it elsewhere.
    let on_eth0 = PlanOptions {
        interface: Some("eth0".into()),
        ..opts()
    };
    expect_refusal(
        &cfg,
        &facts,
        &on_eth0,
        &["IPAddress 10.1.1.1/24 is on interface eth1, not on eth0; pass --interface eth1"],
    );
    // Absent: added to the default route's interface, or the one asked for.
    facts.interfaces[2].addrs.clear();
    expect_steps(
        &cfg,
        &facts,
        &opts(),
        &["ip addr add 10.1.1.1/24 dev eth0".into()],
    );
    let on_eth1 = PlanOptions {
        interface: Some("eth1".into()),
        ..opts()
    };
    let plan = expect_steps(
        &cfg,
        &facts,
        &on_eth1,
        &["ip addr add 10.1.1.1/24 dev eth1".into()],
    );
    assert!(plan.steps[0].description.contains("as --interface asks"));
    // Same address, other prefix.
    facts.interfaces[1]
        .addrs
        .push("10.1.1.1/16".parse().expect("net"));
    expect_refusal(
        &cfg,
        &facts,
        &on_eth0,
        &["interface eth0 holds 10.1.1.1/16, but IPAddress is 10.1.1.1/24"],
    );
}

#[test]
fn no_default_route_and_no_interface_is_a_clear_error() {
    let mut facts = prepared_xfs();
    facts.interfaces[1].addrs.pop();
    facts.default_route_interfaces.clear();
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &[
            "no --interface given and no default route to take the interface from; pass --interface IFACE",
        ],
    );
    let missing = PlanOptions {
        interface: Some("eth9".into()),
        ..opts()
    };
    expect_refusal(
        &config(false, &[]),
        &facts,
        &missing,
        &["interface eth9 does not exist; interfaces here: lo, eth0, eth1"],
    );
    let bad = PlanOptions {
        interface: Some("-all".into()),
        ..opts()
    };
    expect_refusal(
        &config(false, &[]),
        &facts,
        &bad,
        &["interface name \"-all\" starts with '-'"],
    );
}

#[test]
fn device_missing_is_refused_and_nothing_is_planned() {
    let mut facts = fresh();
    facts.devices[0].state = DeviceState::Missing;
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &["brick1: BrickDevice /dev/sdb does not exist"],
    );
    // Facts that do not mention the device at all mean the same.
    facts.devices.clear();
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &["brick1: BrickDevice /dev/sdb does not exist"],
    );
    facts.devices.push(DeviceFacts {
        path: "/dev/sdb".into(),
        state: DeviceState::NotBlockDevice,
    });
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &["is not a block device"],
    );
}

#[test]
fn every_problem_is_reported_at_once() {
    let mut facts = fresh();
    facts.default_route_interfaces.clear();
    facts.devices[0].state = disk(vec![ext4()]);
    expect_refusal(
        &config(false, &["/dev/sdc"]),
        &facts,
        &opts(),
        &[
            "no default route",
            "holds ext4 filesystem",
            "brick2: BrickDevice /dev/sdc does not exist",
        ],
    );
}

#[test]
fn extra_bricks_get_their_own_names() {
    let mut facts = prepared_xfs();
    let DeviceState::Present(mut sdc) = disk(vec![]) else {
        unreachable!("disk() is present")
    };
    sdc.canonical = "/dev/sdc".into();
    facts.devices.push(DeviceFacts {
        path: "/dev/sdc".into(),
        state: DeviceState::Present(sdc),
    });
    facts
        .dirs
        .push((format!("{ROOT}/gluster/brick2"), DirState::Missing));
    let plan = expect_steps(
        &config(false, &["/dev/sdc"]),
        &facts,
        &opts(),
        &[
            format!("mkdir -p -m 0755 {ROOT}/gluster/brick2"),
            format!("mkfs.xfs -i size=512 -L brickyard2 -m uuid={UUID2} /dev/sdc"),
            format!("write {ROOT}/etc/fstab (temporary file, fsync, rename)"),
            format!("mount -t xfs -o inode64,noatime /dev/sdc {ROOT}/gluster/brick2"),
        ],
    );
    let Action::WriteFile { content, .. } = &plan.steps[2].action else {
        panic!("fstab step");
    };
    assert!(
        content.contains(&format!("UUID={UUID1} /gluster/brick1 ")),
        "{content}"
    );
    assert!(
        content.contains(&format!("UUID={UUID2} /gluster/brick2 ")),
        "{content}"
    );
    // With LVM, brick 2 gets volume group gluster2 and thin volume brick2.
    facts.lvm = LvmSupport::Usable;
    let plan = super::plan(&config(false, &["/dev/sdc"]), &facts, &opts()).expect("plans");
    let all = shown(&plan).join("\n");
    assert!(all.contains("vgcreate gluster2 /dev/sdc"), "{all}");
    assert!(all.contains("--name brick2 gluster2"), "{all}");
    assert!(all.contains("-L brickyard2"), "{all}");
}

#[test]
fn something_else_on_the_mount_point_is_refused() {
    let mut facts = prepared_xfs();
    facts.mounts[1].source = "/dev/sdz".into();
    expect_refusal(
        &config(false, &[]),
        &facts,
        &opts(),
        &[&format!(
            "brick1: {ROOT}/gluster/brick1 already has /dev/sdz mounted on it"
        )],
    );
}

#[test]
fn config_dir_is_seeded_only_when_empty_and_not_from_itself() {
    let cfg = config(false, &[]);
    let mut facts = prepared_xfs();
    facts.dirs[0].1 = DirState::Empty;
    let plan = expect_steps(&cfg, &facts, &opts(), &[dirs_and_ip()[0].clone()]);
    assert_eq!(
        plan.steps[0].action,
        Action::SeedDir {
            from: "/etc/glusterfs".into(),
            to: format!("{ROOT}/etc/glusterfs"),
            files: vec!["glusterd.vol".into(), "glusterfs-logrotate".into()],
        }
    );
    // Under the real root, the defaults are the target itself: nothing to seed from.
    let real = PlanOptions {
        root: PathBuf::from("/"),
        ..opts()
    };
    facts.dirs = vec![("/etc/glusterfs".into(), DirState::Empty)];
    facts.mounts[1].target = "/gluster/brick1".into();
    let plan = super::plan(&cfg, &facts, &real).expect("plans");
    assert!(
        !plan
            .steps
            .iter()
            .any(|s| matches!(s.action, Action::SeedDir { .. })),
        "{:#?}",
        shown(&plan)
    );
    // A path under the root that is a file is reported.
    let mut facts = prepared_xfs();
    facts.dirs[1].1 = DirState::NotADirectory;
    expect_refusal(
        &cfg,
        &facts,
        &opts(),
        &[&format!(
            "{ROOT}/var/lib/glusterd exists but is not a directory"
        )],
    );
}

#[test]
fn selinux_relabel_only_when_enabled() {
    let mut facts = fresh();
    facts.selinux_enabled = true;
    let plan = plan(&config(false, &[]), &facts, &opts()).expect("plans");
    let last = plan.steps.last().expect("steps").shown();
    assert_eq!(
        last,
        format!(
            "restorecon -R {ROOT}/etc/glusterfs {ROOT}/var/lib/glusterd {ROOT}/var/log/glusterfs {ROOT}/gluster/brick1"
        )
    );
    // Nothing created or mounted: nothing to relabel.
    let mut facts = prepared_xfs();
    facts.selinux_enabled = true;
    expect_steps(&config(false, &[]), &facts, &opts(), &[]);
}

#[test]
fn a_root_with_odd_characters_is_refused() {
    let o = PlanOptions {
        root: PathBuf::from("/tmp/a b"),
        ..opts()
    };
    let err = plan(&config(false, &[]), &fresh(), &o).expect_err("refused");
    assert!(err.to_string().contains("contains ' '"), "{err}");
}

#[test]
fn steps_serialise_with_their_argv() {
    let plan = plan(&config(false, &[]), &fresh(), &opts()).expect("plans");
    let json = serde_json::to_value(&plan.steps).expect("serialises");
    let ip = &json[4];
    assert_eq!(ip["action"], "run");
    assert_eq!(
        ip["argv"],
        serde_json::json!(["ip", "addr", "add", "10.1.1.1/24", "dev", "eth0"])
    );
    assert!(
        ip["description"]
            .as_str()
            .expect("text")
            .contains("default route")
    );
    let back: Vec<Step> = serde_json::from_value(json).expect("deserialises");
    assert_eq!(back, plan.steps);
}
