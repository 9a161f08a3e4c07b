//! `posada doctor`: what an owner runs before going live and whenever something seems off. It
//! reads the configuration exactly as `serve` does, checks each part for real (the database, the
//! public address, a real call to each provider with the configured credentials, the mailbox,
//! the calendars, the clock, the disk, the backups) and says in Spanish what is right (✓), what
//! is wrong and what to do (✗), and what deserves a look (⚠). It also prints the exact addresses
//! to paste into Meta's and Mercado Pago's consoles and into Airbnb, Booking and Vrbo.
//!
//! Provider calls go through the channel clients' own `probe_*` functions, so the wire format
//! lives in one place; the doctor only judges the answers.

use crate::backup::{self, Freshness};
use crate::channels::Probe;
use crate::config::{Config, Mode, PaymentProvider, Source};
use crate::payments::provider::AccountCheck;
use chrono::{DateTime, Utc};
use domain::Channel;
use serde::Serialize;
use std::sync::Arc;
use store::Store;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// ✓
    Ok,
    /// ⚠ worth a look; does not fail the run.
    Warn,
    /// ✗ must be fixed before going live; the exit status is 1.
    Fail,
    /// – not configured, nothing to check.
    Skip,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "✓",
            Status::Warn => "⚠",
            Status::Fail => "✗",
            Status::Skip => "–",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Stable, for machines (`database`, `whatsapp_token`…).
    pub id: &'static str,
    pub title: &'static str,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

fn check(id: &'static str, title: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check { id, title, status, detail: detail.into(), fix: None }
}

impl Check {
    fn fix(mut self, fix: impl Into<String>) -> Check {
        self.fix = Some(fix.into());
        self
    }
}

/// The addresses an owner pastes into the providers' consoles.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Paste {
    /// Meta → the app → WhatsApp → Configuration → Webhook: callback URL.
    pub whatsapp_webhook: String,
    /// Meta → the app → Instagram / Messenger → Webhooks: callback URL, when configured.
    pub instagram_webhook: Option<String>,
    pub messenger_webhook: Option<String>,
    /// Mercado Pago → Your integrations → the app → Webhooks: production URL.
    pub mercadopago_webhook: String,
    /// Each cabin's calendar, for Airbnb / Booking / Vrbo to import.
    pub calendars: Vec<Calendar>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Calendar {
    pub cabin: String,
    pub export_url: String,
    /// The OTA calendars this cabin imports (what was pasted from them).
    pub imports: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Report {
    /// Every required check passed (the exit status is 0).
    pub ok: bool,
    pub version: String,
    pub checks: Vec<Check>,
    pub paste: Paste,
}

/// Runs every check. Never fails: whatever goes wrong is a ✗ in the report.
pub async fn run(source: &Source) -> Report {
    let mut checks = Vec::new();
    let config = match Config::load(source, Mode::Serve) {
        Ok(c) => {
            let from = source
                .get("POSADA_CONFIG_FILE")
                .map(|f| format!("las variables POSADA_* y {f}"))
                .unwrap_or_else(|| "las variables POSADA_*".into());
            checks.push(check(
                "config",
                "Configuración",
                Status::Ok,
                format!("leída de {from}, igual que `posada serve`"),
            ));
            Some(c)
        }
        Err(e) => {
            checks.push(
                check("config", "Configuración", Status::Fail, format!("`posada serve` no arrancaría: {e}"))
                    .fix("corregí esa variable en /etc/posada/env (o en el archivo de POSADA_CONFIG_FILE)"),
            );
            // Keep going with what can be read, so every problem shows at once.
            Config::load(source, Mode::Lenient).ok()
        }
    };
    let Some(config) = config else {
        return finish(checks, Paste::default());
    };
    let config = Arc::new(config);
    let mut dates: Vec<DateTime<Utc>> = Vec::new();
    let store = database(&config, &mut checks).await;
    disk(&config, &mut checks);
    match &store {
        Some(store) => backups(store.as_ref(), &config, &mut checks).await,
        None => {
            checks.push(check("backups", "Copias de seguridad", Status::Skip, "sin base de datos no hay qué copiar"))
        }
    }
    if let Some(store) = &store {
        owner_login(store.as_ref(), &mut checks).await;
    }
    public_url(&config, &mut checks).await;
    sandbox(&config, &mut checks);
    whatsapp(&config, &mut checks, &mut dates).await;
    meta(&config, Channel::Instagram, &mut checks, &mut dates).await;
    meta(&config, Channel::Messenger, &mut checks, &mut dates).await;
    mercadopago(&config, &mut checks, &mut dates).await;
    email(&config, &mut checks).await;
    stt(&config, &mut checks, &mut dates).await;
    if let Some(store) = &store {
        calendars(store.clone(), config.clone(), &mut checks).await;
    }
    clock(&dates, &mut checks);
    let paste = match &store {
        Some(store) => paste(store.as_ref(), &config).await,
        None => addresses(&config, Vec::new()),
    };
    if let Some(store) = store {
        store.close().await;
    }
    finish(checks, paste)
}

fn finish(checks: Vec<Check>, paste: Paste) -> Report {
    Report {
        ok: checks.iter().all(|c| c.status != Status::Fail),
        version: crate::build_info::describe(),
        checks,
        paste,
    }
}

async fn database(config: &Config, checks: &mut Vec<Check>) -> Option<Arc<dyn Store>> {
    let where_ = crate::app::redact_url(&config.database_url);
    let store = match store::open_existing(&config.database_url, 2).await {
        Ok(s) => s,
        Err(store::StoreError::NoDatabase(path)) => {
            checks.push(
                check("database", "Base de datos", Status::Fail, format!("no hay ninguna base de datos en {path}"))
                    .fix("iniciá `posada serve` una vez (crea la base y la prepara) o corré `posada migrate`; si ya tenías datos, revisá POSADA_DATA_DIR"),
            );
            return None;
        }
        Err(e) => {
            checks.push(
                check("database", "Base de datos", Status::Fail, format!("no puedo conectarme a {where_}: {e}"))
                    .fix("revisá POSADA_DATABASE_URL (servidor, usuario, contraseña, nombre de la base) y que PostgreSQL esté andando"),
            );
            return None;
        }
    };
    let engine = store.engine_details().await;
    let name = match store.backend() {
        store::Backend::Sqlite => "SQLite",
        store::Backend::Postgres => "PostgreSQL",
    };
    let version = engine.as_ref().map(|e| e.version.clone()).unwrap_or_default();
    match store.migration_status().await {
        Ok(status) if status.up_to_date() => checks.push(check(
            "database",
            "Base de datos",
            Status::Ok,
            format!("{name} {version} en {where_}; esquema {} al día", status.schema_version().unwrap_or(0)),
        )),
        Ok(status) if !status.unknown.is_empty() => checks.push(
            check(
                "database",
                "Base de datos",
                Status::Fail,
                format!("la base fue actualizada por una versión más nueva de posada (migraciones {:?})", status.unknown),
            )
            .fix(format!("usá esa versión nueva de posada (esta es {})", crate::build_info::describe())),
        ),
        Ok(status) if !status.changed.is_empty() => checks.push(
            check(
                "database",
                "Base de datos",
                Status::Fail,
                format!("las migraciones {:?} aplicadas no coinciden con las de esta versión", status.changed),
            )
            .fix("no edites migraciones ya aplicadas; restaurá una copia de seguridad o pedí ayuda"),
        ),
        Ok(status) => checks.push(
            check(
                "database",
                "Base de datos",
                Status::Fail,
                format!("{name} en {where_}: faltan {} migraciones", status.pending.len()),
            )
            .fix("corré `posada migrate` (o reiniciá `posada serve`, que migra al arrancar); `posada migrate --dry-run` muestra cuáles"),
        ),
        Err(e) => checks.push(
            check("database", "Base de datos", Status::Fail, format!("no puedo leer {where_}: {e}"))
                .fix("revisá los permisos del archivo o del usuario de la base"),
        ),
    }
    match (store.backend(), engine) {
        (store::Backend::Sqlite, _) => {
            checks.push(check("btree_gist", "Extensión btree_gist", Status::Skip, "no hace falta con SQLite"))
        }
        (store::Backend::Postgres, Ok(store::EngineDetails { btree_gist: Some(v), .. })) => checks.push(check(
            "btree_gist",
            "Extensión btree_gist",
            Status::Ok,
            format!("instalada ({v}): la base misma impide reservas superpuestas"),
        )),
        (store::Backend::Postgres, Ok(_)) => checks.push(
            check("btree_gist", "Extensión btree_gist", Status::Fail, "no está instalada en esta base")
                .fix("como superusuario: `CREATE EXTENSION btree_gist;` (viene en postgresql-contrib)"),
        ),
        (store::Backend::Postgres, Err(e)) => {
            checks.push(check("btree_gist", "Extensión btree_gist", Status::Fail, format!("no pude verificarla: {e}")))
        }
    }
    Some(store)
}

fn gib(bytes: u64) -> String {
    format!("{:.1} GB", bytes as f64 / 1e9)
}

fn disk(config: &Config, checks: &mut Vec<Check>) {
    let data = if store::is_postgres_url(&config.database_url) {
        None
    } else {
        backup::sqlite_path(&config.database_url).ok().and_then(|p| p.parent().map(|d| d.to_path_buf()))
    };
    let mut places = Vec::new();
    if let Some(dir) = data {
        places.push(("la base", dir));
    }
    places.push(("las copias", config.backup.dir.clone()));
    let mut found = Vec::new();
    let mut worst = Status::Ok;
    for (what, dir) in &places {
        // The folder may not exist yet (no backup so far): measure where it will be.
        let measured = dir.ancestors().find_map(backup::disk_space);
        let Some((free, size)) = measured else { continue };
        let share = if size > 0 { free as f64 / size as f64 } else { 1.0 };
        let status = if free < 256 * 1024 * 1024 || share < 0.05 {
            Status::Fail
        } else if free < 1024 * 1024 * 1024 || share < 0.10 {
            Status::Warn
        } else {
            Status::Ok
        };
        worst = worse(worst, status);
        found.push(format!("{what} ({}): {} libres de {}", dir.display(), gib(free), gib(size)));
    }
    if found.is_empty() {
        checks.push(check("disk", "Espacio en disco", Status::Skip, "no hay carpetas locales que medir"));
        return;
    }
    let c = check("disk", "Espacio en disco", worst, found.join("; "));
    checks.push(match worst {
        Status::Ok => c,
        _ => c.fix("liberá espacio o agrandá el disco: sin espacio no se guardan reservas ni copias (las copias viejas se borran solas según POSADA_BACKUP_KEEP)"),
    });
}

fn worse(a: Status, b: Status) -> Status {
    let rank = |s| match s {
        Status::Fail => 3,
        Status::Warn => 2,
        Status::Ok => 1,
        Status::Skip => 0,
    };
    if rank(b) > rank(a) { b } else { a }
}

async fn backups(store: &dyn Store, config: &Config, checks: &mut Vec<Check>) {
    let now = Utc::now();
    let last = store.last_backup().await;
    let daily = config.backup.daily_at.map(|t| t.format("%H:%M").to_string());
    let how = match &daily {
        Some(t) => format!("copia diaria a las {t}"),
        None => "sin copia diaria (POSADA_BACKUP_DAILY_AT)".into(),
    };
    let fresh = last.as_ref().map(|l| backup::freshness(l.as_ref(), now)).map_err(|e| e.to_string());
    let mut c = match (fresh, last) {
        (Ok(Freshness::Recent { age_hours }), Ok(Some(b))) => check(
            "backups",
            "Copias de seguridad",
            Status::Ok,
            format!("la última es de {} ({}); {how}", backup::age_words(age_hours), b.file),
        ),
        (Ok(Freshness::Never), _) if daily.is_some() => check(
            "backups",
            "Copias de seguridad",
            Status::Warn,
            format!("todavía no hay ninguna; la primera se hace a las {}", daily.clone().unwrap_or_default()),
        )
        .fix("para tener una ya: `posada backup`"),
        (Ok(Freshness::Old { age_hours }), Ok(Some(b))) => check(
            "backups",
            "Copias de seguridad",
            Status::Fail,
            format!("la última es de {} ({}); {how}", backup::age_words(age_hours), b.file),
        )
        .fix("corré `posada backup` y revisá por qué no corre la copia diaria (POSADA_BACKUP_DAILY_AT, el registro de posada)"),
        (Ok(_), _) => check("backups", "Copias de seguridad", Status::Fail, format!("nunca se hizo una copia; {how}"))
            .fix("corré `posada backup` y activá la copia diaria: POSADA_BACKUP_DAILY_AT=03:30"),
        (Err(e), _) => check("backups", "Copias de seguridad", Status::Fail, format!("no pude leer el registro: {e}")),
    };
    // PostgreSQL is copied with pg_dump, which must be installed where posada runs.
    if store.backend() == store::Backend::Postgres {
        match backup::pg_tool(config, "pg_dump").arg("--version").output().await {
            Ok(out) if out.status.success() => {
                c.detail += &format!("; {}", String::from_utf8_lossy(&out.stdout).trim());
            }
            _ => {
                c.status = Status::Fail;
                c.detail += "; pg_dump no está instalado: `posada backup` no puede copiar PostgreSQL";
                c.fix = Some(
                    "instalá el cliente de PostgreSQL (apt-get install postgresql-client) o indicá POSADA_PG_BIN_DIR"
                        .into(),
                );
            }
        }
    }
    checks.push(c);
}

async fn owner_login(store: &dyn Store, checks: &mut Vec<Check>) {
    match store.list_admin_users().await {
        Ok(users) if users.iter().any(|u| u.role == store::Role::Owner) => checks.push(check(
            "owner",
            "Acceso al panel",
            Status::Ok,
            format!("{} usuario(s) pueden entrar a /admin", users.len()),
        )),
        Ok(_) => checks.push(
            check("owner", "Acceso al panel", Status::Fail, "nadie con rol de dueño puede entrar a /admin")
                .fix("poné POSADA_ADMIN_EMAIL y POSADA_ADMIN_PASSWORD y reiniciá, o `posada admin add-user --email vos@ejemplo.com`"),
        ),
        Err(e) => checks.push(check("owner", "Acceso al panel", Status::Fail, format!("no pude leer los usuarios: {e}"))),
    }
}

async fn public_url(config: &Config, checks: &mut Vec<Check>) {
    let url = &config.public_url;
    if config.public_url_defaulted {
        checks.push(
            check("public_url", "Dirección pública", Status::Fail, format!("POSADA_PUBLIC_URL no está configurada (se usaría {url})"))
                .fix("poné la dirección HTTPS con la que te encuentran, p. ej. POSADA_PUBLIC_URL=https://reservas.tucabana.com.ar"),
        );
        return;
    }
    let parsed = match reqwest::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            checks.push(check(
                "public_url",
                "Dirección pública",
                Status::Fail,
                format!("{url} no es una dirección: {e}"),
            ));
            return;
        }
    };
    if parsed.scheme() != "https" {
        checks.push(
            check("public_url", "Dirección pública", Status::Fail, format!("{url} no es HTTPS"))
                .fix("WhatsApp y Mercado Pago sólo avisan a direcciones https://: poné Caddy adelante (deploy/Caddyfile) y usá https:// en POSADA_PUBLIC_URL"),
        );
        return;
    }
    let host = parsed.host_str().unwrap_or_default().to_string();
    let port = parsed.port_or_known_default().unwrap_or(443);
    match tokio::time::timeout(std::time::Duration::from_secs(10), tokio::net::lookup_host((host.as_str(), port))).await {
        Ok(Ok(addrs)) => {
            let addrs: Vec<String> = addrs.map(|a| a.ip().to_string()).collect::<std::collections::BTreeSet<_>>().into_iter().collect();
            if addrs.is_empty() {
                checks.push(
                    check("public_url", "Dirección pública", Status::Fail, format!("{host} no resuelve a ninguna dirección"))
                        .fix("creá el registro DNS A (o AAAA) de ese nombre apuntando a la IP pública de este servidor"),
                );
            } else {
                checks.push(check(
                    "public_url",
                    "Dirección pública",
                    Status::Ok,
                    format!("{url} es HTTPS y {host} resuelve a {}", addrs.join(", ")),
                ));
            }
        }
        Ok(Err(e)) => checks.push(
            check("public_url", "Dirección pública", Status::Fail, format!("{host} no resuelve: {e}"))
                .fix("creá el registro DNS A (o AAAA) de ese nombre apuntando a la IP pública de este servidor y esperá a que se propague"),
        ),
        Err(_) => checks.push(
            check("public_url", "Dirección pública", Status::Fail, format!("el DNS no contestó por {host} en 10 segundos"))
                .fix("revisá la conexión a internet y el DNS de este servidor"),
        ),
    }
}

fn sandbox(config: &Config, checks: &mut Vec<Check>) {
    if config.payments.provider == PaymentProvider::Sandbox {
        checks.push(
            check(
                "sandbox",
                "Modo de prueba",
                Status::Fail,
                "los pagos están en modo sandbox: cualquiera puede \"pagar\" una seña sin pagar",
            )
            .fix("en producción: POSADA_PAYMENT_PROVIDER=mercadopago (o none si cobrás a mano)"),
        );
    } else if config.sandbox {
        checks.push(
            check(
                "sandbox",
                "Modo de prueba",
                Status::Warn,
                "el chat de prueba (/sandbox/chat, que también hace de Instagram y Messenger si no están conectados) está abierto al público",
            )
            .fix("en producción sacá POSADA_SANDBOX=true"),
        );
    } else {
        checks.push(check("sandbox", "Modo de prueba", Status::Ok, "apagado"));
    }
}

/// "no pude conectarme con graph.facebook.com: …".
fn unreachable(base: &str, error: &str) -> String {
    let host = reqwest::Url::parse(base).ok().and_then(|u| u.host_str().map(String::from)).unwrap_or(base.to_string());
    format!("no pude conectarme con {host}: {error}")
}

async fn whatsapp(config: &Config, checks: &mut Vec<Check>, dates: &mut Vec<DateTime<Utc>>) {
    let Some(wa) = &config.whatsapp else {
        checks.push(check(
            "whatsapp",
            "WhatsApp",
            Status::Skip,
            "no está configurado: el bot atiende sólo por los otros canales",
        ));
        return;
    };
    let client = crate::channels::whatsapp::WhatsApp::new(wa.client());
    let title = "WhatsApp: token y número";
    match client.probe_phone_number().await {
        Err(e) => checks.push(
            check("whatsapp_token", title, Status::Fail, unreachable(&wa.api_base, &e))
                .fix("revisá la conexión a internet de este servidor (y POSADA_WHATSAPP_API_BASE si la cambiaste)"),
        ),
        Ok(p) => {
            dates.extend(p.date);
            checks.push(judge_phone(&p, &wa.phone_number_id));
        }
    }
    let token = wa.verify_token_len();
    checks.push(if token < 16 {
        check("whatsapp_webhook", "WhatsApp: webhook", Status::Warn, format!("el token de verificación tiene {token} caracteres"))
            .fix("usá uno largo y difícil de adivinar (p. ej. `openssl rand -hex 16`) en POSADA_WHATSAPP_VERIFY_TOKEN y en la consola de Meta")
    } else {
        check(
            "whatsapp_webhook",
            "WhatsApp: webhook",
            Status::Ok,
            "token de verificación y secreto de la app configurados (cada aviso llega firmado)",
        )
    });
    // The stay messages' template only when one is named (without it they go by e-mail).
    let wanted: Vec<&String> = [&wa.template_reminder, &wa.template_confirmation, &wa.template_alert]
        .into_iter()
        .chain(wa.template_stay.as_ref())
        .collect();
    let title = "WhatsApp: plantillas";
    let Some(waba) = &wa.business_account_id else {
        checks.push(
            check(
                "whatsapp_templates",
                title,
                Status::Warn,
                "no puedo verificarlas: falta POSADA_WHATSAPP_BUSINESS_ACCOUNT_ID",
            )
            .fix("copiá el identificador de la cuenta de WhatsApp Business (WhatsApp Manager → Configuración de la cuenta) en POSADA_WHATSAPP_BUSINESS_ACCOUNT_ID"),
        );
        return;
    };
    match client.probe_templates(waba).await {
        Err(e) => checks.push(check("whatsapp_templates", title, Status::Fail, unreachable(&wa.api_base, &e))),
        Ok(p) if p.status != 200 => {
            let why = crate::channels::whatsapp::graph_error(&p.body).map(|(_, m)| m).unwrap_or_default();
            checks.push(
                check("whatsapp_templates", title, Status::Fail, format!("Meta contestó {}: {why}", p.status))
                    .fix("revisá POSADA_WHATSAPP_BUSINESS_ACCOUNT_ID y que el token tenga el permiso whatsapp_business_management"),
            );
        }
        Ok(p) => {
            let list = p.body["data"].as_array().cloned().unwrap_or_default();
            let mut problems = Vec::new();
            let mut fine = Vec::new();
            for name in wanted {
                let found = list.iter().find(|t| {
                    t["name"].as_str() == Some(name.as_str()) && t["language"].as_str() == Some(&wa.template_language)
                });
                match found.and_then(|t| t["status"].as_str()) {
                    Some("APPROVED") => fine.push(format!("{name} ✓")),
                    Some(other) => problems.push(format!("{name} está {}", template_status(other))),
                    None => problems.push(format!("{name} ({}) no existe", wa.template_language)),
                }
            }
            if problems.is_empty() {
                checks.push(check("whatsapp_templates", title, Status::Ok, format!("aprobadas: {}", fine.join(", "))));
            } else {
                checks.push(
                    check("whatsapp_templates", title, Status::Fail, problems.join("; "))
                        .fix("creá y enviá a revisión las plantillas con el texto exacto de docs/puesta-en-marcha.md (WhatsApp Manager → Plantillas de mensajes); sin ellas, los recordatorios fuera de las 24 h no salen"),
                );
            }
        }
    }
}

/// Instagram Direct or Messenger: the same Graph API, so the same three questions — does the
/// token reach the account, is every webhook signed, will Meta be able to call us (https).
async fn meta(config: &Config, channel: Channel, checks: &mut Vec<Check>, dates: &mut Vec<DateTime<Utc>>) {
    let (id, token_id, webhook_id, (vars, account_var, where_id)) = match channel {
        Channel::Instagram => (
            "instagram",
            "instagram_token",
            "instagram_webhook",
            (
                "POSADA_INSTAGRAM_*",
                "POSADA_INSTAGRAM_ACCOUNT_ID",
                "el identificador de la cuenta profesional de Instagram (Meta Business → Configuración → Cuentas de Instagram)",
            ),
        ),
        _ => (
            "messenger",
            "messenger_token",
            "messenger_webhook",
            (
                "POSADA_MESSENGER_*",
                "POSADA_MESSENGER_PAGE_ID",
                "el identificador de la página de Facebook (la página → Información → Transparencia de la página)",
            ),
        ),
    };
    let label = channel.label();
    let Some(meta) = (match channel {
        Channel::Instagram => config.instagram.as_ref(),
        _ => config.messenger.as_ref(),
    }) else {
        checks.push(check(
            id,
            label,
            Status::Skip,
            format!("no está configurado ({vars}): el bot atiende sólo por los otros canales"),
        ));
        return;
    };
    let client = crate::channels::meta::MetaClient::new(meta.clone(), id);
    let title = if channel == Channel::Instagram { "Instagram: token y cuenta" } else { "Messenger: token y página" };
    match client.probe_account().await {
        Err(e) => checks.push(
            check(token_id, title, Status::Fail, unreachable(&meta.api_base, &e))
                .fix("revisá la conexión a internet de este servidor (y la variable *_API_BASE si la cambiaste)"),
        ),
        Ok(p) => {
            dates.extend(p.date);
            let graph = crate::channels::whatsapp::graph_error(&p.body);
            checks.push(match (p.status, graph) {
                (200, _) if p.body["id"].as_str() == Some(meta.account_id.as_str()) => {
                    let name = p.body["username"]
                        .as_str()
                        .map(|u| format!("@{u}"))
                        .or_else(|| p.body["name"].as_str().map(String::from))
                        .unwrap_or_else(|| meta.account_id.clone());
                    check(token_id, title, Status::Ok, format!("el token es válido y llega a {name}"))
                }
                (200, _) => check(
                    token_id,
                    title,
                    Status::Fail,
                    format!("Meta contestó por otra cuenta que {}", meta.account_id),
                )
                .fix(format!("copiá en {account_var} {where_id}")),
                (_, Some((190, message))) | (401, Some((_, message))) => check(
                    token_id,
                    title,
                    Status::Fail,
                    format!("Meta rechaza el token de acceso: {message}"),
                )
                .fix(format!("generá un token de página que no venza (Meta Business → Usuarios del sistema) con permiso para mensajes de {label}, y ponelo en {}", vars.replace('*', "ACCESS_TOKEN"))),
                (_, Some((100, message))) | (404, Some((_, message))) => check(
                    token_id,
                    title,
                    Status::Fail,
                    format!("la cuenta {} no existe o no pertenece a este token: {message}", meta.account_id),
                )
                .fix(format!("copiá en {account_var} {where_id}")),
                (status, graph) => check(
                    token_id,
                    title,
                    Status::Fail,
                    format!("Meta contestó {status}: {}", graph.map(|g| g.1).unwrap_or_default()),
                )
                .fix("probá de nuevo en unos minutos; si sigue, revisá el estado de la app en developers.facebook.com"),
            });
        }
    }
    let webhook_title = if channel == Channel::Instagram { "Instagram: webhook" } else { "Messenger: webhook" };
    let url = format!("{}/api/v1/webhooks/{}", config.public_url, channel.as_str());
    let verify = vars.replace('*', "VERIFY_TOKEN");
    let secret = vars.replace('*', "APP_SECRET");
    checks.push(if !client.has_app_secret() {
        check(webhook_id, webhook_title, Status::Fail, "falta el secreto de la app: no podría comprobar que los avisos vienen de Meta")
            .fix(format!("copiá la clave secreta de la app (developers.facebook.com → tu app → Configuración → Básica) en {secret}"))
    } else if !config.public_url.starts_with("https://") {
        check(webhook_id, webhook_title, Status::Fail, format!("{url} no es HTTPS: Meta sólo avisa a direcciones https://"))
            .fix("poné Caddy adelante (deploy/Caddyfile) y usá https:// en POSADA_PUBLIC_URL")
    } else if client.verify_token_len() < 16 {
        let n = client.verify_token_len();
        check(webhook_id, webhook_title, Status::Warn, format!("el token de verificación tiene {n} caracteres"))
            .fix(format!("usá uno largo y difícil de adivinar (p. ej. `openssl rand -hex 16`) en {verify} y en la consola de Meta"))
    } else {
        check(
            webhook_id,
            webhook_title,
            Status::Ok,
            format!("pegá {url} en la consola de Meta (campos messages y messaging_postbacks); cada aviso llega firmado"),
        )
    });
}

fn template_status(status: &str) -> &'static str {
    match status {
        "PENDING" => "en revisión",
        "REJECTED" => "rechazada",
        "PAUSED" => "pausada",
        "DISABLED" => "deshabilitada",
        "IN_APPEAL" => "en apelación",
        _ => "sin aprobar",
    }
}

fn judge_phone(p: &Probe, phone_number_id: &str) -> Check {
    let title = "WhatsApp: token y número";
    let graph = crate::channels::whatsapp::graph_error(&p.body);
    match (p.status, graph) {
        (200, _) => {
            let number = p.body["display_phone_number"].as_str().unwrap_or("?");
            let name = p.body["verified_name"].as_str().unwrap_or("?");
            let quality = p.body["quality_rating"].as_str().unwrap_or("UNKNOWN");
            let c = check(
                "whatsapp_token",
                title,
                Status::Ok,
                format!("el token es válido y el número {number} ({name}) es suyo; calidad {quality}"),
            );
            if quality == "RED" {
                Check { status: Status::Warn, ..c }
                    .fix("Meta marcó la calidad del número en rojo: revisá los mensajes que se bloquearon o denunciaron")
            } else {
                c
            }
        }
        (_, Some((190, message))) | (401, Some((_, message))) => check(
            "whatsapp_token",
            title,
            Status::Fail,
            format!("Meta rechaza el token de acceso: {message}"),
        )
        .fix("generá un token permanente de un usuario del sistema (Meta Business → Usuarios del sistema) con los permisos whatsapp_business_messaging y whatsapp_business_management, y ponelo en POSADA_WHATSAPP_ACCESS_TOKEN"),
        (_, Some((100, message))) | (404, Some((_, message))) => check(
            "whatsapp_token",
            title,
            Status::Fail,
            format!("el número {phone_number_id} no existe o no pertenece a este token: {message}"),
        )
        .fix("copiá el \"Identificador del número de teléfono\" (no el número) de la app → WhatsApp → Configuración de la API a POSADA_WHATSAPP_PHONE_NUMBER_ID"),
        (status, graph) => check(
            "whatsapp_token",
            title,
            Status::Fail,
            format!("Meta contestó {status}: {}", graph.map(|g| g.1).unwrap_or_default()),
        )
        .fix("probá de nuevo en unos minutos; si sigue, revisá el estado de la app en developers.facebook.com"),
    }
}

async fn mercadopago(config: &Config, checks: &mut Vec<Check>, dates: &mut Vec<DateTime<Utc>>) {
    if config.payments.provider != PaymentProvider::MercadoPago {
        let why = match config.payments.provider {
            PaymentProvider::None => "no está configurado: no se mandan links de pago (POSADA_PAYMENT_PROVIDER=none)",
            _ => "en modo sandbox (ver «Modo de prueba»)",
        };
        checks.push(check("mercadopago", "Mercado Pago", Status::Skip, why));
        return;
    }
    let p = &config.payments;
    let Some(provider) = crate::payments::provider_for(p) else { return };
    let title = "Mercado Pago: credenciales";
    match provider.probe().await {
        Err(e) => checks.push(
            check("mercadopago_token", title, Status::Fail, unreachable(&p.api_base, &e))
                .fix("revisá la conexión a internet de este servidor (y POSADA_MERCADOPAGO_API_BASE si la cambiaste)"),
        ),
        Ok(probe) => {
            dates.extend(probe.date);
            checks.push(match probe.check {
                AccountCheck::Ok { account, argentine, test_credentials } => {
                    let detail = format!("el access token es de la cuenta {account}");
                    if !argentine {
                        check("mercadopago_token", title, Status::Warn, format!("{detail}, que no es de Argentina (MLA)"))
                            .fix("las señas se cobran en pesos argentinos: usá las credenciales de una cuenta de Mercado Pago Argentina")
                    } else if test_credentials {
                        check("mercadopago_token", title, Status::Warn, format!("{detail}, con credenciales de prueba: los pagos no son reales"))
                            .fix("para cobrar de verdad usá las credenciales de producción (APP_USR-…) en POSADA_MERCADOPAGO_ACCESS_TOKEN")
                    } else {
                        check("mercadopago_token", title, Status::Ok, detail)
                    }
                }
                AccountCheck::Refused(message) => check(
                    "mercadopago_token",
                    title,
                    Status::Fail,
                    format!(
                        "Mercado Pago rechaza el access token: {}",
                        if message.is_empty() { "sin detalle" } else { &message }
                    ),
                )
                .fix("copiá el Access Token de producción (Tus integraciones → tu aplicación → Credenciales de producción) en POSADA_MERCADOPAGO_ACCESS_TOKEN"),
                AccountCheck::Failed(status, message) => check(
                    "mercadopago_token",
                    title,
                    Status::Fail,
                    format!("Mercado Pago contestó {status}: {message}"),
                )
                .fix("probá de nuevo en unos minutos"),
            });
        }
    }
    checks.push(check(
        "mercadopago_webhook",
        "Mercado Pago: webhook",
        Status::Ok,
        "clave secreta configurada: cada aviso de pago se verifica (x-signature)",
    ));
}

const MAIL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

async fn email(config: &Config, checks: &mut Vec<Check>) {
    let Some(e) = &config.email else {
        checks.push(check(
            "email",
            "E-mail",
            Status::Skip,
            "no está configurado: los huéspedes no pueden escribir por e-mail",
        ));
        return;
    };
    match crate::channels::email::Mailer::new(&e.smtp, &e.from_address) {
        Err(err) => checks.push(check("smtp", "E-mail: envío (SMTP)", Status::Fail, err)),
        // The mail clients time out connecting, not every reply: a server that goes quiet
        // mid-session must not hang the doctor.
        Ok(mailer) => match tokio::time::timeout(MAIL_TIMEOUT, mailer.check_login())
            .await
            .unwrap_or_else(|_| Err(format!("no contestó en {} segundos", MAIL_TIMEOUT.as_secs())))
        {
            Ok(()) => checks.push(check(
                "smtp",
                "E-mail: envío (SMTP)",
                Status::Ok,
                format!("{}:{} acepta el usuario {}", e.smtp.host, e.smtp.port, e.smtp.user),
            )),
            Err(err) => checks.push(
                check("smtp", "E-mail: envío (SMTP)", Status::Fail, format!("{}:{}: {err}", e.smtp.host, e.smtp.port))
                    .fix("revisá POSADA_SMTP_HOST, _PORT, _TLS, _USER y _PASSWORD (con Gmail hace falta una contraseña de aplicación)"),
            ),
        },
    }
    let opened = tokio::time::timeout(MAIL_TIMEOUT, crate::channels::email::Inbox::open(&e.imap, &e.mailbox))
        .await
        .unwrap_or_else(|_| Err(format!("no contestó en {} segundos", MAIL_TIMEOUT.as_secs())));
    match opened {
        Ok(inbox) => {
            inbox.close().await;
            checks.push(check(
                "imap",
                "E-mail: lectura (IMAP)",
                Status::Ok,
                format!(
                    "{}:{} acepta el usuario {} y la carpeta {} existe",
                    e.imap.host, e.imap.port, e.imap.user, e.mailbox
                ),
            ));
        }
        Err(err) => checks.push(
            check("imap", "E-mail: lectura (IMAP)", Status::Fail, format!("{}:{}: {err}", e.imap.host, e.imap.port))
                .fix("revisá POSADA_IMAP_HOST, _PORT, _TLS, _USER, _PASSWORD y POSADA_IMAP_MAILBOX"),
        ),
    }
}

async fn stt(config: &Config, checks: &mut Vec<Check>, dates: &mut Vec<DateTime<Utc>>) {
    let Some(s) = &config.stt else {
        checks.push(check(
            "stt",
            "Notas de voz",
            Status::Skip,
            "no está configurado: a quien mande un audio se le pide que escriba",
        ));
        return;
    };
    let client = crate::channels::stt::Stt::new(s.clone());
    match client.probe_models().await {
        Err(e) => checks.push(
            check("stt", "Notas de voz", Status::Fail, unreachable(&s.api_base, &e)).fix("revisá POSADA_STT_API_BASE"),
        ),
        Ok(p) => {
            dates.extend(p.date);
            checks.push(match p.status {
                200 => {
                    let models: Vec<&str> =
                        p.body["data"].as_array().into_iter().flatten().filter_map(|m| m["id"].as_str()).collect();
                    if models.is_empty() || models.contains(&client.model()) {
                        check(
                            "stt",
                            "Notas de voz",
                            Status::Ok,
                            format!("el servicio acepta la clave (modelo {})", client.model()),
                        )
                    } else {
                        check(
                            "stt",
                            "Notas de voz",
                            Status::Warn,
                            format!("el servicio acepta la clave pero no ofrece el modelo {}", client.model()),
                        )
                        .fix(format!("poné uno de estos en POSADA_STT_MODEL: {}", models.join(", ")))
                    }
                }
                401 | 403 => {
                    check("stt", "Notas de voz", Status::Fail, format!("el servicio rechaza la clave ({})", p.status))
                        .fix("revisá POSADA_STT_API_KEY")
                }
                status => check("stt", "Notas de voz", Status::Fail, format!("el servicio contestó {status}"))
                    .fix("revisá POSADA_STT_API_BASE (la base, sin /v1)"),
            });
        }
    }
}

async fn calendars(store: Arc<dyn Store>, config: Arc<Config>, checks: &mut Vec<Check>) {
    let feeds = match store.list_feeds(None).await {
        Ok(f) => f,
        Err(e) => {
            checks.push(check("ical", "Calendarios importados", Status::Fail, format!("no pude leerlos: {e}")));
            return;
        }
    };
    if feeds.is_empty() {
        checks.push(
            check(
                "ical",
                "Calendarios importados",
                Status::Warn,
                "ninguno: si la cabaña está en Airbnb, Booking o Vrbo, esas reservas no bloquean fechas acá",
            )
            .fix("agregá el calendario de cada OTA en /admin/canales (ver docs/puesta-en-marcha.md)"),
        );
        return;
    }
    let names: std::collections::HashMap<i64, String> =
        store.list_units(true).await.unwrap_or_default().into_iter().map(|u| (u.id, u.name)).collect();
    let importer = crate::ical_sync::Importer::new(store, config, crate::clock::Clock::system());
    let mut ok = Vec::new();
    let mut bad = Vec::new();
    for f in &feeds {
        let label = format!(
            "{} de {}",
            crate::admin_ui::html::source_label(&f.source),
            names.get(&f.unit_id).map(String::as_str).unwrap_or("?")
        );
        match importer.check_feed(f).await {
            Ok(n) => ok.push(format!("{label} ({n} eventos)")),
            Err((kind, message)) => bad.push(format!("{label}: {kind} — {message}")),
        }
    }
    if bad.is_empty() {
        checks.push(check("ical", "Calendarios importados", Status::Ok, format!("se leen bien: {}", ok.join(", "))));
    } else {
        checks.push(
            check("ical", "Calendarios importados", Status::Fail, bad.join("; "))
                .fix("copiá de nuevo la URL de exportación de esa OTA (ver docs/puesta-en-marcha.md) y reemplazala en /admin/canales; mientras falle, esas fechas pueden venderse dos veces"),
        );
    }
}

fn clock(dates: &[DateTime<Utc>], checks: &mut Vec<Check>) {
    let now = Utc::now();
    // The Date header has whole seconds: the skew is the worst of the answers, give or take 1 s.
    let Some(skew) = dates.iter().map(|d| (now - *d).num_seconds()).max_by_key(|s| s.abs()) else {
        checks.push(check(
            "clock",
            "Hora del servidor",
            Status::Skip,
            "no hay un servicio externo configurado con el que comparar la hora",
        ));
        return;
    };
    let detail = format!("{} s de diferencia con la hora de los servicios externos", skew);
    let fix = "activá la sincronización de hora: `timedatectl set-ntp true` (o instalá chrony)";
    checks.push(match skew.abs() {
        0..=10 => check("clock", "Hora del servidor", Status::Ok, detail),
        11..=60 => check("clock", "Hora del servidor", Status::Warn, detail).fix(fix),
        _ => check("clock", "Hora del servidor", Status::Fail, detail + ": las pre-reservas vencerían a deshora")
            .fix(fix),
    });
}

async fn paste(store: &dyn Store, config: &Config) -> Paste {
    let base = &config.public_url;
    let feeds = store.list_feeds(None).await.unwrap_or_default();
    let calendars = store
        .list_units(false)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|u| Calendar {
            export_url: format!("{base}/ical/{}/{}.ics", u.slug, u.ical_token),
            imports: feeds.iter().filter(|f| f.unit_id == u.id).map(|f| f.url.clone()).collect(),
            cabin: u.name,
        })
        .collect();
    addresses(config, calendars)
}

/// The webhook addresses for this configuration, and the cabins' calendars.
fn addresses(config: &Config, calendars: Vec<Calendar>) -> Paste {
    let base = &config.public_url;
    Paste {
        whatsapp_webhook: format!("{base}/api/v1/webhooks/whatsapp"),
        instagram_webhook: config.instagram.is_some().then(|| format!("{base}/api/v1/webhooks/instagram")),
        messenger_webhook: config.messenger.is_some().then(|| format!("{base}/api/v1/webhooks/messenger")),
        mercadopago_webhook: format!("{base}/api/v1/webhooks/mercadopago"),
        calendars,
    }
}

/// The report as an owner reads it in a terminal.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = format!("posada doctor — posada {}\n\n", report.version);
    let width = report.checks.iter().map(|c| c.title.chars().count()).max().unwrap_or(10);
    for c in &report.checks {
        let pad = " ".repeat(width - c.title.chars().count());
        let _ = writeln!(out, "{} {}{pad}  {}", c.status.mark(), c.title, c.detail);
        if let Some(fix) = &c.fix {
            let _ = writeln!(out, "{}→ {fix}", " ".repeat(width + 4));
        }
    }
    let fails = report.checks.iter().filter(|c| c.status == Status::Fail).count();
    let warns = report.checks.iter().filter(|c| c.status == Status::Warn).count();
    out.push('\n');
    match (fails, warns) {
        (0, 0) => out.push_str("Todo en orden: listo para salir en vivo.\n"),
        (0, w) => {
            let _ = writeln!(out, "Listo para salir en vivo; {w} aviso(s) para mirar.");
        }
        (f, _) => {
            let _ = writeln!(out, "Hay {f} problema(s) que resolver antes de salir en vivo (✗).");
        }
    }
    let p = &report.paste;
    let _ = write!(
        out,
        "\nPara pegar en las consolas\n\n\
         Meta (developers.facebook.com → tu app → WhatsApp → Configuración → Webhook):\n  \
         URL de devolución de llamada: {}\n  \
         Token de verificación: el valor de POSADA_WHATSAPP_VERIFY_TOKEN\n  \
         Campo a suscribir: messages\n\n",
        p.whatsapp_webhook
    );
    // Only the Meta channels this installation runs: the others have nothing to paste.
    for (name, path, url, var) in [
        ("Instagram", "Instagram → Webhooks", &p.instagram_webhook, "POSADA_INSTAGRAM_VERIFY_TOKEN"),
        (
            "Messenger",
            "Messenger → Configuración de Messenger → Webhooks",
            &p.messenger_webhook,
            "POSADA_MESSENGER_VERIFY_TOKEN",
        ),
    ] {
        if let Some(url) = url {
            let _ = write!(
                out,
                "Meta, {name} (developers.facebook.com → tu app → {path}):\n  \
                 URL de devolución de llamada: {url}\n  \
                 Token de verificación: el valor de {var}\n  \
                 Campos a suscribir: messages, messaging_postbacks\n\n"
            );
        }
    }
    let _ = write!(
        out,
        "Mercado Pago (Tus integraciones → tu aplicación → Webhooks → Modo productivo):\n  \
         URL: {}\n  \
         Evento: Pagos\n  \
         La clave secreta que muestra va en POSADA_MERCADOPAGO_WEBHOOK_SECRET\n\n\
         Airbnb, Booking y Vrbo (importar calendario), una URL por cabaña:\n",
        p.mercadopago_webhook
    );
    if p.calendars.is_empty() {
        out.push_str("  (todavía no hay cabañas: cargalas en /admin/cabanas)\n");
    }
    for c in &p.calendars {
        let _ = writeln!(out, "  {}: {}", c.cabin, c.export_url);
        for import in &c.imports {
            let _ = writeln!(out, "    importa: {import}");
        }
    }
    out
}
