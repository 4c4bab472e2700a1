-- chatlines PostgreSQL schema, version 3: the event log.
--
-- Every store call that changes something appends its events here in the
-- same transaction as the change. A position is (tx, seq): the writing
-- transaction's id, then the order of insertion.
--
-- Every transaction that writes events first takes the schema's writer
-- lock (advisory, shared; nobody takes it exclusively), before its first
-- write, so before it has a transaction id. A reader first computes a
-- bound: the next transaction id to be assigned, lowered to the id of every
-- transaction holding the writer lock at that moment. Then, in a later
-- statement, it returns only events below the bound. Every writer with an
-- id below the bound had ended before that statement began, so no event
-- can later appear at or before a position already returned, whatever
-- order transactions commit in and whatever gaps the sequence has; and
-- transactions of other schemas or without events hold nothing back.
--
-- The order of one session's events is the order of its changes because
-- every transaction that changes a session takes that session's locks
-- (chatlines_lock_sessions, below) before its first write, and transaction
-- ids are assigned at the first write: of two such transactions, the one
-- that waited gets the larger id.

CREATE TABLE events (
    tx     xid8 NOT NULL DEFAULT pg_current_xact_id(),
    seq    bigserial NOT NULL,
    id     uuid NOT NULL,
    at_ns  bigint NOT NULL,
    body   jsonb NOT NULL,
    PRIMARY KEY (tx, seq)
);

-- The named cursors of the log's consumers. A consumer's position only
-- moves forward; events every consumer has passed may be pruned.
CREATE TABLE event_consumers (
    name      text PRIMARY KEY,
    tx        xid8 NOT NULL,
    seq       bigint NOT NULL,
    saved_ns  bigint NOT NULL
);

-- The locks of session writers, in the one global order every caller
-- uses: the schema's writer lock (p_writer, shared); then each line's lock,
-- shared (delete_line takes it exclusively), in order of its key; then each
-- contact's lock, exclusive, in order of its key. Advisory locks assign no transaction id, so a caller that takes them
-- before its first write gets its id only once the writers it waited for
-- have committed.
--
-- The line keys are those of chatlines_append_inbound_batch (version 2):
-- a batch that called this first finds its line locks held already.
CREATE FUNCTION chatlines_lock_sessions(p_writer integer, p_line uuid[], p_contact_key text[])
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_lock integer;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(1702261875, p_writer);
    FOR v_lock IN
        SELECT DISTINCT hashtext(l::text) FROM unnest(p_line) AS l ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock_shared(1818847858, v_lock);
    END LOOP;
    FOR v_lock IN
        SELECT DISTINCT hashtext(k) FROM unnest(p_contact_key) AS k ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock(1668247156, v_lock);
    END LOOP;
END;
$$;
