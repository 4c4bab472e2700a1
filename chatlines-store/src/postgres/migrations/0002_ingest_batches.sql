-- chatlines PostgreSQL schema, version 2: ingest in batches.
--
-- Concurrent `append_inbound` calls on one store instance are gathered into
-- one call of `chatlines_append_inbound_batch`, so they share one
-- transaction, one round trip and one commit. A single message is a batch
-- of one. The single-message function of version 1 stays, unused by this
-- version, so instances still running the previous release keep working
-- during a rolling upgrade.

-- Appends the i-th message of each array, in array order, and returns one
-- row per message: `idx` (its zero-based position), then either
-- `line_missing` (nothing was written for it) or the stored message, its
-- session as it is now and its contact.
--
-- Locks: first the shared advisory lock of every line in the batch (in
-- one global order; delete_line takes it exclusively, so no session opens
-- on a line being deleted), then session rows in array order. Callers sort
-- the arrays by (line, contact key), so two batches lock the rows they share
-- in the same order.
--
-- Raises SQLSTATE 'CLDUP' when a concurrent transaction stored one of the
-- messages first (the whole batch is rolled back; the caller retries and
-- then finds the duplicate).
CREATE FUNCTION chatlines_append_inbound_batch(
    p_line uuid[], p_key text[], p_display text[], p_reply text[],
    p_contact uuid[], p_session uuid[], p_message uuid[], p_body jsonb[],
    p_ext_source uuid[], p_ext_id text[], p_now bigint[]
) RETURNS TABLE (
    idx integer, line_missing boolean, duplicate boolean, opened boolean,
    m_id uuid, m_session uuid, m_line uuid, m_contact uuid,
    m_seq bigint, m_direction text, m_author jsonb, m_body jsonb,
    m_ext_source uuid, m_ext_id text, m_created_ns bigint,
    s_status text, s_operator text, s_reason jsonb, s_version bigint,
    s_last_seq bigint, s_opened_ns bigint, s_updated_ns bigint, s_closed_ns bigint,
    c_key text, c_display_name text, c_reply_address text, c_created_ns bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_lines uuid[];
    v_lock integer;
    v_contact uuid;
    v_session uuid;
BEGIN
    FOR v_lock IN
        SELECT DISTINCT hashtext(l::text) FROM unnest(p_line) AS l ORDER BY 1
    LOOP
        PERFORM pg_advisory_xact_lock_shared(1818847858, v_lock);
    END LOOP;
    SELECT coalesce(array_agg(l.id), '{}') INTO v_lines
        FROM lines l WHERE l.id = ANY (p_line);

    FOR i IN 1 .. coalesce(array_length(p_line, 1), 0) LOOP
        idx := i - 1;
        line_missing := false;
        duplicate := false;
        opened := false;
        m_id := NULL;

        IF p_ext_id[i] IS NOT NULL THEN
            SELECT m.id, m.session, m.line, m.contact, m.seq, m.direction, m.author, m.body,
                   m.ext_source, m.ext_id, m.created_ns
                INTO m_id, m_session, m_line, m_contact, m_seq, m_direction, m_author, m_body,
                     m_ext_source, m_ext_id, m_created_ns
                FROM messages m WHERE m.ext_source = p_ext_source[i] AND m.ext_id = p_ext_id[i];
        END IF;

        IF m_id IS NOT NULL THEN
            -- Stored before: return it with its session and contact as they are now.
            duplicate := true;
            SELECT s.status, s.operator, s.reason, s.version, s.last_seq, s.opened_ns,
                   s.updated_ns, s.closed_ns
                INTO s_status, s_operator, s_reason, s_version, s_last_seq, s_opened_ns,
                     s_updated_ns, s_closed_ns
                FROM sessions s WHERE s.id = m_session;
            SELECT c.key, c.display_name, c.reply_address, c.created_ns
                INTO c_key, c_display_name, c_reply_address, c_created_ns
                FROM contacts c WHERE c.id = m_contact;
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF NOT (p_line[i] = ANY (v_lines)) THEN
            line_missing := true;
            RETURN NEXT;
            CONTINUE;
        END IF;

        SELECT c.id, c.key, c.display_name, c.reply_address, c.created_ns
            INTO v_contact, c_key, c_display_name, c_reply_address, c_created_ns
            FROM contacts c WHERE c.key = p_key[i];
        IF v_contact IS NULL THEN
            INSERT INTO contacts (id, key, display_name, reply_address, created_ns)
                VALUES (p_contact[i], p_key[i], p_display[i], p_reply[i], p_now[i])
                ON CONFLICT (key) DO NOTHING
                RETURNING id, key, display_name, reply_address, created_ns
                INTO v_contact, c_key, c_display_name, c_reply_address, c_created_ns;
            IF v_contact IS NULL THEN
                -- Created concurrently by a transaction that has committed since.
                SELECT c.id, c.key, c.display_name, c.reply_address, c.created_ns
                    INTO STRICT v_contact, c_key, c_display_name, c_reply_address, c_created_ns
                    FROM contacts c WHERE c.key = p_key[i];
            END IF;
        END IF;

        -- Append to the open session (its row lock orders this append
        -- against transitions), or open one. The partial unique index
        -- admits one open session per (line, contact); a lost race appends
        -- to the winner's.
        LOOP
            UPDATE sessions s SET last_seq = s.last_seq + 1, updated_ns = p_now[i]
                WHERE s.line = p_line[i] AND s.contact = v_contact AND s.status <> 'closed'
                RETURNING s.id, s.status, s.operator, s.reason, s.version, s.last_seq,
                          s.opened_ns, s.updated_ns, s.closed_ns
                INTO v_session, s_status, s_operator, s_reason, s_version, s_last_seq,
                     s_opened_ns, s_updated_ns, s_closed_ns;
            EXIT WHEN FOUND;
            INSERT INTO sessions AS s (id, line, contact, status, operator, reason, version,
                                       last_seq, opened_ns, updated_ns, closed_ns)
                VALUES (p_session[i], p_line[i], v_contact, 'queued', NULL, '{"reason":"new"}',
                        1, 1, p_now[i], p_now[i], NULL)
                ON CONFLICT (line, contact) WHERE status <> 'closed' DO NOTHING
                RETURNING s.id, s.status, s.operator, s.reason, s.version, s.last_seq,
                          s.opened_ns, s.updated_ns, s.closed_ns
                INTO v_session, s_status, s_operator, s_reason, s_version, s_last_seq,
                     s_opened_ns, s_updated_ns, s_closed_ns;
            IF FOUND THEN
                opened := true;
                EXIT;
            END IF;
        END LOOP;

        INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                              ext_source, ext_id, created_ns)
            VALUES (p_message[i], v_session, p_line[i], v_contact, s_last_seq, 'inbound',
                    '{"kind":"client"}', p_body[i], p_ext_source[i], p_ext_id[i], p_now[i])
            ON CONFLICT (ext_source, ext_id) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'message % stored concurrently', p_ext_id[i] USING ERRCODE = 'CLDUP';
        END IF;
        m_id := p_message[i]; m_session := v_session; m_line := p_line[i];
        m_contact := v_contact; m_seq := s_last_seq; m_direction := 'inbound';
        m_author := '{"kind":"client"}'; m_body := p_body[i];
        m_ext_source := p_ext_source[i]; m_ext_id := p_ext_id[i]; m_created_ns := p_now[i];
        RETURN NEXT;
    END LOOP;
END;
$$;
