-- Which open comments may still be escalated, read through an index. The scheduler's check
-- used to read every open comment and look each one up in `escalations`; with a day's backlog
-- of open comments, already escalated, that was most of every check (and of a replay). Now a
-- comment is marked in the same transaction that records its escalation, and the partial
-- index below holds only open comments not escalated yet, by time: the check reads those old
-- enough to have missed a target, and nothing else.
ALTER TABLE comments ADD COLUMN escalated INTEGER NOT NULL DEFAULT 0;
UPDATE comments SET escalated = 1
 WHERE EXISTS (SELECT 1 FROM escalations e WHERE e.comment_id = comments.id);
-- The states are `CommentState::OPEN`; queries repeat this condition word for word so the
-- planner can use the index. `escalated` leads the key although it is always 0 here: an
-- equality on the first column is what makes SQLite's planner (without statistics) prefer
-- this index to `comments_by_state`, which would read every open comment.
CREATE INDEX comments_awaiting_escalation ON comments (escalated, created_at, id)
    WHERE escalated = 0 AND state IN ('flagged', 'alerted', 'sending');

-- The hourly ping budget counts the pings of the last hour. Through `escalations_by_time` that
-- read every escalation of the hour, pinged or not: after a backlog was escalated at once (a
-- start after downtime), every escalation for the next hour counted the whole backlog. Only
-- pinged rows are in this index (at most `max_pings_per_hour` an hour); `pinged` leads the
-- key so that the planner, without statistics, prefers it for `pinged = 1 AND escalated_at …`.
CREATE INDEX escalations_pinged ON escalations (pinged, escalated_at) WHERE pinged = 1;
