//! How to run etcd itself as a member of a small cluster (one member by default), for the
//! lab and for tests: the command line only; running it is the caller's.

use std::path::PathBuf;

/// An etcd member.
#[derive(Debug, Clone)]
pub struct EtcdMember {
    /// The member's name.
    pub name: String,
    /// Its data directory.
    pub data_dir: PathBuf,
    /// The client URL it advertises, e.g. `http://10.250.1.1:2379`.
    pub client_url: String,
    /// More client URLs it listens on besides `client_url` (e.g. a loopback one).
    pub more_client_urls: Vec<String>,
    /// Its peer URL.
    pub peer_url: String,
    /// Every member of the cluster as (name, peer URL), this one included; empty for a
    /// cluster of this member alone.
    pub initial_cluster: Vec<(String, String)>,
}

impl EtcdMember {
    fn cluster(&self) -> String {
        if self.initial_cluster.is_empty() {
            return format!("{}={}", self.name, self.peer_url);
        }
        self.initial_cluster
            .iter()
            .map(|(n, u)| format!("{n}={u}"))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The argv that starts it, beginning with `etcd`.
    pub fn argv(&self) -> Vec<String> {
        let listen: Vec<&str> = std::iter::once(self.client_url.as_str())
            .chain(self.more_client_urls.iter().map(String::as_str))
            .collect();
        [
            "etcd",
            "--name",
            &self.name,
            "--data-dir",
            &self.data_dir.display().to_string(),
            "--listen-client-urls",
            &listen.join(","),
            "--advertise-client-urls",
            &self.client_url,
            "--listen-peer-urls",
            &self.peer_url,
            "--initial-advertise-peer-urls",
            &self.peer_url,
            "--initial-cluster",
            &self.cluster(),
            "--initial-cluster-state",
            "new",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_member_listens_where_it_advertises_and_on_more() {
        let m = EtcdMember {
            name: "m".into(),
            data_dir: "/d".into(),
            client_url: "http://10.0.0.1:2379".into(),
            more_client_urls: vec!["http://127.0.0.1:5000".into()],
            peer_url: "http://10.0.0.1:2380".into(),
            initial_cluster: Vec::new(),
        };
        let argv = m.argv().join(" ");
        assert!(argv.contains("--listen-client-urls http://10.0.0.1:2379,http://127.0.0.1:5000"));
        assert!(argv.contains("--initial-cluster m=http://10.0.0.1:2380 "));
        let three = EtcdMember {
            initial_cluster: vec![
                ("m".into(), "http://10.0.0.1:2380".into()),
                ("n".into(), "http://10.0.0.1:2382".into()),
            ],
            ..m
        };
        assert!(
            three
                .argv()
                .join(" ")
                .contains("--initial-cluster m=http://10.0.0.1:2380,n=http://10.0.0.1:2382 ")
        );
    }
}
