//! `brickyard config`: validate, load, list, show and remove host configs; show and change
//! the cluster's settings.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use brickyard_model::{Issue, Report, Sourced, parse_host_config, validate_cluster};
use brickyard_store::configs::{self, LoadError};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::Reported;
use crate::globals::Globals;
use crate::output::{OutputFormat, print_json, table};

/// The largest config file accepted; the seed's are a few hundred bytes.
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// `brickyard config ...`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Check config files, each on its own and all together; write nothing. Exits non-zero
    /// on any error.
    Validate(ValidateArgs),
    /// Validate config files and write them all to the store, or nothing when any is invalid.
    Load(LoadArgs),
    /// Print one host's config exactly as it was loaded.
    Get(GetArgs),
    /// List the host configs in the store.
    List(ListArgs),
    /// Remove one host's config from the store.
    Delete(GetArgs),
    /// Show the cluster's settings, or change them (the pool lock's holder applies them to
    /// gluster's cluster-wide options within a few seconds).
    Cluster(ClusterArgs),
}

/// An on/off switch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    /// On.
    On,
    /// Off.
    Off,
}

/// Arguments of `config cluster`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// gluster's brick multiplexing (`cluster.brick-multiplex`): one brick process per
    /// host serves the bricks of every volume with the same options, instead of one process
    /// per brick; far less memory per volume, but a brick process that dies takes all of
    /// its bricks on that host down together. Applies to bricks started after the change;
    /// each process takes as many bricks as its open-files limit allows (at most 250), the
    /// next ones start another (docs/volumes.md).
    #[arg(long, value_enum, value_name = "on|off")]
    brick_multiplex: Option<Switch>,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `config validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Config files, or directories whose *.json files are read.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Also check against the configs already in the store (as `load` does).
    #[arg(long)]
    with_store: bool,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Arguments of `config load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Config files, or directories whose *.json files are read.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Load even when it changes the IPAddress or GlusterNodeName of a host whose agent
    /// runs (its glusterd keeps the old identity until it is restarted).
    #[arg(long)]
    force: bool,
}

/// A host name argument.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// The host's HostName.
    host: String,
}

/// Arguments of `config list`.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    output: OutputFormat,
}

/// Runs a `config` subcommand.
pub async fn run(g: &Globals, cmd: ConfigCommand) -> Result<()> {
    match cmd {
        ConfigCommand::Validate(a) => validate(g, a).await,
        ConfigCommand::Load(a) => load(g, a).await,
        ConfigCommand::Get(a) => get(g, &a.host).await,
        ConfigCommand::List(a) => list(g, a.output).await,
        ConfigCommand::Delete(a) => delete(g, &a.host).await,
        ConfigCommand::Cluster(a) => cluster(g, a).await,
    }
}

async fn cluster(g: &Globals, a: ClusterArgs) -> Result<()> {
    use brickyard_volumes::settings;
    let store = g.open_store().await?;
    let s = match a.brick_multiplex {
        Some(sw) => settings::set_brick_multiplex(store.as_ref(), sw == Switch::On)
            .await
            .context("change the cluster's settings")?,
        None => settings::get(store.as_ref())
            .await
            .context("read the cluster's settings")?,
    };
    match a.output {
        OutputFormat::Json => print_json(&s)?,
        OutputFormat::Table => {
            println!(
                "brick multiplexing: {}",
                if s.brick_multiplex { "on" } else { "off" }
            );
            if a.brick_multiplex.is_some() {
                eprintln!(
                    "the pool lock's holder applies it within a few seconds; bricks already running keep their processes until they are started again"
                );
            }
        }
    }
    Ok(())
}

/// Expands directories to their `*.json` files (sorted) and keeps files as given.
fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("read directory {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| f.extension().is_some_and(|x| x == "json") && f.is_file())
                .collect();
            if found.is_empty() {
                bail!(
                    "directory {} holds no *.json config files; name the files instead",
                    p.display()
                );
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

fn read_config_file(path: &Path) -> Result<Vec<u8>, Box<Issue>> {
    let source = path.display().to_string();
    let meta = std::fs::metadata(path).map_err(|e| {
        Box::new(Issue::error(
            &source,
            "",
            "",
            format!("cannot be read: {e}"),
            "check the path",
        ))
    })?;
    if meta.len() > MAX_CONFIG_BYTES {
        return Err(Box::new(Issue::error(
            &source,
            "",
            "",
            format!("is {} bytes, more than any host config needs", meta.len()),
            "check that this is a host config file",
        )));
    }
    std::fs::read(path).map_err(|e| {
        Box::new(Issue::error(
            &source,
            "",
            "",
            format!("cannot be read: {e}"),
            "check the path and its permissions",
        ))
    })
}

/// Reads and parses files; returns the valid configs and every finding.
fn parse_files(paths: &[PathBuf]) -> (Vec<Sourced>, Report) {
    let mut report = Report::default();
    let mut configs = Vec::new();
    for path in paths {
        let source = path.display().to_string();
        match read_config_file(path) {
            Ok(bytes) => {
                let (cfg, r) = parse_host_config(&source, &bytes);
                report.extend(r);
                if let Some(config) = cfg {
                    configs.push(Sourced { source, config });
                }
            }
            Err(issue) => report.push(*issue),
        }
    }
    (configs, report)
}

fn print_report(report: &Report) {
    for issue in &report.issues {
        eprintln!("{issue}");
    }
}

async fn stored_sourced(g: &Globals) -> Result<Vec<Sourced>> {
    let store = g.open_store().await?;
    Ok(configs::list(store.as_ref())
        .await
        .context("read the configs in the store")?
        .into_iter()
        .filter_map(|s| {
            s.parsed.ok().map(|config| Sourced {
                source: format!("{} (in the store)", s.entry.key),
                config,
            })
        })
        .collect())
}

#[derive(Serialize)]
struct ValidateOutput<'a> {
    files: usize,
    errors: usize,
    warnings: usize,
    issues: &'a [Issue],
}

async fn validate(g: &Globals, a: ValidateArgs) -> Result<()> {
    let paths = expand(&a.files)?;
    let (configs, mut report) = parse_files(&paths);
    let existing = if a.with_store {
        stored_sourced(g).await?
    } else {
        Vec::new()
    };
    report.extend(validate_cluster(&configs, &existing));
    let errors = report.errors().count();
    let warnings = report.warnings().count();
    match a.output {
        OutputFormat::Json => print_json(&ValidateOutput {
            files: paths.len(),
            errors,
            warnings,
            issues: &report.issues,
        })?,
        OutputFormat::Table => {
            print_report(&report);
            println!(
                "{} file(s) checked: {errors} error(s), {warnings} warning(s)",
                paths.len()
            );
        }
    }
    if errors > 0 {
        return Err(Reported.into());
    }
    Ok(())
}

async fn load(g: &Globals, a: LoadArgs) -> Result<()> {
    let paths = expand(&a.files)?;
    let (configs, report) = parse_files(&paths);
    if report.has_errors() {
        print_report(&report);
        eprintln!(
            "error: {} error(s) in {} file(s); nothing was written to the store",
            report.errors().count(),
            paths.len()
        );
        return Err(Reported.into());
    }
    print_report(&report);
    let store = g.open_store().await?;
    match configs::load(store.as_ref(), &configs, a.force).await {
        Ok(outcome) => {
            print_report(&outcome.report);
            for (host, changes) in &outcome.changes {
                for c in changes {
                    println!("{host}: {c}");
                }
            }
            let mut parts = Vec::new();
            for (what, hosts) in [
                ("created", &outcome.created),
                ("updated", &outcome.updated),
                ("unchanged", &outcome.unchanged),
            ] {
                if !hosts.is_empty() {
                    parts.push(format!("{what} {}", hosts.join(", ")));
                }
            }
            println!(
                "loaded {} host config(s) into {}: {}",
                configs.len(),
                store.endpoint(),
                parts.join("; ")
            );
            Ok(())
        }
        Err(LoadError::Invalid(report)) => {
            print_report(&report);
            eprintln!(
                "error: {} error(s) across the cluster; nothing was written to the store",
                report.errors().count()
            );
            Err(Reported.into())
        }
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("load configs into {}", store.endpoint())))
        }
    }
}

async fn get(g: &Globals, host: &str) -> Result<()> {
    let store = g.open_store().await?;
    match configs::get(store.as_ref(), host)
        .await
        .with_context(|| format!("read the config of {host}"))?
    {
        Some(s) => {
            use std::io::Write as _;
            let mut out = std::io::stdout().lock();
            out.write_all(&s.entry.value)?;
            if !s.entry.value.ends_with(b"\n") {
                out.write_all(b"\n")?;
            }
            Ok(())
        }
        None => bail!(
            "no config for host {host} in {}; `brickyard config list` shows the hosts there",
            store.endpoint()
        ),
    }
}

#[derive(Serialize)]
struct ListedHost {
    host_name: String,
    key: String,
    valid: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    gluster_node_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ip_address: Option<String>,
    brick_devices: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    zone: Option<String>,
    peers: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    problems: Vec<String>,
    /// The config exactly as stored (as JSON when it parses).
    config: serde_json::Value,
}

async fn list(g: &Globals, output: OutputFormat) -> Result<()> {
    let store = g.open_store().await?;
    let stored = configs::list(store.as_ref())
        .await
        .context("list the host configs")?;
    let hosts: Vec<ListedHost> = stored
        .iter()
        .map(|s| {
            let host_name = s
                .entry
                .key
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned();
            let config = serde_json::from_slice(&s.entry.value).unwrap_or(serde_json::Value::Null);
            match &s.parsed {
                Ok(c) => ListedHost {
                    host_name,
                    key: s.entry.key.clone(),
                    valid: true,
                    gluster_node_name: Some(c.gluster_node_name.clone()),
                    ip_address: Some(c.ip_address.to_string()),
                    brick_devices: c.bricks().into_iter().map(|(d, _)| d).collect(),
                    zone: c.zone.clone(),
                    peers: c.peers.iter().map(ToString::to_string).collect(),
                    problems: Vec::new(),
                    config,
                },
                Err(report) => ListedHost {
                    host_name,
                    key: s.entry.key.clone(),
                    valid: false,
                    gluster_node_name: None,
                    ip_address: None,
                    brick_devices: Vec::new(),
                    zone: None,
                    peers: Vec::new(),
                    problems: report.errors().map(ToString::to_string).collect(),
                    config,
                },
            }
        })
        .collect();
    match output {
        OutputFormat::Json => print_json(&hosts),
        OutputFormat::Table => {
            if hosts.is_empty() {
                println!(
                    "no host configs in {}; load some with `brickyard config load FILE...`",
                    store.endpoint()
                );
                return Ok(());
            }
            let rows: Vec<Vec<String>> = hosts
                .iter()
                .map(|h| {
                    vec![
                        h.host_name.clone(),
                        h.gluster_node_name.clone().unwrap_or_else(|| "-".into()),
                        h.ip_address.clone().unwrap_or_else(|| "-".into()),
                        if h.brick_devices.is_empty() {
                            "-".into()
                        } else {
                            h.brick_devices.join(",")
                        },
                        h.zone.clone().unwrap_or_else(|| "-".into()),
                        if h.valid {
                            h.peers.join(",")
                        } else {
                            format!("INVALID: {}", h.problems.join("; "))
                        },
                    ]
                })
                .collect();
            print!(
                "{}",
                table(
                    &[
                        "HOST",
                        "NODE NAME",
                        "IP ADDRESS",
                        "BRICK DEVICES",
                        "ZONE",
                        "PEERS"
                    ],
                    &rows
                )
            );
            Ok(())
        }
    }
}

async fn delete(g: &Globals, host: &str) -> Result<()> {
    let store = g.open_store().await?;
    if configs::delete(store.as_ref(), host)
        .await
        .with_context(|| format!("remove the config of {host}"))?
    {
        println!("removed the config of {host} from {}", store.endpoint());
        Ok(())
    } else {
        bail!(
            "no config for host {host} in {}; nothing was removed",
            store.endpoint()
        )
    }
}
