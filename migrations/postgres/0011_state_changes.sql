-- The comments that needed an answer whose state changed lately, by the time of the change.
-- Each platform's clock keeps its alerts' target lines in step (nearing, missed) by reading,
-- at each check, the comments whose reading time can have moved (by `created_at`, through
-- `comments_by_state`) and those that changed otherwise since the previous check: alerted,
-- sent, given back, or closed (whose remembered reading is forgotten). It used to read every
-- open comment twice a minute per platform; this index makes the second read follow the
-- changes. Clear comments are left out: they never had a reading, and in a busy channel they
-- are most of what is stored every minute. Queries repeat the condition word for word so the
-- planner can use the index.
CREATE INDEX comments_by_state_change ON comments (state_changed_at)
    WHERE state NOT IN ('new', 'clear');
