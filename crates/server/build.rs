//! Records the commit the binary is built from (`posada --version`, `/api/v1/readyz`).
//! `POSADA_GIT_COMMIT` wins (container builds have no `.git`); otherwise `git rev-parse`.

use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git").args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string()).filter(|s| !s.is_empty())
}

fn main() {
    println!("cargo:rerun-if-env-changed=POSADA_GIT_COMMIT");
    let commit = match std::env::var("POSADA_GIT_COMMIT") {
        Ok(c) if !c.trim().is_empty() => c.trim().to_string(),
        _ => {
            // Rebuild when HEAD moves: the HEAD file, the branch it points at, packed refs.
            // (A path that does not exist would make Cargo rerun this on every build.)
            let branch = git(&["symbolic-ref", "-q", "HEAD"]);
            let watched = ["HEAD", "packed-refs"].into_iter().chain(branch.as_deref());
            for path in watched.filter_map(|p| git(&["rev-parse", "--git-path", p])) {
                if std::path::Path::new(&path).exists() {
                    println!("cargo:rerun-if-changed={path}");
                }
            }
            git(&["rev-parse", "HEAD"]).unwrap_or_else(|| "unknown".into())
        }
    };
    println!("cargo:rustc-env=POSADA_GIT_COMMIT={commit}");
}
