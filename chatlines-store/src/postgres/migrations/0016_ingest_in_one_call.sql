-- chatlines PostgreSQL schema: an ingest batch in one call. It takes the
-- batch's session locks (chatlines_lock_sessions), looks for sessions to
-- reopen when asked to (only on lines with a reopen window: elsewhere no
-- session reopens), and if it finds one stores nothing and answers one row
-- with reopen = true (the caller reopens them under its locks and calls
-- again without looking). Otherwise it stores the batch
-- (chatlines_append_inbound_batch), cancels the timers a client's message
-- cancels (p_cancel) on every session a new message went to, and answers
-- each row with its session's priority (a session the batch opened is not
-- visible to that join yet and has the default, normal).
CREATE FUNCTION chatlines_ingest_batch(
    p_writer integer, p_find_reopen boolean, p_cancel text[],
    p_line uuid[], p_key text[], p_display text[], p_reply text[],
    p_contact uuid[], p_session uuid[], p_message uuid[], p_body jsonb[],
    p_ext_source uuid[], p_ext_id text[], p_now bigint[]
) RETURNS TABLE (
    reopen boolean,
    idx integer, line_missing boolean, duplicate boolean, opened boolean,
    m_id uuid, m_session uuid, m_line uuid, m_contact uuid,
    m_seq bigint, m_direction text, m_author jsonb, m_body jsonb,
    m_ext_source uuid, m_ext_id text, m_created_ns bigint,
    s_status text, s_operator text, s_reason jsonb, s_version bigint,
    s_last_seq bigint, s_opened_ns bigint, s_updated_ns bigint, s_closed_ns bigint,
    c_key text, c_display_name text, c_reply_address text, c_created_ns bigint,
    s_priority smallint
) LANGUAGE plpgsql AS $$
#variable_conflict use_column
BEGIN
    PERFORM chatlines_lock_sessions(p_writer, p_line, p_key);
    IF p_find_reopen
       AND EXISTS (SELECT 1 FROM lines l WHERE l.id = ANY (p_line)
                   AND (l.config->'timers'->>'reopen_secs') IS NOT NULL)
       AND EXISTS (
           SELECT 1 FROM unnest(p_line, p_key, p_now, p_ext_source, p_ext_id)
                AS i(line, key, now_ns, src, ext)
           JOIN lines l ON l.id = i.line
           JOIN contacts c ON c.key = i.key
           JOIN LATERAL (SELECT x.id, x.status, x.closed_ns FROM sessions x
               WHERE x.line = i.line AND x.contact = c.id
               ORDER BY x.opened_ns DESC, x.ord DESC LIMIT 1) s ON s.status = 'closed'
           WHERE (l.config->'timers'->>'reopen_secs') IS NOT NULL
             AND s.closed_ns >= i.now_ns
                 - (l.config->'timers'->>'reopen_secs')::bigint * 1000000000
             AND NOT EXISTS (SELECT 1 FROM messages m
                 WHERE i.src IS NOT NULL AND m.ext_source = i.src AND m.ext_id = i.ext))
    THEN
        reopen := true;
        RETURN NEXT;
        RETURN;
    END IF;
    RETURN QUERY
        WITH b AS MATERIALIZED (SELECT * FROM chatlines_append_inbound_batch(
                 p_line, p_key, p_display, p_reply, p_contact, p_session, p_message,
                 p_body, p_ext_source, p_ext_id, p_now)),
             cancelled AS (DELETE FROM timers t USING b
                 WHERE t.session = b.m_session AND NOT b.duplicate AND NOT b.line_missing
                   AND t.kind = ANY (p_cancel))
        SELECT false, b.*, coalesce(s.priority, 1::smallint)
        FROM b LEFT JOIN sessions s ON s.id = b.m_session;
END;
$$;
