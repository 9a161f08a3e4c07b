-- A bearer token carries the version of its user's rights it was issued under; a password
-- change, a change of role or a removal moves the version on, so older tokens stop working.

ALTER TABLE admin_users ADD COLUMN token_version BIGINT NOT NULL DEFAULT 1;
