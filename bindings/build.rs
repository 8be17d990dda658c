//! Generates the C header from the Rust source into `$OUT_DIR/rhythm.h` with cbindgen (as a
//! library: no install step). `gen-header` copies it to `include/rhythm.h`; the test
//! `header_is_up_to_date` checks the committed copy against it.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=src");
    println!("cargo:rerun-if-changed=cbindgen.toml");
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml"))
        .expect("bindings/cbindgen.toml is readable and valid");
    // cbindgen follows `mod` declarations from the crate root: naming the modules too would
    // declare their functions twice.
    cbindgen::Builder::new()
        .with_config(config)
        .with_src(dir.join("src/lib.rs"))
        .generate()
        .expect("cbindgen: generate the header")
        .write_to_file(out.join("rhythm.h"));
}
