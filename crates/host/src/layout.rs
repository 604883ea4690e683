//! The names and shapes brickyard gives a prepared host: directories, LVM names, the XFS
//! label that marks a brick filesystem as ours, mount options and fstab lines.

use std::path::{Path, PathBuf};

/// Directories every gluster host needs, as seen from the host's root.
pub const CONFIG_DIR: &str = "/etc/glusterfs";
/// glusterd's working directory (peers, volumes).
pub const STATE_DIR: &str = "/var/lib/glusterd";
/// gluster's log directory.
pub const LOG_DIR: &str = "/var/log/glusterfs";
/// Where the distribution's glusterfs-server package puts its default config files; they
/// seed an empty [`CONFIG_DIR`] under `--root`.
pub const PACKAGE_DEFAULTS_DIR: &str = "/etc/glusterfs";
/// The host's fstab, as seen from its root.
pub const FSTAB: &str = "/etc/fstab";

/// The seed's volume group for brick 1.
pub const SEED_VG: &str = "gluster";
/// The seed's thin pool inside each brick volume group.
pub const THIN_POOL: &str = "brickpool";
/// Every XFS label brickyard writes starts with this; XFS labels hold 12 bytes at most,
/// which leaves room for brick numbers up to 999.
pub const LABEL_PREFIX: &str = "brickyard";
/// gluster's recommended XFS inode size: room for its extended attributes in the inode.
pub const XFS_INODE_SIZE: &str = "size=512";
/// Options the brick is mounted with.
pub const MOUNT_OPTIONS: &str = "inode64,noatime";
/// Options written to fstab: `nofail` so that a dead brick disk does not stop the host
/// from booting; gluster reports the brick as offline instead.
pub const FSTAB_OPTIONS: &str = "inode64,noatime,nofail";

/// The volume group of brick `index` (0-based): the seed's `gluster` for brick 1, then
/// `gluster2`, `gluster3`, ... so that each disk is its own failure domain.
pub fn volume_group(index: usize) -> String {
    if index == 0 {
        SEED_VG.to_owned()
    } else {
        format!("{SEED_VG}{}", index + 1)
    }
}

/// The thin logical volume of brick `index`: `brick1`, `brick2`, ... as in the seed.
pub fn logical_volume(index: usize) -> String {
    format!("brick{}", index + 1)
}

/// The XFS label of brick `index`: `brickyard1`, `brickyard2`, ...
pub fn xfs_label(index: usize) -> String {
    format!("{LABEL_PREFIX}{}", index + 1)
}

/// Whether an XFS label is one brickyard writes.
pub fn is_our_label(label: &str) -> bool {
    label
        .strip_prefix(LABEL_PREFIX)
        .is_some_and(|n| !n.is_empty() && n.len() <= 3 && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The device path of a logical volume, as LVM creates it.
pub fn lv_path(vg: &str, lv: &str) -> String {
    format!("/dev/{vg}/{lv}")
}

/// The device-mapper path of a logical volume: what `findmnt` shows as a mount's source.
pub fn lv_mapper_path(vg: &str, lv: &str) -> String {
    format!(
        "/dev/mapper/{}-{}",
        vg.replace('-', "--"),
        lv.replace('-', "--")
    )
}

/// `path` (absolute, as seen from the host's root) resolved under `root`.
pub fn under(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(volume_group(0), "gluster");
        assert_eq!(volume_group(1), "gluster2");
        assert_eq!(logical_volume(0), "brick1");
        assert_eq!(xfs_label(0), "brickyard1");
        assert!(xfs_label(998).len() <= 12);
        assert!(is_our_label("brickyard1"));
        assert!(is_our_label("brickyard12"));
        assert!(!is_our_label("brickyard"));
        assert!(!is_our_label("brickyardx"));
        assert!(!is_our_label("data"));
        assert_eq!(lv_mapper_path("my-vg", "lv"), "/dev/mapper/my--vg-lv");
        assert_eq!(
            under(Path::new("/tmp/r"), "/etc/fstab"),
            PathBuf::from("/tmp/r/etc/fstab")
        );
        assert_eq!(
            under(Path::new("/"), "/etc/fstab"),
            PathBuf::from("/etc/fstab")
        );
    }
}
