-- Every write to a platform (alerts, alert updates, replies, escalations, digests, notices to
-- moderators), decided here before anything is sent and delivered by the outbox worker
-- (src/outbox.rs). A row goes pending → claimed → sent, or → given_up after bounded retries.
--
-- Two clocks: `created_at` and `done_at` are the tracker's time (what the digest counts);
-- `due_ms`, `lease_ms` and `first_failed_ms` are wall-clock milliseconds since the epoch,
-- because a platform's `retry_after` and a lease between processes are promises in real time.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    -- The platform that delivers it ('discord'), and where: rows of one channel go out in id order.
    destination     TEXT NOT NULL,
    channel         TEXT NOT NULL,
    -- The comment it is about; NULL for digests and notices.
    comment_id      TEXT REFERENCES comments (id),
    kind            TEXT NOT NULL,
    -- The typed payload (`outbox::Payload`) as JSON.
    payload         TEXT NOT NULL,
    state           TEXT NOT NULL,
    -- Attempts started; also the claim's token (marking a row done checks it).
    attempts        INTEGER NOT NULL DEFAULT 0,
    -- 1 once an attempt may have reached the platform without us learning the answer (a
    -- timeout, a 5xx, a process that died holding the claim): the next attempt checks first.
    maybe_sent      INTEGER NOT NULL DEFAULT 0,
    due_ms          INTEGER,
    lease_ms        INTEGER,
    first_failed_ms INTEGER,
    created_at      TEXT NOT NULL,
    done_at         TEXT,
    -- The platform's id for what was posted.
    message_id      TEXT,
    last_error      TEXT
);
-- The head of each channel's queue.
CREATE INDEX outbox_open ON outbox (destination, channel, id) WHERE state IN ('pending', 'claimed');
-- Alert updates for one comment coalesce: only the latest rendering matters, and it is
-- rendered from the database when delivered, so one waiting update is enough.
CREATE UNIQUE INDEX outbox_one_waiting_update ON outbox (comment_id)
    WHERE kind = 'alert_update' AND state = 'pending';
CREATE INDEX outbox_by_comment ON outbox (comment_id, kind);
CREATE INDEX outbox_done ON outbox (state, done_at);
