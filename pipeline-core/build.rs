//! Tells the tests whether this build can reach a browser: without
//! `chromium` on `PATH` (and unless CI makes the browser tests mandatory)
//! the status page's browser tests are ignored, and the test output says so
//! ("ignored, needs chromium"), instead of passing empty.
use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_browser_tests)");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PIPELINE_TEST_BROWSER_REQUIRED");
    let required = ["CI", "PIPELINE_TEST_BROWSER_REQUIRED"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty() && v != "0"));
    let found = std::env::var_os("PATH").is_some_and(|path| {
        std::env::split_paths(&path).any(|dir| Path::new(&dir).join("chromium").is_file())
    });
    if !found && !required {
        println!("cargo::rustc-cfg=no_browser_tests");
    }
}
