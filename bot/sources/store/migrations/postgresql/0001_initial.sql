-- The SQLite schema, for PostgreSQL: timestamptz times, JSONB payloads, and events partitioned
-- by month so retention drops whole partitions instead of deleting rows one by one.
-- Addresses are stored lower-cased by the store, so plain btree lookups are case-insensitive.
-- Keys and addresses use the "C" collation: byte order makes every index insert and lookup
-- cheaper than a locale's rules would (which nothing here needs), whatever the database's locale.

-- Dispatches the sending product recorded, and who they were addressed to.
CREATE TABLE dispatches (
    id             TEXT COLLATE "C" PRIMARY KEY,
    tenant         TEXT COLLATE "C" NOT NULL,
    kind           TEXT NOT NULL DEFAULT '',
    subject        TEXT NOT NULL DEFAULT '',
    sender         TEXT NOT NULL DEFAULT '',
    created_at     TIMESTAMPTZ,
    state          TEXT NOT NULL,
    internal_error TEXT
);
CREATE INDEX dispatches_created_at ON dispatches (created_at);

-- created_at is the dispatch's, copied here so "newest dispatches to this address" reads the
-- first rows of one index, even for an address that has had thousands of invoices.
CREATE TABLE dispatch_recipients (
    dispatch_id TEXT COLLATE "C" NOT NULL REFERENCES dispatches (id) ON DELETE CASCADE,
    address     TEXT COLLATE "C" NOT NULL,
    role        TEXT NOT NULL,
    created_at  TIMESTAMPTZ,
    PRIMARY KEY (dispatch_id, address, role)
);
CREATE INDEX dispatch_recipients_address
    ON dispatch_recipients (address, created_at DESC NULLS LAST, dispatch_id DESC);
CREATE INDEX dispatch_recipients_domain ON dispatch_recipients (split_part(address, '@', 2), address);

-- Normalized delivery events, one RANGE partition per calendar month (UTC) of `ts`, created on
-- demand by the store (events_pYYYYMM). A unique index on a partitioned table must contain the
-- partition key, and (dedupe_key, ts) would let a redelivery with a different timestamp in, so
-- dedupe_key is made unique in event_keys below instead.
CREATE TABLE events (
    seq             BIGSERIAL,
    dedupe_key      TEXT COLLATE "C" NOT NULL,
    provider        TEXT NOT NULL,
    event_type      TEXT NOT NULL,
    ts              TIMESTAMPTZ NOT NULL,
    recipient       TEXT COLLATE "C" NOT NULL,
    message_id      TEXT COLLATE "C",
    dispatch_id     TEXT COLLATE "C",
    tenant          TEXT COLLATE "C",
    reject_reason   TEXT,
    smtp_code       INTEGER,
    enhanced_status TEXT,
    diagnostic      TEXT,
    mx_host         TEXT,
    reason          TEXT,
    hard            BOOLEAN,
    suppressed      BOOLEAN NOT NULL DEFAULT FALSE,
    raw             JSONB NOT NULL DEFAULT '{}'
) PARTITION BY RANGE (ts);
CREATE INDEX events_recipient ON events (recipient, ts, seq);
CREATE INDEX events_recipient_domain ON events (split_part(recipient, '@', 2), recipient);
CREATE INDEX events_message_id ON events (message_id) WHERE message_id IS NOT NULL;
CREATE INDEX events_dispatch_id ON events (dispatch_id, ts, seq) WHERE dispatch_id IS NOT NULL;
-- Prune deletes row by row only in the month its cutoff falls in; events arrive roughly in time
-- order, so a BRIN index finds them there for a few kilobytes and almost no insert cost.
CREATE INDEX events_ts ON events USING brin (ts);

-- Every dedupe_key stored (and not yet pruned): the one place where uniqueness across all
-- partitions is enforced. Ingest inserts here first (ON CONFLICT DO NOTHING) and stores only the
-- events whose key was new, in the same statement; prune deletes the keys of the events it
-- removes, in the same transaction, so each key row has exactly one event row. Nothing else is
-- kept here: every byte and index of this table is paid on every insert.
CREATE TABLE event_keys (
    dedupe_key TEXT COLLATE "C" PRIMARY KEY
);

-- Small values every instance must see alike (a Slack user's language, their recent lookups):
-- what `bot.slack.state.KeyValueStore` asks of a shared store.
CREATE TABLE kv (
    scope      TEXT COLLATE "C" NOT NULL,
    key        TEXT COLLATE "C" NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);
