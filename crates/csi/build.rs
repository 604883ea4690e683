//! Compiles brickyard's CSI protocol file into Rust (messages with prost, services with
//! tonic). Needs `protoc` and the well-known types' files (Debian's protobuf-compiler and
//! libprotobuf-dev).

fn main() {
    println!("cargo:rerun-if-changed=proto/csi.proto");
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_protos(&["proto/csi.proto"], &["proto"])
        .expect("compile proto/csi.proto (is protoc installed? `make deps`)");
}
