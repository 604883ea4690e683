//! What was observed on a host: plain data, filled in by [`crate::gather`] and read by the
//! planner. Tests build these by hand.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Everything the planner needs to know about a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Facts {
    /// Network interfaces and their addresses.
    pub interfaces: Vec<Interface>,
    /// Interfaces holding a default route, IPv4 routes first.
    pub default_route_interfaces: Vec<String>,
    /// One entry per configured brick device, in the config's order.
    pub devices: Vec<DeviceFacts>,
    /// Whether LVM can be used on this host.
    pub lvm: LvmSupport,
    /// Mounted filesystems.
    pub mounts: Vec<Mount>,
    /// The fstab under the root, `None` when there is none.
    pub fstab: Option<String>,
    /// The state of each directory brickyard manages, by its absolute path under the root.
    pub dirs: Vec<(String, DirState)>,
    /// The package's default config files, used to seed an empty config directory.
    pub package_defaults: Option<PackageDefaults>,
    /// Whether SELinux is enabled.
    pub selinux_enabled: bool,
    /// Fresh UUIDs, one per brick, for filesystems the plan creates. They are chosen before
    /// planning so that the plan can name the exact fstab line it will write.
    pub new_fs_uuids: Vec<String>,
}

impl Facts {
    /// The observed state of a directory, `None` when it was not looked at.
    pub fn dir(&self, path: &str) -> Option<&DirState> {
        self.dirs.iter().find(|(p, _)| p == path).map(|(_, s)| s)
    }

    /// The observed state of a device, by its configured path.
    pub fn device(&self, path: &str) -> Option<&DeviceFacts> {
        self.devices.iter().find(|d| d.path == path)
    }
}

pub use brickyard_sys::ip::Interface;

/// Whether LVM thin provisioning can be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum LvmSupport {
    /// LVM tools run and device-mapper answers.
    Usable,
    /// It cannot; the reason says what failed.
    Unavailable {
        /// E.g. "device-mapper not available (dmsetup version failed)".
        reason: String,
    },
}

impl Default for LvmSupport {
    fn default() -> Self {
        Self::Unavailable {
            reason: "not checked".into(),
        }
    }
}

/// A configured brick device as found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceFacts {
    /// The path from the config.
    pub path: String,
    /// What is there.
    pub state: DeviceState,
}

/// What a device path leads to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum DeviceState {
    /// Nothing exists at the path.
    Missing,
    /// Something exists, but it is not a block device.
    NotBlockDevice,
    /// A block device.
    Present(BlockDevice),
}

/// A block device and what it carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BlockDevice {
    /// The path with symlinks resolved, e.g. `/dev/sdb` for `/dev/disk/by-id/...`.
    pub canonical: String,
    /// Size in bytes.
    pub size: u64,
    /// Every signature `wipefs` finds: filesystems, partition tables, LVM, RAID.
    pub signatures: Vec<Signature>,
    /// The LVM physical volume on the device, when it is one.
    pub pv: Option<PhysicalVolume>,
    /// The logical volumes of the PV's volume group.
    pub lvs: Vec<LogicalVolume>,
    /// What uses the device besides a mount of it: mounted or swapped partitions, holders
    /// (device-mapper, RAID) of it or its partitions. Each entry says what, in words.
    #[serde(default)]
    pub users: Vec<String>,
}

/// An LVM physical volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhysicalVolume {
    /// Its volume group; empty when it belongs to none.
    pub vg: String,
}

/// An LVM logical volume.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LogicalVolume {
    /// Its name.
    pub name: String,
    /// Its volume group.
    pub vg: String,
    /// The thin pool it lives in, empty for other kinds.
    pub pool: String,
    /// LVM's segment type, e.g. `thin`, `thin-pool`, `linear`.
    pub segtype: String,
    /// The signatures on it; `None` when it is not active, so it could not be read.
    pub signatures: Option<Vec<Signature>>,
}

/// One signature on a device, as `wipefs` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    /// `wipefs`'s type: `ext4`, `xfs`, `gpt`, `dos`, `LVM2_member`, `linux_raid_member`...
    pub kind: String,
    /// The filesystem or member UUID, when it has one.
    pub uuid: Option<String>,
    /// The label, when it has one.
    pub label: Option<String>,
    /// Where on the device it sits, as wipefs prints it (`0x438`).
    pub offset: String,
}

impl Signature {
    /// What kind of thing the signature marks, in words.
    pub fn what(&self) -> &'static str {
        match self.kind.as_str() {
            "dos" | "gpt" | "PMBR" | "atari" | "bsd" | "mac" | "sgi" | "sun" | "solaris"
            | "unixware" | "minix" | "ultrix" | "aix" => "partition table",
            "LVM2_member" | "LVM1_member" => "LVM physical volume",
            "crypto_LUKS" => "LUKS encrypted volume",
            "swap" => "swap area",
            k if k.ends_with("_raid_member") || k == "zfs_member" || k == "ceph_bluestore" => {
                "RAID or pool member"
            }
            _ => "filesystem",
        }
    }
}

impl fmt::Display for Signature {
    /// E.g. `ext4 filesystem (UUID 78c2..., label "data")`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.kind, self.what())?;
        let mut extra = Vec::new();
        if let Some(uuid) = &self.uuid {
            extra.push(format!("UUID {uuid}"));
        }
        if let Some(label) = &self.label {
            extra.push(format!("label {label:?}"));
        }
        if !extra.is_empty() {
            write!(f, " ({})", extra.join(", "))?;
        }
        Ok(())
    }
}

/// A mounted filesystem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mount {
    /// What is mounted (a device path for block filesystems).
    pub source: String,
    /// Where.
    pub target: String,
    /// The filesystem type.
    pub fstype: String,
}

/// What is at a directory's path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum DirState {
    /// Nothing.
    Missing,
    /// An empty directory.
    Empty,
    /// A directory with entries.
    NotEmpty,
    /// Something that is not a directory.
    NotADirectory,
}

/// The package's default config files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageDefaults {
    /// The directory holding them.
    pub dir: String,
    /// The names of the regular files in it, sorted.
    pub files: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_signatures() {
        let s = Signature {
            kind: "ext4".into(),
            uuid: Some("78c21bda-2379-469e-9617-210938fb7777".into()),
            label: Some("data".into()),
            offset: "0x438".into(),
        };
        assert_eq!(
            s.to_string(),
            "ext4 filesystem (UUID 78c21bda-2379-469e-9617-210938fb7777, label \"data\")"
        );
        let pt = Signature {
            kind: "dos".into(),
            uuid: None,
            label: None,
            offset: "0x1fe".into(),
        };
        assert_eq!(pt.to_string(), "dos partition table");
        let raid = Signature {
            kind: "linux_raid_member".into(),
            ..pt.clone()
        };
        assert_eq!(raid.what(), "RAID or pool member");
    }
}
