//! The mock host of `compare ceiling` alone, for profiling a `crawl` binary
//! against it (under callgrind, say): `ceiling_serve ITEMS DB CONFIG` serves
//! the six collections of `ITEMS` items each on loopback, writes the
//! `crawl` config crawling them into the SQLite file `DB` to `CONFIG`,
//! prints the base URL, and serves until its stdin closes; then it prints
//! how many requests arrived.
// A bench binary's output is its report.
#![allow(clippy::print_stdout)]

use std::io::Read;
use std::path::PathBuf;

use crawlpipe_benches::ceiling_workload::{server, six_collections_toml};

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let (Some(db), Some(config)) = (args.next().map(PathBuf::from), args.next().map(PathBuf::from)) else {
        println!("usage: ceiling_serve ITEMS DB CONFIG");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let server = rt.block_on(server(items));
    std::fs::write(&config, six_collections_toml(&server.url(""), &db)).expect("config written");
    println!("{}", server.url(""));
    // Serves until stdin closes.
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    println!("{} requests", server.request_count());
    rt.block_on(server.shutdown());
}
