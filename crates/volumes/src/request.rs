//! What a client asks for, before it becomes a record: the layout from the flags of
//! `brickyard volume create` or the fields of `POST /v1/volumes`, read in one place so that
//! both refuse the same combinations with the same words.

use serde::{Deserialize, Serialize};

use crate::record::{Layout, LayoutKind};

/// The layout fields of a create request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayoutRequest {
    /// Copies per replica set (2 or 3). Without `replica`, `disperse` or `distribute`:
    /// replica 3.
    pub replica: Option<u32>,
    /// With `replica: 2`, an arbiter brick in each set (gluster's replica 3 arbiter 1).
    pub arbiter: bool,
    /// Bricks per erasure-coded set; needs `redundancy`.
    pub disperse: Option<u32>,
    /// Bricks of a disperse set that may fail; needs `disperse`.
    pub redundancy: Option<u32>,
    /// Number of sets files are distributed over; alone, plain distribute over that many
    /// bricks.
    pub distribute: Option<u32>,
}

/// A combination of layout fields that makes no volume: the field at fault and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutRefusal {
    /// The field (or flag, without its dashes) at fault.
    pub field: &'static str,
    /// What is wrong and what works.
    pub reason: String,
}

fn refuse(field: &'static str, reason: &str) -> LayoutRefusal {
    LayoutRefusal {
        field,
        reason: reason.to_owned(),
    }
}

impl LayoutRequest {
    /// The layout asked for. The numbers themselves are checked by [`Layout::check`]
    /// (and [`layout_field`] names the field its refusal is about).
    pub fn layout(&self) -> Result<Layout, LayoutRefusal> {
        let sets = self.distribute.unwrap_or(1);
        let kind = match (self.replica, self.disperse, self.redundancy) {
            (Some(_), Some(_), _) => {
                return Err(refuse(
                    "disperse",
                    "replica and disperse exclude each other; give one of them",
                ));
            }
            (None, Some(_), _) if self.arbiter => {
                return Err(refuse(
                    "arbiter",
                    "an arbiter goes with replica 2, not with disperse",
                ));
            }
            (None, Some(disperse), Some(redundancy)) => LayoutKind::Disperse {
                disperse,
                redundancy,
            },
            (None, Some(_), None) => {
                return Err(refuse(
                    "redundancy",
                    "disperse needs redundancy, the bricks of a set that may fail (e.g. disperse 3, redundancy 1)",
                ));
            }
            (_, None, Some(_)) => {
                return Err(refuse(
                    "redundancy",
                    "redundancy goes with disperse; give disperse too",
                ));
            }
            (Some(replica), None, None) => LayoutKind::Replicate {
                replica,
                arbiter: self.arbiter,
            },
            (None, None, None) if self.arbiter => {
                return Err(refuse(
                    "arbiter",
                    "an arbiter goes with replica 2; give \"replica\": 2 too",
                ));
            }
            (None, None, None) if self.distribute.is_some() => LayoutKind::Distribute,
            (None, None, None) => return Ok(Layout::replicate(3)),
        };
        Ok(Layout { kind, sets })
    }
}

/// The request field at fault when [`Layout::check`] refuses `layout`.
///
/// Follows the order of that check (sets first, then the kind's numbers); a test checks
/// that the field chosen is the one the refusal speaks of.
pub fn layout_field(layout: &Layout) -> &'static str {
    if !(1..=64).contains(&layout.sets) {
        return "distribute";
    }
    match layout.kind {
        LayoutKind::Replicate {
            replica,
            arbiter: true,
        } if replica != 2 => "arbiter",
        LayoutKind::Replicate { .. } => "replica",
        LayoutKind::Disperse { disperse, .. } if !(3..=16).contains(&disperse) => "disperse",
        LayoutKind::Disperse { .. } => "redundancy",
        LayoutKind::Distribute => "distribute",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(
        replica: Option<u32>,
        arbiter: bool,
        disperse: Option<u32>,
        redundancy: Option<u32>,
        distribute: Option<u32>,
    ) -> LayoutRequest {
        LayoutRequest {
            replica,
            arbiter,
            disperse,
            redundancy,
            distribute,
        }
    }

    #[test]
    fn layouts_from_the_fields() {
        let ok = |r: LayoutRequest| r.layout().expect("layout");
        assert_eq!(ok(req(None, false, None, None, None)), Layout::replicate(3));
        assert_eq!(
            ok(req(Some(2), false, None, None, None)),
            Layout::replicate(2)
        );
        assert_eq!(ok(req(Some(2), true, None, None, None)), Layout::arbiter());
        assert_eq!(
            ok(req(None, false, Some(6), Some(2), Some(2))),
            Layout::disperse(6, 2).with_sets(2)
        );
        assert_eq!(
            ok(req(None, false, None, None, Some(4))),
            Layout::distribute(4)
        );
        for (r, field) in [
            (req(Some(3), false, Some(3), None, None), "disperse"),
            (req(None, false, Some(3), None, None), "redundancy"),
            (req(None, false, None, Some(1), None), "redundancy"),
            (req(None, true, None, None, None), "arbiter"),
            (req(None, true, Some(3), Some(1), None), "arbiter"),
        ] {
            assert_eq!(r.layout().expect_err("refused").field, field, "{r:?}");
        }
    }

    #[test]
    fn the_field_named_is_the_one_the_refusal_speaks_of() {
        let replicate = |replica, arbiter| Layout {
            kind: LayoutKind::Replicate { replica, arbiter },
            sets: 1,
        };
        for (layout, field) in [
            (Layout::replicate(1), "replica"),
            (Layout::replicate(4), "replica"),
            (replicate(3, true), "arbiter"),
            (Layout::disperse(2, 1), "disperse"),
            (Layout::disperse(17, 1), "disperse"),
            (Layout::disperse(4, 2), "redundancy"),
            (Layout::disperse(3, 0), "redundancy"),
            (Layout::distribute(0), "distribute"),
            (Layout::replicate(3).with_sets(65), "distribute"),
        ] {
            let reason = layout.check().expect_err("refused");
            assert_eq!(layout_field(&layout), field, "{layout:?}");
            assert!(reason.contains(field), "{layout:?}: {reason}");
        }
    }
}
