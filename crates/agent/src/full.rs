//! Brick filesystems that fill up: told once when one becomes full, and healed in full once
//! it has room again.
//!
//! A write that reaches only some bricks of a replica set (the others answered "No space
//! left on device") is marked pending on the bricks that have it, and linked into their heal
//! index, which the self-heal daemons and `heal info` read. On a filesystem full to the last
//! block that link fails too (gluster logs "Not able to create index"): measured on the
//! lab, a brick kept stale copies of acknowledged appends while `heal info` counted 0
//! entries. Only a full crawl (`volume heal VOL full`) finds such files, so an agent asks
//! for one when a brick filesystem of its host that was full has room again. The heals it
//! owes are kept in the store too (`gluster/full-heals/<HostName>`), so that a restart
//! between the filling and the freeing does not forget them.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use brickyard_model::HostConfig;
use brickyard_model::keys::full_heal_key;
use brickyard_model::records::agent::{BrickSpace, FullHeals};
use brickyard_model::records::volume::{DesiredState, LayoutKind, VolumeRecord};
use brickyard_store::Store;
use tracing::{info, warn};

use crate::options::AgentOptions;

/// How long after a failed full heal it is asked for again. What made it fail is mostly
/// short-lived: another peer's operation on the volume holding gluster's lock, or a peer's
/// glusterd restarting with its agent (measured in the fault suite: every agent's first
/// ask failed with "Unable to acquire lock", the next one succeeded); meanwhile reads may
/// still find stale copies.
const RETRY_EVERY: Duration = Duration::from_secs(10);

/// A brick filesystem with less free space than this is full: 0.1 % of its size, and at
/// least 1 MiB. gluster's own reserve (`storage.reserve`, 1 %) refuses clients' writes
/// before that, but it looks at the free space only every few seconds, and whatever else
/// writes to the filesystem ignores it.
fn full_below(size: u64) -> u64 {
    (size / 1000).max(1 << 20)
}

/// What changed since the last look at the brick filesystems' free space.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Turn {
    /// Mount points that became full.
    pub(crate) full: Vec<String>,
    /// Mount points that were full and have room again: gluster's reserve free (1 %, when
    /// its bricks take clients' writes again) and at least twice [`full_below`]. Far above
    /// the full mark, so that a filesystem hovering at the edge, or given back a few files'
    /// worth by deletes while its clients' writes still fail, does not have its volumes
    /// crawled again and again, nor its heal asked for before there is room to heal into.
    pub(crate) room: Vec<String>,
}

/// Compares the free space seen now with the mount points known to be full. A mount point
/// that was not measured now (its probe failed) stays as it was.
pub(crate) fn turn<T>(known_full: &BTreeMap<String, T>, space: &[BrickSpace]) -> Turn {
    let mut t = Turn::default();
    for s in space {
        let limit = full_below(s.size_bytes);
        let was = known_full.contains_key(&s.mount_point);
        if !was && s.free_bytes < limit {
            t.full.push(s.mount_point.clone());
        } else if was && !s.below_reserve() && s.free_bytes >= limit.saturating_mul(2) {
            t.room.push(s.mount_point.clone());
        }
    }
    t
}

/// The started volumes that keep copies (replicated or dispersed) with a brick of host
/// `host` on the filesystem mounted at `mount`.
pub(crate) fn volumes_on<'a>(
    records: impl IntoIterator<Item = &'a VolumeRecord>,
    host: &str,
    mount: &str,
) -> Vec<String> {
    let under = format!("{}/", mount.trim_end_matches('/'));
    records
        .into_iter()
        .filter(|r| r.state == DesiredState::Started)
        .filter(|r| !matches!(r.layout.kind, LayoutKind::Distribute))
        .filter(|r| {
            r.bricks
                .iter()
                .any(|b| b.host == host && b.path.starts_with(&under))
        })
        .map(|r| r.name.clone())
        .collect()
}

/// The agent's memory of its full brick filesystems: for each, when a full heal of its
/// volumes last failed (`None`: not asked yet). The store keeps the same list
/// ([`FullHeals`]), so that an agent restarted before the filesystem has room again still
/// asks for the heal.
#[derive(Debug, Default)]
pub(crate) struct Full {
    known: BTreeMap<String, Option<Instant>>,
    /// Whether the store's record has been read: until then nothing is written over it.
    loaded: bool,
    /// The mounts the store's record lists, as last read or written (empty: no record;
    /// `None`: unknown, after an invalid record, so the next look writes it again).
    stored: Option<BTreeSet<String>>,
}

/// Notes the brick filesystems that became full, and asks for a full heal of the volumes
/// on those that have room again.
pub(crate) async fn follow(
    opts: &AgentOptions,
    store: &Arc<dyn Store>,
    config: &HostConfig,
    full: &mut Full,
    space: &[BrickSpace],
) {
    if !full.loaded {
        load(store.as_ref(), config, full).await;
    }
    let t = turn(&full.known, space);
    for m in t.full {
        warn!(
            "brick filesystem {m} is full: writes to its bricks fail with \"No space left on device\" until space is freed"
        );
        full.known.insert(m, None);
    }
    for m in t.room {
        if full.known[&m].is_some_and(|failed| failed.elapsed() < RETRY_EVERY) {
            continue;
        }
        let records = match brickyard_volumes::api::records(store.as_ref()).await {
            Ok((records, _)) => records,
            Err(e) => {
                warn!(
                    "brick filesystem {m} has room again, but the volumes on it cannot be read: {e}"
                );
                full.known.insert(m, Some(Instant::now()));
                continue;
            }
        };
        let volumes = volumes_on(records.iter().map(|(_, r)| r), &config.host_name, &m);
        let mut failed = false;
        for v in &volumes {
            if let Err(e) = opts.gluster.heal_full(v).await {
                warn!("volume {v}: cannot start a full heal after {m} was full: {e}");
                failed = true;
            }
        }
        if failed {
            full.known.insert(m, Some(Instant::now()));
        } else {
            info!(
                "brick filesystem {m} has room again; full heal started of the volumes on it ({}), for writes that reached only some of their bricks",
                if volumes.is_empty() {
                    "none".to_owned()
                } else {
                    volumes.join(", ")
                }
            );
            full.known.remove(&m);
        }
    }
    save(store.as_ref(), &config.host_name, full).await;
}

/// Reads the full heals owed from the store's record into `full`: those of the brick mounts
/// of `config` (a mount no longer configured has no volumes to heal). A store that cannot be
/// asked leaves `full` unloaded, to be read again at the next look.
async fn load(store: &dyn Store, config: &HostConfig, full: &mut Full) {
    let key = full_heal_key(&config.host_name);
    let stored = match store.get(&key).await {
        Ok(None) => BTreeSet::new(),
        Ok(Some(entry)) => match FullHeals::decode(&key, &entry.value) {
            Ok(r) => r.mounts.into_iter().collect(),
            Err(e) => {
                warn!("skipped: {e}; written again with the full filesystems this agent sees");
                full.loaded = true;
                full.stored = None;
                return;
            }
        },
        Err(e) => {
            warn!("cannot read the full heals owed ({key}): {e}; asked again at the next look");
            return;
        }
    };
    let ours: BTreeSet<String> = config.bricks().into_iter().map(|(_, m)| m).collect();
    let owed: Vec<&String> = stored.iter().filter(|m| ours.contains(*m)).collect();
    if !owed.is_empty() {
        info!(
            "full heals owed from before this agent started, once their filesystems have room: {}",
            owed.iter()
                .map(|m| m.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for m in owed {
        full.known.entry(m.clone()).or_insert(None);
    }
    full.loaded = true;
    full.stored = Some(stored);
}

/// Writes the mounts owed a full heal to the store when they differ from its record (the
/// key is removed when none is owed). A failed write is tried again at the next look.
async fn save(store: &dyn Store, host: &str, full: &mut Full) {
    if !full.loaded {
        return;
    }
    let want: BTreeSet<String> = full.known.keys().cloned().collect();
    if full.stored.as_ref() == Some(&want) {
        return;
    }
    let key = full_heal_key(host);
    let written = if want.is_empty() {
        store.delete(&key).await.map(|_| ())
    } else {
        let value = serde_json::to_vec(&FullHeals::new(host, want.iter().cloned()))
            .expect("a full heals record always serialises");
        store.put(&key, &value, None).await
    };
    match written {
        Ok(()) => full.stored = Some(want),
        Err(e) => {
            warn!("cannot record the full heals owed ({key}): {e}; tried again at the next look")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use brickyard_model::records::volume::{BrickRef, Layout};

    fn space(mount: &str, size: u64, free: u64) -> BrickSpace {
        BrickSpace {
            mount_point: mount.into(),
            size_bytes: size,
            free_bytes: free,
        }
    }

    #[test]
    fn a_filesystem_is_full_below_a_thousandth_and_has_room_again_with_glusters_reserve_free() {
        let size = 512 << 20;
        let mut known: BTreeMap<String, ()> = BTreeMap::new();
        // 512 MiB: full below 1 MiB (a thousandth would be less), room again from 1 % of
        // it (gluster's reserve, about 5.1 MiB), not at 2 MiB.
        let t = turn(&known, &[space("/gluster/brick1", size, 28 << 10)]);
        assert_eq!(t.full, vec!["/gluster/brick1".to_owned()]);
        assert!(t.room.is_empty());
        known.insert("/gluster/brick1".to_owned(), ());
        let reserve = size / 100;
        for free in [28 << 10, 1 << 20, 2 << 20, reserve - 1] {
            assert_eq!(
                turn(&known, &[space("/gluster/brick1", size, free)]),
                Turn::default(),
                "{free}"
            );
        }
        let t = turn(&known, &[space("/gluster/brick1", size, reserve)]);
        assert_eq!(t.room, vec!["/gluster/brick1".to_owned()]);
        // 100 MiB: 1 % is less than twice the 1 MiB mark, which rules.
        let small = 100 << 20;
        assert!(
            turn(&known, &[space("/gluster/brick1", small, (2 << 20) - 1)])
                .room
                .is_empty()
        );
        assert_eq!(
            turn(&known, &[space("/gluster/brick1", small, 2 << 20)])
                .room
                .len(),
            1
        );
        // 10 TiB: full below a thousandth (about 10 GiB).
        let big = 10 << 40;
        assert_eq!(
            turn(
                &BTreeMap::<String, ()>::new(),
                &[space("/gluster/brick2", big, 5 << 30)]
            )
            .full,
            vec!["/gluster/brick2".to_owned()]
        );
        assert_eq!(
            turn(
                &BTreeMap::<String, ()>::new(),
                &[space("/gluster/brick2", big, 20 << 30)]
            ),
            Turn::default()
        );
        // Not measured this time: nothing changes.
        assert_eq!(turn(&known, &[]), Turn::default());
    }

    /// The mounts h1's record in `store` lists; `None` without one.
    async fn owed_in(store: &brickyard_store::FileStore) -> Option<Vec<String>> {
        let e = store.get(&full_heal_key("h1")).await.expect("get")?;
        Some(FullHeals::decode(&e.key, &e.value).expect("valid").mounts)
    }

    #[tokio::test]
    async fn the_heals_owed_outlive_the_agent_in_the_store() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = brickyard_store::FileStore::open(dir.path()).expect("file store");
        let (config, report) = brickyard_model::parse_host_config(
            "h1.json",
            br#"{"HostName":"h1","GlusterNodeName":"gluster-1","IPAddress":"10.1.1.1/24",
                "BrickDevice":"/dev/sdb","ExtraBrickDevices":["/dev/sdc"],
                "PeerList":[{"IP":"10.1.1.2"}]}"#,
        );
        let config = config.unwrap_or_else(|| panic!("{report:?}"));
        let key = full_heal_key("h1");

        // Nothing owed, nothing written.
        let mut full = Full::default();
        load(&store, &config, &mut full).await;
        assert!(full.loaded && full.known.is_empty());
        save(&store, "h1", &mut full).await;
        assert_eq!(owed_in(&store).await, None);

        // A filesystem fills up: recorded.
        full.known.insert("/gluster/brick2".into(), None);
        save(&store, "h1", &mut full).await;
        assert_eq!(
            owed_in(&store).await,
            Some(vec!["/gluster/brick2".to_owned()])
        );

        // A restarted agent owes it still; a mount the config no longer has is dropped.
        let stale = FullHeals::new("h1", ["/gluster/brick2".into(), "/gluster/brick9".into()]);
        let json = serde_json::to_vec(&stale).expect("json");
        store.put(&key, &json, None).await.expect("put");
        let mut restarted = Full::default();
        load(&store, &config, &mut restarted).await;
        assert_eq!(
            restarted.known.keys().collect::<Vec<_>>(),
            ["/gluster/brick2"]
        );
        save(&store, "h1", &mut restarted).await;
        assert_eq!(
            owed_in(&store).await,
            Some(vec!["/gluster/brick2".to_owned()])
        );

        // Healed: the record goes.
        restarted.known.clear();
        save(&store, "h1", &mut restarted).await;
        assert_eq!(owed_in(&store).await, None);

        // An invalid record is skipped, and replaced with what the agent knows.
        store
            .put(&key, b"{\"host\":\"h1\",\"mounts\":[\"/etc\"]}", None)
            .await
            .expect("put");
        let mut again = Full::default();
        load(&store, &config, &mut again).await;
        assert!(again.loaded && again.known.is_empty());
        save(&store, "h1", &mut again).await;
        assert!(store.get(&key).await.expect("get").is_none());
    }

    #[test]
    fn the_volumes_healed_are_those_with_copies_on_that_filesystem_of_this_host() {
        let record = |name: &str, kind: LayoutKind, bricks: &[(&str, &str)]| VolumeRecord {
            name: name.into(),
            layout: Layout { kind, sets: 1 },
            bricks: bricks
                .iter()
                .map(|(host, path)| BrickRef {
                    host: (*host).into(),
                    ip: "10.0.0.1".into(),
                    path: (*path).into(),
                })
                .collect(),
            schema: brickyard_model::records::SCHEMA,
            id: String::new(),
            profile: "default".into(),
            state: DesiredState::Started,
            moves: Vec::new(),
            created_at: 0,
            updated_at: 0,
            extra: Default::default(),
        };
        let r3 = LayoutKind::Replicate {
            replica: 3,
            arbiter: false,
        };
        let records = [
            record(
                "a",
                r3,
                &[("h1", "/gluster/brick1/a"), ("h2", "/gluster/brick1/a")],
            ),
            record("b", r3, &[("h1", "/gluster/brick2/b")]),
            record("c", r3, &[("h2", "/gluster/brick1/c")]),
            record("d", LayoutKind::Distribute, &[("h1", "/gluster/brick1/d")]),
            record("e", r3, &[("h1", "/gluster/brick10/e")]),
            VolumeRecord {
                state: DesiredState::Stopped,
                ..record("g", r3, &[("h1", "/gluster/brick1/g")])
            },
            record(
                "f",
                LayoutKind::Disperse {
                    disperse: 3,
                    redundancy: 1,
                },
                &[("h1", "/gluster/brick1/f")],
            ),
        ];
        assert_eq!(
            volumes_on(&records, "h1", "/gluster/brick1"),
            vec!["a".to_owned(), "f".to_owned()]
        );
        assert!(volumes_on(&records, "h3", "/gluster/brick1").is_empty());
    }
}
