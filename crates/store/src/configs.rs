//! Host configs in the store: `gluster/config/<HostName>`, the value the JSON as loaded.

use brickyard_model::keys::{CONFIG_PREFIX, config_key, status_key};
use brickyard_model::{
    FieldChange, HostConfig, Report, Sourced, parse_host_config, validate_cluster,
};
use thiserror::Error;

use crate::{Entry, Expect, Op, Store, StoreError, Txn};

/// Why a load wrote nothing.
#[derive(Debug, Error)]
pub enum LoadError {
    /// Validation found errors; the report lists them all.
    #[error("{} error(s) found; nothing was written", .0.errors().count())]
    Invalid(Report),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The load would change who a host is (its address or node name) while its agent
    /// runs: its glusterd and its peers cannot follow that.
    #[error(
        "{}; nothing was written: stop the agents of these hosts first, or load with --force (their glusterd keeps the old identity until it is restarted, and their peers may not find it)",
        .0.iter().map(|(h, c)| format!("host {h} has a live agent and would change {}", c.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "))).collect::<Vec<_>>().join("; ")
    )]
    IdentityOfLiveHost(Vec<(String, Vec<FieldChange>)>),
    /// Other writers kept changing the configs while this load validated against them.
    #[error(
        "the configs in the store kept changing during the load; nothing was written, run it again"
    )]
    Contended,
}

/// What a successful load did.
#[derive(Debug, Default)]
pub struct LoadOutcome {
    /// Warnings found on the way.
    pub report: Report,
    /// Hosts whose config was created.
    pub created: Vec<String>,
    /// Hosts whose config was replaced with different bytes.
    pub updated: Vec<String>,
    /// Hosts whose config was already exactly this.
    pub unchanged: Vec<String>,
    /// What changes for each updated host (only fields brickyard reads; a change of the
    /// bytes alone, e.g. of an unknown field or the formatting, lists nothing).
    pub changes: Vec<(String, Vec<FieldChange>)>,
}

/// A config read back from the store.
#[derive(Debug, Clone)]
pub struct StoredConfig {
    /// The store entry (exact bytes, revisions).
    pub entry: Entry,
    /// The parsed config, or what is wrong with it.
    pub parsed: Result<HostConfig, Report>,
}

/// Reads every host config, sorted by host name.
pub async fn list(store: &dyn Store) -> Result<Vec<StoredConfig>, StoreError> {
    Ok(store
        .list(CONFIG_PREFIX)
        .await?
        .into_iter()
        .map(|entry| {
            let (cfg, report) = parse_host_config(&entry.key, &entry.value);
            let parsed = cfg.ok_or(report);
            StoredConfig { entry, parsed }
        })
        .collect())
}

/// Reads one host's config; `Ok(None)` when there is none.
pub async fn get(store: &dyn Store, host: &str) -> Result<Option<StoredConfig>, StoreError> {
    brickyard_model::names::check_hostname("host name", host).map_err(|e| StoreError::BadKey {
        key: host.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(store.get(&config_key(host)).await?.map(|entry| {
        let (cfg, report) = parse_host_config(&entry.key, &entry.value);
        StoredConfig {
            entry,
            parsed: cfg.ok_or(report),
        }
    }))
}

/// Validates `incoming` against each other and the configs already stored, and writes them
/// all in one transaction, or nothing when any error is found. A load that would change the
/// identity (IPAddress, GlusterNodeName) of a host whose agent is live is refused unless
/// `force`.
pub async fn load(
    store: &dyn Store,
    incoming: &[Sourced],
    force: bool,
) -> Result<LoadOutcome, LoadError> {
    for _attempt in 0..5 {
        let existing = list(store).await?;
        let existing_ok: Vec<Sourced> = existing
            .iter()
            .filter_map(|s| {
                s.parsed.as_ref().ok().map(|c| Sourced {
                    source: format!("{} (in the store)", s.entry.key),
                    config: c.clone(),
                })
            })
            .collect();
        let report = validate_cluster(incoming, &existing_ok);
        if report.has_errors() {
            return Err(LoadError::Invalid(report));
        }
        let mut outcome = LoadOutcome {
            report,
            ..LoadOutcome::default()
        };
        // Guard every config validation looked at, so that a concurrent change makes this
        // load start over instead of writing a cluster that was never checked as a whole.
        let mut txn = Txn::default();
        for s in &existing {
            txn.guards.push((
                s.entry.key.clone(),
                Expect::ModRevision(s.entry.mod_revision),
            ));
        }
        for s in incoming {
            let key = config_key(&s.config.host_name);
            let old = existing.iter().find(|e| e.entry.key == key);
            match old {
                None => {
                    txn.guards.push((key.clone(), Expect::Absent));
                    outcome.created.push(s.config.host_name.clone());
                }
                Some(old) if old.entry.value == s.config.raw => {
                    outcome.unchanged.push(s.config.host_name.clone());
                    continue;
                }
                Some(old) => {
                    outcome.updated.push(s.config.host_name.clone());
                    if let Ok(old) = &old.parsed {
                        outcome
                            .changes
                            .push((s.config.host_name.clone(), old.changes_to(&s.config)));
                    }
                }
            }
            txn.ops.push(Op::Put {
                key,
                value: s.config.raw.clone(),
                lease: None,
            });
        }
        if !force {
            let mut refused = Vec::new();
            for (host, changes) in &outcome.changes {
                let identity: Vec<FieldChange> = changes
                    .iter()
                    .filter(|c| c.is_identity())
                    .cloned()
                    .collect();
                if !identity.is_empty() && store.get(&status_key(host)).await?.is_some() {
                    refused.push((host.clone(), identity));
                }
            }
            if !refused.is_empty() {
                return Err(LoadError::IdentityOfLiveHost(refused));
            }
        }
        if txn.ops.is_empty() || store.commit(txn).await? {
            return Ok(outcome);
        }
    }
    Err(LoadError::Contended)
}

/// Removes a host's config; `Ok(false)` when there was none.
pub async fn delete(store: &dyn Store, host: &str) -> Result<bool, StoreError> {
    brickyard_model::names::check_hostname("host name", host).map_err(|e| StoreError::BadKey {
        key: host.to_owned(),
        reason: e.to_string(),
    })?;
    store.delete(&config_key(host)).await
}
