"""SQL that the PostgreSQL journal adapter installs into the user's database, in schema venom_replay.

Everything lives in that one schema (dropped by uninstall) plus two triggers per user table
(``venom_replay_row``, ``venom_replay_truncate``), which the schema's functions own.
"""

SCHEMA = "venom_replay"

INSTALL = r"""
CREATE SCHEMA venom_replay;
COMMENT ON SCHEMA venom_replay IS 'venom-replay rollback journal; remove with: venom-replay db uninstall';

-- One row per changed row (old/new images) or per TRUNCATE (the whole table in "old").
CREATE TABLE venom_replay.journal (
    id    bigserial PRIMARY KEY,
    relid oid NOT NULL,
    op    "char" NOT NULL,           -- I, U, D, T
    old   jsonb,
    new   jsonb,
    txid  bigint NOT NULL DEFAULT pg_catalog.txid_current()
);

-- Tracked tables and the undo statements generated for them at install time.
CREATE TABLE venom_replay.tables (
    relid         oid PRIMARY KEY,
    name          text NOT NULL,
    has_pk        boolean NOT NULL,
    volatile      text[] NOT NULL DEFAULT '{}',
    undo_insert   text NOT NULL,     -- $1 = new image: remove that row
    undo_delete   text NOT NULL,     -- $1 = old image: put that row back
    undo_truncate text NOT NULL      -- $1 = array of images: put those rows back
);

-- The marker of a run: the baseline a killed run must be restored to.
CREATE TABLE venom_replay.meta (
    singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    baseline_hwm  bigint NOT NULL,
    baseline_seqs jsonb NOT NULL,
    installed_at  timestamptz NOT NULL DEFAULT now(),
    installed_by  text NOT NULL DEFAULT current_user
);

-- SECURITY DEFINER: the API's own role needs no rights on our schema for its writes to be journalled.
CREATE FUNCTION venom_replay.log_row() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO venom_replay.journal (relid, op, new) VALUES (TG_RELID, 'I', pg_catalog.to_jsonb(NEW));
    ELSIF TG_OP = 'UPDATE' THEN
        INSERT INTO venom_replay.journal (relid, op, old, new)
        VALUES (TG_RELID, 'U', pg_catalog.to_jsonb(OLD), pg_catalog.to_jsonb(NEW));
    ELSE
        INSERT INTO venom_replay.journal (relid, op, old) VALUES (TG_RELID, 'D', pg_catalog.to_jsonb(OLD));
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION venom_replay.log_truncate() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER AS $$
BEGIN
    EXECUTE pg_catalog.format(
        'INSERT INTO venom_replay.journal (relid, op, old) '
        'SELECT %s, ''T'', coalesce(jsonb_agg(to_jsonb(x.*)), ''[]'') FROM %s x',
        TG_RELID, TG_RELID::regclass);
    RETURN NULL;
END $$;

-- The state a checkpoint needs: journal high-water mark, sequence values, untracked tables.
CREATE FUNCTION venom_replay.checkpoint() RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_build_object(
        'hwm', coalesce((SELECT max(id) FROM venom_replay.journal), 0),
        'seqs', coalesce((SELECT jsonb_object_agg(format('%I.%I', schemaname, sequencename), last_value)
                          FROM pg_sequences WHERE schemaname <> 'venom_replay'), '{}'),
        'untracked', (SELECT coalesce(jsonb_agg(c.oid), '[]') FROM pg_class c
                      JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'venom_replay')
                        AND n.nspname NOT LIKE 'pg\_%'
                        AND NOT EXISTS (SELECT 1 FROM venom_replay.tables t WHERE t.relid = c.oid)));
$$;

-- Sum of row hashes (mod 2^64 in the caller) that entries (lo, hi] added to each table.
CREATE FUNCTION venom_replay.fp_delta(lo bigint, hi bigint) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT coalesce(jsonb_object_agg(relid::text, delta), '{}') FROM (
        SELECT relid, sum(d) AS delta FROM (
            SELECT j.relid,
                   coalesce(hashtextextended((j.new - t.volatile)::text, 0)::numeric, 0)
                 - coalesce(hashtextextended((j.old - t.volatile)::text, 0)::numeric, 0) AS d
              FROM venom_replay.journal j JOIN venom_replay.tables t USING (relid)
             WHERE j.id > lo AND j.id <= hi AND j.op <> 'T'
            UNION ALL
            SELECT j.relid, -hashtextextended((e.value - t.volatile)::text, 0)::numeric
              FROM venom_replay.journal j JOIN venom_replay.tables t USING (relid),
                   jsonb_array_elements(j.old) e
             WHERE j.id > lo AND j.id <= hi AND j.op = 'T'
        ) rows GROUP BY relid
    ) per_table;
$$;

-- Undo every entry newer than p_hwm, newest first, with triggers and FK checks off; reset sequences.
-- Returns how many entries were undone, the tables touched and the fingerprint delta to subtract.
CREATE FUNCTION venom_replay.restore(p_hwm bigint, p_seqs jsonb, p_fp_hwm bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    undone integer := 0;
    touched oid[] := '{}';
    delta jsonb := '{}';
    s record;
BEGIN
    PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
    IF p_fp_hwm > p_hwm THEN
        delta := venom_replay.fp_delta(p_hwm, p_fp_hwm);
    END IF;
    FOR r IN SELECT j.id, j.op, j.old, j.new, j.relid, t.undo_insert, t.undo_delete, t.undo_truncate,
                    c.oid IS NULL AS gone
               FROM venom_replay.journal j
               LEFT JOIN venom_replay.tables t ON t.relid = j.relid
               LEFT JOIN pg_catalog.pg_class c ON c.oid = j.relid
              WHERE j.id > p_hwm ORDER BY j.id DESC
    LOOP
        IF r.gone OR r.undo_insert IS NULL THEN
            RAISE EXCEPTION 'venom_replay: table % was dropped or is not tracked; restore with template mode',
                r.relid USING ERRCODE = 'VR001';
        END IF;
        IF r.op = 'I' THEN
            EXECUTE r.undo_insert USING r.new;
        ELSIF r.op = 'D' THEN
            EXECUTE r.undo_delete USING r.old;
        ELSIF r.op = 'U' THEN
            EXECUTE r.undo_insert USING r.new;
            EXECUTE r.undo_delete USING r.old;
        ELSE
            EXECUTE r.undo_truncate USING r.old;
        END IF;
        undone := undone + 1;
        IF NOT r.relid = ANY (touched) THEN
            touched := touched || r.relid;
        END IF;
    END LOOP;
    DELETE FROM venom_replay.journal WHERE id > p_hwm;
    FOR s IN SELECT format('%I.%I', q.schemaname, q.sequencename) AS name, q.last_value, q.start_value,
                    p_seqs -> format('%I.%I', q.schemaname, q.sequencename) AS saved
               FROM pg_sequences q WHERE q.schemaname <> 'venom_replay'
    LOOP
        CONTINUE WHEN s.saved IS NULL;  -- a sequence created after the checkpoint: left as it is
        IF jsonb_typeof(s.saved) = 'null' THEN
            IF s.last_value IS NOT NULL THEN
                PERFORM pg_catalog.setval(s.name, s.start_value, false);
            END IF;
        ELSIF s.last_value IS DISTINCT FROM (s.saved #>> '{}')::bigint THEN
            PERFORM pg_catalog.setval(s.name, (s.saved #>> '{}')::bigint, true);
        END IF;
    END LOOP;
    RETURN jsonb_build_object('undone', undone, 'tables', to_jsonb(touched), 'delta', delta);
END $$;
"""

# Tables of the user, in dependency-free order; partitioned parents are skipped (their leaves are tracked).
USER_TABLES = r"""
SELECT c.oid, format('%I.%I', n.nspname, c.relname), n.nspname, c.relname
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'venom_replay')
   AND n.nspname NOT LIKE 'pg\_%'
 ORDER BY 2
"""

TABLE_COLUMNS = """
SELECT a.attname, a.attgenerated <> '' AS generated
  FROM pg_attribute a WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum
"""

PRIMARY_KEY = """
SELECT a.attname FROM pg_index i
  JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
 WHERE i.indrelid = %s AND i.indisprimary ORDER BY array_position(i.indkey::int2[], a.attnum)
"""
