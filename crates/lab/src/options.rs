//! What `lab up` is asked for: the options, their defaults and the parsers of their values.

use std::path::PathBuf;

use ipnet::Ipv4Net;

use brickyard_model::Quantity;

use crate::LabError;
use crate::container::Runtime;
use crate::names::LabName;
use crate::state::StoreKind;

/// The default number of hosts.
pub const DEFAULT_HOSTS: usize = 3;
/// The default disk size per host: 1 GiB, sparse.
pub const DEFAULT_DISK_SIZE: u64 = 1 << 30;
/// The most disks a lab host gets.
pub const MAX_DISKS: usize = 8;
/// The smallest disk XFS accepts (300 MB), rounded up.
pub(crate) const MIN_DISK_SIZE: u64 = 300 << 20;
/// The largest disk a lab host gets: 1 PiB, far beyond any machine a lab runs on.
const MAX_DISK_SIZE: u128 = 1 << 50;

/// How to make a lab.
#[derive(Debug, Clone)]
pub struct LabOptions {
    /// The lab's name.
    pub name: LabName,
    /// How many hosts, 1 to 99.
    pub hosts: usize,
    /// Which store.
    pub store: StoreKind,
    /// How many etcd members (1, 3 or 5) with the etcd store.
    pub etcd_members: usize,
    /// Each host's disk size in bytes.
    pub disk_size: u64,
    /// Disks per host, 1 to [`MAX_DISKS`]: the first is its `BrickDevice`, the others its
    /// `ExtraBrickDevices`.
    pub disks: usize,
    /// The lab directory; `/var/lib/brickyard/lab/<name>` when `None`.
    pub dir: Option<PathBuf>,
    /// The subnet; a free `10.250.K.0/24` when `None`.
    pub subnet: Option<Ipv4Net>,
    /// What each host runs, supervised: steps run one after the other (like `&&`), started
    /// over when one fails or the last exits. In each argument `{store}` is replaced by the
    /// store URL, `{host}` by the host's `HostName` and `{ip}` by its address. `None`: hosts
    /// run nothing until told to.
    pub host_command: Option<Vec<Vec<String>>>,
    /// Where the host command runs: as processes in the host (the default) or in containers
    /// of an image, one per host.
    pub runtime: Runtime,
    /// The brickyard binary, run as each host's holder and supervisor.
    pub exe: PathBuf,
    /// Whether the hosts' glusterd finds gluster's geo-replication helper (`gsyncd`), as on
    /// a machine with the packages installed. `false` (the default) hides it in each host,
    /// as brickyard's image leaves it out: glusterd then starts in tens of milliseconds
    /// instead of seconds (docs/benchmarks.md). Only for hosts whose command runs as
    /// processes; an image has what it was built with.
    pub geo_replication: bool,
}

impl LabOptions {
    /// The defaults: 3 hosts, the file store, 1 GiB disks, this very binary.
    pub fn new(name: LabName) -> Self {
        Self {
            name,
            hosts: DEFAULT_HOSTS,
            store: StoreKind::File,
            etcd_members: 1,
            disk_size: DEFAULT_DISK_SIZE,
            disks: 1,
            dir: None,
            subnet: None,
            host_command: None,
            runtime: Runtime::Process,
            exe: current_exe(),
            geo_replication: false,
        }
    }
}

/// This program's path; when it was replaced on disk while running, the new file at the
/// same path.
fn current_exe() -> PathBuf {
    let exe = std::env::current_exe().unwrap_or_else(|_| PathBuf::from("brickyard"));
    match exe.to_str().and_then(|s| s.strip_suffix(" (deleted)")) {
        Some(s) => PathBuf::from(s),
        None => exe,
    }
}

/// Parses a `--disk-size` value, a quantity as everywhere else (`1Gi` is 2^30 bytes, `1G`
/// 10^9; see [`brickyard_model::quantity`]), of at least 300 MiB (the XFS minimum).
pub fn parse_size(value: &str) -> Result<u64, LabError> {
    let bad = |problem: &str| LabError::BadOption {
        option: "--disk-size",
        value: value.to_owned(),
        problem: problem.to_owned(),
        fix: format!(
            "{}, of at least 300Mi (the XFS minimum)",
            brickyard_model::QUANTITY_HINT
        ),
    };
    let bytes = Quantity::parse(value.trim())
        .map_err(|e| bad(e.problem))?
        .bytes();
    if bytes > MAX_DISK_SIZE {
        return Err(bad("is larger than a lab disk can sensibly be (1Pi)"));
    }
    let bytes = u64::try_from(bytes).map_err(|_| bad("is too large"))?;
    if bytes < MIN_DISK_SIZE {
        return Err(bad("is smaller than 300Mi, the smallest XFS file system"));
    }
    Ok(bytes)
}

/// Parses a `--subnet` value such as `10.250.9.0/24`.
pub fn parse_subnet(value: &str) -> Result<Ipv4Net, LabError> {
    value.trim().parse().map_err(|_| LabError::BadOption {
        option: "--subnet",
        value: value.to_owned(),
        problem: "is not an IPv4 network".into(),
        fix: "write it as ADDRESS/PREFIX, e.g. 10.250.9.0/24".into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_sizes() {
        assert_eq!(parse_size("1Gi").expect("1Gi"), 1 << 30);
        assert_eq!(parse_size("1G").expect("1G"), 1_000_000_000);
        assert_eq!(parse_size("512Mi").expect("512Mi"), 512 << 20);
        assert_eq!(parse_size("1.5Gi").expect("1.5Gi"), 3 << 29);
        assert_eq!(parse_size("314572800").expect("bytes"), 300 << 20);
        for bad in ["", "G", "-1G", "100M", "1X", "1e300", "1GiB", "2Pi"] {
            let err = parse_size(bad).expect_err(bad).to_string();
            assert!(err.contains("--disk-size"), "{err}");
        }
    }
}
