-- iCal sync: imported feeds, the events they carry, and double bookings found in them.

CREATE TABLE ical_feeds (
    id BIGSERIAL PRIMARY KEY,
    unit_id BIGINT NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    source TEXT NOT NULL CHECK (source IN ('airbnb', 'booking', 'vrbo', 'other')),
    etag TEXT,
    last_modified TEXT,
    last_attempt_at TIMESTAMPTZ,
    last_success_at TIMESTAMPTZ,
    last_error TEXT,
    consecutive_failures BIGINT NOT NULL DEFAULT 0,
    events_count BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (unit_id, url)
);

-- Imported events are not reservations: two OTAs may legitimately block the same nights.
CREATE TABLE external_blocks (
    id BIGSERIAL PRIMARY KEY,
    feed_id BIGINT NOT NULL REFERENCES ical_feeds (id) ON DELETE CASCADE,
    unit_id BIGINT NOT NULL REFERENCES units (id) ON DELETE CASCADE,
    uid TEXT NOT NULL,
    check_in DATE NOT NULL,
    check_out DATE NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('booking', 'block')),
    summary TEXT NOT NULL DEFAULT '',
    reference TEXT,
    -- Our own stay sent back by the OTA: never a conflict, never blocks anything.
    echo_of BIGINT REFERENCES reservations (id) ON DELETE SET NULL,
    first_seen_at TIMESTAMPTZ NOT NULL,
    last_seen_at TIMESTAMPTZ NOT NULL,
    missing_since TIMESTAMPTZ,
    missing_count BIGINT NOT NULL DEFAULT 0,
    UNIQUE (feed_id, uid),
    CHECK (check_in < check_out)
);
CREATE INDEX external_blocks_by_unit ON external_blocks (unit_id, check_in, check_out);

CREATE TABLE conflicts (
    id BIGSERIAL PRIMARY KEY,
    reservation_id BIGINT NOT NULL REFERENCES reservations (id),
    feed_id BIGINT NOT NULL,
    uid TEXT NOT NULL,
    source TEXT NOT NULL,
    summary TEXT NOT NULL DEFAULT '',
    check_in DATE NOT NULL,
    check_out DATE NOT NULL,
    detected_at TIMESTAMPTZ NOT NULL,
    UNIQUE (reservation_id, feed_id, uid)
);
