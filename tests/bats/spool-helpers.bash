# spool-helpers.bash: what the tests of a spool-mode run that failed
# half-way share (corrupt.bats, spoolresume.bats), loaded after helpers.bash.
# Their setup_file writes $BATS_FILE_TMPDIR/items.plan: one entity, items,
# of 4000 rows.

# failed_spool_run SRC DB DIR: the run r1 of items.plan from SRC into DB
# (already made) with spool files in DIR/spool, failed in its load at row
# 2500 (a trigger ends the load's session there, ENABLE ALWAYS: it fires
# under session_replication_role = replica too), exit 4; the trigger is
# gone afterwards
failed_spool_run() {
	local src=$1 db=$2 d=$3
	q -d "$db" <<'SQL'
CREATE FUNCTION end_session() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.legacy_id = 2500 THEN PERFORM pg_terminate_backend(pg_backend_pid()); END IF;
  RETURN NEW;
END $$;
CREATE TRIGGER end_session BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION end_session();
ALTER TABLE items ENABLE ALWAYS TRIGGER end_session;
SQL
	run ferry run --source "dbname=$src" --target "dbname=$db" --plan "$BATS_FILE_TMPDIR/items.plan" \
		--spool "$d/spool" --workdir "$d/work" --run-id r1
	assert_exit 4
	q -d "$db" -c "DROP TRIGGER end_session ON items"
}
