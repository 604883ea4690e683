//! `brickyard`: the one binary. Parses the command line, sets up logging, and hands each
//! subcommand to its module under `commands/`. Errors are printed one cause per line and
//! the process exits non-zero.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod commands;
mod globals;
mod output;

use globals::Globals;

/// brickyard turns a handful of Linux hosts into a GlusterFS storage cluster and hands its
/// storage to Kubernetes.
#[derive(Debug, Parser)]
#[command(name = "brickyard", version, about, long_about = None, propagate_version = true)]
struct Cli {
    #[command(flatten)]
    globals: Globals,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate, load, show and remove host configs (the seed's per-host JSON).
    #[command(subcommand)]
    Config(commands::config::ConfigCommand),
    /// Prepare this host: directories, storage address, brick disks (plan, then apply).
    #[command(subcommand)]
    Host(commands::host::HostCommand),
    /// The node agent: bootstrap and supervise glusterd on this host, form the pool.
    #[command(subcommand)]
    Node(commands::node::NodeCommand),
    /// Is the cluster healthy? Hosts, agents, peers, volumes, bricks and heal; exits
    /// non-zero with the reasons when anything is degraded.
    Status(commands::status::StatusArgs),
    /// A multi-host GlusterFS cluster on this machine: hosts as namespaces on a private
    /// bridge, each with its own disk (needs root).
    #[command(subcommand)]
    Lab(commands::lab::LabCommand),
    /// Kubernetes manifests: the node agents, the in-tree GlusterFS chain for one volume
    /// (Kubernetes 1.25 and older), the CSI driver bundle.
    #[command(subcommand)]
    Kube(commands::kube::KubeCommand),
    /// GlusterFS volumes, declared in the store and made by the node agents: create, list,
    /// info, start, stop, delete, expand.
    #[command(subcommand)]
    Volume(commands::volume::VolumeCommand),
    /// The REST API (hosts, status, metrics, OpenAPI document) behind a bearer token.
    Serve(commands::serve::ServeArgs),
}

/// A failure whose message was already printed in full (e.g. a validation report); main
/// only sets the exit code.
#[derive(Debug)]
pub struct Reported;

impl std::fmt::Display for Reported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed (see above)")
    }
}

impl std::error::Error for Reported {}

fn main() -> ExitCode {
    let cli = Cli::parse();
    globals::init_logging(&cli.globals);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Config(cmd) => commands::config::run(&cli.globals, cmd).await,
            Command::Host(cmd) => commands::host::run(&cli.globals, cmd).await,
            Command::Node(cmd) => commands::node::run(&cli.globals, cmd).await,
            Command::Status(a) => commands::status::run(&cli.globals, a).await,
            Command::Lab(cmd) => commands::lab::run(&cli.globals, cmd).await,
            Command::Kube(cmd) => commands::kube::run(&cli.globals, cmd).await,
            Command::Volume(cmd) => commands::volume::run(&cli.globals, cmd).await,
            Command::Serve(a) => commands::serve::run(&cli.globals, a).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.downcast_ref::<Reported>().is_some() => ExitCode::FAILURE,
        Err(e) => {
            let mut causes = e.chain();
            let mut last = String::new();
            if let Some(first) = causes.next() {
                last = first.to_string();
                eprintln!("error: {last}");
            }
            for cause in causes {
                // Many errors end their message with their cause's; say each thing once.
                let text = cause.to_string();
                if last.ends_with(&text) {
                    continue;
                }
                eprintln!("  caused by: {text}");
                last = text;
            }
            ExitCode::FAILURE
        }
    }
}
