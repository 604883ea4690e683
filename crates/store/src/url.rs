//! Store URLs: `file:///abs/dir` and `etcd://host:port[,host:port...]`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

use crate::{EtcdOptions, EtcdStore, FileStore, Store, StoreError};

/// The store used when none is given: the embedded file store in this directory.
pub const DEFAULT_STORE_URL: &str = "file:///var/lib/brickyard/store";

/// Where the store is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded file store in an absolute directory.
    File(PathBuf),
    /// etcd v3 at these `host:port` endpoints.
    Etcd(Vec<String>),
}

impl FromStr for StoreUrl {
    type Err = StoreError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| StoreError::BadUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(bad(
                    "a file store needs an absolute directory: file:///var/lib/brickyard/store (three slashes)",
                ));
            }
            if path.split('/').any(|p| p == "..") {
                return Err(bad("the directory must not contain '..'"));
            }
            return Ok(Self::File(PathBuf::from(path)));
        }
        if let Some(rest) = url.strip_prefix("etcd://") {
            let rest = rest.trim_end_matches('/');
            if rest.is_empty() {
                return Err(bad(
                    "no endpoint: write etcd://HOST:PORT, e.g. etcd://127.0.0.1:2379",
                ));
            }
            let mut endpoints = Vec::new();
            for ep in rest.split(',') {
                endpoints.push(parse_endpoint(ep).map_err(|r| bad(&r))?);
            }
            return Ok(Self::Etcd(endpoints));
        }
        Err(bad(
            "unknown scheme: use file:///ABSOLUTE/DIR for the embedded store or etcd://HOST:PORT[,HOST:PORT...] for etcd",
        ))
    }
}

/// Checks `host[:port]` (IPv6 in brackets) and adds etcd's default port 2379 when missing.
fn parse_endpoint(ep: &str) -> Result<String, String> {
    let (host, port) = if let Some(rest) = ep.strip_prefix('[') {
        let (h, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("endpoint {ep:?} has '[' without ']'"))?;
        h.parse::<std::net::Ipv6Addr>()
            .map_err(|_| format!("endpoint {ep:?}: {h:?} is not an IPv6 address"))?;
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("endpoint {ep:?}: expected ':PORT' after ']'")),
        };
        (format!("[{h}]"), port)
    } else {
        let (h, p) = match ep.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (ep, None),
        };
        if h.parse::<std::net::Ipv4Addr>().is_err() {
            brickyard_model::names::check_hostname("etcd host", h).map_err(|e| e.to_string())?;
        }
        (h.to_owned(), p)
    };
    let port = match port {
        None => 2379,
        Some(p) => p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
            format!("endpoint {ep:?}: port {p:?} is not a number from 1 to 65535")
        })?,
    };
    Ok(format!("{host}:{port}"))
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(dir) => write!(f, "file://{}", dir.display()),
            Self::Etcd(eps) => write!(f, "etcd://{}", eps.join(",")),
        }
    }
}

/// Opens the store at `url`. `etcd` carries TLS, credentials and timeouts for an etcd URL
/// (its endpoints are taken from the URL).
pub async fn open(url: &StoreUrl, etcd: &EtcdOptions) -> Result<Arc<dyn Store>, StoreError> {
    match url {
        StoreUrl::File(dir) => Ok(Arc::new(FileStore::open(dir)?)),
        StoreUrl::Etcd(endpoints) => {
            let opts = EtcdOptions {
                endpoints: endpoints.clone(),
                ..etcd.clone()
            };
            Ok(Arc::new(EtcdStore::connect(opts).await?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            "file:///var/lib/brickyard/store".parse::<StoreUrl>().ok(),
            Some(StoreUrl::File("/var/lib/brickyard/store".into()))
        );
        assert_eq!(
            "etcd://127.0.0.1:2379,kube:2380".parse::<StoreUrl>().ok(),
            Some(StoreUrl::Etcd(vec![
                "127.0.0.1:2379".into(),
                "kube:2380".into()
            ]))
        );
        assert_eq!(
            "etcd://kubernetes".parse::<StoreUrl>().ok(),
            Some(StoreUrl::Etcd(vec!["kubernetes:2379".into()]))
        );
        assert_eq!(
            "etcd://[::1]:2379".parse::<StoreUrl>().ok(),
            Some(StoreUrl::Etcd(vec!["[::1]:2379".into()]))
        );
        for bad in [
            "file://relative/dir",
            "file:///a/../b",
            "etcd://",
            "etcd://host:99999",
            "etcd://host:0",
            "etcd://ho st:1",
            "etcd://[::1",
            "http://x",
            "/var/lib",
        ] {
            assert!(bad.parse::<StoreUrl>().is_err(), "{bad}");
        }
    }
}
