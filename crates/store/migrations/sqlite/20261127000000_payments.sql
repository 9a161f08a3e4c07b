-- Deposits: one payment link (checkout preference) per hold, and every payment the provider
-- reports, keyed by its id.

CREATE TABLE payment_links (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reservation_id INTEGER NOT NULL UNIQUE REFERENCES reservations (id),
    provider TEXT NOT NULL,
    preference_id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    amount INTEGER NOT NULL,
    expires_at TEXT,
    created_at TEXT NOT NULL
);

CREATE TABLE payments (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL,
    reservation_id INTEGER REFERENCES reservations (id),
    status TEXT NOT NULL,
    status_detail TEXT NOT NULL DEFAULT '',
    amount INTEGER NOT NULL,
    currency TEXT NOT NULL,
    external_reference TEXT NOT NULL DEFAULT '',
    raw TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX payments_by_reservation ON payments (reservation_id);
