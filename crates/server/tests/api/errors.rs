use crate::both_engines;
use crate::helpers::*;
use serde_json::Value;

both_engines!(
    oversized_bodies_get_413_on_every_route,
    unknown_routes_and_methods_get_json_errors,
    the_rate_limit_answers_429_but_spares_readiness_and_webhooks,
    responses_carry_trace_ids_and_security_headers,
    cors_allows_only_configured_origins,
);

async fn oversized_bodies_get_413_on_every_route(engine: Engine) {
    let app = spawn_app(engine).await;
    let big = vec![b'x'; 1024 * 1024 + 1];
    for (method, path) in [
        ("POST", "/api/v1/reservations/pre-reserve"),
        ("POST", "/api/v1/admin/login"),
        ("GET", "/api/v1/accommodations"),
        ("POST", "/api/v1/nlu/analyze"),
        ("POST", "/no/such/route"),
    ] {
        let (status, body) = raw_request(app.port, method, path, &big, false).await;
        assert_eq!(status, 413, "{method} {path}");
        assert!(body.contains("payload_too_large"), "{method} {path}: {body}");
    }
    // Without a declared length (chunked), the limit still holds. curl reads an early answer
    // while it is still sending, as a browser or an SDK would.
    let file = std::env::temp_dir().join(format!("posada-big-{}.json", rand::random::<u64>()));
    std::fs::write(&file, &big).unwrap();
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "content-type: application/json",
        ])
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(app.url("/api/v1/reservations/pre-reserve"))
        .output()
        .expect("curl");
    std::fs::remove_file(&file).ok();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "413");
}

/// Sends a request over a raw connection and reads the answer even when the server answers
/// (and stops reading) before the body is through — a client library may report that as an
/// error instead. `chunked` sends no Content-Length.
pub async fn raw_request(port: u16, method: &str, path: &str, body: &[u8], chunked: bool) -> (u16, String) {
    // A server that answers before reading the whole body closes with unread data, and the
    // kernel may turn that into a reset that eats the answer: try a few times.
    for _ in 0..5 {
        let (status, text) = raw_request_once(port, method, path, body, chunked).await;
        if status != 0 {
            return (status, text);
        }
    }
    (0, String::new())
}

async fn raw_request_once(port: u16, method: &str, path: &str, body: &[u8], chunked: bool) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let framing =
        if chunked { "Transfer-Encoding: chunked".to_string() } else { format!("Content-Length: {}", body.len()) };
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    );
    let (mut rd, mut wr) = s.into_split();
    wr.write_all(head.as_bytes()).await.unwrap();
    let body = body.to_vec();
    let writer = tokio::spawn(async move {
        for chunk in body.chunks(64 * 1024) {
            let ok = if chunked {
                wr.write_all(format!("{:x}\r\n", chunk.len()).as_bytes()).await.is_ok()
                    && wr.write_all(chunk).await.is_ok()
                    && wr.write_all(b"\r\n").await.is_ok()
            } else {
                wr.write_all(chunk).await.is_ok()
            };
            if !ok {
                return;
            }
        }
        if chunked {
            let _ = wr.write_all(b"0\r\n\r\n").await;
        }
    });
    let mut response = Vec::new();
    let _ = rd.read_to_end(&mut response).await;
    writer.abort();
    let text = String::from_utf8_lossy(&response).to_string();
    let status = text.split_whitespace().nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

async fn unknown_routes_and_methods_get_json_errors(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.get("/api/v1/nope").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "route_not_found");
    let r = app.client.delete(app.url("/api/v1/accommodations")).send().await.unwrap();
    assert_eq!(r.status(), 405);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "method_not_allowed");
}

async fn the_rate_limit_answers_429_but_spares_readiness_and_webhooks(engine: Engine) {
    let app = spawn_app_with(
        engine,
        Options {
            env: vec![("POSADA_RATE_LIMIT_PER_MIN", "60".into()), ("POSADA_RATE_LIMIT_BURST", "5".into())],
            ..Default::default()
        },
    )
    .await;
    for _ in 0..5 {
        assert_eq!(app.get("/api/v1/accommodations").await.status(), 200);
    }
    let r = app.get("/api/v1/accommodations").await;
    assert_eq!(r.status(), 429);
    assert!(r.headers()["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "rate_limited");
    assert_eq!(app.get("/api/v1/readyz").await.status(), 200, "readiness does no I/O: exempt");
    // Deep health and metrics read the database: bounded like the rest (issue 13).
    for path in ["/api/v1/healthz", "/metrics"] {
        assert_eq!(app.get(path).await.status(), 429, "{path}");
    }
    assert_ne!(app.client.post(app.url("/api/v1/webhooks/whatsapp")).send().await.unwrap().status(), 429);
    // A spoofed X-Forwarded-For from an untrusted peer does not buy a fresh bucket.
    let r =
        app.client.get(app.url("/api/v1/accommodations")).header("x-forwarded-for", "9.9.9.9").send().await.unwrap();
    assert_eq!(r.status(), 429);
}

async fn responses_carry_trace_ids_and_security_headers(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app.client.get(app.url("/api/v1/accommodations")).header("x-request-id", "abc-123").send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], "abc-123");
    assert_eq!(r.headers()["x-trace-id"], "abc-123");
    let r = app.get("/api/v1/readyz").await;
    assert_eq!(r.headers()["x-request-id"].len(), 32);
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors"));
    assert!(r.headers().contains_key("referrer-policy"));
}

async fn cors_allows_only_configured_origins(engine: Engine) {
    let app = spawn_app_with(
        engine,
        Options { env: vec![("POSADA_CORS_ORIGINS", "https://panel.example.test".into())], ..Default::default() },
    )
    .await;
    let r = app
        .client
        .get(app.url("/api/v1/accommodations"))
        .header("origin", "https://panel.example.test")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["access-control-allow-origin"], "https://panel.example.test");
    let r =
        app.client.get(app.url("/api/v1/accommodations")).header("origin", "https://evil.test").send().await.unwrap();
    assert!(!r.headers().contains_key("access-control-allow-origin"));
}
