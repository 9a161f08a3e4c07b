-- Claims read due jobs in (run_at, id) order: with the id in the index they walk it instead of
-- sorting every queued job.
DROP INDEX jobs_due;
CREATE INDEX jobs_due ON jobs (run_at, id) WHERE status = 'pending';
