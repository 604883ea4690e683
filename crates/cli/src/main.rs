//! `brickyard`: the one binary. Parses the command line, sets up logging, and hands each
//! subcommand to its module under `commands/`. Errors are printed one cause per line and
//! the process exits non-zero.

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

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
    /// The CSI driver (glusterfs.brickyard.io): its controller and node services, and the
    /// claims they keep (list, purge archived ones, forget).
    #[command(subcommand)]
    Csi(commands::csi::CsiCommand),
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

/// The command line, with the global options documented once: in `brickyard --help`, after
/// the commands. Each subcommand's help shows its own options, and a line naming the global
/// ones.
fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| a.is_global_set())
        .cloned()
        .collect();
    // Hidden before clap copies them into every subcommand, so the copies are hidden too.
    for arg in &globals {
        cmd = cmd.mut_arg(arg.get_id(), |a| a.hide(true));
    }
    let names: Vec<String> = globals
        .iter()
        .map(|a| match (a.get_long(), a.get_short()) {
            (Some(long), _) => format!("--{long}"),
            (None, Some(short)) => format!("-{short}"),
            (None, None) => a.get_id().to_string(),
        })
        .collect();
    let footer = format!(
        "Global options ({}): see `brickyard --help`.",
        names.join(", ")
    );
    // The global options' own help, rendered by clap as a block of its own.
    let mut block = clap::Command::new("brickyard")
        .disable_help_flag(true)
        .disable_version_flag(true)
        .help_template("{options}")
        .args(globals.into_iter().map(|a| a.global(false)));
    let heading = "\x1b[1m\x1b[4mGlobal options\x1b[0m (accepted by every command):";
    let short = format!("{heading}\n{}", block.render_help().ansi());
    let long = format!("{heading}\n{}", block.render_long_help().ansi());
    cmd.after_help(short)
        .after_long_help(long)
        .mut_subcommands(|sub| with_footer(sub, &footer))
}

/// Ends the help of `cmd` and its subcommands with a line naming the global options.
fn with_footer(cmd: clap::Command, footer: &str) -> clap::Command {
    cmd.after_help(footer.to_owned())
        .mut_subcommands(|sub| with_footer(sub, footer))
}

fn main() -> ExitCode {
    let mut cmd = command();
    let cli = match Cli::from_arg_matches(&cmd.clone().get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.format(&mut cmd).exit(),
    };
    globals::init_logging(&cli.globals);
    // Two arenas for the whole process: with one per thread, an agent's resident memory
    // settled at every thread's peak together (docs/benchmarks.md).
    brickyard_sys::mem::limit_arenas(2);
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
            Command::Csi(cmd) => commands::csi::run(&cli.globals, cmd).await,
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
