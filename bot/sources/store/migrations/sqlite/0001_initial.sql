-- Dispatches the sending product recorded, and who they were addressed to.
CREATE TABLE dispatches (
    id             TEXT PRIMARY KEY,
    tenant         TEXT NOT NULL,
    kind           TEXT NOT NULL DEFAULT '',
    subject        TEXT NOT NULL DEFAULT '',
    sender         TEXT NOT NULL DEFAULT '',
    created_at     TEXT,
    state          TEXT NOT NULL,
    internal_error TEXT
);

CREATE TABLE dispatch_recipients (
    dispatch_id TEXT NOT NULL REFERENCES dispatches (id) ON DELETE CASCADE,
    address     TEXT NOT NULL,
    role        TEXT NOT NULL,
    PRIMARY KEY (dispatch_id, address, role)
);
CREATE INDEX dispatch_recipients_address ON dispatch_recipients (address);

-- Normalized delivery events; dedupe_key makes every ingest idempotent.
CREATE TABLE events (
    seq             INTEGER PRIMARY KEY,
    dedupe_key      TEXT NOT NULL UNIQUE,
    provider        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    ts              TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    message_id      TEXT,
    dispatch_id     TEXT,
    tenant          TEXT,
    reject_reason   TEXT,
    smtp_code       INTEGER,
    enhanced_status TEXT,
    diagnostic      TEXT,
    mx_host         TEXT,
    reason          TEXT,
    hard            INTEGER,
    suppressed      INTEGER NOT NULL DEFAULT 0,
    raw             TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX events_recipient ON events (recipient, ts);
CREATE INDEX events_message_id ON events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX events_dispatch_id ON events (dispatch_id, ts) WHERE dispatch_id IS NOT NULL;
