-- Where an anonymous hold came from (the public API's client address, behind the trusted-proxy
-- rules): the per-address limit of live holds counts these. Empty for every other reservation.

ALTER TABLE reservations ADD COLUMN client_address TEXT;
CREATE INDEX reservations_client_address ON reservations (client_address);
