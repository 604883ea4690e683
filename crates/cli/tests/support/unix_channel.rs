//! A gRPC channel to a CSI plugin's unix socket, shared by the CSI test and the claims
//! benchmark (each includes this file).

use std::path::Path;

use tonic::transport::Channel;

/// Connects to the plugin listening on `socket` (the URI is a placeholder: every
/// connection goes to the socket).
pub async fn unix_channel(socket: &Path) -> Result<Channel, tonic::transport::Error> {
    let path = socket.to_owned();
    tonic::transport::Endpoint::from_static("http://[::]:50051")
        .connect_with_connector(tower::service_fn(move |_: tonic::transport::Uri| {
            let path = path.clone();
            async move {
                Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(
                    tokio::net::UnixStream::connect(path).await?,
                ))
            }
        }))
        .await
}
