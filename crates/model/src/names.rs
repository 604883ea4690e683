//! Names that reach paths, store keys and command lines, and the rules they must follow.
//!
//! Every rule here is stricter than what the path or command would accept, so that a name
//! that passes can never escape a directory, start an option, or carry shell syntax.

use std::fmt;

use thiserror::Error;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{what} {value:?} {problem}; {fix}")]
pub struct NameError {
    /// What kind of name it was (`host name`, `zone`, ...).
    pub what: &'static str,
    /// The refused value.
    pub value: String,
    /// What is wrong with it.
    pub problem: String,
    /// What to do instead.
    pub fix: &'static str,
}

const HOSTNAME_FIX: &str =
    "use letters, digits and '-' in dot-separated labels of 1-63 characters, e.g. \"atomic-1\"";

/// Checks an RFC 1123 host name: dot-separated labels of letters, digits and `-`, each 1-63
/// characters and not starting or ending with `-`, 253 characters at most.
pub fn check_hostname(what: &'static str, value: &str) -> Result<(), NameError> {
    let fail = |problem: &str| NameError {
        what,
        value: value.to_owned(),
        problem: problem.to_owned(),
        fix: HOSTNAME_FIX,
    };
    if value.is_empty() {
        return Err(fail("is empty"));
    }
    if value.len() > 253 {
        return Err(fail("is longer than 253 characters"));
    }
    for label in value.split('.') {
        if label.is_empty() {
            return Err(fail(
                "has an empty label (two dots in a row, or a dot at an end)",
            ));
        }
        if label.len() > 63 {
            return Err(fail("has a label longer than 63 characters"));
        }
        if let Some(c) = label
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
        {
            return Err(fail(&format!("contains {c:?}")));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(fail("has a label starting or ending with '-'"));
        }
    }
    Ok(())
}

/// Checks a zone name: 1-63 characters of letters, digits, `-`, `_` and `.`, starting with a
/// letter or digit.
pub fn check_zone(value: &str) -> Result<(), NameError> {
    check_simple(
        "zone",
        value,
        63,
        "use 1-63 letters, digits, '-', '_' or '.', e.g. \"rack-1\"",
    )
}

/// Checks a GlusterFS volume name as brickyard accepts it: 1-64 characters of letters, digits,
/// `-` and `_`, starting with a letter. Gluster itself allows a little more; brickyard keeps
/// to what is safe as a directory name and a command argument everywhere.
pub fn check_volume_name(value: &str) -> Result<(), NameError> {
    const FIX: &str = "use 1-64 letters, digits, '-' or '_', starting with a letter, e.g. \"gv0\"";
    check_simple("volume name", value, 64, FIX)?;
    if value.contains('.') {
        return Err(NameError {
            what: "volume name",
            value: value.to_owned(),
            problem: "contains '.'".to_owned(),
            fix: FIX,
        });
    }
    if !value.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return Err(NameError {
            what: "volume name",
            value: value.to_owned(),
            problem: "does not start with a letter".to_owned(),
            fix: FIX,
        });
    }
    Ok(())
}

/// What is wrong with `value` as a name of 1 to `max` bytes whose every character is
/// `allowed`, in the words every name check uses ("is empty", "is longer than N
/// characters", "contains 'x'"); `None` when nothing is.
pub fn charset_problem(value: &str, max: usize, allowed: impl Fn(char) -> bool) -> Option<String> {
    if value.is_empty() {
        return Some("is empty".into());
    }
    if value.len() > max {
        return Some(format!("is longer than {max} characters"));
    }
    value
        .chars()
        .find(|&c| !allowed(c))
        .map(|c| format!("contains {c:?}"))
}

fn check_simple(
    what: &'static str,
    value: &str,
    max: usize,
    fix: &'static str,
) -> Result<(), NameError> {
    let fail = |problem: String| NameError {
        what,
        value: value.to_owned(),
        problem,
        fix,
    };
    if let Some(problem) = charset_problem(value, max, |c| {
        c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')
    }) {
        return Err(fail(problem));
    }
    if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(fail("does not start with a letter or digit".into()));
    }
    Ok(())
}

/// Why a device or mount path was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("is not an absolute path")]
    NotAbsolute,
    /// The path has an empty, `.` or `..` component, or a trailing slash.
    #[error("is not in normal form (no '.', '..', '//' or trailing '/')")]
    NotNormal,
    /// The path holds a character that has no business in a device path.
    #[error("contains {0:?}")]
    BadChar(char),
}

/// Checks an absolute path in normal form made of printable, non-space ASCII without shell
/// or glob metacharacters, as device paths and mount points are.
pub fn check_abs_path(value: &str) -> Result<(), PathError> {
    if !value.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    if value == "/" {
        return Ok(());
    }
    if let Some(c) = value.chars().find(|c| {
        !(c.is_ascii_alphanumeric() || matches!(c, '/' | '-' | '_' | '.' | ':' | '+' | '@'))
    }) {
        return Err(PathError::BadChar(c));
    }
    if value[1..]
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return Err(PathError::NotNormal);
    }
    Ok(())
}

/// A host name that passed [`check_hostname`]: safe in a store key, a path and an argv.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HostName(String);

impl HostName {
    /// Validates and wraps a host name.
    pub fn new(value: &str) -> Result<Self, NameError> {
        check_hostname("host name", value)?;
        Ok(Self(value.to_owned()))
    }

    /// The name as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for HostName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// FNV-1a, 32 bits: a short hash that is stable across builds and platforms (unlike std's
/// hasher), for names derived from other names.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5, |h: u32, b| {
        (h ^ u32::from(*b)).wrapping_mul(0x0100_0193)
    })
}

/// FNV-1a, 64 bits, as [`fnv1a32`].
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h: u64, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostnames() {
        for ok in ["atomic-1", "a", "gluster-1.storage.lab", "x1", "1x"] {
            assert_eq!(check_hostname("host name", ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "-a",
            "a-",
            "a..b",
            ".a",
            "a.",
            "a_b",
            "a b",
            "a/b",
            "../x",
            "$(reboot)",
            &"a".repeat(64),
        ] {
            assert!(check_hostname("host name", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn volume_names() {
        for ok in ["gv0", "replicated", "a-b_c", "V1"] {
            assert_eq!(check_volume_name(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "0gv",
            "-x",
            "a.b",
            "a/b",
            "..",
            "a b",
            "a;b",
            &"v".repeat(65),
        ] {
            assert!(check_volume_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths() {
        for ok in [
            "/dev/sda",
            "/dev/disk/by-id/wwn-0x5000c500a1b2c3d4",
            "/dev/loop0",
            "/",
        ] {
            assert_eq!(check_abs_path(ok), Ok(()), "{ok}");
        }
        assert_eq!(check_abs_path("dev/sda"), Err(PathError::NotAbsolute));
        assert_eq!(check_abs_path("/dev/../etc"), Err(PathError::NotNormal));
        assert_eq!(check_abs_path("/dev//sda"), Err(PathError::NotNormal));
        assert_eq!(check_abs_path("/dev/sda/"), Err(PathError::NotNormal));
        assert_eq!(check_abs_path("/dev/sd*"), Err(PathError::BadChar('*')));
        assert_eq!(check_abs_path("/dev/sda b"), Err(PathError::BadChar(' ')));
    }
}
