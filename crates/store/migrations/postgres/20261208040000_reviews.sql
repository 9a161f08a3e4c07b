-- A guest's rating of a finished stay, answered in the chat (issue 17, step 5): 1 to 5 stars and
-- what they wrote beside it. One per reservation: the first answer counts.
CREATE TABLE reviews (
    reservation_id BIGINT PRIMARY KEY REFERENCES reservations (id),
    stars INTEGER NOT NULL CHECK (stars BETWEEN 1 AND 5),
    comment TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX reviews_by_time ON reviews (created_at);
