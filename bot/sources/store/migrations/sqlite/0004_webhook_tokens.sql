-- Signature tokens a webhook was signed with, kept while a replay could still pass the
-- freshness check. Mailgun signs only a timestamp and a token, not the body, so a token that
-- comes back with another body is a forgery (bot/sources/esps/mailgun). Kept in the store so
-- that every instance refuses it; `whymail store prune` removes expired rows.
CREATE TABLE webhook_tokens (
    scope       TEXT NOT NULL,
    token       TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    PRIMARY KEY (scope, token)
) WITHOUT ROWID;
CREATE INDEX webhook_tokens_expiry ON webhook_tokens (expires_at);
