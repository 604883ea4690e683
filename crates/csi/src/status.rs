//! How the driver's failures become gRPC status codes, as the CSI spec assigns them.

use brickyard_volumes::VolumeError;
use brickyard_volumes::claims::ClaimError;
use tonic::Status;

/// The status a claim operation's failure is reported with.
pub(crate) fn of(e: ClaimError) -> Status {
    let msg = e.to_string();
    match e {
        ClaimError::BadParameter { .. } => Status::invalid_argument(msg),
        ClaimError::Incompatible { .. } => Status::already_exists(msg),
        ClaimError::OutOfRange(_) => Status::out_of_range(msg),
        ClaimError::Exhausted(_) => Status::resource_exhausted(msg),
        ClaimError::NotFound { .. } => Status::not_found(msg),
        ClaimError::Busy { .. } => Status::aborted(msg),
        ClaimError::Unavailable(_) | ClaimError::Store(_) => Status::unavailable(msg),
        ClaimError::Timeout { .. } => Status::deadline_exceeded(msg),
        ClaimError::Invalid(_) => Status::internal(msg),
        ClaimError::Volume(v) => match v {
            VolumeError::BadName(_)
            | VolumeError::BadLayout { .. }
            | VolumeError::UnknownProfile { .. } => Status::invalid_argument(msg),
            VolumeError::Placement { .. } => Status::resource_exhausted(msg),
            VolumeError::Exists { .. } => Status::already_exists(msg),
            VolumeError::NotFound { .. } => Status::not_found(msg),
            VolumeError::Refused { .. }
            | VolumeError::Drain { .. }
            | VolumeError::HostRemove { .. } => Status::failed_precondition(msg),
            VolumeError::Contended { .. } | VolumeError::SettingsContended => Status::aborted(msg),
            VolumeError::Invalid(_) => Status::internal(msg),
            VolumeError::Store(_) => Status::unavailable(msg),
        },
    }
}
