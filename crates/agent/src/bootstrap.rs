//! Bootstrap: everything between "the agent started" and "glusterd may start", one log
//! line per step, as the seed's entrypoint did.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use brickyard_exec::{Cmd, run};
use brickyard_model::HostConfig;
use brickyard_store::{Store, StoreError, configs};
use brickyard_sys::fs::Select;

use tokio::sync::watch;
use tracing::info;

use crate::options::{AgentOptions, HostnamePolicy};
use crate::{AgentError, uts};

/// Where the host's gluster state lives (the container's or lab host's view).
#[derive(Debug, Clone)]
pub struct Paths {
    /// glusterd's config directory, `/etc/glusterfs`.
    pub etc_glusterfs: PathBuf,
    /// glusterd's working directory, `/var/lib/glusterd`.
    pub var_lib_glusterd: PathBuf,
    /// gluster's logs, `/var/log/glusterfs`.
    pub var_log_glusterfs: PathBuf,
    /// Package defaults to seed empty directories from: `DIR/etc/glusterfs` and
    /// `DIR/var/lib/glusterd` (a container image keeps a copy of the package's files here,
    /// since the host directories mounted over them start empty).
    pub seed_from: Option<PathBuf>,
}

impl Default for Paths {
    fn default() -> Self {
        Self {
            etc_glusterfs: "/etc/glusterfs".into(),
            var_lib_glusterd: "/var/lib/glusterd".into(),
            var_log_glusterfs: "/var/log/glusterfs".into(),
            seed_from: None,
        }
    }
}

/// Reads the host's config, retrying with backoff while the store is unreachable and
/// saying so each time; a host with no config is retried too (it may be loaded later).
pub async fn fetch_config(
    store: &Arc<dyn Store>,
    host: &str,
    shutdown: &tokio::sync::watch::Receiver<bool>,
) -> Result<HostConfig, AgentError> {
    let mut backoff = brickyard_sys::backoff::Backoff::default();
    let mut wait = backoff.next_delay();
    loop {
        match configs::get(store.as_ref(), host).await {
            Ok(Some(stored)) => match stored.parsed {
                Ok(config) => return Ok(config),
                // An invalid config is waited out like a missing one: exiting would only
                // have a supervisor start the agent again and again.
                Err(report) => tracing::error!(
                    host,
                    retry_in = wait.as_secs(),
                    "this host's config in the store is invalid; fix it and load it again: {}",
                    report
                        .errors()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                ),
            },
            Ok(None) => tracing::warn!(
                host,
                store = %store.endpoint(),
                retry_in = wait.as_secs(),
                "no config for this host in the store yet; load it with `brickyard config load`"
            ),
            Err(e @ StoreError::BadKey { .. }) => return Err(AgentError::Store(e)),
            Err(e) => tracing::warn!(host, retry_in = wait.as_secs(), "store unreachable: {e}"),
        }
        let mut shutdown = shutdown.clone();
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = shutdown.changed() => return Err(AgentError::Interrupted),
        }
        wait = backoff.next_delay();
    }
}

/// The addresses on this host's interfaces, from `ip -j addr show`. Output that does not
/// parse is an error: an address is never reported missing because `ip` could not be read.
pub async fn local_addresses() -> Result<Vec<IpAddr>, AgentError> {
    brickyard_sys::ip::addresses()
        .await
        .map_err(|e| AgentError::Observe {
            what: "this host's addresses",
            reason: e.to_string(),
        })
}

/// Fills an empty directory from `seed` (when given and present), making it when missing;
/// returns whether it seeded.
pub fn seed_dir(target: &Path, seed: Option<&Path>) -> Result<bool, AgentError> {
    let result = match seed {
        Some(seed) => brickyard_sys::fs::seed_dir(seed, target, Select::All),
        None => std::fs::create_dir_all(target)
            .map(|()| false)
            .map_err(|e| brickyard_sys::fs::FsError {
                op: "create directory",
                path: target.to_owned(),
                source: e,
            }),
    };
    result.map_err(fs_err)
}

fn fs_err(e: brickyard_sys::fs::FsError) -> AgentError {
    AgentError::Io {
        op: e.op,
        path: e.path,
        source: e.source,
    }
}

/// Writes glusterd.vol so glusterd binds only to `ip`, starting from the file present (or
/// the package default). Returns whether the file changed.
pub fn configure_bind(etc: &Path, ip: IpAddr) -> Result<bool, AgentError> {
    let path = etc.join("glusterd.vol");
    let current = match std::fs::read_to_string(&path) {
        Ok(s) => Some(s),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(AgentError::Io {
                op: "read",
                path,
                source: e,
            });
        }
    };
    let base = current
        .as_deref()
        .unwrap_or(brickyard_gluster::PACKAGE_GLUSTERD_VOL);
    let rendered =
        brickyard_gluster::render_glusterd_vol(base, ip).map_err(|e| AgentError::GlusterdVol {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if current.as_deref() == Some(rendered.as_str()) {
        return Ok(false);
    }
    brickyard_sys::fs::write_atomic(&path, rendered.as_bytes(), 0o644).map_err(fs_err)?;
    Ok(true)
}

/// Whether `path` is a mount point in this host's mount namespace. An error when the mount
/// table cannot be read.
pub fn is_mounted(path: &Path) -> Result<bool, AgentError> {
    brickyard_sys::mounts::is_mount_point(path).map_err(|e| AgentError::Observe {
        what: "the mount table",
        reason: e.to_string(),
    })
}

/// Makes sure every brick of `config` is mounted: mounts it from fstab when it is not.
pub async fn ensure_bricks_mounted(config: &HostConfig) -> Result<Vec<String>, AgentError> {
    let mut mounted_now = Vec::new();
    for (device, mount_point) in config.bricks() {
        let path = Path::new(&mount_point);
        if is_mounted(path)? {
            continue;
        }
        let result =
            run(&Cmd::new(["mount", mount_point.as_str()]).timeout(Duration::from_secs(60))).await;
        match result {
            Ok(_) if is_mounted(path)? => mounted_now.push(mount_point),
            Ok(_) => {
                return Err(AgentError::BrickNotMounted {
                    mount_point,
                    device,
                    reason: "mount returned but the mount point is still not mounted".into(),
                });
            }
            Err(e) => {
                return Err(AgentError::BrickNotMounted {
                    mount_point,
                    device,
                    reason: e.to_string(),
                });
            }
        }
    }
    Ok(mounted_now)
}

/// Reads glusterd's UUID from glusterd.info, once glusterd has created it.
pub fn read_uuid(var_lib: &Path) -> Option<String> {
    let text = std::fs::read_to_string(var_lib.join("glusterd.info")).ok()?;
    brickyard_gluster::parse_glusterd_info(&text)
        .ok()
        .map(|i| i.uuid)
}

/// Prepares the host for glusterd: config, address, directories, bind address, host name,
/// brick mounts. Returns the config.
pub(crate) async fn prepare(
    opts: &AgentOptions,
    store: &Arc<dyn Store>,
    shutdown: &watch::Receiver<bool>,
) -> Result<HostConfig, AgentError> {
    info!(store = %store.endpoint(), "reading this host's config from the store");
    let config = fetch_config(store, &opts.host, shutdown).await?;
    info!("-> gluster node IP .... {}", config.ip_address);
    info!("-> gluster node name .. {}", config.gluster_node_name);
    let peers: Vec<String> = config.peers.iter().map(ToString::to_string).collect();
    info!("-> peer list .......... {}", peers.join(" "));

    info!("checking {} is on this host", config.ip());
    let addrs = local_addresses().await?;
    if !addrs.contains(&config.ip()) {
        return Err(AgentError::AddressMissing {
            ip: config.ip_address.to_string(),
        });
    }

    let seed = opts.paths.seed_from.as_deref();
    for (dir, sub) in [
        (&opts.paths.etc_glusterfs, "etc/glusterfs"),
        (&opts.paths.var_lib_glusterd, "var/lib/glusterd"),
    ] {
        let from = seed.map(|s| s.join(sub));
        if seed_dir(dir, from.as_deref())? {
            info!(
                "seeded {} from {}",
                dir.display(),
                from.as_deref()
                    .map(|p| p.display().to_string())
                    .unwrap_or_default()
            );
        }
    }
    seed_dir(&opts.paths.var_log_glusterfs, None)?;

    if configure_bind(&opts.paths.etc_glusterfs, config.ip())? {
        info!("glusterd now binds only to {}", config.ip());
    } else {
        info!("glusterd already binds only to {}", config.ip());
    }

    match (opts.hostname, uts::in_own_uts_namespace()) {
        (HostnamePolicy::Auto, Some(true)) => {
            let current = nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            if current != config.gluster_node_name {
                nix::unistd::sethostname(&config.gluster_node_name).map_err(|e| {
                    AgentError::Hostname {
                        name: config.gluster_node_name.clone(),
                        reason: e.to_string(),
                    }
                })?;
                info!(
                    "host name set to {} (own UTS namespace)",
                    config.gluster_node_name
                );
            }
        }
        (HostnamePolicy::Auto, _) => {
            info!("host name left alone: this is the machine's own UTS namespace");
        }
        (HostnamePolicy::Never, _) => {}
    }

    for mp in ensure_bricks_mounted(&config).await? {
        info!("mounted brick {mp}");
    }
    info!("{} brick(s) mounted", config.bricks().len());
    Ok(config)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binds_glusterd_once_and_keeps_the_file_stable() {
        let dir = tempfile::tempdir().expect("temp dir");
        let ip: IpAddr = "10.1.1.1".parse().expect("ip");
        assert!(configure_bind(dir.path(), ip).expect("first write"));
        let text = std::fs::read_to_string(dir.path().join("glusterd.vol")).expect("read");
        assert!(
            text.contains("option transport.socket.bind-address 10.1.1.1"),
            "{text}"
        );
        assert!(
            !configure_bind(dir.path(), ip).expect("second pass"),
            "idempotent"
        );
    }

    #[test]
    fn seeds_only_empty_directories() {
        let seed = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(seed.path().join("groups")).expect("mkdir");
        std::fs::write(seed.path().join("groups/virt"), "x").expect("write");
        let target = tempfile::tempdir().expect("temp dir");
        let t = target.path().join("etc");
        assert!(seed_dir(&t, Some(seed.path())).expect("seed"));
        assert!(t.join("groups/virt").exists());
        std::fs::write(t.join("mine"), "keep").expect("write");
        assert!(!seed_dir(&t, Some(seed.path())).expect("second seed"));
    }
}
