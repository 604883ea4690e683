//! The Container Storage Interface (CSI) v1 wire protocol, as brickyard's CSI driver will
//! speak it: the Identity, Controller and Node services of CSI spec v1.10.0, compiled from
//! brickyard's own `proto/csi.proto` (names, field numbers and enum values are the spec's,
//! since kubelet and the Kubernetes sidecars put them on the wire).
//!
//! Status: the protocol only. The services (`brickyard csi controller`, `brickyard csi
//! node`) are planned; nothing serves them yet.

/// The CSI v1 messages and services, generated from `proto/csi.proto`.
#[allow(missing_docs, clippy::all, clippy::pedantic)]
pub mod proto {
    tonic::include_proto!("csi.v1");
}

#[cfg(test)]
mod tests {
    use super::proto;
    use prost::Message as _;

    #[test]
    fn services_have_the_spec_s_grpc_paths() {
        assert_eq!(
            <proto::identity_server::IdentityServer<Never> as tonic::server::NamedService>::NAME,
            "csi.v1.Identity"
        );
        assert_eq!(
            <proto::controller_server::ControllerServer<Never> as tonic::server::NamedService>::NAME,
            "csi.v1.Controller"
        );
        assert_eq!(
            <proto::node_server::NodeServer<Never> as tonic::server::NamedService>::NAME,
            "csi.v1.Node"
        );
    }

    #[test]
    fn messages_carry_the_spec_s_field_numbers() {
        // CreateVolumeRequest.name = 1 (string), capacity_range = 2 with required_bytes = 1.
        let req = proto::CreateVolumeRequest {
            name: "pvc-1".into(),
            capacity_range: Some(proto::CapacityRange {
                required_bytes: 5,
                limit_bytes: 0,
            }),
            ..Default::default()
        };
        assert_eq!(
            req.encode_to_vec(),
            [0x0a, 5, b'p', b'v', b'c', b'-', b'1', 0x12, 2, 0x08, 5]
        );
        // NodeGetVolumeStatsResponse.volume_condition = 2, VolumeCondition.abnormal = 1.
        let stats = proto::NodeGetVolumeStatsResponse {
            usage: Vec::new(),
            volume_condition: Some(proto::VolumeCondition {
                abnormal: true,
                message: String::new(),
            }),
        };
        assert_eq!(stats.encode_to_vec(), [0x12, 2, 0x08, 1]);
        // AccessMode.Mode: SINGLE_NODE_SINGLE_WRITER = 6 (ReadWriteOncePod).
        assert_eq!(
            proto::volume_capability::access_mode::Mode::SingleNodeSingleWriter as i32,
            6
        );
    }

    /// A service type that is never built: only the generated names are looked at.
    struct Never;

    #[tonic::async_trait]
    impl proto::identity_server::Identity for Never {
        async fn get_plugin_info(
            &self,
            _: tonic::Request<proto::GetPluginInfoRequest>,
        ) -> Result<tonic::Response<proto::GetPluginInfoResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("never"))
        }
        async fn get_plugin_capabilities(
            &self,
            _: tonic::Request<proto::GetPluginCapabilitiesRequest>,
        ) -> Result<tonic::Response<proto::GetPluginCapabilitiesResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("never"))
        }
        async fn probe(
            &self,
            _: tonic::Request<proto::ProbeRequest>,
        ) -> Result<tonic::Response<proto::ProbeResponse>, tonic::Status> {
            Err(tonic::Status::unimplemented("never"))
        }
    }
}
