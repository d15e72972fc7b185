-- Response-time escalations: one row per comment whose target was missed and reported to the
-- moderators' channel. The primary key is what makes "at most once per comment" hold across
-- restarts and across several bot processes; `pinged` feeds the per-hour ping budget.
CREATE TABLE escalations (
    comment_id   TEXT PRIMARY KEY REFERENCES comments (id),
    -- The label whose target was missed, and when it was due.
    label        TEXT NOT NULL,
    deadline     TEXT NOT NULL,
    escalated_at TEXT NOT NULL,
    -- The role pinged, if one was configured; `pinged` is 0 when the hourly budget was spent.
    role_id      TEXT,
    pinged       INTEGER NOT NULL
);
CREATE INDEX escalations_by_time ON escalations (escalated_at);

-- Daily digests posted, so a digest missed while the bot was down is posted once at start,
-- and never twice when several processes share the store.
CREATE TABLE digests (
    -- Local date (in the digest's time zone) of the scheduled digest, YYYY-MM-DD.
    day          TEXT PRIMARY KEY,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    posted_at    TEXT NOT NULL
);
