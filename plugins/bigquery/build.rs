//! Link settings of the test binaries.
//!
//! `tests/emulator.rs` compares the history this plugin computes in BigQuery with the one
//! the files backend computes in SQLite, so its binary links both plugins' rlibs, and each
//! defines the plugin entry symbol `flakewatch_plugin_v1` (which the test never calls). On
//! Linux the linker is told to keep the first definition instead of refusing the binary.

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo::rustc-link-arg-tests=-Wl,--allow-multiple-definition");
    }
}
