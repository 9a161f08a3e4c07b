//! The HTTP edge: routes, their documentation, and the layers around them.

pub mod admin;
pub mod chat;
pub mod extract;
pub mod health;
pub mod ical;
pub mod idempotency;
pub mod json;
pub mod middleware;
pub mod nlu;
pub mod openapi;
pub mod public;
pub mod ratelimit;
pub mod sandbox;
pub mod sandbox_pay;
pub mod webhooks;

use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, Method};
use axum::routing::{MethodRouter, delete, get, post, put};
use tower_http::cors::{AllowOrigin, CorsLayer};

/// One documented route: the router and `/api/v1/openapi.json` are built from the same list,
/// so a route cannot exist without its documentation.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RouteDoc {
    pub method: &'static str,
    pub path: &'static str,
    pub summary: &'static str,
    pub tag: &'static str,
    pub auth: bool,
}

pub struct Api {
    router: Router<AppState>,
    pub docs: Vec<RouteDoc>,
}

impl Api {
    pub(crate) fn new() -> Api {
        Api { router: Router::new(), docs: Vec::new() }
    }

    pub(crate) fn add(
        mut self,
        method: &'static str,
        path: &'static str,
        route: MethodRouter<AppState>,
        tag: &'static str,
        auth: bool,
        summary: &'static str,
    ) -> Api {
        self.router = self.router.route(path, route);
        self.docs.push(RouteDoc { method, path, summary, tag, auth });
        self
    }
}

/// Every route of the service.
pub fn api() -> Api {
    let api = Api::new()
        .add("GET", "/", get(public::root), "meta", false, "Service name and version")
        .add("GET", "/api/v1/readyz", get(health::readyz), "meta", false, "Readiness (no I/O)")
        .add("GET", "/api/v1/healthz", get(health::healthz), "meta", false, "Deep health: database, job queue")
        .add(
            "GET",
            "/metrics",
            get(health::metrics_main),
            "meta",
            true,
            "Prometheus metrics (bearer POSADA_METRICS_TOKEN)",
        )
        .add("GET", "/api/v1/openapi.json", get(openapi::spec), "meta", false, "This API description")
        .add("GET", "/api/v1/accommodations", get(public::accommodations), "public", false, "Active cabins")
        .add("GET", "/fotos/demo/{name}", get(public::demo_photo), "public", false, "The demo cabins' photos (SVG)")
        .add(
            "GET",
            "/api/v1/reservations/accommodations",
            get(public::accommodations),
            "public",
            false,
            "Active cabins (original path)",
        )
        .add(
            "GET",
            "/api/v1/availability",
            get(public::availability),
            "public",
            false,
            "Availability and quotes for a stay",
        )
        .add("POST", "/api/v1/reservations/pre-reserve", post(public::pre_reserve), "public", false, "Place a hold")
        .add(
            "GET",
            "/api/v1/reservations/{code}",
            get(public::reservation),
            "public",
            false,
            "A reservation, without guest data",
        )
        .add("POST", "/api/v1/reservations/{code}/confirm", post(public::confirm), "admin", true, "Confirm a hold")
        .add("POST", "/api/v1/reservations/{code}/cancel", post(public::cancel), "admin", true, "Cancel a reservation")
        .add("POST", "/api/v1/nlu/analyze", post(nlu::analyze), "public", false, "Understand one guest message")
        .add(
            "GET",
            "/api/v1/webhooks/whatsapp",
            get(webhooks::whatsapp_verify),
            "webhooks",
            false,
            "WhatsApp verification handshake",
        )
        .add(
            "POST",
            "/api/v1/webhooks/whatsapp",
            post(webhooks::whatsapp_receive),
            "webhooks",
            false,
            "WhatsApp messages and statuses (signed)",
        )
        .add(
            "GET",
            "/api/v1/webhooks/instagram",
            get(webhooks::instagram_verify),
            "webhooks",
            false,
            "Instagram verification handshake",
        )
        .add(
            "POST",
            "/api/v1/webhooks/instagram",
            post(webhooks::instagram_receive),
            "webhooks",
            false,
            "Instagram Direct messages (signed)",
        )
        .add(
            "GET",
            "/api/v1/webhooks/messenger",
            get(webhooks::messenger_verify),
            "webhooks",
            false,
            "Messenger verification handshake",
        )
        .add(
            "POST",
            "/api/v1/webhooks/messenger",
            post(webhooks::messenger_receive),
            "webhooks",
            false,
            "Messenger messages (signed)",
        )
        .add(
            "POST",
            "/api/v1/webhooks/mercadopago",
            post(webhooks::mercadopago_receive),
            "webhooks",
            false,
            "Mercado Pago notifications (signed)",
        )
        .add(
            "POST",
            "/api/v1/mercadopago/webhook",
            post(webhooks::mercadopago_receive),
            "webhooks",
            false,
            "Mercado Pago notifications (original path)",
        )
        .add(
            "GET",
            "/pago/{result}",
            get(sandbox_pay::payment_return),
            "public",
            false,
            "Where the checkout sends the guest back",
        )
        .add(
            "GET",
            "/sandbox/pay/{preference}",
            get(sandbox_pay::checkout),
            "sandbox",
            false,
            "Sandbox checkout: Pagar / Rechazar",
        )
        .add(
            "POST",
            "/sandbox/pay/{preference}/{action}",
            post(sandbox_pay::decide),
            "sandbox",
            false,
            "Sandbox checkout: approve or reject",
        )
        .add(
            "POST",
            "/sandbox/mp/checkout/preferences",
            post(sandbox_pay::create_preference),
            "sandbox",
            false,
            "Sandbox fake of Mercado Pago: preferences",
        )
        .add(
            "GET",
            "/sandbox/mp/v1/payments/{id}",
            get(sandbox_pay::get_payment),
            "sandbox",
            false,
            "Sandbox fake of Mercado Pago: payments",
        )
        .add(
            "POST",
            "/sandbox/mp/v1/payments/{id}/refunds",
            post(sandbox_pay::refund),
            "sandbox",
            false,
            "Sandbox fake of Mercado Pago: refunds",
        )
        .add("GET", "/sandbox/chat", get(sandbox::page), "sandbox", false, "Chat with the bot as a guest (demo)")
        .add("POST", "/sandbox/api/messages", post(sandbox::send), "sandbox", false, "Sandbox: send a guest message")
        .add(
            "GET",
            "/sandbox/api/messages",
            get(sandbox::messages),
            "sandbox",
            false,
            "Sandbox: the conversation so far",
        )
        .add("GET", "/api/v1/admin/contacts", get(chat::contacts), "chat", true, "Conversations, hand-offs first")
        .add("GET", "/api/v1/admin/handoffs", get(chat::handoffs), "chat", true, "Chats waiting for a person")
        .add(
            "GET",
            "/api/v1/admin/contacts/{id}/messages",
            get(chat::thread),
            "chat",
            true,
            "A conversation as the guest saw it",
        )
        .add("POST", "/api/v1/admin/contacts/{id}/reply", post(chat::reply), "chat", true, "Answer as the owner")
        .add(
            "POST",
            "/api/v1/admin/contacts/{id}/release",
            post(chat::release),
            "chat",
            true,
            "Hand the chat back to the bot",
        )
        .add("POST", "/api/v1/admin/login", post(admin::login), "admin", false, "Log in: e-mail and password → token")
        .add(
            "GET",
            "/api/v1/admin/reservations",
            get(admin::list_reservations),
            "admin",
            true,
            "Reservations with filters",
        )
        .add(
            "POST",
            "/api/v1/admin/reservations",
            post(admin::create_reservation),
            "admin",
            true,
            "Owner block or manual booking",
        )
        .add(
            "GET",
            "/api/v1/admin/reservations/{code}",
            get(admin::reservation),
            "admin",
            true,
            "A reservation with guest data and audit",
        )
        .add(
            "POST",
            "/api/v1/admin/reservations/{code}/change",
            post(admin::change_reservation),
            "admin",
            true,
            "Move a reservation to other dates or cabin",
        )
        .add(
            "POST",
            "/api/v1/admin/reservations/{code}/flags",
            post(admin::set_flag),
            "admin",
            true,
            "Set or clear an attention flag",
        )
        .add("GET", "/api/v1/admin/accommodations", get(admin::list_units), "admin", true, "All cabins, inactive too")
        .add("POST", "/api/v1/admin/accommodations", post(admin::create_unit), "admin", true, "Create a cabin")
        .add("GET", "/api/v1/admin/accommodations/{id}", get(admin::get_unit), "admin", true, "One cabin")
        .add("PUT", "/api/v1/admin/accommodations/{id}", put(admin::update_unit), "admin", true, "Update a cabin")
        .add(
            "DELETE",
            "/api/v1/admin/accommodations/{id}",
            delete(admin::deactivate_unit),
            "admin",
            true,
            "Deactivate a cabin",
        )
        .add("GET", "/api/v1/admin/rate-rules", get(admin::list_rules), "admin", true, "Seasons and holiday prices")
        .add("POST", "/api/v1/admin/rate-rules", post(admin::create_rule), "admin", true, "Create a rate rule")
        .add("PUT", "/api/v1/admin/rate-rules/{id}", put(admin::update_rule), "admin", true, "Update a rate rule")
        .add("DELETE", "/api/v1/admin/rate-rules/{id}", delete(admin::delete_rule), "admin", true, "Delete a rate rule")
        .add(
            "GET",
            "/api/v1/ical/export/{id}/{token}",
            get(ical::export_by_id),
            "ical",
            false,
            "A cabin's calendar (iCal)",
        )
        .add(
            "GET",
            "/ical/{slug}/{file}",
            get(ical::export_by_slug),
            "ical",
            false,
            "A cabin's calendar: /ical/{slug}/{token}.ics",
        )
        .add(
            "GET",
            "/api/v1/admin/accommodations/{id}/ical",
            get(ical::unit_ical),
            "ical",
            true,
            "Export URL and imported feeds",
        )
        .add(
            "POST",
            "/api/v1/admin/accommodations/{id}/ical-feeds",
            post(ical::add_feed),
            "ical",
            true,
            "Import a feed",
        )
        .add(
            "DELETE",
            "/api/v1/admin/accommodations/{id}/ical-feeds/{feed_id}",
            delete(ical::delete_feed),
            "ical",
            true,
            "Stop importing a feed",
        )
        .add(
            "POST",
            "/api/v1/admin/accommodations/{id}/ical/rotate-token",
            post(ical::rotate_token),
            "ical",
            true,
            "New export URL (the old one stops working)",
        )
        .add("POST", "/api/v1/admin/ical/sync", post(ical::sync_now), "ical", true, "Fetch every feed now")
        .add(
            "GET",
            "/api/v1/admin/ical/conflicts",
            get(ical::conflicts),
            "ical",
            true,
            "Double bookings found in feeds",
        )
        .add(
            "GET",
            "/api/v1/admin/calendar/availability",
            get(admin::calendar),
            "admin",
            true,
            "A month of reservations and occupancy",
        );
    crate::admin_ui::register(api)
}

pub fn router(state: AppState) -> Router {
    let cors = cors_layer(&state.config.cors_origins);
    api()
        .router
        .fallback(public::not_found)
        .layer(axum::middleware::from_fn(middleware::detach))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::sandbox_gate))
        .layer(axum::middleware::from_fn(middleware::input_guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), middleware::rate_limit))
        .layer(DefaultBodyLimit::max(middleware::MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(middleware::body_limit))
        .layer(cors)
        .layer(axum::middleware::from_fn(middleware::request_context))
        .with_state(state)
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allowed: Vec<HeaderValue> = origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(allowed))
        .allow_methods([Method::GET, Method::POST, Method::PUT, Method::DELETE])
        .allow_headers([
            axum::http::header::AUTHORIZATION,
            axum::http::header::CONTENT_TYPE,
            axum::http::HeaderName::from_static("idempotency-key"),
            axum::http::HeaderName::from_static("x-request-id"),
        ])
}
