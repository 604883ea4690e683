//! `brickyard csi`: the CSI driver's services, and the claims they keep.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail};
use brickyard_csi::proto::controller_server::ControllerServer;
use brickyard_csi::proto::identity_server::IdentityServer;
use brickyard_csi::proto::node_server::NodeServer;
use brickyard_csi::{Endpoint, controller::Controller, identity::Identity, node::Node};
use brickyard_model::records::claim::ClaimState;
use brickyard_volumes::claims::{self, Deleted};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::globals::Globals;
use crate::output::{OutputFormat, print_json, table};

/// The node plugin's state directory when none is given: under kubelet's plugin directory,
/// which the bundle's DaemonSet shares with the host (so the volume mounts outlive the
/// plugin's container).
const NODE_STATE_DIR: &str = "/var/lib/kubelet/plugins/glusterfs.brickyard.io";

/// `brickyard csi …`.
#[derive(Debug, Subcommand)]
pub enum CsiCommand {
    /// Serve the CSI Identity and Controller services (CreateVolume, DeleteVolume,
    /// ControllerExpandVolume, …): claims are written to the store and carried out by the
    /// node agents. Runs unprivileged; needs only the store.
    Controller(ControllerArgs),
    /// Serve the CSI Identity and Node services on a Kubernetes node: mounts the claims'
    /// volumes (FUSE) and bind-mounts them into pods. Needs root and /dev/fuse.
    Node(NodeArgs),
    /// List the claims the driver made, with what the agents report.
    List(ListArgs),
    /// Remove an archived claim's data for good (a claim whose class says onDelete: archive
    /// is kept after Kubernetes deletes it).
    Purge(PurgeArgs),
    /// Remove a claim's records from the store, leaving its data where it is.
    Forget(ForgetArgs),
}

/// Where the services listen.
#[derive(Debug, Args)]
pub struct EndpointArg {
    /// The unix socket to serve on: unix:///path/csi.sock (created with mode 0600).
    #[arg(long, value_name = "URL")]
    endpoint: String,
}

/// Arguments of `csi controller`.
#[derive(Debug, Args)]
pub struct ControllerArgs {
    #[command(flatten)]
    endpoint: EndpointArg,
    /// How long a call waits for the agents before answering DEADLINE_EXCEEDED (the
    /// provisioner repeats it, and the repetition waits again).
    #[arg(long, value_name = "SECONDS", default_value_t = 100)]
    wait: u64,
}

/// Arguments of `csi node`.
#[derive(Debug, Args)]
pub struct NodeArgs {
    #[command(flatten)]
    endpoint: EndpointArg,
    /// This node's name, as Kubernetes knows it.
    #[arg(long, value_name = "NAME")]
    node_id: String,
    /// Where the node keeps one mount per volume (`<DIR>/volumes/<VOLUME>`).
    #[arg(long, value_name = "DIR", default_value = NODE_STATE_DIR)]
    state_dir: PathBuf,
}

/// Arguments of `csi list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `csi purge`.
#[derive(Debug, Args)]
pub struct PurgeArgs {
    /// The claim's id (`csi list` shows them).
    id: String,
    /// Seconds to wait for the agents.
    #[arg(long, value_name = "SECONDS", default_value_t = 120)]
    wait: u64,
}

/// Arguments of `csi forget`.
#[derive(Debug, Args)]
pub struct ForgetArgs {
    /// The claim's id.
    id: String,
}

/// Runs `csi …`.
pub async fn run(g: &Globals, cmd: CsiCommand) -> Result<()> {
    match cmd {
        CsiCommand::Controller(a) => {
            let endpoint = Endpoint::parse(&a.endpoint.endpoint)?;
            let store = g.open_store().await?;
            let router = tonic::transport::Server::builder()
                .add_service(IdentityServer::new(Identity::new(Arc::clone(&store), true)))
                .add_service(ControllerServer::new(Controller::new(
                    store,
                    Duration::from_secs(a.wait.max(1)),
                )));
            brickyard_csi::serve(&endpoint, router, super::serve::shutdown_signal())
                .await
                .context("the CSI controller")?;
            Ok(())
        }
        CsiCommand::Node(a) => {
            let endpoint = Endpoint::parse(&a.endpoint.endpoint)?;
            brickyard_model::names::check_hostname("--node-id", &a.node_id)
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            if !a.state_dir.is_absolute() {
                bail!(
                    "--state-dir {}: give an absolute path",
                    a.state_dir.display()
                );
            }
            let store = g.open_store().await?;
            let router = tonic::transport::Server::builder()
                .add_service(IdentityServer::new(Identity::new(
                    Arc::clone(&store),
                    false,
                )))
                .add_service(NodeServer::new(Node::new(store, &a.node_id, a.state_dir)));
            brickyard_csi::serve(&endpoint, router, super::serve::shutdown_signal())
                .await
                .context("the CSI node plugin")?;
            Ok(())
        }
        CsiCommand::List(a) => list(g, a).await,
        CsiCommand::Purge(a) => {
            let store = g.open_store().await?;
            let Some((_, record)) = claims::get(store.as_ref(), &a.id).await? else {
                bail!(
                    "claim {} does not exist; `brickyard csi list` shows the claims",
                    a.id
                );
            };
            if record.state == ClaimState::Present {
                bail!(
                    "claim {} is in use by Kubernetes (state present); delete its PersistentVolumeClaim instead",
                    a.id
                );
            }
            let done = claims::delete(
                store.as_ref(),
                &a.id,
                true,
                Duration::from_secs(a.wait.max(1)),
            )
            .await
            .with_context(|| format!("purge claim {}", a.id))?;
            match done {
                Deleted::Absent => println!("claim {}: already gone", a.id),
                _ => println!("claim {}: data removed, records removed", a.id),
            }
            Ok(())
        }
        CsiCommand::Forget(a) => {
            let store = g.open_store().await?;
            if claims::forget(store.as_ref(), &a.id).await? {
                println!(
                    "claim {}: records removed; its data is left as it was",
                    a.id
                );
            } else {
                println!("claim {}: no such claim", a.id);
            }
            Ok(())
        }
    }
}

#[derive(Serialize)]
struct ListOut {
    claims: Vec<claims::ClaimView>,
    invalid: Vec<brickyard_model::records::RecordError>,
}

async fn list(g: &Globals, a: ListArgs) -> Result<()> {
    let store = g.open_store().await?;
    let listing = claims::list(store.as_ref()).await.context("list claims")?;
    let out = ListOut {
        claims: listing.claims,
        invalid: listing.invalid,
    };
    match a.output {
        OutputFormat::Json => print_json(&out)?,
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = out
                .claims
                .iter()
                .map(|c| {
                    let r = &c.record;
                    let status = c.status.as_ref().map_or_else(
                        || "-".to_owned(),
                        |s| {
                            if s.reason.is_empty() {
                                s.phase.to_string()
                            } else {
                                format!("{}: {}", s.phase, s.reason)
                            }
                        },
                    );
                    vec![
                        r.id.clone(),
                        r.mode.to_string(),
                        r.volume.clone(),
                        r.size_bytes.to_string(),
                        r.state.to_string(),
                        status,
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &["CLAIM", "MODE", "VOLUME", "BYTES", "DESIRED", "OBSERVED"],
                    &rows
                )
            );
            for e in &out.invalid {
                println!("unusable: {e}");
            }
        }
    }
    Ok(())
}
