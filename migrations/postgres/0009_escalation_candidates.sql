-- Which open comments may still be escalated, read through an index (see SQLite's
-- migration 0009): a comment is marked in the same transaction that records its escalation,
-- and the partial index holds only open comments not escalated yet, by time.
ALTER TABLE comments ADD COLUMN escalated BIGINT NOT NULL DEFAULT 0;
UPDATE comments SET escalated = 1
 WHERE EXISTS (SELECT 1 FROM escalations e WHERE e.comment_id = comments.id);
CREATE INDEX comments_awaiting_escalation ON comments (escalated, created_at, id)
    WHERE escalated = 0 AND state IN ('flagged', 'alerted', 'sending');

-- The hourly ping budget counts the pings of the last hour through their own index (see
-- SQLite's migration 0009).
CREATE INDEX escalations_pinged ON escalations (pinged, escalated_at) WHERE pinged = 1;
