//! The lab's name and every name derived from it: bridge, namespaces, veths, host names.
//!
//! Linux interface names are at most 15 bytes. A lab name of at most 8 characters without
//! `-` keeps `byl-<name>-<index>` within that for up to 99 hosts, and makes the names of two
//! labs impossible to confuse: the bridge of lab `a` is `byl-a`, its hosts are `byl-a-1`,
//! ..., and no other lab's names start with `byl-a-`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::LabError;

/// Prefix of every network object the lab makes.
pub const PREFIX: &str = "byl-";

/// The longest lab name.
pub const MAX_NAME_LEN: usize = 8;

/// The most hosts one lab can have (two digits in interface names).
pub const MAX_HOSTS: usize = 99;

/// A checked lab name: 1-8 lowercase letters and digits, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabName(String);

impl LabName {
    /// The name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The bridge: `byl-<name>`.
    pub fn bridge(&self) -> String {
        format!("{PREFIX}{}", self.0)
    }

    /// The prefix shared by this lab's host namespaces and veths: `byl-<name>-`.
    pub fn host_prefix(&self) -> String {
        format!("{PREFIX}{}-", self.0)
    }

    /// Host `index`'s network namespace, also the name of its veth on the machine's side.
    pub fn netns(&self, index: usize) -> String {
        format!("{}{index}", self.host_prefix())
    }

    /// Host `index`'s `HostName`: `<name>-<index>`.
    pub fn host_name(&self, index: usize) -> String {
        format!("{}-{index}", self.0)
    }

    /// Host `index`'s `GlusterNodeName`: `<name>-gluster-<index>`.
    pub fn gluster_node_name(&self, index: usize) -> String {
        format!("{}-gluster-{index}", self.0)
    }

    /// The 1-based host index in a namespace name of this lab, if it is one.
    pub fn index_of_netns(&self, netns: &str) -> Option<usize> {
        let rest = netns.strip_prefix(&self.host_prefix())?;
        if rest.is_empty() || !rest.bytes().all(|b| b.is_ascii_digit()) || rest.starts_with('0') {
            return None;
        }
        rest.parse().ok()
    }
}

impl fmt::Display for LabName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for LabName {
    type Err = LabError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let bad = |problem: &str| LabError::BadName {
            value: value.to_owned(),
            problem: problem.to_owned(),
        };
        if value.is_empty() {
            return Err(bad("is empty"));
        }
        if value.len() > MAX_NAME_LEN {
            return Err(bad(
                "is longer than 8 characters (interface names are limited to 15)",
            ));
        }
        if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
            return Err(bad("does not start with a lowercase letter"));
        }
        if let Some(c) = value
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit()))
        {
            return Err(bad(&format!("contains {c:?}")));
        }
        Ok(Self(value.to_owned()))
    }
}

impl TryFrom<String> for LabName {
    type Error = LabError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<LabName> for String {
    fn from(name: LabName) -> Self {
        name.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_short_lowercase_names() {
        for ok in ["lab", "a", "bytlab1", "abcdefgh"] {
            assert!(ok.parse::<LabName>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_names_that_could_clash_or_overflow() {
        for (bad, why) in [
            ("", "empty"),
            ("abcdefghi", "longer"),
            ("lab-1", "'-'"),
            ("Lab", "lowercase"),
            ("1lab", "lowercase"),
            ("la b", "' '"),
            ("lab/", "'/'"),
        ] {
            let err = bad.parse::<LabName>().expect_err(bad).to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("--name"), "{bad}: {err}");
        }
    }

    #[test]
    fn derived_names_fit_in_an_interface_name() {
        let name: LabName = "abcdefgh".parse().expect("valid");
        assert!(name.bridge().len() <= 15);
        assert!(
            name.netns(MAX_HOSTS).len() <= 15,
            "{}",
            name.netns(MAX_HOSTS)
        );
    }

    #[test]
    fn finds_host_indexes_only_of_its_own_lab() {
        let name: LabName = "lab".parse().expect("valid");
        assert_eq!(name.index_of_netns("byl-lab-3"), Some(3));
        assert_eq!(name.index_of_netns("byl-lab-12"), Some(12));
        assert_eq!(name.index_of_netns("byl-lab2-1"), None);
        assert_eq!(name.index_of_netns("byl-lab-"), None);
        assert_eq!(name.index_of_netns("byl-lab-01"), None);
        assert_eq!(name.index_of_netns("byt-gl-1"), None);
    }
}
