-- The comments whose state changed lately, by the time of the change. Each platform's clock
-- keeps its alerts' target lines in step (nearing, missed) by reading, at each check, the
-- comments whose reading time can have moved (by `created_at`, through `comments_by_state`)
-- and those that changed otherwise since the previous check: alerted, sent, given back,
-- retriaged, or closed (whose remembered reading is forgotten). It used to read every open
-- comment twice a minute per platform; this index makes the second read follow the changes.
CREATE INDEX comments_by_state_change ON comments (state_changed_at);
