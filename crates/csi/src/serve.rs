//! Serving the services on a unix socket, the only transport kubelet and the sidecars use.

use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use tokio::net::UnixListener;
use tokio_stream::wrappers::UnixListenerStream;
use tonic::transport::server::Router;
use tracing::info;

use crate::{CsiError, io_err};

/// Where the driver listens: a unix socket path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The socket's path.
    pub path: PathBuf,
}

impl Endpoint {
    /// Reads `unix:///path`, `unix:/path` or a plain absolute path.
    pub fn parse(value: &str) -> Result<Self, CsiError> {
        let bad = |problem| CsiError::BadEndpoint {
            value: value.to_owned(),
            problem,
        };
        let path = value
            .strip_prefix("unix://")
            .or_else(|| value.strip_prefix("unix:"))
            .unwrap_or(value);
        if value.contains("://") && !value.starts_with("unix://") {
            return Err(bad("only unix sockets are served"));
        }
        let path = Path::new(path);
        if !path.is_absolute() {
            return Err(bad("the socket path is not absolute"));
        }
        if path.file_name().is_none() {
            return Err(bad("the socket path names no file"));
        }
        Ok(Self {
            path: path.to_owned(),
        })
    }
}

/// Serves `router` on the endpoint's socket until `shutdown` completes. A socket left by an
/// earlier run is replaced; any other file there is refused. The socket is made mode 0600
/// (only root, as kubelet and the sidecars run, may call the driver).
pub async fn serve(
    endpoint: &Endpoint,
    router: Router,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), CsiError> {
    let path = &endpoint.path;
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => {
            std::fs::remove_file(path).map_err(io_err("remove the old socket", path))?;
        }
        Ok(_) => {
            return Err(CsiError::Io {
                op: "listen on",
                path: path.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::AlreadyExists,
                    "a file that is not a socket is there; remove it or choose another endpoint",
                ),
            });
        }
        Err(_) => {}
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io_err("create", dir))?;
    }
    let listener = UnixListener::bind(path).map_err(io_err("listen on", path))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(io_err("chmod", path))?;
    info!("serving CSI on {}", path.display());
    let served = router
        .serve_with_incoming_shutdown(UnixListenerStream::new(listener), shutdown)
        .await;
    let _ = std::fs::remove_file(path);
    served.map_err(|e| CsiError::Serve {
        path: path.clone(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_are_unix_sockets_with_absolute_paths() {
        for ok in [
            "unix:///csi/csi.sock",
            "unix:/csi/csi.sock",
            "/csi/csi.sock",
        ] {
            assert_eq!(
                Endpoint::parse(ok).expect(ok).path,
                PathBuf::from("/csi/csi.sock")
            );
        }
        for bad in ["tcp://0.0.0.0:1", "unix://csi.sock", "csi.sock", "unix:///"] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }
}
