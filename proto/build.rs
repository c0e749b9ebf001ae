//! Compiles `rblfleet/v1/*.proto` with protox (pure Rust), so no system
//! `protoc` is needed on a fresh machine.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "rblfleet/v1/common.proto",
        "rblfleet/v1/agent.proto",
        "rblfleet/v1/cases.proto",
        "rblfleet/v1/dnsbl.proto",
        "rblfleet/v1/history.proto",
        "rblfleet/v1/admin.proto",
    ];
    // The generator does not track its inputs; tell cargo ourselves.
    println!("cargo:rerun-if-changed=rblfleet");
    let fds = protox::compile(files, ["."])?;
    tonic_prost_build::configure().build_client(true).build_server(true).compile_fds(fds)?;
    Ok(())
}
