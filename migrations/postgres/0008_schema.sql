-- The PostgreSQL schema, as SQLite's migrations 0001 to 0008 leave it (`migrations/*.sql`):
-- a new store starts here, and later migrations keep the same numbers on both.
-- Types are kept to what both stores share, so one query reads either: times are RFC 3339
-- TEXT, flags and counts BIGINT (0 or 1 for flags). Text compares byte by byte (COLLATE "C",
-- as in SQLite): times and ids sort by value, never by a locale's rules.

-- Comments as they arrived, and where each stands.
CREATE TABLE comments (
    id               TEXT COLLATE "C" PRIMARY KEY,
    source           TEXT COLLATE "C" NOT NULL,
    channel_id       TEXT COLLATE "C" NOT NULL,
    channel_name     TEXT COLLATE "C" NOT NULL,
    guild_id         TEXT COLLATE "C",
    parent_id        TEXT COLLATE "C",
    is_dm            BIGINT NOT NULL,
    author_id        TEXT COLLATE "C" NOT NULL,
    author_name      TEXT COLLATE "C" NOT NULL,
    author_is_staff  BIGINT NOT NULL,
    text             TEXT COLLATE "C" NOT NULL,
    created_at       TEXT COLLATE "C" NOT NULL,
    reply_to         TEXT COLLATE "C",
    state            TEXT COLLATE "C" NOT NULL,
    state_changed_at TEXT COLLATE "C" NOT NULL,
    answered_by      TEXT COLLATE "C",
    closed_at        TEXT COLLATE "C",
    link             TEXT COLLATE "C"
);
CREATE INDEX comments_by_state ON comments (state, created_at);
CREATE INDEX comments_by_channel ON comments (channel_id, created_at);

CREATE TABLE verdicts (
    comment_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES comments (id),
    labels      TEXT COLLATE "C" NOT NULL,
    main_rule   TEXT COLLATE "C",
    topic       TEXT COLLATE "C",
    severity    TEXT COLLATE "C",
    language    TEXT COLLATE "C" NOT NULL,
    verdict     TEXT COLLATE "C" NOT NULL,
    triaged_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE drafts (
    comment_id  TEXT COLLATE "C" PRIMARY KEY REFERENCES comments (id),
    template_id TEXT COLLATE "C" NOT NULL,
    language    TEXT COLLATE "C" NOT NULL,
    wording     BIGINT NOT NULL,
    text        TEXT COLLATE "C" NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE actions (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    comment_id       TEXT COLLATE "C" NOT NULL REFERENCES comments (id),
    action           TEXT COLLATE "C" NOT NULL,
    moderator_id     TEXT COLLATE "C",
    moderator_name   TEXT COLLATE "C",
    at               TEXT COLLATE "C" NOT NULL,
    draft_text       TEXT COLLATE "C",
    sent_text        TEXT COLLATE "C",
    reply_message_id TEXT COLLATE "C"
);
CREATE INDEX actions_by_comment ON actions (comment_id);
CREATE INDEX actions_by_time ON actions (at);

CREATE TABLE checkpoints (
    channel_id      TEXT COLLATE "C" PRIMARY KEY,
    last_message_id TEXT COLLATE "C" NOT NULL,
    updated_at      TEXT COLLATE "C" NOT NULL
);

CREATE TABLE escalations (
    comment_id   TEXT COLLATE "C" PRIMARY KEY REFERENCES comments (id),
    label        TEXT COLLATE "C" NOT NULL,
    deadline     TEXT COLLATE "C" NOT NULL,
    escalated_at TEXT COLLATE "C" NOT NULL,
    role_id      TEXT COLLATE "C",
    pinged       BIGINT NOT NULL
);
CREATE INDEX escalations_by_time ON escalations (escalated_at);

CREATE TABLE digests (
    day          TEXT COLLATE "C" PRIMARY KEY,
    window_start TEXT COLLATE "C" NOT NULL,
    window_end   TEXT COLLATE "C" NOT NULL,
    posted_at    TEXT COLLATE "C" NOT NULL
);

CREATE TABLE webhook_events (
    id           TEXT COLLATE "C" PRIMARY KEY,
    channel      TEXT COLLATE "C" NOT NULL,
    body         BYTEA NOT NULL,
    received_at  TEXT COLLATE "C" NOT NULL,
    processed_at TEXT COLLATE "C",
    problem      TEXT COLLATE "C"
);
CREATE INDEX webhook_events_pending ON webhook_events (channel, received_at) WHERE processed_at IS NULL;

CREATE TABLE meta_conversations (
    conversation    TEXT COLLATE "C" PRIMARY KEY,
    page_id         TEXT COLLATE "C" NOT NULL,
    person_id       TEXT COLLATE "C" NOT NULL,
    last_inbound_at TEXT COLLATE "C" NOT NULL
);

CREATE TABLE telegram_offset (
    id          BIGINT PRIMARY KEY CHECK (id = 1),
    next_update BIGINT NOT NULL,
    updated_at  TEXT COLLATE "C" NOT NULL
);

CREATE TABLE telegram_chat_moves (
    from_chat   BIGINT PRIMARY KEY,
    to_chat     BIGINT NOT NULL,
    moved_at    TEXT COLLATE "C" NOT NULL
);

CREATE TABLE outbox (
    id              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    destination     TEXT COLLATE "C" NOT NULL,
    channel         TEXT COLLATE "C" NOT NULL,
    comment_id      TEXT COLLATE "C" REFERENCES comments (id),
    kind            TEXT COLLATE "C" NOT NULL,
    payload         TEXT COLLATE "C" NOT NULL,
    state           TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    maybe_sent      BIGINT NOT NULL DEFAULT 0,
    due_ms          BIGINT,
    lease_ms        BIGINT,
    first_failed_ms BIGINT,
    created_at      TEXT COLLATE "C" NOT NULL,
    done_at         TEXT COLLATE "C",
    message_id      TEXT COLLATE "C",
    last_error      TEXT COLLATE "C"
);
CREATE INDEX outbox_open ON outbox (destination, channel, id) WHERE state IN ('pending', 'claimed');
CREATE INDEX outbox_by_comment ON outbox (comment_id, kind);
CREATE INDEX outbox_done ON outbox (state, done_at);
CREATE UNIQUE INDEX outbox_one_waiting_update ON outbox (comment_id, destination, channel)
    WHERE kind = 'alert_update' AND state = 'pending';

CREATE TABLE failures (
    comment_id      TEXT COLLATE "C" PRIMARY KEY,
    source          TEXT COLLATE "C" NOT NULL,
    channel         TEXT COLLATE "C" NOT NULL,
    stage           TEXT COLLATE "C" NOT NULL,
    kind            TEXT COLLATE "C" NOT NULL,
    error           TEXT COLLATE "C" NOT NULL,
    comment         TEXT COLLATE "C" NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 1,
    first_failed_at TEXT COLLATE "C" NOT NULL,
    last_failed_at  TEXT COLLATE "C" NOT NULL,
    resolved_at     TEXT COLLATE "C"
);
CREATE INDEX failures_open ON failures (resolved_at, first_failed_at);

CREATE TABLE alerts (
    comment_id  TEXT COLLATE "C" NOT NULL REFERENCES comments (id),
    destination TEXT COLLATE "C" NOT NULL,
    channel_id  TEXT COLLATE "C" NOT NULL,
    message_id  TEXT COLLATE "C" NOT NULL,
    posted_at   TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (comment_id, destination, channel_id)
);
CREATE INDEX alerts_by_message ON alerts (destination, channel_id, message_id);

CREATE TABLE telegram_updates (
    update_id   BIGINT PRIMARY KEY,
    body        TEXT COLLATE "C" NOT NULL,
    received_at TEXT COLLATE "C" NOT NULL,
    handled_at  TEXT COLLATE "C"
);
CREATE INDEX telegram_updates_waiting ON telegram_updates (update_id) WHERE handled_at IS NULL;

CREATE TABLE telegram_lease (
    id       BIGINT PRIMARY KEY CHECK (id = 1),
    holder   TEXT COLLATE "C" NOT NULL,
    until_ms BIGINT NOT NULL
);
