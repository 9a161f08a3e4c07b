-- Foundation schema (PostgreSQL). Keep in step with ../sqlite: same tables, same columns.
CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE units (
    id BIGSERIAL PRIMARY KEY,
    slug TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    capacity BIGINT NOT NULL CHECK (capacity > 0),
    base_price BIGINT NOT NULL CHECK (base_price >= 0),
    weekend_multiplier_bp BIGINT NOT NULL DEFAULT 10000 CHECK (weekend_multiplier_bp > 0),
    min_nights BIGINT NOT NULL DEFAULT 1 CHECK (min_nights >= 1),
    description TEXT NOT NULL DEFAULT '',
    amenities JSONB NOT NULL DEFAULT '[]',
    photos JSONB NOT NULL DEFAULT '[]',
    ical_token TEXT NOT NULL,
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE rate_rules (
    id BIGSERIAL PRIMARY KEY,
    unit_id BIGINT REFERENCES units (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    start_date DATE,
    end_date DATE,
    scope TEXT NOT NULL DEFAULT 'all_nights' CHECK (scope IN ('all_nights', 'holiday_eves')),
    nightly_price BIGINT,
    multiplier_bp BIGINT,
    min_nights BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    CHECK ((nightly_price IS NULL) <> (multiplier_bp IS NULL)),
    CHECK (start_date IS NULL OR end_date IS NULL OR start_date < end_date)
);

CREATE TABLE reservations (
    id BIGSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    unit_id BIGINT NOT NULL REFERENCES units (id),
    check_in DATE NOT NULL,
    check_out DATE NOT NULL,
    guests BIGINT NOT NULL CHECK (guests >= 0),
    status TEXT NOT NULL CHECK (status IN ('pre_reserved', 'confirmed', 'cancelled', 'expired', 'blocked')),
    channel TEXT NOT NULL,
    guest_name TEXT NOT NULL DEFAULT '',
    guest_phone TEXT NOT NULL DEFAULT '',
    guest_email TEXT,
    total BIGINT NOT NULL,
    deposit BIGINT NOT NULL,
    hold_expires_at TIMESTAMPTZ,
    flags TEXT NOT NULL DEFAULT '',
    notes TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    confirmed_at TIMESTAMPTZ,
    cancelled_at TIMESTAMPTZ,
    CONSTRAINT reservations_dates_check CHECK (check_in < check_out),
    -- No two active stays of one unit share a night; back-to-back stays are fine ('[)').
    CONSTRAINT reservations_no_overlap EXCLUDE USING gist (
        unit_id WITH =,
        daterange(check_in, check_out, '[)') WITH &&
    ) WHERE (status IN ('pre_reserved', 'confirmed', 'blocked'))
);
CREATE INDEX reservations_active_by_unit ON reservations (unit_id, check_in, check_out)
    WHERE status IN ('pre_reserved', 'confirmed', 'blocked');
CREATE INDEX reservations_holds_by_expiry ON reservations (hold_expires_at) WHERE status = 'pre_reserved';
CREATE INDEX reservations_by_phone ON reservations (guest_phone) WHERE status = 'pre_reserved';
CREATE INDEX reservations_by_created ON reservations (created_at);

CREATE TABLE audit_log (
    id BIGSERIAL PRIMARY KEY,
    reservation_id BIGINT REFERENCES reservations (id),
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    before JSONB,
    after JSONB,
    note TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_by_reservation ON audit_log (reservation_id, id);

CREATE TABLE admin_users (
    id BIGSERIAL PRIMARY KEY,
    email TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('owner', 'staff')),
    active BOOLEAN NOT NULL DEFAULT TRUE,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    response_status BIGINT,
    response_body TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX idempotency_keys_by_created ON idempotency_keys (created_at);

CREATE TABLE jobs (
    id BIGSERIAL PRIMARY KEY,
    kind TEXT NOT NULL,
    payload JSONB NOT NULL DEFAULT '{}',
    dedupe_key TEXT UNIQUE,
    status TEXT NOT NULL CHECK (status IN ('pending', 'running', 'done', 'failed')),
    attempts BIGINT NOT NULL DEFAULT 0,
    max_attempts BIGINT NOT NULL DEFAULT 10,
    run_at TIMESTAMPTZ NOT NULL,
    lease_owner TEXT,
    lease_expires_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX jobs_due ON jobs (run_at) WHERE status = 'pending';
CREATE INDEX jobs_leased ON jobs (lease_expires_at) WHERE status = 'running';
