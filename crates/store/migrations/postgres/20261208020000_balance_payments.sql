-- The balance through the payment provider (#17 step 2).
--
-- `balance_received`: the balance money that reached us, however it came (the owner's record of
-- cash or a transfer counts as the whole balance then due; each approved balance payment through
-- the provider adds its amount). What is pending is always computed from the current total, so a
-- date change that raises the total raises what is pending.
ALTER TABLE reservations ADD COLUMN balance_received BIGINT NOT NULL DEFAULT 0;
UPDATE reservations SET balance_received = total - deposit WHERE balance_paid_at IS NOT NULL AND total > deposit;

-- A payment is for the deposit or for the balance (the preference's reference says which).
ALTER TABLE payments ADD COLUMN purpose TEXT NOT NULL DEFAULT 'deposit'
    CHECK (purpose IN ('deposit', 'balance'));

-- Balance links: one checkout preference per (reservation, amount, deadline). The same balance
-- reuses its link; a new amount (the total changed, part was paid) or a new arrival date gets a
-- new one.
CREATE TABLE balance_links (
    id BIGSERIAL PRIMARY KEY,
    reservation_id BIGINT NOT NULL REFERENCES reservations (id),
    provider TEXT NOT NULL,
    preference_id TEXT NOT NULL UNIQUE,
    url TEXT NOT NULL,
    amount BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (reservation_id, amount, expires_at)
);

-- Keys of turns that must be committed at most once (a notice queued by a job that may run
-- again after a crash).
CREATE TABLE turn_keys (
    key TEXT PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL
);
