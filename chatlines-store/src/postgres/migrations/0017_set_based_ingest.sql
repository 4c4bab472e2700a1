-- chatlines PostgreSQL schema: an ingest batch stored with a fixed number
-- of statements, whatever its size.
--
-- chatlines_ingest_batch keeps its signature, its locks, its reopen check
-- and its answer (one row per message, as migration 0016 describes), but
-- no longer runs chatlines_append_inbound_batch's statements once per
-- message. Each step is one statement over the whole batch:
--
-- 1. classify every message: stored before (a duplicate, answered as it
--    is), on a line that does not exist (nothing written), a repeat of an
--    earlier message of the same batch (a duplicate of that one), or new;
-- 2. create the contacts the new messages need (the first message of a
--    contact gives its id, name, reply address and time);
-- 3. per (line, contact): move the open session's last_seq past its new
--    messages, or open a session (queued) holding them;
-- 4. store the new messages, numbered in batch order within each session;
-- 5. cancel the timers a client's message cancels (p_cancel);
-- 6. answer each message with its session as it was right after that
--    message (last_seq its seq, updated at its time) and its contact.
--
-- The locks taken first (chatlines_lock_sessions: the contacts' locks are
-- exclusive) keep other writers of these sessions out, so a step finds
-- what the one before it left. Should a writer that takes no such lock
-- have created the same contact or open session in between, the batch
-- fails with SQLSTATE 40001 and the caller runs it again; a message stored
-- concurrently under the same external id fails it with CLDUP, as before.
--
-- chatlines_append_inbound_batch stays, unused by this version, for
-- instances still running the previous release.
CREATE OR REPLACE FUNCTION chatlines_ingest_batch(
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
) LANGUAGE plpgsql
-- Custom plans of these statements look cheaper to the planner than the
-- generic one, so without this each call would plan them all again. A
-- generic plan cannot know how many messages the arrays hold, and on small
-- tables it would hash whole tables to join a batch of a few rows; a
-- batch is at most a few hundred rows, each found through an index, so
-- its joins are nested loops.
SET plan_cache_mode = force_generic_plan
SET enable_hashjoin = off
SET enable_mergejoin = off
AS $$
#variable_conflict use_column
DECLARE
    v_kind text[];          -- per message: 'new', 'dup' or 'missing'
    v_contact uuid[];       -- per message: its contact (new messages)
    v_session uuid[];       -- per message: its session (new messages)
    v_seq bigint[];         -- per message: its seq (new messages)
    v_opened boolean[];     -- per message: whether it opened its session
    v_new integer;          -- how many messages are new
    v_lost boolean;         -- whether a new one found no contact or session
    v_stored integer;
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

    -- 1. Classify. A repeat of an external id is a duplicate of the first
    -- message carrying it that is stored (its line exists).
    SELECT coalesce(array_agg(k.kind ORDER BY k.n), '{}')
        INTO v_kind
        FROM (
            SELECT i.n,
                   CASE
                       WHEN EXISTS (SELECT 1 FROM messages m
                                    WHERE i.ext IS NOT NULL
                                      AND m.ext_source = i.src AND m.ext_id = i.ext)
                           THEN 'dup'
                       WHEN l.id IS NULL THEN 'missing'
                       WHEN i.src IS NOT NULL AND i.ext IS NOT NULL
                            AND count(l.id) OVER (
                                PARTITION BY i.src, i.ext ORDER BY i.n
                                ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) > 0
                           THEN 'dup'
                       ELSE 'new'
                   END AS kind
            FROM unnest(p_line, p_ext_source, p_ext_id) WITH ORDINALITY AS i(line, src, ext, n)
            LEFT JOIN lines l ON l.id = i.line
        ) k;

    -- 2. Contacts.
    INSERT INTO contacts (id, key, display_name, reply_address, created_ns)
        SELECT DISTINCT ON (i.key) i.id, i.key, i.display, i.reply, i.now_ns
        FROM unnest(v_kind, p_key, p_contact, p_display, p_reply, p_now)
             WITH ORDINALITY AS i(kind, key, id, display, reply, now_ns, n)
        WHERE i.kind = 'new'
          AND NOT EXISTS (SELECT 1 FROM contacts c WHERE c.key = i.key)
        ORDER BY i.key, i.n
        ON CONFLICT (key) DO NOTHING;
    SELECT coalesce(array_agg(c.id ORDER BY i.n), '{}')
        INTO v_contact
        FROM unnest(v_kind, p_key) WITH ORDINALITY AS i(kind, key, n)
        LEFT JOIN contacts c ON i.kind = 'new' AND c.key = i.key;

    -- 3. Sessions: one row per (line, contact) of the new messages.
    WITH items AS (
        SELECT i.n, i.line, i.contact, i.session, i.now_ns,
               row_number() OVER w AS rank,
               count(*) OVER w_all AS total,
               last_value(i.now_ns) OVER w_all AS last_ns
        FROM unnest(v_kind, p_line, v_contact, p_session, p_now)
             WITH ORDINALITY AS i(kind, line, contact, session, now_ns, n)
        WHERE i.kind = 'new'
        WINDOW w AS (PARTITION BY i.line, i.contact ORDER BY i.n),
               w_all AS (PARTITION BY i.line, i.contact ORDER BY i.n
                         ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)
    ),
    groups AS (
        SELECT f.line, f.contact, f.session, f.now_ns AS first_ns, f.total, f.last_ns
        FROM items f WHERE f.rank = 1
    ),
    moved AS (
        UPDATE sessions s SET last_seq = s.last_seq + g.total, updated_ns = g.last_ns
        FROM groups g
        WHERE s.line = g.line AND s.contact = g.contact AND s.status <> 'closed'
        RETURNING s.id, g.line, g.contact, s.last_seq - g.total AS base, false AS opened
    ),
    created AS (
        INSERT INTO sessions AS s (id, line, contact, status, operator, reason, version,
                                   last_seq, opened_ns, updated_ns, closed_ns)
            SELECT g.session, g.line, g.contact, 'queued', NULL, '{"reason":"new"}', 1,
                   g.total, g.first_ns, g.last_ns, NULL
            FROM groups g
            WHERE NOT EXISTS (SELECT 1 FROM sessions x
                              WHERE x.line = g.line AND x.contact = g.contact
                                AND x.status <> 'closed')
            ON CONFLICT (line, contact) WHERE status <> 'closed' DO NOTHING
            RETURNING s.id, s.line, s.contact, 0::bigint AS base, true AS opened
    ),
    placed AS (SELECT * FROM moved UNION ALL SELECT * FROM created)
    SELECT coalesce(array_agg(p.id ORDER BY a.n), '{}'),
           coalesce(array_agg(p.base + it.rank ORDER BY a.n), '{}'),
           coalesce(array_agg(coalesce(p.opened AND it.rank = 1, false) ORDER BY a.n), '{}')
        INTO v_session, v_seq, v_opened
        FROM generate_series(1, coalesce(array_length(p_line, 1), 0)) AS a(n)
        LEFT JOIN items it ON it.n = a.n
        LEFT JOIN placed p ON p.line = it.line AND p.contact = it.contact;

    SELECT count(*) FILTER (WHERE i.kind = 'new'),
           coalesce(bool_or(i.kind = 'new' AND (i.contact IS NULL OR i.session IS NULL)), false)
        INTO v_new, v_lost
        FROM unnest(v_kind, v_contact, v_session) AS i(kind, contact, session);
    IF v_lost THEN
        RAISE EXCEPTION 'a contact or an open session of this batch was created concurrently'
            USING ERRCODE = '40001';
    END IF;

    -- 4. Messages.
    INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                          ext_source, ext_id, created_ns)
        SELECT i.id, i.session, i.line, i.contact, i.seq, 'inbound', '{"kind":"client"}',
               i.body, i.src, i.ext, i.now_ns
        FROM unnest(v_kind, p_message, v_session, p_line, v_contact, v_seq, p_body,
                    p_ext_source, p_ext_id, p_now)
             AS i(kind, id, session, line, contact, seq, body, src, ext, now_ns)
        WHERE i.kind = 'new'
        ON CONFLICT (ext_source, ext_id) DO NOTHING;
    GET DIAGNOSTICS v_stored = ROW_COUNT;
    IF v_stored <> v_new THEN
        RAISE EXCEPTION 'a message of this batch was stored concurrently' USING ERRCODE = 'CLDUP';
    END IF;

    -- 5. Timers.
    DELETE FROM timers t
        WHERE t.session = ANY (v_session) AND t.kind = ANY (p_cancel);

    -- 6. Answers: new messages, then duplicates, then missing lines.
    RETURN QUERY
        SELECT false, (i.n - 1)::integer, false, false, i.opened,
               i.id, i.session, i.line, i.contact, i.seq, 'inbound'::text,
               '{"kind":"client"}'::jsonb, i.body, i.src, i.ext, i.now_ns,
               s.status, s.operator, s.reason, s.version, i.seq, s.opened_ns, i.now_ns,
               s.closed_ns, c.key, c.display_name, c.reply_address, c.created_ns, s.priority
        FROM unnest(v_kind, p_message, v_session, p_line, v_contact, v_seq, p_body,
                    p_ext_source, p_ext_id, p_now, v_opened)
             WITH ORDINALITY AS i(kind, id, session, line, contact, seq, body, src, ext,
                                  now_ns, opened, n)
        JOIN sessions s ON s.id = i.session
        JOIN contacts c ON c.id = i.contact
        WHERE i.kind = 'new';
    RETURN QUERY
        SELECT false, (i.n - 1)::integer, false, true, false,
               m.id, m.session, m.line, m.contact, m.seq, m.direction, m.author, m.body,
               m.ext_source, m.ext_id, m.created_ns,
               s.status, s.operator, s.reason, s.version, s.last_seq, s.opened_ns,
               s.updated_ns, s.closed_ns,
               c.key, c.display_name, c.reply_address, c.created_ns, s.priority
        FROM unnest(v_kind, p_ext_source, p_ext_id) WITH ORDINALITY AS i(kind, src, ext, n)
        JOIN messages m ON m.ext_source = i.src AND m.ext_id = i.ext
        JOIN sessions s ON s.id = m.session
        JOIN contacts c ON c.id = m.contact
        WHERE i.kind = 'dup';
    RETURN QUERY
        SELECT false, (i.n - 1)::integer, true, false, false,
               NULL::uuid, NULL::uuid, NULL::uuid, NULL::uuid, NULL::bigint, NULL::text,
               NULL::jsonb, NULL::jsonb, NULL::uuid, NULL::text, NULL::bigint,
               NULL::text, NULL::text, NULL::jsonb, NULL::bigint, NULL::bigint, NULL::bigint,
               NULL::bigint, NULL::bigint, NULL::text, NULL::text, NULL::text, NULL::bigint,
               NULL::smallint
        FROM unnest(v_kind) WITH ORDINALITY AS i(kind, n)
        WHERE i.kind = 'missing';
END;
$$;
