-- Instagram Direct and Facebook Messenger (issue 16): contacts and the reservations they make
-- may come from them.
--
-- SQLite cannot ALTER a CHECK, and rebuilding contacts is not possible here: sqlx runs a
-- migration inside a transaction, where foreign keys cannot be turned off, and dropping the old
-- table would cascade to every conversation. A CHECK that only accepts more values changes no
-- stored row, so the table's definition is edited in place (SQLite's documented procedure for
-- constraint changes that leave the content valid, lang_altertable.html); the trigger changes
-- below change the schema cookie, so other connections read the new definition, and RESET makes
-- this one read it again too.
PRAGMA writable_schema = ON;
UPDATE sqlite_master
SET sql = replace(sql, 'CHECK (channel IN (''whatsapp'', ''email'', ''sandbox''))',
                       'CHECK (channel IN (''whatsapp'', ''email'', ''instagram'', ''messenger'', ''sandbox''))')
WHERE type = 'table' AND name = 'contacts';
PRAGMA writable_schema = RESET;

DROP TRIGGER reservations_channel_known_insert;
DROP TRIGGER reservations_channel_known_update;
CREATE TRIGGER reservations_channel_known_insert BEFORE INSERT ON reservations
WHEN NEW.channel NOT IN ('whatsapp', 'email', 'instagram', 'messenger', 'sandbox', 'admin', 'web', 'api')
BEGIN
    SELECT RAISE(ABORT, 'reservations_channel_known');
END;
CREATE TRIGGER reservations_channel_known_update BEFORE UPDATE OF channel ON reservations
WHEN NEW.channel NOT IN ('whatsapp', 'email', 'instagram', 'messenger', 'sandbox', 'admin', 'web', 'api')
BEGIN
    SELECT RAISE(ABORT, 'reservations_channel_known');
END;
