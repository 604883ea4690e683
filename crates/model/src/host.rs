//! One storage host's config, in the seed's per-host JSON format.
//!
//! ```json
//! {
//!   "HostName": "atomic-1",
//!   "GlusterNodeName": "gluster-1",
//!   "IPAddress": "10.1.1.1/24",
//!   "BrickDevice": "/dev/sda",
//!   "ZapDevice": "true",
//!   "PeerList": [ { "IP": "10.1.1.2" } ]
//! }
//! ```
//!
//! The bytes a config was read from are kept: the store holds them unchanged, so unknown
//! fields and the spelling of `ZapDevice` survive a load/get round trip.

use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::issue::{Issue, Report};
use crate::names::{check_abs_path, check_hostname, check_zone};

/// The fields of the seed's format and brickyard's optional extras, in the order written.
pub const KNOWN_FIELDS: &[&str] = &[
    "HostName",
    "GlusterNodeName",
    "IPAddress",
    "BrickDevice",
    "ZapDevice",
    "PeerList",
    "Zone",
    "ExtraBrickDevices",
];

/// Where brick N is mounted: `/gluster/brick1` for `BrickDevice`, then `/gluster/brick2`,
/// ... for each of `ExtraBrickDevices`, as in the seed.
pub fn brick_mount_point(index: usize) -> String {
    format!("/gluster/brick{}", index + 1)
}

/// `ZapDevice` as it was written: the seed writes the string `"true"`; booleans are accepted
/// too, and the same spelling is written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZapDevice {
    /// Written as a JSON string, `"true"` or `"false"`.
    Text(bool),
    /// Written as a JSON boolean.
    Bool(bool),
}

impl ZapDevice {
    /// Whether the device may be wiped.
    pub fn enabled(self) -> bool {
        match self {
            Self::Text(b) | Self::Bool(b) => b,
        }
    }

    fn to_value(self) -> Value {
        match self {
            Self::Text(b) => Value::String(b.to_string()),
            Self::Bool(b) => Value::Bool(b),
        }
    }
}

impl Default for ZapDevice {
    fn default() -> Self {
        Self::Text(false)
    }
}

/// One storage host's desired state.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// `HostName`: the machine's host name; the store key is `gluster/config/<HostName>`.
    pub host_name: String,
    /// `GlusterNodeName`: the name the gluster node (container) takes.
    pub gluster_node_name: String,
    /// `IPAddress`: the address glusterd binds to, with its prefix length.
    pub ip_address: IpNet,
    /// `BrickDevice`: the block device for brick 1.
    pub brick_device: String,
    /// `ExtraBrickDevices` (brickyard's extra): block devices for bricks 2, 3, ...
    pub extra_brick_devices: Vec<String>,
    /// `ZapDevice`: whether existing signatures on the brick devices may be wiped.
    pub zap_device: ZapDevice,
    /// `PeerList[].IP`: the addresses of the other hosts of the trusted pool.
    pub peers: Vec<IpAddr>,
    /// `Zone` (brickyard's extra): a failure domain; replicas go to distinct zones.
    pub zone: Option<String>,
    /// The JSON document exactly as read (or as rendered for a config built in code).
    pub raw: Vec<u8>,
}

/// One field that differs between two configs of a host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldChange {
    /// The field, as in the JSON file.
    pub field: &'static str,
    /// Its old value, as text.
    pub from: String,
    /// Its new value, as text.
    pub to: String,
}

impl FieldChange {
    /// Whether the change alters who the host is to its peers (its address or node name),
    /// which a running glusterd cannot follow.
    pub fn is_identity(&self) -> bool {
        matches!(self.field, "IPAddress" | "GlusterNodeName")
    }
}

impl std::fmt::Display for FieldChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} -> {}", self.field, self.from, self.to)
    }
}

impl HostConfig {
    /// The fields of this config that `new` changes (the host name is the same: it is the
    /// key).
    pub fn changes_to(&self, new: &HostConfig) -> Vec<FieldChange> {
        let list = |v: &[String]| format!("[{}]", v.join(", "));
        let peers = |c: &HostConfig| {
            let mut p: Vec<String> = c.peers.iter().map(ToString::to_string).collect();
            p.sort();
            list(&p)
        };
        let fields = [
            (
                "GlusterNodeName",
                self.gluster_node_name.clone(),
                new.gluster_node_name.clone(),
            ),
            (
                "IPAddress",
                self.ip_address.to_string(),
                new.ip_address.to_string(),
            ),
            (
                "BrickDevice",
                self.brick_device.clone(),
                new.brick_device.clone(),
            ),
            (
                "ExtraBrickDevices",
                list(&self.extra_brick_devices),
                list(&new.extra_brick_devices),
            ),
            (
                "ZapDevice",
                self.zap_device.enabled().to_string(),
                new.zap_device.enabled().to_string(),
            ),
            ("PeerList", peers(self), peers(new)),
            (
                "Zone",
                self.zone.clone().unwrap_or_default(),
                new.zone.clone().unwrap_or_default(),
            ),
        ];
        fields
            .into_iter()
            .filter(|(_, a, b)| a != b)
            .map(|(field, from, to)| FieldChange { field, from, to })
            .collect()
    }

    /// The address glusterd binds to, without the prefix.
    pub fn ip(&self) -> IpAddr {
        self.ip_address.addr()
    }

    /// All brick devices with their mount points, brick 1 first.
    pub fn bricks(&self) -> Vec<(String, String)> {
        std::iter::once(&self.brick_device)
            .chain(&self.extra_brick_devices)
            .enumerate()
            .map(|(i, dev)| (dev.clone(), brick_mount_point(i)))
            .collect()
    }

    /// The store key of this host's config.
    pub fn key(&self) -> String {
        crate::keys::config_key(&self.host_name)
    }

    /// Builds a config in code (the lab does) and renders its JSON in the seed's layout.
    pub fn build(spec: HostSpec) -> Self {
        let mut doc = Map::new();
        doc.insert("HostName".into(), Value::String(spec.host_name.clone()));
        doc.insert(
            "GlusterNodeName".into(),
            Value::String(spec.gluster_node_name.clone()),
        );
        doc.insert(
            "IPAddress".into(),
            Value::String(spec.ip_address.to_string()),
        );
        doc.insert(
            "BrickDevice".into(),
            Value::String(spec.brick_device.clone()),
        );
        doc.insert("ZapDevice".into(), spec.zap_device.to_value());
        let peers = spec
            .peers
            .iter()
            .map(|ip| {
                let mut peer = Map::new();
                peer.insert("IP".into(), Value::String(ip.to_string()));
                Value::Object(peer)
            })
            .collect();
        doc.insert("PeerList".into(), Value::Array(peers));
        if let Some(zone) = &spec.zone {
            doc.insert("Zone".into(), Value::String(zone.clone()));
        }
        if !spec.extra_brick_devices.is_empty() {
            doc.insert(
                "ExtraBrickDevices".into(),
                Value::Array(
                    spec.extra_brick_devices
                        .iter()
                        .cloned()
                        .map(Value::String)
                        .collect(),
                ),
            );
        }
        let mut raw = serde_json::to_vec_pretty(&Value::Object(doc))
            .expect("a map of strings always serialises");
        raw.push(b'\n');
        Self {
            host_name: spec.host_name,
            gluster_node_name: spec.gluster_node_name,
            ip_address: spec.ip_address,
            brick_device: spec.brick_device,
            extra_brick_devices: spec.extra_brick_devices,
            zap_device: spec.zap_device,
            peers: spec.peers,
            zone: spec.zone,
            raw,
        }
    }
}

/// The fields of a config built in code, see [`HostConfig::build`].
#[derive(Debug, Clone)]
pub struct HostSpec {
    /// `HostName`.
    pub host_name: String,
    /// `GlusterNodeName`.
    pub gluster_node_name: String,
    /// `IPAddress`.
    pub ip_address: IpNet,
    /// `BrickDevice`.
    pub brick_device: String,
    /// `ExtraBrickDevices`.
    pub extra_brick_devices: Vec<String>,
    /// `ZapDevice`.
    pub zap_device: ZapDevice,
    /// `PeerList`.
    pub peers: Vec<IpAddr>,
    /// `Zone`.
    pub zone: Option<String>,
}

/// Parses and checks one config document on its own. `source` names it in findings (a file
/// path or a store key). Returns the config when it has no errors, and every finding.
pub fn parse_host_config(source: &str, bytes: &[u8]) -> (Option<HostConfig>, Report) {
    let mut report = Report::default();
    let doc: Value = match serde_json::from_slice(bytes) {
        Ok(doc) => doc,
        Err(e) => {
            report.push(Issue::error(
                source,
                "",
                "",
                format!(
                    "not valid JSON at line {} column {}: {}",
                    e.line(),
                    e.column(),
                    json_problem(&e)
                ),
                "fix the syntax; the file must hold one JSON object like the examples in examples/",
            ));
            return (None, report);
        }
    };
    let Value::Object(obj) = doc else {
        report.push(Issue::error(
            source,
            "",
            short(&doc),
            format!("the document is a JSON {}, not an object", kind(&doc)),
            "write one object: { \"HostName\": ..., \"IPAddress\": ..., ... }",
        ));
        return (None, report);
    };
    let mut p = Parser {
        source,
        obj: &obj,
        report: &mut report,
    };
    let host_name = p.hostname("HostName");
    let gluster_node_name = p.hostname("GlusterNodeName");
    let ip_address = p.ip_address();
    let brick_device = p.device("BrickDevice", p.obj.get("BrickDevice"), true);
    let extra_brick_devices = p.extra_devices();
    p.devices_once(brick_device.as_deref(), &extra_brick_devices);
    let zap_device = p.zap();
    let peers = p.peers(ip_address.map(|n| n.addr()));
    let zone = p.zone();
    p.unknown_fields();
    if report.has_errors() {
        return (None, report);
    }
    let (
        Some(host_name),
        Some(gluster_node_name),
        Some(ip_address),
        Some(brick_device),
        Some(zap_device),
    ) = (
        host_name,
        gluster_node_name,
        ip_address,
        brick_device,
        zap_device,
    )
    else {
        // Every `None` above pushed an error, so this is unreachable in practice; keep a
        // finding rather than a panic in case a branch ever forgets to.
        report.push(Issue::error(
            source,
            "",
            "",
            "incomplete config",
            "compare it with examples/",
        ));
        return (None, report);
    };
    let config = HostConfig {
        host_name,
        gluster_node_name,
        ip_address,
        brick_device,
        extra_brick_devices,
        zap_device,
        peers,
        zone,
        raw: bytes.to_vec(),
    };
    (Some(config), report)
}

struct Parser<'a> {
    source: &'a str,
    obj: &'a Map<String, Value>,
    report: &'a mut Report,
}

impl Parser<'_> {
    fn error(
        &mut self,
        field: &str,
        value: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) {
        self.report
            .push(Issue::error(self.source, field, value, problem, fix));
    }

    fn required_str(&mut self, field: &str, example: &str) -> Option<String> {
        match self.obj.get(field) {
            None => {
                self.error(
                    field,
                    "",
                    "is missing",
                    format!("add \"{field}\": {example}"),
                );
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                let shown = short(other);
                let k = kind(other);
                self.error(
                    field,
                    &shown,
                    format!("is a JSON {k}, not a string"),
                    format!("write it as a string, e.g. \"{field}\": {example}"),
                );
                None
            }
        }
    }

    fn hostname(&mut self, field: &str) -> Option<String> {
        let example = if field == "HostName" {
            "\"atomic-1\""
        } else {
            "\"gluster-1\""
        };
        let value = self.required_str(field, example)?;
        match check_hostname("name", &value) {
            Ok(()) => Some(value),
            Err(e) => {
                self.error(
                    field,
                    &quote(&value),
                    format!("is not a valid host name: it {}", e.problem),
                    e.fix,
                );
                None
            }
        }
    }

    fn ip_address(&mut self) -> Option<IpNet> {
        let field = "IPAddress";
        let value = self.required_str(field, "\"10.1.1.1/24\"")?;
        let net = match IpNet::from_str(&value) {
            Ok(net) => net,
            Err(_) => {
                if let Ok(ip) = IpAddr::from_str(&value) {
                    let prefix = if ip.is_ipv4() { 24 } else { 64 };
                    self.error(
                        field,
                        &quote(&value),
                        "has no prefix length",
                        format!("write ADDRESS/PREFIX, e.g. \"{ip}/{prefix}\""),
                    );
                } else {
                    self.error(
                        field,
                        &quote(&value),
                        "is not an IPv4 or IPv6 address with a prefix length",
                        "write ADDRESS/PREFIX, e.g. \"10.1.1.1/24\" or \"fd00::1/64\"",
                    );
                }
                return None;
            }
        };
        let ip = net.addr();
        let bad_kind = if ip.is_loopback() {
            Some("a loopback address, which gluster refuses for bricks")
        } else if ip.is_unspecified() {
            Some("the unspecified address")
        } else if ip.is_multicast() {
            Some("a multicast address")
        } else if let IpAddr::V4(v4) = ip {
            if v4.is_broadcast() {
                Some("the broadcast address")
            } else if net.prefix_len() < 31 && ip == net.network() {
                Some("the network address of its subnet")
            } else if net.prefix_len() < 31 && ip == net.broadcast() {
                Some("the broadcast address of its subnet")
            } else {
                None
            }
        } else {
            None
        };
        if let Some(what) = bad_kind {
            self.error(
                field,
                &quote(&value),
                format!("is {what}"),
                "use the host's own unicast address on the storage network",
            );
            return None;
        }
        Some(net)
    }

    fn device(&mut self, field: &str, value: Option<&Value>, required: bool) -> Option<String> {
        let value = match value {
            None if required => {
                self.error(
                    field,
                    "",
                    "is missing",
                    format!("add \"{field}\": \"/dev/sdb\" (the disk that will hold the brick)"),
                );
                return None;
            }
            None => return None,
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                self.error(
                    field,
                    &short(other),
                    format!("is a JSON {}, not a string", kind(other)),
                    "write the device path as a string, e.g. \"/dev/sdb\"",
                );
                return None;
            }
        };
        match check_abs_path(&value) {
            Ok(()) if value == "/" => {
                self.error(
                    field,
                    &quote(&value),
                    "is the root directory, not a device",
                    "name the block device, e.g. \"/dev/sdb\"",
                );
                None
            }
            Ok(()) => Some(value),
            Err(e) => {
                self.error(
                    field,
                    &quote(&value),
                    e.to_string(),
                    "name the block device by its absolute path, e.g. \"/dev/sdb\" or \"/dev/disk/by-id/...\"",
                );
                None
            }
        }
    }

    fn extra_devices(&mut self) -> Vec<String> {
        let field = "ExtraBrickDevices";
        match self.obj.get(field) {
            None => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| self.device(&format!("{field}[{i}]"), Some(item), true))
                .collect(),
            Some(other) => {
                self.error(
                    field,
                    &short(other),
                    format!("is a JSON {}, not an array", kind(other)),
                    "write a list of device paths, e.g. [\"/dev/sdc\", \"/dev/sdd\"]",
                );
                Vec::new()
            }
        }
    }

    /// Every brick device once: two bricks on one disk would format it twice.
    fn devices_once(&mut self, brick: Option<&str>, extra: &[String]) {
        let mut seen: Vec<(&str, String)> = brick
            .map(|b| (b, "BrickDevice".to_owned()))
            .into_iter()
            .collect();
        for (i, d) in extra.iter().enumerate() {
            let field = format!("ExtraBrickDevices[{i}]");
            if let Some((_, first)) = seen.iter().find(|(s, _)| *s == d) {
                let first = first.clone();
                self.error(
                    &field,
                    &quote(d),
                    format!("is the same device as {first}"),
                    "list each disk once; a brick device serves one brick",
                );
            } else {
                seen.push((d, field));
            }
        }
    }

    fn zap(&mut self) -> Option<ZapDevice> {
        let field = "ZapDevice";
        match self.obj.get(field) {
            None => Some(ZapDevice::default()),
            Some(Value::Bool(b)) => Some(ZapDevice::Bool(*b)),
            Some(Value::String(s)) if s == "true" => Some(ZapDevice::Text(true)),
            Some(Value::String(s)) if s == "false" => Some(ZapDevice::Text(false)),
            Some(other) => {
                self.error(
                    field,
                    &short(other),
                    "is neither true nor false",
                    "write \"true\" to allow wiping the brick device, or \"false\" (the default) to refuse a device that holds data",
                );
                None
            }
        }
    }

    fn peers(&mut self, own_ip: Option<IpAddr>) -> Vec<IpAddr> {
        let field = "PeerList";
        let items = match self.obj.get(field) {
            None => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.error(
                    field,
                    &short(other),
                    format!("is a JSON {}, not an array", kind(other)),
                    "write a list like [ { \"IP\": \"10.1.1.2\" } ]",
                );
                return Vec::new();
            }
        };
        let mut peers: Vec<IpAddr> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = format!("{field}[{i}]");
            let Value::Object(entry) = item else {
                self.error(
                    &at,
                    &short(item),
                    format!("is a JSON {}, not an object", kind(item)),
                    "write each peer as { \"IP\": \"10.1.1.2\" }",
                );
                continue;
            };
            let at_ip = format!("{at}.IP");
            let raw = match entry.get("IP") {
                Some(Value::String(s)) => s,
                None => {
                    self.error(
                        &at_ip,
                        "",
                        "is missing",
                        "write each peer as { \"IP\": \"10.1.1.2\" }",
                    );
                    continue;
                }
                Some(other) => {
                    self.error(
                        &at_ip,
                        &short(other),
                        format!("is a JSON {}, not a string", kind(other)),
                        "write the peer's address as a string, e.g. \"10.1.1.2\"",
                    );
                    continue;
                }
            };
            let ip = match IpAddr::from_str(raw) {
                Ok(ip) => ip,
                Err(_) => {
                    let fix = match IpNet::from_str(raw) {
                        Ok(net) => {
                            format!("write the address without a prefix: \"{}\"", net.addr())
                        }
                        Err(_) => {
                            "write the peer's IPAddress without its prefix, e.g. \"10.1.1.2\""
                                .into()
                        }
                    };
                    self.error(&at_ip, &quote(raw), "is not an IP address", fix);
                    continue;
                }
            };
            if Some(ip) == own_ip {
                self.error(
                    &at_ip,
                    &quote(raw),
                    "is this host's own IPAddress: a host never lists itself",
                    "remove this entry; PeerList names the other hosts only",
                );
                continue;
            }
            if peers.contains(&ip) {
                self.error(
                    &at_ip,
                    &quote(raw),
                    "is listed twice",
                    "remove the duplicate entry",
                );
                continue;
            }
            peers.push(ip);
        }
        peers
    }

    fn zone(&mut self) -> Option<String> {
        let field = "Zone";
        match self.obj.get(field) {
            None => None,
            Some(Value::String(s)) => match check_zone(s) {
                Ok(()) => Some(s.clone()),
                Err(e) => {
                    self.error(
                        field,
                        &quote(s),
                        format!("is not a valid zone: it {}", e.problem),
                        e.fix,
                    );
                    None
                }
            },
            Some(other) => {
                self.error(
                    field,
                    &short(other),
                    format!("is a JSON {}, not a string", kind(other)),
                    "write the zone as a string, e.g. \"rack-1\"",
                );
                None
            }
        }
    }

    /// Unknown fields are kept, but one that differs from a known field only by case is
    /// almost certainly a typo that would otherwise be silently ignored.
    fn unknown_fields(&mut self) {
        for key in self.obj.keys() {
            if KNOWN_FIELDS.contains(&key.as_str()) {
                continue;
            }
            if let Some(known) = KNOWN_FIELDS.iter().find(|k| k.eq_ignore_ascii_case(key)) {
                self.report.push(Issue::warning(
                    self.source,
                    key,
                    short(&self.obj[key]),
                    "is not a field brickyard knows, and is ignored (kept as is)",
                    format!("did you mean \"{known}\"? Field names are case-sensitive"),
                ));
            }
        }
    }
}

fn quote(s: &str) -> String {
    Value::String(s.to_owned()).to_string()
}

/// A value as JSON, cut short so that one finding stays on one line.
fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        let cut: String = s.chars().take(57).collect();
        format!("{cut}...")
    } else {
        s
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn json_problem(e: &serde_json::Error) -> String {
    // serde_json appends " at line L column C" itself; we already say where.
    let msg = e.to_string();
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_owned(),
        None => msg,
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;

    /// Any JSON value, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(|n| json!(n)),
            ".{0,24}".prop_map(Value::String),
            "(/dev/[a-z]{1,4}|10\\.1\\.1\\.[0-9]{1,3}(/[0-9]{1,2})?|true|false)"
                .prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::btree_map("[A-Za-z]{1,6}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_bytes_give_a_config_or_findings_never_a_panic(
            bytes in prop::collection::vec(any::<u8>(), 0..400)
        ) {
            let (config, report) = parse_host_config("f.json", &bytes);
            prop_assert!(config.is_some() != report.has_errors());
        }

        #[test]
        fn any_values_of_the_known_fields_are_checked(
            fields in prop::collection::btree_map(
                prop::sample::select(KNOWN_FIELDS.to_vec()),
                any_json(),
                0..KNOWN_FIELDS.len(),
            )
        ) {
            let doc = Value::Object(fields.into_iter().map(|(k, v)| (k.to_owned(), v)).collect());
            let bytes = serde_json::to_vec(&doc).expect("serialise");
            let (config, report) = parse_host_config("f.json", &bytes);
            match config {
                None => prop_assert!(report.has_errors()),
                Some(c) => {
                    // What passed is what the rules allow.
                    prop_assert!(crate::names::check_hostname("h", &c.host_name).is_ok());
                    for (device, _) in c.bricks() {
                        prop_assert!(crate::names::check_abs_path(&device).is_ok());
                    }
                    prop_assert!(!c.peers.contains(&c.ip()));
                }
            }
        }
    }
}
