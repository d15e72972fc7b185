-- Alerts per room: with both a Discord channel and a Telegram chat as moderators' rooms, a
-- comment has one alert message in each, and each is updated when the comment moves. The key
-- becomes (comment, room); `destination` names the room's platform ('discord', 'telegram', or
-- 'terminal' for the replay's printed alerts).
CREATE TABLE alerts_by_room (
    comment_id  TEXT NOT NULL REFERENCES comments (id),
    destination TEXT NOT NULL,
    channel_id  TEXT NOT NULL,
    message_id  TEXT NOT NULL,
    posted_at   TEXT NOT NULL,
    PRIMARY KEY (comment_id, destination, channel_id)
);
-- Until now one alert per comment was kept: posted through the outbox (Discord, which says
-- where), or directly by the Telegram room (only for Telegram comments), or by the replay.
INSERT INTO alerts_by_room (comment_id, destination, channel_id, message_id, posted_at)
SELECT a.comment_id,
       COALESCE(
           (SELECT o.destination FROM outbox o
             WHERE o.comment_id = a.comment_id AND o.kind = 'alert' AND o.message_id = a.message_id
             LIMIT 1),
           CASE WHEN a.channel_id = 'terminal' THEN 'terminal'
                WHEN c.source = 'telegram' THEN 'telegram'
                ELSE 'discord' END),
       a.channel_id, a.message_id, a.posted_at
  FROM alerts a JOIN comments c ON c.id = a.comment_id;
-- A Telegram comment alerted in both rooms kept only its last alert there: the other one is
-- still known from the outbox row that posted it.
INSERT OR IGNORE INTO alerts_by_room (comment_id, destination, channel_id, message_id, posted_at)
SELECT o.comment_id, o.destination, o.channel, o.message_id, COALESCE(o.done_at, o.created_at)
  FROM outbox o
 WHERE o.kind = 'alert' AND o.state = 'sent' AND o.comment_id IS NOT NULL
   AND o.message_id IS NOT NULL;
DROP TABLE alerts;
ALTER TABLE alerts_by_room RENAME TO alerts;
-- A moderator's reply to an alert message names it by (room, message).
CREATE INDEX alerts_by_message ON alerts (destination, channel_id, message_id);

-- One waiting update per comment and room (it was one per comment).
DROP INDEX outbox_one_waiting_update;
CREATE UNIQUE INDEX outbox_one_waiting_update ON outbox (comment_id, destination, channel)
    WHERE kind = 'alert_update' AND state = 'pending';

-- Telegram in webhook mode: each update Telegram POSTs is stored here before the 200, keyed
-- by its update_id (Telegram's retries are stored once), then handled from the stored row;
-- rows not handled when the bot stopped are handled at the next start. Handled rows are
-- pruned after a day (Telegram restarts its ids only after a week without updates).
CREATE TABLE telegram_updates (
    update_id   INTEGER PRIMARY KEY,
    body        TEXT NOT NULL,
    received_at TEXT NOT NULL,
    handled_at  TEXT
);
CREATE INDEX telegram_updates_waiting ON telegram_updates (update_id) WHERE handled_at IS NULL;

-- Which process reads this bot's updates (polls, or handles stored webhook updates), so only
-- one does when several run on one database: a lease, renewed while held, taken over once
-- it runs out (wall-clock milliseconds).
CREATE TABLE telegram_lease (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    holder   TEXT NOT NULL,
    until_ms INTEGER NOT NULL
);
