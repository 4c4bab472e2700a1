-- chatlines PostgreSQL schema: the bot stage's session state (`bot`): a
-- session with the line's bot is neither waiting nor anyone's.
ALTER TABLE sessions DROP CONSTRAINT sessions_status_check;
ALTER TABLE sessions ADD CONSTRAINT sessions_status_check
    CHECK (status IN ('bot', 'queued', 'offered', 'assigned', 'closed'));
