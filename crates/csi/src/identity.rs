//! The Identity service: who the driver is, what it can do, and whether it is ready.

use std::collections::HashMap;
use std::sync::Arc;

use brickyard_store::Store;
use tonic::{Request, Response, Status};

use crate::DRIVER_NAME;
use crate::proto::identity_server::Identity as IdentityService;
use crate::proto::plugin_capability::{self, Service, VolumeExpansion};
use crate::proto::{
    GetPluginCapabilitiesRequest, GetPluginCapabilitiesResponse, GetPluginInfoRequest,
    GetPluginInfoResponse, PluginCapability, ProbeRequest, ProbeResponse,
};

/// The Identity service of the controller or of a node plugin.
#[derive(Debug, Clone)]
pub struct Identity {
    store: Arc<dyn Store>,
    controller: bool,
}

impl Identity {
    /// The identity of a process that serves the Controller service (`controller`) or the
    /// Node service.
    pub fn new(store: Arc<dyn Store>, controller: bool) -> Self {
        Self { store, controller }
    }
}

/// Ready when the store answers and at least one agent is live: without either, no claim
/// can be made or mounted. A reason when not.
pub(crate) async fn readiness(store: &dyn Store) -> Result<(), String> {
    match brickyard_volumes::api::live_agents(store).await {
        Ok(agents) if agents.is_empty() => Err(format!(
            "no brickyard agent is live in store {}; start the node agents",
            store.endpoint()
        )),
        Ok(_) => Ok(()),
        Err(e) => Err(e.to_string()),
    }
}

#[tonic::async_trait]
impl IdentityService for Identity {
    async fn get_plugin_info(
        &self,
        _: Request<GetPluginInfoRequest>,
    ) -> Result<Response<GetPluginInfoResponse>, Status> {
        Ok(Response::new(GetPluginInfoResponse {
            name: DRIVER_NAME.to_owned(),
            vendor_version: env!("CARGO_PKG_VERSION").to_owned(),
            manifest: HashMap::new(),
        }))
    }

    async fn get_plugin_capabilities(
        &self,
        _: Request<GetPluginCapabilitiesRequest>,
    ) -> Result<Response<GetPluginCapabilitiesResponse>, Status> {
        let mut capabilities = Vec::new();
        if self.controller {
            capabilities.push(PluginCapability {
                r#type: Some(plugin_capability::Type::Service(Service {
                    r#type: plugin_capability::service::Type::ControllerService as i32,
                })),
            });
        }
        // A claim's limit is raised while pods use it; nothing on the node changes.
        capabilities.push(PluginCapability {
            r#type: Some(plugin_capability::Type::VolumeExpansion(VolumeExpansion {
                r#type: plugin_capability::volume_expansion::Type::Online as i32,
            })),
        });
        Ok(Response::new(GetPluginCapabilitiesResponse {
            capabilities,
        }))
    }

    async fn probe(&self, _: Request<ProbeRequest>) -> Result<Response<ProbeResponse>, Status> {
        match readiness(self.store.as_ref()).await {
            Ok(()) => Ok(Response::new(ProbeResponse { ready: Some(true) })),
            Err(reason) => Err(Status::failed_precondition(reason)),
        }
    }
}
