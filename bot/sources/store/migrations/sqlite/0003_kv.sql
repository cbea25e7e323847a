-- Small values that every instance must see alike: the Slack bot's per-user language choice
-- and recent lookups (bot/slack/state.py). Written rarely, read by key.
CREATE TABLE kv (
    scope      TEXT NOT NULL,
    key        TEXT NOT NULL,
    value      TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
