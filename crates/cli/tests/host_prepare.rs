//! `brickyard host prepare` end to end on real loop devices, real XFS and real `ip` inside
//! a network namespace made for each test, with `--root` in a temp dir and the embedded
//! store. Needs root.
//!
//! The binary runs under `nsenter --net=...`, which changes only the network namespace:
//! `ip netns exec` would also give it a fresh mount namespace, and the brick mount would
//! vanish with it.
//!
//! Everything a test sets up is torn down by [`Fixture`]'s `Drop`, also when it fails:
//! mounts under the root, the loop device, the namespace, the temp dir.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use brickyard_testkit::{Run, TempStore, run};

const BIN: &str = env!("CARGO_BIN_EXE_brickyard");
/// XFS needs 300 MiB at least (xfsprogs 6); the files are sparse.
const DISK_BYTES: u64 = 320 << 20;

static NEXT: AtomicUsize = AtomicUsize::new(0);

/// Runs a setup command and panics with its output when it fails.
#[track_caller]
fn sh(argv: &[&str]) -> String {
    let out = Command::new(argv[0])
        .args(&argv[1..])
        .output()
        .unwrap_or_else(|e| panic!("run {argv:?}: {e}"));
    assert!(
        out.status.success(),
        "{argv:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Runs a teardown command, reporting but not panicking (Drop must go on cleaning).
fn quietly(argv: &[&str]) -> bool {
    match Command::new(argv[0]).args(&argv[1..]).output() {
        Ok(out) if out.status.success() => true,
        Ok(out) => {
            eprintln!(
                "cleanup {argv:?} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("cleanup {argv:?}: {e}");
            false
        }
    }
}

fn sha256(path: &Path) -> String {
    let out = sh(&["sha256sum", &path.display().to_string()]);
    out.split_whitespace().next().unwrap_or_default().to_owned()
}

/// Mount points at or below `dir`, deepest first, from /proc/mounts.
fn mounts_under(dir: &Path) -> Vec<String> {
    let text = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
    let prefix = dir.display().to_string();
    let mut found: Vec<String> = text
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .filter(|t| *t == prefix || t.starts_with(&format!("{prefix}/")))
        .map(str::to_owned)
        .collect();
    found.sort_by_key(|t| std::cmp::Reverse(t.len()));
    found
}

/// One test host: a temp dir holding the root and the disk file, a loop device on that file,
/// a network namespace with a veth pair (`v0` holds 10.99.N.2/24 and the default route,
/// `v1` is spare), and an embedded store.
struct Fixture {
    dir: tempfile::TempDir,
    root: PathBuf,
    disk: PathBuf,
    dev: String,
    netns: String,
    net: u8,
    store: TempStore,
    host: String,
}

impl Fixture {
    fn new(default_route: bool) -> Self {
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let dir = tempfile::Builder::new()
            .prefix("byt-hp-")
            .tempdir()
            .expect("temp dir");
        let root = dir.path().join("root");
        std::fs::create_dir(&root).expect("mkdir root");
        let disk = dir.path().join("disk.img");
        std::fs::File::create(&disk)
            .and_then(|f| f.set_len(DISK_BYTES))
            .expect("create the disk file");
        let netns = format!("byt-hp-{}-{n}", std::process::id());
        // Distinct subnets per test, so that addresses never clash in the output.
        let net = 10 + u8::try_from(n % 200).expect("small");
        let mut f = Self {
            dir,
            root,
            disk,
            dev: String::new(),
            netns,
            net,
            store: TempStore::new(),
            host: format!("byt-hp-{n}"),
        };
        f.dev = f.attach();
        sh(&["ip", "netns", "add", &f.netns]);
        let ns = f.netns.clone();
        let ip = |args: &[&str]| {
            let mut argv = vec!["ip", "-n", &ns];
            argv.extend_from_slice(args);
            sh(&argv);
        };
        ip(&["link", "add", "v0", "type", "veth", "peer", "name", "v1"]);
        ip(&["link", "set", "v0", "up"]);
        ip(&["link", "set", "v1", "up"]);
        let own = format!("10.99.{}.2/24", f.net);
        ip(&["addr", "add", &own, "dev", "v0"]);
        if default_route {
            let gw = format!("10.99.{}.1", f.net);
            ip(&["route", "add", "default", "via", &gw, "dev", "v0"]);
        }
        f
    }

    /// `losetup --find --show` can lose a race with a parallel test for the same free
    /// device; try again then.
    fn attach(&self) -> String {
        let file = self.disk.display().to_string();
        let mut last = String::new();
        for _ in 0..5 {
            let out = Command::new("losetup")
                .args(["--find", "--show", &file])
                .output()
                .expect("run losetup");
            if out.status.success() {
                return String::from_utf8_lossy(&out.stdout).trim().to_owned();
            }
            last = String::from_utf8_lossy(&out.stderr).into_owned();
            std::thread::sleep(std::time::Duration::from_millis(200));
        }
        panic!("losetup --find --show {file}: {last}");
    }

    /// The address the host config asks for.
    fn ip(&self) -> String {
        format!("10.99.{}.10/24", self.net)
    }

    fn config(&self, zap: bool, device: &str) -> String {
        serde_json::json!({
            "HostName": self.host,
            "GlusterNodeName": format!("g-{}", self.host),
            "IPAddress": self.ip(),
            "BrickDevice": device,
            "ZapDevice": if zap { "true" } else { "false" },
            "PeerList": []
        })
        .to_string()
    }

    /// Loads this host's config into the store.
    fn load(&self, zap: bool, device: &str) {
        let file = self.dir.path().join(format!("{}.json", self.host));
        std::fs::write(&file, self.config(zap, device)).expect("write config");
        run(
            BIN,
            &[
                "--store",
                &self.store.url(),
                "config",
                "load",
                &file.display().to_string(),
            ],
            &[],
        )
        .ok();
    }

    /// `brickyard host prepare --host H --root R ARGS...` inside the namespace.
    fn prepare(&self, args: &[&str]) -> Run {
        let net = format!("--net=/run/netns/{}", self.netns);
        let url = self.store.url();
        let root = self.root.display().to_string();
        let mut argv = vec![
            net.as_str(),
            BIN,
            "--store",
            &url,
            "host",
            "prepare",
            "--host",
            &self.host,
            "--root",
            &root,
        ];
        argv.extend_from_slice(args);
        run("nsenter", &argv, &[])
    }

    fn brick(&self) -> PathBuf {
        self.root.join("gluster/brick1")
    }

    /// The (source, fstype) mounted on the brick mount point, if any.
    fn brick_mount(&self) -> Option<(String, String)> {
        let text = std::fs::read_to_string("/proc/mounts").unwrap_or_default();
        let target = self.brick().display().to_string();
        text.lines().find_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.get(1) == Some(&target.as_str())).then(|| (f[0].to_owned(), f[2].to_owned()))
        })
    }

    fn addrs_in_ns(&self) -> String {
        sh(&["ip", "-n", &self.netns, "-o", "addr", "show"])
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        for target in mounts_under(self.dir.path()) {
            if !quietly(&["umount", &target]) {
                quietly(&["umount", "-l", &target]);
            }
        }
        if !self.dev.is_empty() {
            quietly(&["losetup", "-d", &self.dev]);
        }
        quietly(&["ip", "netns", "del", &self.netns]);
        // The temp dir and the store are removed when the fields drop, after this.
    }
}

fn json_steps(r: &Run) -> Vec<serde_json::Value> {
    match serde_json::from_str::<serde_json::Value>(&r.stdout) {
        Ok(serde_json::Value::Array(steps)) => steps,
        other => panic!("not a JSON array: {other:?}\n{r}"),
    }
}

fn argvs(steps: &[serde_json::Value]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| s["argv"].as_array())
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

#[test]
fn fresh_device_is_prepared_and_mounted_and_a_second_run_changes_nothing() {
    let f = Fixture::new(true);
    f.load(false, &f.dev);

    // The dry run shows the plan and changes nothing.
    let dry = f.prepare(&["--dry-run", "--output", "json"]).ok();
    let steps = json_steps(&dry);
    let cmds = argvs(&steps);
    assert!(
        cmds.iter()
            .any(|c| c == &format!("ip addr add {} dev v0", f.ip())),
        "{cmds:#?}"
    );
    assert!(
        cmds.iter().any(
            |c| c.starts_with("mkfs.xfs -i size=512 -L brickyard1 -m uuid=") && c.ends_with(&f.dev)
        ),
        "{cmds:#?}"
    );
    assert!(
        dry.stderr
            .contains("LVM skipped: device-mapper not available (dmsetup version failed)")
            || dry.stderr.contains("LVM thin layout"),
        "the dry run says which layout and why:\n{dry}"
    );
    assert!(f.brick_mount().is_none(), "a dry run mounted something");
    assert!(
        !f.root.join("var/lib/glusterd").exists(),
        "a dry run made directories"
    );
    let table = f.prepare(&["--dry-run"]).ok();
    assert!(table.stdout.contains("  1. "), "{table}");
    assert!(table.stdout.contains("$ mkfs.xfs -i size=512"), "{table}");

    // Apply.
    let applied = f.prepare(&[]).ok();
    println!("{applied}");
    assert!(applied.stdout.contains("done"), "{applied}");
    assert!(applied.stdout.contains("is prepared"), "{applied}");
    let (source, fstype) = f.brick_mount().expect("the brick is mounted");
    assert_eq!((source.as_str(), fstype.as_str()), (f.dev.as_str(), "xfs"));
    let blkid = sh(&["blkid", "-p", "-o", "export", &f.dev]);
    assert!(
        blkid.contains("TYPE=xfs") && blkid.contains("LABEL=brickyard1"),
        "{blkid}"
    );
    let uuid = blkid
        .lines()
        .find_map(|l| l.strip_prefix("UUID="))
        .expect("the filesystem has a UUID");
    let fstab_path = f.root.join("etc/fstab");
    let fstab = std::fs::read_to_string(&fstab_path).expect("fstab written");
    assert!(
        fstab.contains(&format!("UUID={uuid} /gluster/brick1 xfs ")),
        "{fstab}"
    );
    let info = sh(&["xfs_info", &f.brick().display().to_string()]);
    assert!(info.contains("isize=512"), "{info}");
    assert!(
        f.addrs_in_ns().contains(&format!("v0    inet {}", f.ip())),
        "{}",
        f.addrs_in_ns()
    );
    for dir in ["var/lib/glusterd", "var/log/glusterfs"] {
        assert!(f.root.join(dir).is_dir(), "{dir}");
    }
    assert!(
        f.root.join("etc/glusterfs/glusterd.vol").is_file(),
        "the config dir is seeded from the package defaults"
    );

    // Second run: an empty plan, and nothing changes.
    std::fs::write(f.brick().join("data"), "kept").expect("write on the brick");
    let fstab_before = std::fs::read(&fstab_path).expect("read fstab");
    let fstab_mtime = std::fs::metadata(&fstab_path)
        .and_then(|m| m.modified())
        .expect("stat fstab");
    let again = f.prepare(&["--dry-run", "--output", "json"]).ok();
    assert_eq!(again.stdout.trim(), "[]", "{again}");
    let again = f.prepare(&[]).ok();
    assert!(again.stdout.contains("nothing to do"), "{again}");
    assert_eq!(
        std::fs::read(&fstab_path).expect("read fstab"),
        fstab_before
    );
    assert_eq!(
        std::fs::metadata(&fstab_path)
            .and_then(|m| m.modified())
            .expect("stat fstab"),
        fstab_mtime
    );
    assert_eq!(
        std::fs::read_to_string(f.brick().join("data")).expect("read"),
        "kept"
    );
    assert_eq!(f.brick_mount().map(|m| m.0), Some(f.dev.clone()));
}

#[test]
fn device_holding_ext4_is_refused_untouched_and_prepared_only_with_zap() {
    let f = Fixture::new(true);
    // An ext4 filesystem holding a known file.
    sh(&["mkfs.ext4", "-q", "-F", "-L", "data", &f.dev]);
    let m = f.dir.path().join("ext4");
    std::fs::create_dir(&m).expect("mkdir");
    sh(&["mount", &f.dev, &m.display().to_string()]);
    std::fs::write(m.join("precious.txt"), "do not lose me\n").expect("write");
    sh(&["umount", &m.display().to_string()]);
    let ext4_uuid = sh(&["blkid", "-p", "-o", "value", "-s", "UUID", &f.dev])
        .trim()
        .to_owned();
    let before = sha256(&f.disk);

    f.load(false, &f.dev);
    for args in [&["--dry-run"][..], &[][..]] {
        let refused = f.prepare(args).fails();
        println!("{refused}");
        assert!(
            refused.stderr.contains(&format!(
                "{} holds ext4 filesystem (UUID {ext4_uuid}, label \"data\")",
                f.dev
            )),
            "{refused}"
        );
        assert!(
            refused.stderr.contains("\"ZapDevice\": \"true\""),
            "{refused}"
        );
        assert!(refused.stderr.contains("nothing was changed"), "{refused}");
    }
    assert_eq!(sha256(&f.disk), before, "the refused device was written to");
    assert!(f.brick_mount().is_none());
    assert!(!f.root.join("etc/fstab").exists());
    assert!(
        !f.root.join("var/lib/glusterd").exists(),
        "a refusal must change nothing, not even directories"
    );
    assert!(
        !f.addrs_in_ns().contains(&f.ip()),
        "a refusal added the address"
    );

    // With ZapDevice true the device is wiped and prepared.
    f.load(true, &f.dev);
    let dry = f.prepare(&["--dry-run", "--output", "json"]).ok();
    let cmds = argvs(&json_steps(&dry));
    assert!(cmds.contains(&format!("wipefs -a {}", f.dev)), "{cmds:#?}");
    let applied = f.prepare(&[]).ok();
    println!("{applied}");
    let (source, fstype) = f.brick_mount().expect("the brick is mounted");
    assert_eq!((source.as_str(), fstype.as_str()), (f.dev.as_str(), "xfs"));
    let sigs = sh(&["wipefs", "-n", &f.dev]);
    assert!(!sigs.contains("ext4"), "{sigs}");
    // ZapDevice stays true, yet the prepared brick is not wiped again.
    std::fs::write(f.brick().join("data"), "kept").expect("write on the brick");
    let again = f.prepare(&["--dry-run", "--output", "json"]).ok();
    assert_eq!(again.stdout.trim(), "[]", "{again}");
    f.prepare(&[]).ok();
    assert_eq!(
        std::fs::read_to_string(f.brick().join("data")).expect("read"),
        "kept"
    );
}

#[test]
fn interface_option_missing_device_and_missing_default_route() {
    // No default route: the interface must be named.
    let f = Fixture::new(false);
    f.load(false, &f.dev);
    let refused = f.prepare(&["--dry-run"]).fails();
    assert!(
        refused
            .stderr
            .contains("no --interface given and no default route"),
        "{refused}"
    );
    let refused = f.prepare(&["--interface", "nope0"]).fails();
    assert!(
        refused.stderr.contains("interface nope0 does not exist"),
        "{refused}"
    );
    let applied = f.prepare(&["--interface", "v1"]).ok();
    assert!(applied.stdout.contains("as --interface asks"), "{applied}");
    assert!(
        f.addrs_in_ns().contains(&format!("v1    inet {}", f.ip())),
        "{}",
        f.addrs_in_ns()
    );
    assert!(f.brick_mount().is_some());

    // A device that does not exist is refused clearly; nothing else is done.
    let g = Fixture::new(true);
    g.load(false, "/dev/byt-hp-no-such-disk");
    let refused = g.prepare(&[]).fails();
    assert!(
        refused
            .stderr
            .contains("brick1: BrickDevice /dev/byt-hp-no-such-disk does not exist"),
        "{refused}"
    );
    assert!(!g.root.join("var/lib/glusterd").exists());

    // No config for the host.
    let r = run(
        "nsenter",
        &[
            &format!("--net=/run/netns/{}", g.netns),
            BIN,
            "--store",
            &g.store.url(),
            "host",
            "prepare",
            "--host",
            "byt-hp-unknown",
            "--root",
            &g.root.display().to_string(),
        ],
        &[],
    )
    .fails();
    assert!(
        r.stderr.contains("no config for host byt-hp-unknown"),
        "{r}"
    );
}

/// Writes a DOS partition table with one partition (from 1 MiB to the end) into `disk`.
fn write_one_partition(disk: &Path) {
    use std::io::{Seek as _, SeekFrom, Write as _};
    let sectors = u32::try_from(DISK_BYTES / 512).expect("small disk");
    let mut entry = [0u8; 16];
    entry[4] = 0x83; // Linux
    entry[8..12].copy_from_slice(&2048u32.to_le_bytes());
    entry[12..16].copy_from_slice(&(sectors - 2048).to_le_bytes());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(disk)
        .expect("open the disk file");
    f.seek(SeekFrom::Start(446)).expect("seek");
    f.write_all(&entry).expect("write the partition entry");
    f.seek(SeekFrom::Start(510)).expect("seek");
    f.write_all(&[0x55, 0xAA]).expect("write the signature");
}

#[test]
fn a_device_whose_partition_is_mounted_is_never_touched_even_with_zap() {
    let mut f = Fixture::new(true);
    // A disk with a partition table, its partition holding a mounted filesystem.
    quietly(&["losetup", "-d", &f.dev]);
    write_one_partition(&f.disk);
    f.dev = f.attach();
    let part = format!("{}p1", f.dev);
    if !Path::new(&part).exists() {
        // Without udev the kernel may not have read the new table yet.
        sh(&["partx", "-u", &f.dev]);
    }
    for _ in 0..50 {
        if Path::new(&part).exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    sh(&["mkfs.xfs", "-q", "-f", &part]);
    let data = f.dir.path().join("data");
    std::fs::create_dir(&data).expect("mkdir");
    let data_s = data.display().to_string();
    sh(&["mount", &part, &data_s]);
    std::fs::write(data.join("precious"), "data").expect("write");
    // The partition table and what lies before the partition: a wipe or a new filesystem
    // would change them. (XFS itself writes on every mount, even a read-only one.)
    let head = || {
        let bytes = std::fs::read(&f.disk).expect("read the disk file");
        bytes[..1 << 20].to_vec()
    };
    let before = head();

    f.load(true, &f.dev.clone());
    let refused = f.prepare(&[]).fails();
    assert!(
        refused.stderr.contains(&format!(
            "{} is in use: {part} is mounted on {}",
            f.dev,
            data.display()
        )),
        "{refused}"
    );
    assert!(
        refused.stderr.contains("never touches a device in use"),
        "{refused}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("precious")).expect("read"),
        "data"
    );
    sh(&["umount", &data_s]);
    assert!(head() == before, "the partition table was written to");
    assert!(
        sh(&["wipefs", "-n", "-J", &part]).contains("\"xfs\""),
        "the partition's filesystem is gone"
    );
    quietly(&["partx", "-d", &f.dev]);
}
