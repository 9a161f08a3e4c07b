use crate::both_engines;
use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeSet;

fn repo_file(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn every_variable_the_config_reads_is_documented() {
    let source = include_str!("../../src/config.rs");
    let read: BTreeSet<&str> = source
        .match_indices("\"POSADA_")
        .map(|(i, _)| {
            let rest = &source[i + 1..];
            &rest[..rest.find('"').unwrap()]
        })
        .filter(|name| name.len() > "POSADA_".len() && name.bytes().all(|b| b.is_ascii_uppercase() || b == b'_'))
        .collect();
    assert!(read.len() > 15, "{read:?}");
    let declared: BTreeSet<&str> = server::config::ENV_VARS.iter().copied().collect();
    assert_eq!(read, declared, "config.rs reads a variable missing from ENV_VARS (or the reverse)");
    let readme = repo_file("README.md");
    let example = repo_file(".env.example");
    for var in &read {
        assert!(readme.contains(var), "README.md does not list {var}");
        assert!(example.contains(var), ".env.example does not list {var}");
    }
}

#[test]
fn every_metric_is_documented() {
    let doc = repo_file("docs/metrics.md");
    for name in server::metrics::ALL {
        assert!(doc.contains(&format!("`{name}`")), "docs/metrics.md does not list {name}");
    }
}

both_engines!(openapi_describes_every_route_and_every_described_route_exists);

async fn openapi_describes_every_route_and_every_described_route_exists(engine: Engine) {
    let app = spawn_app(engine).await;
    let spec: Value = app.get("/api/v1/openapi.json").await.json().await.unwrap();
    let paths = spec["paths"].as_object().unwrap();
    let docs = server::http::api().docs;
    assert!(docs.len() >= 25);
    for d in &docs {
        assert!(paths[d.path][d.method.to_lowercase()].is_object(), "{} {} missing", d.method, d.path);
    }
    let documented: usize = paths.values().map(|p| p.as_object().unwrap().len()).sum();
    assert_eq!(documented, docs.len());
    // Every documented path is really routed (the fallback answers `route_not_found`).
    for d in &docs {
        let path = d.path.replace("{code}", "ZZZZZZ").replace("{id}", "1");
        let r = app.client.request(d.method.parse().unwrap(), app.url(&path)).send().await.unwrap();
        if r.status() == 404 {
            let v: Value = r.json().await.unwrap_or_default();
            assert_ne!(v["error"]["code"], "route_not_found", "{} {} is not routed", d.method, d.path);
        }
    }
}
