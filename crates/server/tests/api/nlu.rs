use crate::both_engines;
use crate::helpers::*;
use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};

both_engines!(the_route_understands_a_message_and_refuses_empty_or_long_text);

async fn the_route_understands_a_message_and_refuses_empty_or_long_text(engine: Engine) {
    let app = spawn_app(engine).await;
    let r = app
        .post_json(
            "/api/v1/nlu/analyze",
            &json!({"text": "hola, tienen lugar del 15 al 20 de enero para 4 en la Coihue?", "today": "2026-11-23"}),
        )
        .await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["intent"], "availability");
    assert_eq!((v["check_in"].as_str(), v["check_out"].as_str()), (Some("2027-01-15"), Some("2027-01-20")));
    assert_eq!((v["nights"].as_i64(), v["guests"].as_i64()), (Some(5), Some(4)));
    assert_eq!(v["unit"], "coihue");
    for body in [json!({"text": "   "}), json!({"text": "a".repeat(4097)})] {
        let r = app.post_json("/api/v1/nlu/analyze", &body).await;
        assert_eq!(r.status(), 422);
    }
    assert_eq!(app.post_json("/api/v1/nlu/analyze", &json!({"texto": "x"})).await.status(), 422);
}

#[test]
fn the_cli_prints_one_json_object_per_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_posada"))
        .args(["nlu", "--today", "2026-11-23", "somos 4, del 28 de diciembre al 2 de enero"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["check_in"].as_str(), v["check_out"].as_str(), v["guests"].as_i64()),
        (Some("2026-12-28"), Some("2027-01-02"), Some(4))
    );

    let mut child = Command::new(env!("CARGO_BIN_EXE_posada"))
        .args(["nlu", "--today", "2026-11-23"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all("hola\nquiero hablar con el dueño\nel finde para 2\n".as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let lines: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let intents: Vec<&str> = lines.iter().map(|v| v["intent"].as_str().unwrap()).collect();
    assert_eq!(intents, vec!["greeting", "human", "availability"]);
    assert_eq!(lines[2]["check_in"], "2026-11-28");
}
