//! Core throughput: the framework against a per-item mpsc chain and a plain loop.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use crawlpipe_benches::core_workload::{mpsc_chain, pipeline, plain_loop};

const N: u64 = 1_000_000;

fn throughput(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let mut group = c.benchmark_group("core_throughput");
    group.throughput(Throughput::Elements(N));
    group.sample_size(10);
    group.bench_function("pipeline_chunked", |b| b.iter(|| rt.block_on(pipeline(N))));
    group.bench_function("mpsc_per_item", |b| b.iter(|| rt.block_on(mpsc_chain(N))));
    group.bench_function("plain_loop", |b| b.iter(|| plain_loop(N)));
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
