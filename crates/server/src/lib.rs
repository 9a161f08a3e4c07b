//! The `posada` service: configuration, HTTP API, background jobs and the CLI, wiring the pure
//! crates (`domain`, `nlu`) to the store.

pub mod admin_ui;
pub mod alloc;
pub mod app;
pub mod auth;
pub mod backup;
pub mod booking;
pub mod build_info;
pub mod channels;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod demo;
pub mod doctor;
pub mod error;
pub mod fault;
pub mod http;
pub mod ical_sync;
pub mod jobs;
pub mod login;
pub mod metrics;
pub mod payments;
pub mod property;
pub mod sandbox_client;
pub mod state;
pub mod stay_messages;
pub mod telemetry;
