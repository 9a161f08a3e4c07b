//! Cross-check: our export read by an independent client, Python's `icalendar`.
//!
//! Runs `tests/python_check.py` with the interpreter named by `POSADA_PYTHON`
//! (one with `icalendar` installed, e.g. `.venv/bin/python`). Without
//! `POSADA_PYTHON` the test is skipped loudly — unless `CI` is set, where it fails.

mod common;

use chrono::{Days, NaiveDate};
use common::*;
use ical::{ExportCalendar, ExportEvent, PRODID, write_calendar};
use serde_json::Value;

fn python() -> Option<String> {
    match std::env::var("POSADA_PYTHON") {
        Ok(p) if !p.trim().is_empty() => Some(p),
        _ if std::env::var_os("CI").is_some() => {
            panic!("CI is set but POSADA_PYTHON is not: the icalendar cross-check must run in CI")
        }
        _ => {
            eprintln!(
                "\n!!!!!!!! SKIPPED: POSADA_PYTHON is not set, so our export was NOT cross-checked with \
                 Python's icalendar.\n!!!!!!!! Run: python3 -m venv .venv && .venv/bin/pip install icalendar && \
                 POSADA_PYTHON=$PWD/.venv/bin/python cargo test -p ical --test python_check\n"
            );
            None
        }
    }
}

fn read_with_python(py: &str, name: &str, ics: &str) -> Value {
    let dir = env!("CARGO_TARGET_TMPDIR");
    let path = format!("{dir}/{name}");
    std::fs::write(&path, ics).unwrap();
    let script = format!("{}/tests/python_check.py", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(py)
        .arg(&script)
        .arg(&path)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {py}: {e}"));
    assert!(out.status.success(), "python_check.py failed on {path}: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("python_check.py prints JSON")
}

fn check(py: &str, name: &str, cal_name: &str, events: &[ExportEvent]) {
    let ics = write_calendar(&ExportCalendar { name: cal_name, events }, dtstamp());
    let got = read_with_python(py, name, &ics);
    eprintln!("{name}: read by Python icalendar {}", got["icalendar_version"]);
    assert_eq!(got["prodid"], PRODID);
    assert_eq!(got["version"], "2.0");
    assert_eq!(got["calscale"], "GREGORIAN");
    assert_eq!(got["method"], "PUBLISH");
    assert_eq!(got["name"], cal_name);

    let mut want: Vec<&ExportEvent> = events.iter().collect();
    want.sort_by(|a, b| (a.check_in, a.check_out, &a.uid).cmp(&(b.check_in, b.check_out, &b.uid)));
    let got_events = got["events"].as_array().unwrap();
    assert_eq!(got_events.len(), want.len());
    let date = |d: NaiveDate| serde_json::json!({"type": "date", "value": d.to_string()});
    let stamp = |t: Option<chrono::DateTime<chrono::Utc>>| match t {
        None => Value::Null,
        Some(t) => {
            serde_json::json!({"type": "datetime", "value": t.format("%Y-%m-%dT%H:%M:%S+00:00").to_string()})
        }
    };
    for (g, w) in got_events.iter().zip(want) {
        assert_eq!(g["uid"], w.uid.as_str());
        assert_eq!(g["summary"], w.summary.as_str());
        assert_eq!(g["x_source"], w.source.as_str());
        assert_eq!(g["dtstart"], date(w.check_in));
        assert_eq!(g["dtend"], date(w.check_out));
        assert_eq!(g["dtstamp"], stamp(Some(dtstamp())));
        assert_eq!(g["created"], stamp(w.created));
        assert_eq!(g["last_modified"], stamp(w.last_modified));
    }
}

#[test]
fn python_icalendar_reads_our_export() {
    let Some(py) = python() else { return };
    check(&py, "py_snapshot.ics", UNIT_NAME, &snapshot_events());

    // Hard cases: escapes, non-ASCII that must be folded between characters,
    // long UIDs and summaries, a 16-month span.
    let long = "ñ".repeat(40) + "🏡" + &"a,b;c\\d ".repeat(12);
    let mut events = Vec::new();
    for i in 0..30u64 {
        let check_in = d("2026-01-01").checked_add_days(Days::new(i * 7)).unwrap();
        events.push(ExportEvent {
            uid: format!("{}-{i}@posada", "Z".repeat(i as usize * 3)),
            check_in,
            check_out: check_in.checked_add_days(Days::new(1 + i % 5)).unwrap(),
            summary: format!("{}{}", &long[..long.char_indices().nth(i as usize * 3).unwrap().0], "\nfin"),
            source: format!("fuente, número {i}; \\ ok"),
            created: (i % 2 == 0).then(|| t(2025, 12, 1 + (i % 28) as u32, 10, 0)),
            last_modified: (i % 3 == 0).then(|| t(2025, 12, 31, 23, 59)),
        });
    }
    events.push(ExportEvent {
        uid: "closure@posada".into(),
        check_in: d("2026-01-02"),
        check_out: d("2027-05-18"),
        summary: "Cerrado por temporada".into(),
        source: "owner_block".into(),
        created: None,
        last_modified: None,
    });
    check(&py, "py_hard.ics", &"Cabaña ✓ ".repeat(20), &events);
}
