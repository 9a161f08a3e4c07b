//! `cargo bench -p nlu --bench analyze`: time per message over the labelled corpus.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use nlu::{UnitRef, analyze};

fn corpus() -> Vec<(String, NaiveDate)> {
    let mut out = Vec::new();
    for name in ["train", "validation", "validation_r2", "validation_r3"] {
        let path = format!("{}/corpus/{name}.jsonl", env!("CARGO_MANIFEST_DIR"));
        for line in std::fs::read_to_string(path).expect("corpus").lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("json");
            let today = v["today"].as_str().unwrap().parse().unwrap();
            out.push((v["text"].as_str().unwrap().to_string(), today));
        }
    }
    out
}

fn bench(c: &mut Criterion) {
    let units: Vec<UnitRef> = [
        (1, "Coihue", "coihue"),
        (2, "Arrayán", "arrayan"),
        (3, "Cabaña Grande", "cabana-grande"),
        (4, "El Mirador", "el-mirador"),
    ]
    .into_iter()
    .map(|(id, name, slug)| UnitRef { id, name: name.into(), slug: slug.into() })
    .collect();
    let msgs = corpus();
    let mut g = c.benchmark_group("nlu");
    g.throughput(Throughput::Elements(msgs.len() as u64));
    g.bench_function("analyze_corpus", |b| {
        b.iter(|| {
            for (text, today) in &msgs {
                black_box(analyze(black_box(text), *today, &units));
            }
        })
    });
    let long = "hola buenas tardes queria saber si tienen disponible para el finde largo somos 4 adultos y dos chicos y si aceptan mascotas, tambien si tienen parrilla y pileta, gracias!! ";
    g.throughput(Throughput::Elements(1));
    g.bench_function("analyze_long_runon", |b| {
        b.iter(|| analyze(black_box(long), NaiveDate::from_ymd_opt(2026, 11, 23).unwrap(), &units))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
