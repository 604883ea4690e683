//! glusterd's own files: `glusterd.vol` (rendered) and `glusterd.info` (read, and its UUID
//! restored for a reinstalled node). Pure functions; the node agent reads and writes.

use std::net::IpAddr;

use serde::Serialize;
use thiserror::Error;

/// Where the package puts glusterd's config.
pub const GLUSTERD_VOL: &str = "/etc/glusterfs/glusterd.vol";
/// Where glusterd keeps its UUID.
pub const GLUSTERD_INFO: &str = "/var/lib/glusterd/glusterd.info";
/// The unix socket the CLI uses by default; it is independent of the bind address.
pub const GLUSTERD_SOCKET: &str = "/var/run/glusterd.socket";

/// The option that makes glusterd listen on one address. glusterd passes it on to the
/// brick processes (they listen on the same address) and uses the address as the volfile
/// server of its daemons, so this one option binds the whole node; the CLI's unix socket is
/// not affected.
pub const BIND_OPTION: &str = "transport.socket.bind-address";

/// Why a config file could not be rendered or read.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    /// glusterd.vol lacks the `volume management` ... `end-volume` block of type
    /// mgmt/glusterd.
    #[error(
        "glusterd.vol has no `volume management` block of type mgmt/glusterd ending in `end-volume`; start from the package's /etc/glusterfs/glusterd.vol"
    )]
    NoManagementVolume,
    /// glusterd.info lacks a valid `UUID=` line.
    #[error("glusterd.info has no valid UUID= line")]
    NoUuid,
    /// A UUID given to write is not one.
    #[error("{0:?} is not a UUID (8-4-4-4-12 hex digits)")]
    BadUuid(String),
}

/// glusterd.vol as Debian's glusterfs-server 10.3 ships it: the base to render from when a
/// host's /etc/glusterfs holds none.
pub const PACKAGE_GLUSTERD_VOL: &str = "volume management
    type mgmt/glusterd
    option working-directory /var/lib/glusterd
    option transport-type socket
    option transport.socket.keepalive-time 10
    option transport.socket.keepalive-interval 2
    option transport.socket.read-fail-log off
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
#   option lock-timer 180
#   option transport.address-family inet6
#   option base-port 49152
    option max-port  60999
end-volume
";

/// Renders glusterd.vol from `default` (the package's file) so that glusterd binds only to
/// `bind`: any existing bind-address line (commented or not) is dropped, one is added
/// before `end-volume`, and for an IPv6 address `transport.address-family inet6` is set.
/// Rendering an already rendered file gives the same file.
pub fn render_glusterd_vol(default: &str, bind: IpAddr) -> Result<String, ConfigError> {
    let mut in_mgmt = false;
    let mut is_glusterd = false;
    let mut done = false;
    let mut out = String::with_capacity(default.len() + 64);
    for line in default.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // Commented-out options count too, so "#   option transport.address-family inet6"
        // is replaced rather than left beside the active one.
        let uncommented: Vec<&str> = line
            .trim_start()
            .trim_start_matches('#')
            .split_whitespace()
            .collect();
        match words.as_slice() {
            ["volume", "management"] => in_mgmt = true,
            ["type", "mgmt/glusterd"] if in_mgmt => is_glusterd = true,
            ["end-volume"] if in_mgmt && !done => {
                if !is_glusterd {
                    return Err(ConfigError::NoManagementVolume);
                }
                if bind.is_ipv6() {
                    out.push_str("    option transport.address-family inet6\n");
                }
                out.push_str(&format!("    option {BIND_OPTION} {bind}\n"));
                in_mgmt = false;
                done = true;
            }
            _ => {}
        }
        if in_mgmt
            && matches!(
                uncommented.as_slice(),
                ["option", BIND_OPTION, ..] | ["option", "transport.address-family", ..]
            )
        {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    if !done {
        return Err(ConfigError::NoManagementVolume);
    }
    Ok(out)
}

/// The bind address set in a glusterd.vol, if any.
pub fn bind_address(glusterd_vol: &str) -> Option<IpAddr> {
    glusterd_vol
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find_map(|w| match w.as_slice() {
            ["option", BIND_OPTION, addr] => addr.parse().ok(),
            _ => None,
        })
}

/// glusterd's identity file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GlusterdInfo {
    /// glusterd's UUID: the node's identity in the pool.
    pub uuid: String,
    /// The cluster operating version glusterd last ran at.
    pub operating_version: Option<u32>,
}

fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() == 5
        && parts
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(p, n)| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// Parses `/var/lib/glusterd/glusterd.info` ("UUID=...", "operating-version=...").
pub fn parse_glusterd_info(text: &str) -> Result<GlusterdInfo, ConfigError> {
    let mut uuid = None;
    let mut operating_version = None;
    for line in text.lines() {
        match line.trim().split_once('=') {
            Some(("UUID", v)) if is_uuid(v.trim()) => uuid = Some(v.trim().to_owned()),
            Some(("operating-version", v)) => operating_version = v.trim().parse().ok(),
            _ => {}
        }
    }
    Ok(GlusterdInfo {
        uuid: uuid.ok_or(ConfigError::NoUuid)?,
        operating_version,
    })
}

/// Renders glusterd.info with its UUID set to `uuid`, keeping every other line: the first
/// step of repairing a reinstalled node that must take back its old identity.
pub fn with_uuid(glusterd_info: &str, uuid: &str) -> Result<String, ConfigError> {
    if !is_uuid(uuid) {
        return Err(ConfigError::BadUuid(uuid.to_owned()));
    }
    let mut out = format!("UUID={uuid}\n");
    for line in glusterd_info.lines() {
        if !line.trim_start().starts_with("UUID=") {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PACKAGE_VOL: &str = PACKAGE_GLUSTERD_VOL;

    #[test]
    fn binds_an_ipv4_address() {
        let ip: IpAddr = "10.251.0.1".parse().expect("ip");
        let out = render_glusterd_vol(PACKAGE_VOL, ip).expect("renders");
        assert!(out.ends_with(
            "    option max-port  60999\n    option transport.socket.bind-address 10.251.0.1\nend-volume\n"
        ));
        assert!(!out.contains("address-family"));
        assert_eq!(bind_address(&out), Some(ip));
        assert_eq!(bind_address(PACKAGE_VOL), None);
        // Re-rendering, even to another address, leaves exactly one bind line.
        let other: IpAddr = "10.251.0.2".parse().expect("ip");
        let again = render_glusterd_vol(&out, other).expect("renders");
        assert_eq!(again.matches(BIND_OPTION).count(), 1);
        assert_eq!(bind_address(&again), Some(other));
        assert_eq!(render_glusterd_vol(&again, other).expect("renders"), again);
    }

    #[test]
    fn binds_an_ipv6_address_with_its_family() {
        let out =
            render_glusterd_vol(PACKAGE_VOL, "fd00::5".parse().expect("ip")).expect("renders");
        assert_eq!(out.matches("address-family").count(), 1);
        assert!(out.contains(
            "    option transport.address-family inet6\n    option transport.socket.bind-address fd00::5\nend-volume"
        ));
    }

    #[test]
    fn refuses_a_file_without_the_management_volume() {
        let ip: IpAddr = "10.0.0.1".parse().expect("ip");
        for bad in [
            "",
            "volume management\n    type mgmt/glusterd\n",
            "volume other\n    type debug/trace\nend-volume\n",
            "volume management\n    type debug/trace\nend-volume\n",
        ] {
            assert_eq!(
                render_glusterd_vol(bad, ip),
                Err(ConfigError::NoManagementVolume),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn reads_and_rewrites_glusterd_info() {
        let text = "UUID=e091683e-4ef3-42e0-b3d3-d85e41633e77\noperating-version=100000\n";
        let info = parse_glusterd_info(text).expect("parses");
        assert_eq!(info.uuid, "e091683e-4ef3-42e0-b3d3-d85e41633e77");
        assert_eq!(info.operating_version, Some(100000));
        let old = "6c6c6f8f-ae28-45f8-ad93-4569b17261c9";
        let restored = with_uuid(text, old).expect("renders");
        assert_eq!(
            restored,
            "UUID=6c6c6f8f-ae28-45f8-ad93-4569b17261c9\noperating-version=100000\n"
        );
        assert_eq!(
            parse_glusterd_info("operating-version=1\n"),
            Err(ConfigError::NoUuid)
        );
        assert_eq!(parse_glusterd_info("UUID=xyz\n"), Err(ConfigError::NoUuid));
        assert!(matches!(
            with_uuid(text, "../x"),
            Err(ConfigError::BadUuid(_))
        ));
    }
}
