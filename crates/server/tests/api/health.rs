use crate::both_engines;
use crate::helpers::*;
use serde_json::Value;
use std::collections::BTreeMap;

both_engines!(
    readyz_answers_without_io,
    healthz_reports_checks_and_503_when_the_database_is_gone,
    metrics_are_prometheus_text
);

async fn readyz_answers_without_io(engine: Engine) {
    let app = spawn_app(engine).await;
    app.state.store.close().await;
    let r = app.get("/api/v1/readyz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ready");
}

async fn healthz_reports_checks_and_503_when_the_database_is_gone(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/v1/healthz").await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "healthy", "{v}");
    assert_eq!(v["checks"]["database"]["status"], "ok");
    assert!(v["checks"]["database"]["latency_ms"].as_f64().unwrap() >= 0.0);
    assert!(v["checks"]["jobs"]["backlog"].is_i64());
    assert!(v["timestamp"].is_string());
    app.state.store.close().await;
    // One check answers every caller for two seconds.
    app.clock.advance(chrono::Duration::seconds(3));
    let r = app.get("/api/v1/healthz").await;
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "unhealthy");
    assert_eq!(v["checks"]["database"]["status"], "error");
}

/// A minimal parser of the Prometheus text exposition format: samples by name, with labels.
pub fn parse_prometheus(text: &str) -> Vec<(String, BTreeMap<String, String>, f64)> {
    let mut samples = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let kind = rest.split_whitespace().nth(1).unwrap_or("");
                assert!(
                    ["counter", "gauge", "histogram", "summary", "untyped"].contains(&kind),
                    "bad TYPE line {line}"
                );
            }
            continue;
        }
        let (name_labels, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("bad sample line {line:?}"));
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            v => v.parse().unwrap_or_else(|_| panic!("bad value in {line:?}")),
        };
        let (name, labels) = match name_labels.split_once('{') {
            None => (name_labels.to_string(), BTreeMap::new()),
            Some((n, rest)) => {
                let body = rest.strip_suffix('}').unwrap_or_else(|| panic!("unclosed labels in {line:?}"));
                let mut labels = BTreeMap::new();
                let mut rest = body;
                while !rest.is_empty() {
                    let (k, v) = rest.split_once("=\"").unwrap_or_else(|| panic!("bad label in {line:?}"));
                    let mut value = String::new();
                    let mut chars = v.char_indices();
                    let mut end = None;
                    while let Some((i, c)) = chars.next() {
                        match c {
                            '\\' => {
                                if let Some((_, e)) = chars.next() {
                                    value.push(match e {
                                        'n' => '\n',
                                        other => other,
                                    });
                                }
                            }
                            '"' => {
                                end = Some(i);
                                break;
                            }
                            c => value.push(c),
                        }
                    }
                    let end = end.unwrap_or_else(|| panic!("unterminated label value in {line:?}"));
                    labels.insert(k.trim_start_matches(',').to_string(), value);
                    rest = v[end + 1..].trim_start_matches(',');
                }
                (n.to_string(), labels)
            }
        };
        assert!(name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'), "bad metric name {name}");
        samples.push((name, labels, value));
    }
    samples
}

async fn metrics_are_prometheus_text(engine: Engine) {
    let app = spawn_app(engine).await;
    let units: Value = app.get("/api/v1/accommodations").await.json().await.unwrap();
    let unit = units[0]["id"].as_i64().unwrap();
    let r = app.pre_reserve(&app.hold_body(unit, &app.in_days(20), &app.in_days(23), "+5491100000001")).await;
    assert_eq!(r.status(), 201);
    let r = app.pre_reserve(&app.hold_body(unit, &app.in_days(21), &app.in_days(23), "+5491100000002")).await;
    assert_eq!(r.status(), 409);
    let r = app.metrics().await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
    let samples = parse_prometheus(&r.text().await.unwrap());
    // Sums the series of `name` that carry the label.
    let find = |name: &str, label: (&str, &str)| {
        let matching: Vec<f64> = samples
            .iter()
            .filter(|(n, l, _)| n == name && l.get(label.0).map(String::as_str) == Some(label.1))
            .map(|s| s.2)
            .collect();
        (!matching.is_empty()).then(|| matching.iter().sum::<f64>())
    };
    assert!(find("reservations_created_total", ("channel", "api")).unwrap() >= 1.0);
    assert!(find("reservations_conflicts_total", ("channel", "api")).unwrap() >= 1.0);
    assert!(find("http_requests_total", ("path", "/api/v1/reservations/pre-reserve")).unwrap() >= 2.0);
    assert!(samples.iter().any(|(n, _, _)| n == "http_request_duration_seconds_bucket"));
}
