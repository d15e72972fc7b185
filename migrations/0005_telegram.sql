-- Telegram's bookkeeping, written by the Telegram adapter (src/telegram/), never by the tracker:
-- it is about the platform's delivery, not about any comment.

-- The next update to ask getUpdates for (last handled update_id + 1), one row. Stored as it is,
-- not as a maximum: after a week without updates Telegram may restart its ids lower.
CREATE TABLE telegram_offset (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    next_update INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);

-- Groups upgraded to supergroups (migrate_to_chat_id): replies to comments written before the
-- upgrade go to the new chat.
CREATE TABLE telegram_chat_moves (
    from_chat   INTEGER PRIMARY KEY,
    to_chat     INTEGER NOT NULL,
    moved_at    TEXT NOT NULL
);
