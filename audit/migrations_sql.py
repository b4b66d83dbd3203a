"""SQL installed by migrations 0005 to 0010 (kept here so they stay readable).

Frozen with the migration: change it only through a new migration.
"""

# Tables that, like the events, take INSERT and nothing else.
APPEND_ONLY = ("audit_verificationrun", "audit_treenode", "audit_checkpoint")

# 0005: the first audit_append (reads its batch by subscript: O(n^2) in the batch).
PG_APPEND_SUBSCRIPTS = r"""
CREATE OR REPLACE FUNCTION audit_append(p_pre text[], p_mid text, p_post text[])
RETURNS TABLE (first_seq bigint, occurred_at timestamptz, first_prev text, hashes text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_variable
DECLARE
    v_n integer := coalesce(array_length(p_pre, 1), 0);
    v_seq bigint;
    v_hash text;
    v_now timestamptz := clock_timestamp();
    v_time text;
    v_texts text[];
    v_hashes text[];
BEGIN
    IF v_n = 0 OR array_length(p_post, 1) IS DISTINCT FROM v_n OR p_mid IS NULL THEN
        RAISE EXCEPTION 'audit_append: % canonical prefixes but % suffixes',
            v_n, coalesce(array_length(p_post, 1), 0);
    END IF;
    SELECT h.seq, h.hash INTO v_seq, v_hash FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        -- A fresh database starts the chain; an emptied one starts it again, and
        -- only checkpoints shipped elsewhere can tell (which is what they are for).
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_hash FROM audit_chainhead h
            WHERE h.id = 1 FOR UPDATE;
    END IF;
    first_seq := v_seq + 1;
    first_prev := v_hash;
    occurred_at := v_now;
    -- audit.hashing.format_time: UTC, microseconds, a literal Z.
    v_time := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    FOR i IN 1..v_n LOOP
        v_seq := v_seq + 1;
        -- Keys sort as ...before < occurred_at < prev_hash < request_id < seq < source_ip...
        v_texts[i] := p_pre[i] || v_time || '","prev_hash":"' || v_hash || '",'
            || p_mid || ',"seq":' || v_seq || ',' || p_post[i];
        v_hash := encode(sha256(convert_to(v_texts[i], 'UTF8')), 'hex');
        v_hashes[i] := v_hash;
    END LOOP;
    -- The columns come from the very text that was hashed, so they cannot disagree.
    INSERT INTO audit_auditevent (
        seq, occurred_at, actor_type, actor_id, actor_name, source_ip, action,
        target_type, target_id, target_repr, agency_id, before, after, request_id,
        hash_version, prev_hash, hash)
    SELECT first_seq + t.i - 1, v_now, t.c->>'actor_type', t.c->>'actor_id',
        t.c->>'actor_name', (t.c->>'source_ip')::inet, t.c->>'action', t.c->>'target_type',
        t.c->>'target_id', t.c->>'target_repr', (t.c->>'agency_id')::bigint,
        NULLIF(t.c->'before', 'null'::jsonb), NULLIF(t.c->'after', 'null'::jsonb),
        t.c->>'request_id', (t.c->>'v')::smallint,
        CASE WHEN t.i = 1 THEN first_prev ELSE v_hashes[t.i - 1] END, v_hashes[t.i]
    FROM (SELECT s.i, v_texts[s.i]::jsonb AS c FROM generate_subscripts(v_texts, 1) AS s(i)) t;
    UPDATE audit_chainhead SET seq = v_seq, hash = v_hash WHERE id = 1;
    hashes := v_hashes;
    RETURN NEXT;
END;
$$;
REVOKE ALL ON FUNCTION audit_append(text[], text, text[]) FROM PUBLIC;
"""

# 0006: the same function in one pass over the batch.
PG_APPEND_ONE_PASS = r"""
CREATE OR REPLACE FUNCTION audit_append(p_pre text[], p_mid text, p_post text[])
RETURNS TABLE (first_seq bigint, occurred_at timestamptz, first_prev text, hashes text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_variable
DECLARE
    v_n integer := coalesce(array_length(p_pre, 1), 0);
    v_seq bigint;
    v_hash text;
    v_now timestamptz := clock_timestamp();
    v_time text;
    v_text text;
    v_pre text;
    v_post text;
    v_texts text[] := '{}';
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
BEGIN
    IF v_n = 0 OR array_length(p_post, 1) IS DISTINCT FROM v_n OR p_mid IS NULL THEN
        RAISE EXCEPTION 'audit_append: % canonical prefixes but % suffixes',
            v_n, coalesce(array_length(p_post, 1), 0);
    END IF;
    SELECT h.seq, h.hash INTO v_seq, v_hash FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_hash FROM audit_chainhead h
            WHERE h.id = 1 FOR UPDATE;
    END IF;
    first_seq := v_seq + 1;
    first_prev := v_hash;
    occurred_at := v_now;
    v_time := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
    -- One pass: unnest reads the arguments once (a subscript would detoast the whole
    -- array each time) and array_append grows the results in place.
    FOR v_pre, v_post IN SELECT u.pre, u.post FROM unnest(p_pre, p_post) AS u(pre, post) LOOP
        v_seq := v_seq + 1;
        v_text := v_pre || v_time || '","prev_hash":"' || v_hash || '",'
            || p_mid || ',"seq":' || v_seq || ',' || v_post;
        v_prevs := array_append(v_prevs, v_hash);
        v_hash := encode(sha256(convert_to(v_text, 'UTF8')), 'hex');
        v_texts := array_append(v_texts, v_text);
        v_hashes := array_append(v_hashes, v_hash);
    END LOOP;
    INSERT INTO audit_auditevent (
        seq, occurred_at, actor_type, actor_id, actor_name, source_ip, action,
        target_type, target_id, target_repr, agency_id, before, after, request_id,
        hash_version, prev_hash, hash)
    SELECT first_seq + t.i - 1, v_now, t.c->>'actor_type', t.c->>'actor_id',
        t.c->>'actor_name', (t.c->>'source_ip')::inet, t.c->>'action', t.c->>'target_type',
        t.c->>'target_id', t.c->>'target_repr', (t.c->>'agency_id')::bigint,
        NULLIF(t.c->'before', 'null'::jsonb), NULLIF(t.c->'after', 'null'::jsonb),
        t.c->>'request_id', (t.c->>'v')::smallint, t.prev, t.h
    FROM (
        -- OFFSET 0 keeps the subquery whole: each text is parsed once, not once per column.
        SELECT u.i, u.txt::jsonb AS c, u.prev, u.h
        FROM unnest(v_texts, v_prevs, v_hashes) WITH ORDINALITY AS u(txt, prev, h, i)
        OFFSET 0
    ) t;
    UPDATE audit_chainhead SET seq = v_seq, hash = v_hash WHERE id = 1;
    hashes := v_hashes;
    RETURN NEXT;
END;
$$;
REVOKE ALL ON FUNCTION audit_append(text[], text, text[]) FROM PUBLIC;
"""

# 0007: the batch parsed before the head lock is taken; under the lock only the hashing
# (the chain is sequential), one multi-row insert and one head update.
PG_APPEND_BULK = r"""
CREATE OR REPLACE FUNCTION audit_append(p_pre text[], p_mid text, p_post text[])
RETURNS TABLE (first_seq bigint, occurred_at timestamptz, first_prev text, hashes text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
#variable_conflict use_variable
DECLARE
    v_n integer := coalesce(array_length(p_pre, 1), 0);
    v_seq bigint;
    v_hash text;
    v_now timestamptz;
    v_time text;
    v_mid text;
    v_pre text;
    v_post text;
    v_heads jsonb[];
    v_tails jsonb[];
    v_request_id text;
    v_prevs text[] := '{}';
    v_hashes text[] := '{}';
BEGIN
    IF v_n = 0 OR array_length(p_post, 1) IS DISTINCT FROM v_n OR p_mid IS NULL THEN
        RAISE EXCEPTION 'audit_append: % canonical prefixes but % suffixes',
            v_n, coalesce(array_length(p_post, 1), 0);
    END IF;
    -- Parse the batch before taking the head lock: what a row's columns hold does not
    -- depend on its seq, time or link, so concurrent appenders parse side by side and
    -- the lock covers only the hashing and the insert.
    v_request_id := ('{' || p_mid || '}')::jsonb->>'request_id';
    IF v_request_id IS NULL OR p_mid !~ '^"request_id":' THEN
        RAISE EXCEPTION 'audit_append: the middle piece must be "request_id":...';
    END IF;
    SELECT array_agg(h.j ORDER BY h.i), array_agg(t.j ORDER BY h.i)
        INTO v_heads, v_tails
        FROM unnest(p_pre, p_post) WITH ORDINALITY AS u(pre, post, i),
        LATERAL (SELECT u.i, (u.pre || '"}')::jsonb AS j) h,
        LATERAL (SELECT ('{' || u.post)::jsonb AS j) t;
    -- Each piece holds only its own keys, so every column is read from the same key the
    -- full text would have given it (a key repeated across pieces could disagree).
    IF EXISTS (
        SELECT 1 FROM unnest(v_heads, v_tails) AS x(h, t)
        WHERE x.h ?| '{source_ip,target_id,target_repr,target_type,v,request_id,seq,
                       prev_hash}'::text[]
           OR x.t ?| '{action,actor_id,actor_name,actor_type,after,agency_id,before,
                       occurred_at,request_id,seq,prev_hash}'::text[]
    ) THEN
        RAISE EXCEPTION 'audit_append: a canonical piece holds another piece''s key';
    END IF;
    SELECT h.seq, h.hash INTO v_seq, v_hash FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT DO NOTHING;
        SELECT h.seq, h.hash INTO v_seq, v_hash FROM audit_chainhead h
            WHERE h.id = 1 FOR UPDATE;
    END IF;
    -- The time is read under the lock, so it never runs backwards along the chain.
    v_now := clock_timestamp();
    first_seq := v_seq + 1;
    first_prev := v_hash;
    occurred_at := v_now;
    v_time := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
        || '","prev_hash":"';
    v_mid := '",' || p_mid || ',"seq":';
    FOR v_pre, v_post IN SELECT u.pre, u.post FROM unnest(p_pre, p_post) AS u(pre, post) LOOP
        v_seq := v_seq + 1;
        v_prevs := array_append(v_prevs, v_hash);
        v_hash := encode(sha256(convert_to(
            v_pre || v_time || v_hash || v_mid || v_seq || ',' || v_post, 'UTF8')), 'hex');
        v_hashes := array_append(v_hashes, v_hash);
    END LOOP;
    INSERT INTO audit_auditevent (
        seq, occurred_at, actor_type, actor_id, actor_name, source_ip, action,
        target_type, target_id, target_repr, agency_id, before, after, request_id,
        hash_version, prev_hash, hash)
    SELECT first_seq + u.i - 1, v_now, u.h->>'actor_type', u.h->>'actor_id',
        u.h->>'actor_name', (u.t->>'source_ip')::inet, u.h->>'action', u.t->>'target_type',
        u.t->>'target_id', u.t->>'target_repr', (u.h->>'agency_id')::bigint,
        NULLIF(u.h->'before', 'null'::jsonb), NULLIF(u.h->'after', 'null'::jsonb),
        v_request_id, (u.t->>'v')::smallint, u.prev, u.hash
    FROM unnest(v_heads, v_tails, v_prevs, v_hashes) WITH ORDINALITY AS u(h, t, prev, hash, i);
    UPDATE audit_chainhead SET seq = v_seq, hash = v_hash WHERE id = 1;
    hashes := v_hashes;
    RETURN NEXT;
END;
$$;
REVOKE ALL ON FUNCTION audit_append(text[], text, text[]) FROM PUBLIC;
"""

PG_FORWARD = PG_APPEND_SUBSCRIPTS + "\n".join(
    f"""
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION audit_refuse_change();
CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table}
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""
    for table in APPEND_ONLY
)

PG_REVERSE = "DROP FUNCTION IF EXISTS audit_append(text[], text, text[]);\n" + "\n".join(
    f"DROP TRIGGER IF EXISTS {table}_no_{op} ON {table};"
    for table in APPEND_ONLY
    for op in ("update", "delete", "truncate")
)

SQLITE_FORWARD = [
    """CREATE TRIGGER audit_extends_head BEFORE INSERT ON audit_auditevent
       WHEN NEW.seq IS NOT (SELECT seq + 1 FROM audit_chainhead WHERE id = 1)
         OR NEW.prev_hash IS NOT (SELECT hash FROM audit_chainhead WHERE id = 1)
       BEGIN SELECT RAISE(ABORT, 'audit append must extend the chain head by one'); END;""",
    """CREATE TRIGGER audit_moves_head AFTER INSERT ON audit_auditevent
       BEGIN UPDATE audit_chainhead SET seq = NEW.seq, hash = NEW.hash WHERE id = 1; END;""",
    """CREATE TRIGGER audit_head_follows BEFORE UPDATE ON audit_chainhead
       WHEN NEW.id IS NOT OLD.id
         OR NEW.seq IS NOT (SELECT max(seq) FROM audit_auditevent)
         OR NEW.hash IS NOT (SELECT hash FROM audit_auditevent WHERE seq = NEW.seq)
       BEGIN SELECT RAISE(ABORT, 'the chain head only moves to the last event'); END;""",
    """CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_chainhead
       BEGIN SELECT RAISE(ABORT, 'audit_chainhead is append-only: DELETE refused'); END;""",
] + [
    f"""CREATE TRIGGER {table}_no_{op.lower()} BEFORE {op} ON {table}
       BEGIN SELECT RAISE(ABORT, '{table} is append-only: {op} refused'); END;"""
    for table in APPEND_ONLY
    for op in ("UPDATE", "DELETE")
]

SQLITE_REVERSE = [
    f"DROP TRIGGER IF EXISTS {name};"
    for name in (
        "audit_extends_head",
        "audit_moves_head",
        "audit_head_follows",
        "audit_head_no_delete",
        *(f"{t}_no_{op}" for t in APPEND_ONLY for op in ("update", "delete")),
    )
]

# 0008: the application hashes, the database checks. `audit_lock_head` takes the head and
# stamps it with the time and this transaction; the application hashes its batch against
# that head (seq, link, time) and hands each row's JSON fields and hash to
# `audit_append_rows`, which rebuilds every text from the very fields it stores, checks
# every hash against it in one set-based statement (no loop: each row's link is the hash
# before it, already in hand), inserts, and moves the head.
PG_HEAD_COLUMNS = """
ALTER TABLE audit_chainhead ADD COLUMN locked_xid xid8, ADD COLUMN locked_at timestamptz;
"""

PG_APPEND_ROWS = r"""
CREATE OR REPLACE FUNCTION audit_lock_head(
    OUT head_seq bigint, OUT head_hash text, OUT at timestamptz, OUT at_text text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
BEGIN
    PERFORM 1 FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF NOT FOUND THEN
        INSERT INTO audit_chainhead (id, seq, hash) VALUES (1, 0, repeat('0', 64))
            ON CONFLICT DO NOTHING;
        PERFORM 1 FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    END IF;
    -- The time is read under the lock, so it never runs backwards along the chain.
    at := clock_timestamp();
    UPDATE audit_chainhead h SET locked_xid = pg_current_xact_id(), locked_at = at
        WHERE h.id = 1 RETURNING h.seq, h.hash INTO head_seq, head_hash;
    -- audit.hashing.format_time: UTC, microseconds, a literal Z.
    at_text := to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');
END;
$$;
REVOKE ALL ON FUNCTION audit_lock_head() FROM PUBLIC;

CREATE OR REPLACE FUNCTION audit_append_refused(p_seq bigint) RETURNS text
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_append_rows: the row for seq % is malformed or its hash does not fit',
        p_seq;
END;
$$;

-- p_rows: one line per event, tab-separated: the JSON (version 1's canonical encoding) of
-- action, target_type, target_id, target_repr, agency_id, before, after, then the hash.
-- JSON text holds no raw tab or newline, so the framing cannot be confused.
CREATE OR REPLACE FUNCTION audit_append_rows(
    p_actor_type text, p_actor_id text, p_actor_name text, p_source_ip text,
    p_request_id text, p_rows text)
RETURNS bigint
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_seq bigint;
    v_hash text;
    v_at timestamptz;
    v_xid xid8;
    v_ip inet := p_source_ip::inet;
    v_actor text;
    v_time text;
    v_request text;
    v_source text;
    v_n bigint;
BEGIN
    SELECT h.seq, h.hash, h.locked_at, h.locked_xid INTO v_seq, v_hash, v_at, v_xid
        FROM audit_chainhead h WHERE h.id = 1 FOR UPDATE;
    IF v_xid IS DISTINCT FROM pg_current_xact_id() THEN
        RAISE EXCEPTION 'audit_append_rows: call audit_lock_head() in this transaction first';
    END IF;
    IF coalesce(p_rows, '') = '' THEN
        RAISE EXCEPTION 'audit_append_rows: no rows';
    END IF;
    -- The pieces every row of the call shares, in version 1's sorted key order; the
    -- address as its column prints it.
    v_actor := ',"actor_id":' || to_json(p_actor_id) || ',"actor_name":' || to_json(p_actor_name)
        || ',"actor_type":' || to_json(p_actor_type) || ',"after":';
    v_time := ',"occurred_at":"'
        || to_char(v_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '","prev_hash":"';
    v_request := '","request_id":' || to_json(p_request_id) || ',"seq":';
    v_source := ',"source_ip":' || coalesce(to_json(abbrev(v_ip))::text, 'null') || ',"target_id":';
    INSERT INTO audit_auditevent (
        seq, occurred_at, actor_type, actor_id, actor_name, source_ip, action,
        target_type, target_id, target_repr, agency_id, before, after, request_id,
        hash_version, prev_hash, hash)
    SELECT v_seq + r.i, v_at, p_actor_type, p_actor_id, p_actor_name, v_ip,
        r.f[1]::json #>> '{}', r.f[2]::json #>> '{}', r.f[3]::json #>> '{}',
        r.f[4]::json #>> '{}', NULLIF(r.f[5], 'null')::bigint,
        NULLIF(r.f[6]::jsonb, 'null'::jsonb), NULLIF(r.f[7]::jsonb, 'null'::jsonb),
        p_request_id, 1, r.prev,
        -- Stored only if the text rebuilt from these very fields, this seq, time and link
        -- hashes to it; text fields must be JSON strings, the agency a plain integer.
        CASE WHEN array_length(r.f, 1) = 8
            AND left(r.f[1], 1) = '"' AND left(r.f[2], 1) = '"'
            AND left(r.f[3], 1) = '"' AND left(r.f[4], 1) = '"'
            AND (r.f[5] = 'null' OR r.f[5] = r.f[5]::bigint::text)
            AND r.f[8] = encode(sha256(convert_to('{"action":' || r.f[1] || v_actor || r.f[7]
                || ',"agency_id":' || r.f[5] || ',"before":' || r.f[6] || v_time || r.prev
                || v_request || (v_seq + r.i) || v_source || r.f[3] || ',"target_repr":'
                || r.f[4] || ',"target_type":' || r.f[2] || ',"v":1}', 'UTF8')), 'hex')
        THEN r.f[8] ELSE audit_append_refused(v_seq + r.i) END
    FROM (
        SELECT s.i, s.f, coalesce(lag(s.f[8]) OVER (ORDER BY s.i), v_hash) AS prev
        FROM (
            -- Split in the select list: as a LATERAL function scan, each row's split
            -- cost a tuplestore, most of the statement's time.
            SELECT u.i, string_to_array(u.line, E'\t') AS f
            FROM unnest(string_to_array(p_rows, E'\n')) WITH ORDINALITY AS u(line, i)
        ) s
    ) r;
    GET DIAGNOSTICS v_n = ROW_COUNT;
    -- Every row's last field is its checked hash: the batch's last 64 characters are the
    -- new head's.
    UPDATE audit_chainhead SET seq = v_seq + v_n, hash = right(p_rows, 64) WHERE id = 1;
    RETURN v_n;
END;
$$;
REVOKE ALL ON FUNCTION audit_append_rows(text, text, text, text, text, text) FROM PUBLIC;
DROP FUNCTION audit_append(text[], text, text[]);
"""

PG_APPEND_ROWS_REVERSE = (
    "DROP FUNCTION audit_append_rows(text, text, text, text, text, text);\n"
    "DROP FUNCTION audit_append_refused(bigint);\n"
    "DROP FUNCTION audit_lock_head();\n"
    "ALTER TABLE audit_chainhead DROP COLUMN locked_xid, DROP COLUMN locked_at;\n" + PG_APPEND_BULK
)

# 0010: a few events in one call. The two calls of 0008 cost a lone event (a sign-in, a
# dashboard action) a second round trip while it held the head; here the database hashes
# a small batch itself, from the same fields, and hands it to `audit_append_rows`, which
# checks and stores it as ever.
PG_APPEND_SMALL = r"""
CREATE OR REPLACE FUNCTION audit_append_small(
    p_actor_type text, p_actor_id text, p_actor_name text, p_source_ip text,
    p_request_id text, p_rows text,
    OUT first_seq bigint, OUT first_prev text, OUT at timestamptz, OUT hashes text[])
LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    v_seq bigint;
    v_hash text;
    v_time text;
    v_actor text;
    v_request text;
    v_source text;
    v_line text;
    v_fields text[];
    v_rows text[] := '{}';
BEGIN
    SELECT l.head_seq, l.head_hash, l.at, l.at_text INTO v_seq, v_hash, at, v_time
        FROM audit_lock_head() l;
    first_seq := v_seq + 1;
    first_prev := v_hash;
    hashes := '{}';
    -- The same pieces as audit_append_rows, which checks every hash again.
    v_actor := ',"actor_id":' || to_json(p_actor_id) || ',"actor_name":' || to_json(p_actor_name)
        || ',"actor_type":' || to_json(p_actor_type) || ',"after":';
    v_request := '","request_id":' || to_json(p_request_id) || ',"seq":';
    v_source := ',"source_ip":' || coalesce(to_json(abbrev(p_source_ip::inet))::text, 'null')
        || ',"target_id":';
    FOREACH v_line IN ARRAY string_to_array(coalesce(p_rows, ''), E'\n') LOOP
        v_fields := string_to_array(v_line, E'\t');
        v_seq := v_seq + 1;
        v_hash := encode(sha256(convert_to('{"action":' || v_fields[1] || v_actor || v_fields[7]
            || ',"agency_id":' || v_fields[5] || ',"before":' || v_fields[6]
            || ',"occurred_at":"' || v_time || '","prev_hash":"' || v_hash || v_request || v_seq
            || v_source || v_fields[3] || ',"target_repr":' || v_fields[4] || ',"target_type":'
            || v_fields[2] || ',"v":1}', 'UTF8')), 'hex');
        hashes := hashes || v_hash;
        v_rows := v_rows || (v_line || E'\t' || v_hash);
    END LOOP;
    PERFORM audit_append_rows(p_actor_type, p_actor_id, p_actor_name, p_source_ip,
        p_request_id, array_to_string(v_rows, E'\n'));
END;
$$;
REVOKE ALL ON FUNCTION audit_append_small(text, text, text, text, text, text) FROM PUBLIC;
"""

# 0011: the new head's hash read from the last row stored instead of from the end of the
# rows' text: right(p_rows, 64) counted the characters of the whole text twice (a UTF-8
# text has no character offsets), 1.7 ms per 1,000 events, a tenth of the call. The
# function is 0008's otherwise, word for word.
_APPEND_ROWS_0008 = PG_APPEND_ROWS[
    PG_APPEND_ROWS.index("CREATE OR REPLACE FUNCTION audit_append_rows(") : PG_APPEND_ROWS.index(
        "REVOKE ALL ON FUNCTION audit_append_rows("
    )
]
_HEAD_FROM_TEXT = (
    "    -- Every row's last field is its checked hash: the batch's last 64 characters are the\n"
    "    -- new head's.\n"
    "    UPDATE audit_chainhead SET seq = v_seq + v_n, hash = right(p_rows, 64) WHERE id = 1;\n"
)
_HEAD_FROM_ROW = """    -- The new head is the last event stored (its hash checked with the rest).
    UPDATE audit_chainhead SET seq = v_seq + v_n,
        hash = (SELECT e.hash FROM audit_auditevent e WHERE e.seq = v_seq + v_n) WHERE id = 1;
"""
assert _APPEND_ROWS_0008.count(_HEAD_FROM_TEXT) == 1
PG_APPEND_ROWS_HEAD_FROM_ROW = _APPEND_ROWS_0008.replace(_HEAD_FROM_TEXT, _HEAD_FROM_ROW)
PG_APPEND_ROWS_HEAD_FROM_ROW_REVERSE = _APPEND_ROWS_0008
