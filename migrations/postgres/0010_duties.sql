-- Several processes on one store. Work that must happen once (the scheduled checks) is held
-- by one process at a time: a lease renewed while its holder lives, taken over once it runs
-- out (wall-clock milliseconds, as the outbox's claims: a lease is a promise in real time).
CREATE TABLE duties (
    name     TEXT COLLATE "C" PRIMARY KEY,
    holder   TEXT COLLATE "C" NOT NULL,
    until_ms BIGINT NOT NULL,
    since_ms BIGINT NOT NULL
);

-- One alert on its way per comment and room, whichever process queued it: two processes
-- queueing the same alert at the same moment leave one row, not two posts.
CREATE UNIQUE INDEX outbox_one_open_alert ON outbox (comment_id, destination, channel)
    WHERE kind = 'alert' AND state IN ('pending', 'claimed');
