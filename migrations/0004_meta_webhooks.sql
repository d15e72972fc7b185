-- Webhook deliveries, stored before they are acknowledged so a crash between the 200 and the
-- processing loses nothing: rows still unprocessed are processed at the next start. The key is
-- the SHA-256 of the raw body, so a delivery Meta retries is stored, and processed, once (the
-- same event inside a different body is caught by the tracker, which ignores comments it has).
CREATE TABLE webhook_events (
    id           TEXT PRIMARY KEY,
    -- Which channel received it ('meta'), so future HTTP channels share the table.
    channel      TEXT NOT NULL,
    body         BLOB NOT NULL,
    received_at  TEXT NOT NULL,
    processed_at TEXT,
    -- Why processing failed as a whole (an unreadable body); per-event problems are logged.
    problem      TEXT
);
CREATE INDEX webhook_events_pending ON webhook_events (channel, received_at) WHERE processed_at IS NULL;

-- The last message a person sent in each direct-message conversation: Meta refuses ordinary
-- replies more than 24 hours after it, so the bot refuses them first and says why.
CREATE TABLE meta_conversations (
    conversation    TEXT PRIMARY KEY,
    page_id         TEXT NOT NULL,
    person_id       TEXT NOT NULL,
    last_inbound_at TEXT NOT NULL
);
