-- Refunds of a cancelled reservation's deposit (issue 17 step 4): one per reservation, bound to
-- the provider's payment. Its id is the provider's idempotency key, so a retry after a crash
-- is the same refund.
CREATE TABLE refunds (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reservation_id INTEGER NOT NULL UNIQUE REFERENCES reservations (id),
    provider TEXT NOT NULL,
    provider_payment_id TEXT NOT NULL,
    paid INTEGER NOT NULL,
    amount INTEGER NOT NULL CHECK (amount >= 0),
    percent INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'done', 'failed', 'declined')),
    provider_refund_id TEXT,
    error TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX refunds_by_payment ON refunds (provider, provider_payment_id);
