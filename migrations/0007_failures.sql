-- Comments Ascolto could not process (an error, or a panic caught at the comment's boundary).
-- Recording one lets ingest move past it (the channel's checkpoint advances) without losing
-- it: the comment itself is kept here and tried again at the next start, and the digest
-- counts the failures of its window.
CREATE TABLE failures (
    comment_id      TEXT PRIMARY KEY,
    source          TEXT NOT NULL,
    channel         TEXT NOT NULL,
    -- 'ingest' or 'edit': what was being done with it.
    stage           TEXT NOT NULL,
    -- 'error' or 'panic'.
    kind            TEXT NOT NULL,
    error           TEXT NOT NULL,
    -- The comment as received (`Comment` as JSON), to try again.
    comment         TEXT NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 1,
    first_failed_at TEXT NOT NULL,
    last_failed_at  TEXT NOT NULL,
    -- Set once a later attempt succeeded.
    resolved_at     TEXT
);

CREATE INDEX failures_open ON failures (resolved_at, first_failed_at);
