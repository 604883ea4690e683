//! The lab network: subnet choice (pure), and the bridge, namespaces and veths (`ip`).
//!
//! Addresses are only ever added to the lab's bridge and inside its namespaces, and no route
//! is added: the hosts reach the bridge's subnet and nothing else.

use std::net::Ipv4Addr;
use std::time::Duration;

use brickyard_exec::{Cmd, output, run};
use brickyard_sys::ip::{self, Interface, Route};
use ipnet::{IpNet, Ipv4Net};

use crate::LabError;
use crate::names::LabName;

const IP_TIMEOUT: Duration = Duration::from_secs(15);

fn ip(args: &[&str]) -> Cmd {
    Cmd::new(std::iter::once("ip").chain(args.iter().copied())).timeout(IP_TIMEOUT)
}

async fn ip_run(what: &str, args: &[&str]) -> Result<(), LabError> {
    run(&ip(args))
        .await
        .map(drop)
        .map_err(|e| LabError::cmd(what, e))
}

/// The IPv4 networks in use: routes' destinations and the networks of addresses; the
/// default route is skipped, it overlaps everything by design.
pub fn taken(routes: &[Route], interfaces: &[Interface]) -> Vec<Ipv4Net> {
    let mut out = Vec::new();
    for r in routes {
        if let Some(IpNet::V4(net)) = r.network() {
            out.push(net);
        }
    }
    for i in interfaces {
        for a in &i.addrs {
            if let IpNet::V4(net) = a {
                out.push(net.trunc());
            }
        }
    }
    out
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

/// The first of `10.250.K.0/24` that overlaps nothing taken, starting at a K derived from the
/// lab's name so that a lab gets the same subnet each time when it can.
pub fn choose_subnet(name: &LabName, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    // FNV-1a: stable across builds and platforms, unlike std's hasher.
    let mut h: u32 = 0x811c_9dc5;
    for b in name.as_str().bytes() {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    let start = h % 256;
    (0..256u32)
        .map(|i| (start + i) % 256)
        .filter_map(|k| Ipv4Net::new(Ipv4Addr::new(10, 250, u8::try_from(k).ok()?, 0), 24).ok())
        .find(|net| !taken.iter().any(|t| overlaps(net, t)))
}

/// Checks a subnet given with `--subnet` for `hosts` hosts.
pub fn check_subnet(subnet: Ipv4Net, hosts: usize, taken: &[Ipv4Net]) -> Result<(), LabError> {
    let bad = |problem: String, fix: &str| LabError::BadOption {
        option: "--subnet",
        value: subnet.to_string(),
        problem,
        fix: fix.to_owned(),
    };
    if subnet != subnet.trunc() {
        return Err(bad(
            format!("has host bits set (the network is {})", subnet.trunc()),
            "give the network address",
        ));
    }
    // Network and broadcast addresses, the machine's address, then one per host.
    let room = 1u64 << (32 - u32::from(subnet.prefix_len()));
    if room < hosts as u64 + 3 {
        return Err(bad(
            format!("has room for fewer than {hosts} hosts and the machine"),
            "use a larger subnet, e.g. a /24",
        ));
    }
    if let Some(t) = taken.iter().find(|t| overlaps(&subnet, t)) {
        return Err(bad(
            format!("overlaps {t}, already routed on this machine"),
            "leave --subnet out to get a free one, or pick a private range that is not in `ip route`",
        ));
    }
    Ok(())
}

/// The machine's address in the subnet: the first one.
pub fn machine_ip(subnet: Ipv4Net) -> Ipv4Addr {
    nth(subnet, 1)
}

/// Host `index`'s address: right after the machine's.
pub fn host_ip(subnet: Ipv4Net, index: usize) -> Ipv4Addr {
    nth(subnet, 1 + index as u32)
}

fn nth(subnet: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(subnet.network()).saturating_add(n))
}

/// The networks already in use on the machine. An error when `ip` cannot be asked or
/// answers something unreadable: a lab must never pick a subnet because it could not look.
pub async fn taken_networks() -> Result<Vec<Ipv4Net>, LabError> {
    let routes = ip::routes("-4", true)
        .await
        .map_err(|e| LabError::observe("the machine's routes", e))?;
    let interfaces = ip::interfaces()
        .await
        .map_err(|e| LabError::observe("the machine's addresses", e))?;
    Ok(taken(&routes, &interfaces))
}

/// Names of the machine's network interfaces.
pub async fn links() -> Result<Vec<String>, LabError> {
    ip::links()
        .await
        .map_err(|e| LabError::observe("the network interfaces", e))
}

/// Names of the machine's named network namespaces.
pub async fn netns_list() -> Result<Vec<String>, LabError> {
    ip::netns()
        .await
        .map_err(|e| LabError::observe("the network namespaces", e))
}

/// Makes the bridge with the machine's address on it.
pub async fn create_bridge(
    bridge: &str,
    machine: Ipv4Addr,
    subnet: Ipv4Net,
) -> Result<(), LabError> {
    let what = format!("create bridge {bridge}");
    ip_run(&what, &["link", "add", bridge, "type", "bridge"]).await?;
    let addr = format!("{machine}/{}", subnet.prefix_len());
    ip_run(&what, &["addr", "add", &addr, "dev", bridge]).await?;
    ip_run(&what, &["link", "set", bridge, "up"]).await
}

/// Makes host `netns` with `eth0` on the bridge at `addr`, and loopback up.
pub async fn create_host_net(
    bridge: &str,
    netns: &str,
    addr: Ipv4Addr,
    subnet: Ipv4Net,
) -> Result<(), LabError> {
    let what = format!("create network namespace {netns}");
    ip_run(&what, &["netns", "add", netns]).await?;
    // The peer is made directly inside the namespace, so `eth0` never exists on the machine.
    ip_run(
        &what,
        &[
            "link", "add", netns, "type", "veth", "peer", "name", "eth0", "netns", netns,
        ],
    )
    .await?;
    ip_run(&what, &["link", "set", netns, "master", bridge, "up"]).await?;
    let cidr = format!("{addr}/{}", subnet.prefix_len());
    ip_run(&what, &["-n", netns, "addr", "add", &cidr, "dev", "eth0"]).await?;
    ip_run(&what, &["-n", netns, "link", "set", "eth0", "up"]).await?;
    ip_run(&what, &["-n", netns, "link", "set", "lo", "up"]).await
}

/// Removes a network namespace; fine when it is gone already.
pub async fn delete_netns(netns: &str) -> Result<(), LabError> {
    let out = output(&ip(&["netns", "delete", netns]))
        .await
        .map_err(|e| LabError::cmd(format!("delete network namespace {netns}"), e))?;
    if out.success() || !netns_list().await?.iter().any(|n| n == netns) {
        return Ok(());
    }
    Err(LabError::cmd(
        format!("delete network namespace {netns}"),
        brickyard_exec::ExecError::Failed {
            cmd: format!("ip netns delete {netns}"),
            code: out.code,
            stdout: out.stdout_str(),
            stderr: out.stderr_str(),
        },
    ))
}

/// Removes a network interface; fine when it is gone already.
pub async fn delete_link(name: &str) -> Result<(), LabError> {
    let out = output(&ip(&["link", "delete", name]))
        .await
        .map_err(|e| LabError::cmd(format!("delete interface {name}"), e))?;
    if out.success() || !links().await?.iter().any(|n| n == name) {
        return Ok(());
    }
    Err(LabError::cmd(
        format!("delete interface {name}"),
        brickyard_exec::ExecError::Failed {
            cmd: format!("ip link delete {name}"),
            code: out.code,
            stdout: out.stdout_str(),
            stderr: out.stderr_str(),
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().expect("valid network")
    }

    #[test]
    fn reads_routes_and_addresses_but_not_the_default_route() {
        let routes = br#"[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"},
            {"dst":"192.0.2.0/24","dev":"eth0"},{"type":"local","dst":"127.0.0.1","dev":"lo"}]"#;
        let addrs = br#"[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
            {"ifname":"eth0","addr_info":[{"family":"inet","local":"10.250.7.9","prefixlen":16}]}]"#;
        let routes = ip::parse_routes(routes).expect("routes");
        let interfaces = ip::parse_addr(addrs).expect("addresses");
        assert_eq!(
            taken(&routes, &interfaces),
            vec![
                net("192.0.2.0/24"),
                net("127.0.0.1/32"),
                net("127.0.0.0/8"),
                net("10.250.0.0/16")
            ]
        );
    }

    #[test]
    fn chooses_a_stable_free_subnet() {
        let name: LabName = "lab".parse().expect("valid");
        let first = choose_subnet(&name, &[]).expect("a free subnet");
        assert_eq!(choose_subnet(&name, &[]), Some(first));
        let next = choose_subnet(&name, &[first]).expect("another free subnet");
        assert_ne!(next, first);
        assert!(choose_subnet(&name, &[net("10.250.0.0/16")]).is_none());
        assert!(choose_subnet(&name, &[net("10.0.0.0/8")]).is_none());
    }

    #[test]
    fn checks_a_given_subnet() {
        let taken = [net("192.0.2.0/24")];
        assert!(check_subnet(net("10.9.0.0/24"), 3, &taken).is_ok());
        assert!(check_subnet(net("10.9.0.0/29"), 5, &taken).is_ok());
        for (subnet, hosts, why) in [
            ("10.9.0.0/29", 6, "room"),
            ("10.9.0.1/24", 3, "host bits"),
            ("192.0.2.128/25", 3, "overlaps"),
        ] {
            let err = check_subnet(net(subnet), hosts, &taken)
                .expect_err(subnet)
                .to_string();
            assert!(err.contains(why) && err.contains("--subnet"), "{err}");
        }
    }

    #[test]
    fn numbers_the_machine_then_the_hosts() {
        let subnet = net("10.250.3.0/24");
        assert_eq!(machine_ip(subnet), Ipv4Addr::new(10, 250, 3, 1));
        assert_eq!(host_ip(subnet, 1), Ipv4Addr::new(10, 250, 3, 2));
        assert_eq!(host_ip(subnet, 3), Ipv4Addr::new(10, 250, 3, 4));
    }
}
