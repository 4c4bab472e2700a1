-- chatlines PostgreSQL schema: the supervisor list finds a session's
-- operator messages through an index of outbound messages alone.
--
-- Its client messages need none of their own: the first one after the
-- last operator message, and the last one, are found on the
-- (session, seq) key. Ingest, which stores client messages, no longer
-- writes an index entry keyed by session and direction for each one.
DROP INDEX messages_by_direction;
CREATE INDEX messages_outbound ON messages (session, seq) WHERE direction = 'outbound';
