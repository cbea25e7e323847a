-- Alerts already posted, one row per (dispatch, recipient, verdict). Inserting the row is the
-- claim that posts the alert (INSERT ... ON CONFLICT DO NOTHING): the instance whose insert
-- wrote the row posts it, every other instance and every later restart sees the row and does
-- not, so an alert goes out at most once however often its events are delivered.
CREATE TABLE alerts_sent (
    dispatch_id TEXT COLLATE "C" NOT NULL,
    recipient   TEXT COLLATE "C" NOT NULL,
    verdict     TEXT COLLATE "C" NOT NULL,
    tenant      TEXT COLLATE "C",
    sent_at     TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (dispatch_id, recipient, verdict)
);
CREATE INDEX alerts_sent_age ON alerts_sent (sent_at);
