//! Writing files so that readers see the old content or the new, never a mix, and seeding
//! empty directories from a package's files.
//!
//! Every file brickyard replaces while others may read it goes through [`write_atomic`]: a
//! temporary file with a unique name in the same directory (two writers never share one, as
//! two container hosts sharing `/etc` would with a fixed name), written, synced, renamed over
//! the target, and the directory synced, so the change survives a crash.

use std::fs::{File, OpenOptions, Permissions};
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

/// A file operation that failed, with what was being done and to which path.
#[derive(Debug, thiserror::Error)]
#[error("{op} {}: {source}", .path.display())]
pub struct FsError {
    /// What was being done (`write`, `create directory`, ...).
    pub op: &'static str,
    /// The path concerned.
    pub path: PathBuf,
    /// The OS error.
    #[source]
    pub source: std::io::Error,
}

impl FsError {
    fn new(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        Self {
            op,
            path: path.to_owned(),
            source,
        }
    }

    /// The OS error's kind.
    pub fn kind(&self) -> std::io::ErrorKind {
        self.source.kind()
    }
}

/// Replaces `path` with `bytes`, with permissions `mode`, atomically and durably: a unique
/// temporary file beside it is written and synced, renamed over `path`, and the directory is
/// synced. The directory must exist.
///
/// When `path` is a mount point of its own (a container or lab host bind-mounts its own
/// `/etc/fstab` over the machine's), it cannot be replaced by a rename; it is then rewritten
/// in place and synced, which is the best a bind-mounted file allows.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<(), FsError> {
    let dir = parent(path);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .map_err(|e| FsError::new("create a temporary file in", dir, e))?;
    let tmp_path = tmp.path().to_owned();
    let file = tmp.as_file_mut();
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(|e| FsError::new("set the permissions of", &tmp_path, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| FsError::new("write", &tmp_path, e))?;
    match tmp.persist(path) {
        Ok(_) => sync_dir(dir),
        // The temporary file is removed when the error (which owns it) is dropped.
        Err(e) if e.error.kind() == std::io::ErrorKind::ResourceBusy => {
            let mut f = OpenOptions::new()
                .write(true)
                .truncate(true)
                .open(path)
                .map_err(|e| FsError::new("open", path, e))?;
            f.write_all(bytes)
                .and_then(|()| f.sync_all())
                .map_err(|e| FsError::new("rewrite", path, e))
        }
        Err(e) => Err(FsError::new("replace", path, e.error)),
    }
}

fn parent(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Syncs a directory, so that a rename or a new file in it survives a crash.
pub fn sync_dir(dir: &Path) -> Result<(), FsError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| FsError::new("sync", dir, e))
}

/// Makes `path` and its missing parents; `path` itself gets permissions `mode` (also when it
/// existed with others).
pub fn create_dir(path: &Path, mode: u32) -> Result<(), FsError> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(mode)
        .create(path)
        .map_err(|e| FsError::new("create directory", path, e))?;
    std::fs::set_permissions(path, Permissions::from_mode(mode))
        .map_err(|e| FsError::new("set the permissions of", path, e))
}

/// Whether a directory is empty (a missing one counts as empty).
pub fn is_empty_dir(path: &Path) -> Result<bool, FsError> {
    match std::fs::read_dir(path) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(FsError::new("read", path, e)),
    }
}

/// Which of a seed directory's entries [`seed_dir`] copies.
#[derive(Debug, Clone, Copy)]
pub enum Select<'a> {
    /// Everything, recursively (a container image's own copy of a package's files).
    All,
    /// Only regular files at the top level (a package's config directory, e.g.
    /// `/etc/glusterfs`, taken from a machine where it may hold more).
    TopLevelFiles,
    /// Only these top-level files, by name.
    Files(&'a [String]),
    /// Only these top-level subdirectories, recursively (e.g. `groups` and `hooks` of
    /// `/var/lib/glusterd`, never the machine's own identity or peers).
    Subtrees(&'a [&'a str]),
}

/// Fills the directory `to` from `from` when `to` is empty or missing; returns whether it
/// did. A missing `from` seeds nothing (and `to` is only made).
///
/// The copy is made in a staging directory beside `to` and renamed into place, so `to` is
/// either empty or complete, never half-seeded. When `to` is a mount point of its own (a host
/// directory mounted into a container), it cannot be replaced; the entries are then copied
/// into it directly.
pub fn seed_dir(from: &Path, to: &Path, select: Select<'_>) -> Result<bool, FsError> {
    if !is_empty_dir(to)? {
        return Ok(false);
    }
    create_dir_keep_mode(to)?;
    if !from.is_dir() {
        return Ok(false);
    }
    let dir = parent(to);
    let staging = tempfile::Builder::new()
        .prefix(".brickyard-seed.")
        .tempdir_in(dir)
        .map_err(|e| FsError::new("create a staging directory in", dir, e))?;
    copy_selected(from, staging.path(), select)?;
    std::fs::set_permissions(staging.path(), Permissions::from_mode(0o755))
        .map_err(|e| FsError::new("set the permissions of", staging.path(), e))?;
    // An empty directory is replaced; remove_dir refuses one that is not empty, so a
    // directory that filled up meanwhile is left alone.
    match std::fs::remove_dir(to) {
        Ok(()) => {
            let staged = staging.keep();
            std::fs::rename(&staged, to).map_err(|e| {
                let _ = std::fs::remove_dir_all(&staged);
                FsError::new("move the seeded directory to", to, e)
            })?;
            sync_dir(dir)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
            copy_selected(from, to, select)?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(false),
        Err(e) => Err(FsError::new("replace", to, e)),
    }
}

fn create_dir_keep_mode(path: &Path) -> Result<(), FsError> {
    std::fs::create_dir_all(path).map_err(|e| FsError::new("create directory", path, e))
}

fn copy_selected(from: &Path, to: &Path, select: Select<'_>) -> Result<(), FsError> {
    let entries = std::fs::read_dir(from).map_err(|e| FsError::new("read", from, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| FsError::new("read", from, e))?;
        let name = entry.file_name();
        let name_s = name.to_string_lossy();
        let kind = entry
            .file_type()
            .map_err(|e| FsError::new("read", &entry.path(), e))?;
        let wanted = match select {
            Select::All => true,
            Select::TopLevelFiles => kind.is_file(),
            Select::Files(names) => kind.is_file() && names.iter().any(|n| *n == name_s),
            Select::Subtrees(names) => kind.is_dir() && names.contains(&name_s.as_ref()),
        };
        if wanted {
            copy_entry(&entry.path(), &to.join(&name), kind)?;
        }
    }
    Ok(())
}

/// Copies a file, a symbolic link or a whole directory tree, keeping permissions.
pub fn copy_tree(from: &Path, to: &Path) -> Result<(), FsError> {
    let kind = std::fs::symlink_metadata(from)
        .map_err(|e| FsError::new("read", from, e))?
        .file_type();
    copy_entry(from, to, kind)
}

fn copy_entry(from: &Path, to: &Path, kind: std::fs::FileType) -> Result<(), FsError> {
    if kind.is_dir() {
        create_dir_keep_mode(to)?;
        for entry in std::fs::read_dir(from).map_err(|e| FsError::new("read", from, e))? {
            let entry = entry.map_err(|e| FsError::new("read", from, e))?;
            let kind = entry
                .file_type()
                .map_err(|e| FsError::new("read", &entry.path(), e))?;
            copy_entry(&entry.path(), &to.join(entry.file_name()), kind)?;
        }
        let mode = std::fs::metadata(from)
            .map_err(|e| FsError::new("read", from, e))?
            .permissions();
        std::fs::set_permissions(to, mode)
            .map_err(|e| FsError::new("set the permissions of", to, e))
    } else if kind.is_symlink() {
        let target = std::fs::read_link(from).map_err(|e| FsError::new("read", from, e))?;
        std::os::unix::fs::symlink(target, to).map_err(|e| FsError::new("link", to, e))
    } else if kind.is_file() {
        std::fs::copy(from, to)
            .map(drop)
            .map_err(|e| FsError::new("copy to", to, e))
    } else {
        // Sockets, fifos and devices are not part of a package's files.
        Ok(())
    }
}

/// Whether a file holding a secret (a token, a password) may be read by anyone but its
/// owner; the error says how to fix it.
pub fn check_private(path: &Path) -> Result<(), FsError> {
    let meta = std::fs::metadata(path).map_err(|e| FsError::new("read", path, e))?;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(FsError::new(
            "use",
            path,
            std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "it holds a secret but its mode {mode:04o} lets others read it; run `chmod 600 {}`",
                    path.display()
                ),
            ),
        ));
    }
    Ok(())
}

/// Whether `path` itself (a symlink is not followed) has the extended attribute `name`.
pub fn has_xattr(path: &Path, name: &str) -> Result<bool, FsError> {
    let (c_path, c_name) = c_strings(path, name)?;
    // SAFETY: both strings are NUL-terminated and outlive the call; a NULL buffer of size 0
    // only asks for the value's size (lgetxattr(2)), so nothing is written.
    #[allow(unsafe_code)]
    let size =
        unsafe { libc::lgetxattr(c_path.as_ptr(), c_name.as_ptr(), std::ptr::null_mut(), 0) };
    if size >= 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENODATA) {
        Ok(false)
    } else {
        Err(FsError::new("read the extended attributes of", path, e))
    }
}

/// Sets the extended attribute `name` of `path` itself (a symlink is not followed).
pub fn set_xattr(path: &Path, name: &str, value: &[u8]) -> Result<(), FsError> {
    let (c_path, c_name) = c_strings(path, name)?;
    // SAFETY: both strings are NUL-terminated and the value's pointer and length describe
    // one live slice; lsetxattr(2) only reads them.
    #[allow(unsafe_code)]
    let ret = unsafe {
        libc::lsetxattr(
            c_path.as_ptr(),
            c_name.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(FsError::new(
            "set an extended attribute of",
            path,
            std::io::Error::last_os_error(),
        ))
    }
}

fn c_strings(path: &Path, name: &str) -> Result<(std::ffi::CString, std::ffi::CString), FsError> {
    use std::os::unix::ffi::OsStrExt as _;
    let nul = |e: std::ffi::NulError| {
        FsError::new(
            "name",
            path,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, e),
        )
    };
    Ok((
        std::ffi::CString::new(path.as_os_str().as_bytes()).map_err(nul)?,
        std::ffi::CString::new(name).map_err(nul)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_sets_extended_attributes_of_the_path_itself() {
        let dir = tempfile::tempdir().expect("temp dir");
        let f = dir.path().join("f");
        std::fs::write(&f, b"").expect("write");
        assert!(!has_xattr(&f, "user.brickyard-test").expect("ask"));
        set_xattr(&f, "user.brickyard-test", b"1").expect("set");
        assert!(has_xattr(&f, "user.brickyard-test").expect("ask again"));
        // A symlink's own attributes, not its target's.
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(&f, &l).expect("symlink");
        assert!(!has_xattr(&l, "user.brickyard-test").expect("ask the link"));
        assert!(has_xattr(&dir.path().join("missing"), "user.x").is_err());
    }

    #[test]
    fn replaces_a_file_with_its_mode_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("f");
        write_atomic(&path, b"one", 0o644).expect("first write");
        write_atomic(&path, b"two", 0o600).expect("second write");
        assert_eq!(std::fs::read(&path).expect("read"), b"two");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("f")]);
    }

    #[test]
    fn concurrent_writers_never_share_a_temporary_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("fstab");
        std::thread::scope(|s| {
            for i in 0..8 {
                let path = &path;
                s.spawn(move || {
                    for j in 0..50 {
                        write_atomic(path, format!("{i} {j}\n").as_bytes(), 0o644)
                            .expect("every write succeeds");
                    }
                });
            }
        });
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.ends_with(" 49\n"), "{text:?}");
    }

    #[test]
    fn seeds_only_an_empty_directory_with_what_is_selected() {
        let seed = tempfile::tempdir().expect("temp dir");
        std::fs::write(seed.path().join("glusterd.vol"), "x").expect("write");
        std::fs::create_dir(seed.path().join("groups")).expect("mkdir");
        std::fs::write(seed.path().join("groups/virt"), "y").expect("write");
        std::fs::create_dir(seed.path().join("peers")).expect("mkdir");
        let work = tempfile::tempdir().expect("temp dir");

        let files = work.path().join("files");
        assert!(seed_dir(seed.path(), &files, Select::TopLevelFiles).expect("seed"));
        assert!(files.join("glusterd.vol").is_file());
        assert!(!files.join("groups").exists());

        let trees = work.path().join("trees");
        assert!(seed_dir(seed.path(), &trees, Select::Subtrees(&["groups"])).expect("seed"));
        assert!(trees.join("groups/virt").is_file());
        assert!(!trees.join("peers").exists() && !trees.join("glusterd.vol").exists());

        std::fs::write(files.join("mine"), "z").expect("write");
        let all = seed_dir(seed.path(), &files, Select::All).expect("second seed");
        assert!(!all, "a directory with content is never seeded again");
        assert!(!files.join("groups").exists());

        let none = work.path().join("none");
        assert!(!seed_dir(&work.path().join("missing"), &none, Select::All).expect("seed"));
        assert!(none.is_dir(), "the target is made even without a seed");
        let leftovers: Vec<_> = std::fs::read_dir(work.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn a_secret_readable_by_others_is_refused_with_the_fix() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("token");
        write_atomic(&path, b"s", 0o644).expect("write");
        let err = check_private(&path)
            .expect_err("0644 is refused")
            .to_string();
        assert!(err.contains("0644") && err.contains("chmod 600"), "{err}");
        write_atomic(&path, b"s", 0o600).expect("write");
        check_private(&path).expect("0600 is fine");
    }
}
