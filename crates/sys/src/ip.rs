//! Typed readers of `ip -j` (iproute2's JSON) output, and the commands that produce it.
//!
//! Output that does not parse is an error, never an empty list: "could not ask" must not
//! read as "no addresses" (an agent would then call its address missing) or "no networks"
//! (a lab would pick a subnet already in use).

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use brickyard_exec::{Cmd, ExecError, run};
use ipnet::IpNet;
use serde::Deserialize;

use crate::ParseError;

const IP_TIMEOUT: Duration = Duration::from_secs(15);

/// One network interface and its addresses.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Interface {
    /// The interface's name, e.g. `eth0`.
    pub name: String,
    /// Its addresses with their prefix lengths.
    pub addrs: Vec<IpNet>,
}

/// One route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The destination: `default`, a network (`10.0.0.0/24`) or an address (`10.0.0.1`).
    pub dst: String,
    /// The interface, when the route names one.
    pub dev: Option<String>,
}

impl Route {
    /// The destination as a network, when it is one (an address is a /32 or /128).
    pub fn network(&self) -> Option<IpNet> {
        IpNet::from_str(&self.dst)
            .ok()
            .or_else(|| IpAddr::from_str(&self.dst).ok().map(IpNet::from))
    }
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

#[derive(Deserialize)]
struct IpRoute {
    dst: Option<String>,
    dev: Option<String>,
}

#[derive(Deserialize)]
struct IpNetns {
    name: String,
}

fn json<'a, T: Deserialize<'a>>(tool: &str, bytes: &'a [u8]) -> Result<T, ParseError> {
    serde_json::from_slice(bytes).map_err(|e| ParseError::new(format!("the output of `{tool}`"), e))
}

/// Parses `ip -j addr`: every interface with its addresses.
pub fn parse_addr(bytes: &[u8]) -> Result<Vec<Interface>, ParseError> {
    let links: Vec<IpLink> = json("ip -j addr", bytes)?;
    links
        .into_iter()
        .map(|link| {
            let addrs = link
                .addr_info
                .iter()
                .filter_map(|a| Some((a.local.as_deref()?, a.prefixlen?)))
                .map(|(local, prefix)| {
                    IpNet::from_str(&format!("{local}/{prefix}")).map_err(|e| {
                        ParseError::new(
                            "the output of `ip -j addr`",
                            format!("address {local}/{prefix} on {}: {e}", link.ifname),
                        )
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

/// Parses `ip -j route` (either family).
pub fn parse_routes(bytes: &[u8]) -> Result<Vec<Route>, ParseError> {
    let routes: Vec<IpRoute> = json("ip -j route", bytes)?;
    Ok(routes
        .into_iter()
        .filter_map(|r| {
            Some(Route {
                dst: r.dst?,
                dev: r.dev,
            })
        })
        .collect())
}

/// Parses `ip -j link`: the interfaces' names.
pub fn parse_links(bytes: &[u8]) -> Result<Vec<String>, ParseError> {
    let links: Vec<IpLink> = json("ip -j link", bytes)?;
    Ok(links.into_iter().map(|l| l.ifname).collect())
}

/// Parses `ip -j netns list`, which prints nothing at all when there are none.
pub fn parse_netns(bytes: &[u8]) -> Result<Vec<String>, ParseError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Vec::new());
    }
    let list: Vec<IpNetns> = json("ip -j netns list", bytes)?;
    Ok(list.into_iter().map(|n| n.name).collect())
}

/// The interfaces holding a default route.
pub fn default_route_interfaces(routes: &[Route]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for r in routes {
        if r.dst == "default"
            && let Some(dev) = &r.dev
            && !out.contains(dev)
        {
            out.push(dev.clone());
        }
    }
    out
}

/// Why asking `ip` failed.
#[derive(Debug, thiserror::Error)]
pub enum IpError {
    /// The command failed.
    #[error("{0}")]
    Exec(#[from] ExecError),
    /// Its output did not parse.
    #[error("{0}")]
    Parse(#[from] ParseError),
}

async fn ip(args: &[&str]) -> Result<Vec<u8>, ExecError> {
    let mut argv = vec!["ip"];
    argv.extend_from_slice(args);
    Ok(run(&Cmd::new(argv).timeout(IP_TIMEOUT)).await?.stdout)
}

/// This network namespace's interfaces and addresses (`ip -j addr show`).
pub async fn interfaces() -> Result<Vec<Interface>, IpError> {
    Ok(parse_addr(&ip(&["-j", "addr", "show"]).await?)?)
}

/// Every address of this network namespace.
pub async fn addresses() -> Result<Vec<IpAddr>, IpError> {
    Ok(interfaces()
        .await?
        .into_iter()
        .flat_map(|i| i.addrs.into_iter().map(|a| a.addr()))
        .collect())
}

/// This network namespace's routes of `family` (`-4` or `-6`), in every table with `all`.
pub async fn routes(family: &str, all_tables: bool) -> Result<Vec<Route>, IpError> {
    let mut args = vec!["-j", family, "route", "show"];
    if all_tables {
        args.extend(["table", "all"]);
    }
    Ok(parse_routes(&ip(&args).await?)?)
}

/// The names of this network namespace's interfaces.
pub async fn links() -> Result<Vec<String>, IpError> {
    Ok(parse_links(&ip(&["-j", "link", "show"]).await?)?)
}

/// The named network namespaces (`ip netns`).
pub async fn netns() -> Result<Vec<String>, IpError> {
    Ok(parse_netns(&ip(&["-j", "netns", "list"]).await?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ADDR: &str = r#"[{"ifindex":1,"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8}]},
{"ifindex":2,"ifname":"eth0","addr_info":[{"family":"inet","local":"10.250.1.2","prefixlen":24},{"family":"inet6","local":"fe80::1","prefixlen":64}]},
{"ifindex":3,"ifname":"veth0","addr_info":[]}]"#;

    #[test]
    fn reads_addresses_routes_links_and_namespaces() {
        let ifs = parse_addr(ADDR.as_bytes()).expect("parses");
        assert_eq!(ifs[1].name, "eth0");
        assert_eq!(ifs[1].addrs[0].to_string(), "10.250.1.2/24");
        assert_eq!(ifs[1].addrs.len(), 2);
        assert!(ifs[2].addrs.is_empty());
        let routes = parse_routes(
            br#"[{"dst":"default","gateway":"10.0.0.1","dev":"eth0"},{"dst":"10.250.3.0/24","dev":"byl-x"},{"dst":"10.9.9.9","dev":"eth0"}]"#,
        )
        .expect("parses");
        assert_eq!(default_route_interfaces(&routes), vec!["eth0"]);
        assert_eq!(routes[0].network(), None);
        assert_eq!(
            routes[1].network().map(|n| n.to_string()).as_deref(),
            Some("10.250.3.0/24")
        );
        assert_eq!(
            routes[2].network().map(|n| n.to_string()).as_deref(),
            Some("10.9.9.9/32")
        );
        assert_eq!(
            parse_links(ADDR.as_bytes()).expect("parses"),
            vec!["lo", "eth0", "veth0"]
        );
        assert_eq!(parse_netns(b"").expect("nothing"), Vec::<String>::new());
        assert_eq!(
            parse_netns(br#"[{"name":"byl-a-1","id":0}]"#).expect("parses"),
            vec!["byl-a-1"]
        );
    }

    #[test]
    fn output_that_does_not_parse_is_an_error_not_nothing() {
        for bad in [
            &b"not json"[..],
            b"{}",
            br#"[{"ifname":"x","addr_info":[{"local":"nope","prefixlen":8}]}]"#,
        ] {
            assert!(parse_addr(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert!(parse_routes(b"[1]").is_err());
        assert!(parse_netns(b"garbage").is_err());
    }

    fn fixture(name: &str) -> Vec<u8> {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name);
        std::fs::read(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
    }

    fn defaults(name: &str) -> Vec<String> {
        default_route_interfaces(&parse_routes(&fixture(name)).expect("parses"))
    }

    #[test]
    fn ip_addr_of_this_machine_and_a_namespace() {
        let host = parse_addr(&fixture("ip-addr-host.json")).expect("parses");
        let eth0 = host.iter().find(|i| i.name == "eth0").expect("eth0 listed");
        assert!(eth0.addrs.contains(&"192.0.2.2/24".parse().expect("net")));
        assert!(eth0.addrs.contains(&"fd00::2/64".parse().expect("net")));
        let lo = host.iter().find(|i| i.name == "lo").expect("lo listed");
        assert!(lo.addrs.contains(&"127.0.0.1/8".parse().expect("net")));
        let ns = parse_addr(&fixture("ip-addr-netns.json")).expect("parses");
        let v0 = ns.iter().find(|i| i.name == "v0").expect("v0 listed");
        assert_eq!(v0.addrs.len(), 3, "{v0:?}");
        let down = parse_addr(&fixture("ip-addr-lo-down.json")).expect("parses");
        assert_eq!(down.len(), 1);
        assert!(down[0].addrs.is_empty());
    }

    #[test]
    fn default_routes() {
        assert_eq!(defaults("ip-route-host.json"), ["eth0"]);
        assert_eq!(defaults("ip-route6-host.json"), ["eth0"]);
        assert_eq!(defaults("ip-route-netns.json"), ["v0"]);
        assert_eq!(defaults("ip-route-netns-default.json"), ["v0"]);
        assert!(defaults("ip-route-none.json").is_empty());
    }

    proptest::proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            let _ = parse_addr(&bytes);
            let _ = parse_routes(&bytes);
            let _ = parse_links(&bytes);
            let _ = parse_netns(&bytes);
        }
    }
}
