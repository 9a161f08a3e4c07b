-- The owner's settings about the place ("Tu alojamiento"): one row per key, the value as text.
-- Environment variables only seed keys that are absent (first run); the dashboard edits them.

CREATE TABLE property_settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    updated_by TEXT NOT NULL DEFAULT '',
    updated_at TEXT NOT NULL
);
