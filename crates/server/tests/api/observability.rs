//! The operator pack (`deploy/observability`): alert rules checked and unit-tested by promtool,
//! the scrape configuration checked by promtool, and the Grafana dashboard's every PromQL
//! expression parsed by Prometheus' own parser and made only of metrics a running Posada emits.

use crate::deploy::{repo_path, require_tool};
use crate::helpers::*;
use crate::tools::temp_dir;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::process::Command;

fn promtool() -> Option<std::path::PathBuf> {
    require_tool("promtool", "prometheus")
}

fn run(tool: &std::path::Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(tool).args(args).current_dir(repo_path("deploy/observability")).output().unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

/// The metric names in a PromQL expression: identifiers outside label matchers, ranges, strings
/// and `by (…)` / `without (…)`, less the functions and keywords.
pub fn metric_names(expr: &str) -> BTreeSet<String> {
    const NOT_METRICS: &[&str] = &[
        "sum",
        "min",
        "max",
        "avg",
        "count",
        "stddev",
        "topk",
        "bottomk",
        "quantile",
        "rate",
        "irate",
        "increase",
        "delta",
        "deriv",
        "histogram_quantile",
        "time",
        "abs",
        "clamp_min",
        "clamp_max",
        "vector",
        "scalar",
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "offset",
        "bool",
        "absent",
        "max_over_time",
        "min_over_time",
        "avg_over_time",
        "label_replace",
        "sort",
        "sort_desc",
        "round",
        "ceil",
    ];
    let mut cleaned = String::new();
    let mut depth_brace = 0;
    let mut depth_bracket = 0;
    let mut in_string = false;
    for c in expr.chars() {
        match c {
            '"' => in_string = !in_string,
            _ if in_string => {}
            '{' => depth_brace += 1,
            '}' => depth_brace -= 1,
            '[' => depth_bracket += 1,
            ']' => depth_bracket -= 1,
            _ if depth_brace > 0 || depth_bracket > 0 => {}
            c => cleaned.push(c),
        }
    }
    // `by (a, b)` and `without (a)` hold label names.
    let mut text = cleaned;
    for keyword in ["by", "without", "on", "ignoring"] {
        while let Some(at) = find_word(&text, keyword) {
            let rest = &text[at + keyword.len()..];
            let Some(open) = rest.find('(') else { break };
            let Some(close) = rest.find(')') else { break };
            text = format!("{} {}", &text[..at], &rest[close + 1..]);
            let _ = open;
        }
    }
    let mut names = BTreeSet::new();
    let mut word = String::new();
    for c in text.chars().chain([' ']) {
        if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            if !word.is_empty()
                && !word.chars().next().unwrap().is_ascii_digit()
                && !NOT_METRICS.contains(&word.as_str())
            {
                names.insert(word.clone());
            }
            word.clear();
        }
    }
    names
}

fn find_word(text: &str, word: &str) -> Option<usize> {
    text.match_indices(word).map(|(i, _)| i).find(|&i| {
        let before = text[..i].chars().last().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        let after = text[i + word.len()..].chars().next().is_none_or(|c| !(c.is_ascii_alphanumeric() || c == '_'));
        before && after
    })
}

#[test]
fn metric_names_are_found_in_promql() {
    let e = r#"histogram_quantile(0.95, sum by (le, type) (rate(message_processing_seconds_bucket{job="posada", x="a{b}"}[5m])))"#;
    assert_eq!(metric_names(e), BTreeSet::from(["message_processing_seconds_bucket".to_string()]));
    let e = r#"min by (dir) (disk_free_bytes{job="posada"} / disk_size_bytes{job="posada"}) * 100"#;
    assert_eq!(metric_names(e), BTreeSet::from(["disk_free_bytes".to_string(), "disk_size_bytes".to_string()]));
    assert_eq!(
        metric_names("time() - max(backup_last_success_timestamp_seconds)"),
        BTreeSet::from(["backup_last_success_timestamp_seconds".to_string()])
    );
}

#[test]
fn the_alert_rules_pass_promtool_and_their_unit_tests() {
    let Some(promtool) = promtool() else { return };
    let (ok, said) = run(&promtool, &["check", "rules", "alerts.yml"]);
    assert!(ok, "promtool check rules: {said}");
    let (ok, said) = run(&promtool, &["test", "rules", "alerts.test.yml"]);
    assert!(ok && said.contains("SUCCESS"), "promtool test rules: {said}");
    let (ok, said) = run(&promtool, &["check", "config", "prometheus.yml"]);
    assert!(ok, "promtool check config: {said}");
    // Every alert the issue asks for, each on a metric Posada has (or Prometheus' own `up`).
    let rules = std::fs::read_to_string(repo_path("deploy/observability/alerts.yml")).unwrap();
    for alert in [
        "PosadaDown",
        "PosadaUnhealthy",
        "PosadaDegraded",
        "PosadaOutboxBehind",
        "PosadaBreakerOpen",
        "PosadaJobsFailing",
        "PosadaIcalFeedStale",
        "PosadaPaymentWebhookBadSignature",
        "PosadaDiskNearlyFull",
        "PosadaNoRecentBackup",
    ] {
        assert!(rules.contains(&format!("- alert: {alert}\n")), "{alert} missing");
        let tests = std::fs::read_to_string(repo_path("deploy/observability/alerts.test.yml")).unwrap();
        assert!(tests.contains(&format!("alertname: {alert}\n")), "{alert} has no unit test");
    }
    for line in rules.lines().filter_map(|l| l.trim().strip_prefix("expr: ")) {
        for name in metric_names(line) {
            assert!(
                name == "up" || server::metrics::ALL.contains(&name.as_str()),
                "{name} in {line} is not a Posada metric"
            );
        }
    }
}

/// A Posada at work: a hold, a refused hold, a paid deposit, a guest's chat, a calendar synced.
async fn busy_app(metrics_port: u16, feed: &FakeUpstream, dir: &std::path::Path) -> TestApp {
    let app = spawn_app_with(
        Engine::Sqlite,
        Options {
            worker: true,
            env: vec![
                ("POSADA_PAYMENT_PROVIDER", "sandbox".into()),
                ("POSADA_SANDBOX", "true".into()),
                ("POSADA_METRICS_BIND", format!("127.0.0.1:{metrics_port}")),
                ("POSADA_DATA_DIR", dir.display().to_string()),
                ("POSADA_BACKUP_DIR", dir.join("backups").display().to_string()),
            ],
            ..Default::default()
        },
    )
    .await;
    let body = app.hold_body(2, &app.in_days(30), &app.in_days(33), "+5492944000111");
    let r = app.pre_reserve(&body).await;
    assert_eq!(r.status(), 201);
    let code = r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_string();
    let refused = app.pre_reserve(&app.hold_body(2, &app.in_days(31), &app.in_days(34), "+5492944000222")).await;
    assert_eq!(refused.status(), 409);
    let mut link = None;
    for _ in 0..200 {
        let v: Value = app.get(&format!("/api/v1/reservations/{code}")).await.json().await.unwrap();
        if let Some(l) = v["payment_link"].as_str() {
            link = Some(l.rsplit('/').next().unwrap().to_string());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let pref = link.expect("a payment link");
    assert_eq!(app.client.post(app.url(&format!("/sandbox/pay/{pref}/approve"))).send().await.unwrap().status(), 200);
    let r = app
        .post_json(
            "/sandbox/api/messages",
            &json!({"session": "metricas-1", "name": "Ana", "text": "hola, tienen lugar?"}),
        )
        .await;
    assert!(r.status().is_success());
    let ics = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:x@airbnb.com\r\nDTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        app.in_days(60).replace('-', ""),
        app.in_days(62).replace('-', "")
    );
    feed.respond_at("/a.ics", Canned::text(200, "text/calendar", &ics));
    app.state.store.add_feed(1, &format!("{}/a.ics", feed.address), "airbnb", app.clock.now()).await.unwrap();
    app.state.booking.importer().sync_all().await.unwrap();
    app
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_parses_and_uses_only_metrics_a_running_posada_emits() {
    let Some(promtool) = promtool() else { return };
    let dashboard: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("deploy/observability/grafana-dashboard.json")).unwrap(),
    )
    .unwrap();
    let mut exprs = Vec::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            exprs.push((panel["title"].as_str().unwrap().to_string(), target["expr"].as_str().unwrap().to_string()));
        }
    }
    assert!(exprs.len() >= 15, "{exprs:?}");
    let titles: Vec<String> =
        dashboard["panels"].as_array().unwrap().iter().map(|p| p["title"].as_str().unwrap().to_lowercase()).collect();
    for topic in ["requests", "latency", "holds", "payments", "messages", "queue", "calendars"] {
        assert!(titles.iter().any(|t| t.contains(topic)), "no panel about {topic}: {titles:?}");
    }
    // Prometheus' own parser: each expression as a recording rule (Grafana's macros filled in).
    let dir = temp_dir("promql");
    let rules: Vec<Value> = exprs
        .iter()
        .enumerate()
        .map(|(i, (_, e))| json!({"record": format!("posada:dashboard_{i}"), "expr": e.replace("$__rate_interval", "5m")}))
        .collect();
    let file = dir.join("dashboard-rules.yml");
    std::fs::write(&file, json!({"groups": [{"name": "dashboard", "rules": rules}]}).to_string()).unwrap();
    let out = Command::new(&promtool).args(["check", "rules"]).arg(&file).output().unwrap();
    assert!(out.status.success(), "a dashboard query does not parse: {}", String::from_utf8_lossy(&out.stdout));

    // Metric names, against a real scrape of a Posada that did a bit of everything.
    let wanted: BTreeSet<String> = exprs.iter().flat_map(|(_, e)| metric_names(e)).collect();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let feed = FakeUpstream::start().await;
    let app = busy_app(port, &feed, &dir).await;
    let mut missing = wanted.clone();
    let mut scraped = String::new();
    for _ in 0..100 {
        scraped = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap().text().await.unwrap();
        let present: BTreeSet<String> =
            crate::health::parse_prometheus(&scraped).into_iter().map(|(name, _, _)| name).collect();
        missing = wanted.iter().filter(|n| !present.contains(*n)).cloned().collect();
        if missing.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(missing.is_empty(), "the dashboard uses metrics Posada does not emit: {missing:?}\n{scraped}");
    println!("the dashboard's {} queries use {} metrics, all in a real scrape", exprs.len(), wanted.len());
    app.stop().await;
    std::fs::remove_dir_all(dir).ok();
}
