//! `brickyard kube`: Kubernetes manifests for this cluster, on stdout or one file per object.
//!
//! The manifests are built by `brickyard-kube` from plain values; this module gathers those
//! values (flags, the host configs in the store) and writes the result. Nothing is sent to
//! Kubernetes: pipe the output to `kubectl apply -f -`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use brickyard_kube::csi::{self, CsiSpec};
use brickyard_kube::nodes::{self, Layout, NodesSpec};
use brickyard_kube::static_pv::{self, KnownVolume, ReclaimPolicy, StaticPvSpec};
use brickyard_kube::{Bundle, KubeVersion, Quantity, StoreSettings};
use brickyard_model::HostConfig;
use brickyard_store::StoreUrl;
use brickyard_store::configs;
use clap::{Args, Subcommand, ValueEnum};

use crate::globals::Globals;

/// `brickyard kube ...`
#[derive(Debug, Subcommand)]
pub enum KubeCommand {
    /// The objects that run `brickyard node run` on every storage host: a DaemonSet over
    /// nodes labelled brickyard.io/storage-host=true (default), or one pod per host.
    Nodes(NodesArgs),
    /// The in-tree GlusterFS chain for one volume (Endpoints, Service, PersistentVolume,
    /// PersistentVolumeClaim, an example Deployment), for Kubernetes 1.25 and older.
    StaticPv(StaticPvArgs),
    /// The deployment bundle of brickyard's CSI driver (CSIDriver, controller, node plugin,
    /// StorageClasses, RBAC), for Kubernetes 1.26 and newer: its pods run `brickyard csi
    /// controller` and `brickyard csi node`.
    Csi(CsiArgs),
}

/// Where the manifests go.
#[derive(Debug, Args)]
pub struct OutputArgs {
    /// Write one file per object (NN-kind-name.yaml) into DIR instead of one YAML stream on
    /// stdout.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
}

/// Image, namespace and store access of brickyard's own pods.
#[derive(Debug, Args)]
pub struct PodArgs {
    /// The brickyard image the pods run.
    #[arg(long, value_name = "IMAGE", default_value_t = brickyard_kube::default_image())]
    image: String,
    /// The namespace of brickyard's pods.
    #[arg(long, value_name = "NS", default_value = brickyard_kube::DEFAULT_NAMESPACE)]
    namespace: String,
    /// A Secret (in that namespace) holding ca.crt, tls.crt and tls.key for etcd's TLS; it
    /// is mounted into the pods and passed as BRICKYARD_ETCD_CA/CERT/KEY.
    #[arg(long, value_name = "NAME")]
    etcd_secret: Option<String>,
}

/// Arguments of `kube nodes`.
#[derive(Debug, Args)]
pub struct NodesArgs {
    #[command(flatten)]
    pod: PodArgs,
    /// One pod per host, pinned to it by name (as in the seed), instead of a DaemonSet.
    #[arg(long)]
    per_host: bool,
    #[command(flatten)]
    output: OutputArgs,
}

/// The access modes offered, spelled as in Kubernetes (hence the common prefix).
#[derive(Debug, Clone, Copy, ValueEnum)]
#[allow(clippy::enum_variant_names)]
enum AccessModeArg {
    /// Read-write from many nodes.
    #[value(name = "ReadWriteMany", alias = "RWX")]
    ReadWriteMany,
    /// Read-write from one node.
    #[value(name = "ReadWriteOnce", alias = "RWO")]
    ReadWriteOnce,
    /// Read-only from many nodes.
    #[value(name = "ReadOnlyMany", alias = "ROX")]
    ReadOnlyMany,
}

impl From<AccessModeArg> for static_pv::AccessMode {
    fn from(a: AccessModeArg) -> Self {
        match a {
            AccessModeArg::ReadWriteMany => Self::ReadWriteMany,
            AccessModeArg::ReadWriteOnce => Self::ReadWriteOnce,
            AccessModeArg::ReadOnlyMany => Self::ReadOnlyMany,
        }
    }
}

/// Arguments of `kube static-pv`.
#[derive(Debug, Args)]
pub struct StaticPvArgs {
    /// The GlusterFS volume to expose.
    #[arg(long, value_name = "NAME")]
    volume: String,
    /// The size the PersistentVolume offers and the claim requests, as a Kubernetes
    /// quantity: 500M, 10Gi, 1.5Ti.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    size: Quantity,
    /// The storage hosts' addresses, for a GlusterFS cluster brickyard does not manage
    /// (default: every host config in the store).
    #[arg(long, value_name = "IP,IP...", value_delimiter = ',')]
    hosts: Vec<IpAddr>,
    /// How pods may mount the volume.
    #[arg(long, value_enum, default_value_t = AccessModeArg::ReadWriteMany)]
    access_mode: AccessModeArg,
    /// The claim's name (default: the volume's name).
    #[arg(long, value_name = "NAME")]
    claim: Option<String>,
    /// The namespace of the claim, the Endpoints and Service, and the example.
    #[arg(long, value_name = "NS", default_value = "default")]
    namespace: String,
    /// What happens to the volume when the claim is deleted: Retain or Delete. Recycle is
    /// not offered (deprecated, never supported by the glusterfs plugin).
    #[arg(long, value_name = "POLICY", default_value = "Retain", value_parser = parse_reclaim)]
    reclaim: ReclaimPolicy,
    /// The group that may write into the volume (see docs/kubernetes.md).
    #[arg(long, value_name = "GID", default_value_t = static_pv::DEFAULT_GID, allow_negative_numbers = true)]
    fs_group: i64,
    /// The cluster's Kubernetes version (MAJOR.MINOR); 1.26 and newer are refused, as
    /// they no longer have the in-tree glusterfs plugin.
    #[arg(long, value_name = "X.Y", value_parser = parse_version)]
    kube_version: Option<KubeVersion>,
    #[command(flatten)]
    output: OutputArgs,
}

/// Arguments of `kube csi`.
#[derive(Debug, Args)]
pub struct CsiArgs {
    #[command(flatten)]
    pod: PodArgs,
    /// The volume the brickyard-subdir StorageClass carves subdirectories from.
    #[arg(long, value_name = "NAME", default_value = brickyard_model::records::claim::params::DEFAULT_SHARED_VOLUME)]
    shared_volume: String,
    #[command(flatten)]
    output: OutputArgs,
}

fn parse_size(s: &str) -> Result<Quantity, String> {
    brickyard_kube::parse_quantity("--size", s).map_err(|e| e.to_string())
}

fn parse_reclaim(s: &str) -> Result<ReclaimPolicy, String> {
    s.parse()
        .map_err(|e: brickyard_kube::KubeError| e.to_string())
}

fn parse_version(s: &str) -> Result<KubeVersion, String> {
    s.parse()
        .map_err(|e: brickyard_kube::KubeError| e.to_string())
}

/// Runs a `kube` subcommand.
pub async fn run(g: &Globals, cmd: KubeCommand) -> Result<()> {
    match cmd {
        KubeCommand::Nodes(a) => nodes_cmd(g, a).await,
        KubeCommand::StaticPv(a) => static_pv_cmd(g, a).await,
        KubeCommand::Csi(a) => csi_cmd(g, a),
    }
}

/// The store as brickyard's pods should reach it: the URL in force here, and the TLS Secret.
fn store_settings(g: &Globals, pod: &PodArgs) -> Result<(StoreSettings, Vec<String>)> {
    let url = g.store_url()?;
    let file_dir = match &url {
        StoreUrl::File(dir) => Some(dir.display().to_string()),
        StoreUrl::Etcd(_) => None,
    };
    let mut notes = Vec::new();
    if pod.etcd_secret.is_none() && (g.etcd_ca.is_some() || g.etcd_cert.is_some()) {
        notes.push(
            "the store uses TLS here, but no --etcd-secret was given: the pods will connect without TLS; \
             create a Secret with ca.crt, tls.crt and tls.key and pass --etcd-secret NAME"
                .to_owned(),
        );
    }
    if g.etcd_user.is_some() {
        notes.push(
            "etcd user and password are not passed to the pods; give them BRICKYARD_ETCD_USER and \
             BRICKYARD_ETCD_PASSWORD from a Secret"
                .to_owned(),
        );
    }
    Ok((
        StoreSettings {
            url: url.to_string(),
            file_dir,
            etcd_tls_secret: pod.etcd_secret.clone(),
        },
        notes,
    ))
}

/// Every host config in the store; an invalid one stops the command rather than leaving a
/// host out of the manifests unnoticed.
async fn stored_hosts(g: &Globals) -> Result<Vec<HostConfig>> {
    let store = g.open_store().await?;
    let stored = configs::list(store.as_ref())
        .await
        .context("read the host configs")?;
    let mut hosts = Vec::new();
    for s in stored {
        match s.parsed {
            Ok(c) => hosts.push(c),
            Err(report) => {
                let first = report
                    .errors()
                    .next()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                bail!(
                    "host config {} in {} is invalid ({first}); fix it and load it again with `brickyard config load`",
                    s.entry.key,
                    store.endpoint()
                );
            }
        }
    }
    if hosts.is_empty() {
        bail!(
            "no host configs in {}; load them with `brickyard config load FILE...`{}",
            store.endpoint(),
            if g.store.is_none() {
                " (or point --store at the cluster's store)"
            } else {
                ""
            }
        );
    }
    Ok(hosts)
}

async fn nodes_cmd(g: &Globals, a: NodesArgs) -> Result<()> {
    let (store, mut notes) = store_settings(g, &a.pod)?;
    let hosts = stored_hosts(g).await?;
    let bundle = nodes::bundle(
        &hosts,
        &NodesSpec {
            image: a.pod.image,
            namespace: a.pod.namespace,
            layout: if a.per_host {
                Layout::PodPerHost
            } else {
                Layout::DaemonSet
            },
            store,
        },
    )?;
    notes.extend(bundle.notes.iter().cloned());
    emit(&bundle, &notes, &a.output)
}

async fn static_pv_cmd(g: &Globals, a: StaticPvArgs) -> Result<()> {
    // Checked before it becomes part of a store key.
    brickyard_model::names::check_volume_name(&a.volume)
        .map_err(|e| anyhow::anyhow!("--volume {:?} {}; {}", a.volume, e.problem, e.fix))?;
    let (hosts, known) = if a.hosts.is_empty() {
        let hosts: Vec<IpAddr> = stored_hosts(g).await?.iter().map(HostConfig::ip).collect();
        (hosts, managed_volume(g, &a.volume).await?)
    } else {
        // A cluster brickyard does not manage: nothing in the store to check against.
        (a.hosts, None)
    };
    let bundle = static_pv::bundle(&StaticPvSpec {
        volume: a.volume,
        size: a.size,
        hosts,
        access_mode: a.access_mode.into(),
        claim: a.claim,
        namespace: a.namespace,
        reclaim: a.reclaim,
        fs_group: a.fs_group,
        kube_version: a.kube_version,
        known,
    })?;
    emit(&bundle, &bundle.notes, &a.output)
}

/// A managed volume (one with a record at `gluster/volumes/NAME`) and what it can hold, from
/// the brick filesystem sizes its hosts' agents report; `None` for a volume made by hand,
/// which is allowed and reported as unchecked.
async fn managed_volume(g: &Globals, volume: &str) -> Result<Option<KnownVolume>> {
    let store = g.open_store().await?;
    match brickyard_volumes::get(store.as_ref(), volume).await {
        Ok(_) => {}
        Err(brickyard_volumes::VolumeError::NotFound { .. }) => return Ok(None),
        Err(e) => {
            return Err(anyhow::Error::new(e)
                .context(format!("read volume {volume} from {}", store.endpoint())));
        }
    }
    let size_bytes = brickyard_volumes::capacity(store.as_ref(), volume)
        .await
        .with_context(|| format!("size volume {volume} from {}", store.endpoint()))?;
    Ok(Some(KnownVolume {
        name: volume.to_owned(),
        size_bytes: size_bytes.map(u128::from),
    }))
}

fn csi_cmd(g: &Globals, a: CsiArgs) -> Result<()> {
    let (store, mut notes) = store_settings(g, &a.pod)?;
    let bundle = csi::bundle(&CsiSpec {
        image: a.pod.image,
        namespace: a.pod.namespace,
        store,
        shared_volume: a.shared_volume,
    })?;
    notes.extend(bundle.notes.iter().cloned());
    emit(&bundle, &notes, &a.output)
}

/// Prints the notes on stderr, then the manifests on stdout or into the directory.
fn emit(bundle: &Bundle, notes: &[String], out: &OutputArgs) -> Result<()> {
    for note in notes {
        eprintln!("note: {note}");
    }
    match &out.out_dir {
        None => {
            use std::io::Write as _;
            let yaml = bundle.to_yaml_stream()?;
            std::io::stdout()
                .lock()
                .write_all(yaml.as_bytes())
                .context("write the manifests to stdout")
        }
        Some(dir) => write_dir(bundle, dir),
    }
}

/// Writes one file per object. Refuses a directory that holds other manifests, since
/// `kubectl apply -f DIR` would apply those too.
fn write_dir(bundle: &Bundle, dir: &Path) -> Result<()> {
    let files = bundle.to_files()?;
    std::fs::create_dir_all(dir).with_context(|| format!("create --out-dir {}", dir.display()))?;
    let ours: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    let mut others: Vec<String> = std::fs::read_dir(dir)
        .with_context(|| format!("read --out-dir {}", dir.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| {
            (n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json"))
                && !ours.contains(&n.as_str())
        })
        .collect();
    if !others.is_empty() {
        others.sort();
        bail!(
            "--out-dir {} already holds other manifests ({}), which `kubectl apply -f` would apply too; use an empty directory or remove them",
            dir.display(),
            others.join(", ")
        );
    }
    for (name, content) in &files {
        let path = dir.join(name);
        std::fs::write(&path, content).with_context(|| format!("write {}", path.display()))?;
    }
    eprintln!("wrote {} file(s) to {}", files.len(), dir.display());
    Ok(())
}
