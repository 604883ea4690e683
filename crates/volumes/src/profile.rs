//! Option profiles: named sets of `gluster volume set` options applied after create. Every
//! profile sets [`PING_TIMEOUT`].
//!
//! The options are listed one by one (rather than `volume set VOL group metadata-cache`) so
//! that a pass can compare them with the options `volume info` reports and set only what is
//! missing: a create interrupted half-way through its options completes on the next pass.

/// The profile used when none is named: gluster's own defaults, but for
/// [`PING_TIMEOUT`].
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

const DEFAULT_OPTIONS: &[(&str, &str)] = &[PING_TIMEOUT];

/// `small-files`: gluster's `metadata-cache` group (clients cache stat and xattrs for 10
/// minutes and the bricks tell them when an entry changes, so repeated lookups stay on the
/// client), directory listings read ahead in parallel on every distribute subvolume,
/// lookups of names that do not exist answered by the hashed subvolume alone, and more
/// network threads on both sides for many small requests in flight.
const SMALL_FILES_OPTIONS: &[(&str, &str)] = &[
    PING_TIMEOUT,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles() {
        assert_eq!(options(DEFAULT), Some(&[PING_TIMEOUT][..]));
        let small = options(SMALL_FILES).expect("small-files");
        assert!(small.contains(&("performance.parallel-readdir", "on")));
        assert!(small.contains(&("cluster.lookup-optimize", "on")));
        assert!(options("fast").is_none());
        for name in NAMES {
            assert!(options(name).is_some(), "{name}");
        }
    }
}
