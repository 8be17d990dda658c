//! The C API source embeds the header cbindgen generates (`GENERATED_HEADER`); the fuzz
//! build does not need it, so an empty one stands in (no cbindgen in the fuzz workspace).

fn main() {
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    std::fs::write(out.join("rhythm.h"), "").expect("write OUT_DIR/rhythm.h");
    println!("cargo:rerun-if-changed=build.rs");
}
