-- Alerts already posted, one row per (dispatch, recipient, verdict). Inserting the row is the
-- claim that posts the alert (INSERT ... ON CONFLICT DO NOTHING): the instance whose insert
-- wrote the row posts it, every other instance and every later restart sees the row and does
-- not, so an alert goes out at most once however often its events are delivered.
CREATE TABLE alerts_sent (
    dispatch_id TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    tenant      TEXT,
    sent_at     TEXT NOT NULL,
    PRIMARY KEY (dispatch_id, recipient, verdict)
) WITHOUT ROWID;
CREATE INDEX alerts_sent_age ON alerts_sent (sent_at);
