-- Less to write per event, so ingest keeps its pace at tens of millions of events on a stock
-- server (128 MB of shared buffers): every index an event touches at a random place is a page
-- read, a dirty page written back and, after each checkpoint, a full page image in the WAL.

-- event_keys held each dedupe_key in full (about 60 bytes: provider, type, message id, ...),
-- and its unique index, which every event probes at a random place, grew to a gigabyte at ten
-- million events. It now holds a 16-byte digest of the key, the first 128 bits of its SHA-256,
-- as a fixed-size uuid (the most compact type btree compares with memcmp): 28 bytes an index
-- entry instead of about 76. Two keys with one digest are as unlikely as two random 128-bit numbers
-- being equal. The store computes the digest in Python on ingest; this function is the same
-- digest for SQL (prune, and this migration). STABLE, as convert_to is: the planner inlines it
-- then, where it would call an IMMUTABLE one row by row, twice as slow over millions of rows.
CREATE FUNCTION event_key_digest(key TEXT) RETURNS UUID
    LANGUAGE sql STABLE STRICT PARALLEL SAFE
    AS 'SELECT encode(substring(sha256(convert_to(key, ''UTF8'')) FOR 16), ''hex'')::uuid';
CREATE TABLE event_digests (digest UUID NOT NULL);
INSERT INTO event_digests (digest) SELECT DISTINCT event_key_digest(dedupe_key) FROM event_keys;
DROP TABLE event_keys;
ALTER TABLE event_digests RENAME TO event_keys;
ALTER TABLE event_keys ADD PRIMARY KEY (digest);

-- "Addresses seen at a domain" (near-miss suggestions) read two indexes on
-- split_part(address, '@', 2), one over events and one over dispatch_recipients, that every event
-- and every recipient added an entry to, though a busy address gets thousands of events and the
-- answer needs it once. One row per address instead: ingest adds the addresses it has not seen (a
-- probe of a small, cached index; nothing is written for a known one), prune removes those left
-- with neither events nor dispatches. The domain is the text after the last '@', as the lookup's
-- caller splits it.
CREATE TABLE recipient_addresses (
    domain  TEXT COLLATE "C" NOT NULL,
    address TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (domain, address)
);
INSERT INTO recipient_addresses (domain, address)
    SELECT substring(address FROM '[^@]*$'), address
    FROM (SELECT recipient FROM events UNION SELECT address FROM dispatch_recipients)
        AS seen (address);
DROP INDEX events_recipient_domain;
DROP INDEX dispatch_recipients_domain;
