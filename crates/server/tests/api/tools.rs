//! The command-line tools find the database `serve`/`demo` use and never create one by accident;
//! `--version`, `/readyz` and `migrate --dry-run` say which schema is where.

use crate::helpers::*;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The real binary with a clean environment, run from `cwd` (to catch stray files there).
pub fn posada_in(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_posada"));
    c.env_clear().current_dir(cwd);
    for var in ["PATH", "HOME"] {
        if let Ok(v) = std::env::var(var) {
            c.env(var, v);
        }
    }
    c
}

pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("posada-{name}-{:016x}", rand::random::<u64>()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Every file under `dir`, relative paths (to prove nothing appeared).
fn files_under(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path.clone());
            }
            out.push(path.strip_prefix(dir).unwrap().display().to_string());
        }
    }
    out.sort();
    out
}

/// Runs `posada demo` with this data dir until it has seeded and printed its banner, then stops it.
pub fn run_demo_once(cwd: &Path, data_dir: &Path) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut demo = posada_in(cwd)
        .env("POSADA_DATA_DIR", data_dir)
        .env("POSADA_BIND", format!("127.0.0.1:{port}"))
        .arg("demo")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = demo.stdout.take().unwrap();
    let printed = std::thread::spawn(move || {
        use std::io::Read;
        let (mut buf, mut text) = ([0u8; 4096], String::new());
        while !text.contains("Try:") {
            let n = stdout.read(&mut buf).unwrap_or(0);
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        text
    })
    .join()
    .unwrap();
    let _ = Command::new("kill").args(["-TERM", &demo.id().to_string()]).status();
    let status = demo.wait().unwrap();
    assert!(printed.contains("Seeded 3 demo cabins"), "{printed}");
    assert!(status.success(), "the demo stops cleanly on SIGTERM: {status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_tool_finds_the_demos_database_and_none_creates_one() {
    let cwd = temp_dir("cwd");
    let data = temp_dir("data");
    run_demo_once(&cwd, &data);
    // The command, verbatim: the demo's cabin is found through POSADA_DATA_DIR alone.
    let out = posada_in(&cwd).env("POSADA_DATA_DIR", &data).args(["ical", "export", "arrayan"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let feed = String::from_utf8(out.stdout).unwrap();
    assert!(feed.starts_with("BEGIN:VCALENDAR") && feed.contains("X-WR-CALNAME:Arrayán"), "{feed}");
    let out = posada_in(&cwd).env("POSADA_DATA_DIR", &data).args(["ical", "rotate-token", "coihue"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = posada_in(&cwd).env("POSADA_DATA_DIR", &data).args(["ical", "sync"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child = posada_in(&cwd)
        .env("POSADA_DATA_DIR", &data)
        .args(["admin", "add-user", "--email", "staff@example.test", "--role", "staff"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"una-clave-larga\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = posada_in(&cwd).env("POSADA_DATA_DIR", &data).args(["migrate", "--dry-run"]).output().unwrap();
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pending"], serde_json::json!([]), "the demo migrated its database: {v}");
    assert_eq!(files_under(&cwd), Vec::<String>::new(), "no stray database in the working directory");

    // A data dir with no database: every tool says where it looked, and creates nothing.
    let empty = temp_dir("empty");
    let missing = empty.join("nothing-here");
    let commands: &[&[&str]] = &[
        &["ical", "export", "arrayan"],
        &["ical", "sync"],
        &["ical", "rotate-token", "1"],
        &["admin", "add-user", "--email", "x@example.test"],
        &["migrate", "--dry-run"],
    ];
    for args in commands {
        let mut child = posada_in(&cwd)
            .env("POSADA_DATA_DIR", &missing)
            .args(*args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"una-clave-larga\n").unwrap();
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if args[0] == "migrate" {
            assert!(out.status.success(), "{stderr}");
            let v: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(v["schema_version"], Value::Null, "{v}");
            assert!(v["pending"].as_array().unwrap().len() >= 5, "everything would run: {v}");
        } else {
            assert!(!out.status.success(), "{args:?} must fail without a database");
            assert!(
                stderr.contains(&format!("no hay ninguna base de datos en {}", missing.join("posada.db").display())),
                "{args:?}: {stderr}"
            );
        }
        assert_eq!(files_under(&cwd), Vec::<String>::new(), "{args:?} left a file in the working directory");
        assert_eq!(files_under(&empty), Vec::<String>::new(), "{args:?} created the data dir or a database");
    }
    for dir in [cwd, data, empty] {
        std::fs::remove_dir_all(dir).ok();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tool_refuses_a_database_that_needs_migrating() {
    let cwd = temp_dir("cwd");
    let db = cwd.join("empty.db");
    std::fs::File::create(&db).unwrap();
    let url = format!("sqlite://{}", db.display());
    let out = posada_in(&cwd).env("POSADA_DATABASE_URL", &url).args(["ical", "export", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("está vacía") && stderr.contains("posada migrate"), "{stderr}");
    let out = posada_in(&cwd).env("POSADA_DATABASE_URL", &url).arg("migrate").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["schema_version"].as_i64(), Some(store::migrations::latest_version()));
    std::fs::remove_dir_all(cwd).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_names_the_commit_and_the_schema_and_readyz_says_the_same() {
    let cwd = temp_dir("cwd");
    let out = posada_in(&cwd).arg("--version").output().unwrap();
    assert!(out.status.success());
    let line = String::from_utf8(out.stdout).unwrap();
    let commit = server::build_info::COMMIT;
    assert_eq!(commit.len(), 40, "built inside git: the full hash ({commit})");
    let schema = store::migrations::latest_version();
    assert_eq!(
        line.trim(),
        format!("posada {} (commit {}, schema {schema})", env!("CARGO_PKG_VERSION"), &commit[..12])
    );
    std::fs::remove_dir_all(cwd).ok();

    let app = spawn_app(Engine::Sqlite).await;
    let v: Value = app.get("/api/v1/readyz").await.json().await.unwrap();
    assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["commit"], commit);
    assert_eq!(v["schema_version"].as_i64(), Some(schema));
    let status = app.state.store.migration_status().await.unwrap();
    assert_eq!(status.schema_version(), Some(schema), "serve migrated the database to the binary's schema");
}

#[test]
fn both_engines_carry_the_same_migrations() {
    use store::Backend;
    let (pg, lite) = (store::migrations::known(Backend::Postgres), store::migrations::known(Backend::Sqlite));
    assert_eq!(pg, lite);
    assert_eq!(lite.last().map(|m| m.version), Some(store::migrations::latest_version()));
}
