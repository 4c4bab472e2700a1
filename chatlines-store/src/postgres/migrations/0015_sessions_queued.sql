-- chatlines PostgreSQL schema: the lines that have queued sessions, read
-- by queued_lines (what Hub::drain walks) from the queued sessions alone,
-- never from every waiting one.
CREATE INDEX sessions_queued ON sessions (line) WHERE status = 'queued';
