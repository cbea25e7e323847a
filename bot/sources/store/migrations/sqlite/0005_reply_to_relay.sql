-- Reply-To and the customer's own outgoing server, from the product's dispatch records: trees
-- name the address replies go to, and say so when mail went out through the customer's own
-- server (no delivery events will come back then).
ALTER TABLE dispatches ADD COLUMN reply_to TEXT NOT NULL DEFAULT '';
ALTER TABLE dispatches ADD COLUMN relay TEXT NOT NULL DEFAULT '';
