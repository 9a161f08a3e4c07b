//! The owner's guide (docs/puesta-en-marcha.md): every command in its `sh` blocks is run here,
//! as written (paths under /etc and /var/lib moved into a scratch folder), or is one the CI run
//! itself performs. Only `systemctl`/`journalctl` need a machine with systemd running; the unit
//! they start is checked by `systemd-analyze` (deploy.rs).

use crate::deploy::repo_path;
use crate::tools::{run_demo_once, temp_dir};
use std::path::Path;
use std::process::Command;

fn commands(markdown: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut in_sh = false;
    for line in markdown.lines() {
        match line.trim() {
            "```sh" => in_sh = true,
            "```" => in_sh = false,
            l if in_sh && !l.is_empty() && !l.starts_with('#') => out.push(l.to_string()),
            _ => {}
        }
    }
    out
}

/// `sh -c` with the binary under test first on the PATH and HOME in the scratch folder.
fn sh(cmd: &str, cwd: &Path, bin: &Path, env: &[(&str, String)]) -> (bool, String) {
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let home = bin.parent().unwrap();
    let out = Command::new("sh")
        .args(["-c", cmd])
        .current_dir(cwd)
        .env_clear()
        .env("PATH", path)
        .env("HOME", home)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    (out.status.success(), format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_command_in_the_owners_guide_runs() {
    let guide = std::fs::read_to_string(repo_path("docs/puesta-en-marcha.md")).unwrap();
    let readme = std::fs::read_to_string(repo_path("README.md")).unwrap();
    assert!(readme.contains("(docs/puesta-en-marcha.md)"), "the README links the guide");
    let repo = repo_path("").canonicalize().unwrap();
    let scratch = temp_dir("guide");
    // `posada` on the PATH is the binary under test.
    let bin = scratch.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_posada"), bin.join("posada")).unwrap();
    std::fs::create_dir_all(scratch.join("target/release")).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_posada"), scratch.join("target/release/posada")).unwrap();
    // The server's data: a demo's database stands in for a season.
    let data = scratch.join("var/lib/posada");
    run_demo_once(&scratch, &data);
    let env = vec![("POSADA_DATA_DIR", data.display().to_string())];
    let root = scratch.join("root");
    let mut ran = 0;
    for cmd in commands(&guide) {
        let local = cmd.trim_start_matches("sudo ").replace("/var/lib/posada", &data.display().to_string());
        let first = local.split_whitespace().next().unwrap_or("");
        match first {
            // What the test command (scripts/test, which CI runs) installs, and this machine has.
            "apt-get" => {
                let ci = std::fs::read_to_string(repo_path("scripts/test")).unwrap();
                for tool in ["caddy", "pg_dump"] {
                    assert!(ci.contains(&format!("command -v {tool}")), "{cmd}: scripts/test installs {tool}");
                }
                continue;
            }
            "systemctl" | "journalctl" => continue,
            _ => {}
        }
        ran += 1;
        let (ok, said) = if local.starts_with("deploy/install.sh") {
            // Into a scratch root instead of /.
            let env = [("DESTDIR", root.display().to_string())];
            let r = sh(
                &local.replace("target/release/posada", &scratch.join("target/release/posada").display().to_string()),
                &repo,
                &bin,
                &env,
            );
            for (file, mode) in [
                ("usr/local/bin/posada", 0o755),
                ("etc/systemd/system/posada.service", 0o644),
                ("usr/lib/sysusers.d/posada.conf", 0o644),
                ("etc/posada/env", 0o600),
            ] {
                use std::os::unix::fs::PermissionsExt;
                let meta = std::fs::metadata(root.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
                assert_eq!(meta.permissions().mode() & 0o777, mode, "{file}");
            }
            r
        } else if local.starts_with("install ") {
            let target = local.split_whitespace().last().unwrap().to_string();
            let moved = root.join(target.trim_start_matches('/'));
            std::fs::create_dir_all(moved.parent().unwrap()).unwrap();
            sh(&local.replace(&target, &moved.display().to_string()), &repo, &bin, &env)
        } else if local.starts_with("posada restore") {
            // A copy named as in the guide, restored into a new, empty data dir.
            let named = local.split_whitespace().nth(2).unwrap().to_string();
            let latest = std::fs::read_dir(data.join("backups"))
                .unwrap()
                .flatten()
                .map(|e| e.path())
                .max()
                .expect("a backup first");
            std::fs::copy(latest, &named).unwrap();
            let fresh = [("POSADA_DATA_DIR", scratch.join("new-server").display().to_string())];
            let r = sh(&local, &scratch, &bin, &fresh);
            assert!(scratch.join("new-server/posada.db").exists(), "{cmd}: {}", r.1);
            r
        } else if local == "posada doctor" {
            // Not configured for production here: the report, its ✗ and exit status 1.
            let (ok, said) = sh(&local, &scratch, &bin, &env);
            assert!(
                !ok && said.contains("posada doctor — posada") && said.contains("Para pegar en las consolas"),
                "{said}"
            );
            (true, said)
        } else {
            sh(&local, &repo, &bin, &env)
        };
        assert!(ok, "{cmd}\n{said}");
        if local == "openssl rand -hex 32" {
            assert_eq!(said.trim().len(), 64, "{said}");
        }
        if local.starts_with("posada ical export") {
            assert!(said.contains("BEGIN:VCALENDAR"), "{said}");
        }
    }
    assert!(ran >= 10, "only {ran} commands ran");
    // The guide's --env-file form reads a systemd EnvironmentFile.
    std::fs::write(
        scratch.join("env"),
        format!("# settings\nPOSADA_DATA_DIR={}\nPOSADA_LOG=\"warn\"\n", data.display()),
    )
    .unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_posada"))
        .env_clear()
        .current_dir(&scratch)
        .args(["--env-file"])
        .arg(scratch.join("env"))
        .args(["ical", "export", "coihue"])
        .output()
        .unwrap();
    assert!(out.status.success() && String::from_utf8_lossy(&out.stdout).contains("BEGIN:VCALENDAR"));
    std::fs::remove_dir_all(scratch).ok();
}
