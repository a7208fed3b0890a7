//! Rust vs C, one criterion group per conversion or chain, over batches of
//! `inputs::BATCH` varied inputs (throughput is per element); then verify_all.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use segstate::profile::Chain;
use segstate::profile::builtin_chains;
use segstate::verify::{Workspace, verify_all};
use segstate_bench::cases::{self, Case};
use segstate_bench::inputs::BATCH;

fn bench_cases(c: &mut Criterion, prefix: &str, list: Vec<Case>) {
    for mut case in list {
        let mut group = c.benchmark_group(format!("{prefix}/{}", case.name));
        group.throughput(Throughput::Elements(BATCH as u64));
        for (name, run) in &mut case.variants {
            group.bench_function(*name, |b| b.iter(&mut *run));
        }
        group.finish();
    }
}

fn pairs(c: &mut Criterion) {
    bench_cases(c, "pair", cases::pairs());
}

fn chains(c: &mut Criterion) {
    bench_cases(c, "chain", cases::chains());
}

fn verify(c: &mut Criterion) {
    let mut group = c.benchmark_group("verify");
    group.sample_size(10);
    let all = builtin_chains();
    group.bench_function("verify_all(builtin_chains)", |b| {
        b.iter(|| verify_all(black_box(&all)));
    });
    let chain: Chain = "kvm-svm > qemu > kvm-svm".parse().expect("parses");
    let ws = Workspace::new(chain.source());
    group.bench_function("Workspace::verify(kvm-svm > qemu > kvm-svm)", |b| {
        b.iter(|| ws.verify(black_box(&chain)).expect("same source"));
    });
    group.finish();
}

criterion_group!(benches, pairs, chains, verify);
criterion_main!(benches);
