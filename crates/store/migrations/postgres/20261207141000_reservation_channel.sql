-- Where a reservation came from is one of a fixed set (domain::Channel). Holds placed through the
-- public API used to default to 'whatsapp' (issue 19, defect 7) and inflated the WhatsApp funnel:
-- those with a client address came from the API, so they become 'web'; any other value a client
-- sent becomes 'api'.
UPDATE reservations SET channel = 'web' WHERE client_address IS NOT NULL AND channel = 'whatsapp';
UPDATE reservations SET channel = 'api'
    WHERE channel NOT IN ('whatsapp', 'email', 'sandbox', 'admin', 'web', 'api');
ALTER TABLE reservations ADD CONSTRAINT reservations_channel_known
    CHECK (channel IN ('whatsapp', 'email', 'sandbox', 'admin', 'web', 'api'));
