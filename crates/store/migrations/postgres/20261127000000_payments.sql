-- Deposits: one payment link (checkout preference) per hold, and every payment the provider
-- reports, keyed by its id.

CREATE TABLE payment_links (
    id BIGSERIAL PRIMARY KEY,
    reservation_id BIGINT NOT NULL UNIQUE REFERENCES reservations (id),
    provider TEXT NOT NULL,
    preference_id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    amount BIGINT NOT NULL,
    expires_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE payments (
    id BIGSERIAL PRIMARY KEY,
    provider TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL,
    reservation_id BIGINT REFERENCES reservations (id),
    status TEXT NOT NULL,
    status_detail TEXT NOT NULL DEFAULT '',
    amount BIGINT NOT NULL,
    currency TEXT NOT NULL,
    external_reference TEXT NOT NULL DEFAULT '',
    raw JSONB NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, provider_payment_id)
);
CREATE INDEX payments_by_reservation ON payments (reservation_id);
