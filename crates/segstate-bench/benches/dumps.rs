//! Reading pasted logs: the whole dump corpus (`crates/segstate/tests/fixtures/dumps`,
//! real threads and synthetic samples) through `ingest::log::read_log`, and read plus
//! `ingest::judge::judge` for the inferred target. Throughput is in bytes of log text.

use std::hint::black_box;
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use segstate::ingest::judge::judge;
use segstate::ingest::log::read_log;

/// Every corpus file, each as its own log.
fn corpus() -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../segstate/tests/fixtures/dumps");
    let mut out = Vec::new();
    for dir in [root.clone(), root.join("synthetic")] {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .expect("corpus directory")
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        names.sort();
        for p in names {
            out.push(std::fs::read_to_string(&p).expect("corpus file"));
        }
    }
    out
}

fn dumps(c: &mut Criterion) {
    let logs = corpus();
    let bytes: usize = logs.iter().map(String::len).sum();
    let mut group = c.benchmark_group("dumps");
    group.throughput(Throughput::Bytes(bytes as u64));
    group.bench_function(format!("read_log({} files)", logs.len()), |b| {
        b.iter(|| {
            for l in &logs {
                black_box(read_log(black_box(l)));
            }
        });
    });
    group.sample_size(10);
    group.bench_function(format!("read_log+judge({} files)", logs.len()), |b| {
        b.iter(|| {
            for l in &logs {
                for d in read_log(black_box(l)) {
                    black_box(judge(&d, None));
                }
            }
        });
    });
    group.finish();
}

criterion_group!(benches, dumps);
criterion_main!(benches);
