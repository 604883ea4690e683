//! Brick placement: which host and brick mount gets each brick of a volume. Pure.
//!
//! Rules:
//! - A volume has at most one brick directory under each brick mount:
//!   `/gluster/brickN/<volume>`.
//! - The bricks of one replica or disperse set are on distinct hosts, and in distinct zones
//!   when any host declares a `Zone` (a host without one counts as a zone of its own).
//! - Among the allowed mounts the least loaded wins: fewest bricks (of all volumes) on the
//!   mount, then the most free space when known, then the fewest bricks on the host, then
//!   host name and mount path, so the same input always gives the same placement.
//! - Only hosts whose agent is live are used: a brick on a host that is down could not be
//!   created.
//!
//! Sets are placed one after another, each greedily. A refusal names what was needed and
//! what the cluster has.

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

use crate::record::{BrickRef, Layout, LayoutKind};

/// A brick mount of a host, with its load.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Where it is mounted: `/gluster/brickN`.
    pub path: String,
    /// Bricks of any volume already on it.
    pub bricks: u32,
    /// Free bytes, when known.
    pub free_bytes: Option<u64>,
}

/// A host that may receive bricks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `HostName`.
    pub host: String,
    /// Its storage address.
    pub ip: String,
    /// Its `Zone`, if declared.
    pub zone: Option<String>,
    /// Whether its agent is live.
    pub live: bool,
    /// Its brick mounts.
    pub mounts: Vec<Mount>,
}

impl Candidate {
    fn zone_key(&self) -> String {
        match &self.zone {
            Some(z) => format!("zone {z}"),
            None => format!("host {}", self.host),
        }
    }
}

/// Why the bricks cannot be placed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PlacementError {
    /// Not enough distinct hosts (or zones) with a free brick mount for one set.
    #[error("{layout} needs {needed} {what}, the cluster has {have}: {detail}; {fix}")]
    NotEnough {
        /// The layout, as people write it.
        layout: String,
        /// Bricks per set.
        needed: u32,
        /// "distinct hosts" or "hosts in distinct zones", with any qualifier.
        what: String,
        /// How many there are.
        have: usize,
        /// Which there are.
        detail: String,
        /// What to do.
        fix: &'static str,
    },
}

const FIX: &str = "add hosts (or brick devices with ExtraBrickDevices), start the hosts that are down, or ask for a smaller layout";

/// Places every set of a new volume.
pub fn place(
    volume: &str,
    layout: &Layout,
    candidates: &[Candidate],
) -> Result<Vec<BrickRef>, PlacementError> {
    place_sets(volume, layout, layout.sets, candidates, &[])
}

/// Places one more set for a volume that already has the bricks `existing` (expand).
pub fn place_expansion(
    volume: &str,
    layout: &Layout,
    existing: &[BrickRef],
    candidates: &[Candidate],
) -> Result<Vec<BrickRef>, PlacementError> {
    place_sets(
        volume,
        &layout.with_sets(layout.sets + 1),
        1,
        candidates,
        existing,
    )
}

/// Places a new brick for brick `index` of `existing` (replace-brick): on a live host with
/// a brick mount free of this volume, never on the host (or zone) of another brick of the
/// same set; on `to` when given. The brick it replaces may stay on its host when that host
/// has another free mount. Least loaded first, as for a new volume.
/// With `beside`, a brick may go to the host (or zone) of another brick of its set when
/// nothing else has room: the set then loses a copy with that host (`host drain --force`).
pub fn place_replacement(
    volume: &str,
    layout: &Layout,
    existing: &[BrickRef],
    index: usize,
    candidates: &[Candidate],
    to: Option<&str>,
    beside: bool,
) -> Result<BrickRef, ReplacementError> {
    let width = layout.set_width().max(1) as usize;
    let set = index / width;
    let zone_of = |host: &str| {
        candidates
            .iter()
            .find(|c| c.host == host)
            .map_or_else(|| format!("host {host}"), Candidate::zone_key)
    };
    let others: Vec<&BrickRef> = existing
        .iter()
        .enumerate()
        .filter(|(i, _)| *i / width == set && *i != index)
        .map(|(_, b)| b)
        .collect();
    let hosts: BTreeSet<&str> = if beside {
        BTreeSet::new()
    } else {
        others.iter().map(|b| b.host.as_str()).collect()
    };
    let zones: BTreeSet<String> = if beside {
        BTreeSet::new()
    } else {
        others.iter().map(|b| zone_of(&b.host)).collect()
    };
    let used: BTreeSet<(&str, &str)> = existing
        .iter()
        .map(|b| (b.host.as_str(), b.mount()))
        .collect();
    let best = least_loaded(
        candidates
            .iter()
            .filter(|c| to.is_none_or(|t| c.host == t))
            .filter(|c| c.live && !hosts.contains(c.host.as_str()))
            .filter(|c| !zones.contains(&c.zone_key()))
            .flat_map(|c| c.mounts.iter().map(move |m| (c, m)))
            .filter(|(c, m)| !used.contains(&(c.host.as_str(), m.path.as_str()))),
        |c| c.mounts.iter().map(|m| m.bricks).sum(),
    );
    match best {
        Some((c, m)) => Ok(BrickRef {
            host: c.host.clone(),
            ip: c.ip.clone(),
            path: format!("{}/{volume}", m.path),
        }),
        None => Err(ReplacementError {
            set: set + 1,
            others: others.iter().map(|b| b.host.clone()).collect(),
            to: to.map(str::to_owned),
        }),
    }
}

/// Why no host can take a replacement brick.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error(
    "no {} has a brick mount free of this volume outside the hosts{} of set {set}'s other bricks ({}); add a disk or a host, start the hosts that are down{}",
    .to.as_deref().map_or_else(|| "live host".to_owned(), |t| format!("live host named {t}")),
    " (and zones)",
    if .others.is_empty() { "none".to_owned() } else { .others.join(", ") },
    if .to.is_some() { ", or leave out --to to let placement choose" } else { "" }
)]
pub struct ReplacementError {
    /// The 1-based set of the brick.
    pub set: usize,
    /// The hosts of the set's other bricks.
    pub others: Vec<String>,
    /// The host asked for.
    pub to: Option<String>,
}

/// The least loaded of `mounts`: fewest bricks on the mount, then the most free space,
/// then the fewest bricks on its host (`host_load`), then names, so that the same input
/// always gives the same answer.
fn least_loaded<'a>(
    mounts: impl Iterator<Item = (&'a Candidate, &'a Mount)>,
    host_load: impl Fn(&Candidate) -> u32,
) -> Option<(&'a Candidate, &'a Mount)> {
    mounts.min_by_key(|(c, m)| {
        (
            m.bricks,
            std::cmp::Reverse(m.free_bytes.unwrap_or(0)),
            host_load(c),
            c.host.clone(),
            m.path.clone(),
        )
    })
}

fn place_sets(
    volume: &str,
    layout: &Layout,
    sets: u32,
    candidates: &[Candidate],
    existing: &[BrickRef],
) -> Result<Vec<BrickRef>, PlacementError> {
    let width = layout.set_width();
    let zoned = candidates.iter().any(|c| c.zone.is_some());
    let mut used: BTreeSet<(String, String)> = existing
        .iter()
        .map(|b| (b.host.clone(), b.mount().to_owned()))
        .collect();
    let mut host_load: BTreeMap<&str, u32> = candidates
        .iter()
        .map(|c| (c.host.as_str(), c.mounts.iter().map(|m| m.bricks).sum()))
        .collect();
    let mut placed = Vec::new();
    for set in 0..sets {
        let mut hosts: BTreeSet<&str> = BTreeSet::new();
        let mut zones: BTreeSet<String> = BTreeSet::new();
        let before = used.clone();
        for _ in 0..width {
            let best = least_loaded(
                candidates
                    .iter()
                    .filter(|c| c.live && !hosts.contains(c.host.as_str()))
                    .filter(|c| !zones.contains(&c.zone_key()))
                    .flat_map(|c| c.mounts.iter().map(move |m| (c, m)))
                    .filter(|(c, m)| !used.contains(&(c.host.clone(), m.path.clone()))),
                |c| host_load.get(c.host.as_str()).copied().unwrap_or(0),
            );
            let Some((c, m)) = best else {
                return Err(refusal(layout, set, width, zoned, candidates, &before));
            };
            hosts.insert(&c.host);
            zones.insert(c.zone_key());
            used.insert((c.host.clone(), m.path.clone()));
            *host_load.entry(&c.host).or_default() += 1;
            placed.push(BrickRef {
                host: c.host.clone(),
                ip: c.ip.clone(),
                path: format!("{}/{volume}", m.path),
            });
        }
    }
    Ok(placed)
}

fn refusal(
    layout: &Layout,
    set: u32,
    width: u32,
    zoned: bool,
    candidates: &[Candidate],
    used: &BTreeSet<(String, String)>,
) -> PlacementError {
    // Group the live hosts that still have a mount free for this volume by zone.
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for c in candidates.iter().filter(|c| c.live) {
        if c.mounts
            .iter()
            .any(|m| !used.contains(&(c.host.clone(), m.path.clone())))
        {
            groups.entry(c.zone_key()).or_default().push(&c.host);
        }
    }
    let down: Vec<&str> = candidates
        .iter()
        .filter(|c| !c.live)
        .map(|c| c.host.as_str())
        .collect();
    let kind = match layout.kind {
        LayoutKind::Distribute => "brick mounts".to_owned(),
        _ if zoned => "hosts in distinct zones".to_owned(),
        _ => "distinct hosts".to_owned(),
    };
    let (needed, have, mut detail) = if matches!(layout.kind, LayoutKind::Distribute) {
        let free: usize = candidates
            .iter()
            .filter(|c| c.live)
            .map(|c| {
                c.mounts
                    .iter()
                    .filter(|m| !used.contains(&(c.host.clone(), m.path.clone())))
                    .count()
            })
            .sum();
        let total = free + set as usize;
        (
            layout.brick_count(),
            total,
            format!("{total} brick mounts on live hosts"),
        )
    } else if zoned {
        let detail = groups
            .iter()
            .map(|(z, hs)| format!("{z} ({})", hs.join(", ")))
            .collect::<Vec<_>>()
            .join(", ");
        (width, groups.len(), detail)
    } else {
        let hs: Vec<&str> = groups.values().flatten().copied().collect();
        (width, hs.len(), hs.join(", "))
    };
    if detail.is_empty() {
        detail = "none".into();
    }
    if !down.is_empty() {
        detail.push_str(&format!(" (down: {})", down.join(", ")));
    }
    let sets = layout.sets;
    let what = if sets > 1 && !matches!(layout.kind, LayoutKind::Distribute) {
        format!("{kind} with a free brick mount for each of its {sets} sets")
    } else if matches!(layout.kind, LayoutKind::Distribute) {
        kind
    } else {
        format!("{kind} with a free brick mount")
    };
    PlacementError::NotEnough {
        layout: layout.to_string(),
        needed,
        what,
        have,
        detail,
        fix: FIX,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hosts "h1".. with `mounts` mounts each, zones from `zones` (None = no zone).
    fn hosts(zones: &[Option<&str>], mounts: usize) -> Vec<Candidate> {
        zones
            .iter()
            .enumerate()
            .map(|(i, z)| Candidate {
                host: format!("h{}", i + 1),
                ip: format!("10.0.0.{}", i + 1),
                zone: z.map(str::to_owned),
                live: true,
                mounts: (1..=mounts)
                    .map(|m| Mount {
                        path: format!("/gluster/brick{m}"),
                        bricks: 0,
                        free_bytes: None,
                    })
                    .collect(),
            })
            .collect()
    }

    fn short(bricks: &[BrickRef]) -> String {
        bricks
            .iter()
            .map(|b| format!("{}:{}", b.host, b.mount().trim_start_matches("/gluster/")))
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn a_replacement_stays_out_of_its_set() {
        let layout = Layout::replicate(3);
        let mut cands = hosts(&[None, None, None, None], 2);
        let existing = place("v", &layout, &cands[..3]).expect("placed");
        assert_eq!(short(&existing), "h1:brick1 h2:brick1 h3:brick1");
        for c in &mut cands[..3] {
            c.mounts[0].bricks = 1;
        }
        // h4 is the least loaded host outside the set.
        let b = place_replacement("v", &layout, &existing, 0, &cands, None, false).expect("placed");
        assert_eq!(short(&[b]), "h4:brick1");
        // Without h4, h1's other disk; never h2 or h3, which hold the set's other bricks.
        cands.pop();
        let b = place_replacement("v", &layout, &existing, 0, &cands, None, false).expect("placed");
        assert_eq!(short(&[b]), "h1:brick2");
        let e = place_replacement("v", &layout, &existing, 0, &cands, Some("h2"), false)
            .expect_err("h2 holds a brick of the set");
        assert!(e.to_string().contains("outside the hosts"), "{e}");
        // A host that is down takes nothing.
        cands[0].live = false;
        let e = place_replacement("v", &layout, &existing, 0, &cands, None, false)
            .expect_err("no live host outside the set");
        assert!(
            e.to_string().contains("set 1's other bricks (h2, h3)"),
            "{e}"
        );
    }

    #[test]
    fn placements() {
        let three = [None, None, None];
        let four = [None, None, None, None];
        let zoned = [Some("a"), Some("a"), Some("b"), Some("c")];
        // (layout, hosts, mounts per host, expected placement)
        let cases: Vec<(Layout, &[Option<&str>], usize, &str)> = vec![
            (
                Layout::replicate(3),
                &three,
                1,
                "h1:brick1 h2:brick1 h3:brick1",
            ),
            (
                Layout::arbiter(),
                &three,
                1,
                "h1:brick1 h2:brick1 h3:brick1",
            ),
            (
                Layout::disperse(3, 1),
                &three,
                1,
                "h1:brick1 h2:brick1 h3:brick1",
            ),
            (Layout::distribute(2), &three, 1, "h1:brick1 h2:brick1"),
            (
                Layout::distribute(3),
                &three,
                1,
                "h1:brick1 h2:brick1 h3:brick1",
            ),
            // Two sets on four hosts of two mounts: spread over all hosts first.
            (
                Layout::replicate(2).with_sets(2),
                &four,
                2,
                "h1:brick1 h2:brick1 h3:brick1 h4:brick1",
            ),
            // Second set reuses hosts on their second mount.
            (
                Layout::replicate(3).with_sets(2),
                &three,
                2,
                "h1:brick1 h2:brick1 h3:brick1 h1:brick2 h2:brick2 h3:brick2",
            ),
            // Zones: h1 and h2 share zone a, so a set takes only one of them.
            (
                Layout::replicate(3),
                &zoned,
                1,
                "h1:brick1 h3:brick1 h4:brick1",
            ),
        ];
        for (layout, zones, mounts, want) in cases {
            let got = place("v", &layout, &hosts(zones, mounts)).expect("placed");
            assert_eq!(short(&got), want, "{layout}");
            assert!(got.iter().all(|b| b.path.ends_with("/v")));
        }
    }

    #[test]
    fn balances_by_brick_count_and_free_space() {
        let mut c = hosts(&[None, None, None, None], 1);
        c[0].mounts[0].bricks = 5;
        c[1].mounts[0].bricks = 1;
        let got = place("v", &Layout::replicate(3), &c).expect("placed");
        assert_eq!(short(&got), "h3:brick1 h4:brick1 h2:brick1");
        let mut c = hosts(&[None, None, None, None], 1);
        c[2].mounts[0].free_bytes = Some(10);
        c[3].mounts[0].free_bytes = Some(20);
        let got = place("v", &Layout::distribute(1), &c).expect("placed");
        assert_eq!(short(&got), "h4:brick1");
    }

    #[test]
    fn expansion_uses_free_mounts_only() {
        let c = hosts(&[None, None, None, None], 1);
        let first = place("v", &Layout::distribute(2), &c).expect("placed");
        let more = place_expansion("v", &Layout::distribute(2), &first, &c).expect("placed");
        assert_eq!(short(&more), "h3:brick1");
        let c = hosts(&[None, None, None], 1);
        let first = place("v", &Layout::replicate(3), &c).expect("placed");
        let err = place_expansion("v", &Layout::replicate(3), &first, &c).expect_err("full");
        assert!(
            err.to_string()
                .starts_with("replica 3 x 2 needs 3 distinct hosts with a free brick mount for each of its 2 sets, the cluster has 0"),
            "{err}"
        );
        let c = hosts(&[None, None, None, None, None, None], 1);
        let first = place("v", &Layout::disperse(3, 1), &c).expect("placed");
        let more = place_expansion("v", &Layout::disperse(3, 1), &first, &c).expect("placed");
        assert_eq!(short(&more), "h4:brick1 h5:brick1 h6:brick1");
    }

    #[test]
    fn refusals_name_what_is_missing() {
        let err = place("v", &Layout::replicate(3), &hosts(&[None, None], 1)).expect_err("2 hosts");
        assert_eq!(
            err.to_string(),
            format!(
                "replica 3 needs 3 distinct hosts with a free brick mount, the cluster has 2: h1, h2; {FIX}"
            )
        );
        let zoned = hosts(&[Some("a"), Some("a"), Some("b")], 1);
        let err = place("v", &Layout::replicate(3), &zoned).expect_err("2 zones");
        assert!(
            err.to_string().starts_with(
                "replica 3 needs 3 hosts in distinct zones with a free brick mount, the cluster has 2: zone a (h1, h2), zone b (h3)"
            ),
            "{err}"
        );
        let mut c = hosts(&[None, None, None], 1);
        c[2].live = false;
        let err = place("v", &Layout::disperse(3, 1), &c).expect_err("one down");
        assert!(
            err.to_string().contains("has 2: h1, h2 (down: h3)"),
            "{err}"
        );
        let err = place("v", &Layout::distribute(4), &hosts(&[None, None, None], 1))
            .expect_err("3 mounts");
        assert!(
            err.to_string()
                .starts_with("distribute 4 needs 4 brick mounts, the cluster has 3"),
            "{err}"
        );
    }
}
