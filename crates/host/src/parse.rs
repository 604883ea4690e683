//! Parsers for the JSON the host's tools print. They take bytes, not processes, so they are
//! tested on output captured from real machines (`tests/fixtures/`).

use serde::Deserialize;
use serde_json::Value;
use thiserror::Error;

use crate::facts::{LogicalVolume, Signature};

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

/// A device as `lsblk` lists it: the device itself or one of its partitions (or other
/// children).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LsblkDevice {
    /// The kernel name, e.g. `sdb1` (its directory under `/sys/class/block`).
    pub name: String,
    /// Its path, e.g. `/dev/sdb1`.
    pub path: String,
    /// Where it is mounted, or `[SWAP]`, when it is in use so.
    pub mountpoint: Option<String>,
}

/// What `lsblk -J -b -o NAME,PATH,TYPE,SIZE,MOUNTPOINT DEV` says of one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lsblk {
    /// The device's size in bytes.
    pub size: u64,
    /// The device itself, then every child (partitions, and what sits on them), depth first.
    pub devices: Vec<LsblkDevice>,
}

#[derive(Deserialize)]
struct LsblkDoc {
    #[serde(default)]
    blockdevices: Vec<LsblkNode>,
}

#[derive(Deserialize)]
struct LsblkNode {
    name: String,
    #[serde(default)]
    path: Option<String>,
    #[serde(default)]
    size: Option<Value>,
    #[serde(default)]
    mountpoint: Option<String>,
    #[serde(default)]
    children: Vec<LsblkNode>,
}

fn flatten(node: &LsblkNode, out: &mut Vec<LsblkDevice>) {
    out.push(LsblkDevice {
        name: node.name.clone(),
        path: node
            .path
            .clone()
            .unwrap_or_else(|| format!("/dev/{}", node.name)),
        mountpoint: node.mountpoint.clone().filter(|m| !m.is_empty()),
    });
    for c in &node.children {
        flatten(c, out);
    }
}

/// Parses `lsblk -J -b -o NAME,PATH,TYPE,SIZE,MOUNTPOINT DEV`: the first device listed, its
/// size in bytes and its children. Older lsblk versions print sizes as strings; both are
/// accepted.
pub fn lsblk(bytes: &[u8]) -> Result<Lsblk, ParseError> {
    let doc: LsblkDoc = json("lsblk -J", bytes)?;
    let first = doc.blockdevices.first().ok_or_else(|| ParseError {
        tool: "lsblk -J",
        problem: "no device with a size listed".into(),
    })?;
    let size = match &first.size {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ParseError {
        tool: "lsblk -J",
        problem: format!("size {:?} is not a byte count", first.size),
    })?;
    let mut devices = Vec::new();
    flatten(first, &mut devices);
    Ok(Lsblk { size, devices })
}

/// The size in bytes of the first device `lsblk -J` lists.
pub fn lsblk_size(bytes: &[u8]) -> Result<u64, ParseError> {
    lsblk(bytes).map(|l| l.size)
}

/// The block devices in use as swap, from the text of `/proc/swaps`.
pub fn swaps(text: &str) -> Vec<String> {
    text.lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .map(brickyard_sys::mounts::unescape)
        .collect()
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
    fn lsblk_children_and_their_mounts() {
        let l = lsblk(&fixture("lsblk-loop-partitions.json")).expect("parses");
        assert_eq!(l.size, 943_718_400);
        let paths: Vec<&str> = l.devices.iter().map(|d| d.path.as_str()).collect();
        assert_eq!(paths, ["/dev/loop0", "/dev/loop0p1", "/dev/loop0p2"]);
        assert_eq!(l.devices[1].mountpoint.as_deref(), Some("/tmp/ptm"));
        assert_eq!(l.devices[0].mountpoint, None);
        assert_eq!(
            swaps("Filename\tType\tSize\tUsed\tPriority\n/dev/sdb2 partition 1 0 -2\n"),
            ["/dev/sdb2"]
        );
    }

    proptest::proptest! {
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = lsblk(&bytes);
            let _ = wipefs(&bytes);
            let _ = pvs_vg(&bytes);
            let _ = lvs(&bytes);
            let _ = swaps(&String::from_utf8_lossy(&bytes));
        }
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
