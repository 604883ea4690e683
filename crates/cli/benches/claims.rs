//! Claims through the CSI driver, one after another: each `CreateVolume` timed until it
//! returns (the claim recorded, the pool lock's holder providing it, the controller seeing
//! it ready), then each `DeleteVolume` the same way. Run by `scripts/bench-claims.sh`, which
//! makes the lab and starts the controller; on its own it needs:
//!
//! - `BRICKYARD_BENCH_CSI_ENDPOINT`: the controller's socket, `unix:///path/csi.sock`;
//! - `CLAIMS` (default 100): how many claims;
//! - `CLAIM_PARAMETERS` (default none: subdirectories of the shared volume): the
//!   StorageClass parameters, `key=value,key=value`;
//! - `CLAIM_BYTES` (default 1 MiB): the size each claim asks for (a lab's shared volume
//!   holds about 1 GiB).
//!
//! Prints one line per call: `create N SECONDS` or `delete N SECONDS` (`-` for a failure,
//! with the error on stderr). Without the endpoint it says what it needs and exits: plain
//! `cargo bench` has no lab to measure.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use brickyard_csi::proto::controller_client::ControllerClient;
use brickyard_csi::proto::volume_capability::access_mode::Mode;
use brickyard_csi::proto::volume_capability::{AccessMode, AccessType, MountVolume};
use brickyard_csi::proto::{
    CapacityRange, CreateVolumeRequest, DeleteVolumeRequest, VolumeCapability,
};

#[path = "../tests/support/unix_channel.rs"]
mod unix_channel;

fn main() -> ExitCode {
    let Ok(endpoint) = std::env::var("BRICKYARD_BENCH_CSI_ENDPOINT") else {
        eprintln!(
            "claims: skipped, no BRICKYARD_BENCH_CSI_ENDPOINT; scripts/bench-claims.sh makes a lab, starts the CSI controller and runs this"
        );
        return ExitCode::SUCCESS;
    };
    let Some(socket) = endpoint.strip_prefix("unix://").map(PathBuf::from) else {
        eprintln!(
            "claims: BRICKYARD_BENCH_CSI_ENDPOINT is unix:///path/csi.sock, not {endpoint:?}"
        );
        return ExitCode::from(2);
    };
    let number = |name: &str, default: u64| match std::env::var(name) {
        Ok(v) => v
            .parse::<u64>()
            .map_err(|_| format!("{name} is a number, not {v:?}")),
        Err(_) => Ok(default),
    };
    let (claims, bytes) = match (number("CLAIMS", 100), number("CLAIM_BYTES", 1 << 20)) {
        (Ok(c), Ok(b)) => (c, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("claims: {e}");
            return ExitCode::from(2);
        }
    };
    let mut parameters = HashMap::new();
    for pair in std::env::var("CLAIM_PARAMETERS")
        .unwrap_or_default()
        .split(',')
        .filter(|p| !p.is_empty())
    {
        let Some((k, v)) = pair.split_once('=') else {
            eprintln!("claims: CLAIM_PARAMETERS holds key=value pairs, not {pair:?}");
            return ExitCode::from(2);
        };
        parameters.insert(k.to_owned(), v.to_owned());
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("claims: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(run(socket, claims, bytes, parameters))
}

async fn run(
    socket: PathBuf,
    claims: u64,
    bytes: u64,
    parameters: HashMap<String, String>,
) -> ExitCode {
    let mut controller = match unix_channel::unix_channel(&socket).await {
        Ok(c) => ControllerClient::new(c),
        Err(e) => {
            eprintln!("claims: cannot connect to {}: {e}", socket.display());
            return ExitCode::FAILURE;
        }
    };
    let capability = VolumeCapability {
        access_type: Some(AccessType::Mount(MountVolume::default())),
        access_mode: Some(AccessMode {
            mode: Mode::MultiNodeMultiWriter as i32,
        }),
    };
    let mut ids = Vec::new();
    for n in 1..=claims {
        let request = CreateVolumeRequest {
            name: format!("bench-claim-{n}"),
            capacity_range: Some(CapacityRange {
                required_bytes: i64::try_from(bytes).unwrap_or(i64::MAX),
                limit_bytes: 0,
            }),
            volume_capabilities: vec![capability.clone()],
            parameters: parameters.clone(),
            ..Default::default()
        };
        let started = Instant::now();
        match controller.create_volume(request).await {
            Ok(r) => {
                println!("create {n} {:.3}", started.elapsed().as_secs_f64());
                ids.extend(r.into_inner().volume.map(|v| v.volume_id));
            }
            Err(e) => {
                println!("create {n} -");
                eprintln!("claims: CreateVolume bench-claim-{n}: {e}");
            }
        }
    }
    for (n, id) in ids.into_iter().enumerate() {
        let started = Instant::now();
        let request = DeleteVolumeRequest {
            volume_id: id.clone(),
            ..Default::default()
        };
        match controller.delete_volume(request).await {
            Ok(_) => println!("delete {} {:.3}", n + 1, started.elapsed().as_secs_f64()),
            Err(e) => {
                println!("delete {} -", n + 1);
                eprintln!("claims: DeleteVolume {id}: {e}");
            }
        }
    }
    ExitCode::SUCCESS
}
