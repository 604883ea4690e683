//! Entries a brick holds without a gfid, and the directory heals they block.
//!
//! gluster creates an entry on a brick in two steps: the file (or directory), then its gfid,
//! an extended attribute. A brick process killed between the two leaves an entry without a
//! gfid, which gluster cannot look up. When the other copies say the entry should not exist
//! (the client deleted or renamed it meanwhile), the self-heal daemon tries to remove it
//! again and again, and its directory stays in the heal index: measured in the fault suite,
//! a host stopped in the middle of a create left `heal info` at one entry for good, the
//! brick logging "buf->ia_gfid is null for PATH" at each try (gluster's bug 1748205, closed
//! as "wontfix").
//!
//! The agent reads its bricks' new log lines for that message and removes the entry named,
//! once it has gone [`SETTLE`] without a gfid and holds nothing: an empty file, a symlink or
//! an empty directory. gluster writes to a file only through its gfid, so such an entry never
//! held anything a client was told was written. Anything else (a file with data, put there
//! by something other than gluster) is reported once and left alone.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::io::{Read as _, Seek as _};
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use brickyard_model::HostConfig;
use tracing::{info, warn};

/// What a brick logs when a look-up finds an entry without a gfid.
const MARK: &str = "buf->ia_gfid is null for ";
/// How long an entry must have gone unchanged without a gfid: gluster sets the gfid
/// microseconds after it creates the entry, within the same request.
const SETTLE: Duration = Duration::from_secs(10);
/// How much of a brick log is read the first time: its end, where a stuck heal keeps
/// logging.
const FIRST_LOOK: u64 = 1 << 20;
/// At most this much of a brick log is read at each look.
const MOST_PER_LOOK: u64 = 4 << 20;
/// At most this many entries are kept to be looked at again, and as many left alone are
/// remembered.
const MOST_PENDING: usize = 1000;
/// How often the brick logs are looked at: a stuck heal logs again at each of its passes,
/// and an agent on a host with a thousand bricks (a log each) keeps its idle cost low.
const LOOK_EVERY: Duration = Duration::from_secs(10);
/// How long one look may take (a brick filesystem that hangs must not hang the agent).
const LOOK_LIMIT: Duration = Duration::from_secs(10);
/// The extended attribute that holds an entry's gfid.
const GFID_XATTR: &str = "trusted.gfid";

/// What the agent remembers between looks.
#[derive(Debug, Default)]
pub(crate) struct Gfidless {
    /// When the logs were last looked at.
    looked: Option<Instant>,
    /// How far each brick log has been read.
    read: BTreeMap<PathBuf, u64>,
    /// Entries named by the logs that were too recent to judge.
    pending: BTreeSet<String>,
    /// Entries left alone, reported once.
    reported: BTreeSet<String>,
}

/// The paths that the brick log lines in `text` name as having no gfid.
pub(crate) fn named(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| {
            let rest = &l[l.find(MARK)? + MARK.len()..];
            // The message ends with the error in brackets: "PATH [No data available]".
            let path = rest.rfind(" [").map_or(rest, |i| &rest[..i]).trim_end();
            (!path.is_empty()).then(|| path.to_owned())
        })
        .collect()
}

/// An entry named by a brick log: its brick's directory, its parent directory as logged
/// (through gluster's handle links, as the brick logs it) and its name.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    brick: PathBuf,
    parent: PathBuf,
    name: OsString,
}

/// Where the entry `logged` is, or `None` unless the path is absolute and plain (no `.` or
/// `..`), lies under one of `mounts` (this host's brick mounts) below a brick directory
/// there, and names something inside that brick.
pub(crate) fn locate(logged: &str, mounts: &[String]) -> Option<Entry> {
    let path = Path::new(logged);
    if !path.is_absolute()
        || path
            .components()
            .any(|c| matches!(c, Component::CurDir | Component::ParentDir))
    {
        return None;
    }
    let mount = mounts.iter().map(Path::new).find(|m| path.starts_with(m))?;
    // The brick is what comes before gluster's own directory when the path goes through a
    // handle link, and otherwise the mount's first level (`/gluster/brick1/VOLUME`).
    let brick = match logged.find("/.glusterfs/") {
        Some(i) => PathBuf::from(&logged[..i]),
        None => mount.join(path.strip_prefix(mount).ok()?.components().next()?),
    };
    if !brick.starts_with(mount) || brick == mount {
        return None;
    }
    let parent = path.parent()?.to_owned();
    if !parent.starts_with(&brick) {
        return None;
    }
    Some(Entry {
        brick,
        parent,
        name: path.file_name()?.to_owned(),
    })
}

/// What was found at an entry named by a brick log.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found {
    /// Removed: what it was, and where.
    Removed(&'static str, PathBuf),
    /// Nothing to do: it has a gfid now, or is gone.
    Fine,
    /// Changed less than [`SETTLE`] ago: looked at again later.
    Recent,
    /// Not a client's entry (gluster's own `.glusterfs`, or outside the brick): not ours to
    /// judge, and not reported.
    Ignored,
    /// Left alone, and why.
    Kept(String),
}

/// Looks at `entry` on this host's filesystem and removes it if it has no gfid, has not
/// changed for [`SETTLE`] before `now`, and holds nothing.
pub(crate) fn examine(entry: &Entry, now: SystemTime) -> Found {
    use std::os::fd::AsRawFd as _;
    use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
    let (Ok(brick), Ok(parent)) = (
        std::fs::canonicalize(&entry.brick),
        std::fs::canonicalize(&entry.parent),
    ) else {
        // The brick or the directory is gone.
        return Found::Fine;
    };
    if !parent.starts_with(&brick)
        || parent.starts_with(brick.join(".glusterfs"))
        || (parent == brick && entry.name == ".glusterfs")
    {
        return Found::Ignored;
    }
    let path = parent.join(&entry.name);
    // Everything below goes through the directory opened here, checked to be the one
    // looked at: a directory renamed and replaced by a symlink meanwhile cannot lead it
    // elsewhere.
    let dir = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(dir_flags())
        .open(&parent)
    {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Fine,
        Err(e) => return Found::Kept(format!("its directory cannot be opened: {e}")),
    };
    let through = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
    if std::fs::read_link(&through).ok().as_deref() != Some(parent.as_path()) {
        // It changed while it was looked at: looked at again later.
        return Found::Recent;
    }
    let at = through.join(&entry.name);
    let meta = match std::fs::symlink_metadata(&at) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Found::Fine,
        Err(e) => return Found::Kept(format!("it cannot be looked at: {e}")),
    };
    match brickyard_sys::fs::has_xattr(&at, GFID_XATTR) {
        Ok(true) => return Found::Fine,
        Ok(false) => {}
        Err(e) => return Found::Kept(e.to_string()),
    }
    let changed = SystemTime::UNIX_EPOCH
        + Duration::new(
            u64::try_from(meta.ctime()).unwrap_or(0),
            u32::try_from(meta.ctime_nsec()).unwrap_or(0),
        );
    if now.duration_since(changed).unwrap_or_default() < SETTLE {
        return Found::Recent;
    }
    let removed = if meta.is_dir() {
        std::fs::remove_dir(&at).map(|()| "an empty directory")
    } else if meta.is_file() && meta.len() > 0 {
        return Found::Kept(format!(
            "it holds {} bytes that gluster did not write there",
            meta.len()
        ));
    } else if meta.is_file() {
        std::fs::remove_file(&at).map(|()| "an empty file")
    } else {
        std::fs::remove_file(&at).map(|()| "a symlink or special file")
    };
    match removed {
        Ok(what) => Found::Removed(what, path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Found::Fine,
        Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => {
            Found::Kept("it is a directory with entries".into())
        }
        Err(e) => Found::Kept(format!("it cannot be removed: {e}")),
    }
}

/// Opens a directory itself, never a symlink in its place.
fn dir_flags() -> i32 {
    nix::fcntl::OFlag::O_DIRECTORY.bits() | nix::fcntl::OFlag::O_NOFOLLOW.bits()
}

/// Reads what the brick logs in `dir` gained since `read` (the end of each, the first
/// time), and returns the entries they name as having no gfid.
fn read_logs(dir: &Path, read: &mut BTreeMap<PathBuf, u64>) -> Vec<String> {
    let Ok(list) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let mut seen = BTreeSet::new();
    for e in list.flatten() {
        let path = e.path();
        if path.extension().is_none_or(|x| x != "log") {
            continue;
        }
        let Ok(len) = e.metadata().map(|m| m.len()) else {
            continue;
        };
        let from = match read.get(&path) {
            Some(&at) if at <= len => at,
            // Shorter than what was read: a new file under the old name.
            Some(_) => 0,
            None => len.saturating_sub(FIRST_LOOK),
        };
        seen.insert(path.clone());
        if from == len {
            read.insert(path, from);
            continue;
        }
        let Ok(mut file) = std::fs::File::open(&path) else {
            continue;
        };
        let mut chunk = Vec::new();
        if file.seek(std::io::SeekFrom::Start(from)).is_err()
            || file
                .take(MOST_PER_LOOK.min(len - from))
                .read_to_end(&mut chunk)
                .is_err()
        {
            continue;
        }
        // A line still being written is read again, whole, at the next look; one longer
        // than a whole look is no line gluster writes, and is skipped.
        let whole = match chunk.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None if chunk.len() as u64 >= MOST_PER_LOOK => chunk.len(),
            None => 0,
        };
        found.extend(named(&String::from_utf8_lossy(&chunk[..whole])));
        read.insert(path, from + whole as u64);
    }
    read.retain(|p, _| seen.contains(p));
    found
}

/// One look: reads the bricks' new log lines under `logs` (`/var/log/glusterfs`) and deals
/// with the entries they name on this host's bricks.
pub(crate) async fn follow(logs: &Path, config: &HostConfig, state: &mut Gfidless) {
    if state.looked.is_some_and(|t| t.elapsed() < LOOK_EVERY) {
        return;
    }
    let mounts: Vec<String> = config.bricks().into_iter().map(|(_, m)| m).collect();
    let dir = logs.join("bricks");
    let mut mine = std::mem::take(state);
    state.looked = Some(Instant::now());
    let look = tokio::task::spawn_blocking(move || {
        let mut names: BTreeSet<String> = std::mem::take(&mut mine.pending);
        names.extend(read_logs(&dir, &mut mine.read));
        let mut found = Vec::new();
        for name in names {
            if mine.reported.contains(&name) {
                continue;
            }
            let Some(entry) = locate(&name, &mounts) else {
                continue;
            };
            let f = examine(&entry, SystemTime::now());
            match &f {
                Found::Recent if mine.pending.len() < MOST_PENDING => {
                    mine.pending.insert(name.clone());
                }
                // Beyond the bound, an entry left alone is reported again when logged again.
                Found::Kept(_) | Found::Ignored if mine.reported.len() < MOST_PENDING => {
                    mine.reported.insert(name.clone());
                }
                _ => {}
            }
            found.push((name, entry, f));
        }
        (mine, found)
    });
    let Ok(Ok((mine, found))) = tokio::time::timeout(LOOK_LIMIT, look).await else {
        warn!(
            "could not look for brick entries without a gfid within {}s; the next look starts again at the end of the brick logs",
            LOOK_LIMIT.as_secs()
        );
        return;
    };
    *state = Gfidless {
        looked: state.looked,
        ..mine
    };
    for (name, entry, f) in found {
        match f {
            Found::Removed(what, path) => info!(
                "removed {}: {what} without a gfid on brick {}, left by a brick process stopped while creating it; it kept its directory from healing",
                path.display(),
                entry.brick.display()
            ),
            Found::Kept(why) => warn!(
                "brick {} holds {name} without a gfid, which keeps its directory from healing; left alone: {why}",
                entry.brick.display()
            ),
            Found::Fine | Found::Recent | Found::Ignored => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROOT: &str = "00000000-0000-0000-0000-000000000001";

    #[test]
    fn reads_the_paths_a_brick_logs_without_a_gfid() {
        let log = format!(
            "[2026-12-04 22:01:08.281104 +0000] E [MSGID: 113002] [posix-entry-ops.c:365:posix_lookup] 0-r3-posix: buf->ia_gfid is null for /gluster/brick1/r3/.glusterfs/00/00/{ROOT}/host-stop/f5ef0-610 [No data available]\n\
             [2026-12-04 22:01:08.281120 +0000] W [MSGID: 115005] [server-resolve.c:77:resolve_name_cbk] 0-r3-server: e8cd0a30/f5ef0-610: failed to resolve (No data available) [No data available]\n\
             ... buf->ia_gfid is null for /gluster/brick1/r3/a b [No data available]\n\
             ... buf->ia_gfid is null for  [No data available]\n"
        );
        assert_eq!(
            named(&log),
            vec![
                format!("/gluster/brick1/r3/.glusterfs/00/00/{ROOT}/host-stop/f5ef0-610"),
                "/gluster/brick1/r3/a b".to_owned(),
            ]
        );
    }

    #[test]
    fn only_entries_inside_a_brick_of_this_host_are_located() {
        let mounts = vec!["/gluster/brick1".to_owned(), "/gluster/brick2".to_owned()];
        let through_handle = format!("/gluster/brick1/r3/.glusterfs/00/00/{ROOT}/d/f");
        assert_eq!(
            locate(&through_handle, &mounts),
            Some(Entry {
                brick: "/gluster/brick1/r3".into(),
                parent: format!("/gluster/brick1/r3/.glusterfs/00/00/{ROOT}/d").into(),
                name: "f".into(),
            })
        );
        assert_eq!(
            locate("/gluster/brick2/v/d/f", &mounts),
            Some(Entry {
                brick: "/gluster/brick2/v".into(),
                parent: "/gluster/brick2/v/d".into(),
                name: "f".into(),
            })
        );
        for bad in [
            "relative/path",
            "/gluster/brick1/r3/../../etc/passwd",
            "/gluster/brick3/v/d/f",
            "/etc/passwd",
            "/gluster/brick1",
            "/gluster/brick1/r3",
            "/gluster/brick10/v/f",
        ] {
            assert_eq!(locate(bad, &mounts), None, "{bad}");
        }
    }

    /// A brick directory with gluster's handle link for its root, as gluster lays it out.
    fn brick() -> (tempfile::TempDir, PathBuf, Vec<String>) {
        let mount = tempfile::tempdir().expect("temp dir");
        let brick = mount.path().join("r3");
        std::fs::create_dir_all(brick.join(".glusterfs/00/00")).expect("mkdir");
        std::os::unix::fs::symlink("../../..", brick.join(".glusterfs/00/00").join(ROOT))
            .expect("handle link");
        std::fs::create_dir_all(brick.join("d")).expect("mkdir d");
        let mounts = vec![mount.path().display().to_string()];
        (mount, brick, mounts)
    }

    fn logged(brick: &Path, rel: &str) -> String {
        format!("{}/.glusterfs/00/00/{ROOT}/{rel}", brick.display())
    }

    #[test]
    fn an_empty_entry_without_a_gfid_is_removed_once_it_has_settled() {
        let (_mount, brick, mounts) = brick();
        let later = SystemTime::now() + 2 * SETTLE;
        let file = brick.join("d/f");
        std::fs::write(&file, b"").expect("write");
        let entry = locate(&logged(&brick, "d/f"), &mounts).expect("located");
        assert_eq!(examine(&entry, SystemTime::now()), Found::Recent);
        assert!(file.exists());
        assert_eq!(
            examine(&entry, later),
            Found::Removed(
                "an empty file",
                brick.canonicalize().expect("brick").join("d/f")
            )
        );
        assert!(!file.exists());
        assert_eq!(examine(&entry, later), Found::Fine, "gone");

        std::fs::create_dir(brick.join("d/sub")).expect("mkdir");
        let entry = locate(&logged(&brick, "d/sub"), &mounts).expect("located");
        assert!(matches!(
            examine(&entry, later),
            Found::Removed("an empty directory", _)
        ));
    }

    #[test]
    fn what_has_a_gfid_data_or_entries_is_left_alone() {
        let (_mount, brick, mounts) = brick();
        let later = SystemTime::now() + 2 * SETTLE;
        let healed = brick.join("d/healed");
        std::fs::write(&healed, b"").expect("write");
        brickyard_sys::fs::set_xattr(&healed, GFID_XATTR, &[7; 16]).expect("gfid");
        let entry = locate(&logged(&brick, "d/healed"), &mounts).expect("located");
        assert_eq!(examine(&entry, later), Found::Fine);
        assert!(healed.exists());

        std::fs::write(brick.join("d/data"), b"not gluster's").expect("write");
        let entry = locate(&logged(&brick, "d/data"), &mounts).expect("located");
        assert!(matches!(examine(&entry, later), Found::Kept(_)));
        assert!(brick.join("d/data").exists());

        std::fs::create_dir_all(brick.join("d/full/x")).expect("mkdir");
        let entry = locate(&logged(&brick, "d/full"), &mounts).expect("located");
        assert!(matches!(examine(&entry, later), Found::Kept(_)));

        // gluster's own directory, reached through the brick's root, is never touched.
        let entry = locate(&logged(&brick, ".glusterfs"), &mounts).expect("located");
        assert_eq!(examine(&entry, later), Found::Ignored);
        let entry =
            locate(&format!("{}/.glusterfs/00", brick.display()), &mounts).expect("located");
        assert_eq!(examine(&entry, later), Found::Ignored);
        assert!(brick.join(".glusterfs/00/00").exists());
    }

    #[test]
    fn brick_logs_are_read_from_where_the_last_look_stopped() {
        let dir = tempfile::tempdir().expect("temp dir");
        let log = dir.path().join("gluster-brick1-r3.log");
        std::fs::write(&log, "old: buf->ia_gfid is null for /a [x]\n").expect("write");
        let mut read = BTreeMap::new();
        assert_eq!(read_logs(dir.path(), &mut read), vec!["/a".to_owned()]);
        assert!(read_logs(dir.path(), &mut read).is_empty(), "read already");
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&log)
            .expect("open");
        std::io::Write::write_all(
            &mut f,
            b"buf->ia_gfid is null for /b [x]\nbuf->ia_gfid is null for /c",
        )
        .expect("append");
        assert_eq!(read_logs(dir.path(), &mut read), vec!["/b".to_owned()]);
        std::io::Write::write_all(&mut f, b" [x]\n").expect("finish the line");
        assert_eq!(read_logs(dir.path(), &mut read), vec!["/c".to_owned()]);
        // A new, shorter file under the same name is read from its start.
        std::fs::write(&log, "buf->ia_gfid is null for /d [x]\n").expect("rewrite");
        assert_eq!(read_logs(dir.path(), &mut read), vec!["/d".to_owned()]);
    }
}
