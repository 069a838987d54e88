//! Tells the tests which services this build can reach: without
//! `PIPELINE_TEST_PG_URL` the PostgreSQL tests are ignored, and the test
//! output says so ("ignored, needs PostgreSQL"), instead of passing empty.
fn main() {
    println!("cargo::rustc-check-cfg=cfg(no_pg_tests)");
    println!("cargo::rerun-if-env-changed=PIPELINE_TEST_PG_URL");
    if std::env::var_os("PIPELINE_TEST_PG_URL").is_none() {
        println!("cargo::rustc-cfg=no_pg_tests");
    }
}
