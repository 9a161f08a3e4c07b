//! Backups that restore. `posada backup` (and the optional daily job in the queue) writes a
//! consistent copy while the service runs — SQLite's `VACUUM INTO`, PostgreSQL's `pg_dump -Fc` —
//! checks it, moves it into place atomically, records it and keeps the newest
//! `POSADA_BACKUP_KEEP`. `posada restore FILE` only ever writes into an empty place: a missing
//! SQLite file, or an empty PostgreSQL database.

use crate::config::Config;
use anyhow::{Context, bail, ensure};
use chrono::{DateTime, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use store::{Backup, BackupTrigger, NewBackup, Store};

/// The daily job's kind (one row whatever the number of instances).
pub const DAILY_JOB: &str = "backup";
/// The dashboard and `posada doctor` warn past this age.
pub const WARN_AFTER_HOURS: i64 = 48;

const PREFIX: &str = "posada-";
const SQLITE_EXT: &str = ".db";
const PG_EXT: &str = ".dump";

#[derive(Debug, Serialize)]
pub struct Made {
    pub file: PathBuf,
    pub bytes: i64,
    pub took_ms: i64,
    pub created_at: DateTime<Utc>,
    /// Older backups deleted by the retention rule.
    pub removed: Vec<PathBuf>,
    /// What the copy holds.
    pub counts: BTreeMap<String, i64>,
}

/// Makes one backup of `store` into `dir` and applies the retention rule there.
pub async fn make(
    store: &dyn Store,
    config: &Config,
    dir: &Path,
    trigger: BackupTrigger,
    now: DateTime<Utc>,
) -> anyhow::Result<Made> {
    let started = std::time::Instant::now();
    create_private_dir(dir)?;
    let postgres = store.backend() == store::Backend::Postgres;
    let ext = if postgres { PG_EXT } else { SQLITE_EXT };
    let file = free_name(dir, now, ext);
    // Written under a hidden name and renamed when complete: a crash never leaves a half file
    // that looks like a backup (and retention never counts one).
    let partial = dir.join(format!(".{}.partial", file.file_name().and_then(|n| n.to_str()).unwrap_or("backup")));
    let _ = std::fs::remove_file(&partial);
    let written = async {
        if postgres {
            pg_dump(config, &partial).await?;
            let list = pg_tool(config, "pg_restore")
                .arg("--list")
                .arg(&partial)
                .output()
                .await
                .context("no puedo ejecutar pg_restore para revisar la copia")?;
            ensure!(list.status.success(), "pg_restore no puede leer la copia: {}", stderr_of(&list));
        } else {
            store.copy_to_file(&partial).await.context("VACUUM INTO falló")?;
            store::inspect_sqlite_file(&partial).await.context("la copia no pasa PRAGMA quick_check")?;
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o600));
        }
        sync_file(&partial)?;
        std::fs::rename(&partial, &file).with_context(|| format!("no puedo mover la copia a {}", file.display()))?;
        sync_dir(dir);
        anyhow::Ok(())
    }
    .await;
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(e);
    }
    let bytes = std::fs::metadata(&file).map(|m| m.len() as i64).unwrap_or(0);
    let took_ms = started.elapsed().as_millis() as i64;
    let counts = store.counts().await.unwrap_or_default();
    let record = NewBackup { file: file.display().to_string(), bytes, trigger, took_ms };
    let backup = store.record_backup(&record, now).await.context("la copia está hecha pero no pude registrarla")?;
    let removed = retain(dir, config.backup.keep)?;
    Ok(Made { file, bytes, took_ms, created_at: backup.created_at, removed, counts })
}

/// `posada-20261207-031500Z.db`; a second backup in the same second gets `-2`, `-3`…
fn free_name(dir: &Path, now: DateTime<Utc>, ext: &str) -> PathBuf {
    let stamp = now.format("%Y%m%d-%H%M%S");
    let mut candidate = dir.join(format!("{PREFIX}{stamp}Z{ext}"));
    let mut n = 2;
    while candidate.exists() {
        candidate = dir.join(format!("{PREFIX}{stamp}Z-{n}{ext}"));
        n += 1;
    }
    candidate
}

/// When a backup file was made, from its name.
pub fn made_at(file: &Path) -> Option<DateTime<Utc>> {
    let name = file.file_name()?.to_str()?;
    let rest = name.strip_prefix(PREFIX)?;
    let stamp = rest.get(..15)?;
    let naive = chrono::NaiveDateTime::parse_from_str(stamp, "%Y%m%d-%H%M%S").ok()?;
    Some(Utc.from_utc_datetime(&naive))
}

/// 1 for `posada-…Z.db`, n for `posada-…Z-n.db` (several backups in one second).
fn sequence(file: &Path) -> u32 {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let stem = name.trim_end_matches(SQLITE_EXT).trim_end_matches(PG_EXT);
    stem.rsplit_once("Z-").and_then(|(_, n)| n.parse().ok()).unwrap_or(1)
}

fn is_backup_name(name: &str) -> bool {
    (name.ends_with(SQLITE_EXT) || name.ends_with(PG_EXT)) && made_at(Path::new(name)).is_some()
}

/// Keeps the newest `keep` backups in `dir` (0 keeps all); only our own file names are touched.
pub fn retain(dir: &Path, keep: u32) -> anyhow::Result<Vec<PathBuf>> {
    if keep == 0 {
        return Ok(Vec::new());
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("no puedo leer {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file() && p.file_name().and_then(|n| n.to_str()).is_some_and(is_backup_name))
        .collect();
    // Newest first: by the time in the name, then the -2, -3 of one second.
    files.sort_by_key(|f| std::cmp::Reverse((made_at(f), sequence(f))));
    let mut removed = Vec::new();
    for old in files.into_iter().skip(keep as usize) {
        std::fs::remove_file(&old).with_context(|| format!("no puedo borrar la copia vieja {}", old.display()))?;
        removed.push(old);
    }
    Ok(removed)
}

#[derive(Debug, Serialize)]
pub struct Restored {
    pub from: PathBuf,
    pub into: String,
    pub schema_version: Option<i64>,
    pub counts: BTreeMap<String, i64>,
}

enum Kind {
    Sqlite,
    PgDump,
}

fn kind_of(file: &Path) -> anyhow::Result<Kind> {
    use std::io::Read;
    let mut head = [0u8; 16];
    let mut f = std::fs::File::open(file).with_context(|| format!("no puedo abrir {}", file.display()))?;
    let n = f.read(&mut head)?;
    if n >= 16 && &head[..16] == b"SQLite format 3\0" {
        Ok(Kind::Sqlite)
    } else if n >= 5 && &head[..5] == b"PGDMP" {
        Ok(Kind::PgDump)
    } else {
        bail!("{} no es una copia de posada (ni SQLite ni pg_dump -Fc)", file.display())
    }
}

/// Restores `file` into the configured database, which must not exist yet (SQLite) or be empty
/// (PostgreSQL); then migrates it to this build's schema and records the file as its last backup.
pub async fn restore(config: &Config, file: &Path) -> anyhow::Result<Restored> {
    let file = std::fs::canonicalize(file).with_context(|| format!("no encuentro {}", file.display()))?;
    let postgres = store::is_postgres_url(&config.database_url);
    match (kind_of(&file)?, postgres) {
        (Kind::Sqlite, false) => restore_sqlite(config, &file).await?,
        (Kind::PgDump, true) => restore_pg(config, &file).await?,
        (Kind::Sqlite, true) => bail!("{} es una copia de SQLite y la configuración usa PostgreSQL", file.display()),
        (Kind::PgDump, false) => bail!("{} es una copia de PostgreSQL y la configuración usa SQLite", file.display()),
    }
    // The restored database is brought to this build's schema, then remembers where it came from.
    let store = store::connect(&config.database_url, 2).await.context("no puedo abrir la base restaurada")?;
    let made = made_at(&file).unwrap_or_else(Utc::now);
    let bytes = std::fs::metadata(&file).map(|m| m.len() as i64).unwrap_or(0);
    let record = NewBackup { file: file.display().to_string(), bytes, trigger: BackupTrigger::Restored, took_ms: 0 };
    store.record_backup(&record, made).await?;
    let counts = store.counts().await?;
    let schema_version = store.migration_status().await?.schema_version();
    store.close().await;
    Ok(Restored { from: file, into: crate::app::redact_url(&config.database_url), schema_version, counts })
}

async fn restore_sqlite(config: &Config, file: &Path) -> anyhow::Result<()> {
    let target = sqlite_path(&config.database_url)?;
    for existing in [target.clone(), PathBuf::from(format!("{}-wal", target.display()))] {
        ensure!(
            !existing.exists(),
            "ya hay una base de datos en {}: restore nunca la pisa. Detené posada, mové ese archivo \
             (y sus -wal/-shm) a otra carpeta y volvé a correr restore — o restaurá en otra POSADA_DATA_DIR",
            existing.display()
        );
    }
    let (status, _) = store::inspect_sqlite_file(file)
        .await
        .with_context(|| format!("{} no es una copia sana (PRAGMA quick_check)", file.display()))?;
    ensure!(!status.applied.is_empty(), "{} no tiene tablas de posada", file.display());
    ensure!(
        status.unknown.is_empty(),
        "la copia es de una versión más nueva de posada (migraciones {:?}); esta es {}",
        status.unknown,
        crate::build_info::describe()
    );
    let dir = target.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
    create_private_dir(&dir)?;
    let partial = dir.join(format!(".{}.restoring", target.file_name().and_then(|n| n.to_str()).unwrap_or("posada")));
    std::fs::copy(file, &partial).with_context(|| format!("no puedo copiar a {}", partial.display()))?;
    sync_file(&partial)?;
    // `rename` would replace a file that appeared meanwhile; a hard link refuses to (where the
    // file system has none, the check above stands alone).
    let placed = match std::fs::hard_link(&partial, &target) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => std::fs::rename(&partial, &target),
        other => other,
    };
    let _ = std::fs::remove_file(&partial);
    placed.with_context(|| format!("no puedo crear {}", target.display()))?;
    sync_dir(&dir);
    Ok(())
}

async fn restore_pg(config: &Config, file: &Path) -> anyhow::Result<()> {
    let store = store::open_existing(&config.database_url, 1).await.with_context(|| {
        format!(
            "no puedo conectarme a {} (creá la base vacía primero: createdb)",
            crate::app::redact_url(&config.database_url)
        )
    })?;
    let tables = store.schema().await;
    store.close().await;
    let tables = tables?;
    ensure!(
        tables.is_empty(),
        "la base {} no está vacía ({} tablas): restore nunca la pisa. Creá una base nueva y apuntá \
         POSADA_DATABASE_URL a ella",
        crate::app::redact_url(&config.database_url),
        tables.len()
    );
    let env = libpq_env(&config.database_url)?;
    let dbname = env.iter().find(|(k, _)| *k == "PGDATABASE").map(|(_, v)| v.clone()).unwrap_or_default();
    let out = pg_tool(config, "pg_restore")
        .envs(env)
        .args(["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error", "--dbname"])
        .arg(&dbname)
        .arg(file)
        .output()
        .await
        .context("no puedo ejecutar pg_restore (¿está instalado? POSADA_PG_BIN_DIR)")?;
    ensure!(out.status.success(), "pg_restore falló: {}", stderr_of(&out));
    Ok(())
}

/// `sqlite:///var/lib/posada/posada.db?mode=rwc` → `/var/lib/posada/posada.db`.
pub fn sqlite_path(url: &str) -> anyhow::Result<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).context("no es una URL sqlite")?;
    let path = rest.split('?').next().unwrap_or(rest);
    ensure!(!path.is_empty() && !path.contains(":memory:"), "una base en memoria no se puede restaurar");
    Ok(PathBuf::from(path))
}

/// `pg_dump -Fc` of the configured database into `to`. The password goes in the environment,
/// never on the command line (other users can read it there).
async fn pg_dump(config: &Config, to: &Path) -> anyhow::Result<()> {
    let out = pg_tool(config, "pg_dump")
        .envs(libpq_env(&config.database_url)?)
        .args(["--format=custom", "--no-owner", "--file"])
        .arg(to)
        .output()
        .await
        .context("no puedo ejecutar pg_dump (¿está instalado? POSADA_PG_BIN_DIR)")?;
    ensure!(out.status.success(), "pg_dump falló: {}", stderr_of(&out));
    Ok(())
}

pub fn pg_tool(config: &Config, name: &str) -> tokio::process::Command {
    let program = match &config.backup.pg_bin_dir {
        Some(dir) => dir.join(name),
        None => PathBuf::from(name),
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.stdin(std::process::Stdio::null()).kill_on_drop(true);
    cmd
}

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().chars().take(600).collect()
}

/// libpq's variables for a `postgres://user:password@host:port/db?sslmode=…` URL.
pub fn libpq_env(url: &str) -> anyhow::Result<Vec<(&'static str, String)>> {
    let parsed = reqwest::Url::parse(url).context("POSADA_DATABASE_URL no es una URL válida")?;
    let mut env = vec![("PGCONNECT_TIMEOUT", "10".to_string())];
    if let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) {
        env.push(("PGHOST", host.trim_start_matches('[').trim_end_matches(']').to_string()));
    }
    if let Some(port) = parsed.port() {
        env.push(("PGPORT", port.to_string()));
    }
    if !parsed.username().is_empty() {
        env.push(("PGUSER", percent_decode(parsed.username())));
    }
    if let Some(password) = parsed.password() {
        env.push(("PGPASSWORD", percent_decode(password)));
    }
    let db = parsed.path().trim_start_matches('/');
    if !db.is_empty() {
        env.push(("PGDATABASE", percent_decode(db)));
    }
    for (key, value) in parsed.query_pairs() {
        let var = match key.as_ref() {
            "sslmode" => "PGSSLMODE",
            "sslrootcert" => "PGSSLROOTCERT",
            "host" => "PGHOST",
            "port" => "PGPORT",
            "user" => "PGUSER",
            "dbname" => "PGDATABASE",
            "application_name" => "PGAPPNAME",
            _ => continue,
        };
        env.retain(|(k, _)| *k != var);
        env.push((var, value.into_owned()));
    }
    Ok(env)
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(b) = text.get(i + 1..i + 3).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("no puedo crear {}", dir.display()))?;
    #[cfg(unix)]
    {
        // Backups hold guests' names and phones: only the service's user reads them.
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    Ok(())
}

fn sync_file(path: &Path) -> anyhow::Result<()> {
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .with_context(|| format!("no puedo asegurar {} en el disco", path.display()))
}

fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

/// (available to us, total) bytes of the file system holding `path`; `None` when it does not exist.
pub fn disk_space(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid NUL-terminated path and a zeroed struct the call fills in.
    if unsafe { libc::statvfs(c_path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let block = stat.f_frsize as u64;
    Some((stat.f_bavail as u64 * block, stat.f_blocks as u64 * block))
}

/// The daily job: one backup into `POSADA_BACKUP_DIR`, then the next run. Without
/// `POSADA_BACKUP_DAILY_AT` (turned off since) it only looks again in an hour.
pub async fn daily(state: &crate::state::AppState) -> crate::jobs::Outcome {
    use crate::jobs::Outcome;
    let now = state.clock.now();
    let Some(at) = state.config.backup.daily_at else {
        return Outcome::Again(now + chrono::Duration::hours(1));
    };
    let config = &state.config;
    match make(state.store.as_ref(), config, &config.backup.dir, BackupTrigger::Daily, now).await {
        Ok(made) => {
            metrics::counter!(crate::metrics::BACKUPS, "result" => "ok").increment(1);
            metrics::gauge!(crate::metrics::BACKUP_LAST_SUCCESS).set(made.created_at.timestamp() as f64);
            tracing::info!(file = %made.file.display(), bytes = made.bytes, took_ms = made.took_ms, removed = made.removed.len(), "daily backup made");
            Outcome::Again(next_daily(state.clock.now(), at, config.timezone))
        }
        Err(e) => {
            metrics::counter!(crate::metrics::BACKUPS, "result" => "error").increment(1);
            tracing::error!(error = format!("{e:#}"), "daily backup failed");
            Outcome::Retry(format!("{e:#}"))
        }
    }
}

/// Keeps the backup and disk gauges current (the worker calls this every few seconds).
pub async fn update_gauges(state: &crate::state::AppState) {
    if let Ok(last) = state.store.last_backup().await {
        let at = last.map(|b| b.created_at.timestamp() as f64).unwrap_or(0.0);
        metrics::gauge!(crate::metrics::BACKUP_LAST_SUCCESS).set(at);
    }
    for (label, dir) in [("data", &state.config.data_dir), ("backups", &state.config.backup.dir)] {
        if let Some((free, size)) = disk_space(dir) {
            metrics::gauge!(crate::metrics::DISK_FREE, "dir" => label).set(free as f64);
            metrics::gauge!(crate::metrics::DISK_SIZE, "dir" => label).set(size as f64);
        }
    }
}

/// The next `at` (property's zone) strictly after `now`.
pub fn next_daily(now: DateTime<Utc>, at: NaiveTime, tz: chrono_tz::Tz) -> DateTime<Utc> {
    let local_today = now.with_timezone(&tz).date_naive();
    for days in 0..3 {
        let day = local_today + chrono::Duration::days(days);
        // A time skipped by a DST change falls back to the earliest valid reading.
        if let Some(t) = tz.from_local_datetime(&day.and_time(at)).earliest() {
            let t = t.with_timezone(&Utc);
            if t > now {
                return t;
            }
        }
    }
    now + chrono::Duration::days(1)
}

/// How the dashboard and the doctor speak of the last backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Freshness {
    Never,
    Recent { age_hours: i64 },
    Old { age_hours: i64 },
}

pub fn freshness(last: Option<&Backup>, now: DateTime<Utc>) -> Freshness {
    match last {
        None => Freshness::Never,
        Some(b) => {
            let age_hours = (now - b.created_at).num_hours().max(0);
            if age_hours >= WARN_AFTER_HOURS { Freshness::Old { age_hours } } else { Freshness::Recent { age_hours } }
        }
    }
}

/// The line on the dashboard's Hoy page: quiet when the last backup is recent, a warning when it
/// is older than two days or there is none.
pub fn dashboard_line(last: Option<&Backup>, now: DateTime<Utc>, tz: chrono_tz::Tz) -> String {
    let what_to_do =
        "Hacé una con <code>posada backup</code> o activá la copia diaria (<code>POSADA_BACKUP_DAILY_AT</code>).";
    match (freshness(last, now), last) {
        (Freshness::Recent { age_hours }, Some(b)) => format!(
            r#"<p id="copia" class="muted">Última copia de seguridad: {} ({}).</p>"#,
            age_words(age_hours),
            crate::admin_ui::html::time(b.created_at, tz)
        ),
        (Freshness::Old { age_hours }, Some(b)) => format!(
            r#"<p id="copia" class="err" role="alert">⚠ La última copia de seguridad es de {} ({}). {what_to_do}</p>"#,
            age_words(age_hours),
            crate::admin_ui::html::time(b.created_at, tz)
        ),
        _ => format!(
            r#"<p id="copia" class="err" role="alert">⚠ Todavía no hay ninguna copia de seguridad. {what_to_do}</p>"#
        ),
    }
}

/// "hace 3 horas", "hace 2 días".
pub fn age_words(hours: i64) -> String {
    match hours {
        0 => "hace menos de una hora".into(),
        1 => "hace 1 hora".into(),
        h if h < 48 => format!("hace {h} horas"),
        h => format!("hace {} días", h / 24),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_by_time_and_retention_keeps_the_newest() {
        let dir = std::env::temp_dir().join(format!("posada-retain-{:016x}", rand::random::<u64>()));
        std::fs::create_dir_all(&dir).unwrap();
        let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 6, 0, 0).unwrap();
        let mut made = Vec::new();
        for day in 0..5 {
            let f = free_name(&dir, t0 + chrono::Duration::days(day), SQLITE_EXT);
            std::fs::write(&f, b"x").unwrap();
            made.push(f);
        }
        let twin = free_name(&dir, t0 + chrono::Duration::days(4), SQLITE_EXT);
        assert!(twin.display().to_string().ends_with("posada-20261205-060000Z-2.db"), "{}", twin.display());
        std::fs::write(&twin, b"x").unwrap();
        let triplet = free_name(&dir, t0 + chrono::Duration::days(4), SQLITE_EXT);
        std::fs::write(&triplet, b"x").unwrap();
        assert_eq!((sequence(&made[4]), sequence(&twin), sequence(&triplet)), (1, 2, 3));
        // Not ours: never deleted.
        for other in ["notes.txt", "posada.db", ".posada-20261201-060000Z.db.partial", "posada-old.db"] {
            std::fs::write(dir.join(other), b"x").unwrap();
        }
        // Within one second the later -n is the newer: -3, -2 and the plain name of that second stay.
        let removed = retain(&dir, 3).unwrap();
        assert_eq!(removed, vec![made[3].clone(), made[2].clone(), made[1].clone(), made[0].clone()]);
        assert!(triplet.exists() && twin.exists() && made[4].exists());
        for other in ["notes.txt", "posada.db", ".posada-20261201-060000Z.db.partial", "posada-old.db"] {
            assert!(dir.join(other).exists(), "{other} was touched");
        }
        assert_eq!(retain(&dir, 0).unwrap(), Vec::<PathBuf>::new());
        assert_eq!(made_at(&made[0]), Some(t0));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_next_daily_run_is_in_the_propertys_zone() {
        let tz = chrono_tz::America::Argentina::Buenos_Aires;
        let at = NaiveTime::from_hms_opt(3, 30, 0).unwrap();
        // 05:00 UTC = 02:00 in Argentina: today at 03:30 local = 06:30 UTC.
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 5, 0, 0).unwrap();
        assert_eq!(next_daily(now, at, tz), Utc.with_ymd_and_hms(2026, 12, 7, 6, 30, 0).unwrap());
        // Just after it: tomorrow.
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 6, 30, 0).unwrap();
        assert_eq!(next_daily(now, at, tz), Utc.with_ymd_and_hms(2026, 12, 8, 6, 30, 0).unwrap());
        // 23:30 UTC is 20:30 local the same day: the next 03:30 local is the next UTC day.
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 23, 30, 0).unwrap();
        assert_eq!(next_daily(now, at, tz), Utc.with_ymd_and_hms(2026, 12, 8, 6, 30, 0).unwrap());
    }

    #[test]
    fn libpq_variables_carry_the_password_outside_the_command_line() {
        let env = libpq_env("postgres://posada:s%40cr%3At@db.internal:5433/reservas?sslmode=require").unwrap();
        let get = |k: &str| env.iter().find(|(key, _)| *key == k).map(|(_, v)| v.as_str());
        assert_eq!(get("PGHOST"), Some("db.internal"));
        assert_eq!(get("PGPORT"), Some("5433"));
        assert_eq!(get("PGUSER"), Some("posada"));
        assert_eq!(get("PGPASSWORD"), Some("s@cr:t"));
        assert_eq!(get("PGDATABASE"), Some("reservas"));
        assert_eq!(get("PGSSLMODE"), Some("require"));
        assert_eq!(
            sqlite_path("sqlite:///var/lib/posada/posada.db?mode=rwc").unwrap(),
            PathBuf::from("/var/lib/posada/posada.db")
        );
        assert_eq!(sqlite_path("sqlite://posada.db").unwrap(), PathBuf::from("posada.db"));
    }

    #[test]
    fn freshness_warns_after_two_days() {
        let now = Utc.with_ymd_and_hms(2026, 12, 7, 12, 0, 0).unwrap();
        let b = |hours: i64| Backup {
            id: 1,
            created_at: now - chrono::Duration::hours(hours),
            file: "f".into(),
            bytes: 1,
            trigger: BackupTrigger::Manual,
            took_ms: 1,
        };
        assert_eq!(freshness(None, now), Freshness::Never);
        assert_eq!(freshness(Some(&b(47)), now), Freshness::Recent { age_hours: 47 });
        assert_eq!(freshness(Some(&b(48)), now), Freshness::Old { age_hours: 48 });
        assert_eq!(age_words(3), "hace 3 horas");
        assert_eq!(age_words(72), "hace 3 días");
    }
}
