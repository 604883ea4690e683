//! The Controller service: CreateVolume, DeleteVolume and ControllerExpandVolume become
//! claim records ([`brickyard_volumes::claims`]) that the pool lock's holder carries out;
//! the calls wait for it within the controller's patience and are safe to repeat.
//!
//! There is no attach step (a GlusterFS volume is reachable from every node), so
//! ControllerPublishVolume is not offered: kubelet goes straight to NodeStageVolume.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use brickyard_model::records::claim::{ClaimRecord, ClaimState};
use brickyard_store::Store;
use brickyard_volumes::claims::{self, ClaimRequest};
use tonic::{Request, Response, Status};
use tracing::info;

use crate::proto::controller_server::Controller as ControllerService;
use crate::proto::controller_service_capability::{self, rpc};
use crate::proto::list_volumes_response::Entry;
use crate::proto::validate_volume_capabilities_response::Confirmed;
use crate::proto::*;
use crate::{caps, required, status};

/// The Controller service.
#[derive(Debug, Clone)]
pub struct Controller {
    store: Arc<dyn Store>,
    wait: Duration,
}

impl Controller {
    /// A controller over `store` that waits up to `wait` for the agents in each call (a call
    /// that runs out answers DEADLINE_EXCEEDED, and its repetition waits again).
    pub fn new(store: Arc<dyn Store>, wait: Duration) -> Self {
        Self { store, wait }
    }
}

/// What a claim tells the node plugin, through the PersistentVolume.
pub fn volume_of(record: &ClaimRecord) -> Volume {
    Volume {
        capacity_bytes: i64::try_from(record.size_bytes).unwrap_or(i64::MAX),
        volume_id: record.id.clone(),
        volume_context: HashMap::from([
            ("provisioning".to_owned(), record.mode.to_string()),
            ("volume".to_owned(), record.volume.clone()),
            ("path".to_owned(), record.path()),
        ]),
        content_source: None,
        accessible_topology: Vec::new(),
    }
}

fn bytes(v: i64, field: &str) -> Result<u64, Status> {
    u64::try_from(v).map_err(|_| Status::out_of_range(format!("{field} is negative")))
}

fn sorted(map: &HashMap<String, String>) -> BTreeMap<String, String> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

#[tonic::async_trait]
impl ControllerService for Controller {
    async fn create_volume(
        &self,
        request: Request<CreateVolumeRequest>,
    ) -> Result<Response<CreateVolumeResponse>, Status> {
        let req = request.into_inner();
        let name = required("name", &req.name)?;
        caps::check_all(&req.volume_capabilities)?;
        if req.volume_content_source.is_some() {
            return Err(Status::invalid_argument(
                "volumes from snapshots or clones are not offered (no CREATE_DELETE_SNAPSHOT or CLONE_VOLUME capability)",
            ));
        }
        let range = req.capacity_range.unwrap_or_default();
        let claim = ClaimRequest {
            name: name.to_owned(),
            required_bytes: bytes(range.required_bytes, "capacity_range.required_bytes")?,
            limit_bytes: bytes(range.limit_bytes, "capacity_range.limit_bytes")?,
            parameters: sorted(&req.parameters),
        };
        let record = claims::create(self.store.as_ref(), &claim, self.wait)
            .await
            .map_err(status::of)?;
        info!(
            "CreateVolume {name}: claim {} ({}, {} bytes in volume {})",
            record.id, record.mode, record.size_bytes, record.volume
        );
        Ok(Response::new(CreateVolumeResponse {
            volume: Some(volume_of(&record)),
        }))
    }

    async fn delete_volume(
        &self,
        request: Request<DeleteVolumeRequest>,
    ) -> Result<Response<DeleteVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let done = claims::delete(self.store.as_ref(), id, false, self.wait)
            .await
            .map_err(status::of)?;
        info!("DeleteVolume {id}: {done:?}");
        Ok(Response::new(DeleteVolumeResponse {}))
    }

    async fn controller_publish_volume(
        &self,
        _: Request<ControllerPublishVolumeRequest>,
    ) -> Result<Response<ControllerPublishVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "no attach step: GlusterFS volumes are reached from every node",
        ))
    }

    async fn controller_unpublish_volume(
        &self,
        _: Request<ControllerUnpublishVolumeRequest>,
    ) -> Result<Response<ControllerUnpublishVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "no attach step: GlusterFS volumes are reached from every node",
        ))
    }

    async fn validate_volume_capabilities(
        &self,
        request: Request<ValidateVolumeCapabilitiesRequest>,
    ) -> Result<Response<ValidateVolumeCapabilitiesResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        if req.volume_capabilities.is_empty() {
            return Err(Status::invalid_argument("volume_capabilities is required"));
        }
        match claims::get(self.store.as_ref(), id).await {
            Ok(Some((_, r))) if r.state == ClaimState::Present => {}
            Ok(_) => {
                return Err(status::of(claims::ClaimError::NotFound {
                    id: id.to_owned(),
                }));
            }
            Err(e) => return Err(status::of(e)),
        }
        let refused: Vec<String> = req
            .volume_capabilities
            .iter()
            .filter_map(|c| caps::check(c).err())
            .collect();
        Ok(Response::new(if refused.is_empty() {
            ValidateVolumeCapabilitiesResponse {
                confirmed: Some(Confirmed {
                    volume_context: req.volume_context,
                    volume_capabilities: req.volume_capabilities,
                    parameters: req.parameters,
                    mutable_parameters: HashMap::new(),
                }),
                message: String::new(),
            }
        } else {
            ValidateVolumeCapabilitiesResponse {
                confirmed: None,
                message: refused.join("; "),
            }
        }))
    }

    async fn list_volumes(
        &self,
        request: Request<ListVolumesRequest>,
    ) -> Result<Response<ListVolumesResponse>, Status> {
        let req = request.into_inner();
        let max = usize::try_from(req.max_entries)
            .map_err(|_| Status::invalid_argument("max_entries is negative"))?;
        let listing = claims::list(self.store.as_ref())
            .await
            .map_err(status::of)?;
        let present: Vec<&ClaimRecord> = listing
            .claims
            .iter()
            .map(|c| &c.record)
            .filter(|r| r.state == ClaimState::Present)
            .collect();
        // The token is the id of the next entry; ids are listed in order.
        let start = if req.starting_token.is_empty() {
            0
        } else {
            present
                .iter()
                .position(|r| r.id == req.starting_token)
                .ok_or_else(|| {
                    Status::aborted(format!(
                        "starting_token {:?} names no volume (any more); list from the start",
                        req.starting_token
                    ))
                })?
        };
        let end = if max == 0 {
            present.len()
        } else {
            (start + max).min(present.len())
        };
        Ok(Response::new(ListVolumesResponse {
            entries: present[start..end]
                .iter()
                .map(|r| Entry {
                    volume: Some(volume_of(r)),
                    status: None,
                })
                .collect(),
            next_token: present.get(end).map(|r| r.id.clone()).unwrap_or_default(),
        }))
    }

    async fn get_capacity(
        &self,
        request: Request<GetCapacityRequest>,
    ) -> Result<Response<GetCapacityResponse>, Status> {
        let req = request.into_inner();
        if req
            .volume_capabilities
            .iter()
            .any(|c| caps::check(c).is_err())
        {
            return Ok(Response::new(GetCapacityResponse {
                available_capacity: 0,
                maximum_volume_size: None,
                minimum_volume_size: None,
            }));
        }
        let class = claims::class_params(&sorted(&req.parameters)).map_err(status::of)?;
        let free = claims::available(self.store.as_ref(), &class)
            .await
            .map_err(status::of)?;
        Ok(Response::new(GetCapacityResponse {
            available_capacity: i64::try_from(free).unwrap_or(i64::MAX),
            maximum_volume_size: None,
            minimum_volume_size: None,
        }))
    }

    async fn controller_get_capabilities(
        &self,
        _: Request<ControllerGetCapabilitiesRequest>,
    ) -> Result<Response<ControllerGetCapabilitiesResponse>, Status> {
        let capabilities = [
            rpc::Type::CreateDeleteVolume,
            rpc::Type::ListVolumes,
            rpc::Type::GetCapacity,
            rpc::Type::ExpandVolume,
            rpc::Type::SingleNodeMultiWriter,
        ]
        .into_iter()
        .map(|t| ControllerServiceCapability {
            r#type: Some(controller_service_capability::Type::Rpc(
                controller_service_capability::Rpc { r#type: t as i32 },
            )),
        })
        .collect();
        Ok(Response::new(ControllerGetCapabilitiesResponse {
            capabilities,
        }))
    }

    async fn create_snapshot(
        &self,
        _: Request<CreateSnapshotRequest>,
    ) -> Result<Response<CreateSnapshotResponse>, Status> {
        Err(Status::unimplemented("snapshots are not offered"))
    }

    async fn delete_snapshot(
        &self,
        _: Request<DeleteSnapshotRequest>,
    ) -> Result<Response<DeleteSnapshotResponse>, Status> {
        Err(Status::unimplemented("snapshots are not offered"))
    }

    async fn list_snapshots(
        &self,
        _: Request<ListSnapshotsRequest>,
    ) -> Result<Response<ListSnapshotsResponse>, Status> {
        Err(Status::unimplemented("snapshots are not offered"))
    }

    async fn controller_expand_volume(
        &self,
        request: Request<ControllerExpandVolumeRequest>,
    ) -> Result<Response<ControllerExpandVolumeResponse>, Status> {
        let req = request.into_inner();
        let id = required("volume_id", &req.volume_id)?;
        let range = req
            .capacity_range
            .ok_or_else(|| Status::invalid_argument("capacity_range is required"))?;
        if let Some(cap) = &req.volume_capability {
            caps::check(cap).map_err(Status::invalid_argument)?;
        }
        let size = claims::size_for(
            bytes(range.required_bytes, "capacity_range.required_bytes")?,
            bytes(range.limit_bytes, "capacity_range.limit_bytes")?,
        )
        .map_err(status::of)?;
        let record = claims::expand(self.store.as_ref(), id, size, self.wait)
            .await
            .map_err(status::of)?;
        info!("ControllerExpandVolume {id}: {} bytes", record.size_bytes);
        Ok(Response::new(ControllerExpandVolumeResponse {
            capacity_bytes: i64::try_from(record.size_bytes).unwrap_or(i64::MAX),
            // The limit is cluster-wide: a mounted claim sees its new size at once.
            node_expansion_required: false,
        }))
    }

    async fn controller_get_volume(
        &self,
        _: Request<ControllerGetVolumeRequest>,
    ) -> Result<Response<ControllerGetVolumeResponse>, Status> {
        Err(Status::unimplemented("ControllerGetVolume is not offered"))
    }

    async fn controller_modify_volume(
        &self,
        _: Request<ControllerModifyVolumeRequest>,
    ) -> Result<Response<ControllerModifyVolumeResponse>, Status> {
        Err(Status::unimplemented(
            "ControllerModifyVolume is not offered",
        ))
    }
}
