-- Comments as they arrived, and where each stands. `state` is written before anything is
-- acted on, so a restart resumes exactly where the bot stopped.
CREATE TABLE comments (
    id               TEXT PRIMARY KEY,
    source           TEXT NOT NULL,
    channel_id       TEXT NOT NULL,
    channel_name     TEXT NOT NULL,
    guild_id         TEXT,
    parent_id        TEXT,
    is_dm            INTEGER NOT NULL,
    author_id        TEXT NOT NULL,
    author_name      TEXT NOT NULL,
    author_is_staff  INTEGER NOT NULL,
    text             TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    reply_to         TEXT,
    state            TEXT NOT NULL,
    state_changed_at TEXT NOT NULL,
    -- Who answered (a staff member, a moderator through the bot, or someone else).
    answered_by      TEXT,
    -- When the clock stopped: first answer, reply, dismissal.
    closed_at        TEXT
);
CREATE INDEX comments_by_state ON comments (state, created_at);
CREATE INDEX comments_by_channel ON comments (channel_id, created_at);

-- Triage's decision, with its explanation, as it was when the comment was (re)triaged.
CREATE TABLE verdicts (
    comment_id  TEXT PRIMARY KEY REFERENCES comments (id),
    labels      TEXT NOT NULL,
    main_rule   TEXT,
    topic       TEXT,
    severity    TEXT,
    language    TEXT NOT NULL,
    verdict     TEXT NOT NULL,
    triaged_at  TEXT NOT NULL
);

-- The reply currently proposed to moderators.
CREATE TABLE drafts (
    comment_id  TEXT PRIMARY KEY REFERENCES comments (id),
    template_id TEXT NOT NULL,
    language    TEXT NOT NULL,
    wording     INTEGER NOT NULL,
    text        TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

-- The alert message moderators see, so it can be updated after a restart.
CREATE TABLE alerts (
    comment_id  TEXT PRIMARY KEY REFERENCES comments (id),
    channel_id  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    posted_at   TEXT NOT NULL
);

-- Audit trail: every moderator action, with the draft and what was actually sent.
CREATE TABLE actions (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    comment_id       TEXT NOT NULL REFERENCES comments (id),
    action           TEXT NOT NULL,
    moderator_id     TEXT,
    moderator_name   TEXT,
    at               TEXT NOT NULL,
    draft_text       TEXT,
    sent_text        TEXT,
    reply_message_id TEXT
);
CREATE INDEX actions_by_comment ON actions (comment_id);
CREATE INDEX actions_by_time ON actions (at);

-- Last message seen per channel, to catch up after downtime without handling anything twice.
CREATE TABLE checkpoints (
    channel_id      TEXT PRIMARY KEY,
    last_message_id TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
