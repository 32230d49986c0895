//! Compiles `mutual/v1/*.proto` with a pure-Rust protobuf compiler (protox), so that a
//! fresh machine needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["mutual/v1/event.proto", "mutual/v1/sync.proto"];
    for file in files {
        println!("cargo:rerun-if-changed={file}");
    }
    let descriptors = protox::compile(files, ["."])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
