//! Freeing a dead host of the bricks of volumes being deleted, so that it can leave the pool.
//!
//! gluster deletes no volume while any peer of the pool is down ("Some of the peers are
//! down"), and detaches no peer that holds a brick. For a host that will never return, the
//! way out is to take its bricks out of the volumes being deleted with `remove-brick ...
//! force` (which gluster accepts with the brick's host down), then detach it; the deletes
//! then finish without it. Since those volumes are being deleted, any brick may go: a
//! replicated volume loses one brick per set per step (`replica N-1`, the arbiter first, as
//! gluster wants), a plain distribute volume the bricks on the host, a dispersed volume the
//! whole sets with a brick there.
//!
//! Pure: a volume's shape and bricks in, the `remove-brick` steps out (or why there are
//! none); measured on gluster 10.3. gluster cannot remove a volume's last brick or last set,
//! nor one brick of a disperse set: a volume whose every brick, or every disperse set, is on
//! the host cannot be freed this way and is refused with a reason.

use brickyard_gluster::VolumeInfo;

use crate::record::{LayoutKind, VolumeRecord};

/// How a volume's bricks form sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Plain distribute: every brick its own set.
    Distribute,
    /// Replica sets of `replica` bricks (counting the arbiter), the last of each set the
    /// arbiter when `arbiter`.
    Replicate {
        /// Bricks per set.
        replica: usize,
        /// Whether the last brick of each set is an arbiter.
        arbiter: bool,
    },
    /// Disperse sets of `width` bricks.
    Disperse {
        /// Bricks per set.
        width: usize,
    },
}

/// One brick: its gluster name (`IP:PATH`) and whether it is on the host to free.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// `IP:PATH`.
    pub name: String,
    /// On the host being freed.
    pub dead: bool,
}

/// One `gluster volume remove-brick NAME [replica N] BRICK... force`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoveBricks {
    /// The replica count after the step, for a replicated volume.
    pub replica: Option<usize>,
    /// The bricks removed.
    pub bricks: Vec<String>,
}

impl RemoveBricks {
    /// The argv after `gluster`.
    pub fn args(&self, volume: &str) -> Vec<String> {
        let mut a = vec!["volume".into(), "remove-brick".into(), volume.to_owned()];
        if let Some(r) = self.replica {
            a.extend(["replica".into(), r.to_string()]);
        }
        a.extend(self.bricks.iter().cloned());
        a.push("force".into());
        a
    }
}

/// The shape and bricks of gluster's volume, with those on `ip` marked.
pub fn from_gluster(v: &VolumeInfo, ip: &str) -> (Shape, Vec<Slot>) {
    let shape = if v.disperse_count > 0 {
        Shape::Disperse {
            width: v.disperse_count as usize,
        }
    } else if v.replica_count > 1 {
        Shape::Replicate {
            replica: v.replica_count as usize,
            arbiter: v.arbiter_count > 0,
        }
    } else {
        Shape::Distribute
    };
    let slots = v
        .bricks
        .iter()
        .map(|b| Slot {
            name: b.name.clone(),
            dead: b.host == ip,
        })
        .collect();
    (shape, slots)
}

/// The shape and bricks of a record, with those on `host` (a `HostName`) marked.
pub fn from_record(r: &VolumeRecord, host: &str) -> (Shape, Vec<Slot>) {
    let shape = match r.layout.kind {
        LayoutKind::Distribute => Shape::Distribute,
        LayoutKind::Replicate { replica, arbiter } => Shape::Replicate {
            replica: replica as usize + usize::from(arbiter),
            arbiter,
        },
        LayoutKind::Disperse { disperse, .. } => Shape::Disperse {
            width: disperse as usize,
        },
    };
    let slots = r
        .bricks
        .iter()
        .map(|b| Slot {
            name: b.gluster_name(),
            dead: b.host == host,
        })
        .collect();
    (shape, slots)
}

/// Every step that leaves no brick marked dead, in order; empty when none is. `Err` says
/// why gluster cannot be brought there.
pub fn steps(shape: Shape, slots: &[Slot]) -> Result<Vec<RemoveBricks>, String> {
    let mut shape = shape;
    let mut slots = slots.to_vec();
    let mut out = Vec::new();
    while slots.iter().any(|s| s.dead) {
        let (step, next) = match shape {
            Shape::Distribute => {
                if slots.iter().all(|s| s.dead) {
                    return Err(
                        "every brick it has left is on that host, and gluster removes no volume's last brick"
                            .into(),
                    );
                }
                let (gone, kept): (Vec<Slot>, Vec<Slot>) = slots.into_iter().partition(|s| s.dead);
                let step = RemoveBricks {
                    replica: None,
                    bricks: gone.into_iter().map(|s| s.name).collect(),
                };
                (step, (Shape::Distribute, kept))
            }
            Shape::Disperse { width } => {
                let (gone, kept): (Vec<&[Slot]>, Vec<&[Slot]>) = slots
                    .chunks(width.max(1))
                    .partition(|set| set.iter().any(|s| s.dead));
                if kept.is_empty() {
                    return Err(
                        "every disperse set of it has a brick on that host, and gluster neither removes one brick from a disperse set nor a volume's last set"
                            .into(),
                    );
                }
                let step = RemoveBricks {
                    replica: None,
                    bricks: gone
                        .iter()
                        .flat_map(|s| s.iter().map(|b| b.name.clone()))
                        .collect(),
                };
                let kept = kept.into_iter().flatten().cloned().collect();
                (step, (shape, kept))
            }
            Shape::Replicate { replica, .. } if replica <= 1 => {
                // One brick per set is plain distribute.
                shape = Shape::Distribute;
                continue;
            }
            Shape::Replicate { replica, arbiter } => {
                let mut gone = Vec::new();
                let mut kept = Vec::new();
                for set in slots.chunks(replica) {
                    // The arbiter goes first (gluster reduces an arbiter volume only by its
                    // arbiter bricks); otherwise a brick on the host, else the set's last.
                    let pick = if arbiter {
                        set.len() - 1
                    } else {
                        set.iter().position(|s| s.dead).unwrap_or(set.len() - 1)
                    };
                    for (i, s) in set.iter().enumerate() {
                        if i == pick {
                            gone.push(s.name.clone());
                        } else {
                            kept.push(s.clone());
                        }
                    }
                }
                let step = RemoveBricks {
                    replica: Some(replica - 1),
                    bricks: gone,
                };
                let next = Shape::Replicate {
                    replica: replica - 1,
                    arbiter: false,
                };
                (step, (next, kept))
            }
        };
        out.push(step);
        (shape, slots) = next;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn slots(spec: &str) -> Vec<Slot> {
        // "ldl": live, dead, live; names b0, b1, ...
        spec.chars()
            .enumerate()
            .map(|(i, c)| Slot {
                name: format!("b{i}"),
                dead: c == 'd',
            })
            .collect()
    }

    fn show(steps: &[RemoveBricks]) -> Vec<String> {
        steps.iter().map(|s| s.args("v")[3..].join(" ")).collect()
    }

    #[test]
    fn each_layout_is_freed_as_gluster_accepts() {
        let r3 = Shape::Replicate {
            replica: 3,
            arbiter: false,
        };
        let arb = Shape::Replicate {
            replica: 3,
            arbiter: true,
        };
        let cases: &[(Shape, &str, &[&str])] = &[
            (r3, "lll", &[]),
            (r3, "lld", &["replica 2 b2 force"]),
            (r3, "dll", &["replica 2 b0 force"]),
            // Two sets: one brick of every set goes, the dead one where a set has one.
            (r3, "dlllll", &["replica 2 b0 b5 force"]),
            // Two copies of a set on the host: down to one brick per set.
            (r3, "ddl", &["replica 2 b0 force", "replica 1 b1 force"]),
            // Arbiter first, then the dead data brick.
            (arb, "lld", &["replica 2 b2 force"]),
            (arb, "dll", &["replica 2 b2 force", "replica 1 b0 force"]),
            (Shape::Distribute, "ldl", &["b1 force"]),
            (Shape::Disperse { width: 3 }, "lllldl", &["b3 b4 b5 force"]),
        ];
        for (shape, spec, want) in cases {
            let got = steps(*shape, &slots(spec)).expect(spec);
            assert_eq!(show(&got), *want, "{shape:?} {spec}");
        }
    }

    #[test]
    fn what_gluster_cannot_do_is_refused_with_the_reason() {
        for (shape, spec, why) in [
            (Shape::Distribute, "d", "last brick"),
            (Shape::Disperse { width: 3 }, "lld", "disperse set"),
            (
                Shape::Replicate {
                    replica: 2,
                    arbiter: false,
                },
                "dd",
                "last brick",
            ),
        ] {
            let e = steps(shape, &slots(spec)).expect_err(spec);
            assert!(e.contains(why), "{spec}: {e}");
        }
    }
}
