//! Black-box tests of the service over HTTP (one binary: faster to link). Each test runs on
//! SQLite and on PostgreSQL (`POSADA_TEST_DATABASE_URL`, a fresh database per test).

mod helpers;

mod admin;
mod architecture;
mod attribution;
mod backup;
mod binary;
mod browser;
mod cli;
mod control_chars;
mod conversation;
mod crash;
mod dashboard;
mod dashboard_chat;
mod db_unavailable;
mod deploy;
mod docs;
mod doctor;
mod edges;
mod email;
mod errors;
mod guide;
mod health;
mod health_truth;
mod holds_abuse;
mod ical;
mod idempotency;
mod login_abuse;
mod money;
mod nlu;
mod observability;
mod payments;
mod reservations;
mod risky_hours;
mod sandbox_chat;
mod scripts;
mod shutdown;
mod spanish_errors;
mod stats_periods;
mod token_rights;
mod tools;
mod ui;
mod upgrade;
mod webdriver;
mod whatsapp;
