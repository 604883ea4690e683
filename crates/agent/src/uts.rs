//! Whether this process has a UTS namespace of its own, so that setting the host name
//! changes only our container or lab host, never the real machine.

use std::os::unix::fs::MetadataExt as _;

/// The inode number the kernel gives the initial UTS namespace (`PROC_UTS_INIT_INO`); it is
/// fixed, so comparing against it tells the machine's own namespace from any other.
const INITIAL_UTS_INODE: u64 = 0xEFFF_FFFE;

/// `Some(true)` when we run in a UTS namespace other than the machine's (a container, a lab
/// host), `Some(false)` in the machine's own, `None` when it cannot be told.
pub fn in_own_uts_namespace() -> Option<bool> {
    let meta = std::fs::metadata("/proc/self/ns/uts").ok()?;
    Some(meta.ino() != INITIAL_UTS_INODE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_test_runs_in_the_machines_namespace() {
        // Test runs happen on the machine itself (CI, a developer's VM), never in a lab
        // host, so this must say "not our own" and the agent would leave the name alone.
        assert_eq!(in_own_uts_namespace(), Some(false));
    }
}
