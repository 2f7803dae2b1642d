//! The spec-to-code build step. It is the build script of `rpc-types` (see
//! `rpc-types/Cargo.toml`, `build = "../build.rs"`): it reads `openrpc.json`
//! at the workspace root, validates it and writes the generated Rust to
//! `$OUT_DIR/circles_api.rs`, which `rpc-types` includes. Cargo reruns it
//! whenever the spec changes, so editing the spec and rebuilding is all it takes.

use std::path::PathBuf;
use std::process::exit;

fn main() {
    let Some(manifest_dir) = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from) else {
        fail("CARGO_MANIFEST_DIR is not set: run this through cargo");
    };
    let Some(out_dir) = std::env::var_os("OUT_DIR").map(PathBuf::from) else {
        fail("OUT_DIR is not set: run this through cargo");
    };
    let spec_path = manifest_dir.join("../openrpc.json");
    println!("cargo::rerun-if-changed={}", spec_path.display());

    let spec = std::fs::read_to_string(&spec_path)
        .unwrap_or_else(|e| fail(&format!("cannot read {}: {e}", spec_path.display())));
    // Keys and signatures are parsed once, when params are deserialized, into
    // the identity crate's types: the server and clients never see them as text.
    let replace = |schema: &str, rust_type: &str| circles_codegen::Replacement {
        schema: schema.to_string(),
        rust_type: rust_type.to_string(),
    };
    let settings = circles_codegen::Settings {
        server_feature: Some("server".to_string()),
        client_feature: Some("client".to_string()),
        document_path: Some(spec_path.display().to_string()),
        replacements: vec![
            replace("PublicKey", "::circles_identity::PublicKey"),
            replace("CompressedPublicKey", "::circles_identity::PublicKey"),
            replace("Signature", "::circles_identity::Signature"),
        ],
    };
    let generated = circles_codegen::generate(&spec, &settings).unwrap_or_else(|errors| {
        for error in errors.iter() {
            eprintln!("openrpc.json: {error}");
        }
        fail("openrpc.json is not a valid spec: fix the places above (`cargo run -p circles-codegen -- check openrpc.json` shows them too)");
    });
    let out_path = out_dir.join("circles_api.rs");
    if let Err(e) = std::fs::write(&out_path, generated.code) {
        fail(&format!("cannot write {}: {e}", out_path.display()));
    }
}

fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    exit(1)
}
