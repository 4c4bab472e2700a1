-- chatlines PostgreSQL schema, version 1.
--
-- Every timestamp is stored as nanoseconds since the Unix epoch (bigint) so
-- values round-trip exactly; user ids use the "C" collation so ordering is
-- by bytes, as in Rust.

CREATE TABLE lines (
    id          uuid PRIMARY KEY,
    version     bigint NOT NULL,
    config      jsonb NOT NULL,
    created_ns  bigint NOT NULL,
    updated_ns  bigint NOT NULL,
    ord         bigserial NOT NULL
);
CREATE INDEX lines_by_creation ON lines (created_ns, ord);

-- One row per line: the round-robin cursor, and the row every routing
-- decision of the line locks (SELECT ... FOR UPDATE).
CREATE TABLE routing_cursors (
    line        uuid PRIMARY KEY,
    last_user   text COLLATE "C"
);

CREATE TABLE sources (
    id           uuid PRIMARY KEY,
    line         uuid NOT NULL,
    kind         text NOT NULL,
    display_name text NOT NULL,
    config_ref   text NOT NULL,
    created_ns   bigint NOT NULL,
    ord          bigserial NOT NULL
);
CREATE INDEX sources_by_line ON sources (line);
CREATE INDEX sources_by_creation ON sources (created_ns, ord);

CREATE TABLE contacts (
    id            uuid PRIMARY KEY,
    key           text NOT NULL UNIQUE,
    display_name  text NOT NULL,
    reply_address text,
    created_ns    bigint NOT NULL
);

CREATE TABLE sessions (
    id          uuid PRIMARY KEY,
    line        uuid NOT NULL,
    contact     uuid NOT NULL,
    status      text NOT NULL CHECK (status IN ('queued', 'offered', 'assigned', 'closed')),
    operator    text COLLATE "C",
    reason      jsonb NOT NULL,
    version     bigint NOT NULL,
    last_seq    bigint NOT NULL,
    opened_ns   bigint NOT NULL,
    updated_ns  bigint NOT NULL,
    closed_ns   bigint,
    ord         bigserial NOT NULL,
    CHECK ((status = 'assigned') = (operator IS NOT NULL))
);
-- At most one open session per (line, contact).
CREATE UNIQUE INDEX sessions_one_open ON sessions (line, contact) WHERE status <> 'closed';
CREATE INDEX sessions_by_contact ON sessions (line, contact, opened_ns, ord);
CREATE INDEX sessions_waiting ON sessions (line, status, opened_ns, ord)
    WHERE status IN ('queued', 'offered');
CREATE INDEX sessions_by_operator ON sessions (operator, opened_ns, ord)
    WHERE status = 'assigned';

CREATE TABLE messages (
    id          uuid PRIMARY KEY,
    session     uuid NOT NULL,
    line        uuid NOT NULL,
    contact     uuid NOT NULL,
    seq         bigint NOT NULL,
    direction   text NOT NULL,
    author      jsonb NOT NULL,
    body        jsonb NOT NULL,
    ext_source  uuid,
    ext_id      text,
    created_ns  bigint NOT NULL,
    UNIQUE (session, seq),
    -- The idempotency key of ingest.
    UNIQUE (ext_source, ext_id)
);

CREATE TABLE roster (
    line      uuid NOT NULL,
    user_id   text COLLATE "C" NOT NULL,
    eligible  boolean NOT NULL,
    load      integer NOT NULL CHECK (load >= 0),
    PRIMARY KEY (line, user_id)
);
CREATE INDEX roster_least_loaded ON roster (line, load, user_id) WHERE eligible;
CREATE INDEX roster_eligible ON roster (line, user_id) WHERE eligible;

CREATE TABLE account_links (
    line       uuid NOT NULL,
    contact    uuid NOT NULL,
    app        text NOT NULL,
    item       text NOT NULL,
    linked_by  text,
    linked_ns  bigint NOT NULL,
    PRIMARY KEY (line, contact)
);

CREATE TABLE requests (
    id          uuid PRIMARY KEY,
    session     uuid NOT NULL,
    app         text NOT NULL,
    item        text NOT NULL,
    created_by  text NOT NULL,
    created_ns  bigint NOT NULL,
    ord         bigserial NOT NULL
);
CREATE INDEX requests_by_session ON requests (session, created_ns, ord);

CREATE TABLE outbox (
    id               uuid PRIMARY KEY,
    message          uuid NOT NULL UNIQUE,
    session          uuid NOT NULL,
    source           uuid NOT NULL,
    address          text NOT NULL,
    status           text NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
    sent_external_id text,
    failed_error     text,
    attempts         integer NOT NULL,
    next_attempt_ns  bigint NOT NULL,
    lease_token      uuid,
    lease_until_ns   bigint,
    last_error       text,
    created_ns       bigint NOT NULL,
    ord              bigserial NOT NULL
);
CREATE INDEX outbox_due ON outbox (next_attempt_ns, ord) WHERE status = 'pending';

-- Ingest in one round trip: dedupe, find or create the contact, find or
-- open the session, append with the next sequence number, and return the
-- stored message, the session as it is now and the contact.
--
-- Raises SQLSTATE 'CLLNF' when the line does not exist and 'CLDUP' when a
-- concurrent call stored the same external message first (the statement
-- is rolled back; the caller retries and then finds the duplicate).
CREATE FUNCTION chatlines_append_inbound(
    p_line uuid, p_key text, p_display text, p_reply text,
    p_contact uuid, p_session uuid, p_message uuid, p_body jsonb,
    p_ext_source uuid, p_ext_id text, p_now bigint,
    OUT duplicate boolean, OUT opened boolean,
    OUT m_id uuid, OUT m_session uuid, OUT m_line uuid, OUT m_contact uuid,
    OUT m_seq bigint, OUT m_direction text, OUT m_author jsonb, OUT m_body jsonb,
    OUT m_ext_source uuid, OUT m_ext_id text, OUT m_created_ns bigint,
    OUT s_status text, OUT s_operator text, OUT s_reason jsonb, OUT s_version bigint,
    OUT s_last_seq bigint, OUT s_opened_ns bigint, OUT s_updated_ns bigint,
    OUT s_closed_ns bigint,
    OUT c_key text, OUT c_display_name text, OUT c_reply_address text,
    OUT c_created_ns bigint
) LANGUAGE plpgsql AS $$
DECLARE
    v_contact uuid;
    v_session uuid;
    v_seq bigint;
BEGIN
    duplicate := false;
    opened := false;
    IF p_ext_id IS NOT NULL THEN
        SELECT m.id, m.session, m.line, m.contact, m.seq, m.direction, m.author, m.body,
               m.ext_source, m.ext_id, m.created_ns
            INTO m_id, m_session, m_line, m_contact, m_seq, m_direction, m_author, m_body,
                 m_ext_source, m_ext_id, m_created_ns
            FROM messages m WHERE m.ext_source = p_ext_source AND m.ext_id = p_ext_id;
        IF FOUND THEN
            duplicate := true;
        END IF;
    END IF;

    IF NOT duplicate THEN
        -- The hot path: the client has an open session on the line. Its row
        -- lock orders this append against delete_line, which closes open
        -- sessions; a session it closed first is not found here.
        SELECT c.id INTO v_contact FROM contacts c WHERE c.key = p_key;
        IF v_contact IS NOT NULL THEN
            UPDATE sessions s SET last_seq = s.last_seq + 1, updated_ns = p_now
                WHERE s.line = p_line AND s.contact = v_contact AND s.status <> 'closed'
                RETURNING s.id, s.last_seq INTO v_session, v_seq;
        END IF;

        IF v_session IS NULL THEN
            -- Shared with every ingest of the line that creates something,
            -- exclusive in delete_line: no session opens on a line being
            -- deleted.
            PERFORM pg_advisory_xact_lock_shared(1818847858, hashtext(p_line::text));
            PERFORM 1 FROM lines l WHERE l.id = p_line;
            IF NOT FOUND THEN
                RAISE EXCEPTION 'line % not found', p_line USING ERRCODE = 'CLLNF';
            END IF;

            IF v_contact IS NULL THEN
                INSERT INTO contacts (id, key, display_name, reply_address, created_ns)
                    VALUES (p_contact, p_key, p_display, p_reply, p_now)
                    ON CONFLICT (key) DO NOTHING
                    RETURNING id INTO v_contact;
                IF v_contact IS NULL THEN
                    SELECT c.id INTO STRICT v_contact FROM contacts c WHERE c.key = p_key;
                END IF;
            END IF;

            LOOP
                UPDATE sessions s SET last_seq = s.last_seq + 1, updated_ns = p_now
                    WHERE s.line = p_line AND s.contact = v_contact AND s.status <> 'closed'
                    RETURNING s.id, s.last_seq INTO v_session, v_seq;
                EXIT WHEN FOUND;
                INSERT INTO sessions (id, line, contact, status, operator, reason, version,
                                      last_seq, opened_ns, updated_ns, closed_ns)
                    VALUES (p_session, p_line, v_contact, 'queued', NULL, '{"reason":"new"}',
                            1, 1, p_now, p_now, NULL)
                    ON CONFLICT (line, contact) WHERE status <> 'closed' DO NOTHING
                    RETURNING id, last_seq INTO v_session, v_seq;
                IF FOUND THEN
                    opened := true;
                    EXIT;
                END IF;
                -- Another call opened it concurrently: append to that one.
            END LOOP;
        END IF;

        INSERT INTO messages (id, session, line, contact, seq, direction, author, body,
                              ext_source, ext_id, created_ns)
            VALUES (p_message, v_session, p_line, v_contact, v_seq, 'inbound',
                    '{"kind":"client"}', p_body, p_ext_source, p_ext_id, p_now)
            ON CONFLICT (ext_source, ext_id) DO NOTHING;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'message % stored concurrently', p_ext_id USING ERRCODE = 'CLDUP';
        END IF;
        m_id := p_message; m_session := v_session; m_line := p_line; m_contact := v_contact;
        m_seq := v_seq; m_direction := 'inbound'; m_author := '{"kind":"client"}';
        m_body := p_body; m_ext_source := p_ext_source; m_ext_id := p_ext_id;
        m_created_ns := p_now;
    END IF;

    SELECT s.status, s.operator, s.reason, s.version, s.last_seq, s.opened_ns,
           s.updated_ns, s.closed_ns
        INTO s_status, s_operator, s_reason, s_version, s_last_seq, s_opened_ns,
             s_updated_ns, s_closed_ns
        FROM sessions s WHERE s.id = m_session;
    SELECT c.key, c.display_name, c.reply_address, c.created_ns
        INTO c_key, c_display_name, c_reply_address, c_created_ns
        FROM contacts c WHERE c.id = m_contact;
END;
$$;
