//! The `posada` command line. Machine output goes to stdout, logs to stderr.

use crate::app::{Application, shutdown_signal};
use crate::config::{Config, Mode, Source};
use anyhow::Context;
use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use secrecy::SecretString;
use std::io::BufRead;
use std::process::ExitCode;
use std::sync::Arc;
use store::Store;

#[derive(Parser)]
#[command(name = "posada", version, about = "Cabin bookings from WhatsApp and e-mail conversations")]
struct Cli {
    /// Read POSADA_* settings from this file first (KEY=VALUE lines, as systemd's
    /// EnvironmentFile, e.g. /etc/posada/env); variables already set win.
    #[arg(long, global = true, value_name = "FILE")]
    env_file: Option<std::path::PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service (configuration from POSADA_* variables).
    Serve,
    /// Run with an embedded SQLite file, demo cabins and sandbox channels.
    Demo,
    /// Apply database migrations and exit.
    Migrate {
        /// Only list the migrations that would run (JSON); change nothing, create nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Check everything before going live (in Spanish): database, public address, WhatsApp,
    /// Mercado Pago, e-mail, voice notes, calendars, clock, disk, backups. Exit status 0 only
    /// when every required check passes. Prints the URLs to paste into each console.
    Doctor {
        /// The report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Ask a running service for its health (`GET /api/v1/healthz`): exit status 0 when it is
    /// healthy or degraded. For container health checks (the image has no curl).
    Health {
        /// Default: http://127.0.0.1:{port of POSADA_BIND}.
        #[arg(long)]
        url: Option<String>,
    },
    /// Make a consistent backup of the database while the service runs (SQLite: VACUUM INTO;
    /// PostgreSQL: pg_dump -Fc), keeping the newest POSADA_BACKUP_KEEP.
    Backup {
        /// Where to write it (default POSADA_BACKUP_DIR, i.e. the data directory's backups/).
        #[arg(long)]
        to: Option<std::path::PathBuf>,
    },
    /// Restore a backup into an empty place (a data directory without a database, or an empty
    /// PostgreSQL database); never over a live database.
    Restore {
        /// A file made by `posada backup`.
        file: std::path::PathBuf,
    },
    /// Manage admin users.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Calendar sync with Airbnb, Booking, Vrbo.
    Ical {
        #[command(subcommand)]
        command: IcalCommand,
    },
    /// Chat with the bot as a guest, in the terminal, through a running server's sandbox.
    Chat {
        /// The server (started with `posada demo`, or with POSADA_SANDBOX=true).
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
        /// Your name as the bot sees it.
        #[arg(long, default_value = "Huésped")]
        name: String,
        /// Write as an Instagram or Messenger guest (`instagram`, `messenger`) when that account
        /// is not connected; the sandbox's own chat otherwise.
        #[arg(long)]
        canal: Option<String>,
    },
    /// Print what the bot understands of a message (or of each stdin line) as JSON.
    Nlu {
        /// "Today" for relative dates, YYYY-MM-DD (default: today in POSADA_TIMEZONE).
        #[arg(long)]
        today: Option<chrono::NaiveDate>,
        /// A cabin name to recognise (repeatable).
        #[arg(long = "unit")]
        units: Vec<String>,
        /// The message; without it, one message per stdin line.
        text: Option<String>,
    },
}

#[derive(Subcommand)]
enum IcalCommand {
    /// Fetch every imported feed now and print what changed (JSON).
    Sync,
    /// Print a cabin's export feed (by id or slug).
    Export { unit: String },
    /// Give a cabin a new export URL; the old one stops working at once. Prints the new URL.
    RotateToken { unit: String },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create a user or reset its password; the password is read from the first stdin line.
    AddUser {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "owner")]
        role: String,
    },
    /// Change a user's role (owner or staff); its older bearer tokens stop working.
    SetRole {
        #[arg(long)]
        email: String,
        #[arg(long)]
        role: String,
    },
    /// Remove a user: its dashboard sessions and bearer tokens stop working at once.
    RemoveUser {
        #[arg(long)]
        email: String,
    },
}

pub fn main() -> ExitCode {
    crate::alloc::tune();
    // `--version` also names the commit and the schema (known only at run time).
    let version: &'static str = Box::leak(crate::build_info::describe().into_boxed_str());
    let cli = match Cli::from_arg_matches(&Cli::command().version(version).get_matches()) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    if let Some(file) = &cli.env_file
        && let Err(e) = load_env_file(file)
    {
        eprintln!("posada: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("posada: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Command::Doctor { json } = cli.command {
        return runtime.block_on(doctor(json));
    }
    match runtime.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "posada failed");
            eprintln!("posada: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// `KEY=VALUE` lines (comments, blank lines, optional quotes) into the environment, before any
/// thread exists; only `POSADA_*` keys, and never over a variable already set.
fn load_env_file(path: &std::path::Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(path).with_context(|| format!("no puedo leer {}", path.display()))?;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
        let Some((key, value)) = line.split_once('=') else { continue };
        let key = key.trim().trim_start_matches("export ").trim();
        let value = value.trim();
        let value = value
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
            .unwrap_or(value);
        if key.starts_with("POSADA_") && std::env::var_os(key).is_none() {
            // SAFETY: called from `main` before the runtime (or any other thread) starts.
            unsafe { std::env::set_var(key, value) };
        }
    }
    Ok(())
}

fn load(mode: Mode) -> anyhow::Result<(Source, Config)> {
    let source = Source::from_env()?;
    let config = Config::load(&source, mode)?;
    crate::telemetry::init(&config.log, config.log_format);
    Ok((source, config))
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve => {
            let stop = shutdown_signal();
            let (_, config) = load(Mode::Serve)?;
            prepare_data_dir(&config)?;
            let app = Application::build(config).await?;
            app.run_until_stopped(stop).await
        }
        Command::Demo => demo().await,
        Command::Migrate { dry_run: true } => {
            let (_, config) = load(Mode::Lenient)?;
            let status = store::inspect(&config.database_url).await.with_context(|| describe_database(&config))?;
            anyhow::ensure!(
                status.unknown.is_empty(),
                "la base tiene migraciones de una versión más nueva de posada ({:?}); esta versión ({}) no puede usarla",
                status.unknown,
                crate::build_info::describe()
            );
            println!(
                "{}",
                serde_json::json!({
                    "dry_run": true,
                    "backend": if store::is_postgres_url(&config.database_url) { "postgres" } else { "sqlite" },
                    "schema_version": status.schema_version(),
                    "target_version": crate::build_info::schema_version(),
                    "pending": status.pending,
                    "changed": status.changed,
                })
            );
            Ok(())
        }
        Command::Migrate { dry_run: false } => {
            let (_, config) = load(Mode::Lenient)?;
            prepare_data_dir(&config)?;
            let store = store::connect(&config.database_url, 2).await.with_context(|| describe_database(&config))?;
            let status = store.migration_status().await?;
            println!(
                "{}",
                serde_json::json!({
                    "migrated": true,
                    "backend": store.backend().as_str(),
                    "schema_version": status.schema_version(),
                })
            );
            store.close().await;
            Ok(())
        }
        Command::Doctor { .. } => unreachable!("handled in main"),
        Command::Health { url } => {
            let source = Source::from_env()?;
            let config = Config::load(&source, Mode::Lenient)?;
            let base = url.unwrap_or_else(|| format!("http://127.0.0.1:{}", config.bind.port()));
            let r = reqwest::Client::new()
                .get(format!("{}/api/v1/healthz", base.trim_end_matches('/')))
                .timeout(std::time::Duration::from_secs(5))
                .send()
                .await
                .with_context(|| format!("{base} does not answer"))?;
            let status = r.status();
            println!("{}", r.text().await.unwrap_or_default());
            anyhow::ensure!(status.is_success(), "unhealthy: {status}");
            Ok(())
        }
        Command::Backup { to } => {
            let (_, config) = load(Mode::Lenient)?;
            let store = open_for_tool(&config).await?;
            let dir = to.unwrap_or_else(|| config.backup.dir.clone());
            let made =
                crate::backup::make(store.as_ref(), &config, &dir, store::BackupTrigger::Manual, chrono::Utc::now())
                    .await;
            store.close().await;
            println!("{}", serde_json::to_string_pretty(&made?)?);
            Ok(())
        }
        Command::Restore { file } => {
            let (_, config) = load(Mode::Lenient)?;
            prepare_data_dir(&config)?;
            let restored = crate::backup::restore(&config, &file).await?;
            println!("{}", serde_json::to_string_pretty(&restored)?);
            Ok(())
        }
        Command::Admin { command: AdminCommand::AddUser { email, role } } => {
            let (_, config) = load(Mode::Lenient)?;
            let role = store::Role::parse(&role).context("--role must be owner or staff")?;
            let email = email.trim().to_lowercase();
            anyhow::ensure!(email.contains('@'), "--email must be an e-mail address");
            let mut password = String::new();
            std::io::stdin().lock().read_line(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']).to_string();
            anyhow::ensure!(
                password.chars().count() >= 8,
                "the password (first stdin line) needs at least 8 characters"
            );
            let store = open_for_tool(&config).await?;
            let hash = crate::auth::hash_password(SecretString::from(password)).await?;
            let user = store.upsert_admin_user(&email, &hash, role, chrono::Utc::now()).await?;
            println!("{}", serde_json::json!({"email": user.email, "role": user.role.as_str()}));
            store.close().await;
            Ok(())
        }
        Command::Admin { command: AdminCommand::SetRole { email, role } } => {
            let (_, config) = load(Mode::Lenient)?;
            let role = store::Role::parse(&role).context("--role must be owner or staff")?;
            let store = open_for_tool(&config).await?;
            let changed = store.set_admin_role(&email, role, chrono::Utc::now()).await;
            store.close().await;
            let user = match changed {
                Err(store::StoreError::NotFound) => anyhow::bail!("no admin user {email}"),
                other => other?,
            };
            println!("{}", serde_json::json!({"email": user.email, "role": user.role.as_str()}));
            Ok(())
        }
        Command::Admin { command: AdminCommand::RemoveUser { email } } => {
            let (_, config) = load(Mode::Lenient)?;
            let store = open_for_tool(&config).await?;
            let removed = store.remove_admin_user(&email).await;
            store.close().await;
            match removed {
                Err(store::StoreError::NotFound) => anyhow::bail!("no admin user {email}"),
                other => other?,
            }
            println!("{}", serde_json::json!({"email": email.trim().to_lowercase(), "removed": true}));
            Ok(())
        }
        Command::Ical { command } => {
            let (_, config) = load(Mode::Lenient)?;
            let store = open_for_tool(&config).await?;
            let result = ical(command, store.clone(), config).await;
            store.close().await;
            result
        }
        Command::Chat { url, name, canal } => crate::sandbox_client::run(&url, &name, canal.as_deref()).await,
        Command::Nlu { today, units, text } => {
            let source = Source::from_env()?;
            let config = Config::load(&source, Mode::Lenient)?;
            crate::telemetry::init(&config.log, config.log_format);
            let today = today.unwrap_or_else(|| crate::clock::Clock::system().today_in(config.timezone));
            let units: Vec<nlu::UnitRef> = units
                .iter()
                .enumerate()
                .map(|(i, name)| nlu::UnitRef {
                    id: i as i64 + 1,
                    name: name.clone(),
                    slug: crate::http::admin::slugify(name),
                })
                .collect();
            let analyse = |line: &str| serde_json::to_string(&nlu::analyze(line, today, &units));
            match text {
                Some(t) => println!("{}", analyse(&t)?),
                None => {
                    for line in std::io::stdin().lock().lines() {
                        println!("{}", analyse(&line?)?);
                    }
                }
            }
            Ok(())
        }
    }
}

/// `posada doctor`: the report on stdout; exit status 1 when a required check fails.
async fn doctor(json: bool) -> ExitCode {
    let source = match Source::from_env() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("posada doctor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let report = crate::doctor::run(&source).await;
    let text = if json {
        serde_json::to_string_pretty(&report).unwrap_or_default() + "\n"
    } else {
        crate::doctor::render(&report)
    };
    // A closed pipe (`posada doctor | head`) is not worth a panic.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    if report.ok { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// "sqlite:///var/lib/posada/posada.db (POSADA_DATA_DIR=/var/lib/posada)", secrets hidden.
fn describe_database(config: &Config) -> String {
    let url = crate::app::redact_url(&config.database_url);
    if config.database_url_defaulted {
        format!("base de datos {url} (la de POSADA_DATA_DIR={})", config.data_dir.display())
    } else {
        format!("base de datos {url} (POSADA_DATABASE_URL)")
    }
}

/// `serve`, `demo`, `migrate` and `restore` may create the SQLite file: its folder first.
fn prepare_data_dir(config: &Config) -> anyhow::Result<()> {
    if config.database_url_defaulted {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("no puedo crear la carpeta de datos {}", config.data_dir.display()))?;
    }
    Ok(())
}

/// The database every tool works on: the one `serve` and `demo` use (`POSADA_DATABASE_URL`, or
/// `posada.db` in the data directory). It must exist and be migrated — a tool never creates a
/// database by accident, nor migrates one behind the service's back.
pub async fn open_for_tool(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    let store = match store::open_existing(&config.database_url, 2).await {
        Ok(store) => store,
        Err(store::StoreError::NoDatabase(path)) => anyhow::bail!(
            "no hay ninguna base de datos en {path}. `posada serve` o `posada demo` la crean con la misma \
             configuración (POSADA_DATA_DIR={}, o POSADA_DATABASE_URL); revisá que sea la carpeta correcta",
            config.data_dir.display()
        ),
        Err(e) => return Err(e).with_context(|| format!("no puedo abrir la {}", describe_database(config))),
    };
    let status = store.migration_status().await?;
    if !status.unknown.is_empty() {
        store.close().await;
        anyhow::bail!(
            "la {} fue actualizada por una versión más nueva de posada (migraciones {:?}); esta es {}",
            describe_database(config),
            status.unknown,
            crate::build_info::describe()
        );
    }
    if !status.pending.is_empty() {
        store.close().await;
        let what = if status.applied.is_empty() { "está vacía" } else { "necesita migraciones" };
        anyhow::bail!(
            "la {} {what} ({} pendientes): corré `posada migrate` (o iniciá `posada serve`)",
            describe_database(config),
            status.pending.len()
        );
    }
    Ok(store)
}

async fn ical(command: IcalCommand, store: std::sync::Arc<dyn store::Store>, config: Config) -> anyhow::Result<()> {
    let clock = crate::clock::Clock::system();
    let find = |unit: String| {
        let store = store.clone();
        async move {
            match unit.parse::<i64>() {
                Ok(id) => store.get_unit(id).await,
                Err(_) => store.get_unit_by_slug(&unit).await,
            }
            .with_context(|| format!("no cabin {unit:?}"))
        }
    };
    match command {
        IcalCommand::Sync => {
            let importer = crate::ical_sync::Importer::new(store.clone(), std::sync::Arc::new(config), clock);
            let reports = importer.sync_all().await?;
            println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "feeds": reports }))?);
        }
        IcalCommand::Export { unit } => {
            let unit = find(unit).await?;
            let body = crate::ical_sync::export_calendar(
                store.as_ref(),
                &unit,
                clock.today_in(config.timezone),
                clock.now(),
                config.booking_horizon_days,
            )
            .await?;
            print!("{body}");
        }
        IcalCommand::RotateToken { unit } => {
            let unit = find(unit).await?;
            let token = crate::http::admin::new_ical_token();
            store.set_unit_ical_token(unit.id, &token, clock.now()).await?;
            let url = format!("{}/ical/{}/{}.ics", config.public_url, unit.slug, token);
            println!("{}", serde_json::json!({ "accommodation_id": unit.id, "export_url": url }));
        }
    }
    Ok(())
}

async fn demo() -> anyhow::Result<()> {
    let stop = shutdown_signal();
    let mut source = Source::from_env()?;
    let dir = source.data_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    if source.get("POSADA_JWT_SECRET").is_none() {
        source.set("POSADA_JWT_SECRET", crate::demo::kept_secret(&dir, "jwt_secret", 48)?);
    }
    if source.get("POSADA_SANDBOX").is_none() {
        source.set("POSADA_SANDBOX", "true");
    }
    if source.get("POSADA_PAYMENT_PROVIDER").is_none() {
        source.set("POSADA_PAYMENT_PROVIDER", crate::config::PaymentProvider::Sandbox.as_str());
    }
    // A person reads the demo's terminal: human-readable lines, warnings and errors only, so the
    // banner below stays on screen (POSADA_LOG / POSADA_LOG_FORMAT still win when set).
    if source.get("POSADA_LOG").is_none() {
        source.set("POSADA_LOG", "warn");
    }
    if source.get("POSADA_LOG_FORMAT").is_none() {
        source.set("POSADA_LOG_FORMAT", "pretty");
    }
    let demo_login = source.get("POSADA_ADMIN_EMAIL").is_none();
    if demo_login {
        source.set("POSADA_ADMIN_EMAIL", "admin@posada.local");
        source.set("POSADA_ADMIN_PASSWORD", crate::demo::kept_secret(&dir, "admin_password", 16)?);
    }
    let config = Config::load(&source, Mode::Lenient)?;
    crate::telemetry::init(&config.log, config.log_format);
    let app = Application::build(config.clone()).await?;
    let seeded = crate::demo::seed(app.state().store.as_ref(), chrono::Utc::now()).await?;
    let url = match app.local_addr() {
        Ok(addr) if config.public_url == format!("http://{}", config.bind) => {
            format!("http://{addr}")
        }
        _ => config.public_url.clone(),
    };
    println!("Posada demo running at {url}");
    println!("Data directory: {}", dir.display());
    if seeded > 0 {
        println!("Seeded {seeded} demo cabins.");
    }
    if demo_login {
        let password = crate::demo::kept_secret(&dir, "admin_password", 16)?;
        println!("Admin login: admin@posada.local / {password}");
    } else {
        println!("Admin login: {} (password from POSADA_ADMIN_PASSWORD)", config.admin_email.as_deref().unwrap_or(""));
    }
    println!("Dashboard: {url}/admin");
    println!("Chat as a guest: {url}/sandbox/chat   (or: posada chat --url {url})");
    println!("Try: curl '{url}/api/v1/accommodations'");
    app.run_until_stopped(stop).await
}
