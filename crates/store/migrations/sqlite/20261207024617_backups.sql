-- Backups made by `posada backup` or the daily job (the dashboard and `posada doctor` show the
-- last one; the backup_last_success_timestamp_seconds metric feeds the 48-hour alert).
CREATE TABLE backups (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at TEXT NOT NULL,
    file TEXT NOT NULL,
    bytes INTEGER NOT NULL CHECK (bytes >= 0),
    trigger TEXT NOT NULL CHECK (trigger IN ('manual', 'daily', 'restored')),
    took_ms INTEGER NOT NULL CHECK (took_ms >= 0)
);
CREATE INDEX backups_by_created ON backups (created_at);
