//! Tells the tests which services this build can reach: without
//! `PIPELINE_TEST_PG_URL` the PostgreSQL tests are ignored, and the test
//! output says so ("ignored, needs PostgreSQL"), instead of passing empty;
//! without `chromium` on `PATH` (unless CI makes it mandatory) the status
//! page's browser test is ignored the same way.
use std::path::Path;

fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_pg_tests)");
    println!("cargo::rerun-if-env-changed=PIPELINE_TEST_PG_URL");
    if std::env::var_os("PIPELINE_TEST_PG_URL").is_none() {
        println!("cargo::rustc-cfg=no_pg_tests");
    }
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
