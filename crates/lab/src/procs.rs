//! Finding and stopping processes by the namespaces they are in, through /proc.
//!
//! A lab host's processes are exactly those in its holder's mount namespace, or in its
//! network namespace (a command started with `ip netns exec` has a mount namespace of its
//! own). Matching on namespaces rather than on names never touches anyone else's process.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// A namespace's identity: the device and inode of its nsfs file.
pub type NsId = (u64, u64);

/// The identity of the namespace a namespace file (`/proc/PID/ns/mnt`, `/run/netns/NAME`)
/// refers to.
pub fn ns_id(path: &Path) -> Option<NsId> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The identity of process `pid`'s namespace of `kind` (`mnt`, `net`, `uts`).
pub fn pid_ns(pid: i32, kind: &str) -> Option<NsId> {
    ns_id(
        &Path::new("/proc")
            .join(pid.to_string())
            .join("ns")
            .join(kind),
    )
}

/// Whether `pid` is running (present and not a zombie).
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which is in parentheses and may contain any
        // character, so look after the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
        Err(_) => false,
    }
}

/// Every pid on the machine except our own.
fn all_pids() -> Vec<i32> {
    let me = std::process::id() as i32;
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                .filter(|&p| p != me)
                .collect()
        })
        .unwrap_or_default()
}

/// Live processes in any of these namespaces (`(kind, id)` pairs).
pub fn pids_in(namespaces: &[(&str, NsId)]) -> Vec<i32> {
    if namespaces.is_empty() {
        return Vec::new();
    }
    all_pids()
        .into_iter()
        .filter(|&pid| {
            namespaces
                .iter()
                .any(|(kind, id)| pid_ns(pid, kind) == Some(*id))
                && alive(pid)
        })
        .collect()
}

/// Live processes whose command line contains `needle` as one whole argument.
pub fn pids_with_arg(needle: &str) -> Vec<i32> {
    all_pids()
        .into_iter()
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| c.split(|&b| b == 0).any(|a| a == needle.as_bytes()))
                && alive(*pid)
        })
        .collect()
}

/// Sends SIGTERM, waits up to `grace`, then SIGKILL and waits until all are gone (bounded).
/// Returns the pids still alive at the end.
pub fn terminate(pids: &[i32], grace: Duration) -> Vec<i32> {
    signal_all(pids, Signal::SIGTERM);
    if wait_gone(pids, grace) {
        return Vec::new();
    }
    signal_all(pids, Signal::SIGKILL);
    wait_gone(pids, Duration::from_secs(10));
    pids.iter().copied().filter(|&p| alive(p)).collect()
}

/// Sends SIGKILL and waits until all are gone (bounded). Returns the pids still alive.
pub fn kill_now(pids: &[i32]) -> Vec<i32> {
    signal_all(pids, Signal::SIGKILL);
    wait_gone(pids, Duration::from_secs(10));
    pids.iter().copied().filter(|&p| alive(p)).collect()
}

fn signal_all(pids: &[i32], sig: Signal) {
    for &pid in pids {
        // A process that exited in between is what we want anyway.
        let _ = kill(Pid::from_raw(pid), sig);
    }
}

fn wait_gone(pids: &[i32], limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if !pids.iter().any(|&p| alive(p)) {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Reads a pid file; `None` when absent or not a pid.
pub fn read_pid(path: &Path) -> Option<i32> {
    std::fs::read_to_string(path)
        .ok()?
        .trim()
        .parse()
        .ok()
        .filter(|&p: &i32| p > 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_itself_and_its_namespaces() {
        let me = std::process::id() as i32;
        assert!(alive(me));
        assert!(pid_ns(me, "mnt").is_some());
        assert!(!alive(i32::MAX));
    }

    #[test]
    fn reads_pid_files() {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = dir.path().join("p");
        std::fs::write(&f, "1234\n").expect("write");
        assert_eq!(read_pid(&f), Some(1234));
        std::fs::write(&f, "1\n").expect("write");
        assert_eq!(read_pid(&f), None, "never pid 1");
        std::fs::write(&f, "x").expect("write");
        assert_eq!(read_pid(&f), None);
        assert_eq!(read_pid(&dir.path().join("none")), None);
    }
}
