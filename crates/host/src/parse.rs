//! Parsers for the JSON the host's tools print. They take bytes, not processes, so they are
//! tested on output captured from real machines (`tests/fixtures/`).

use std::str::FromStr;

use ipnet::IpNet;
use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::facts::{Interface, LogicalVolume, Mount, Signature};

/// Output that could not be understood.
#[derive(Debug, Error)]
#[error("cannot read the output of `{tool}`: {problem}")]
pub struct ParseError {
    /// The command whose output it was.
    pub tool: &'static str,
    /// What was wrong.
    pub problem: String,
}

fn json<'a, T: Deserialize<'a>>(tool: &'static str, bytes: &'a [u8]) -> Result<T, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError {
        tool,
        problem: e.to_string(),
    })
}

#[derive(Deserialize)]
struct IpLink {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<IpAddrInfo>,
}

#[derive(Deserialize)]
struct IpAddrInfo {
    local: Option<String>,
    prefixlen: Option<u8>,
}

/// Parses `ip -j addr`: every interface with its addresses.
pub fn ip_addr(bytes: &[u8]) -> Result<Vec<Interface>, ParseError> {
    let links: Vec<IpLink> = json("ip -j addr", bytes)?;
    links
        .into_iter()
        .map(|link| {
            let addrs = link
                .addr_info
                .iter()
                .filter_map(|a| Some((a.local.as_deref()?, a.prefixlen?)))
                .map(|(local, prefix)| {
                    IpNet::from_str(&format!("{local}/{prefix}")).map_err(|e| ParseError {
                        tool: "ip -j addr",
                        problem: format!("address {local}/{prefix} on {}: {e}", link.ifname),
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Interface {
                name: link.ifname,
                addrs,
            })
        })
        .collect()
}

#[derive(Deserialize)]
struct IpRoute {
    dst: Option<String>,
    dev: Option<String>,
}

/// Parses `ip -j route` (either family): the interfaces holding a default route.
pub fn default_route_interfaces(bytes: &[u8]) -> Result<Vec<String>, ParseError> {
    let routes: Vec<IpRoute> = json("ip -j route", bytes)?;
    let mut out: Vec<String> = Vec::new();
    for r in routes {
        if r.dst.as_deref() == Some("default")
            && let Some(dev) = r.dev
            && !out.contains(&dev)
        {
            out.push(dev);
        }
    }
    Ok(out)
}

/// Parses `lsblk -J -b -o NAME,PATH,TYPE,SIZE,MOUNTPOINT DEV`: the size in bytes of the
/// first device listed. Older lsblk versions print sizes as strings; both are accepted.
pub fn lsblk_size(bytes: &[u8]) -> Result<u64, ParseError> {
    let doc: Value = json("lsblk -J", bytes)?;
    let size = doc
        .get("blockdevices")
        .and_then(|d| d.get(0))
        .and_then(|d| d.get("size"))
        .ok_or_else(|| ParseError {
            tool: "lsblk -J",
            problem: "no device with a size listed".into(),
        })?;
    match size {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ParseError {
        tool: "lsblk -J",
        problem: format!("size {size} is not a byte count"),
    })
}

#[derive(Deserialize)]
struct Wipefs {
    #[serde(default)]
    signatures: Vec<WipefsSig>,
}

#[derive(Deserialize)]
struct WipefsSig {
    offset: String,
    #[serde(rename = "type")]
    kind: String,
    uuid: Option<String>,
    label: Option<String>,
}

/// Parses `wipefs -n -J DEV`: every signature on the device. wipefs prints nothing at all
/// (not even `{}`) for some devices without signatures; that is an empty list too.
pub fn wipefs(bytes: &[u8]) -> Result<Vec<Signature>, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let w: Wipefs = json("wipefs -n -J", bytes)?;
    Ok(w.signatures
        .into_iter()
        .map(|s| Signature {
            kind: s.kind,
            uuid: s.uuid.filter(|u| !u.is_empty()),
            label: s.label.filter(|l| !l.is_empty()),
            offset: s.offset,
        })
        .collect())
}

#[derive(Deserialize)]
struct Findmnt {
    #[serde(default)]
    filesystems: Vec<FindmntFs>,
}

#[derive(Deserialize)]
struct FindmntFs {
    source: Option<String>,
    target: String,
    fstype: Option<String>,
}

/// Parses `findmnt -J -l -o SOURCE,TARGET,FSTYPE` (the flat list form).
pub fn findmnt(bytes: &[u8]) -> Result<Vec<Mount>, ParseError> {
    let f: Findmnt = json("findmnt -J -l", bytes)?;
    Ok(f.filesystems
        .into_iter()
        .map(|m| Mount {
            source: m.source.unwrap_or_default(),
            target: m.target,
            fstype: m.fstype.unwrap_or_default(),
        })
        .collect())
}

/// The rows of an LVM JSON report (`pvs`/`lvs --reportformat json`) under `kind`.
fn lvm_rows(tool: &'static str, kind: &str, bytes: &[u8]) -> Result<Vec<Value>, ParseError> {
    let doc: Value = json(tool, bytes)?;
    let reports = doc
        .get("report")
        .and_then(Value::as_array)
        .ok_or_else(|| ParseError {
            tool,
            problem: "no \"report\" array".into(),
        })?;
    Ok(reports
        .iter()
        .filter_map(|r| r.get(kind).and_then(Value::as_array))
        .flatten()
        .cloned()
        .collect())
}

fn field(row: &Value, name: &str) -> String {
    row.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .trim()
        .to_owned()
}

/// Parses `pvs --reportformat json -o pv_name,vg_name DEV`: the volume group of the PV
/// (empty when it belongs to none), `None` when the device is no PV.
pub fn pvs_vg(bytes: &[u8]) -> Result<Option<String>, ParseError> {
    let rows = lvm_rows("pvs --reportformat json", "pv", bytes)?;
    Ok(rows.first().map(|row| field(row, "vg_name")))
}

/// Parses `lvs --reportformat json -o lv_name,vg_name,pool_lv,lv_attr,lv_path,segtype VG`.
/// The signatures are left unknown: they are read from each active LV separately.
pub fn lvs(bytes: &[u8]) -> Result<Vec<LogicalVolume>, ParseError> {
    let rows = lvm_rows("lvs --reportformat json", "lv", bytes)?;
    Ok(rows
        .iter()
        .map(|row| LogicalVolume {
            name: field(row, "lv_name"),
            vg: field(row, "vg_name"),
            pool: field(row, "pool_lv"),
            segtype: field(row, "segtype"),
            signatures: None,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    #[test]
    fn ip_addr_of_this_machine_and_a_namespace() {
        let host = ip_addr(&fixture("ip-addr-host.json")).expect("parses");
        let eth0 = host.iter().find(|i| i.name == "eth0").expect("eth0 listed");
        assert!(eth0.addrs.contains(&"192.0.2.2/24".parse().expect("net")));
        assert!(eth0.addrs.contains(&"fd00::2/64".parse().expect("net")));
        let lo = host.iter().find(|i| i.name == "lo").expect("lo listed");
        assert!(lo.addrs.contains(&"127.0.0.1/8".parse().expect("net")));
        let ns = ip_addr(&fixture("ip-addr-netns.json")).expect("parses");
        let v0 = ns.iter().find(|i| i.name == "v0").expect("v0 listed");
        assert_eq!(v0.addrs.len(), 3, "{v0:?}");
        let down = ip_addr(&fixture("ip-addr-lo-down.json")).expect("parses");
        assert_eq!(down.len(), 1);
        assert!(down[0].addrs.is_empty());
    }

    #[test]
    fn default_routes() {
        assert_eq!(
            default_route_interfaces(&fixture("ip-route-host.json")).expect("parses"),
            ["eth0"]
        );
        assert_eq!(
            default_route_interfaces(&fixture("ip-route6-host.json")).expect("parses"),
            ["eth0"]
        );
        assert_eq!(
            default_route_interfaces(&fixture("ip-route-netns.json")).expect("parses"),
            ["v0"]
        );
        assert!(
            default_route_interfaces(&fixture("ip-route-none.json"))
                .expect("parses")
                .is_empty()
        );
    }

    #[test]
    fn lsblk_sizes() {
        assert_eq!(
            lsblk_size(&fixture("lsblk-loop.json")).expect("parses"),
            314_572_800
        );
        assert_eq!(
            lsblk_size(br#"{"blockdevices":[{"name":"sdb","size":"1024"}]}"#).expect("parses"),
            1024
        );
        assert!(lsblk_size(br#"{"blockdevices":[]}"#).is_err());
    }

    #[test]
    fn wipefs_signatures() {
        assert!(
            wipefs(&fixture("wipefs-fresh.json"))
                .expect("parses")
                .is_empty()
        );
        assert!(wipefs(b"").expect("parses").is_empty());
        let ext4 = wipefs(&fixture("wipefs-ext4.json")).expect("parses");
        assert_eq!(ext4.len(), 1);
        assert_eq!(
            ext4[0].to_string(),
            "ext4 filesystem (UUID 78c21bda-2379-469e-9617-210938fb7777, label \"data\")"
        );
        let dos = wipefs(&fixture("wipefs-dos.json")).expect("parses");
        assert_eq!(dos[0].to_string(), "dos partition table");
        let xfs = wipefs(&fixture("wipefs-xfs-ours.json")).expect("parses");
        assert_eq!(xfs[0].kind, "xfs");
        assert_eq!(xfs[0].label.as_deref(), Some("brickyard1"));
        let pv = wipefs(&fixture("wipefs-lvm-pv.json")).expect("parses");
        assert_eq!(pv[0].what(), "LVM physical volume");
        assert!(wipefs(b"{not json").is_err());
    }

    #[test]
    fn mounts() {
        let m = findmnt(&fixture("findmnt-list.json")).expect("parses");
        assert!(m.iter().any(|m| m.target == "/" && m.source == "/dev/vda"));
        let brick = m
            .iter()
            .find(|m| m.source == "/dev/loop4")
            .expect("the mounted loop device");
        assert_eq!(brick.fstype, "xfs");
    }

    #[test]
    fn lvm_reports() {
        assert_eq!(
            pvs_vg(&fixture("pvs-gluster.json")).expect("parses"),
            Some("gluster".into())
        );
        assert_eq!(pvs_vg(br#"{"report":[{"pv":[]}]}"#).expect("parses"), None);
        assert!(lvs(&fixture("lvs-empty.json")).expect("parses").is_empty());
        let thin = lvs(&fixture("lvs-thin-layout.json")).expect("parses");
        let brick = thin.iter().find(|l| l.name == "brick1").expect("brick1");
        assert_eq!(brick.pool, "brickpool");
        assert_eq!(brick.segtype, "thin");
        assert!(thin.iter().any(|l| l.segtype == "thin-pool"));
    }
}
