//! The layering the design promises, checked on the real dependency graph: the pure crates
//! (rules, language, calendars, dialogue) never reach for I/O, so they stay testable without a
//! runtime and a reader knows where side effects can happen.

use std::process::Command;

const PURE: [&str; 4] = ["domain", "nlu", "ical", "conversation"];
/// Crates that do I/O or bring an async runtime: only `store` and `server` may use them.
const IO: [&str; 12] = [
    "tokio",
    "sqlx",
    "reqwest",
    "axum",
    "hyper",
    "mio",
    "lettre",
    "async-imap",
    "rustls",
    "tower",
    "libsqlite3-sys",
    "metrics",
];

fn normal_dependencies(package: &str) -> Vec<String> {
    let out = Command::new(env!("CARGO"))
        .args(["tree", "--offline", "-e", "normal", "--prefix", "none", "-f", "{p}", "-p", package])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("cargo tree");
    assert!(out.status.success(), "cargo tree -p {package}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(String::from)
        .collect()
}

#[test]
fn pure_crates_do_no_io() {
    for package in PURE {
        let deps = normal_dependencies(package);
        assert!(deps.iter().any(|d| d == package), "cargo tree listed {package} itself: {deps:?}");
        let io: Vec<&String> = deps.iter().filter(|d| IO.contains(&d.as_str())).collect();
        assert!(io.is_empty(), "{package} depends on I/O crates {io:?}; keep it pure (see docs/decisions.md)");
        for other in ["store", "server"] {
            assert!(!deps.iter().any(|d| d == other), "{package} must not depend on {other}");
        }
    }
}

#[test]
fn the_io_list_names_crates_the_service_really_uses() {
    // Guards the guard: if these names stopped matching (a rename), the check above would pass
    // vacuously.
    let server = normal_dependencies("server");
    for name in ["tokio", "sqlx", "reqwest", "axum", "hyper"] {
        assert!(server.iter().any(|d| d == name), "server no longer lists {name}: {server:?}");
    }
}

#[test]
fn the_channels_crate_never_reaches_the_server_or_the_store() {
    // Issue 16: the clients own their config structs; the server maps its configuration into them.
    let deps = normal_dependencies("channels");
    assert!(deps.iter().any(|d| d == "channels"), "cargo tree listed channels itself: {deps:?}");
    for other in ["store", "server", "conversation", "sqlx", "axum"] {
        assert!(!deps.iter().any(|d| d == other), "channels must not depend on {other}: {deps:?}");
    }
}
