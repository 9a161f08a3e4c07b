//! Crash points for the exactly-once tests: with the `fault-injection` feature, setting
//! `POSADA_FAULT=<point>` makes the process abort there (like a power cut). Without the
//! feature this compiles to nothing.

#[cfg(feature = "fault-injection")]
pub fn point(name: &str) {
    if std::env::var("POSADA_FAULT").is_ok_and(|p| p == name) {
        eprintln!("{{\"level\":\"ERROR\",\"message\":\"fault injected\",\"point\":\"{name}\"}}");
        std::process::abort();
    }
}

#[cfg(not(feature = "fault-injection"))]
#[inline(always)]
pub fn point(_name: &str) {}
