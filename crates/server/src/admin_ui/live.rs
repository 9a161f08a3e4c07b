//! Live updates: `/admin/events` is a Server-Sent Events stream. One poller per instance reads
//! the audit log every 2 seconds (every reservation state change writes a row there, whichever
//! instance made it), turns new rows into events and broadcasts them to this instance's open
//! pages. The same poll reads the most recently changed chats (one small query): a guest's new
//! message, a hand-off and any other change of a chat (a reply sent, a status tick) become
//! events too. Polling the shared database works the same on SQLite and PostgreSQL and across
//! instances; no proxy buffering (`X-Accel-Buffering: no`, `Cache-Control: no-cache`).

use super::session::Session;
use crate::state::AppState;
use axum::extract::State;
use axum::http::HeaderValue;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use futures_util::StreamExt;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use store::{AuditEntry, Contact};
use tokio::sync::broadcast;

pub const POLL_EVERY: Duration = Duration::from_secs(2);

/// One change worth telling open pages about.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct LiveEvent {
    pub id: i64,
    /// `hold`, `confirmed`, `cancelled`, `expired`, `block`, `booking`, `changed`, `conflict`, `flag`,
    /// `handoff`, `message`, `chat`, `other`.
    pub kind: &'static str,
    /// Shown as a toast; empty for a quiet refresh.
    pub message: String,
    pub code: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact: Option<i64>,
}

/// How many recently changed chats each poll reads.
const CHATS_PER_POLL: i64 = 100;

type ChatMark = (DateTime<Utc>, Option<DateTime<Utc>>, bool);

/// What changed in the chats since the last poll: hand-offs, new guest messages, other changes.
#[derive(Default)]
struct ChatWatch {
    seen: HashMap<i64, ChatMark>,
    watermark: Option<DateTime<Utc>>,
}

impl ChatWatch {
    fn mark(c: &Contact) -> ChatMark {
        (c.updated_at, c.last_inbound_at, c.handed_off)
    }

    /// Remembers the chats; with `report`, returns the events for what changed.
    fn update(&mut self, contacts: &[Contact], report: bool) -> Vec<LiveEvent> {
        let mut out = Vec::new();
        for c in contacts {
            let now = Self::mark(c);
            let before = match self.seen.get(&c.id) {
                Some(prev) if *prev == now => continue,
                Some(prev) => Some(*prev),
                // Unseen: new if it changed after the last poll (not just back in the list).
                None if self.watermark.is_some_and(|w| c.updated_at > w) => Some((c.updated_at, None, false)),
                None => None,
            };
            self.seen.insert(c.id, now);
            let (Some((_, inbound_before, handed_before)), true) = (before, report) else { continue };
            let name = if c.name.trim().is_empty() { c.address.clone() } else { c.name.clone() };
            let (kind, message) = if c.handed_off && !handed_before {
                ("handoff", format!("{name} pide hablar con una persona"))
            } else if c.last_inbound_at > inbound_before {
                ("message", format!("Nuevo mensaje de {name}"))
            } else {
                ("chat", String::new())
            };
            out.push(LiveEvent { id: 0, kind, message, code: None, contact: Some(c.id) });
        }
        for c in contacts {
            self.watermark = self.watermark.max(Some(c.updated_at));
        }
        out
    }
}

pub struct Live {
    tx: broadcast::Sender<LiveEvent>,
    polling: AtomicBool,
}

impl Default for Live {
    fn default() -> Live {
        Live { tx: broadcast::channel(256).0, polling: AtomicBool::new(false) }
    }
}

impl Live {
    /// Subscribes and makes sure this instance's poller runs.
    pub fn subscribe(&self, s: &AppState) -> broadcast::Receiver<LiveEvent> {
        let rx = self.tx.subscribe();
        if !self.polling.swap(true, Ordering::SeqCst) {
            tokio::spawn(poll(s.clone()));
        }
        rx
    }
}

/// Runs while somebody listens; stops (and can be started again) when the last page closes.
async fn poll(s: AppState) {
    let live = &s.ui.live;
    let mut last = match s.store.latest_audit_id().await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "live updates: cannot read the audit log");
            live.polling.store(false, Ordering::SeqCst);
            return;
        }
    };
    let mut names: HashMap<i64, String> = HashMap::new();
    let mut chats = ChatWatch { watermark: Some(s.clock.now()), ..Default::default() };
    if let Ok(list) = s.store.list_contacts(CHATS_PER_POLL).await {
        chats.update(&list, false);
    }
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        if live.tx.receiver_count() == 0 {
            live.polling.store(false, Ordering::SeqCst);
            // A page may have subscribed between the check and the store: keep serving it.
            if live.tx.receiver_count() == 0 || live.polling.swap(true, Ordering::SeqCst) {
                return;
            }
        }
        let entries = match s.store.audit_after(last, 200).await {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!(error = %e, "live updates: audit poll failed");
                continue;
            }
        };
        for entry in entries {
            last = last.max(entry.id);
            if let Some(ev) = describe(&s, &entry, &mut names).await {
                let _ = live.tx.send(ev);
            }
        }
        match s.store.list_contacts(CHATS_PER_POLL).await {
            Ok(list) => {
                for ev in chats.update(&list, true) {
                    let _ = live.tx.send(ev);
                }
            }
            Err(e) => tracing::warn!(error = %e, "live updates: chat poll failed"),
        }
    }
}

async fn describe(s: &AppState, a: &AuditEntry, names: &mut HashMap<i64, String>) -> Option<LiveEvent> {
    let status = |v: &Option<serde_json::Value>| {
        v.as_ref().and_then(|v| v.get("status")).and_then(|s| s.as_str()).map(String::from)
    };
    let (code, unit_id) = match a.reservation_id {
        Some(id) => match s.store.get_reservation_by_id(id).await {
            Ok(r) => (Some(r.code), Some(r.unit_id)),
            Err(_) => (None, None),
        },
        None => (None, None),
    };
    let unit = match unit_id {
        Some(id) => {
            if !names.contains_key(&id)
                && let Ok(u) = s.store.get_unit(id).await
            {
                names.insert(id, u.name);
            }
            names.get(&id).cloned().unwrap_or_default()
        }
        None => String::new(),
    };
    let c = code.clone().unwrap_or_default();
    let (kind, message) = match (a.action.as_str(), status(&a.after).as_deref()) {
        ("created", Some("pre_reserved")) => ("hold", format!("Nueva pre-reserva {c} en {unit}")),
        ("created", Some("blocked")) => ("block", format!("Nuevo bloqueo {c} en {unit}")),
        ("created", _) => ("booking", format!("Nueva reserva {c} en {unit}")),
        ("confirmed", _) => ("confirmed", format!("Reserva {c} confirmada ({unit})")),
        ("cancelled", _) => ("cancelled", format!("Reserva {c} cancelada ({unit})")),
        ("expired", _) => ("expired", format!("La pre-reserva {c} venció ({unit})")),
        ("stay_changed", _) => ("changed", format!("La reserva {c} cambió de fechas o cabaña")),
        ("flag_set", _) if a.actor == "ical" => {
            ("conflict", format!("Conflicto: otro canal ocupó noches de la reserva {c} ({unit})"))
        }
        ("flag_set" | "flag_cleared", _) => ("flag", format!("Cambió una marca de la reserva {c}")),
        ("chat_reply", _) => ("chat", format!("{} respondió un chat", a.actor)),
        ("chat_taken", _) => ("chat", format!("{} tomó un chat", a.actor)),
        ("chat_released", _) => ("chat", format!("{} le devolvió un chat al bot", a.actor)),
        ("guest_notified", _) => ("chat", format!("Se le avisó al huésped de la reserva {c}")),
        ("payment_link_resent" | "payment_link_requested", _) => {
            ("other", format!("Link de pago de la reserva {c} en camino"))
        }
        _ => ("other", "Hubo cambios en el panel.".to_string()),
    };
    Some(LiveEvent { id: a.id, kind, message, code, contact: None })
}

/// GET /admin/events
pub async fn events(State(s): State<AppState>, _session: Session) -> Response {
    let rx = s.ui.live.subscribe(&s);
    let stopping = s.stopping.clone();
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(ev) => {
                    let data = serde_json::to_string(&ev).unwrap_or_else(|_| "{}".into());
                    let mut event = Event::default().event("cambio").data(data);
                    if ev.id > 0 {
                        event = event.id(ev.id.to_string());
                    }
                    return Some((Ok::<_, std::convert::Infallible>(event), rx));
                }
                // Fell behind: skip what was lost, the page refreshes anyway.
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
    // Shutdown ends the stream (the browser reconnects to whichever instance is up), so an open
    // page never holds a stopping server.
    .take_until(async move { stopping.wait().await });
    let mut r = Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))).into_response();
    let h = r.headers_mut();
    h.insert("cache-control", HeaderValue::from_static("no-cache"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}
