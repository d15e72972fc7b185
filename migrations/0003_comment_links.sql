-- Where a comment can be opened on its platform, written by the channel adapter that received
-- it (the core no longer builds platform links). Discord comments stored before this column
-- get the link Discord's adapter would have written.
ALTER TABLE comments ADD COLUMN link TEXT;

UPDATE comments
SET link = 'https://discord.com/channels/' || COALESCE(guild_id, '@me') || '/' || channel_id || '/' || id
WHERE source = 'discord';
