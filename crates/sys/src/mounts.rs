//! The mount table, from `/proc/self/mountinfo` (the reading process's own mount namespace:
//! inside a lab host or a container, that host's mounts).
//!
//! Paths in mountinfo escape space, tab, newline and backslash as `\040`, `\011`, `\012` and
//! `\134`; they are decoded here, once, so a mount point with a space is found like any other.

use std::path::{Path, PathBuf};

use crate::ParseError;

/// One mounted file system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// What is mounted: a device, `host:/volume`, `tmpfs`, ...
    pub source: String,
    /// Where.
    pub target: PathBuf,
    /// The file system type, e.g. `xfs` or `fuse.glusterfs`.
    pub fstype: String,
    /// The directory of the source file system that is mounted (`/` for a whole one; a
    /// bind mount of a subdirectory shows it).
    pub root: PathBuf,
    /// Per-mount options, e.g. `rw,noatime`.
    pub options: String,
    /// The file system's device number, `major:minor`: every bind mount of one file system
    /// shows the same.
    pub device: String,
}

/// Parses the text of a mountinfo file. A line that does not have mountinfo's shape is an
/// error naming it, never skipped.
pub fn parse_mountinfo(text: &str) -> Result<Vec<Mount>, ParseError> {
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let bad = || ParseError::new("mountinfo", format!("line {line:?} is not a mount"));
            let fields: Vec<&str> = line.split(' ').collect();
            let sep = fields.iter().position(|f| *f == "-").ok_or_else(bad)?;
            if sep < 6 || fields.len() < sep + 3 {
                return Err(bad());
            }
            Ok(Mount {
                device: fields[2].to_owned(),
                root: PathBuf::from(unescape(fields[3])),
                target: PathBuf::from(unescape(fields[4])),
                options: fields[5].to_owned(),
                fstype: fields[sep + 1].to_owned(),
                source: unescape(fields[sep + 2]),
            })
        })
        .collect()
}

/// Decodes mountinfo's octal escapes (`\040` is a space).
pub fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && bytes.len() >= i + 4
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = u32::from(bytes[i + 1] - b'0') * 64
                + u32::from(bytes[i + 2] - b'0') * 8
                + u32::from(bytes[i + 3] - b'0');
            if let Ok(b) = u8::try_from(v) {
                out.push(b);
                i += 4;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// This process's mounts.
pub fn read() -> Result<Vec<Mount>, ParseError> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| ParseError::new("/proc/self/mountinfo", e))?;
    parse_mountinfo(&text)
}

/// Whether `path` is a mount point in this process's mount namespace. An error when the
/// mount table cannot be read: "could not ask" is not "not mounted".
pub fn is_mount_point(path: &Path) -> Result<bool, ParseError> {
    Ok(read()?.iter().any(|m| m.target == path))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
35 22 0:31 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
612 22 7:0 / /gluster/brick1 rw,noatime - xfs /dev/loop0 rw,attr2,inode64
613 22 0:52 / /mnt/a\\040b rw,relatime shared:300 - fuse.glusterfs 10.250.1.2:/gv0 rw,user_id=0
614 22 254:0 /var/lib/x /etc/glusterfs rw,relatime shared:1 - ext4 /dev/vda rw
";

    #[test]
    fn reads_mountinfo_with_escapes_and_bind_roots() {
        let mounts = parse_mountinfo(SAMPLE).expect("parses");
        assert_eq!(mounts.len(), 5);
        assert_eq!(mounts[2].target, PathBuf::from("/gluster/brick1"));
        assert_eq!(mounts[2].source, "/dev/loop0");
        assert_eq!(mounts[2].fstype, "xfs");
        assert_eq!(mounts[3].target, PathBuf::from("/mnt/a b"));
        assert_eq!(mounts[3].source, "10.250.1.2:/gv0");
        assert_eq!(mounts[3].fstype, "fuse.glusterfs");
        assert_eq!(mounts[4].root, PathBuf::from("/var/lib/x"));
    }

    #[test]
    fn mounts_of_a_real_machine() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/mountinfo-loop.txt");
        let text = std::fs::read_to_string(&path).expect("fixture");
        let m = parse_mountinfo(&text).expect("parses");
        assert!(
            m.iter()
                .any(|m| m.target == Path::new("/") && m.source == "/dev/vda")
        );
        let brick = m
            .iter()
            .find(|m| m.source == "/dev/loop0")
            .expect("the mounted loop device");
        assert_eq!(brick.fstype, "xfs");
        assert_eq!(brick.target, Path::new("/tmp/fx m"));
    }

    #[test]
    fn a_line_that_is_not_a_mount_is_an_error() {
        for bad in ["garbage", "1 2 3 4 5 6 7", "1 2 3 / /x rw - xfs"] {
            assert!(parse_mountinfo(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn this_process_sees_its_root() {
        assert!(is_mount_point(Path::new("/")).expect("reads the table"));
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,400}") {
            let _ = parse_mountinfo(&text);
            let _ = unescape(&text);
        }
    }
}
