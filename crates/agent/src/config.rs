//! The host's config changing under a running agent: applied when it can be, reported when
//! it cannot.

use std::sync::Arc;

use brickyard_model::HostConfig;
use brickyard_store::Store;
use tracing::{error, info, warn};

use crate::agent::Live;
use crate::options::AgentOptions;

/// Fields of the host's config the agent applies while it runs; the others (address, node
/// name, brick devices) take effect when it starts again.
pub(crate) const LIVE_FIELDS: &[&str] = &["PeerList", "Zone", "ZapDevice"];

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
    for c in &changes {
        if LIVE_FIELDS.contains(&c.field) {
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
        live.config_problems.push(format!(
            "this host's config changed in ways that apply when the agent starts again: {}",
            needs_restart.join("; ")
        ));
    }
}
