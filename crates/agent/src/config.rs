//! The host's config changing under a running agent: applied when it can be, reported when
//! it cannot.

use std::sync::Arc;

use brickyard_model::HostConfig;
use brickyard_store::Store;
use tracing::{error, info, warn};

use crate::agent::Live;
use crate::options::AgentOptions;

/// Fields of the host's config the agent applies while it runs; the others (address, node
/// name, brick devices) take effect when it starts again. `ExtraBrickDevices` is applied
/// live too when disks are only added at its end ([`add_disks`]).
pub(crate) const LIVE_FIELDS: &[&str] = &["PeerList", "Zone", "ZapDevice"];

/// The config field whose additions are prepared live.
const EXTRA_DISKS: &str = "ExtraBrickDevices";

/// Reads the host's config again after it changed in the store: applies what can change
/// live, keeps running on the last good config when the new one is invalid or gone, and
/// says so in the log and in the liveness record.
pub(crate) async fn reload_config(
    opts: &AgentOptions,
    store: &Arc<dyn Store>,
    config: &mut HostConfig,
    live: &mut Live,
) {
    let stored = match brickyard_store::configs::get(store.as_ref(), &opts.host).await {
        Ok(s) => s,
        Err(e) => {
            warn!("cannot read this host's changed config; running on the last one: {e}");
            return;
        }
    };
    live.config_problems.clear();
    let new = match stored {
        None => {
            let line = "this host's config was removed from the store; the agent runs on the last one it read".to_owned();
            warn!("{line}");
            live.config_problems.push(line);
            return;
        }
        Some(s) => match s.parsed {
            Ok(c) => c,
            Err(report) => {
                let line = format!(
                    "this host's config in the store is invalid ({}); the agent runs on the last good one",
                    report
                        .errors()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; ")
                );
                error!("{line}");
                live.config_problems.push(line);
                return;
            }
        },
    };
    let changes = config.changes_to(&new);
    let mut needs_restart = Vec::new();
    // Disks added at the end of the list are prepared by the next tick; any other change
    // of the list (a disk removed or moved) waits for a restart.
    let added = new
        .extra_brick_devices
        .strip_prefix(config.extra_brick_devices.as_slice())
        .map(<[String]>::to_vec);
    live.new_disks = added.clone().unwrap_or_default();
    if live.new_disks.is_empty() {
        live.disk_problem = None;
    }
    for c in &changes {
        if c.field == EXTRA_DISKS && added.is_some() {
            info!("config change applied: {c}: the new disks are prepared now");
        } else if LIVE_FIELDS.contains(&c.field) {
            info!("config change applied: {c}");
        } else {
            warn!("config change needs an agent restart to apply: {c}");
            needs_restart.push(c.to_string());
        }
    }
    config.peers = new.peers;
    config.zone = new.zone;
    config.zap_device = new.zap_device;
    if !needs_restart.is_empty() {
        live.new_disks.clear();
        live.config_problems.push(format!(
            "this host's config changed in ways that apply when the agent starts again: {}",
            needs_restart.join("; ")
        ));
    }
}

/// Prepares the disks added to the config's `ExtraBrickDevices` since the agent started
/// (XFS, fstab, mounted, with the same guard as `brickyard host prepare`: a device with a
/// foreign signature is written only when `ZapDevice` is true). Once they are mounted the
/// agent reports their space and placement offers them to new bricks. A failure is
/// reported in the liveness record and tried again at the next tick.
pub(crate) async fn add_disks(config: &mut HostConfig, live: &mut Live) {
    if live.new_disks.is_empty() {
        return;
    }
    let mut wanted = config.clone();
    wanted
        .extra_brick_devices
        .extend(live.new_disks.iter().cloned());
    let opts = brickyard_host::PlanOptions::default();
    let result = brickyard_host::prepare(&wanted, &opts, |p| {
        if let brickyard_host::Progress::Done { step, .. } = p {
            info!("disk preparation: {}", step.description);
        }
    })
    .await;
    match result {
        Ok(_) => {
            for (dev, mount) in wanted
                .bricks()
                .into_iter()
                .skip(1 + config.extra_brick_devices.len())
            {
                info!("disk {dev} is mounted at {mount} and offered for new bricks");
            }
            config.extra_brick_devices = wanted.extra_brick_devices;
            live.new_disks.clear();
            live.disk_problem = None;
        }
        Err(e) => {
            let line = format!(
                "the disks added to this host's config ({}) are not prepared: {e}; fix the cause (the next pass tries again) or take them out of ExtraBrickDevices",
                live.new_disks.join(", ")
            );
            if live.disk_problem.as_deref() != Some(line.as_str()) {
                error!("{line}");
            }
            live.disk_problem = Some(line);
        }
    }
}
