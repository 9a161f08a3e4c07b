//! The guest conversation on every channel: the inbox worker turns a stored provider event into
//! one transaction (dialogue state, reservation changes through the booking service, outbox
//! rows), and the outbox sends each reply in order with retries and a breaker.
//!
//! Exactly-once: an event's turn commits only if the event was still unprocessed, so a crash
//! before the commit means the event is processed again (holds carry the event's key and are
//! found, not placed twice); a crash after it finds the event processed. A crash between the
//! Graph API accepting a send and our recording it can repeat that one message: the API has no
//! idempotency key.

pub mod email;
pub mod render;
mod stay;

use crate::booking::{Booking, BookingError, HoldRequest, Unavailability};
use crate::channels::SendError;
use crate::channels::adapter::{
    Adapter, Adapters, Audio, Identity, Inbound as Message, Outgoing, Recipient, SendContext, SendFailure,
};
use crate::channels::stt::Stt;
use crate::channels::whatsapp::{WhatsApp, WhatsAppAdapter};
use crate::clock::Clock;
use crate::config::Config;
use crate::jobs::Outcome;
use crate::metrics as m;
use chrono::{DateTime, Duration, Utc};
use conversation::{
    Alternative, AvailabilityResult, BookingInfo, Context, Effect, Event, HoldFailure, MessageKind, Reply, State,
    Unavailable, UnitInfo, UnitOption,
};
use domain::{MessageStatus, ReservationStatus, Stay};
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::sync::Arc;
use store::{Contact, InboundEvent, NewJob, NewMessage, Reservation, ReservationFilter, Store, StoreError, Turn};

pub const PROCESS_INBOUND: &str = "process_inbound";
pub const SEND_MESSAGE: &str = "send_message";
pub const HOLD_REMINDER: &str = "hold_reminder";
pub const HOLD_EXPIRED: &str = "hold_expired_notice";

/// How long the outbox keeps trying one message.
const GIVE_UP_AFTER_HOURS: i64 = 24;

#[derive(Clone)]
pub struct Chat {
    store: Arc<dyn Store>,
    booking: Booking,
    config: Arc<Config>,
    clock: Clock,
    /// One adapter per channel (each owns its wire format); see [`Chat::adapter`].
    pub adapters: Adapters,
    pub stt: Option<Stt>,
}

/// What a run of the engine produced, before it is written.
#[derive(Default)]
struct Driven {
    state: State,
    replies: Vec<Reply>,
    alerts: Vec<String>,
    quotes: Vec<(i64, Stay, domain::Money)>,
    handoff: bool,
    holds: Vec<BookingInfo>,
}

/// What a guest's message is, as the engine reads it and as we store it.
struct Inbound {
    text: String,
    kind: MessageKind,
    record: NewMessage,
}

impl Chat {
    pub fn new(store: Arc<dyn Store>, booking: Booking, config: Arc<Config>, clock: Clock) -> Chat {
        let mailer = config.email.as_ref().and_then(|e| {
            let sender =
                crate::channels::email::channel::Sender { address: e.from_address.clone(), name: e.from_name.clone() };
            crate::channels::email::Mailer::new(&e.smtp, &e.from_address)
                .map_err(|err| tracing::error!(error = %err, "e-mail sending is off: bad SMTP settings"))
                .ok()
                .map(|m| (m, sender))
        });
        // Registration: one line per channel. Every channel is registered whether or not its
        // provider is configured: events already stored are read back either way.
        let mut adapters = Adapters::default();
        adapters.register(Arc::new(WhatsAppAdapter::new(config.whatsapp.as_ref().map(|w| WhatsApp::new(w.client())))));
        adapters.register(Arc::new(crate::channels::email::channel::EmailAdapter::new(mailer)));
        let meta = crate::channels::meta::MetaAdapter::instagram(config.instagram.clone());
        adapters.register(Arc::new(meta.with_sandbox(config.sandbox)));
        let meta = crate::channels::meta::MetaAdapter::messenger(config.messenger.clone());
        adapters.register(Arc::new(meta.with_sandbox(config.sandbox)));
        adapters.register(Arc::new(crate::channels::sandbox::SandboxAdapter));
        Chat { adapters, stt: config.stt.clone().map(Stt::new), store, booking, config, clock }
    }

    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The adapter of a conversation channel (the sandbox's reads anything else: events from
    /// before a channel existed).
    pub fn adapter(&self, channel: domain::Channel) -> &dyn Adapter {
        match self.adapters.get(channel) {
            Some(a) => a.as_ref(),
            None => &crate::channels::sandbox::SandboxAdapter,
        }
    }

    // -----------------------------------------------------------------------------------------
    // Inbox

    /// The inbox job: one stored event → one committed turn.
    pub async fn process_inbound(&self, event_id: i64) -> Outcome {
        let event = match self.store.get_inbound(event_id).await {
            Ok(e) => e,
            Err(StoreError::NotFound) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if event.processed_at.is_some() {
            return Outcome::Done;
        }
        let Some(contact_id) = event.contact_id else { return Outcome::Done };
        // One contact's events are answered in the order they arrived.
        match self.store.has_earlier_unprocessed(contact_id, event.id).await {
            Ok(true) => return Outcome::Again(self.now() + Duration::milliseconds(50)),
            Ok(false) => {}
            Err(e) => return Outcome::Retry(e.to_string()),
        }
        match self.answer(&event, contact_id).await {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    async fn answer(&self, event: &InboundEvent, contact_id: i64) -> anyhow::Result<()> {
        let contact = self.store.get_contact(contact_id).await?;
        // Network work (media, speech-to-text) happens here, outside any transaction.
        let inbound = self.read_inbound(event).await;
        crate::fault::point("before_turn_commit");
        let stored_state = self.store.conversation_state(contact.id).await?;
        let state: State = stored_state.as_ref().map(|s| State::from_json(&s.to_string())).unwrap_or_default();
        let mut turn = Turn {
            event_id: Some(event.id),
            contact_id: contact.id,
            state: stored_state.clone().unwrap_or(json!({})),
            inbound: Some(inbound.record),
            send_job_kind: SEND_MESSAGE.into(),
            ..Default::default()
        };
        if !contact.handed_off {
            let ctx = self.context(&contact).await?;
            let driven = self
                .drive(
                    &contact,
                    state,
                    Event::Message { text: inbound.text, kind: inbound.kind },
                    &ctx,
                    &format!("inbound:{}", event.id),
                )
                .await?;
            self.fill_turn(&mut turn, driven, &contact);
        }
        let started = event.received_at;
        if self.store.commit_turn(&turn, self.now()).await?.is_some() {
            crate::fault::point("after_outbox_insert");
            let kind = event.kind.clone();
            metrics::histogram!(m::MESSAGE_PROCESSING, "type" => kind)
                .record((self.now() - started).num_milliseconds().max(0) as f64 / 1000.0);
        }
        Ok(())
    }

    fn fill_turn(&self, turn: &mut Turn, driven: Driven, contact: &Contact) {
        turn.state = serde_json::from_str(&driven.state.to_json()).unwrap_or(json!({}));
        turn.outbound = driven.replies.iter().map(render::outbound).collect();
        turn.quotes = driven.quotes;
        if driven.handoff {
            turn.handed_off = Some(true);
        }
        let now = self.now();
        for text in driven.alerts {
            turn.jobs.push(owner_alert_job(&text, contact, now));
        }
        for hold in driven.holds {
            let Some(expires) = hold.expires_at else { continue };
            let payload = json!({"contact_id": contact.id, "code": hold.code});
            let reminder_at = expires - Duration::minutes(15);
            if reminder_at > now {
                turn.jobs.push(NewJob {
                    kind: HOLD_REMINDER.into(),
                    payload: payload.clone(),
                    dedupe_key: Some(format!("reminder:{}", hold.code)),
                    run_at: reminder_at,
                    max_attempts: 20,
                });
            }
            turn.jobs.push(NewJob {
                kind: HOLD_EXPIRED.into(),
                payload,
                dedupe_key: Some(format!("expired:{}", hold.code)),
                run_at: expires + Duration::seconds(2),
                max_attempts: 20,
            });
        }
    }

    /// Reads a stored event through its channel's adapter into text for the engine
    /// (transcribing voice notes) and the message the conversation keeps.
    async fn read_inbound(&self, event: &InboundEvent) -> Inbound {
        let channel = domain::Channel::parse(&event.provider).unwrap_or(domain::Channel::Sandbox);
        let adapter = self.adapter(channel);
        let read = adapter.read(&event.kind, &event.payload);
        let record =
            |kind: &str, body: &str, payload: Value| NewMessage { kind: kind.into(), body: body.into(), payload };
        let other = |kind: &str, caption: String, payload: Value| Inbound {
            record: record(kind, &caption, payload),
            kind: MessageKind::Other,
            text: caption,
        };
        match read.message {
            Message::Text(text) => {
                Inbound { record: record("text", &text, read.record), kind: MessageKind::Text, text }
            }
            Message::Choice { id, title, from_list } => Inbound {
                record: record("button", &title, read.record),
                kind: if from_list { MessageKind::ListReply { id } } else { MessageKind::Button { id } },
                text: title,
            },
            Message::Audio { audio, text } => {
                let (transcript, confidence) = self.transcribe(adapter, audio).await;
                let mut payload = read.record;
                payload["transcript"] = json!(transcript);
                payload["confidence"] = json!(confidence);
                if transcript.is_empty() && !text.is_empty() {
                    // They also wrote: answer the writing rather than ask them to write.
                    return Inbound { record: record("text", &text, payload), kind: MessageKind::Text, text };
                }
                let heard = if text.is_empty() { transcript } else { format!("{text}\n{transcript}") };
                Inbound {
                    record: record("voice", &heard, payload),
                    kind: MessageKind::Voice { confidence: confidence.unwrap_or(0.0) },
                    text: heard,
                }
            }
            Message::Image { caption } => other("image", caption, read.record),
            Message::Location { caption } => other("location", caption, read.record),
            Message::Unsupported { kind, caption } => other(&kind, caption, read.record),
        }
    }

    /// An empty transcript means "could not hear it": the engine asks the guest to write.
    async fn transcribe(&self, adapter: &dyn Adapter, audio: Audio) -> (String, Option<f32>) {
        let Some(stt) = &self.stt else { return (String::new(), None) };
        let (data, mime) = match audio {
            Audio::Inline { data, mime } if !data.is_empty() => (data, mime),
            Audio::Inline { .. } => return (String::new(), None),
            Audio::Media { id } => match adapter.fetch_media(&id).await {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, channel = %adapter.channel(), "voice note download failed");
                    return (String::new(), None);
                }
            },
        };
        match stt.transcribe(data, &mime).await {
            Ok(t) => (t.text, t.confidence),
            Err(e) => {
                tracing::warn!(error = %e, channel = %adapter.channel(), "transcription failed");
                (String::new(), None)
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // The engine loop

    async fn drive(
        &self,
        contact: &Contact,
        state: State,
        first: Event,
        ctx: &Context,
        key: &str,
    ) -> anyhow::Result<Driven> {
        let mut out = Driven { state, ..Default::default() };
        // Not stored until the turn commits: an address in it is looked for here.
        let said_now = match &first {
            Event::Message { text, .. } => text.clone(),
            _ => String::new(),
        };
        let mut queue = VecDeque::from([first]);
        let mut holds_asked = 0;
        let mut steps = 0;
        while let Some(event) = queue.pop_front() {
            steps += 1;
            anyhow::ensure!(steps <= 32, "the dialogue did not settle");
            let step = conversation::step(&out.state, event, ctx);
            out.state = step.state;
            for effect in step.effects {
                match effect {
                    Effect::Reply(r) => out.replies.push(r),
                    Effect::CheckAvailability { stay, guests, unit, among, except } => queue.push_back(
                        Event::Availability(self.availability(stay, guests, unit, &among, except.as_deref()).await?),
                    ),
                    Effect::MoveBooking { code, unit_id, stay, guests } => {
                        let actor = format!("guest:{}", contact.channel);
                        let failed = |reason| Event::MoveFailed { code: code.clone(), reason };
                        let answer = match self.booking.move_reservation(&code, unit_id, stay, guests, &actor).await {
                            Ok((_, after)) => {
                                // Moved, the turn not yet committed: a restart answers the event
                                // again and the move finds itself done (crash test).
                                crate::fault::point("after_move_commit");
                                Event::Moved { after: booking_info(&after) }
                            }
                            Err(BookingError::Store(StoreError::Overlap)) => failed(HoldFailure::Taken),
                            Err(BookingError::Stay(e)) => failed(HoldFailure::Invalid(e.to_string())),
                            Err(BookingError::UnitNotFound) => {
                                failed(HoldFailure::Invalid("esa cabaña no está disponible".into()))
                            }
                            Err(BookingError::Store(StoreError::NotActive(_) | StoreError::NotFound)) => {
                                failed(HoldFailure::Invalid("la reserva ya no está activa".into()))
                            }
                            Err(e) => return Err(e.into()),
                        };
                        queue.push_back(answer);
                    }
                    Effect::PlaceHold { unit_id, stay, guests, guest_name } => {
                        holds_asked += 1;
                        let identity = self.adapter(contact.channel).identity();
                        let req = HoldRequest {
                            unit_id,
                            check_in: stay.check_in,
                            check_out: stay.check_out,
                            guests,
                            channel: contact.channel,
                            // The name the guest gave (or a real profile name); the reservation
                            // needs one, and a placeholder is better said as what it is.
                            guest_name: guest_name
                                .filter(|n| !n.trim().is_empty())
                                .unwrap_or_else(|| unnamed(contact.channel)),
                            guest_phone: match identity {
                                Identity::Phone => contact.address.clone(),
                                Identity::Email => String::new(),
                            },
                            guest_email: if identity == Identity::Email {
                                Some(contact.address.clone())
                            } else {
                                // A chat guest may have written one ("mi mail es …").
                                match crate::channels::email::read::address_in(&said_now) {
                                    Some(a) => Some(a),
                                    None => self.address_left_in_chat(contact.id).await?,
                                }
                            },
                            actor: format!("guest:{}", contact.channel),
                            request_key: Some(format!("{key}:{holds_asked}")),
                            origin: crate::booking::HoldOrigin::Conversation,
                        };
                        let answer = match self.booking.place_hold(&req).await {
                            Ok((r, _, _)) => {
                                let info = booking_info(&r);
                                out.holds.push(info.clone());
                                Event::HoldPlaced(info)
                            }
                            Err(BookingError::Store(StoreError::Overlap)) => {
                                Event::HoldFailed { reason: HoldFailure::Taken }
                            }
                            Err(BookingError::Store(StoreError::TooManyHolds(_))) => {
                                Event::HoldFailed { reason: HoldFailure::TooManyHolds }
                            }
                            Err(BookingError::Stay(e)) => {
                                Event::HoldFailed { reason: HoldFailure::Invalid(e.to_string()) }
                            }
                            Err(BookingError::UnitNotFound) => Event::HoldFailed {
                                reason: HoldFailure::Invalid("Esa cabaña no está disponible para reservar.".into()),
                            },
                            Err(BookingError::InvalidContact(_) | BookingError::InvalidPhone(_)) => Event::HoldFailed {
                                reason: HoldFailure::Invalid("Me falta un dato de contacto para reservar.".into()),
                            },
                            Err(e) => return Err(e.into()),
                        };
                        queue.push_back(answer);
                    }
                    Effect::CancelHold { code } => {
                        match self
                            .booking
                            .cancel(&code, &format!("guest:{}", contact.channel), "cancelada por el huésped")
                            .await
                        {
                            // A paid booking the guest cancelled: its refund, by the policy (#17).
                            Ok(r) if r.confirmed_at.is_some() => {
                                let job = crate::payments::refunds::propose_job(
                                    &r.code,
                                    &format!("guest:{}", contact.channel),
                                    self.now(),
                                );
                                self.store.enqueue_job(&job, self.now()).await?;
                            }
                            Ok(_) | Err(BookingError::Store(StoreError::Transition(_))) => {}
                            Err(e) => return Err(e.into()),
                        }
                        queue.push_back(Event::Cancelled { code });
                    }
                    Effect::AlertOwner { text } => out.alerts.push(text),
                    Effect::HandOff => out.handoff = true,
                    Effect::RecordQuote { unit_id, stay, total } => out.quotes.push((unit_id, stay, total)),
                    Effect::SendBalanceLink { code } => {
                        // The payments job makes (or reuses) the link and sends it to this chat.
                        let job = crate::payments::balance::link_job(
                            &code,
                            &format!("guest:{}", contact.channel),
                            self.now(),
                        );
                        self.store.enqueue_job(&job, self.now()).await?;
                    }
                    Effect::RecordReview { code, stars, comment } => {
                        let r = self.store.get_reservation(&code).await?;
                        let actor = format!("guest:{}", contact.channel);
                        // `false`: already rated (a redelivered message) — the first answer counts.
                        if self.store.record_review(r.id, stars, &comment, &actor, self.now()).await? {
                            metrics::counter!(crate::metrics::REVIEWS, "stars" => stars.to_string()).increment(1);
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// Availability for the engine: every unit, and the nearest free windows of the same
    /// length for the wanted unit (or, when none of the units that meet the guest's constraints
    /// is free, for those; or, when nothing fits, for every unit big enough).
    async fn availability(
        &self,
        stay: Stay,
        guests: u32,
        unit: Option<i64>,
        among: &[i64],
        except: Option<&str>,
    ) -> anyhow::Result<AvailabilityResult> {
        let list = match self.booking.availability_except(stay, guests.max(1), except).await {
            Ok(l) => l,
            Err(BookingError::Stay(_)) => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let results: Vec<UnitOption> = list
            .iter()
            .map(|a| UnitOption {
                unit_id: a.unit.id,
                available: a.available,
                reason: a.reason.map(|r| match r {
                    Unavailability::TooManyGuests => Unavailable::TooManyGuests { capacity: a.unit.capacity },
                    Unavailability::MinNights => Unavailable::MinNights { min: a.quote.min_nights },
                    Unavailability::DatesUnavailable => Unavailable::Taken,
                }),
                quote: a.quote.clone(),
            })
            .collect();
        let wanted_free = unit.map(|u| results.iter().any(|r| r.unit_id == u && r.available));
        let any_free = results.iter().any(|r| r.available);
        let none_among = !among.is_empty() && !results.iter().any(|r| r.available && among.contains(&r.unit_id));
        let candidates: Vec<i64> = match (unit, wanted_free) {
            // Other dates only for a cabin the party fits in (they do not make it bigger).
            (Some(u), Some(false)) if list.iter().any(|a| a.unit.id == u && a.unit.capacity >= guests) => vec![u],
            (None, _) if none_among => list
                .iter()
                .filter(|a| among.contains(&a.unit.id) && a.unit.capacity >= guests)
                .map(|a| a.unit.id)
                .collect(),
            (None, _) if !any_free => list.iter().filter(|a| a.unit.capacity >= guests).map(|a| a.unit.id).collect(),
            _ => Vec::new(),
        };
        let mut alternatives = Vec::new();
        for unit_id in candidates {
            for s in self.nearest_windows(unit_id, stay, 3, except).await? {
                alternatives.push(Alternative { unit_id, stay: s });
            }
        }
        Ok(AvailabilityResult { stay, guests, unit, results, alternatives })
    }

    async fn nearest_windows(
        &self,
        unit_id: i64,
        stay: Stay,
        max: usize,
        except: Option<&str>,
    ) -> anyhow::Result<Vec<Stay>> {
        let today = self.booking.today();
        let now = self.now();
        let (from, to) = (stay.check_in - Duration::days(60), stay.check_out + Duration::days(60));
        let taken: Vec<Stay> = self
            .store
            .active_stays(Some(unit_id), from, to)
            .await?
            .into_iter()
            .filter(|s| s.occupies_at(now) && Some(s.code.as_str()) != except)
            .map(|s| s.stay)
            .chain(
                self.store
                    .external_blocks(Some(unit_id), from, to)
                    .await?
                    .into_iter()
                    .filter(|b| b.echo_of.is_none())
                    .map(|b| b.stay),
            )
            .collect();
        let mut found: Vec<Stay> = Vec::new();
        for distance in 1..=60i64 {
            for shift in [distance, -distance] {
                let Some(candidate) = stay.shifted(shift) else { continue };
                if candidate.check_in < today || taken.iter().any(|t| t.overlaps(&candidate)) {
                    continue;
                }
                if found.iter().any(|f| f.overlaps(&candidate)) {
                    continue;
                }
                found.push(candidate);
                if found.len() >= max {
                    found.sort_by_key(|s| s.check_in);
                    return Ok(found);
                }
            }
        }
        found.sort_by_key(|s| s.check_in);
        Ok(found)
    }

    /// The owner's settings about the place ("Tu alojamiento").
    pub async fn property(&self) -> anyhow::Result<crate::property::PropertySettings> {
        Ok(crate::property::load(self.store.as_ref()).await?)
    }

    /// Everything the engine may need to know, built per event.
    async fn context(&self, contact: &Contact) -> anyhow::Result<Context> {
        let mut ctx = Context::new(self.booking.today(), self.now(), self.config.timezone);
        let p = self.property().await?;
        ctx.property = p.to_conversation();
        ctx.pricing = p.pricing_policy(&self.config);
        ctx.rate_rules = self.store.list_rate_rules().await?;
        ctx.hold_minutes = self.config.hold_minutes;
        ctx.contact_name = (!contact.name.is_empty()).then(|| contact.name.clone());
        ctx.units = self
            .store
            .list_units(false)
            .await?
            .into_iter()
            .map(|u| {
                let mut info = UnitInfo::new(u.id, &u.slug, &u.name, u.capacity, u.base_price);
                info.min_nights = u.min_nights;
                info.weekend_multiplier = u.weekend_multiplier;
                let amenities: Vec<String> = u.amenities.iter().map(|a| a.to_lowercase()).collect();
                let says = |words: &[&str]| amenities.iter().any(|a| words.iter().any(|w| a.contains(w)));
                info.pets_allowed = says(&["mascota", "pet friendly", "petfriendly", "perros"]);
                info.accessible = says(&["accesib", "silla de ruedas", "movilidad reducida", "planta baja", "rampa"]);
                info.description = u.description;
                info.amenities = u.amenities;
                // A path ("/fotos/demo/…", served by us) becomes an address the channel can fetch.
                let absolute = |url: String| match url.starts_with('/') {
                    true => format!("{}{url}", self.config.public_url.trim_end_matches('/')),
                    false => url,
                };
                info.photos = u
                    .photos
                    .into_iter()
                    .map(|ph| conversation::Photo { url: absolute(ph.url), caption: ph.caption })
                    .collect();
                info.check_in_from = p.check_in_from().to_string();
                info.check_out_until = p.check_out_until().to_string();
                info
            })
            .collect();
        let filter = ReservationFilter { contact: Some(contact.address.clone()), limit: 10, ..Default::default() };
        let mine = self.store.list_reservations(&filter).await?.0;
        // Which stays that ended lately were rated: asked only when there is one.
        let ended: Vec<i64> = mine
            .iter()
            .filter(|r| r.status == ReservationStatus::Confirmed && conversation::rateable(r.stay.check_out, ctx.today))
            .map(|r| r.id)
            .collect();
        let rated = if ended.is_empty() { Vec::new() } else { self.store.reviewed(&ended).await? };
        let mut reservations = Vec::new();
        for r in mine {
            let mut info = booking_info(&r);
            // A hold's link, once made, is what "cómo pago?" and the reminder hand out again.
            if r.status == ReservationStatus::PreReserved {
                info.payment_link = self.store.payment_link(r.id).await?.map(|l| l.url);
            }
            info.rated = rated.contains(&r.id);
            reservations.push(info);
        }
        ctx.reservations = reservations;
        Ok(ctx)
    }

    // -----------------------------------------------------------------------------------------
    // Timers and outside events

    /// A hold's reminder or expiry notice, as an engine event for the contact's conversation.
    pub async fn run_timer(&self, kind: &str, payload: &Value) -> Outcome {
        let (Some(contact_id), Some(code)) = (payload["contact_id"].as_i64(), payload["code"].as_str()) else {
            return Outcome::Fail("timer without contact or code".into());
        };
        let result = async {
            let r = self.store.get_reservation(code).await?;
            let now = self.now();
            let event = match kind {
                HOLD_REMINDER if r.status == ReservationStatus::PreReserved && r.occupies_at(now) => {
                    Event::HoldReminder { code: code.into() }
                }
                HOLD_EXPIRED
                    if r.status == ReservationStatus::Expired
                        || (r.status == ReservationStatus::PreReserved && !r.occupies_at(now)) =>
                {
                    self.booking.expire_stale_holds().await?;
                    Event::HoldExpired { code: code.into() }
                }
                _ => return anyhow::Ok(()),
            };
            let template = (kind == HOLD_REMINDER).then(|| {
                let local = r.hold_expires_at.unwrap_or(now).with_timezone(&self.config.timezone);
                vec![r.code.clone(), local.format("%H:%M").to_string()]
            });
            self.outside_event(contact_id, event, template).await
        }
        .await;
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    /// Feeds an event that is not a guest message (timer, payment, release) into the contact's
    /// conversation and queues the replies. `reminder_template` marks replies that may go as
    /// the approved reminder template outside WhatsApp's 24-hour window.
    pub async fn outside_event(
        &self,
        contact_id: i64,
        event: Event,
        reminder_template: Option<Vec<String>>,
    ) -> anyhow::Result<()> {
        let contact = self.store.get_contact(contact_id).await?;
        let stored = self.store.conversation_state(contact.id).await?;
        let state: State = stored.as_ref().map(|s| State::from_json(&s.to_string())).unwrap_or_default();
        let ctx = self.context(&contact).await?;
        let key = format!("timer:{}:{}", contact.id, self.now().timestamp_micros());
        let driven = self.drive(&contact, state, event, &ctx, &key).await?;
        let mut turn = Turn { contact_id: contact.id, send_job_kind: SEND_MESSAGE.into(), ..Default::default() };
        self.fill_turn(&mut turn, driven, &contact);
        if let (Some(params), Some(wa)) = (reminder_template, &self.config.whatsapp) {
            for m in turn.outbound.iter_mut() {
                *m = render::with_template(m.clone(), &wa.template_reminder, &wa.template_language, &params);
            }
        }
        self.store.commit_turn(&turn, self.now()).await?;
        Ok(())
    }

    /// The owner cancelled a reservation (dashboard or API). When it came from a chat, the guest
    /// hears it there and the chat goes to a person (it shows as waiting in Conversaciones); the
    /// bot remembers it if the guest asks later. `true` when a guest was told.
    pub async fn owner_cancelled(&self, r: &Reservation) -> anyhow::Result<bool> {
        let Some(contact) = self.contact_of(r).await else { return Ok(false) };
        self.outside_event(contact.id, Event::OwnerCancelled { code: r.code.clone() }, None).await?;
        Ok(true)
    }

    /// A payment that cannot become a booking (the hold was cancelled, or it lapsed and its
    /// nights were taken): the guest hears it kindly in their chat, and a person takes over.
    pub async fn payment_needs_owner(
        &self,
        r: &Reservation,
        amount: domain::Money,
        problem: conversation::PaymentProblem,
    ) -> anyhow::Result<bool> {
        let Some(contact) = self.contact_of(r).await else { return Ok(false) };
        let event = Event::PaymentNeedsOwner { code: r.code.clone(), amount, reason: problem };
        self.outside_event(contact.id, event, None).await?;
        Ok(true)
    }

    /// The owner gives the chat back to the bot.
    pub async fn release(&self, contact_id: i64) -> anyhow::Result<()> {
        self.store.set_handed_off(contact_id, false, self.now()).await?;
        self.outside_event(contact_id, Event::HandOffReleased, None).await
    }

    /// The owner writes to the guest; it goes through the outbox like any reply.
    pub async fn owner_reply(&self, contact_id: i64, text: &str) -> anyhow::Result<()> {
        let mut message = Outgoing::text(text);
        // A person wrote it: e-mail sends it without `Auto-Submitted`.
        message.human = true;
        self.queue(contact_id, render::stored(&message)).await
    }

    /// A message to a contact outside the dialogue (owner replies, payment news), through the
    /// outbox. `template` (name, params) is used outside WhatsApp's 24-hour window.
    pub async fn notify(
        &self,
        contact_id: i64,
        text: &str,
        template: Option<(&str, Vec<String>)>,
    ) -> anyhow::Result<()> {
        let mut message = render::text(text);
        if let (Some((name, params)), Some(wa)) = (template, &self.config.whatsapp) {
            message = render::with_template(message, name, &wa.template_language, &params);
        }
        self.queue(contact_id, message).await
    }

    /// Like [`Chat::notify`], but committed at most once under `key`, with `jobs` in the same
    /// transaction: a job that queues a notice and then dies before it is marked done repeats
    /// nothing when it runs again. `false` when the key was already used. On WhatsApp it carries
    /// the stay template (`POSADA_WHATSAPP_TEMPLATE_STAY`, the text on one line) when there is
    /// one, for when the 24-hour window has closed by the time it is sent.
    pub async fn notify_once(
        &self,
        contact: &Contact,
        text: &str,
        key: &str,
        jobs: Vec<NewJob>,
    ) -> anyhow::Result<bool> {
        let mut message = render::text(text);
        if contact.channel == domain::Channel::Whatsapp
            && let Some(wa) = &self.config.whatsapp
            && let Some(template) = wa.template_stay.as_deref()
        {
            let line = crate::stay_messages::one_line(text);
            message = render::with_template(message, template, &wa.template_language, &[line]);
        }
        self.notify_once_as(contact, message, key, jobs).await
    }

    /// [`Chat::notify_once`] with the message already made (its own template).
    pub async fn notify_once_as(
        &self,
        contact: &Contact,
        message: NewMessage,
        key: &str,
        jobs: Vec<NewJob>,
    ) -> anyhow::Result<bool> {
        let contact_id = contact.id;
        let state = self.store.conversation_state(contact_id).await?.unwrap_or(json!({}));
        let turn = Turn {
            contact_id,
            state,
            outbound: vec![message],
            send_job_kind: SEND_MESSAGE.into(),
            jobs,
            once: Some(key.to_string()),
            ..Default::default()
        };
        Ok(self.store.commit_turn(&turn, self.now()).await?.is_some())
    }

    /// The conversation a reservation came from, if it came from one.
    pub async fn contact_of(&self, r: &Reservation) -> Option<Contact> {
        if !r.channel.is_conversation() {
            return None;
        }
        let address = match self.adapter(r.channel).identity() {
            Identity::Phone => r.guest_phone.as_str(),
            Identity::Email => r.guest_email.as_deref().unwrap_or(""),
        };
        self.store.find_contact(r.channel, address).await.ok()
    }

    /// An alert for the owner: a WhatsApp message to `POSADA_OWNER_PHONE` when WhatsApp is on,
    /// an e-mail to `POSADA_OWNER_EMAIL` when e-mail is on (both when both), otherwise the log (warn).
    ///
    /// `only` is `Some(Channel::Whatsapp)` (stored as its text) for the WhatsApp half of an alert whose e-mail half is
    /// already queued: the e-mail turn commits together with a job for the WhatsApp half, so a
    /// retry of either half never repeats the other.
    pub async fn alert_owner(&self, text: &str, only: Option<&str>) -> Outcome {
        let only = only.and_then(domain::Channel::parse);
        let by_whatsapp = self.config.owner_phone.is_some() && self.config.whatsapp.is_some();
        let by_email = self.config.email.is_some() && self.config.owner_email.is_some();
        let result = match only {
            Some(domain::Channel::Whatsapp) if by_whatsapp => self.alert_owner_by_whatsapp(text).await,
            Some(_) => Ok(()),
            _ if by_email => {
                let whatsapp_half = by_whatsapp
                    .then(|| alert_job(json!({"text": text, "only": domain::Channel::Whatsapp.as_str()}), self.now()));
                self.alert_owner_by_email(text, whatsapp_half.into_iter().collect()).await
            }
            _ if by_whatsapp => self.alert_owner_by_whatsapp(text).await,
            _ => {
                tracing::warn!(alert = %text, "owner alert (no owner phone or e-mail configured)");
                Ok(())
            }
        };
        match result {
            Ok(()) => Outcome::Done,
            Err(e) => Outcome::Retry(e.to_string()),
        }
    }

    async fn alert_owner_by_whatsapp(&self, text: &str) -> anyhow::Result<()> {
        let (Some(phone), Some(wa)) = (&self.config.owner_phone, &self.config.whatsapp) else { return Ok(()) };
        let owner = self.store.upsert_contact(domain::Channel::Whatsapp, phone, "Dueño", self.now()).await?;
        // The owner may not have written in 24 h: the alert template carries the text then.
        let message =
            render::with_template(render::text(text), &wa.template_alert, &wa.template_language, &[text.to_string()]);
        self.queue(owner.id, message).await
    }

    // -----------------------------------------------------------------------------------------
    // Outbox

    /// The outbox job: sends one message, in order per contact.
    pub async fn send(&self, message_id: i64) -> Outcome {
        let now = self.now();
        let msg = match self.store.get_message(message_id).await {
            Ok(m) => m,
            Err(StoreError::NotFound) => return Outcome::Done,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        if msg.status != MessageStatus::Queued {
            return Outcome::Done;
        }
        let contact = match self.store.get_contact(msg.contact_id).await {
            Ok(c) => c,
            Err(e) => return Outcome::Retry(e.to_string()),
        };
        match self.store.earlier_queued_due(contact.id, msg.id).await {
            // Not before the earlier message is tried again: while a provider is down (backoff,
            // an open breaker) the rest of the queue waits with it instead of asking every 50 ms
            // (chaos/outage.py: 35,000 runs in a 2-minute outage). Capped, in case it moves.
            Ok(Some(due)) => {
                let at = due.clamp(now, now + Duration::seconds(30));
                return Outcome::Again(at + Duration::milliseconds(50));
            }
            Ok(None) => {}
            Err(e) => return Outcome::Retry(e.to_string()),
        }
        let channel = contact.channel.as_str();
        if now - msg.created_at > Duration::hours(GIVE_UP_AFTER_HOURS) {
            return self.failed(&msg, &contact, "gave up after 24 hours", true).await;
        }
        if !contact.channel.is_conversation() {
            return self.failed(&msg, &contact, &format!("channel {channel} cannot send yet"), false).await;
        }
        let adapter = self.adapter(contact.channel);
        // A channel that sends a turn as one message gets the turn, the guest's last message
        // (to thread under) and our name (to sign with).
        let (batch, last_inbound, property) = if adapter.sends_turn_together() {
            let batch = match self.turn_of(&msg, contact.id).await {
                Ok(b) => b,
                Err(e) => return Outcome::Retry(e.to_string()),
            };
            let last_in = match self.store.last_inbound_message(contact.id).await {
                Ok(m) => m.map(|m| m.payload),
                Err(e) => return Outcome::Retry(e.to_string()),
            };
            let property = match self.property().await {
                Ok(p) => p.name().to_string(),
                Err(e) => return Outcome::Retry(e.to_string()),
            };
            (batch, last_in, property)
        } else {
            (vec![msg.clone()], None, String::new())
        };
        let replies: Vec<Outgoing> =
            batch.iter().map(|b| Outgoing::from_stored(&b.kind, &b.body, &b.payload)).collect();
        let to = Recipient {
            address: &contact.address,
            name: &contact.name,
            last_inbound_at: contact.last_inbound_at,
            last_inbound: last_inbound.as_ref(),
        };
        let ctx = SendContext {
            now,
            first_id: msg.id,
            first_at: msg.created_at,
            property_name: &property,
            public_url: &self.config.public_url,
        };
        match adapter.send(&to, &replies, &ctx).await {
            Ok(sent) => {
                crate::fault::point("after_send_before_record");
                for b in &batch {
                    if let Err(e) = self
                        .store
                        .mark_message(b.id, MessageStatus::Sent, Some(&sent.provider_id), None, self.now())
                        .await
                    {
                        return Outcome::Retry(e.to_string());
                    }
                }
                metrics::counter!(m::OUTBOX_SENT, "channel" => channel).increment(batch.len() as u64);
                Outcome::Done
            }
            Err(SendFailure::Retry(SendError::BreakerOpen)) => {
                let wait = adapter.breaker().map(|b| b.wait(std::time::Instant::now())).unwrap_or_default();
                Outcome::Again(
                    now + Duration::from_std(wait).unwrap_or(Duration::seconds(5)) + Duration::milliseconds(50),
                )
            }
            Err(SendFailure::Retry(e)) => {
                metrics::counter!(m::OUTBOX_RETRIED, "channel" => channel).increment(1);
                Outcome::Retry(match e {
                    SendError::Retryable(text) | SendError::Permanent(text) => text,
                    other => other.to_string(),
                })
            }
            Err(SendFailure::Refused { error, alert }) => {
                for b in batch.iter().filter(|b| b.id != msg.id) {
                    let _ = self.store.mark_message(b.id, MessageStatus::Failed, None, Some(&error), self.now()).await;
                }
                self.failed(&msg, &contact, &error, alert).await
            }
        }
    }

    /// The rest of `msg`'s turn still queued (same moment, same author): sent as one message.
    async fn turn_of(&self, msg: &store::Message, contact_id: i64) -> Result<Vec<store::Message>, StoreError> {
        let batch: Vec<store::Message> = self
            .store
            .list_messages(contact_id, msg.id - 1, 20)
            .await?
            .into_iter()
            .take_while(|o| {
                o.direction == "out"
                    && o.status == MessageStatus::Queued
                    && o.created_at == msg.created_at
                    && o.payload["human"] == msg.payload["human"]
            })
            .collect();
        Ok(if batch.first().is_some_and(|b| b.id == msg.id) { batch } else { vec![msg.clone()] })
    }

    async fn failed(&self, msg: &store::Message, contact: &Contact, error: &str, alert: bool) -> Outcome {
        let _ = self.store.mark_message(msg.id, MessageStatus::Failed, None, Some(error), self.now()).await;
        metrics::counter!(m::OUTBOX_FAILED, "channel" => contact.channel.as_str()).increment(1);
        tracing::error!(message = msg.id, contact = contact.id, error = %error, "message not sent");
        let is_owner = self.config.owner_phone.as_deref() == Some(contact.address.as_str())
            || self.config.owner_email.as_deref() == Some(contact.address.as_str());
        if alert && !is_owner {
            let text = format!(
                "No pude enviarle un mensaje a {} ({}): {}. Escribile vos.",
                if contact.name.is_empty() { "un huésped" } else { &contact.name },
                contact.address,
                error
            );
            let _ = self.store.enqueue_job(&owner_alert_job(&text, contact, self.now()), self.now()).await;
        }
        Outcome::Fail(error.to_string())
    }
}

/// The name a hold gets when the guest gave none (the booking needs one).
pub fn unnamed(channel: domain::Channel) -> String {
    let via = match channel {
        domain::Channel::Email => "e-mail",
        domain::Channel::Sandbox => "chat de prueba",
        other => other.label(),
    };
    format!("Sin nombre ({via})")
}

/// Whether a reservation's name is the stand-in of [`unnamed`].
pub fn is_unnamed(name: &str) -> bool {
    name.starts_with("Sin nombre (")
}

fn owner_alert_job(text: &str, contact: &Contact, now: DateTime<Utc>) -> NewJob {
    alert_job(json!({"text": text, "contact_id": contact.id}), now)
}

/// A job for [`Chat::alert_owner`].
pub(crate) fn alert_job(payload: Value, now: DateTime<Utc>) -> NewJob {
    NewJob {
        kind: crate::ical_sync::import::OWNER_ALERT_JOB.into(),
        payload,
        dedupe_key: None,
        run_at: now,
        max_attempts: 20,
    }
}

pub fn booking_info(r: &Reservation) -> BookingInfo {
    BookingInfo {
        code: r.code.clone(),
        unit_id: r.unit_id,
        stay: r.stay,
        guests: r.guests,
        status: r.status,
        total: r.total,
        deposit: r.deposit,
        expires_at: r.hold_expires_at.filter(|_| r.status == ReservationStatus::PreReserved),
        payment_link: None,
        paid: r.confirmed_at.is_some(),
        rated: false,
        pending: (r.status == ReservationStatus::Confirmed).then(|| r.money().pending),
    }
}
