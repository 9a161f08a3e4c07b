//! Issue 13, finding 6: health that tells the truth. During a Graph API outage `healthz` said
//! `outbox: ok` with replies two minutes old; Mercado Pago's breaker was missing; `/metrics`
//! (business counters) was public on the main port; every `healthz` queried the database.

use crate::both_engines;
use crate::helpers::*;
use crate::whatsapp::{envelope, post_signed, text, wa_app};
use serde_json::{Value, json};

both_engines!(
    the_outbox_is_degraded_when_its_oldest_reply_waits_too_long,
    every_breaker_is_in_health,
    many_health_callers_share_one_check,
    metrics_need_their_own_port_or_a_token,
);

async fn health(app: &TestApp) -> Value {
    app.get("/api/v1/healthz").await.json().await.unwrap()
}

async fn the_outbox_is_degraded_when_its_oldest_reply_waits_too_long(engine: Engine) {
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![]).await;
    graph.respond_always(Canned::json(503, json!({})));
    post_signed(&app, &envelope(vec![text("wamid.h1", "hola")], "Juana")).await;
    app.run_jobs().await;
    let v = health(&app).await;
    assert_eq!(v["checks"]["outbox"]["status"], "ok", "{v}");
    assert_eq!(v["checks"]["outbox"]["max_age_s"], 60);
    // The Graph API stays down; two minutes later the guest still has no answer.
    app.clock.advance(chrono::Duration::seconds(120));
    let v = health(&app).await;
    assert!(v["checks"]["outbox"]["queued"].as_i64().unwrap() >= 1, "{v}");
    assert_eq!(v["checks"]["outbox"]["status"], "behind", "{v}");
    assert_eq!(v["status"], "degraded");
    // The threshold is the operator's.
    let graph = FakeUpstream::start().await;
    let app = wa_app(engine, &graph, vec![("POSADA_HEALTH_OUTBOX_MAX_AGE_S", "600".into())]).await;
    graph.respond_always(Canned::json(503, json!({})));
    post_signed(&app, &envelope(vec![text("wamid.h2", "hola")], "Juana")).await;
    app.run_jobs().await;
    app.clock.advance(chrono::Duration::seconds(120));
    assert_eq!(health(&app).await["checks"]["outbox"]["status"], "ok");
}

async fn every_breaker_is_in_health(engine: Engine) {
    let (graph, mp) = (FakeUpstream::start().await, FakeUpstream::start().await);
    let app = crate::payments::mp_app(engine, &graph, &mp).await;
    let v = health(&app).await;
    assert_eq!(v["checks"]["breakers"]["whatsapp"], "closed", "{v}");
    assert_eq!(v["checks"]["breakers"]["mercadopago"], "closed", "{v}");
    // Mercado Pago failing opens its breaker, and health says so.
    let breaker = app.state.payments.provider().unwrap().breaker();
    for _ in 0..5 {
        breaker.failure(std::time::Instant::now());
    }
    app.clock.advance(chrono::Duration::seconds(3));
    let v = health(&app).await;
    assert_eq!(
        (v["checks"]["breakers"]["mercadopago"].as_str(), v["status"].as_str()),
        (Some("open"), Some("degraded"))
    );
}

async fn many_health_callers_share_one_check(engine: Engine) {
    let app = spawn_app(engine).await;
    let answers = futures_util::future::join_all((0..200).map(|_| app.get("/api/v1/healthz"))).await;
    let mut stamps = std::collections::BTreeSet::new();
    for r in answers {
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        assert!(v["age_s"].as_f64().unwrap() < 2.0, "{v}");
        stamps.insert(v["timestamp"].as_str().unwrap().to_string());
    }
    // 200 callers, one check (two if the burst straddles the cache's two seconds).
    assert!(stamps.len() <= 2, "{} checks for 200 callers", stamps.len());
}

async fn metrics_need_their_own_port_or_a_token(engine: Engine) {
    // The tests' default: a token. Without it or with another one: 401.
    let app = spawn_app(engine).await;
    assert_eq!(app.get("/metrics").await.status(), 401);
    let r = app.client.get(app.url("/metrics")).bearer_auth("guess").send().await.unwrap();
    assert_eq!(r.status(), 401);
    let r = app.metrics().await;
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("http_requests_total"));
    // No token and no metrics port: not served on the main port at all.
    let off =
        spawn_app_with(engine, Options { env: vec![("POSADA_METRICS_TOKEN", String::new())], ..Default::default() })
            .await;
    assert_eq!(off.get("/metrics").await.status(), 404);
    assert_eq!(off.metrics().await.status(), 404);
    // The demo (sandbox on) keeps it easy: open on its own (loopback) address.
    let demo = spawn_app_with(
        engine,
        Options {
            env: vec![("POSADA_METRICS_TOKEN", String::new()), ("POSADA_SANDBOX", "true".into())],
            ..Default::default()
        },
    )
    .await;
    assert_eq!(demo.get("/metrics").await.status(), 200);
    // With POSADA_METRICS_BIND, only there (even with the token).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let split = spawn_app_with(
        engine,
        Options { env: vec![("POSADA_METRICS_BIND", format!("127.0.0.1:{port}"))], ..Default::default() },
    )
    .await;
    assert_eq!(split.metrics().await.status(), 404);
    let r = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await.unwrap();
    assert_eq!(r.status(), 200);
}
