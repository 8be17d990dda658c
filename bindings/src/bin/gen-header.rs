//! Writes `bindings/include/rhythm.h`: the header the build script generated with cbindgen.
//! Run `cargo run -p rhythm-bindings --bin gen-header` after changing the C API.

use std::path::Path;

fn main() -> std::process::ExitCode {
    // The same file the library embeds as GENERATED_HEADER (the bindings build no rlib).
    let header = include_str!(concat!(env!("OUT_DIR"), "/rhythm.h"));
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("include/rhythm.h");
    match std::fs::write(&path, header) {
        Ok(()) => {
            println!("wrote {}", path.display());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("cannot write {}: {e}", path.display());
            std::process::ExitCode::FAILURE
        }
    }
}
