//! Checks across all hosts of a cluster: names and addresses unique, peers known, subnets.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use ipnet::IpNet;

use crate::host::HostConfig;
use crate::issue::{Issue, Report};

/// A config and where it came from (a file path, or a store key).
#[derive(Debug, Clone)]
pub struct Sourced {
    /// Where the config came from, used in findings.
    pub source: String,
    /// The config.
    pub config: HostConfig,
}

/// Checks `incoming` configs (about to be loaded) against each other and against `existing`
/// ones (already in the store). An incoming config replaces an existing one of the same
/// `HostName`; two incoming configs with one `HostName` are an error.
pub fn validate_cluster(incoming: &[Sourced], existing: &[Sourced]) -> Report {
    let mut report = Report::default();

    // Two files for one host in a single load.
    let mut first_by_name: HashMap<&str, &str> = HashMap::new();
    for s in incoming {
        if let Some(first) = first_by_name.insert(&s.config.host_name, &s.source) {
            report.push(Issue::error(
                &s.source,
                "HostName",
                quote(&s.config.host_name),
                format!("is also the HostName of {first}"),
                "give every host its own HostName, or load only one of the two files",
            ));
            first_by_name.insert(&s.config.host_name, first);
        }
    }

    // The cluster as it will be after the load.
    let mut cluster: Vec<(&Sourced, bool)> = existing
        .iter()
        .filter(|e| !first_by_name.contains_key(e.config.host_name.as_str()))
        .map(|e| (e, false))
        .collect();
    let mut seen_incoming: HashMap<&str, ()> = HashMap::new();
    for s in incoming {
        if seen_incoming.insert(&s.config.host_name, ()).is_none() {
            cluster.push((s, true));
        }
    }

    unique(&mut report, &cluster, "GlusterNodeName", |c| {
        quote(&c.gluster_node_name)
    });
    unique(&mut report, &cluster, "IPAddress", |c| c.ip().to_string());

    // Peers must be hosts we know of.
    let known: HashMap<IpAddr, &str> = cluster
        .iter()
        .map(|(s, _)| (s.config.ip(), s.config.host_name.as_str()))
        .collect();
    for (s, is_new) in &cluster {
        if !is_new {
            continue;
        }
        for (i, peer) in s.config.peers.iter().enumerate() {
            if !known.contains_key(peer) {
                report.push(Issue::warning(
                    &s.source,
                    &format!("PeerList[{i}].IP"),
                    quote(&peer.to_string()),
                    "is not the IPAddress of any host loaded so far",
                    "load that host's config too (or fix the address); the pool waits for it",
                ));
            }
        }
    }

    // Subnets: every host should share the storage network.
    let mut by_net: BTreeMap<IpNet, Vec<&str>> = BTreeMap::new();
    for (s, _) in &cluster {
        by_net
            .entry(s.config.ip_address.trunc())
            .or_default()
            .push(&s.config.host_name);
    }
    if by_net.len() > 1 {
        let (main_net, main_hosts) = by_net
            .iter()
            .max_by_key(|(net, hosts)| (hosts.len(), std::cmp::Reverse(**net)))
            .map(|(n, h)| (*n, h.len()))
            .expect("by_net has more than one entry");
        for (s, is_new) in &cluster {
            let net = s.config.ip_address.trunc();
            if *is_new && net != main_net {
                report.push(Issue::warning(
                    &s.source,
                    "IPAddress",
                    quote(&s.config.ip_address.to_string()),
                    format!(
                        "is in subnet {net}, while {main_hosts} host(s) are in {main_net}"
                    ),
                    "put every storage host on one subnet, or make sure the subnets are routed to each other",
                ));
            }
        }
    }
    report
}

fn unique(
    report: &mut Report,
    cluster: &[(&Sourced, bool)],
    field: &str,
    value: impl Fn(&HostConfig) -> String,
) {
    let mut first: HashMap<String, &Sourced> = HashMap::new();
    // Existing configs first, so a clash is reported on the incoming file.
    let ordered = cluster
        .iter()
        .filter(|(_, new)| !new)
        .chain(cluster.iter().filter(|(_, new)| *new));
    for (s, is_new) in ordered {
        let v = value(&s.config);
        match first.get(&v) {
            Some(other) => {
                let problem = format!(
                    "is also the {field} of host {} ({})",
                    other.config.host_name, other.source
                );
                let fix = format!("give every host its own {field}");
                report.push(if *is_new {
                    Issue::error(&s.source, field, v, problem, fix)
                } else {
                    Issue::warning(&s.source, field, v, problem, fix)
                });
            }
            None => {
                first.insert(v, s);
            }
        }
    }
}

fn quote(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
