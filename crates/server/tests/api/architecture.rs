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

/// Mercado Pago's wire names, as string literals: whoever writes one reads or writes its JSON.
const MERCADO_PAGO_FIELDS: [&str; 10] = [
    "transaction_amount",
    "external_reference",
    "currency_id",
    "status_detail",
    "init_point",
    "unit_price",
    "binary_mode",
    "site_id",
    "data.id",
    "x-signature",
];

/// Where Mercado Pago's format may appear: its provider module and our fake of its API (the
/// sandbox checkout), nothing else in the service.
fn may_speak_mercado_pago(path: &std::path::Path) -> bool {
    let p = path.to_string_lossy().replace('\\', "/");
    p.contains("/src/payments/mercadopago") || p.ends_with("/src/http/sandbox_pay.rs")
}

fn rust_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_the_mercado_pago_provider_parses_its_fields() {
    let mut files = Vec::new();
    let crates = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    for dir in ["server/src", "channels/src", "store/src"] {
        rust_files(&crates.join(dir), &mut files);
    }
    let mut found = Vec::new();
    let mut in_provider = 0;
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for field in MERCADO_PAGO_FIELDS {
            if text.contains(&format!("\"{field}\"")) {
                if may_speak_mercado_pago(path) {
                    in_provider += 1;
                } else {
                    found.push(format!("{} names {field:?}", path.display()));
                }
            }
        }
    }
    assert!(found.is_empty(), "Mercado Pago's fields belong in payments/mercadopago.rs: {found:#?}");
    // Guards the guard: the names still match what the provider really reads.
    assert!(in_provider >= MERCADO_PAGO_FIELDS.len(), "the provider no longer names these fields ({in_provider})");
}
