-- Foundation schema (SQLite). Keep in step with ../postgres: same tables, same columns.
-- Dates are 'YYYY-MM-DD' text, timestamps RFC 3339 text in UTC; both sort as text.

CREATE TABLE units (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity > 0),
    base_price INTEGER NOT NULL CHECK (base_price >= 0),
    weekend_multiplier_bp INTEGER NOT NULL DEFAULT 10000 CHECK (weekend_multiplier_bp > 0),
    min_nights INTEGER NOT NULL DEFAULT 1 CHECK (min_nights >= 1),
    description TEXT NOT NULL DEFAULT '',
    amenities TEXT NOT NULL DEFAULT '[]',
    photos TEXT NOT NULL DEFAULT '[]',
    ical_token TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE rate_rules (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    unit_id INTEGER REFERENCES units (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    start_date TEXT,
    end_date TEXT,
    scope TEXT NOT NULL DEFAULT 'all_nights' CHECK (scope IN ('all_nights', 'holiday_eves')),
    nightly_price INTEGER,
    multiplier_bp INTEGER,
    min_nights INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CHECK ((nightly_price IS NULL) <> (multiplier_bp IS NULL)),
    CHECK (start_date IS NULL OR end_date IS NULL OR start_date < end_date)
);

CREATE TABLE reservations (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    code TEXT NOT NULL UNIQUE,
    unit_id INTEGER NOT NULL REFERENCES units (id),
    check_in TEXT NOT NULL,
    check_out TEXT NOT NULL,
    guests INTEGER NOT NULL CHECK (guests >= 0),
    status TEXT NOT NULL CHECK (status IN ('pre_reserved', 'confirmed', 'cancelled', 'expired', 'blocked')),
    channel TEXT NOT NULL,
    guest_name TEXT NOT NULL DEFAULT '',
    guest_phone TEXT NOT NULL DEFAULT '',
    guest_email TEXT,
    total INTEGER NOT NULL,
    deposit INTEGER NOT NULL,
    hold_expires_at TEXT,
    flags TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    confirmed_at TEXT,
    cancelled_at TEXT,
    CONSTRAINT reservations_dates_check CHECK (check_in < check_out)
);
CREATE INDEX reservations_active_by_unit ON reservations (unit_id, check_in, check_out)
    WHERE status IN ('pre_reserved', 'confirmed', 'blocked');
CREATE INDEX reservations_holds_by_expiry ON reservations (hold_expires_at) WHERE status = 'pre_reserved';
CREATE INDEX reservations_by_phone ON reservations (guest_phone) WHERE status = 'pre_reserved';
CREATE INDEX reservations_by_created ON reservations (created_at);

-- No two active stays of one unit share a night. Writers are serialised (BEGIN IMMEDIATE), so a
-- trigger is race-free here; PostgreSQL uses an exclusion constraint instead.
CREATE TRIGGER reservations_no_overlap_insert BEFORE INSERT ON reservations
WHEN NEW.status IN ('pre_reserved', 'confirmed', 'blocked')
BEGIN
    SELECT RAISE(ABORT, 'reservations_no_overlap') WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.unit_id = NEW.unit_id
          AND r.status IN ('pre_reserved', 'confirmed', 'blocked')
          AND r.check_in < NEW.check_out AND NEW.check_in < r.check_out);
END;

CREATE TRIGGER reservations_no_overlap_update BEFORE UPDATE OF unit_id, check_in, check_out, status ON reservations
WHEN NEW.status IN ('pre_reserved', 'confirmed', 'blocked')
BEGIN
    SELECT RAISE(ABORT, 'reservations_no_overlap') WHERE EXISTS (
        SELECT 1 FROM reservations r
        WHERE r.unit_id = NEW.unit_id
          AND r.id <> NEW.id
          AND r.status IN ('pre_reserved', 'confirmed', 'blocked')
          AND r.check_in < NEW.check_out AND NEW.check_in < r.check_out);
END;

CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    reservation_id INTEGER REFERENCES reservations (id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    before TEXT,
    after TEXT,
    note TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL
);
CREATE INDEX audit_log_by_reservation ON audit_log (reservation_id, id);

CREATE TABLE admin_users (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'staff')),
    active BOOLEAN NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status INTEGER,
    response_body TEXT,
    created_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);

CREATE TABLE jobs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL DEFAULT '{}',
    dedupe_key TEXT UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL DEFAULT 10,
    run_at TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires_at TEXT,
    last_error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE status = 'pending';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status = 'running';
