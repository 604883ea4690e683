//! `GET /metrics`: the cluster's state in Prometheus' text format.
//!
//! The figures come from the same observation as `GET /v1/status`, made at most once per
//! [`crate::ApiConfig::observe_every`] however many scrapers ask. What could not be asked is
//! a missing sample (and `brickyard_gluster_answered 0`), never a zero. Figures that only
//! grow over an agent's life are counters (`_total`).

use axum::extract::State;
use axum::http::header::{ACCEPT, CONTENT_TYPE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use brickyard_observe::{ClusterHealth, Observed};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::AppState;
use crate::error::ApiError;

const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HostLabel {
    host: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VolumeLabel {
    volume: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: String,
}

fn gauge(registry: &mut Registry, name: &str, help: &str, value: i64) {
    let g = Gauge::<i64>::default();
    g.set(value);
    registry.register(name, help, g);
}

fn count(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Renders the metrics of one observation (OpenMetrics text, ending in `# EOF`).
pub(crate) fn render(o: &Observed, health: &ClusterHealth) -> Result<String, std::fmt::Error> {
    let mut r = Registry::with_prefix("brickyard");
    gauge(
        &mut r,
        "cluster_healthy",
        "1 when brickyard status finds nothing degraded, else 0",
        i64::from(health.healthy),
    );
    gauge(
        &mut r,
        "hosts",
        "Hosts with a config in the store",
        count(health.hosts.len()),
    );
    gauge(
        &mut r,
        "hosts_agent_live",
        "Hosts whose node agent's lease is alive",
        count(health.hosts.iter().filter(|h| h.agent_live).count()),
    );
    let live = Family::<HostLabel, Gauge>::default();
    let connected = Family::<HostLabel, Gauge>::default();
    let known = Family::<HostLabel, Gauge>::default();
    for h in &health.hosts {
        let l = HostLabel {
            host: h.host.clone(),
        };
        live.get_or_create(&l).set(i64::from(h.agent_live));
        connected.get_or_create(&l).set(count(h.peers_connected));
        known.get_or_create(&l).set(count(h.peers_known));
    }
    r.register(
        "host_agent_live",
        "1 when the host's node agent's lease is alive, else 0",
        live,
    );
    r.register(
        "host_peers_connected",
        "Peers the host's glusterd sees connected and in the cluster",
        connected,
    );
    r.register("host_peers_known", "Peers the host's glusterd knows", known);
    let passes = Family::<HostLabel, Counter>::default();
    let errors = Family::<HostLabel, Counter>::default();
    let duration = Family::<HostLabel, Gauge>::default();
    for (host, a) in &o.agents {
        let l = HostLabel { host: host.clone() };
        let stats = a.reconcile;
        passes.get_or_create(&l).inc_by(stats.passes);
        errors.get_or_create(&l).inc_by(stats.errors);
        duration
            .get_or_create(&l)
            .set(i64::try_from(stats.last_duration_ms).unwrap_or(i64::MAX));
    }
    r.register(
        "host_reconcile_passes",
        "Volume reconcile passes the host's agent has run since it started",
        passes,
    );
    r.register(
        "host_reconcile_errors",
        "Failed reconcile passes and volume actions of the host's agent since it started",
        errors,
    );
    r.register(
        "host_reconcile_last_duration_milliseconds",
        "How long the host agent's last reconcile pass took",
        duration,
    );
    gauge(
        &mut r,
        "gluster_answered",
        "1 when a glusterd answered for the volumes (the volume metrics are present), else 0",
        i64::from(o.volumes.is_some()),
    );
    if o.volumes.is_some() {
        let by_state = Family::<StateLabel, Gauge>::default();
        // Every state is always present, so that a rate or an alert on "Stopped" does not
        // see a missing series when there are none.
        for s in ["Created", "Started", "Stopped", "Unknown"] {
            by_state
                .get_or_create(&StateLabel { state: s.into() })
                .set(0);
        }
        let online = Family::<VolumeLabel, Gauge>::default();
        let total = Family::<VolumeLabel, Gauge>::default();
        let heal = Family::<VolumeLabel, Gauge>::default();
        let heal_rate = Family::<VolumeLabel, Gauge>::default();
        let heal_eta = Family::<VolumeLabel, Gauge>::default();
        let rebalancing = Family::<VolumeLabel, Gauge>::default();
        let moved = Family::<VolumeLabel, Gauge>::default();
        for v in &health.volumes {
            by_state
                .get_or_create(&StateLabel {
                    state: v.status.clone(),
                })
                .inc();
            let l = VolumeLabel {
                volume: v.name.clone(),
            };
            // Unknown (could not be asked) is a missing sample, never a zero.
            if let Some(n) = v.bricks_online {
                online.get_or_create(&l).set(count(n));
            }
            total.get_or_create(&l).set(count(v.bricks));
            if let Some(n) = v.heal_pending {
                heal.get_or_create(&l)
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
            if let Some(p) = &v.heal_progress {
                heal_rate.get_or_create(&l).set(p.per_minute.round() as i64);
                if let Some(eta) = p.eta_seconds {
                    heal_eta
                        .get_or_create(&l)
                        .set(i64::try_from(eta).unwrap_or(i64::MAX));
                }
            }
            if let Some(r) = &v.rebalance {
                rebalancing.get_or_create(&l).set(i64::from(r.running()));
                if let Some(n) = r.files {
                    moved
                        .get_or_create(&l)
                        .set(i64::try_from(n).unwrap_or(i64::MAX));
                }
            }
        }
        r.register("volumes", "Volumes in gluster by state", by_state);
        r.register(
            "volume_bricks_online",
            "Bricks of the volume that are online",
            online,
        );
        r.register("volume_bricks", "Bricks in the volume", total);
        r.register(
            "volume_heal_pending",
            "Entries pending heal, summed over the volume's bricks, as last recorded by the pool lock's holder",
            heal,
        );
        r.register(
            "volume_heal_entries_per_minute",
            "Entries healed per minute since the volume's count pending heal was last at its peak; absent while nothing is pending or before a second observation",
            heal_rate,
        );
        r.register(
            "volume_heal_eta_seconds",
            "Seconds until nothing is pending heal at the measured rate; absent while the count does not go down",
            heal_eta,
        );
        r.register(
            "volume_rebalance_running",
            "1 while the volume's rebalance moves files, 0 once it ended; absent for a volume never rebalanced",
            rebalancing,
        );
        r.register(
            "volume_rebalance_files",
            "Files the volume's running or failed rebalance has moved",
            moved,
        );
    }
    let mut out = String::new();
    encode(&mut out, &r)?;
    Ok(out)
}

/// `GET /metrics`.
pub(crate) async fn metrics(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let o = state.observation().await?;
    let text =
        render(&o.0, &o.1).map_err(|e| ApiError::Internal(format!("encode metrics: {e}")))?;
    // Prometheus asks for OpenMetrics; other scrapers get the classic text format, which
    // for gauges differs only by the closing `# EOF`.
    let wants_openmetrics = headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/openmetrics-text"));
    let (body, content_type) = if wants_openmetrics {
        (text, OPENMETRICS)
    } else {
        let classic = text.strip_suffix("# EOF\n").unwrap_or(&text).to_owned();
        (classic, PROMETHEUS_TEXT)
    };
    Ok((
        [(CONTENT_TYPE, HeaderValue::from_static(content_type))],
        body,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickyard_gluster::{VolumeInfo, VolumeState};
    use brickyard_model::records::agent::{HealPeak, ObservedVolumes};

    #[test]
    fn a_draining_heal_has_a_rate_and_an_estimate() {
        let volume = VolumeInfo {
            name: "v".into(),
            id: "id".into(),
            state: VolumeState::Started,
            type_str: "Replicate".into(),
            brick_count: 3,
            dist_count: 1,
            replica_count: 3,
            arbiter_count: 0,
            disperse_count: 0,
            redundancy_count: 0,
            bricks: Vec::new(),
            options: Default::default(),
        };
        let mut obs = ObservedVolumes {
            at: 20,
            ..ObservedVolumes::default()
        };
        obs.heal_pending.insert("v".into(), 300);
        obs.heal_peak.insert(
            "v".into(),
            HealPeak {
                at: 0,
                pending: 400,
            },
        );
        let o = Observed {
            volumes: Some(vec![volume]),
            heal: Some(Ok(obs)),
            ..Observed::default()
        };
        let text = render(&o, &brickyard_observe::assess(&o)).expect("renders");
        for line in [
            r#"brickyard_volume_heal_pending{volume="v"} 300"#,
            r#"brickyard_volume_heal_entries_per_minute{volume="v"} 300"#,
            r#"brickyard_volume_heal_eta_seconds{volume="v"} 60"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in:\n{text}");
        }
    }
}
