//! The holder: the long-lived process that owns a lab host's mount and UTS namespaces.
//!
//! It is started as `ip netns exec NS unshare --mount --uts --propagation private -- brickyard
//! lab holder ...`, so it begins in the host's network namespace and in fresh, private mount
//! and UTS namespaces. There it mounts the host's own directories over the machine's gluster
//! directories and a tmpfs over /run, sets the host name, writes its pid file (the sign that
//! the host is ready) and waits for SIGTERM. Whatever later enters its namespaces sees the
//! host's view; nothing it mounts propagates to the machine.
//!
//! This module holds the lab's only mount and hostname system calls, and it refuses to make
//! them unless it really is in namespaces of its own.

use std::path::{Path, PathBuf};

use brickyard_sys::fs::Select;
use nix::mount::{MsFlags, mount};
use tokio::signal::unix::{SignalKind, signal};

use crate::LabError;
use brickyard_sys::procs::pid_ns;

/// The host's directories mounted over the machine's: (subdirectory of the host's state
/// directory, path inside the host).
pub const BIND_TARGETS: &[(&str, &str)] = &[
    ("etc-glusterfs", "/etc/glusterfs"),
    ("var-lib-glusterd", "/var/lib/glusterd"),
    ("var-log-glusterfs", "/var/log/glusterfs"),
    ("gluster", "/gluster"),
];

/// What a holder needs to know.
#[derive(Debug, Clone)]
pub struct HolderArgs {
    /// The host's state directory (holding the [`BIND_TARGETS`] sources).
    pub host_dir: PathBuf,
    /// The host name to set.
    pub hostname: String,
    /// Whether to seed the host's empty gluster directories from the machine's package files
    /// (not for hosts whose command runs in an image that carries its own).
    pub seed: bool,
    /// Whether to hide gluster's geo-replication helper from the host (see
    /// [`hide_geo_replication`]).
    pub hide_geo_replication: bool,
}

/// Sets up the host's view and waits for SIGTERM or SIGINT. Run as the holder process only.
pub async fn run(args: &HolderArgs) -> Result<(), LabError> {
    let refuse = |kind: &str| {
        LabError::BadOption {
        option: "lab holder",
        value: kind.to_owned(),
        problem: "namespace is the machine's own".to_owned(),
        fix: "the holder is started by `brickyard lab up`/`lab start` inside `unshare --mount --uts`; do not run it directly".to_owned(),
    }
    };
    let me = std::process::id() as i32;
    for kind in ["mnt", "uts", "net"] {
        if pid_ns(me, kind).is_none() || pid_ns(me, kind) == pid_ns(1, kind) {
            return Err(refuse(kind));
        }
    }
    // Register for the signals first, so that a stop that comes while mounting is not lost.
    let mut term = signal(SignalKind::terminate())
        .map_err(|e| LabError::io("handle SIGTERM in", &args.host_dir, e))?;
    let mut int = signal(SignalKind::interrupt())
        .map_err(|e| LabError::io("handle SIGINT in", &args.host_dir, e))?;

    for (sub, target) in BIND_TARGETS {
        let source = args.host_dir.join(sub);
        mkdir(&source)?;
        if args.seed {
            seed_from_machine(&source, target)?;
        }
        // The mount point itself must exist on the shared root file system; /gluster is the
        // only one that may be missing on a machine with glusterfs installed, and an empty
        // directory there changes nothing for the machine.
        mkdir(Path::new(target))?;
        bind(&source, Path::new(target))?;
    }
    // The host's own fstab, so that `host prepare` records its brick mounts there and
    // never in the machine's /etc/fstab.
    let fstab = args.host_dir.join("fstab");
    if !fstab.exists() {
        std::fs::write(&fstab, "# fstab of a brickyard lab host\n")
            .map_err(|e| LabError::io("write", &fstab, e))?;
    }
    bind(&fstab, Path::new("/etc/fstab"))?;
    mount(
        Some("tmpfs"),
        "/run",
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_NODEV,
        Some("mode=0755,size=64m"),
    )
    .map_err(|e| LabError::io("mount a tmpfs on", "/run", e.into()))?;
    if args.hide_geo_replication {
        hide_geo_replication(&args.host_dir)?;
    }
    nix::unistd::sethostname(&args.hostname).map_err(|e| {
        LabError::io(
            format!("set host name {:?} for", args.hostname),
            &args.host_dir,
            e.into(),
        )
    })?;

    let pid_file = args.host_dir.join("holder.pid");
    brickyard_sys::procs::write_pid(&pid_file, me).map_err(LabError::fs)?;

    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = std::fs::remove_file(&pid_file);
    Ok(())
}

/// What replaces `gsyncd` in the host: a script whose interpreter does not exist, so that
/// running it fails with ENOENT, as if the helper were not installed.
const NO_GSYNCD: &str = "#!/nonexistent/brickyard-lab-hides-geo-replication\n";

/// Makes gluster's geo-replication helper look uninstalled to everything in this host, as in
/// brickyard's image, which leaves it out.
///
/// At every start glusterd runs `gsyncd` 25 times, a fresh Python each, before it answers
/// (2-3 s here); when running it fails with ENOENT it logs "geo-replication module not
/// installed" and starts in about 50 ms (docs/benchmarks.md). A helper that exists but fails
/// otherwise makes glusterd refuse to start, hence ENOENT exactly: a bind mount over each
/// installed `gsyncd` of a script whose interpreter is missing. The mounts are made in the
/// host's private mount namespace; the machine's files are not touched.
fn hide_geo_replication(host_dir: &Path) -> Result<(), LabError> {
    let stand_in = host_dir.join("no-gsyncd");
    std::fs::write(&stand_in, NO_GSYNCD).map_err(|e| LabError::io("write", &stand_in, e))?;
    std::fs::set_permissions(
        &stand_in,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .map_err(|e| LabError::io("make executable", &stand_in, e))?;
    for target in installed_gsyncd() {
        bind(&stand_in, &target)?;
    }
    Ok(())
}

/// Every installed `gsyncd`: in Debian's multiarch directories (`/usr/lib/<triplet>/glusterfs`)
/// and in libexec, where RPM-based systems put it.
fn installed_gsyncd() -> Vec<PathBuf> {
    let mut found = vec![PathBuf::from("/usr/libexec/glusterfs/gsyncd")];
    if let Ok(entries) = std::fs::read_dir("/usr/lib") {
        found.extend(entries.flatten().map(|e| e.path().join("glusterfs/gsyncd")));
    }
    found.retain(|p| std::fs::symlink_metadata(p).is_ok_and(|m| m.is_file()));
    found.sort();
    found
}

/// Bind-mounts `source` on `target` (in this holder's private mount namespace).
fn bind(source: &Path, target: &Path) -> Result<(), LabError> {
    mount(
        Some(source),
        target,
        None::<&str>,
        MsFlags::MS_BIND,
        None::<&str>,
    )
    .map_err(|e| {
        LabError::io(
            format!("bind-mount {} on", source.display()),
            target,
            e.into(),
        )
    })
}

fn mkdir(path: &Path) -> Result<(), LabError> {
    std::fs::create_dir_all(path).map_err(|e| LabError::io("create directory", path, e))
}

/// Seeds a new host directory with the package's files from the machine, as a container
/// image would carry them: every file of /etc/glusterfs, and the `groups` and `hooks` of
/// /var/lib/glusterd (never the machine's own glusterd identity or peers). Only an empty
/// directory is seeded, so a host keeps its state across `lab stop`/`lab start`.
fn seed_from_machine(source: &Path, target: &str) -> Result<(), LabError> {
    let select = match target {
        "/etc/glusterfs" => Select::TopLevelFiles,
        "/var/lib/glusterd" => Select::Subtrees(&["groups", "hooks"]),
        _ => return Ok(()),
    };
    brickyard_sys::fs::seed_dir(Path::new(target), source, select)
        .map(drop)
        .map_err(LabError::fs)
}
