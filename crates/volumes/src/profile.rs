//! Option profiles: named sets of `gluster volume set` options applied after create. Every
//! profile sets [`BASE`]: [`PING_TIMEOUT`], [`HEAL_PRIORITY`] and [`HEALTH_CHECK`]; replicated
//! volumes also get [`HEAL_THREADS`] ([`wanted`] has a volume's whole list).
//!
//! The options are listed one by one (rather than `volume set VOL group metadata-cache`) so
//! that a pass can compare them with the options `volume info` reports and set only what is
//! missing: a create interrupted half-way through its options completes on the next pass.

use crate::record::{Layout, LayoutKind};

/// The profile used when none is named: gluster's own defaults, but for [`BASE`].
pub const DEFAULT: &str = "default";
/// The profile for small files and metadata-heavy work.
pub const SMALL_FILES: &str = "small-files";

/// The profiles there are, for messages.
pub const NAMES: &[&str] = &[DEFAULT, SMALL_FILES];

/// How long a client waits for a brick that stopped answering before it goes on without
/// it, in seconds: gluster's 42 s held every writer of a replica-3 volume for 53 s when one
/// host was cut off the network for 30 s (docs/reliability.md, measured); with 10 s the
/// stall was 17 s. A lower value makes clients reconnect (re-open files, re-take locks)
/// after shorter network hiccups, which is the cost; 10 s keeps clear of the seconds a
/// loaded machine may pause.
pub const PING_TIMEOUT: (&str, &str) = ("network.ping-timeout", "10");

/// Whether the bricks serve the self-heal daemon's requests in their own single
/// least-priority thread (gluster's default, `on`) or as ordinary requests (`off`). With
/// `on`, a replica-3 volume healed the writes of a 30 s host outage (about 5800 entries) at
/// 35 entries/s, with the two healthy bricks spending half their CPU on io-threads' queue
/// mutex; with `off`, at 95 entries/s (docs/reliability.md, docs/volumes.md). The cost: a
/// heal competes with the clients' requests on equal terms while it runs.
pub const HEAL_PRIORITY: (&str, &str) = ("performance.enable-least-priority", "off");

/// gluster's own brick health check (`storage.health-check-interval`, every 30 s), off.
/// It writes a file on the brick filesystem and takes the brick down when that fails, and a
/// filesystem full to the last block fails it too: every brick of a full replica set went
/// down within the same second, so the writers saw "Transport endpoint is not connected"
/// instead of "No space left on device", and the bricks, started again, went down again
/// every minute until space was freed (measured on the lab, `lab fault fill`). brickyard's
/// agents probe each brick filesystem themselves (a listing and its free space, within
/// 5 s), which a full one passes, and the pool lock's holder takes the bricks of a failing
/// disk offline with `volume reset-brick VOL BRICK start`.
pub const HEALTH_CHECK: (&str, &str) = ("storage.health-check-interval", "0");

/// How many files each self-heal daemon heals at once per brick of a replicated volume
/// (`cluster.shd-max-threads`, gluster's default 1). With [`HEAL_PRIORITY`] off, the daemon
/// became the limit: the writes of a host stopped for 30 s under a writer (840–1010
/// entries) healed in 31–74 s with 1 (six runs) and in 27 s with 4 (two runs; the fault
/// suite's host-stop). The cost: a heal puts up to four requests per brick beside the
/// clients'. gluster refuses the option on disperse and distribute volumes, which have no
/// replicate translator.
pub const HEAL_THREADS: (&str, &str) = ("cluster.shd-max-threads", "4");

/// What every profile sets, before its own options.
pub const BASE: [(&str, &str); 3] = [PING_TIMEOUT, HEAL_PRIORITY, HEALTH_CHECK];

const DEFAULT_OPTIONS: &[(&str, &str)] = &BASE;

/// `small-files`: gluster's `metadata-cache` group (clients cache stat and xattrs for 10
/// minutes and the bricks tell them when an entry changes, so repeated lookups stay on the
/// client), directory listings read ahead in parallel on every distribute subvolume,
/// lookups of names that do not exist answered by the hashed subvolume alone, and more
/// network threads on both sides for many small requests in flight.
const SMALL_FILES_OPTIONS: &[(&str, &str)] = &[
    PING_TIMEOUT,
    HEAL_PRIORITY,
    HEALTH_CHECK,
    // gluster's group "metadata-cache" (/var/lib/glusterd/groups/metadata-cache), 10.3.
    ("features.cache-invalidation", "on"),
    ("features.cache-invalidation-timeout", "600"),
    ("performance.stat-prefetch", "on"),
    ("performance.cache-invalidation", "on"),
    ("performance.md-cache-timeout", "600"),
    ("network.inode-lru-limit", "200000"),
    // Listings: readdir-ahead in parallel across subvolumes.
    ("performance.readdir-ahead", "on"),
    ("performance.parallel-readdir", "on"),
    // A negative lookup goes to the hashed subvolume only, not to all of them.
    ("cluster.lookup-optimize", "on"),
    // More epoll threads for many small requests.
    ("client.event-threads", "4"),
    ("server.event-threads", "4"),
];

/// The options of a profile in the order they are set; `None` for an unknown profile.
pub fn options(profile: &str) -> Option<&'static [(&'static str, &'static str)]> {
    match profile {
        DEFAULT => Some(DEFAULT_OPTIONS),
        SMALL_FILES => Some(SMALL_FILES_OPTIONS),
        _ => None,
    }
}

/// The options a layout adds after its profile's: [`HEAL_THREADS`] for replicated volumes
/// (with or without arbiter), nothing for the others.
pub fn layout_options(layout: &Layout) -> &'static [(&'static str, &'static str)] {
    match layout.kind {
        LayoutKind::Replicate { .. } => &[HEAL_THREADS],
        LayoutKind::Disperse { .. } | LayoutKind::Distribute => &[],
    }
}

/// Every option a volume of `profile` and `layout` carries, in the order they are set:
/// the profile's, then the layout's. None for an unknown profile ([`options`] tells those).
pub fn wanted(
    profile: &str,
    layout: &Layout,
) -> impl Iterator<Item = (&'static str, &'static str)> + use<> {
    let (profile, layout): (&[_], &[_]) = match options(profile) {
        Some(options) => (options, layout_options(layout)),
        None => (&[], &[]),
    };
    profile.iter().chain(layout).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles() {
        assert_eq!(options(DEFAULT), Some(&BASE[..]));
        let small = options(SMALL_FILES).expect("small-files");
        assert!(small.starts_with(&BASE));
        assert!(small.contains(&("performance.parallel-readdir", "on")));
        assert!(small.contains(&("cluster.lookup-optimize", "on")));
        assert!(options("fast").is_none());
        for name in NAMES {
            assert!(options(name).is_some(), "{name}");
        }
    }

    #[test]
    fn heal_threads_only_where_gluster_takes_them() {
        let has = |layout: Layout| wanted(DEFAULT, &layout).any(|o| o == HEAL_THREADS);
        assert!(has(Layout::replicate(3)));
        assert!(has(Layout::replicate(2)));
        assert!(has(Layout::arbiter()));
        assert!(!has(Layout::disperse(3, 1)));
        assert!(!has(Layout {
            kind: LayoutKind::Distribute,
            sets: 2
        }));
        let small: Vec<_> = wanted(SMALL_FILES, &Layout::replicate(3)).collect();
        assert!(small.starts_with(&BASE));
        assert_eq!(small.last(), Some(&HEAL_THREADS));
        assert_eq!(wanted("fast", &Layout::replicate(3)).count(), 0);
    }
}
