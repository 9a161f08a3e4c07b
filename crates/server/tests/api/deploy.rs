//! The deploy kit, checked by the real tools: systemd's own verifier and security score for the
//! unit, Caddy's validator and a real Caddy in front of the real binary, the Containerfile and
//! compose file parsed by a Dockerfile parser and by podman-compose, and the release profile.

use crate::helpers::*;
use crate::tools::temp_dir;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn repo_path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(rel)
}

/// The tool's path; under CI a missing tool fails the test (`scripts/test` installs it), elsewhere it
/// is skipped with a loud note.
pub fn require_tool(name: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| p.is_file());
    if found.is_none() {
        let note = format!("{name} is not installed (apt-get install {package})");
        if std::env::var_os("CI").is_some() {
            panic!("{note}: this test cannot run (scripts/test installs it)");
        }
        eprintln!("\n*** SKIPPED: {note} ***\n");
    }
    found
}

/// The venv's Python with the check tools (`POSADA_PYTHON`, prepared by `scripts/test`).
pub fn python_with(module: &str) -> Option<String> {
    let python = std::env::var("POSADA_PYTHON").unwrap_or_else(|_| "python3".into());
    let ok = Command::new(&python).args(["-c", &format!("import {module}")]).status().is_ok_and(|s| s.success());
    if !ok {
        let note = format!("{python} has no {module} (the venv scripts/test prepares)");
        if std::env::var_os("CI").is_some() {
            panic!("{note}");
        }
        eprintln!("\n*** SKIPPED: {note} ***\n");
        return None;
    }
    Some(python)
}

#[test]
fn the_systemd_unit_verifies_and_is_hardened() {
    let Some(analyze) = require_tool("systemd-analyze", "systemd") else { return };
    let unit = std::fs::read_to_string(repo_path("deploy/posada.service")).unwrap();
    for directive in [
        "User=posada",
        "EnvironmentFile=/etc/posada/env",
        "StateDirectory=posada",
        "Environment=POSADA_DATA_DIR=/var/lib/posada",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "Restart=on-failure",
        "ExecStart=/usr/local/bin/posada serve",
    ] {
        assert!(unit.lines().any(|l| l == directive), "{directive} missing");
    }
    let sysusers = std::fs::read_to_string(repo_path("deploy/posada.sysusers")).unwrap();
    assert!(sysusers.lines().any(|l| l.starts_with("u posada ")), "the dedicated user");
    // verify checks that ExecStart exists: point it at the binary under test.
    let dir = temp_dir("unit");
    let path = dir.join("posada.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/posada", env!("CARGO_BIN_EXE_posada"))).unwrap();
    let out = Command::new(&analyze).args(["verify", "--man=no"]).arg(&path).output().unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && said.trim().is_empty(), "systemd-analyze verify: {said}");
    let out = Command::new(&analyze).args(["security", "--offline=true", "--no-pager"]).arg(&path).output().unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    let exposure: f64 = report
        .lines()
        .find_map(|l| l.split("Overall exposure level for posada.service: ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in:\n{report}"));
    println!("systemd-analyze security: exposure {exposure} (0 = locked down, 10 = unprotected)");
    assert!(exposure <= 2.0, "the unit is hardened (exposure {exposure}):\n{report}");
    std::fs::remove_dir_all(dir).ok();
}

fn caddy_env(cmd: &mut Command, dir: &Path, domain: &str, upstream: &str, admin: &str) {
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env("POSADA_DOMAIN", domain)
        .env("POSADA_ACME_EMAIL", "duena@example.com")
        .env("POSADA_UPSTREAM", upstream)
        .env("CADDY_ADMIN", admin);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caddy_validates_and_in_front_of_posada_passes_the_guests_address_and_hides_metrics() {
    let Some(caddy) = require_tool("caddy", "caddy") else { return };
    let dir = temp_dir("caddy");
    let caddyfile = repo_path("deploy/Caddyfile");
    // The file as shipped, with a real domain: valid, HTTPS on 443, /metrics answered 404, the
    // guest's address replacing any forwarded header.
    let mut validate = Command::new(&caddy);
    caddy_env(&mut validate, &dir, "reservas.example.com", "127.0.0.1:8080", "localhost:2019");
    let out = validate.args(["validate", "--adapter", "caddyfile", "--config"]).arg(&caddyfile).output().unwrap();
    assert!(out.status.success(), "caddy validate: {}", String::from_utf8_lossy(&out.stderr));
    let mut adapt = Command::new(&caddy);
    caddy_env(&mut adapt, &dir, "reservas.example.com", "127.0.0.1:8080", "localhost:2019");
    let out = adapt.args(["adapt", "--adapter", "caddyfile", "--config"]).arg(&caddyfile).output().unwrap();
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = json.to_string();
    assert_eq!(json["apps"]["http"]["servers"]["srv0"]["listen"], serde_json::json!([":443"]));
    assert!(text.contains(r#""host":["reservas.example.com"]"#), "{text}");
    assert!(text.contains(r#""path":["/metrics","/metrics/*"]"#) && text.contains(r#""status_code":404"#), "{text}");
    assert!(text.contains(r#""X-Forwarded-For":["{http.request.remote.host}"]"#), "{text}");

    // The same file in front of the real binary (plain HTTP on a free port for the test).
    let db = TestDatabase::new(Engine::Sqlite).await;
    let env = vec![
        ("POSADA_DATABASE_URL", db.url.clone()),
        ("POSADA_BIND", "127.0.0.1:0".to_string()),
        ("POSADA_JWT_SECRET", JWT_SECRET.into()),
        ("POSADA_LOG", "info".into()),
        ("POSADA_TRUSTED_PROXIES", "127.0.0.1".into()),
        ("POSADA_RATE_LIMIT_PER_MIN", "1".into()),
        ("POSADA_RATE_LIMIT_BURST", "3".into()),
    ];
    let posada = Binary::start(&["serve"], &env);
    let port = free_port();
    let mut run = Command::new(&caddy);
    caddy_env(
        &mut run,
        &dir,
        &format!("http://127.0.0.1:{port}"),
        posada.address.trim_start_matches("http://"),
        &format!("127.0.0.1:{}", free_port()),
    );
    let log = std::fs::File::create(dir.join("caddy.log")).unwrap();
    let mut child = run
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let front = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut ready = None;
    for _ in 0..100 {
        if let Ok(r) = client.get(format!("{front}/api/v1/readyz")).send().await {
            ready = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let ready = ready.unwrap_or_else(|| {
        panic!("caddy did not start: {}", std::fs::read_to_string(dir.join("caddy.log")).unwrap_or_default())
    });
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.headers()["x-content-type-options"], "nosniff");
    assert!(ready.headers().get("server").is_none(), "no Server header");
    let metrics = client.get(format!("{front}/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 404, "/metrics is not public");
    // A forged X-Forwarded-For cannot buy fresh rate-limit buckets through Caddy…
    let mut through_caddy = Vec::new();
    for i in 0..8 {
        let r = client
            .get(format!("{front}/api/v1/accommodations"))
            .header("x-forwarded-for", format!("203.0.113.{i}"))
            .send()
            .await
            .unwrap();
        through_caddy.push(r.status().as_u16());
    }
    assert!(through_caddy.contains(&429), "one guest, one bucket, whatever it claims: {through_caddy:?}");
    // …while the same forgery straight to Posada from a trusted address would (what Caddy prevents).
    let mut direct = Vec::new();
    for i in 0..8 {
        let r = client
            .get(format!("{}/api/v1/accommodations", posada.address))
            .header("x-forwarded-for", format!("198.51.100.{i}"))
            .send()
            .await
            .unwrap();
        direct.push(r.status().as_u16());
    }
    assert!(direct.iter().all(|s| *s == 200), "{direct:?}");
    let _ = child.kill();
    let _ = child.wait();
    posada.terminate();
    std::fs::remove_dir_all(dir).ok();
}

#[test]
fn the_containerfile_is_multi_stage_non_root_and_ships_the_stripped_binary() {
    let Some(python) = python_with("dockerfile_parse") else { return };
    let script = r#"
import io, json, sys
from dockerfile_parse import DockerfileParser
p = DockerfileParser(fileobj=io.BytesIO(open(sys.argv[1], "rb").read()))
print(json.dumps({"structure": p.structure, "baseimage": p.baseimage, "args": p.args}))
"#;
    let out = Command::new(&python).args(["-c", script]).arg(repo_path("deploy/Containerfile")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let parsed: Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps: Vec<(String, String)> = parsed["structure"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["instruction"].as_str().unwrap().to_string(), s["value"].as_str().unwrap().to_string()))
        .collect();
    let froms: Vec<&str> = steps.iter().filter(|(i, _)| i == "FROM").map(|(_, v)| v.as_str()).collect();
    assert_eq!(froms, vec!["${RUST_IMAGE} AS build", "${RUNTIME_IMAGE}"], "two stages");
    let args = std::fs::read_to_string(repo_path("deploy/Containerfile")).unwrap();
    assert!(args.contains("ARG RUST_IMAGE=docker.io/library/rust:1.95-slim-bookworm"));
    assert!(args.contains("ARG RUNTIME_IMAGE=docker.io/library/debian:bookworm-slim"));
    let last_from = steps.iter().rposition(|(i, _)| i == "FROM").unwrap();
    let runtime = &steps[last_from..];
    let user = runtime.iter().rev().find(|(i, _)| i == "USER").map(|(_, v)| v.clone()).expect("a USER");
    assert!(!user.starts_with('0') && user != "root", "runs as non-root: {user}");
    assert!(
        runtime.iter().any(|(i, v)| i == "COPY" && v.contains("--from=build") && v.contains("/usr/local/bin/posada"))
    );
    assert!(runtime.iter().any(|(i, v)| i == "HEALTHCHECK" && v.contains("posada") && v.contains("health")));
    assert!(steps.iter().any(|(i, v)| i == "RUN" && v.contains("cargo build --release --locked")));
    // The release profile is what strips it.
    let cargo = std::fs::read_to_string(repo_path("Cargo.toml")).unwrap();
    let release = cargo.split("[profile.release]").nth(1).unwrap().split("\n[").next().unwrap();
    assert!(release.contains("strip = \"symbols\"") && release.contains("debug = false"), "{release}");
    let ignore = std::fs::read_to_string(repo_path(".dockerignore")).unwrap();
    assert!(ignore.lines().any(|l| l == "target") && ignore.lines().any(|l| l == ".git"), "a small build context");
}

#[test]
fn the_compose_file_has_postgres_15_posada_with_a_health_check_and_caddy() {
    let Some(python) = python_with("podman_compose") else { return };
    let dir = repo_path("deploy");
    let config = |password: Option<&str>| {
        let env_file = dir.join("posada.env");
        let had = env_file.exists();
        if !had {
            std::fs::copy(dir.join("env.example"), &env_file).unwrap();
        }
        let mut cmd = Command::new(&python);
        // `--dry-run`: parse and resolve only; podman itself need not be installed.
        cmd.args(["-m", "podman_compose", "--dry-run", "-f", "compose.yaml", "config"])
            .current_dir(&dir)
            .env("POSADA_DOMAIN", "reservas.example.com")
            .env("POSADA_ACME_EMAIL", "duena@example.com")
            .stdin(Stdio::null());
        match password {
            Some(p) => cmd.env("POSTGRES_PASSWORD", p),
            None => cmd.env_remove("POSTGRES_PASSWORD"),
        };
        let out = cmd.output().unwrap();
        if !had {
            std::fs::remove_file(&env_file).ok();
        }
        out
    };
    let out = config(Some("s3cr3t"));
    assert!(out.status.success(), "podman-compose config: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let python_yaml = r#"import json, sys, yaml; print(json.dumps(yaml.safe_load(sys.stdin)))"#;
    let mut child =
        Command::new(&python).args(["-c", python_yaml]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), text.as_bytes()).unwrap();
    let parsed: Value = serde_json::from_slice(&child.wait_with_output().unwrap().stdout).unwrap();
    let s = &parsed["services"];
    assert_eq!(s["db"]["image"], "docker.io/library/postgres:15-bookworm");
    assert_eq!(s["posada"]["environment"]["POSADA_DATABASE_URL"], "postgres://posada:s3cr3t@db:5432/posada");
    assert_eq!(s["posada"]["environment"]["POSADA_PUBLIC_URL"], "https://reservas.example.com");
    assert_eq!(s["posada"]["healthcheck"]["test"], serde_json::json!(["CMD", "posada", "health"]));
    assert_eq!(s["posada"]["depends_on"]["db"]["condition"], "service_healthy");
    assert_eq!(s["posada"]["build"]["dockerfile"], "deploy/Containerfile");
    assert_eq!(s["caddy"]["environment"]["POSADA_UPSTREAM"], "posada:8080");
    assert!(s["caddy"]["volumes"].as_array().unwrap().iter().any(|v| v == "./Caddyfile:/etc/caddy/Caddyfile:ro"));
    let subnet = parsed["networks"]["internal"]["ipam"]["config"][0]["subnet"].as_str().unwrap();
    assert_eq!(s["posada"]["environment"]["POSADA_TRUSTED_PROXIES"], subnet, "trust exactly the compose network");
    assert!(s["posada"].get("ports").is_none(), "only Caddy is published");
    // No password, no stack.
    let out = config(None);
    assert!(!out.status.success(), "no POSTGRES_PASSWORD, no stack");
    assert!(String::from_utf8_lossy(&out.stderr).contains("required variable POSTGRES_PASSWORD is missing"));
}
