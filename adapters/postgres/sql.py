"""SQL that the PostgreSQL journal adapter installs into the user's database, in schema venom_replay.

Everything lives in that one schema (dropped by uninstall) plus two triggers per user table
(``venom_replay_row``, ``venom_replay_truncate``), which the schema's functions own.
"""

SCHEMA = "venom_replay"

INSTALL = r"""
CREATE SCHEMA venom_replay;
COMMENT ON SCHEMA venom_replay IS 'venom-replay rollback journal; remove with: venom-replay db uninstall';

-- One row per changed row (old/new images) or per TRUNCATE (the whole table in "old"): the changes on
-- the path from the baseline to the present content, and nothing else.
CREATE TABLE venom_replay.journal (
    id    bigserial PRIMARY KEY,
    relid oid NOT NULL,
    op    "char" NOT NULL,           -- I, U, D, T
    old   jsonb,
    new   jsonb
);

-- Undone entries kept for a later redo (only when the explorer asks for restores across branches):
-- restoring a checkpoint on another branch undoes the present branch and redoes that one from here.
CREATE TABLE venom_replay.shelf (LIKE venom_replay.journal INCLUDING ALL);

-- Tracked tables and the name of the generated function that removes/adds their rows.
CREATE TABLE venom_replay.tables (
    relid    oid PRIMARY KEY,
    name     text NOT NULL,
    has_pk   boolean NOT NULL,
    volatile text[] NOT NULL DEFAULT '{}',
    apply_fn text NOT NULL
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

-- The user sequences we may read, by oid, refreshed from the catalog by refresh_sequences() at install,
-- when new tables are tracked and at every full checkpoint(): the call after every step then reads
-- just their values (a catalog scan with privilege checks per call cost 5x more).
CREATE TABLE venom_replay.seqs (oid oid PRIMARY KEY);

CREATE FUNCTION venom_replay.refresh_sequences() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO venom_replay.seqs
    SELECT q.seqrelid FROM pg_catalog.pg_sequence q JOIN pg_catalog.pg_class c ON c.oid = q.seqrelid
     WHERE c.relnamespace <> 'venom_replay'::regnamespace AND has_sequence_privilege(q.seqrelid, 'SELECT,USAGE')
    ON CONFLICT DO NOTHING;
END $$;

-- Every known user sequence's last value (null: never used), by oid; dropped ones left out.
CREATE FUNCTION venom_replay.sequences() RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(jsonb_object_agg(s.oid::text, pg_catalog.pg_sequence_last_value(s.oid)), '{}')
              FROM venom_replay.seqs s JOIN pg_catalog.pg_sequence q ON q.seqrelid = s.oid);
END $$;

-- The multiset hash of a set of row images (a TRUNCATE entry's "old").
CREATE FUNCTION venom_replay.rows_hash(p_rows jsonb, p_volatile text[]) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN (SELECT coalesce(sum(hashtextextended((e.value - p_volatile)::text, 0)::numeric), 0)
              FROM jsonb_array_elements(p_rows) e);
END $$;

-- How one journal entry changes its table's multiset hash (row hashes summed mod 2^64 by the caller).
-- A plain expression, so that PostgreSQL inlines it into the queries that sum it.
CREATE FUNCTION venom_replay.entry_delta(p_op "char", p_old jsonb, p_new jsonb, p_volatile text[])
RETURNS numeric LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_op = 'T' THEN -venom_replay.rows_hash(p_old, p_volatile)
           ELSE coalesce(hashtextextended((p_new - p_volatile)::text, 0)::numeric, 0)
              - coalesce(hashtextextended((p_old - p_volatile)::text, 0)::numeric, 0) END;
$$;

-- Sum of row hashes that journal entries (lo, hi] added to each table.
CREATE FUNCTION venom_replay.fp_delta(lo bigint, hi bigint) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT coalesce(jsonb_object_agg(relid::text, delta), '{}') FROM (
            SELECT j.relid, sum(venom_replay.entry_delta(j.op, j.old, j.new, t.volatile)) AS delta
              FROM venom_replay.journal j JOIN venom_replay.tables t USING (relid)
             WHERE j.id > lo AND j.id <= hi GROUP BY j.relid
        ) per_table);
END $$;

-- Tables that exist but are not journalled yet (created after install).
CREATE FUNCTION venom_replay.untracked() RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (
        SELECT coalesce(jsonb_agg(c.oid), '[]') FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'venom_replay')
           AND n.nspname NOT LIKE 'pg\_%'
           AND NOT EXISTS (SELECT 1 FROM venom_replay.tables t WHERE t.relid = c.oid));
END $$;

-- untracked() for the checkpoint after every step: only tables newer than every tracked one can be
-- new (oids grow; a wrap-around of the oid counter mid-run is not covered here, checkpoint() is).
CREATE FUNCTION venom_replay.untracked_new() RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    newest oid := (SELECT max(relid) FROM venom_replay.tables);
BEGIN
    RETURN (SELECT coalesce(jsonb_agg(c.oid), '[]') FROM pg_class c
             WHERE c.oid > coalesce(newest, 0) AND c.relkind = 'r'
               AND c.relnamespace NOT IN ('pg_catalog'::regnamespace, 'information_schema'::regnamespace,
                                          'venom_replay'::regnamespace, 'pg_toast'::regnamespace)
               AND NOT EXISTS (SELECT 1 FROM venom_replay.tables t WHERE t.relid = c.oid)
               AND (SELECT nspname NOT LIKE 'pg\_%' FROM pg_namespace n WHERE n.oid = c.relnamespace));
END $$;

-- The state a checkpoint needs: journal high-water mark, sequence values, untracked tables.
-- Other sessions on this database with a write transaction still open (an xid is assigned at the
-- first write). Their journal entries become visible only when they commit, after ids already folded
-- into fingerprints or compared by a restore: a checkpoint taken now would not be exact. Sessions of
-- other roles show a NULL xid unless we may read all statistics (superuser, pg_read_all_stats).
CREATE FUNCTION venom_replay.writers() RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
BEGIN
    -- EXISTS first: about 20 microseconds per call; the details only when there is one.
    IF NOT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database()
                   AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL) THEN
        RETURN '[]'::jsonb;
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('pid', pid, 'application', application_name, 'state', state,
                                                         'since', to_char(xact_start, 'HH24:MI:SS'))), '[]'::jsonb)
            FROM pg_stat_activity
            WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL);
END $$;

CREATE FUNCTION venom_replay.checkpoint() RETURNS jsonb LANGUAGE plpgsql AS $$
BEGIN
    PERFORM venom_replay.refresh_sequences();
    RETURN (
        SELECT jsonb_build_object(
            'hwm', coalesce((SELECT max(id) FROM venom_replay.journal), 0),
            'seqs', venom_replay.sequences(),
            'untracked', venom_replay.untracked(),
            'writers', venom_replay.writers()));
END $$;

-- One round trip after a step: the high-water mark, the fingerprint delta of the entries after
-- p_fp_hwm and, when p_checkpoint, what a checkpoint needs (sequences, untracked tables).
CREATE FUNCTION venom_replay.snapshot(p_fp_hwm bigint, p_checkpoint boolean) RETURNS jsonb LANGUAGE plpgsql STABLE AS $$
DECLARE
    hwm bigint := coalesce((SELECT max(id) FROM venom_replay.journal), 0);
    out jsonb;
BEGIN
    out := jsonb_build_object('hwm', hwm, 'delta',
                              CASE WHEN hwm > p_fp_hwm THEN venom_replay.fp_delta(p_fp_hwm, hwm) ELSE '{}' END);
    IF p_checkpoint THEN
        out := out || jsonb_build_object('seqs', venom_replay.sequences(), 'untracked', venom_replay.untracked_new(),
                                         'writers', venom_replay.writers());
    END IF;
    RETURN out;
END $$;

-- Put the content back to a checkpoint: undo every journal entry after p_from (newest first), then,
-- if p_ranges (flattened (lo, hi] pairs: the checkpoint's path) reach beyond p_from, redo the kept
-- entries of that path (oldest first). Rows are removed/added by each table's generated function,
-- with triggers and FK checks off. Sequences are reset to p_seqs where they moved.
-- p_fp_hwm: the caller's fingerprint covers the journal up to there; the returned delta brings it to
-- the restored content (p_fp_hwm < 0: no fingerprint kept, no delta worth having).
-- p_keep: undone entries up to this id go to the shelf for a later redo (a checkpoint covers them);
-- later ones are deleted (no checkpoint can ever need them). Also returns the journal sequence's value: later entries are a new branch.
CREATE FUNCTION venom_replay.restore(p_from bigint, p_ranges bigint[], p_seqs jsonb, p_fp_hwm bigint,
                                     p_keep bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    r record;
    i integer;
    undone integer := 0;
    redone integer := 0;
    delta jsonb := '{}';
    lo bigint[] := '{}';
    hi bigint[] := '{}';
BEGIN
    PERFORM pg_catalog.set_config('session_replication_role', 'replica', true);
    FOR i IN 1 .. coalesce(array_length(p_ranges, 1), 0) BY 2 LOOP
        IF p_ranges[i + 1] > p_from THEN
            lo := lo || greatest(p_ranges[i], p_from);
            hi := hi || p_ranges[i + 1];
        END IF;
    END LOOP;
    -- Undo, newest first, one call per table. The fingerprint loses what the caller had folded in.
    -- (apply_any refuses a table that was dropped or is not tracked: the whole restore is undone.)
    FOR r IN SELECT j.relid, count(*) AS n,
                    array_agg(j.op ORDER BY j.id DESC) AS ops, array_agg(j.old ORDER BY j.id DESC) AS olds,
                    array_agg(j.new ORDER BY j.id DESC) AS news,
                    sum(venom_replay.entry_delta(j.op, j.old, j.new, t.volatile)) FILTER (WHERE j.id <= p_fp_hwm) AS folded
               FROM venom_replay.journal j
               LEFT JOIN venom_replay.tables t ON t.relid = j.relid
              WHERE j.id > p_from GROUP BY j.relid
    LOOP
        PERFORM venom_replay.apply_any(r.relid, r.ops, r.olds, r.news, true);
        undone := undone + r.n;
        IF r.folded IS NOT NULL THEN
            delta := delta || jsonb_build_object(r.relid::text, coalesce((delta ->> r.relid::text)::numeric, 0) - r.folded);
        END IF;
    END LOOP;
    IF undone > 0 THEN
        IF p_keep > p_from THEN
            WITH moved AS (DELETE FROM venom_replay.journal WHERE id > p_from RETURNING *)
            INSERT INTO venom_replay.shelf SELECT * FROM moved WHERE moved.id <= p_keep;
        ELSE
            DELETE FROM venom_replay.journal WHERE id > p_from;
        END IF;
    END IF;
    -- Entries kept that the caller had not folded in yet (it took no fingerprint since they came).
    IF p_fp_hwm >= 0 AND p_fp_hwm < p_from THEN
        FOR r IN SELECT j.relid, sum(venom_replay.entry_delta(j.op, j.old, j.new, t.volatile)) AS d
                   FROM venom_replay.journal j JOIN venom_replay.tables t USING (relid)
                  WHERE j.id > p_fp_hwm AND j.id <= p_from GROUP BY j.relid
        LOOP
            delta := delta || jsonb_build_object(r.relid::text, coalesce((delta ->> r.relid::text)::numeric, 0) + r.d);
        END LOOP;
    END IF;
    -- Redo the target's kept entries after the branch point, oldest first.
    IF cardinality(lo) > 0 THEN
        FOR r IN SELECT s.relid, count(*) AS n,
                        array_agg(s.op ORDER BY s.id) AS ops, array_agg(s.old ORDER BY s.id) AS olds,
                        array_agg(s.new ORDER BY s.id) AS news,
                        sum(venom_replay.entry_delta(s.op, s.old, s.new, t.volatile)) AS d
                   FROM venom_replay.shelf s JOIN unnest(lo, hi) AS g(glo, ghi) ON s.id > g.glo AND s.id <= g.ghi
                   LEFT JOIN venom_replay.tables t ON t.relid = s.relid
                  GROUP BY s.relid
        LOOP
            PERFORM venom_replay.apply_any(r.relid, r.ops, r.olds, r.news, false);
            redone := redone + r.n;
            IF p_fp_hwm >= 0 THEN
                delta := delta || jsonb_build_object(r.relid::text, coalesce((delta ->> r.relid::text)::numeric, 0) + r.d);
            END IF;
        END LOOP;
        IF redone > 0 THEN
            WITH moved AS (
                DELETE FROM venom_replay.shelf s USING unnest(lo, hi) AS g(glo, ghi)
                 WHERE s.id > g.glo AND s.id <= g.ghi RETURNING s.*)
            INSERT INTO venom_replay.journal SELECT * FROM moved;
        END IF;
    END IF;
    -- Sequences: only the ones that moved are set back; one created after the checkpoint is left alone.
    PERFORM CASE WHEN jsonb_typeof(s.saved) = 'null' THEN pg_catalog.setval(s.oid, s.start_value, false)
                 ELSE pg_catalog.setval(s.oid, (s.saved #>> '{}')::bigint, true) END
       FROM (SELECT q.seqrelid AS oid, q.seqstart AS start_value, e.value AS saved,
                    pg_catalog.pg_sequence_last_value(q.seqrelid) AS last_value
               FROM jsonb_each(p_seqs) e JOIN pg_catalog.pg_sequence q ON q.seqrelid = e.key::oid) s
      WHERE CASE WHEN jsonb_typeof(s.saved) = 'null' THEN s.last_value IS NOT NULL
                 ELSE s.last_value IS DISTINCT FROM (s.saved #>> '{}')::bigint END;
    RETURN jsonb_build_object('undone', undone, 'redone', redone, 'delta', delta,
                              'seq', coalesce(pg_catalog.pg_sequence_last_value('venom_replay.journal_id_seq'), 0));
END $$;

-- After a step, in one round trip: snapshot() and then, unless new tables showed up (the caller must
-- track them first), restore() to where the next step starts.
CREATE FUNCTION venom_replay.snapshot_then_restore(p_fp_hwm bigint, p_checkpoint boolean, p_from bigint,
                                                   p_ranges bigint[], p_seqs jsonb, p_keep bigint)
RETURNS jsonb LANGUAGE plpgsql AS $$
DECLARE
    snap jsonb := venom_replay.snapshot(p_fp_hwm, p_checkpoint);
    i integer;
    redo boolean := false;
BEGIN
    IF p_checkpoint AND jsonb_array_length(snap -> 'untracked') > 0 THEN
        RETURN jsonb_build_object('snapshot', snap);
    END IF;
    -- Nothing to undo, nothing to redo, no sequence moved (a read, or a write that was refused):
    -- the databases already hold the target's content.
    FOR i IN 1 .. coalesce(array_length(p_ranges, 1), 0) BY 2 LOOP
        redo := redo OR p_ranges[i + 1] > p_from;
    END LOOP;
    IF (snap ->> 'hwm')::bigint <= p_from AND NOT redo
       AND coalesce(snap -> 'seqs', venom_replay.sequences()) = p_seqs THEN
        RETURN jsonb_build_object('snapshot', snap, 'restore', jsonb_build_object(
            'undone', 0, 'redone', 0, 'delta', '{}'::jsonb,
            'seq', coalesce(pg_catalog.pg_sequence_last_value('venom_replay.journal_id_seq'), 0)));
    END IF;
    RETURN jsonb_build_object('snapshot', snap, 'restore', venom_replay.restore(
        p_from, p_ranges, p_seqs, greatest(p_fp_hwm, (snap ->> 'hwm')::bigint), p_keep));
END $$;
"""

# The generated per-table function: static SQL, so PostgreSQL plans each statement once per session
# instead of once per restored row. {t} table, {k} key columns, {c} writable columns, {match} the
# condition that finds the row of image $img (by key, or by full content without a key).
APPLY_FUNCTION = r"""
CREATE OR REPLACE FUNCTION venom_replay.{fn}(p_ops "char"[], p_olds jsonb[], p_news jsonb[], p_undo boolean)
RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
    i integer;
    op "char";
    gone jsonb;
    back jsonb;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_ops, 1), 0) LOOP
        op := p_ops[i];
        IF op = 'T' THEN
            IF p_undo THEN
                INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM jsonb_populate_recordset(NULL::{t}, p_olds[i]);
            ELSE
                DELETE FROM {t};
            END IF;
            CONTINUE;
        END IF;
        -- undo: remove the new image, add the old one back; redo: the other way round.
        IF p_undo THEN gone := p_news[i]; back := p_olds[i]; ELSE gone := p_olds[i]; back := p_news[i]; END IF;
        IF gone IS NOT NULL THEN
            {remove}
        END IF;
        IF back IS NOT NULL THEN
            INSERT INTO {t} ({c}) OVERRIDING SYSTEM VALUE SELECT {c} FROM jsonb_populate_record(NULL::{t}, back);
        END IF;
    END LOOP;
END $fn$;
"""

# Calls the table's generated function: static calls, planned once per session (EXECUTE of a built
# string was planned anew at every restore). Regenerated whenever tables are tracked. The one place
# that refuses (VR001, CannotRestore) a table that was dropped or is not tracked.
APPLY_ANY = r"""
CREATE OR REPLACE FUNCTION venom_replay.apply_any(p_relid oid, p_ops "char"[], p_olds jsonb[], p_news jsonb[],
                                                  p_undo boolean) RETURNS void LANGUAGE plpgsql AS $fn$
BEGIN
    -- Looked up here, once per table and restore: a join with pg_class in restore's loops made the
    -- generic plan scan the catalog, the most expensive part of a one-row restore.
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_class c WHERE c.oid = p_relid) THEN
        RAISE EXCEPTION 'venom_replay: table % was dropped; restore with template mode', p_relid USING ERRCODE = 'VR001';
    END IF;
{calls}
    RAISE EXCEPTION 'venom_replay: table % is not tracked; restore with template mode', p_relid USING ERRCODE = 'VR001';
END $fn$;
"""
APPLY_CALL = ("    IF p_relid = {relid} THEN PERFORM venom_replay.{fn}(p_ops, p_olds, p_news, p_undo); RETURN; END IF;")

REMOVE_BY_KEY = "DELETE FROM {t} WHERE ({k}) = (SELECT {k} FROM jsonb_populate_record(NULL::{t}, gone));"
REMOVE_BY_CONTENT = ("DELETE FROM {t} WHERE ctid = (SELECT x.ctid FROM {t} x WHERE to_jsonb(x.*) = gone LIMIT 1);")

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
