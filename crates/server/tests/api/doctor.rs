//! `posada doctor` through the real binary, against local fakes that speak each provider's
//! protocol (Graph API, Mercado Pago, an OpenAI-compatible STT, an OTA feed), a real Dovecot
//! and SMTP server: everything valid, every token invalid, everything unreachable.

use crate::email::MailServers;
use crate::helpers::*;
use crate::tools::{posada_in, temp_dir};
use serde_json::{Value, json};
use std::collections::BTreeMap;

const PHONE_ID: &str = "109876543210987";
const WABA_ID: &str = "203040506070809";
const WA_TOKEN: &str = "EAAG-sentinel-wa-token";
const MP_TOKEN: &str = "APP_USR-1234567890-sentinel";
const STT_KEY: &str = "sk-sentinel-stt";

struct Fakes {
    graph: FakeUpstream,
    mp: FakeUpstream,
    stt: FakeUpstream,
    ota: FakeUpstream,
}

async fn fakes() -> Fakes {
    Fakes {
        graph: FakeUpstream::start().await,
        mp: FakeUpstream::start().await,
        stt: FakeUpstream::start().await,
        ota: FakeUpstream::start().await,
    }
}

/// A database with the demo cabins, the owner, an Airbnb feed on Coihue and (maybe) a fresh backup.
async fn database(feed_url: &str, backed_up: bool) -> TestDatabase {
    let db = TestDatabase::new(Engine::Sqlite).await;
    let store = store::connect(&db.url, 2).await.unwrap();
    let now = chrono::Utc::now();
    server::demo::seed(store.as_ref(), now).await.unwrap();
    store.upsert_admin_user(OWNER_EMAIL, "hash", store::Role::Owner, now).await.unwrap();
    store.add_feed(1, feed_url, "airbnb", now).await.unwrap();
    if backed_up {
        let b = store::NewBackup {
            file: "/var/lib/posada/backups/posada-x.db".into(),
            bytes: 1,
            trigger: store::BackupTrigger::Daily,
            took_ms: 1,
        };
        store.record_backup(&b, now - chrono::Duration::hours(3)).await.unwrap();
    }
    store.close().await;
    db
}

/// The base URLs the providers' clients are pointed at.
struct Bases {
    graph: String,
    mp: String,
    stt: String,
}

impl Fakes {
    fn bases(&self) -> Bases {
        Bases { graph: self.graph.address.clone(), mp: self.mp.address.clone(), stt: self.stt.address.clone() }
    }
}

fn env(db: &TestDatabase, f: &Bases, mail: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("POSADA_DATABASE_URL", db.url.clone()),
        ("POSADA_JWT_SECRET", JWT_SECRET.into()),
        ("POSADA_PUBLIC_URL", "https://localhost:8443".into()),
        ("POSADA_WHATSAPP_VERIFY_TOKEN", "verify-token-long-enough-1234".into()),
        ("POSADA_WHATSAPP_APP_SECRET", "app-secret".into()),
        ("POSADA_WHATSAPP_ACCESS_TOKEN", WA_TOKEN.into()),
        ("POSADA_WHATSAPP_PHONE_NUMBER_ID", PHONE_ID.into()),
        ("POSADA_WHATSAPP_BUSINESS_ACCOUNT_ID", WABA_ID.into()),
        ("POSADA_WHATSAPP_API_BASE", f.graph.clone()),
        ("POSADA_PAYMENT_PROVIDER", "mercadopago".into()),
        ("POSADA_MERCADOPAGO_ACCESS_TOKEN", MP_TOKEN.into()),
        ("POSADA_MERCADOPAGO_WEBHOOK_SECRET", "mp-webhook-secret".into()),
        ("POSADA_MERCADOPAGO_API_BASE", f.mp.clone()),
        ("POSADA_STT_API_BASE", f.stt.clone()),
        ("POSADA_STT_API_KEY", STT_KEY.into()),
        ("POSADA_BACKUP_DIR", std::env::temp_dir().join("posada-doctor-backups").display().to_string()),
    ];
    env.extend(mail.iter().cloned());
    env
}

/// Runs `posada doctor --json` and `posada doctor`: (exit code, checks by id, text).
fn doctor(env: &[(&'static str, String)]) -> (i32, BTreeMap<String, Value>, Value, String) {
    let cwd = temp_dir("doctor");
    let run = |json: bool| {
        let mut cmd = posada_in(&cwd);
        cmd.envs(env.iter().map(|(k, v)| (*k, v.as_str()))).arg("doctor");
        if json {
            cmd.arg("--json");
        }
        cmd.output().unwrap()
    };
    let out = run(true);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!("{e}: {}\n{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
    });
    let checks = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    let text_out = run(false);
    assert_eq!(text_out.status.code(), out.status.code(), "the same verdict in both forms");
    let text = String::from_utf8(text_out.stdout).unwrap();
    let files: Vec<_> = std::fs::read_dir(&cwd).unwrap().collect();
    assert!(files.is_empty(), "doctor leaves nothing behind");
    std::fs::remove_dir_all(cwd).ok();
    (out.status.code().unwrap(), checks, report, text)
}

fn status(checks: &BTreeMap<String, Value>, id: &str) -> String {
    checks.get(id).map(|c| c["status"].as_str().unwrap().to_string()).unwrap_or_else(|| format!("no check {id}"))
}

fn feed() -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Airbnb Inc//Hosting Calendar 0.8.8//EN\r\nBEGIN:VEVENT\r\n\
         DTSTAMP:20261201T000000Z\r\nDTSTART;VALUE=DATE:{}\r\nDTEND;VALUE=DATE:{}\r\nUID:abc@airbnb.com\r\n\
         SUMMARY:Reserved\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        property_in_days(30).replace('-', ""),
        property_in_days(33).replace('-', "")
    )
}

fn approved(name: &str) -> Value {
    json!({"name": name, "status": "APPROVED", "language": "es_AR", "category": "UTILITY", "id": format!("1{}", name.len())})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_is_all_green_against_valid_fakes_and_prints_what_to_paste() {
    let Some(mail) = MailServers::start() else { return };
    let f = fakes().await;
    f.graph.respond_at(
        &format!("/v21.0/{PHONE_ID}"),
        Canned::json(
            200,
            json!({"display_phone_number": "+54 9 294 412-3456", "verified_name": "Cabañas del Lago",
                   "quality_rating": "GREEN", "code_verification_status": "VERIFIED", "id": PHONE_ID}),
        ),
    );
    f.graph.respond_at(
        &format!("/v21.0/{WABA_ID}/message_templates"),
        Canned::json(
            200,
            json!({"data": [approved("recordatorio_reserva"), approved("reserva_confirmada"), approved("alerta_posada"),
                            {"name": "otra", "status": "REJECTED", "language": "en_US"}],
                   "paging": {"cursors": {"before": "a", "after": "b"}}}),
        ),
    );
    f.mp.respond_at(
        "/users/me",
        Canned::json(200, json!({"id": 202593498, "nickname": "CABANASDELLAGO", "site_id": "MLA", "country_id": "AR"})),
    );
    f.stt.respond_at(
        "/v1/models",
        Canned::json(200, json!({"object": "list", "data": [{"id": "whisper-1", "object": "model"}]})),
    );
    f.ota.respond_at("/airbnb.ics", Canned::text(200, "text/calendar", &feed()));
    let db = database(&format!("{}/airbnb.ics", f.ota.address), true).await;
    meta_accounts(&f.graph);
    let mut env = env(&db, &f.bases(), &mail.env());
    env.extend(meta_vars(&f.graph.address).into_iter().map(|(k, v)| {
        (k, if k == "POSADA_MESSENGER_VERIFY_TOKEN" { "messenger-verify-token-long".into() } else { v })
    }));
    let (code, checks, report, text) = doctor(&env);
    let not_ok: Vec<_> = checks.values().filter(|c| c["status"] != "ok" && c["id"] != "btree_gist").collect();
    assert!(not_ok.is_empty(), "every check passes against the fakes: {not_ok:#?}\n{text}");
    assert_eq!((code, report["ok"].as_bool()), (0, Some(true)), "{text}");
    for id in [
        "config",
        "database",
        "disk",
        "backups",
        "owner",
        "public_url",
        "sandbox",
        "whatsapp_token",
        "whatsapp_webhook",
        "whatsapp_templates",
        "instagram_token",
        "instagram_webhook",
        "messenger_token",
        "messenger_webhook",
        "mercadopago_token",
        "mercadopago_webhook",
        "smtp",
        "imap",
        "stt",
        "ical",
        "clock",
    ] {
        assert_eq!(status(&checks, id), "ok", "{id}\n{text}");
    }
    assert_eq!(status(&checks, "btree_gist"), "skip");
    assert!(checks["whatsapp_token"]["detail"].as_str().unwrap().contains("+54 9 294 412-3456"), "{text}");
    assert!(checks["mercadopago_token"]["detail"].as_str().unwrap().contains("CABANASDELLAGO"), "{text}");
    assert!(checks["ical"]["detail"].as_str().unwrap().contains("Airbnb de Coihue (1 eventos)"), "{text}");
    // The real endpoints, with the configured credentials.
    let phone = f.graph.requests().into_iter().find(|r| r.path == format!("/v21.0/{PHONE_ID}")).unwrap();
    assert_eq!(phone.headers["authorization"], format!("Bearer {WA_TOKEN}"));
    let templates = f.graph.requests().into_iter().find(|r| r.path.ends_with("/message_templates")).unwrap();
    assert_eq!(templates.path, format!("/v21.0/{WABA_ID}/message_templates"));
    let me = f.mp.requests().into_iter().find(|r| r.path == "/users/me").unwrap();
    assert_eq!(me.headers["authorization"], format!("Bearer {MP_TOKEN}"));
    assert_eq!(f.stt.requests()[0].headers["authorization"], format!("Bearer {STT_KEY}"));
    // What to paste where, exactly.
    let store = store::open_existing(&db.url, 1).await.unwrap();
    let arrayan = store.get_unit_by_slug("arrayan").await.unwrap();
    store.close().await;
    let export = format!("https://localhost:8443/ical/arrayan/{}.ics", arrayan.ical_token);
    for line in [
        "✓ WhatsApp: token y número".to_string(),
        "Todo en orden: listo para salir en vivo.".into(),
        "URL de devolución de llamada: https://localhost:8443/api/v1/webhooks/whatsapp".into(),
        "Campo a suscribir: messages".into(),
        "URL: https://localhost:8443/api/v1/webhooks/mercadopago".into(),
        format!("Arrayán: {export}"),
        format!("importa: {}/airbnb.ics", f.ota.address),
    ] {
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }
    assert_eq!(report["paste"]["calendars"][1]["export_url"], export);
    assert!(text.contains("Meta, Instagram (developers.facebook.com → tu app → Instagram → Webhooks)"), "{text}");
    for secret in [WA_TOKEN, MP_TOKEN, STT_KEY, "mp-webhook-secret", "verify-token-long-enough-1234"] {
        assert!(!text.contains(secret) && !report.to_string().contains(secret), "{secret} printed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_every_invalid_credential_and_what_to_do() {
    let Some(mail) = MailServers::start() else { return };
    let f = fakes().await;
    // Meta's, Mercado Pago's and OpenAI's own answers to a bad token.
    f.graph.respond_always(Canned::json(
        401,
        json!({"error": {"message": "Invalid OAuth access token - Cannot parse access token", "type": "OAuthException", "code": 190, "fbtrace_id": "AbC123"}}),
    ));
    f.mp.respond_always(Canned::json(
        401,
        json!({"message": "invalid access token", "error": "unauthorized", "status": 401, "cause": []}),
    ));
    f.stt.respond_always(Canned::json(
        401,
        json!({"error": {"message": "Incorrect API key provided", "type": "invalid_request_error", "code": "invalid_api_key"}}),
    ));
    f.ota.respond_always(Canned::text(404, "text/html", "<html>Not found</html>"));
    let db = database(&format!("{}/airbnb.ics", f.ota.address), false).await;
    let mut mail_env = mail.env();
    for (k, v) in mail_env.iter_mut() {
        if *k == "POSADA_IMAP_PASSWORD" || *k == "POSADA_SMTP_PASSWORD" {
            *v = "wrong-password".into();
        }
    }
    let (code, checks, report, text) = doctor(&env(&db, &f.bases(), &mail_env));
    assert_eq!((code, report["ok"].as_bool()), (1, Some(false)), "{text}");
    let expect = [
        ("whatsapp_token", "Meta rechaza el token de acceso: Invalid OAuth access token", "token permanente"),
        ("whatsapp_templates", "Meta contestó 401", "whatsapp_business_management"),
        (
            "mercadopago_token",
            "Mercado Pago rechaza el access token: invalid access token",
            "Credenciales de producción",
        ),
        ("stt", "el servicio rechaza la clave (401)", "POSADA_STT_API_KEY"),
        ("smtp", "SMTP", "POSADA_SMTP_HOST"),
        ("imap", "IMAP login", "POSADA_IMAP_HOST"),
        ("ical", "Airbnb de Coihue: http_status — HTTP 404", "/admin/canales"),
        ("backups", "nunca se hizo una copia", "posada backup"),
    ];
    for (id, detail, fix) in expect {
        let c = &checks[id];
        assert_eq!(c["status"], "fail", "{id}: {c}\n{text}");
        assert!(c["detail"].as_str().unwrap().contains(detail), "{id}: {c}");
        assert!(c["fix"].as_str().unwrap().contains(fix), "{id}: {c}");
    }
    for id in ["config", "database", "public_url", "owner", "whatsapp_webhook", "mercadopago_webhook"] {
        assert_eq!(status(&checks, id), "ok", "{id}\n{text}");
    }
    assert!(text.contains("✗ WhatsApp: token y número") && text.contains("Hay 8 problema(s)"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_says_which_service_it_cannot_reach() {
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let nowhere = format!("http://127.0.0.1:{closed}");
    let f = Bases { graph: nowhere.clone(), mp: nowhere.clone(), stt: nowhere.clone() };
    let db = database(&format!("{nowhere}/airbnb.ics"), true).await;
    let mail = [
        ("POSADA_IMAP_HOST", "127.0.0.1".to_string()),
        ("POSADA_IMAP_PORT", closed.to_string()),
        ("POSADA_IMAP_TLS", "none".into()),
        ("POSADA_IMAP_USER", "reservas".into()),
        ("POSADA_IMAP_PASSWORD", "x".into()),
        ("POSADA_SMTP_HOST", "127.0.0.1".into()),
        ("POSADA_SMTP_PORT", closed.to_string()),
        ("POSADA_SMTP_TLS", "none".into()),
        ("POSADA_SMTP_USER", "reservas".into()),
        ("POSADA_SMTP_PASSWORD", "x".into()),
        ("POSADA_EMAIL_FROM", "reservas@posada.test".into()),
    ];
    let started = std::time::Instant::now();
    let (code, checks, _, text) = doctor(&env(&db, &f, &mail));
    assert_eq!(code, 1, "{text}");
    for id in ["whatsapp_token", "whatsapp_templates", "mercadopago_token", "stt"] {
        assert_eq!(status(&checks, id), "fail", "{id}\n{text}");
        assert!(checks[id]["detail"].as_str().unwrap().starts_with("no pude conectarme con 127.0.0.1"), "{id}: {text}");
    }
    for id in ["smtp", "imap", "ical"] {
        assert_eq!(status(&checks, id), "fail", "{id}\n{text}");
    }
    assert!(checks["ical"]["detail"].as_str().unwrap().contains("connect"), "{text}");
    assert_eq!(status(&checks, "clock"), "skip", "no answer to compare the clock with");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "refused connections fail fast");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_catches_a_foreign_number_unapproved_templates_sandbox_payments_and_plain_http() {
    let f = fakes().await;
    f.graph.respond_at(
        &format!("/v21.0/{PHONE_ID}"),
        Canned::json(
            400,
            json!({"error": {"message": format!("Unsupported get request. Object with ID '{PHONE_ID}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."), "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "x"}}),
        ),
    );
    f.graph.respond_at(
        &format!("/v21.0/{WABA_ID}/message_templates"),
        Canned::json(
            200,
            json!({"data": [approved("recordatorio_reserva"), {"name": "reserva_confirmada", "status": "PENDING", "language": "es_AR"}]}),
        ),
    );
    f.ota.respond_at("/airbnb.ics", Canned::text(200, "text/calendar", &feed()));
    let db = database(&format!("{}/airbnb.ics", f.ota.address), true).await;
    let mut env = env(&db, &f.bases(), &[]);
    env.retain(|(k, _)| {
        !k.starts_with("POSADA_STT") && !k.starts_with("POSADA_MERCADOPAGO") && *k != "POSADA_PAYMENT_PROVIDER"
    });
    env.extend([
        ("POSADA_PAYMENT_PROVIDER", "sandbox".to_string()),
        ("POSADA_PUBLIC_URL", "http://localhost:8080".into()),
    ]);
    let (code, checks, report, text) = doctor(&env);
    assert_eq!(code, 1);
    // No Instagram nor Messenger here: nothing to paste for them.
    assert!(report["paste"]["instagram_webhook"].is_null() && report["paste"]["messenger_webhook"].is_null());
    assert!(!text.contains("Meta, Instagram") && !text.contains("Meta, Messenger"), "{text}");
    assert!(checks["whatsapp_token"]["detail"].as_str().unwrap().contains("no pertenece a este token"), "{text}");
    assert!(checks["whatsapp_token"]["fix"].as_str().unwrap().contains("POSADA_WHATSAPP_PHONE_NUMBER_ID"), "{text}");
    let templates = checks["whatsapp_templates"]["detail"].as_str().unwrap();
    assert!(
        templates.contains("reserva_confirmada está en revisión")
            && templates.contains("alerta_posada (es_AR) no existe"),
        "{text}"
    );
    assert_eq!(status(&checks, "sandbox"), "fail", "{text}");
    assert!(checks["public_url"]["detail"].as_str().unwrap().contains("no es HTTPS"), "{text}");
    assert_eq!(status(&checks, "mercadopago"), "skip");
    assert_eq!(status(&checks, "stt"), "skip");
    assert_eq!(status(&checks, "email"), "skip");
}

const IG_ID: &str = "17841405822304914";
const PAGE_ID: &str = "134895793791914";
const META_TOKEN: &str = "EAAG-sentinel-page-token";

fn meta_env(db: &TestDatabase, graph: &str) -> Vec<(&'static str, String)> {
    let mut env = env(db, &Bases { graph: graph.into(), mp: graph.into(), stt: graph.into() }, &[]);
    env.retain(|(k, _)| !k.starts_with("POSADA_STT") && !k.starts_with("POSADA_WHATSAPP"));
    env.extend(meta_vars(graph));
    env
}

/// Both Meta channels configured against `graph`; Messenger's verify token is too short (a ⚠).
fn meta_vars(graph: &str) -> Vec<(&'static str, String)> {
    vec![
        ("POSADA_INSTAGRAM_VERIFY_TOKEN", "ig-verify-token-long-enough".to_string()),
        ("POSADA_INSTAGRAM_APP_SECRET", "ig-app-secret".into()),
        ("POSADA_INSTAGRAM_ACCESS_TOKEN", META_TOKEN.into()),
        ("POSADA_INSTAGRAM_ACCOUNT_ID", IG_ID.into()),
        ("POSADA_INSTAGRAM_API_BASE", graph.into()),
        ("POSADA_MESSENGER_VERIFY_TOKEN", "short".into()),
        ("POSADA_MESSENGER_APP_SECRET", "page-app-secret".into()),
        ("POSADA_MESSENGER_ACCESS_TOKEN", META_TOKEN.into()),
        ("POSADA_MESSENGER_PAGE_ID", PAGE_ID.into()),
        ("POSADA_MESSENGER_API_BASE", graph.into()),
    ]
}

fn meta_accounts(graph: &FakeUpstream) {
    graph.respond_at(
        &format!("/v21.0/{IG_ID}"),
        Canned::json(200, json!({"id": IG_ID, "username": "cabanasdellago", "name": "Cabañas del Lago"})),
    );
    graph.respond_at(
        &format!("/v21.0/{PAGE_ID}"),
        Canned::json(200, json!({"id": PAGE_ID, "name": "Cabañas del Lago"})),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_instagram_and_messenger_read_only_with_their_token() {
    let f = fakes().await;
    meta_accounts(&f.graph);
    f.ota.respond_at("/airbnb.ics", Canned::text(200, "text/calendar", &feed()));
    let db = database(&format!("{}/airbnb.ics", f.ota.address), true).await;
    let (_, checks, report, text) = doctor(&meta_env(&db, &f.graph.address));
    assert_eq!(status(&checks, "instagram_token"), "ok", "{text}");
    assert!(checks["instagram_token"]["detail"].as_str().unwrap().contains("@cabanasdellago"), "{text}");
    assert_eq!(status(&checks, "messenger_token"), "ok", "{text}");
    assert!(checks["messenger_token"]["detail"].as_str().unwrap().contains("Cabañas del Lago"), "{text}");
    assert_eq!(status(&checks, "instagram_webhook"), "ok", "{text}");
    assert!(
        checks["instagram_webhook"]["detail"]
            .as_str()
            .unwrap()
            .contains("https://localhost:8443/api/v1/webhooks/instagram"),
        "{text}"
    );
    assert_eq!(status(&checks, "messenger_webhook"), "warn", "a 5-character verify token: {text}");
    assert_eq!(status(&checks, "whatsapp"), "skip", "{text}");
    // What to paste into Meta's console for each configured channel, in the report and the text.
    assert_eq!(report["paste"]["instagram_webhook"], "https://localhost:8443/api/v1/webhooks/instagram");
    assert_eq!(report["paste"]["messenger_webhook"], "https://localhost:8443/api/v1/webhooks/messenger");
    for channel in ["instagram", "messenger"] {
        let url = format!("URL de devolución de llamada: https://localhost:8443/api/v1/webhooks/{channel}");
        assert!(text.contains(&url), "{channel} in the paste block: {text}");
    }
    assert!(text.contains("Token de verificación: el valor de POSADA_INSTAGRAM_VERIFY_TOKEN"), "{text}");
    // Read-only GETs of the accounts, with the configured token; nothing sent.
    let requests = f.graph.requests();
    assert!(requests.iter().all(|r| r.method == "GET"), "{requests:?}");
    let ig = requests.iter().find(|r| r.path == format!("/v21.0/{IG_ID}")).expect("Instagram probed");
    assert_eq!(ig.headers["authorization"], format!("Bearer {META_TOKEN}"));
    assert!(requests.iter().any(|r| r.path == format!("/v21.0/{PAGE_ID}")), "Messenger probed");
    for secret in [META_TOKEN, "ig-app-secret", "page-app-secret", "ig-verify-token-long-enough"] {
        assert!(!text.contains(secret) && !report.to_string().contains(secret), "{secret} printed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_a_bad_meta_token_a_foreign_page_and_a_plain_http_webhook() {
    let f = fakes().await;
    f.graph.respond_at(
        &format!("/v21.0/{IG_ID}"),
        Canned::json(
            400,
            json!({"error": {"message": "Error validating access token: Session has expired", "type": "OAuthException", "code": 190, "error_subcode": 463, "fbtrace_id": "x"}}),
        ),
    );
    f.graph.respond_at(
        &format!("/v21.0/{PAGE_ID}"),
        Canned::json(
            400,
            json!({"error": {"message": format!("Unsupported get request. Object with ID '{PAGE_ID}' does not exist"), "type": "GraphMethodException", "code": 100, "error_subcode": 33, "fbtrace_id": "x"}}),
        ),
    );
    f.ota.respond_at("/airbnb.ics", Canned::text(200, "text/calendar", &feed()));
    let db = database(&format!("{}/airbnb.ics", f.ota.address), true).await;
    let mut env = meta_env(&db, &f.graph.address);
    env.push(("POSADA_PUBLIC_URL", "http://localhost:8080".into()));
    let (code, checks, _, text) = doctor(&env);
    assert_eq!(code, 1, "{text}");
    let c = &checks["instagram_token"];
    assert_eq!(c["status"], "fail", "{text}");
    assert!(c["detail"].as_str().unwrap().contains("Meta rechaza el token de acceso: Error validating"), "{text}");
    assert!(c["fix"].as_str().unwrap().contains("POSADA_INSTAGRAM_ACCESS_TOKEN"), "{text}");
    let c = &checks["messenger_token"];
    assert_eq!(c["status"], "fail", "{text}");
    assert!(c["detail"].as_str().unwrap().contains("no pertenece a este token"), "{text}");
    assert!(c["fix"].as_str().unwrap().contains("POSADA_MESSENGER_PAGE_ID"), "{text}");
    for id in ["instagram_webhook", "messenger_webhook"] {
        assert_eq!(status(&checks, id), "fail", "{id}: {text}");
        assert!(checks[id]["detail"].as_str().unwrap().contains("no es HTTPS"), "{text}");
    }
    assert!(text.contains("✗ Instagram: token y cuenta") && text.contains("✗ Messenger: webhook"), "{text}");
}
