-- `whymail store prune` finds old events and dispatches by time; without these it would scan
-- every row.
CREATE INDEX events_ts ON events (ts);
CREATE INDEX dispatches_created_at ON dispatches (created_at);
