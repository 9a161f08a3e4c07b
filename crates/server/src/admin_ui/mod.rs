//! The owner's dashboard under `/admin`: server-rendered HTML in Spanish, plain forms that work
//! without JavaScript, and a few lines of vanilla JS for calendar selection, live updates (SSE)
//! and copying. Every change goes through [`crate::booking::Booking`] or the store's audited
//! methods with the logged-in user's e-mail as the actor.

pub mod calendar;
pub mod channels;
pub mod conversations;
pub mod home;
pub mod html;
pub mod live;
pub mod messages;
pub mod property;
pub mod reservations;
pub mod session;
pub mod stats;
pub mod units;

use crate::http::Api;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use html::{Nav, e};

/// Dashboard state shared by every request of this instance.
#[derive(Default)]
pub struct UiState {
    pub live: live::Live,
}

const CSP: &str = "default-src 'self'; img-src 'self' https: data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// An HTML page response: no caching, a strict content security policy.
pub fn page(body: String) -> Response {
    let mut r = ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], body).into_response();
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    r
}

/// Why a dashboard request did not get its page.
#[derive(Debug)]
pub enum UiError {
    /// Not logged in (or the session ended): go to this login URL.
    Login(String),
    Csrf,
    Forbidden,
    NotFound,
    /// Input no form of ours sends (a control character): 422 with the reason.
    BadInput(String),
    /// The database cannot answer right now (restarting, saturated, disk full): 503, retry later.
    Unavailable,
    Internal,
}

impl UiError {
    pub fn internal(cause: impl std::fmt::Display) -> UiError {
        tracing::error!(error = %cause, "dashboard error");
        UiError::Internal
    }
}

impl From<store::StoreError> for UiError {
    fn from(e: store::StoreError) -> UiError {
        match e {
            store::StoreError::NotFound => UiError::NotFound,
            store::StoreError::Invalid(_) => UiError::BadInput(
                "El texto tiene caracteres que no se pueden guardar (por ejemplo un byte nulo).".into(),
            ),
            other => match other.unavailable() {
                Some(why) => {
                    crate::error::note_unavailable(why, &other);
                    UiError::Unavailable
                }
                None => UiError::internal(other),
            },
        }
    }
}

pub type UiResult<T> = Result<T, UiError>;

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let (status, title, text) = match self {
            UiError::Login(to) => return Redirect::to(&to).into_response(),
            UiError::Csrf => (
                StatusCode::FORBIDDEN,
                "Formulario vencido",
                "El formulario venció o no vino de este panel. Volvé atrás, recargá la página y probá de nuevo.",
            ),
            UiError::Forbidden => {
                (StatusCode::FORBIDDEN, "Sin permiso", "Esta sección es solo para el dueño de la cuenta.")
            }
            UiError::NotFound => (StatusCode::NOT_FOUND, "No existe", "No encontramos lo que buscabas."),
            UiError::BadInput(text) => {
                let body = format!(
                    r#"<section class="card"><h1>Datos inválidos</h1><p>{}</p><p><a href="/admin">Volver al inicio</a></p></section>"#,
                    e(&text)
                );
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    page(html::layout(None, Nav::None, "Datos inválidos", None, &body)),
                )
                    .into_response();
            }
            UiError::Unavailable => {
                let body = r#"<section class="card"><h1>Un momento</h1><p>La base de datos no responde en este momento; no se guardó ningún cambio. Probá de nuevo en unos segundos.</p><p><a href="/admin">Volver al inicio</a></p></section>"#;
                let mut r =
                    (StatusCode::SERVICE_UNAVAILABLE, page(html::layout(None, Nav::None, "Un momento", None, body)))
                        .into_response();
                r.headers_mut().insert(axum::http::header::RETRY_AFTER, axum::http::HeaderValue::from_static("5"));
                return r;
            }
            UiError::Internal => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "Error",
                "Ocurrió un error interno. Probá de nuevo en unos segundos.",
            ),
        };
        let body = format!(
            r#"<section class="card"><h1>{}</h1><p>{}</p><p><a href="/admin">Volver al inicio</a></p></section>"#,
            e(title),
            e(text)
        );
        (status, page(html::layout(None, Nav::None, title, None, &body))).into_response()
    }
}

/// After a successful POST: back to a page with a fixed notice.
pub fn done(to: &str, ok: &str) -> Response {
    let (path, fragment) = match to.split_once('#') {
        Some((p, f)) => (p, format!("#{f}")),
        None => (to, String::new()),
    };
    let sep = if path.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{path}{sep}ok={ok}{fragment}")).into_response()
}

async fn css() -> Response {
    static_file("text/css; charset=utf-8", include_str!("assets/app.css"))
}

async fn js() -> Response {
    static_file("text/javascript; charset=utf-8", include_str!("assets/app.js"))
}

fn static_file(content_type: &'static str, body: &'static str) -> Response {
    let mut r = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=300"));
    r
}

/// The dashboard's routes, documented like every other route (tag `dashboard`).
pub fn register(api: Api) -> Api {
    const T: &str = "dashboard";
    api.add("GET", "/admin/static/app.css", get(css), T, false, "Dashboard stylesheet")
        .add("GET", "/admin/static/app.js", get(js), T, false, "Dashboard script (SSE, calendar selection)")
        .add("GET", "/admin/login", get(session::login_form), T, false, "Dashboard login page")
        .add("POST", "/admin/login", post(session::login), T, false, "Dashboard login (form; sets the session cookie)")
        .add("POST", "/admin/logout", post(session::logout), T, true, "Dashboard logout")
        .add("GET", "/admin", get(home::home), T, true, "Hoy: arrivals, departures, expiring holds, flags")
        .add("GET", "/admin/calendario", get(calendar::calendar), T, true, "Cabins × days calendar")
        .add("POST", "/admin/calendario/nueva", post(calendar::create), T, true, "Owner block or manual booking")
        .add("GET", "/admin/reservas", get(reservations::list), T, true, "Reservations with filters")
        .add("GET", "/admin/reservas.csv", get(reservations::csv), T, true, "Reservations as CSV")
        .add("GET", "/admin/reservas/{code}", get(reservations::detail), T, true, "One reservation")
        .add("POST", "/admin/reservas/{code}/confirmar", post(reservations::confirm), T, true, "Confirm by hand")
        .add("POST", "/admin/reservas/{code}/cancelar", post(reservations::cancel), T, true, "Cancel with a reason")
        .add("POST", "/admin/reservas/{code}/cambiar", post(reservations::change), T, true, "Change dates or cabin")
        .add("POST", "/admin/reservas/{code}/marca", post(reservations::clear_flag), T, true, "Clear a flag")
        .add(
            "POST",
            "/admin/reservas/{code}/saldo",
            post(reservations::balance_paid),
            T,
            true,
            "Record the balance as paid",
        )
        .add(
            "POST",
            "/admin/reservas/{code}/devolucion",
            post(reservations::refund),
            T,
            true,
            "Approve or decline a cancellation's refund",
        )
        .add("POST", "/admin/reservas/{code}/link", post(reservations::resend_link), T, true, "Resend the payment link")
        .add(
            "POST",
            "/admin/reservas/{code}/link-saldo",
            post(reservations::send_balance_link),
            T,
            true,
            "Create (or reuse) the balance link and send it to the guest",
        )
        .add(
            "POST",
            "/admin/reservas/{code}/mensajes/{id}/enviar",
            post(messages::send_now),
            T,
            true,
            "Send one of the stay's automatic messages now",
        )
        .add(
            "POST",
            "/admin/reservas/{code}/mensajes/{id}/saltear",
            post(messages::skip),
            T,
            true,
            "Skip one of the stay's automatic messages",
        )
        .add("GET", "/admin/conversaciones", get(conversations::list), T, true, "Chats: hand-offs first, then recent")
        .add("GET", "/admin/conversaciones/{id}", get(conversations::thread), T, true, "A chat as the guest saw it")
        .add(
            "POST",
            "/admin/conversaciones/{id}/responder",
            post(conversations::reply),
            T,
            true,
            "Answer a chat (through the outbox)",
        )
        .add("POST", "/admin/conversaciones/{id}/tomar", post(conversations::take_over), T, true, "Take over a chat")
        .add("POST", "/admin/conversaciones/{id}/devolver", post(conversations::release), T, true, "Back to the bot")
        .add("GET", "/admin/cabanas", get(units::list), T, true, "Cabins and rate rules (owner)")
        .add("GET", "/admin/cabanas/nueva", get(units::new_form), T, true, "New cabin form (owner)")
        .add("POST", "/admin/cabanas/nueva", post(units::create), T, true, "Create a cabin (owner)")
        .add("GET", "/admin/cabanas/{id}", get(units::edit), T, true, "Edit a cabin, 60-night price preview")
        .add("POST", "/admin/cabanas/{id}", post(units::update), T, true, "Save a cabin (owner)")
        .add(
            "POST",
            "/admin/cabanas/{id}/llegada",
            post(messages::save_unit),
            T,
            true,
            "Save a cabin's check-in details: key, wifi, directions (owner)",
        )
        .add("POST", "/admin/precios/reglas", post(units::create_rule), T, true, "Create a rate rule (owner)")
        .add("POST", "/admin/precios/reglas/{id}", post(units::update_rule), T, true, "Save a rate rule (owner)")
        .add("POST", "/admin/precios/reglas/{id}/borrar", post(units::delete_rule), T, true, "Delete a rate rule")
        .add("GET", "/admin/alojamiento", get(property::show), T, true, "Tu alojamiento: what the bot tells guests")
        .add("POST", "/admin/alojamiento", post(property::save), T, true, "Save the property settings (owner)")
        .add("GET", "/admin/mensajes", get(messages::show), T, true, "Mensajes automáticos: texts, times, preview")
        .add("POST", "/admin/mensajes", post(messages::save), T, true, "Preview or save the automatic messages (owner)")
        .add("GET", "/admin/canales", get(channels::index), T, true, "iCal export, imported feeds, conflicts")
        .add("POST", "/admin/canales/sincronizar", post(channels::sync), T, true, "Fetch every feed now (owner)")
        .add("POST", "/admin/canales/{id}/rotar", post(channels::rotate), T, true, "New export URL (owner)")
        .add("POST", "/admin/canales/{id}/feeds", post(channels::add_feed), T, true, "Import a feed (owner)")
        .add(
            "POST",
            "/admin/canales/{id}/feeds/{feed_id}/borrar",
            post(channels::delete_feed),
            T,
            true,
            "Stop importing a feed (owner)",
        )
        .add("GET", "/admin/estadisticas", get(stats::index), T, true, "Occupancy, revenue, channel mix")
        .add("GET", "/admin/events", get(live::events), T, true, "Server-Sent Events: live changes")
}
