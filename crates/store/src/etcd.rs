//! The etcd v3 store.
//!
//! Keys and values go to etcd unchanged, so `etcdctl get gluster/config/atomic-1` prints the
//! JSON exactly as it was loaded, as in the seed.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use async_trait::async_trait;
use etcd_client::{
    Certificate, Client, Compare, CompareOp, ConnectOptions, EventType, GetOptions, Identity,
    PutOptions, TlsOptions, TxnOp, WatchOptions,
};
use tokio::sync::mpsc;

use crate::{
    Entry, Expect, LeaseId, Op, Store, StoreError, Timeouts, Txn, Watch, WatchEvent, check_key,
    check_prefix,
};

/// How to reach etcd.
#[derive(Debug, Clone, Default)]
pub struct EtcdOptions {
    /// `host:port` of each member.
    pub endpoints: Vec<String>,
    /// CA certificate (PEM) that signed the servers' certificates; enables TLS.
    pub ca: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    pub cert: Option<PathBuf>,
    /// Client key (PEM) for mutual TLS.
    pub key: Option<PathBuf>,
    /// User name for etcd's authentication.
    pub user: Option<String>,
    /// Password for `user`.
    pub password: Option<String>,
    /// Connection and request timeouts.
    pub timeouts: Timeouts,
}

/// A store in etcd v3. Cheap to clone.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    endpoint: String,
    /// How many endpoints (members) the client balances over.
    members: usize,
    timeouts: Timeouts,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

const HINT: &str = "check that etcd is running there and reachable from this host (etcdctl --endpoints=... endpoint health), and the --store URL";

/// Whether a request failed before it reached any member: its connection was refused or
/// could not be made.
fn not_sent(e: &etcd_client::Error) -> bool {
    use etcd_client::Error as E;
    match e {
        E::TransportError(_) | E::IoError(_) => true,
        E::GRpcStatus(s) => {
            let text = root_cause(s);
            s.code() == tonic_code::UNAVAILABLE
                && (text.contains("Connection refused")
                    || text.contains("error trying to connect")
                    || text.contains("tcp connect error"))
        }
        _ => false,
    }
}

impl EtcdStore {
    /// Connects to etcd. Connections are made lazily; the first request tells whether the
    /// store is reachable, within the request timeout.
    pub async fn connect(opts: EtcdOptions) -> Result<Self, StoreError> {
        let tls = opts.ca.is_some() || opts.cert.is_some();
        let scheme = if tls { "https" } else { "http" };
        let endpoint = format!("etcd://{}", opts.endpoints.join(","));
        let urls: Vec<String> = opts
            .endpoints
            .iter()
            .map(|e| format!("{scheme}://{e}"))
            .collect();
        let mut co = ConnectOptions::new()
            .with_connect_timeout(opts.timeouts.connect)
            .with_timeout(opts.timeouts.request)
            .with_keep_alive(Duration::from_secs(10), Duration::from_secs(5));
        if let Some(user) = &opts.user {
            co = co.with_user(user.clone(), opts.password.clone().unwrap_or_default());
        }
        if tls {
            let mut t = TlsOptions::new();
            if let Some(ca) = &opts.ca {
                let pem = read_pem(ca, "CA certificate")?;
                t = t.ca_certificate(Certificate::from_pem(pem));
            }
            match (&opts.cert, &opts.key) {
                (Some(cert), Some(key)) => {
                    let cert = read_pem(cert, "client certificate")?;
                    let key = read_pem(key, "client key")?;
                    t = t.identity(Identity::from_pem(cert, key));
                }
                (None, None) => {}
                _ => {
                    return Err(StoreError::BadUrl {
                        url: endpoint,
                        reason: "a client certificate needs its key and the key its certificate; give both --etcd-cert and --etcd-key".into(),
                    });
                }
            }
            co = co.with_tls(t);
        }
        let connect = Client::connect(urls, Some(co));
        let client = match tokio::time::timeout(opts.timeouts.connect, connect).await {
            Ok(Ok(c)) => c,
            Ok(Err(e)) => {
                return Err(StoreError::Unreachable {
                    endpoint,
                    reason: e.to_string(),
                    hint: HINT.into(),
                });
            }
            Err(_) => {
                return Err(StoreError::Unreachable {
                    endpoint,
                    reason: format!(
                        "no connection within {}s",
                        opts.timeouts.connect.as_secs_f32()
                    ),
                    hint: HINT.into(),
                });
            }
        };
        Ok(Self {
            client,
            endpoint,
            members: opts.endpoints.len(),
            timeouts: opts.timeouts,
        })
    }

    /// Runs one request within the request timeout, mapping failures to store errors.
    ///
    /// With several endpoints, a request that could not reach one (its connection refused
    /// or broken before the request went out) is sent again, to be balanced to another:
    /// etcd's client keeps a member that is down among the candidates, so without this a
    /// cluster with one member down would fail a share of all requests. Requests are
    /// resent only when they never reached a member, so a commit is never applied twice.
    async fn call<T, F, Fut>(&self, op: &'static str, key: &str, mut f: F) -> Result<T, StoreError>
    where
        F: FnMut(Client) -> Fut,
        Fut: Future<Output = Result<T, etcd_client::Error>>,
    {
        // The client's own timeout covers a request on an open connection; this one also
        // covers connection set-up, which the client may retry for longer.
        let limit = self.timeouts.request + self.timeouts.connect;
        let deadline = tokio::time::Instant::now() + limit;
        let attempts = if self.members > 1 {
            4 * self.members
        } else {
            1
        };
        let timed_out = || StoreError::Unreachable {
            endpoint: self.endpoint.clone(),
            reason: format!("{op} {key:?} got no answer within {}s", limit.as_secs()),
            hint: HINT.into(),
        };
        let mut last = None;
        for _ in 0..attempts {
            match tokio::time::timeout_at(deadline, f(self.client.clone())).await {
                Ok(Ok(v)) => return Ok(v),
                Ok(Err(e)) if not_sent(&e) => last = Some(self.map_err(op, key, e)),
                Ok(Err(e)) => return Err(self.map_err(op, key, e)),
                Err(_) => return Err(timed_out()),
            }
        }
        Err(last.unwrap_or_else(timed_out))
    }

    fn map_err(&self, op: &'static str, key: &str, e: etcd_client::Error) -> StoreError {
        use etcd_client::Error as E;
        let unreachable = match &e {
            E::TransportError(_) | E::IoError(_) => true,
            E::GRpcStatus(s) => matches!(
                s.code(),
                tonic_code::UNAVAILABLE | tonic_code::DEADLINE_EXCEEDED | tonic_code::CANCELLED
            ),
            _ => false,
        };
        if unreachable {
            StoreError::Unreachable {
                endpoint: self.endpoint.clone(),
                reason: match &e {
                    E::GRpcStatus(status) => root_cause(status),
                    other => root_cause(other),
                },
                hint: HINT.into(),
            }
        } else {
            StoreError::Backend {
                endpoint: self.endpoint.clone(),
                op,
                key: key.to_owned(),
                reason: error_chain(&e),
            }
        }
    }
}

/// gRPC codes we map to "unreachable"; named here to keep the match readable.
mod tonic_code {
    pub const CANCELLED: tonic::Code = tonic::Code::Cancelled;
    pub const DEADLINE_EXCEEDED: tonic::Code = tonic::Code::DeadlineExceeded;
    pub const UNAVAILABLE: tonic::Code = tonic::Code::Unavailable;
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(inner) = cur {
        let msg = inner.to_string();
        if !s.contains(&msg) {
            s.push_str(": ");
            s.push_str(&msg);
        }
        cur = inner.source();
    }
    s
}

/// The innermost cause, which for a connection failure is the readable part
/// ("Connection refused (os error 111)") under layers of transport wrapping.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(inner) = cur.source() {
        cur = inner;
    }
    match e {
        _ if std::ptr::addr_eq(cur, e) => e.to_string(),
        _ => cur.to_string(),
    }
}

fn read_pem(path: &PathBuf, what: &str) -> Result<Vec<u8>, StoreError> {
    std::fs::read(path).map_err(|e| StoreError::BadUrl {
        url: path.display().to_string(),
        reason: format!("cannot read the etcd {what}: {e}"),
    })
}

fn to_entry(kv: &etcd_client::KeyValue) -> Entry {
    Entry {
        key: String::from_utf8_lossy(kv.key()).into_owned(),
        value: kv.value().to_vec(),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
        lease: (kv.lease() != 0).then_some(LeaseId(kv.lease())),
    }
}

#[async_trait]
impl Store for EtcdStore {
    fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    async fn get(&self, key: &str) -> Result<Option<Entry>, StoreError> {
        check_key(key)?;
        let resp = self
            .call("get", key, |mut c| async move { c.get(key, None).await })
            .await?;
        Ok(resp.kvs().first().map(to_entry))
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Entry>, StoreError> {
        check_prefix(prefix)?;
        let opts = if prefix.is_empty() {
            GetOptions::new().with_all_keys()
        } else {
            GetOptions::new().with_prefix()
        };
        let resp = self
            .call("list", prefix, |mut c| {
                let opts = opts.clone();
                async move { c.get(prefix, Some(opts)).await }
            })
            .await?;
        let mut out: Vec<Entry> = resp.kvs().iter().map(to_entry).collect();
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    async fn commit(&self, txn: Txn) -> Result<bool, StoreError> {
        let mut compares = Vec::new();
        for (key, expect) in &txn.guards {
            check_key(key)?;
            compares.push(match expect {
                Expect::Absent => Compare::create_revision(key.as_str(), CompareOp::Equal, 0),
                Expect::ModRevision(r) => Compare::mod_revision(key.as_str(), CompareOp::Equal, *r),
            });
        }
        let mut ops = Vec::new();
        let mut first_key = String::new();
        for op in &txn.ops {
            match op {
                Op::Put { key, value, lease } => {
                    check_key(key)?;
                    let opts = lease.map(|l| PutOptions::new().with_lease(l.0));
                    ops.push(TxnOp::put(key.as_str(), value.clone(), opts));
                    if first_key.is_empty() {
                        first_key.clone_from(key);
                    }
                }
                Op::Delete { key } => {
                    check_key(key)?;
                    ops.push(TxnOp::delete(key.as_str(), None));
                    if first_key.is_empty() {
                        first_key.clone_from(key);
                    }
                }
            }
        }
        let lease = txn.ops.iter().find_map(|op| match op {
            Op::Put { lease, .. } => *lease,
            Op::Delete { .. } => None,
        });
        let t = etcd_client::Txn::new().when(compares).and_then(ops);
        let sent = self
            .call("commit", &first_key, |mut c| {
                let t = t.clone();
                async move { c.txn(t).await }
            })
            .await;
        match sent {
            Ok(resp) => Ok(resp.succeeded()),
            Err(StoreError::Backend { reason, .. })
                if lease.is_some() && reason.contains("requested lease not found") =>
            {
                Err(StoreError::LeaseGone(lease.expect("checked above")))
            }
            Err(e) => Err(e),
        }
    }

    async fn grant_lease(&self, ttl: Duration) -> Result<LeaseId, StoreError> {
        let secs = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        let resp = self
            .call("grant lease", "", |mut c| async move {
                c.lease_grant(secs, None).await
            })
            .await?;
        Ok(LeaseId(resp.id()))
    }

    async fn keep_alive(&self, lease: LeaseId) -> Result<(), StoreError> {
        let key = lease.to_string();
        let renewed = async {
            let (mut keeper, mut stream) = self
                .call("keep lease alive", &key, |mut c| async move {
                    c.lease_keep_alive(lease.0).await
                })
                .await?;
            let limit = self.timeouts.request + self.timeouts.connect;
            let once = async {
                keeper.keep_alive().await?;
                stream.message().await
            };
            match tokio::time::timeout(limit, once).await {
                Ok(r) => r.map_err(|e| self.map_err("keep lease alive", &key, e)),
                Err(_) => Err(StoreError::Unreachable {
                    endpoint: self.endpoint.clone(),
                    reason: format!("keep lease alive got no answer within {}s", limit.as_secs()),
                    hint: HINT.into(),
                }),
            }
        };
        match renewed.await {
            Ok(Some(resp)) if resp.ttl() > 0 => Ok(()),
            Ok(_) => Err(StoreError::LeaseGone(lease)),
            Err(StoreError::Backend { reason, .. }) if reason.contains("lease not found") => {
                Err(StoreError::LeaseGone(lease))
            }
            Err(e) => Err(e),
        }
    }

    async fn revoke_lease(&self, lease: LeaseId) -> Result<(), StoreError> {
        match self
            .call("revoke lease", &lease.to_string(), |mut c| async move {
                c.lease_revoke(lease.0).await
            })
            .await
        {
            Ok(_) => Ok(()),
            // Revoking a lease that already expired is not a failure: the goal is reached.
            Err(StoreError::Backend { reason, .. }) if reason.contains("lease not found") => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn watch(&self, prefix: &str) -> Result<Watch, StoreError> {
        check_prefix(prefix)?;
        let opts = if prefix.is_empty() {
            WatchOptions::new().with_all_keys()
        } else {
            WatchOptions::new().with_prefix()
        };
        let mut stream = self
            .call("watch", prefix, |mut c| {
                let opts = opts.clone();
                async move { c.watch(prefix, Some(opts)).await }
            })
            .await?;
        let (tx, rx) = mpsc::channel(256);
        let me = self.clone();
        let prefix = prefix.to_owned();
        let task = tokio::spawn(async move {
            loop {
                let msg = match stream.message().await {
                    Ok(Some(m)) => m,
                    Ok(None) => return,
                    Err(e) => {
                        let _ = tx.send(Err(me.map_err("watch", &prefix, e))).await;
                        return;
                    }
                };
                for ev in msg.events() {
                    let Some(kv) = ev.kv() else { continue };
                    let out = match ev.event_type() {
                        EventType::Put => WatchEvent::Put(to_entry(kv)),
                        EventType::Delete => WatchEvent::Delete {
                            key: String::from_utf8_lossy(kv.key()).into_owned(),
                        },
                    };
                    if tx.send(Ok(out)).await.is_err() {
                        return;
                    }
                }
            }
        });
        Ok(Watch { rx, task })
    }
}
