-- Backups made by `posada backup` or the daily job (the dashboard and `posada doctor` show the
-- last one; the backup_last_success_timestamp_seconds metric feeds the 48-hour alert).
CREATE TABLE backups (
    id BIGSERIAL PRIMARY KEY,
    created_at TIMESTAMPTZ NOT NULL,
    file TEXT NOT NULL,
    bytes BIGINT NOT NULL CHECK (bytes >= 0),
    trigger TEXT NOT NULL CHECK (trigger IN ('manual', 'daily', 'restored')),
    took_ms BIGINT NOT NULL CHECK (took_ms >= 0)
);
CREATE INDEX backups_by_created ON backups (created_at);
