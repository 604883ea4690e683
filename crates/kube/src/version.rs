//! The Kubernetes version a bundle targets.

use std::fmt;
use std::str::FromStr;

use crate::KubeError;

/// A Kubernetes `MAJOR.MINOR` version; the patch level never changes which objects work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    /// Always 1 so far.
    pub major: u32,
    /// The minor version, e.g. 25.
    pub minor: u32,
}

impl KubeVersion {
    /// The last release with the in-tree `glusterfs` volume plugin (deprecated in 1.25,
    /// removed in 1.26).
    pub const LAST_IN_TREE_GLUSTERFS: Self = Self {
        major: 1,
        minor: 25,
    };

    /// Whether the in-tree `glusterfs` volume plugin exists in this version.
    pub fn has_in_tree_glusterfs(self) -> bool {
        self <= Self::LAST_IN_TREE_GLUSTERFS
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for KubeVersion {
    type Err = KubeError;

    /// Accepts `1.25`, `v1.25` and `1.25.3` (the patch is ignored).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let fail = |problem: &str| KubeError::BadVersion {
            value: s.to_owned(),
            problem: problem.to_owned(),
        };
        let digits = s.strip_prefix('v').unwrap_or(s);
        let mut parts = digits.split('.');
        let mut number = |what: &str| -> Result<u32, KubeError> {
            let p = parts.next().unwrap_or_default();
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(fail(&format!("has no {what} number")));
            }
            p.parse()
                .map_err(|_| fail(&format!("has a {what} number out of range")))
        };
        let major = number("major")?;
        let minor = number("minor")?;
        match parts.next() {
            None => {}
            Some(p) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {}
            Some(_) => return Err(fail("has a patch level that is not a number")),
        }
        if parts.next().is_some() {
            return Err(fail("has more than three parts"));
        }
        if major != 1 {
            return Err(fail("is not a Kubernetes 1.x version"));
        }
        Ok(Self { major, minor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_compares() {
        for (text, minor) in [("1.25", 25), ("v1.26", 26), ("1.24.17", 24), ("1.37", 37)] {
            let v: KubeVersion = text.parse().expect(text);
            assert_eq!(v, KubeVersion { major: 1, minor }, "{text}");
        }
        assert!(
            "1.25"
                .parse::<KubeVersion>()
                .is_ok_and(|v| v.has_in_tree_glusterfs())
        );
        assert!(
            "1.26"
                .parse::<KubeVersion>()
                .is_ok_and(|v| !v.has_in_tree_glusterfs())
        );
        assert!(
            "1.9"
                .parse::<KubeVersion>()
                .is_ok_and(|v| v.has_in_tree_glusterfs())
        );
    }

    #[test]
    fn refuses_garbage() {
        for text in [
            "", "1", "1.", "2.0", "1.x", "1.25.x", "1.25.1.1", "latest", "v",
        ] {
            let e = text.parse::<KubeVersion>().expect_err(text).to_string();
            assert!(e.starts_with("--kube-version "), "{e}");
        }
    }
}
