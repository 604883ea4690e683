//! Reading and editing fstab text without losing anyone else's lines.

/// One fstab entry: the fields brickyard looks at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// What to mount: `UUID=...`, `LABEL=...` or a device path.
    pub spec: String,
    /// Where.
    pub file: String,
    /// The filesystem type.
    pub vfstype: String,
}

/// The entry on one line, `None` for blank lines and comments.
pub fn entry(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    Some(Entry {
        spec: fields.next()?.to_owned(),
        file: fields.next()?.to_owned(),
        vfstype: fields.next().unwrap_or_default().to_owned(),
    })
}

/// Every entry in an fstab.
pub fn entries(text: &str) -> Vec<Entry> {
    text.lines().filter_map(entry).collect()
}

/// The line brickyard writes for a brick.
pub fn brick_line(uuid: &str, mount_point: &str) -> String {
    format!(
        "UUID={uuid} {mount_point} xfs {} 0 0",
        crate::layout::FSTAB_OPTIONS
    )
}

/// `text` with `lines` added. Lines already there that mount something else on one of the
/// new lines' mount points are dropped (they would fight over the mount point); every other
/// line, comments included, is kept as it was.
pub fn with_lines(text: &str, lines: &[String]) -> String {
    let new_points: Vec<String> = lines
        .iter()
        .filter_map(|l| entry(l).map(|e| e.file))
        .collect();
    let mut out = String::new();
    for line in text.lines() {
        if entry(line).is_some_and(|e| new_points.contains(&e.file)) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_other_lines_and_replaces_stale_ones() {
        let before = "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n\
                      /dev/vda / ext4 defaults 0 1\n\
                      UUID=old /gluster/brick1 xfs defaults 0 0\n\
                      \n\
                      tmpfs /tmp tmpfs defaults 0 0";
        let after = with_lines(before, &[brick_line("new", "/gluster/brick1")]);
        assert_eq!(
            after,
            "# UNCONFIGURED FSTAB FOR BASE SYSTEM\n\
             /dev/vda / ext4 defaults 0 1\n\
             \n\
             tmpfs /tmp tmpfs defaults 0 0\n\
             UUID=new /gluster/brick1 xfs inode64,noatime,nofail 0 0\n"
        );
        assert_eq!(entries(&after).len(), 3);
    }

    #[test]
    fn parses_entries() {
        assert_eq!(entry("  # comment"), None);
        assert_eq!(entry(""), None);
        assert_eq!(
            entry("UUID=x\t/gluster/brick1  xfs defaults"),
            Some(Entry {
                spec: "UUID=x".into(),
                file: "/gluster/brick1".into(),
                vfstype: "xfs".into()
            })
        );
    }
}
