-- A confirmed stay's automatic messages (issue 17 step 1): one row per reservation and kind,
-- planned again when dates or settings change. A row is sent in the same transaction that
-- queues its outbox message, so a crash never sends one twice or loses it.
CREATE TABLE stay_messages (
    id BIGSERIAL PRIMARY KEY,
    reservation_id BIGINT NOT NULL REFERENCES reservations (id),
    kind TEXT NOT NULL CHECK (kind IN ('balance', 'check_in', 'welcome', 'checkout', 'thanks')),
    due_at TIMESTAMPTZ NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('due', 'sent', 'skipped', 'cancelled', 'failed')),
    channel TEXT,
    message_id BIGINT,
    note TEXT NOT NULL DEFAULT '',
    sent_at TIMESTAMPTZ,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    UNIQUE (reservation_id, kind)
);
