-- The guest conversation: contacts, their dialogue state, the inbox of provider events, and
-- every message as the guest saw it (outbound rows are the outbox; a job sends each one).

CREATE TABLE contacts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL CHECK (channel IN ('whatsapp', 'email', 'sandbox')),
    address TEXT NOT NULL,
    name TEXT NOT NULL DEFAULT '',
    last_inbound_at TEXT,
    handed_off BOOLEAN NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (channel, address)
);

CREATE TABLE conversations (
    contact_id INTEGER PRIMARY KEY REFERENCES contacts (id) ON DELETE CASCADE,
    state TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

-- Stored before the provider gets its 200; deduplicated by the provider's id.
CREATE TABLE inbound_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    provider TEXT NOT NULL,
    provider_id TEXT NOT NULL,
    contact_id INTEGER REFERENCES contacts (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    received_at TEXT NOT NULL,
    processed_at TEXT,
    UNIQUE (provider, provider_id)
);
CREATE INDEX inbound_events_pending ON inbound_events (contact_id, id) WHERE processed_at IS NULL;

CREATE TABLE messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
    kind TEXT NOT NULL,
    body TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    inbound_event_id INTEGER,
    provider_message_id TEXT,
    status TEXT NOT NULL CHECK (status IN ('received', 'queued', 'sent', 'delivered', 'read', 'failed')),
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX messages_by_contact ON messages (contact_id, id);
CREATE INDEX messages_by_provider_id ON messages (provider_message_id);
CREATE INDEX messages_queued ON messages (created_at) WHERE status = 'queued';

-- Every price shown to a guest, for the funnel.
CREATE TABLE quotes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
    unit_id INTEGER NOT NULL,
    check_in TEXT NOT NULL,
    check_out TEXT NOT NULL,
    total INTEGER NOT NULL,
    created_at TEXT NOT NULL
);

-- A hold placed while processing an inbound event carries the event's key, so processing the
-- event again after a crash finds the same hold instead of placing another.
ALTER TABLE reservations ADD COLUMN request_key TEXT;
CREATE UNIQUE INDEX reservations_request_key ON reservations (request_key);
