-- Instagram Direct and Facebook Messenger (issue 16): contacts and the reservations they make
-- may come from them.
ALTER TABLE contacts DROP CONSTRAINT contacts_channel_check;
ALTER TABLE contacts ADD CONSTRAINT contacts_channel_check
    CHECK (channel IN ('whatsapp', 'email', 'instagram', 'messenger', 'sandbox'));
ALTER TABLE reservations DROP CONSTRAINT reservations_channel_known;
ALTER TABLE reservations ADD CONSTRAINT reservations_channel_known
    CHECK (channel IN ('whatsapp', 'email', 'instagram', 'messenger', 'sandbox', 'admin', 'web', 'api'));
